import math

import numpy as np
import pytest

from cgbench import metrics

T = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
P = np.array([1.0, 3.0, 2.0, 4.0, 5.0])


def test_spearman_hand_computed():
    # d = (0, 1, -1, 0, 0): rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert metrics.spearman(T, P) == pytest.approx(0.9)


def test_kendall_hand_computed():
    # 10 pairs, one discordant: (9 - 1) / 10
    assert metrics.kendall(T, P) == pytest.approx(0.8)


def test_kendall_gennape_ignores_pairs_with_tiny_true_gap():
    t = np.array([0.5, 0.50005, 0.6, 0.7])
    p = np.array([2.0, 1.0, 3.0, 4.0])  # the only discordant pair has a true gap of 5e-5
    assert metrics.kendall_gennape(t, p) == pytest.approx(1.0)
    assert metrics.kendall(t, p) == pytest.approx(4 / 6)


def test_pearson_hand_computed():
    assert metrics.pearson(T, P) == pytest.approx(0.9)


def test_ndcg_hand_computed():
    # predicted order: 5, 4, 2(true 3), ... top-3 gains 5, 4, 3 -> ideal; swap the third
    t = np.array([3.0, 2.0, 1.0])
    p = np.array([1.0, 2.0, 3.0])  # completely reversed
    dcg = 1 / math.log2(2) + 2 / math.log2(3) + 3 / math.log2(4)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(t, p, 3) == pytest.approx(dcg / ideal)
    assert metrics.ndcg_at_k(T, T, 3) == pytest.approx(1.0)


def test_top_k_overlap_and_precision():
    t = np.arange(10.0)
    p = np.array([0, 1, 2, 3, 4, 5, 6, 9, 8, 7.5])[::-1].copy()  # reversed: top-2 predicted are rows 0, 1
    assert metrics.top_k_overlap(t, p, 2) == 0.0
    assert metrics.top_k_overlap(t, t, 3) == 1.0
    assert metrics.precision_at_k(t, t, 2, top_fraction=0.2) == 1.0
    q = t.copy()
    q[0] = 100  # predicted best is truly the worst
    assert metrics.precision_at_k(t, q, 2, top_fraction=0.2) == 0.5


def test_mae_mape_hand_computed():
    assert metrics.mae(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(1.5)
    assert metrics.mape(np.array([1.0, 2.0, 0.0]), np.array([2.0, 3.0, 5.0])) == pytest.approx(75.0)


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(0)
    t = rng.normal(size=300)
    p = t + rng.normal(scale=0.5, size=300)
    low, high = metrics.bootstrap_ci(metrics.spearman, t, p, n_resamples=200)
    assert low < metrics.spearman(t, p) < high
    assert high - low < 0.2


def test_label_agreement_of_a_noisy_copy():
    from cgbench.metrics import label_agreement

    rng = np.random.default_rng(0)
    truth = rng.normal(size=2000)
    result = label_agreement(truth, truth + rng.normal(scale=0.3, size=2000))
    assert result["n"] == 2000 and result["n_top"] == 200
    assert 0.9 < result["spearman"] < 0.97
    # The top decile spans a narrow range of the truth, so the same noise hurts its ranking more.
    assert result["spearman_top"] < result["spearman"] - 0.2
    same = label_agreement(truth, truth)
    assert same["spearman"] == pytest.approx(1.0) and same["kendall_top"] == pytest.approx(1.0)
    with_gaps = label_agreement(np.r_[truth, np.nan], np.r_[truth, 1.0])
    assert with_gaps["n"] == 2000


# A latency: rows 0 and 1 are the fastest. The prediction ranks the fast end right and the slow end wrong.
LAT = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
LAT_PRED = np.array([1.0, 2.0, 6.0, 4.0, 5.0, 3.0])


def test_top_k_metrics_select_the_smallest_values_of_a_lower_is_better_target():
    assert metrics.top_k_overlap(LAT, LAT_PRED, 2, higher_is_better=False) == 1.0
    assert metrics.top_k_overlap(LAT, LAT_PRED, 2) == 0.5  # read as an accuracy: rows 5, 4 vs predicted 2, 4
    assert metrics.precision_at_k(LAT, LAT_PRED, 2, top_fraction=1 / 3, higher_is_better=False) == 1.0
    assert metrics.precision_at_k(LAT, LAT_PRED, 2, top_fraction=1 / 3) == 0.5


def test_ndcg_of_a_lower_is_better_target_gains_the_reciprocal():
    # Predicted fastest first: rows 0, 1, 5 (gains 1, 1/2, 1/6); ideal rows 0, 1, 2 (gains 1, 1/2, 1/3).
    dcg = 1 / math.log2(2) + (1 / 2) / math.log2(3) + (1 / 6) / math.log2(4)
    ideal = 1 / math.log2(2) + (1 / 2) / math.log2(3) + (1 / 3) / math.log2(4)
    assert metrics.ndcg_at_k(LAT, LAT_PRED, 3, higher_is_better=False) == pytest.approx(dcg / ideal)
    # The ratio does not depend on the unit (ms or s) ...
    assert metrics.ndcg_at_k(LAT / 1000, LAT_PRED, 3, higher_is_better=False) == pytest.approx(dcg / ideal)
    # ... and needs positive values.
    assert math.isnan(metrics.ndcg_at_k(LAT - 1, LAT_PRED, 3, higher_is_better=False))


def test_standard_metrics_carry_the_direction_and_correlations_do_not_flip():
    lower, higher = metrics.standard_metrics((2,), higher_is_better=False), metrics.standard_metrics((2,))
    assert lower["top2_overlap"](LAT, LAT_PRED) == 1.0 and higher["top2_overlap"](LAT, LAT_PRED) == 0.5
    assert lower["spearman"](LAT, LAT_PRED) == higher["spearman"](LAT, LAT_PRED) > 0


def test_label_agreement_takes_the_fastest_as_the_top_of_a_latency():
    rng = np.random.default_rng(1)
    latency = rng.uniform(1, 10, 1000)
    # The second measurement is exact on the faster half and noisy on the slower half.
    other = latency + np.where(latency < 5.5, 0.0, rng.normal(0, 3, 1000))
    assert metrics.label_agreement(latency, other, higher_is_better=False)["spearman_top"] == pytest.approx(1.0)
    assert metrics.label_agreement(latency, other)["spearman_top"] < 0


# ---------------------------------------------------------------------------------------------
# The beyond-FLOPs score


def test_partial_spearman_against_a_hand_computed_value():
    # Ranks: truth (1 2 3 4 5), prediction (2 1 4 3 5), FLOPs (1 3 2 5 4).
    # Spearman (no ties: 1 - 6 sum d^2 / (n (n^2 - 1)), n (n^2 - 1) = 120):
    #   truth-prediction d^2 = 1+1+1+1+0 = 4 -> 1 - 24/120 = 0.8
    #   truth-FLOPs      d^2 = 0+1+1+1+1 = 4 -> 0.8
    #   prediction-FLOPs d^2 = 1+4+4+4+1 = 14 -> 1 - 84/120 = 0.3
    # partial = (0.8 - 0.8 * 0.3) / sqrt((1 - 0.64) (1 - 0.09)) = 0.56 / sqrt(0.3276) = 0.978400...
    truth = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    prediction = np.array([0.2, 0.1, 0.4, 0.3, 0.5])
    flops = np.array([1e6, 3e6, 2e6, 5e6, 4e6])
    assert metrics.partial_spearman(truth, prediction, flops) == pytest.approx(0.56 / np.sqrt(0.3276), abs=1e-12)
    assert metrics.spearman_gain_over_flops(truth, prediction, flops) == pytest.approx(0.0, abs=1e-12)
    assert metrics.flops_spearman(truth, prediction, flops) == pytest.approx(0.8)
    # log-FLOPs has the same ranks: the score is the same.
    assert metrics.partial_spearman(truth, prediction, np.log(flops)) == metrics.partial_spearman(truth, prediction, flops)


def test_a_monotone_function_of_flops_adds_nothing_beyond_flops():
    rng = np.random.default_rng(0)
    flops = rng.uniform(1e6, 1e9, 200)
    truth = np.log(flops) + rng.normal(0, 1, 200)
    assert metrics.partial_spearman(truth, np.sqrt(flops), flops) == 0.0
    assert metrics.spearman_gain_over_flops(truth, np.sqrt(flops), flops) == pytest.approx(0.0, abs=1e-12)
    # What the truth holds beyond FLOPs, predicted: a large positive score; its opposite: a negative one.
    residual = truth - np.log(flops)
    assert metrics.partial_spearman(truth, np.log(flops) + residual, flops) > 0.9
    assert metrics.partial_spearman(truth, np.log(flops) - 3 * residual, flops) < -0.5


def test_the_bootstrap_resamples_aligned_rows_of_every_array():
    rng = np.random.default_rng(1)
    flops = rng.uniform(1, 2, 300)
    truth = flops + rng.normal(0, 0.1, 300)
    low, high = metrics.bootstrap_ci(metrics.flops_spearman, truth, truth, flops, n_resamples=100)
    value = metrics.flops_spearman(truth, truth, flops)
    assert low < value < high and high - low < 0.2

import numpy as np
import pytest
from scipy import stats

from baselines.normalise import rank_normal_scores
from baselines.predictor import TrainingSet
from baselines.predictors import list_predictors, make_predictor
from cgbench.dataset import load_family
from cgbench.errors import UnknownNameError

FAST_TREES = {"graf": {"n_estimators": 30}, "graf_anchored": {"n_estimators": 30, "shrinkages": (0.0, 1.0)}}


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    return load_family("nb101", progress=False)


def source(nb101):
    rows = np.flatnonzero(~np.isnan(nb101.labels()))
    return [TrainingSet(nb101, rows, nb101.default_target)]


def test_registered_with_three_default_members():
    assert "rank_ensemble" in list_predictors()
    assert list(make_predictor("rank_ensemble").members) == ["graf", "graf_anchored", "zc_ranker"]


def test_score_is_the_mean_of_the_members_normal_rank_scores(nb201, nb101):
    """flops + params on four NB-201 cells, against normal scores computed by hand."""
    ensemble = make_predictor("rank_ensemble", members=("flops", "params"))
    ensemble.fit(source(nb101), seed=0)
    rows = np.array([0, 1, 2, 3])
    flops = nb201.table.column("flops").to_numpy()[rows]
    params = nb201.table.column("params").to_numpy()[rows]
    by_hand = [stats.norm.ppf((stats.rankdata(v) - 0.5) / 4) for v in (flops, params)]
    np.testing.assert_allclose(ensemble.predict(nb201, rows), (by_hand[0] + by_hand[1]) / 2)
    # e.g. ranks 1..4 become normal scores -1.150, -0.319, 0.319, 1.150
    np.testing.assert_allclose(stats.norm.ppf((np.arange(1, 5) - 0.5) / 4), [-1.150, -0.319, 0.319, 1.150], atol=1e-3)


def test_order_of_the_asked_rows_does_not_change_a_rows_score(nb201, nb101):
    ensemble = make_predictor("rank_ensemble", members=("graf", "flops"), member_options={"graf": FAST_TREES["graf"]})
    ensemble.fit(source(nb101), seed=0)
    rows = nb201.get_idx_split("random")["test"][:300]
    permutation = np.random.default_rng(0).permutation(len(rows))
    np.testing.assert_allclose(ensemble.predict(nb201, rows[permutation]), ensemble.predict(nb201, rows)[permutation])


def test_members_are_fitted_on_the_same_rows_and_seed(nb201, nb101):
    """The ensemble's graf member predicts exactly what a graf fitted alone on the same data does."""
    ensemble = make_predictor("rank_ensemble", members=("graf", "params"), member_options={"graf": FAST_TREES["graf"]})
    ensemble.fit(source(nb101), seed=3)
    alone = make_predictor("graf", **FAST_TREES["graf"])
    alone.fit(source(nb101), seed=3)
    rows = nb201.get_idx_split("random")["test"][:500]
    scores = ensemble.member_scores(nb201, rows)
    np.testing.assert_allclose(scores["graf"], rank_normal_scores(alone.predict(nb201, rows)))
    np.testing.assert_allclose(ensemble.predict(nb201, rows), (scores["graf"] + scores["params"]) / 2)


def test_fine_tune_continues_every_member_from_its_fitted_state(nb201, nb101):
    ensemble = make_predictor("rank_ensemble", members=("graf", "graf_anchored"), member_options=FAST_TREES)
    assert not ensemble.fine_tune_refits
    ensemble.fit(source(nb101), seed=0)
    boosters_after_fit = {name: len(member._boosters) for name, member in ensemble.members.items()}
    shots = nb201.get_idx_split("random")["train"][:20]
    ensemble.fine_tune(TrainingSet(nb201, shots, nb201.default_target), seed=0)
    assert {name: len(member._boosters) for name, member in ensemble.members.items()} == {
        name: count + 1 for name, count in boosters_after_fit.items()}
    # with a rule among the members, part of the ensemble refits: it says so
    assert make_predictor("rank_ensemble", members=("graf", "flops")).fine_tune_refits


@pytest.mark.parametrize(("options", "message"), [
    ({"members": ("graf",)}, "at least two distinct members"),
    ({"members": ("graf", "graf")}, "at least two distinct members"),
    ({"members": ("graf", "rank_ensemble")}, "member of itself"),
    ({"members": ("graf", "flops"), "member_options": {"gin": {}}}, "not members: \\['gin'\\]"),
])
def test_bad_member_lists_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        make_predictor("rank_ensemble", **options)


def test_unknown_member_names_the_known_predictors():
    with pytest.raises(UnknownNameError, match="graf_anchored"):
        make_predictor("rank_ensemble", members=("graf", "nosuch"))


def test_predicting_or_fine_tuning_before_fit_is_an_error(nb201):
    ensemble = make_predictor("rank_ensemble", members=("flops", "params"))
    with pytest.raises(RuntimeError, match="not fitted"):
        ensemble.predict(nb201, np.arange(3))
    with pytest.raises(RuntimeError, match="call fit first"):
        ensemble.fine_tune(TrainingSet(nb201, np.arange(3), nb201.default_target), seed=0)


def test_copies_of_one_network_share_one_score_despite_float_noise(nb101, monkeypatch):
    """nb101 lists some cells several times under one arch_id; a member's float noise between the
    copies (zc_ranker's matrix products: 1.7e-7 relative) must not give them different ranks."""
    ensemble = make_predictor("rank_ensemble", members=("flops", "params"))
    ensemble.fit(source(nb101), seed=0)
    arch_ids = np.asarray(nb101.table.column("arch_id").to_pylist())
    rows = np.arange(len(nb101))
    rule = ensemble.members["flops"]
    clean = rule.predict(nb101, rows)
    # a network listed more than once whose FLOPs no other network shares (so noise breaks no other tie)
    repeated = [a for a in dict.fromkeys(arch_ids) if np.sum(arch_ids == a) > 1
                and np.all(arch_ids[clean == clean[arch_ids == a][0]] == a)]
    copies = np.flatnonzero(arch_ids == repeated[0])
    noisy = clean.copy()
    noisy[copies] *= 1 + 1e-7 * np.arange(len(copies))
    monkeypatch.setattr(rule, "predict", lambda family, indices: noisy[indices])
    scores = ensemble.predict(nb101, rows)
    assert np.ptp(scores[copies]) == 0
    monkeypatch.setattr(rule, "predict", lambda family, indices: clean[indices])
    np.testing.assert_allclose(ensemble.predict(nb101, rows), scores)

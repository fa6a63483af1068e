import numpy as np
import pytest

import baselines.graf  # noqa: F401  (registers graf_anchored)
from baselines.graf.anchored import ResidualRows
from baselines.graf.predictor import flops_rank_scores
from baselines.normalise import rank_normal_scores
from baselines.predictor import TrainingSet
from baselines.predictors import make_predictor
from cgbench.dataset import load_family
from cgbench.metrics import spearman

FAST = {"n_estimators": 40}


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    return load_family("nb101", progress=False)


@pytest.fixture(scope="module")
def macro(cgbench_home):
    return load_family("nasbench_macro", progress=False)


def labelled(family, n=None):
    rows = np.flatnonzero(~np.isnan(family.labels()))
    return TrainingSet(family, rows[:n], family.default_target)


@pytest.fixture(scope="module")
def three_sources(nb201, nb101, macro):
    """Three training families; nb201's first 2,000 rows stand in for a third source."""
    return [labelled(nb101), labelled(macro, 1500), TrainingSet(nb201, np.arange(2000), nb201.default_target)]


def test_flops_rank_scores_are_the_flops_ranking(nb201):
    z = flops_rank_scores(nb201)
    flops = nb201.table.column("flops").to_numpy()
    assert spearman(z, flops) == pytest.approx(1.0)
    assert abs(z.mean()) < 0.01 and z.std() == pytest.approx(1.0, abs=0.05)


def test_residual_is_what_flops_leave_unexplained():
    """Labels 2 z + noise: the residual is the noise (up to its own small correlation with z)."""
    rng = np.random.default_rng(0)
    anchor = rng.normal(size=500)
    noise = rng.normal(size=500)
    labels = 2 * anchor + noise
    residual = ResidualRows(None, "y", np.arange(500), labels, anchor, 1.0).residual
    assert abs(np.corrcoef(residual, anchor)[0, 1]) < 1e-9
    slope = np.polyfit(anchor, labels, 1)[0]
    np.testing.assert_allclose(residual, labels - slope * anchor, atol=1e-9)
    flat = ResidualRows(None, "y", np.arange(3), np.array([1.0, 0.0, -1.0]), np.zeros(3), 1.0)
    np.testing.assert_array_equal(flat.residual, flat.labels)  # no FLOPs ranking to take out


def test_shrinkage_zero_is_exactly_the_flops_ranking(nb201, nb101):
    predictor = make_predictor("graf_anchored", shrinkages=(0.0,), default_shrinkage=0.0, **FAST)
    predictor.fit([labelled(nb101)], seed=0)
    test = nb201.get_idx_split("random")["test"]
    flops = nb201.table.column("flops").to_numpy()[test]
    assert spearman(predictor.predict(nb201, test), flops) == pytest.approx(1.0)


def test_shrinkage_is_chosen_by_inner_leave_one_family_out(nb201, three_sources):
    predictor = make_predictor("graf_anchored", **FAST)
    predictor.fit(three_sources, seed=0)
    assert set(predictor.inner_scores) == {f"{s.family.name}:{s.target}" for s in three_sources}
    mean = np.mean(list(predictor.inner_scores.values()), axis=0)
    assert predictor.shrinkage == predictor.shrinkages[int(np.argmax(mean))]
    # One inner fold by hand: fitted on the two other families, nb101's rows scored at shrinkage 1.
    by_hand = make_predictor("graf_anchored", default_shrinkage=1.0, **FAST)
    by_hand.fit(three_sources[1:], seed=0)
    rows = three_sources[0].indices
    expected = spearman(three_sources[0].labels(), by_hand.predict(three_sources[0].family, rows))
    held_out = f"nb101:{three_sources[0].target}"
    assert predictor.inner_scores[held_out][predictor.shrinkages.index(1.0)] == pytest.approx(expected, abs=1e-12)


def test_label_columns_of_one_family_are_separate_sources(nb201):
    """Device transfer trains on several devices' latency of NB-201: each device is an inner fold."""
    train = nb201.get_idx_split("random")["train"][:400]
    devices = ["lat_pixel3_ms", "lat_raspi4_ms", "lat_eyeriss_ms"]
    predictor = make_predictor("graf_anchored", **FAST)
    predictor.fit([TrainingSet(nb201, train, column) for column in devices], seed=0)
    assert set(predictor.inner_scores) == {f"nb201:{column}" for column in devices}
    test = nb201.get_idx_split("random")["test"]
    assert np.isfinite(predictor.predict(nb201, test)).all()


def test_one_source_family_uses_the_default_shrinkage_and_scores_an_unseen_family(nb201, nb101):
    predictor = make_predictor("graf_anchored", default_shrinkage=1.0, **FAST)
    predictor.fit([labelled(nb101)], seed=0)
    assert predictor.shrinkage == 1.0 and predictor.inner_scores == {}
    test = nb201.get_idx_split("random")["test"]  # nb201 was never seen in training
    prediction = predictor.predict(nb201, test)
    assert prediction.shape == (len(test),) and np.isfinite(prediction).all()
    flops_rho = spearman(nb201.labels()[test], nb201.table.column("flops").to_numpy()[test])
    # Measured 0.784 against FLOPs' 0.711 (seed 0, 40 trees).
    assert spearman(nb201.labels()[test], prediction) > flops_rho + 0.03


def test_labels_are_normalised_within_each_family(nb201, nb101, macro):
    """Shifting and scaling one family's labels (a raw accuracy scale) changes nothing."""

    class Rescaled(TrainingSet):
        def labels(self):
            return 3.0 * super().labels() + 1000.0

    data = [labelled(nb101), labelled(macro, 800)]
    plain = make_predictor("graf_anchored", **FAST)
    plain.fit(data, seed=0)
    rescaled = make_predictor("graf_anchored", **FAST)
    rescaled.fit([Rescaled(nb101, data[0].indices, nb101.default_target), data[1]], seed=0)
    test = np.arange(500)
    np.testing.assert_array_equal(plain.predict(nb201, test), rescaled.predict(nb201, test))


def test_families_weigh_the_same_in_total(nb101, macro):
    predictor = make_predictor("graf_anchored", **FAST)
    parts = predictor._residual_rows([labelled(nb101), labelled(macro, 1500)])
    assert [len(p.rows) * p.weight for p in parts] == pytest.approx([1.0, 1.0])
    assert [p.weight for p in make_predictor("graf_anchored", balance_families=False)._residual_rows(
        [labelled(nb101), labelled(macro, 1500)])] == [1.0, 1.0]
    labels = labelled(macro, 1500).labels()
    np.testing.assert_allclose(parts[1].labels, rank_normal_scores(labels))


def test_fine_tune_starts_from_the_fitted_score(nb201, nb101):
    predictor = make_predictor("graf_anchored", fine_tune_rounds=5, **FAST)
    predictor.fit([labelled(nb101)], seed=0)
    test = nb201.get_idx_split("random")["test"]
    before = predictor.predict(nb201, test)
    predictor.fine_tune(TrainingSet(nb201, nb201.get_idx_split("fewshot50")["train"], nb201.default_target), seed=0)
    after = predictor.predict(nb201, test)
    assert not np.allclose(before, after) and spearman(before, after) > 0.9
    assert not predictor.fine_tune_refits


def test_graf_anchored_errors_are_clear(nb201, nb101):
    with pytest.raises(ValueError, match="objective"):
        make_predictor("graf_anchored", objective="lambdarank")
    with pytest.raises(ValueError, match="at least 3 families"):
        make_predictor("graf_anchored", min_families_to_select=2)
    with pytest.raises(ValueError, match="non-negative"):
        make_predictor("graf_anchored", shrinkages=())
    predictor = make_predictor("graf_anchored", **FAST)
    with pytest.raises(RuntimeError, match="fit"):
        predictor.predict(nb201, np.arange(3))
    with pytest.raises(RuntimeError, match="fit"):
        predictor.fine_tune(labelled(nb101), seed=0)
    with pytest.raises(ValueError, match="one TrainingSet per family and label column"):
        predictor.fit([labelled(nb101, 100), TrainingSet(nb101, np.arange(100, 200), nb101.default_target)], seed=0)
    with pytest.raises(ValueError, match="at least 2 labelled rows"):
        predictor.fit([labelled(nb101, 1)], seed=0)

import numpy as np
import pytest

import baselines.graf  # noqa: F401  (registers graf)
from baselines.graf.features import FEATURE_NAMES, graf_features
from baselines.normalise import rank_normal_scores
from baselines.predictor import TrainingSet
from baselines.predictors import make_predictor
from cgbench.dataset import load_family
from cgbench.graph.model import ComputationGraph
from cgbench.graph.vocab import op_id
from cgbench.metrics import spearman
from cgbench.storage import GraphTable

# A hand-drawn CG: conv3x3 -> bn -> relu, which branches three ways into an add: through a
# strided maxpool, through a strided 1x1 conv, and straight (a skip); then global mean, a linear
# layer and the output.
#   0 input  1 conv3x3  2 batchnorm  3 relu  4 maxpool3x3/2  5 conv1x1/2  6 add  7 mean  8 matmul  9 output
HAND_OPS = ["input", "conv", "batchnorm", "relu", "maxpool", "conv", "add", "mean", "matmul", "output"]
HAND_SHAPES = [  # h_in, h_out, w_in, w_out, c_in, c_out
    (32, 32, 32, 32, 3, 3), (32, 32, 32, 32, 3, 16), (32, 32, 32, 32, 16, 16), (32, 32, 32, 32, 16, 16),
    (32, 16, 32, 16, 16, 16), (32, 16, 32, 16, 16, 16), (16, 16, 16, 16, 16, 16), (16, 1, 16, 1, 16, 16),
    (1, 1, 1, 1, 16, 10), (1, 1, 1, 1, 10, 10),
]
HAND_ATTRS = {1: (3, 3, 1, 1, 1, 0), 4: (3, 3, 2, 2, 0, 0), 5: (1, 1, 2, 2, 1, 0), 8: (0, 0, 0, 0, 0, 1)}
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (3, 5), (3, 6), (4, 6), (5, 6), (6, 7), (7, 8), (8, 9)]
# Worked out by hand from the drawing above.
HAND_FEATURES = {
    "n_nodes": 10, "n_edges": 11, "n_conv": 2, "n_linear": 1, "n_norm": 1, "n_activation": 1,
    "n_pool": 2,  # maxpool and the global mean
    "n_merge": 1, "n_product": 0, "n_reshape": 0, "n_identity": 0, "n_zero": 0,
    "n_conv_k1": 1, "n_conv_k3": 1, "n_conv_k5": 0, "n_conv_k7": 0, "n_conv_strided": 1, "n_depthwise": 0,
    "n_pool_strided": 1,
    # Three input-output paths: via the maxpool (8 edges, 1 conv, 2 pools), via the 1x1 conv
    # (8 edges, 2 convs, 1 pool), via the skip (7 edges, 1 conv, 1 pool).
    "longest_path": 8, "shortest_path": 7, "max_convs_on_path": 2, "min_convs_on_path": 1,
    "max_pools_on_path": 2, "min_pools_on_path": 1, "log10_n_paths": np.log10(3),
    "max_in_degree": 3, "max_out_degree": 3, "mean_merge_in_degree": 3, "n_branch_nodes": 1,
    # Depths 0, 1, 2, 3, 4, 4, 5, 6, 7, 8: the maxpool and the 1x1 conv share depth 4.
    "max_width": 2,
    "log2_input_hw": 5, "n_halvings": 1, "log2_max_channels": 4, "mean_log2_channels": 4,
    "log10_flops": 6, "log10_params": 3,
}


def hand_drawn_cg() -> ComputationGraph:
    attr = np.zeros((len(HAND_OPS), 6), np.int32)
    for node, values in HAND_ATTRS.items():
        attr[node] = values
    return ComputationGraph(np.array([op_id(o) for o in HAND_OPS]), np.array(HAND_SHAPES), attr,
                            np.array(HAND_EDGES)).validate()


def tiny_cg() -> ComputationGraph:
    """input -> relu -> output: no conv, no pool, one path of two edges."""
    shape = np.array([(8, 8, 8, 8, 3, 3)] * 3)
    return ComputationGraph(np.array([op_id("input"), op_id("relu"), op_id("output")]), shape,
                            np.zeros((3, 6)), np.array([(0, 1), (1, 2)])).validate()


def test_features_of_a_hand_drawn_cg():
    assert set(HAND_FEATURES) == set(FEATURE_NAMES)
    x = graf_features(GraphTable.from_graphs([hand_drawn_cg()]), np.array([1e6]), np.array([1e3]))
    computed = dict(zip(FEATURE_NAMES, x[0]))
    for name, expected in HAND_FEATURES.items():
        assert computed[name] == pytest.approx(expected), name


def test_features_do_not_depend_on_the_other_cgs_of_a_batch():
    hand, tiny = hand_drawn_cg(), tiny_cg()
    together = graf_features(GraphTable.from_graphs([tiny, hand, tiny]), np.array([10.0, 1e6, -1.0]),
                             np.array([5.0, 1e3, -1.0]))
    alone = graf_features(GraphTable.from_graphs([hand]), np.array([1e6]), np.array([1e3]))
    np.testing.assert_array_equal(together[1], alone[0])
    tiny_features = dict(zip(FEATURE_NAMES, together[0]))
    assert tiny_features["longest_path"] == tiny_features["shortest_path"] == 2
    assert tiny_features["n_conv"] == tiny_features["max_convs_on_path"] == tiny_features["n_halvings"] == 0
    # Unknown FLOPs and parameters (-1, as imported GENNAPE families store them) are NaN, not log(1).
    assert np.isnan(together[2, FEATURE_NAMES.index("log10_flops")])
    assert np.isnan(together[2, FEATURE_NAMES.index("log10_params")])
    with pytest.raises(ValueError, match="one FLOPs"):
        graf_features(GraphTable.from_graphs([hand]), np.array([1.0, 2.0]), np.array([1.0]))


def test_real_cgs_batched_and_alone_agree(nb201):
    rows = np.arange(0, len(nb201), 1601)
    flops = nb201.table.column("flops").to_numpy()
    params = nb201.table.column("params").to_numpy()
    batched = graf_features(GraphTable.from_graphs([nb201.graph(int(i)) for i in rows]), flops[rows], params[rows])
    for k, i in enumerate(rows):
        alone = graf_features(GraphTable.from_graphs([nb201.graph(int(i))]), flops[[i]], params[[i]])
        np.testing.assert_array_equal(batched[k], alone[0])


def test_rank_normal_scores_keep_nan_where_asked():
    x = np.array([[3.0, np.nan], [1.0, 2.0], [2.0, 1.0]])
    z = rank_normal_scores(x, keep_nan=True)
    assert np.isnan(z[0, 1]) and z[1, 1] > z[2, 1]
    assert list(np.argsort(z[:, 0])) == [1, 2, 0]
    with pytest.raises(ValueError, match="NaN"):
        rank_normal_scores(x)


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    return load_family("nb101", progress=False)


@pytest.fixture(scope="module")
def fitted(nb201):
    split = nb201.get_idx_split("random")
    predictor = make_predictor("graf")
    predictor.fit([TrainingSet(nb201, split["train"][:300], nb201.default_target)], seed=0)
    return predictor, split["test"]


def test_graf_ranks_held_out_nb201_rows(nb201, fitted):
    predictor, test = fitted
    prediction = predictor.predict(nb201, test)
    assert prediction.shape == (len(test),) and np.isfinite(prediction).all()
    # Measured 0.90 with 300 training rows (seed 0).
    assert spearman(nb201.labels()[test], prediction) > 0.8
    assert predictor.n_parameters > 0 and not predictor.fine_tune_refits


def test_graf_is_deterministic_and_its_fine_tune_continues_the_fitted_model(nb201, fitted):
    predictor, test = fitted
    again = make_predictor("graf")
    split = nb201.get_idx_split("random")
    again.fit([TrainingSet(nb201, split["train"][:300], nb201.default_target)], seed=0)
    np.testing.assert_array_equal(again.predict(nb201, test), predictor.predict(nb201, test))
    before = again.predict(nb201, test)
    few = nb201.get_idx_split("fewshot50")["train"]
    again.fine_tune(TrainingSet(nb201, few, nb201.default_target), seed=0)
    after = again.predict(nb201, test)
    assert not np.allclose(before, after) and spearman(before, after) > 0.8
    assert len(again._boosters) == 2  # the fitted ensemble plus the fine-tuning one


@pytest.mark.parametrize("shots", [10, 20])
def test_graf_fine_tune_on_a_few_shots_changes_the_ranking(nb201, fitted, shots):
    """Few-shot device transfer gives 10 or 20 rows: the fine-tuning trees must split on them."""
    predictor, test = fitted
    tuned = make_predictor("graf")
    split = nb201.get_idx_split("random")
    tuned.fit([TrainingSet(nb201, split["train"][:300], nb201.default_target)], seed=0)
    before = tuned.predict(nb201, test)
    tuned.fine_tune(TrainingSet(nb201, nb201.get_idx_split("fewshot50")["train"][:shots], "lat_pixel3_ms"), seed=0)
    after = tuned.predict(nb201, test)
    assert spearman(before, after) < 0.999  # a constant shift would keep the order exactly


def test_labels_of_different_families_are_never_compared(nb201, nb101):
    """Per-family label normalisation: shifting one family's labels changes nothing."""

    class Shifted(TrainingSet):
        def labels(self):
            return super().labels() + 1000.0

    rows201, rows101 = np.arange(300), np.arange(200)
    plain = make_predictor("graf", n_estimators=50)
    plain.fit([TrainingSet(nb201, rows201, nb201.default_target), TrainingSet(nb101, rows101, nb101.default_target)], 0)
    shifted = make_predictor("graf", n_estimators=50)
    shifted.fit([Shifted(nb201, rows201, nb201.default_target), TrainingSet(nb101, rows101, nb101.default_target)], 0)
    test = np.arange(300, 400)
    np.testing.assert_array_equal(plain.predict(nb201, test), shifted.predict(nb201, test))


def test_family_rank_features_ignore_labels_and_scale(nb201):
    predictor = make_predictor("graf", features="family_rank")
    x = predictor.family_matrix(nb201)
    assert x.shape == (len(nb201), len(FEATURE_NAMES)) == (len(nb201), len(predictor.feature_names))
    flops = x[:, FEATURE_NAMES.index("log10_flops")]
    assert spearman(flops, nb201.table.column("flops").to_numpy()) == pytest.approx(1.0)
    assert abs(flops.mean()) < 0.01  # normal scores of ranks: centred (up to ties)


def test_graf_errors_are_clear(nb201):
    with pytest.raises(ValueError, match="unknown features option"):
        make_predictor("graf", features="ranked")
    with pytest.raises(KeyError, match="unknown proxy"):
        make_predictor("graf", proxies=("no_such_proxy",))
    predictor = make_predictor("graf")
    with pytest.raises(RuntimeError, match="fit"):
        predictor.predict(nb201, np.arange(3))
    with pytest.raises(RuntimeError, match="fit"):
        predictor.fine_tune(TrainingSet(nb201, np.arange(50), nb201.default_target), seed=0)
    with pytest.raises(ValueError, match="at least 2 labelled rows"):
        predictor.fit([TrainingSet(nb201, np.arange(1), nb201.default_target)], seed=0)


def test_parallel_edges_are_separate_paths():
    """add(x, x), as NB-201 writes two skip connections between the same nodes: two edges, two paths."""
    ops = np.array([op_id(o) for o in ("input", "relu", "add", "output")])
    cg = ComputationGraph(ops, np.array([(8, 8, 8, 8, 3, 3)] * 4), np.zeros((4, 6)),
                          np.array([(0, 1), (1, 2), (1, 2), (2, 3)])).validate()
    features = dict(zip(FEATURE_NAMES, graf_features(GraphTable.from_graphs([cg]), np.array([1.0]), np.array([1.0]))[0]))
    assert features["n_edges"] == 4 and features["log10_n_paths"] == pytest.approx(np.log10(2))
    assert features["max_in_degree"] == features["max_out_degree"] == features["mean_merge_in_degree"] == 2

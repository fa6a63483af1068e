import numpy as np
import pytest
import torch

from cgbench.families.hiaml import BLOCK_NAMES, SPACE, HiAMLNetwork, block_plan
from cgbench.graph import from_module
from cgbench.graph.vocab import OP_ID

# GENNAPE's HiAML CGs (nodes, edges, weighted) from its TF builder, GENNAPE_CG_AND_FAMILIES.md 1.10.
GENNAPE_SAME_BLOCK = {
    "z": (95, 102, 26), "a22": (87, 94, 26), "b23": (123, 130, 36), "j30": (99, 106, 28),
    "g30": (147, 162, 44), "r30": (159, 182, 46), "l20": (55, 54, 18), "t20": (87, 94, 26),
    "t31": (167, 190, 46), "src0": (87, 94, 26), "src1": (87, 94, 26), "src3": (103, 110, 34),
    "src7": (135, 142, 42), "src8": (103, 110, 34),
}
MIXED = ("z", "b23", "src1", "t31")
GENNAPE_MIXED = (121, 132, 35)
# Our CGs: TF writes r30's and t31's closing sum P4(x) + o2 + o3 as two AddV2 nodes; cgbench merges
# the chain into one n-ary add, so each such block has one node and one edge fewer.
OURS_SAME_BLOCK = {**GENNAPE_SAME_BLOCK, "r30": (151, 174, 46), "t31": (159, 182, 46)}
OURS_MIXED = (119, 130, 35)
THREE_TERM_SUM_BLOCKS = {"r30", "t31"}


def counts(config):
    graph = SPACE.composed(config).graph
    return graph.n_nodes, graph.n_edges, int(graph.weighted.sum())


def gennape_minus_merged_adds(gennape, config):
    merged = sum(name in THREE_TERM_SUM_BLOCKS for name, *_ in block_plan(config))
    nodes, edges, weighted = gennape
    return nodes - merged, edges - merged, weighted


@pytest.mark.parametrize("block", BLOCK_NAMES)
def test_same_block_counts_match_gennape_up_to_merged_adds(block):
    config = (block,) * 4
    assert counts(config) == OURS_SAME_BLOCK[block]
    assert counts(config) == gennape_minus_merged_adds(GENNAPE_SAME_BLOCK[block], config)


def test_mixed_counts_match_gennape_up_to_merged_adds():
    assert counts(MIXED) == OURS_MIXED
    assert counts(MIXED) == gennape_minus_merged_adds(GENNAPE_MIXED, MIXED)


def test_the_difference_is_the_three_operand_add():
    graph = SPACE.composed(("r30",) * 4).graph
    n_operands = np.bincount(graph.edges[:, 1], minlength=graph.n_nodes)
    adds = graph.op == OP_ID["add"]
    # Per block: the 2-operand add feeding conv2 and the merged 3-operand closing sum.
    assert sorted(n_operands[adds].tolist()) == [2] * 8 + [3] * 8


def test_a22_op_breakdown_equals_gennape():
    assert SPACE.composed(("a22",) * 4).graph.op_counts() == {
        "conv": 25, "batchnorm": 25, "relu": 25, "add": 8, "input": 1, "mean": 1, "matmul": 1, "output": 1}


def test_relu_follows_tf_and_relu6_only_inside_inception_s():
    ops = SPACE.composed(("z",) * 4).graph.op_counts()
    assert ops["relu6"] == 8 * 2  # one IS unit per z block, two ReLU6 each
    assert ops["relu"] == 1 + 8 * 2  # stem, the block's CBR and its closing ReLU


def test_forward_pass_and_stage_shapes():
    net = HiAMLNetwork(MIXED).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = net.blocks(net.stem(x))
        logits = net(x)
    assert features.shape == (2, 256, 4, 4)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    assert [(c_in, c_out, s) for _, c_in, c_out, s in block_plan(MIXED)] == [
        (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 256, 2),
        (256, 256, 1)]


def test_parse_rejects_bad_ids():
    assert SPACE.parse("a22-z-src1-t31") == ("a22", "z", "src1", "t31")
    for bad in ("a22-z-src1", "a22-z-src1-t31-z", "hiaml_a22-z-src1-t31", "a22-z-src2-t31", ""):
        with pytest.raises(ValueError):
            SPACE.parse(bad)


def test_enumeration_is_the_whole_space():
    ids = [SPACE.arch_id(c) for c in SPACE.enumerate()]
    assert len(ids) == len(set(ids)) == 14 ** 4


@pytest.fixture(scope="module")
def hiaml(cgbench_home):
    from cgbench import load_family

    return load_family("hiaml", progress=False)


def test_family_has_every_architecture_once(hiaml):
    assert len(hiaml) == 38416
    assert len(set(hiaml.arch_ids)) == 38416
    assert len(set(hiaml.table.column("wl_hash").to_pylist())) == 38416


def test_family_is_unlabelled(hiaml):
    assert hiaml.targets == [] and hiaml.default_target is None
    assert hiaml.manifest["sources"] == []
    with pytest.raises(KeyError, match="unlabelled"):
        hiaml.labels()


def test_family_rows_equal_the_built_networks(hiaml):
    row = hiaml.arch_ids.index("a22-z-src1-t31")
    assert hiaml.to_pandas().loc[row, "config"] == '["hiaml_a22", "hiaml_z", "hiaml_src1", "hiaml_t31"]'
    with torch.device("meta"):
        net = SPACE.build(SPACE.parse("a22-z-src1-t31"))
    assert hiaml.graph(row) == from_module(net, SPACE.input_shape)
    flops, params = hiaml.table.column("flops").to_numpy(), hiaml.table.column("params").to_numpy()
    assert (flops[row], params[row]) == (SPACE.composed(SPACE.parse("a22-z-src1-t31")).flops,
                                         sum(p.numel() for p in net.parameters()))
    assert 1e8 < flops.min() < flops.max() < 4e8 and 1e6 < params.min() < params.max() < 4e6


def test_family_splits_and_pyg(hiaml):
    assert set(hiaml.splits) == {"random", "dedup"}
    random = hiaml.get_idx_split("random")
    assert sum(len(v) for v in random.values()) == 38416
    assert not set(random["train"]) & set(random["test"])
    dataset = hiaml.to_pyg()
    assert len(dataset) == 38416
    assert torch.isnan(dataset[0].y).all()

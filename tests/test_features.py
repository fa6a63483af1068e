import numpy as np
import pytest
import torch
import torchvision

from cgbench.families.nb201 import SPACE, parse_arch_string
from cgbench.graph import from_module
from cgbench.graph.features import gennape_features, node_features
from cgbench.graph.vocab import OP_ID, gennape_op_id


def test_gennape_layout_and_normalisation():
    cg = SPACE.composed(parse_arch_string(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")).graph
    f = gennape_features(cg)
    n_weighted = int(cg.weighted.sum())
    assert len(f.weighted_op) == n_weighted and len(f.regular_op) == cg.n_nodes - n_weighted
    assert set(f.weighted_op.tolist()) <= {OP_ID["conv"], OP_ID["matmul"]}
    # The input node is the first regular node: CIFAR 32/256 = 0.125, 3/512.
    assert f.regular_op[0] == OP_ID["input"]
    assert f.regular_shape[0] == pytest.approx([0.125] * 4 + [3 / 512] * 2)
    assert f.regular_op[-1] == OP_ID["output"]
    # Convs have no bias, the classifier has one: one-hot [1,0] / [0,1].
    assert f.weighted_bias[:-1].tolist() == [[1, 0]] * (n_weighted - 1)
    assert f.weighted_bias[-1].tolist() == [0, 1] and f.weighted_kernel[-1].tolist() == [0, 0]
    assert f.edges.shape == cg.edges.shape and (np.diff(f.edges[:, 0]) >= 0).all()


def test_new_ops_map_to_gennape_ids():
    with torch.device("meta"):
        cg = from_module(torchvision.models.mobilenet_v3_small(), (1, 3, 224, 224))
    ids = {gennape_op_id(int(o)) for o in cg.op}
    assert max(ids) < 32
    assert gennape_op_id(OP_ID["hardsigmoid"]) == OP_ID["relu6"]
    assert gennape_op_id(OP_ID["layernorm"]) == OP_ID["<oov>"]


def test_default_node_features():
    cg = SPACE.composed(parse_arch_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")).graph
    x = node_features(cg.shape, cg.attr)
    assert x.shape == (cg.n_nodes, 11) and x.dtype == np.float32
    stem_conv = 1
    assert x[stem_conv, 6:].tolist() == [3, 3, 1, 1, 0]

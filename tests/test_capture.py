import random

import pytest
import torch
import torch.nn as nn
import torchvision

from cgbench.families.nb201 import OPS, SPACE, NB201Network, arch_string, parse_arch_string
from cgbench.graph import UnknownOpError, count_flops, count_params, from_module
from cgbench.graph.vocab import OP_ID


@pytest.fixture(scope="module")
def composer():
    return SPACE


def _cells():
    rng = random.Random(0)
    special = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
               "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
               "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
               "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    return [parse_arch_string(s) for s in special] + [tuple(rng.choice(OPS) for _ in range(6)) for _ in range(30)]


@pytest.mark.parametrize("cell", _cells(), ids=arch_string)
def test_composed_cg_equals_capture_of_whole_network(composer, cell):
    with torch.device("meta"):
        net = NB201Network(cell)
    assert from_module(net, (1, 3, 32, 32)) == composer.composed(cell).graph
    assert count_flops(net, (1, 3, 32, 32)) == composer.composed(cell).flops
    assert count_params(net) == composer.composed(cell).params


def test_nb201_published_size_of_the_all_conv3x3_cell(composer):
    # NAS-Bench-201's largest network: 1.53 M parameters and 220.11 M multiply-adds on CIFAR-10.
    cell = ("nor_conv_3x3",) * 6
    assert composer.composed(cell).params == 1_531_546
    assert composer.composed(cell).flops / 2 / 1e6 == pytest.approx(220.11968)


def test_cut_off_cell_keeps_a_zero_node_and_nothing_after_it(composer):
    cg = composer.composed(parse_arch_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")).graph
    assert cg.op_counts() == {"input": 1, "conv": 1, "batchnorm": 1, "zero": 1, "output": 1}


def test_none_edges_are_missing_edges(composer):
    with_none = composer.composed(parse_arch_string("|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|")).graph
    assert "zero" not in with_none.op_counts()
    assert with_none.op_counts()["conv"] == 1 + 15 * 3 + 2 * 3  # stem, 3 per cell, 3 per reduction block


@pytest.mark.parametrize("name, expected", [
    ("resnet18", {"conv": 20, "batchnorm": 20, "relu": 17, "add": 8, "maxpool": 1, "mean": 1, "matmul": 1}),
    ("mobilenet_v3_small", {"depthwise": 11, "hardswish": 19, "hardsigmoid": 9, "mul": 9, "matmul": 2}),
    ("efficientnet_b0", {"depthwise": 16, "swish": 49, "sigmoid": 16, "mul": 16, "add": 9}),
    ("vit_b_16", {"layernorm": 25, "gelu": 12, "softmax": 12, "bmm": 24, "conv": 1}),
])
def test_torchvision_models_capture_on_meta(name, expected):
    with torch.device("meta"):
        model = getattr(torchvision.models, name)()
    cg = from_module(model, (1, 3, 224, 224)).validate()
    counts = cg.op_counts()
    assert {op: counts.get(op, 0) for op in expected} == expected
    assert cg.shape[0].tolist() == [224, 224, 224, 224, 3, 3]
    assert cg.shape[-1].tolist() == [1, 1, 1, 1, 1000, 1000]


def test_real_weights_capture_like_meta():
    torch.manual_seed(0)
    real = torchvision.models.resnet18()
    with torch.device("meta"):
        meta = torchvision.models.resnet18()
    assert from_module(real, (1, 3, 64, 64)) == from_module(meta, (1, 3, 64, 64))


def test_conv_attributes_are_recorded():
    cg = from_module(nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=True), nn.ReLU()), (1, 3, 32, 32))
    conv = cg.op.tolist().index(OP_ID["conv"])
    assert cg.attr[conv].tolist() == [5, 5, 2, 2, 1, 1]
    assert cg.shape[conv].tolist() == [32, 16, 32, 16, 3, 8]


class _Erf(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.special.erf(self.proj(x))


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _Erf()

    def forward(self, x):
        return self.block(x)


def test_unknown_op_names_op_and_module_path():
    with pytest.raises(UnknownOpError) as err:
        from_module(_Net(), (1, 3, 8, 8))
    assert "erf" in err.value.op
    assert err.value.module_path == "block"
    assert "block" in str(err.value) and "erf" in str(err.value)


def test_unknown_op_maps_to_oov_on_request():
    cg = from_module(_Net(), (1, 3, 8, 8), unknown_ops="oov")
    assert cg.op_names() == ["input", "conv", "<oov>", "output"]

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

from cgbench.graph import UnknownOpError, from_module
from cgbench.graph.vocab import OP_ID

# fx writes functional pools (F.max_pool2d, F.avg_pool2d) without window attributes; export
# sees the ATen call and records kernel and stride. That is the only difference on these models.
_FUNCTIONAL_POOL_MODELS = {"inception_v3"}
_SAME_AS_FX = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "densenet121",
               "shufflenet_v2_x0_5", "squeezenet1_0", "mnasnet0_5", "alexnet", "vgg11", "googlenet", *_FUNCTIONAL_POOL_MODELS]


def _meta_model(name):
    with torch.device("meta"):
        return torchvision.models.get_model(name)


def _without_pool_attrs(cg):
    attr = cg.attr.copy()
    attr[np.isin(cg.op, [OP_ID["maxpool"], OP_ID["avgpool"]])] = 0
    return attr


@pytest.mark.parametrize("name", _SAME_AS_FX)
def test_export_gives_the_fx_graph(name):
    model = _meta_model(name)
    fx_cg = from_module(model, (1, 3, 224, 224), method="fx")
    export_cg = from_module(model, (1, 3, 224, 224), method="export")
    if name in _FUNCTIONAL_POOL_MODELS:
        assert not np.array_equal(fx_cg.attr, export_cg.attr)
        assert np.array_equal(fx_cg.op, export_cg.op) and np.array_equal(fx_cg.edges, export_cg.edges)
        assert np.array_equal(fx_cg.shape, export_cg.shape)
        assert np.array_equal(_without_pool_attrs(fx_cg), _without_pool_attrs(export_cg))
    else:
        assert fx_cg == export_cg


def test_export_keeps_conv_attributes_and_folds_glue():
    model = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(inplace=True), nn.Flatten(),
                          nn.Dropout(0.5), nn.Linear(8 * 16 * 16, 10, bias=False))
    cg = from_module(model, (1, 3, 32, 32), method="export")
    assert cg.op_names() == ["input", "conv", "relu", "identity", "matmul", "output"]
    assert cg.attr[1].tolist() == [5, 5, 2, 2, 1, 1]
    assert cg.attr[4].tolist() == [0, 0, 0, 0, 1, 0]
    assert cg == from_module(model, (1, 3, 32, 32), method="fx")


class _ShapeBranching(nn.Module):
    """Branches on the input's width: torch.fx cannot trace it, torch.export resolves it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        if x.shape[-1] > 16:
            x = self.pool(x)
        return x.mean((2, 3))


def test_auto_falls_back_to_export_when_fx_cannot_trace():
    model = _ShapeBranching()
    with pytest.raises(torch.fx.proxy.TraceError):
        from_module(model, (1, 3, 32, 32), method="fx")
    big = from_module(model, (1, 3, 32, 32), method="auto")
    small = from_module(model, (1, 3, 16, 16), method="auto")
    assert big.op_names() == ["input", "conv", "relu", "maxpool", "mean", "output"]
    assert small.op_names() == ["input", "conv", "relu", "mean", "output"]
    assert big == from_module(model, (1, 3, 32, 32), method="export")


class _Erf(nn.Module):
    def forward(self, x):
        return torch.special.erf(x) + x


def test_export_unknown_op_raises_or_maps_to_oov():
    with pytest.raises(UnknownOpError, match="erf"):
        from_module(_Erf(), (1, 3, 8, 8), method="export")
    assert "<oov>" in from_module(_Erf(), (1, 3, 8, 8), method="export", unknown_ops="oov").op_names()


def test_bad_method_is_a_clear_error():
    with pytest.raises(ValueError, match="method"):
        from_module(nn.ReLU(), (1, 3, 8, 8), method="trace")

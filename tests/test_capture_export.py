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


# ---------------------------------------------------------------------------------------------
# ATen ops that timm's models reach through export: each mapping on a module that uses it.


def _export(module, shape=(1, 3, 8, 8)):
    return from_module(module, shape, method="export")


def _in_edges(cg, op_name):
    """Source op names of every edge into the (single) node of ``op_name``."""
    names = cg.op_names()
    (target,) = [i for i, n in enumerate(names) if n == op_name]
    return sorted(names[s] for s, t in cg.edges.tolist() if t == target)


class _Square(nn.Module):
    """StarReLU's relu(x) ** 2."""

    def __init__(self, exponent=2):
        super().__init__()
        self.conv, self.exponent = nn.Conv2d(3, 4, 1), exponent

    def forward(self, x):
        return torch.pow(torch.relu(self.conv(x)), self.exponent)


def test_square_is_a_mul_of_x_with_itself_and_other_powers_stay_unknown():
    cg = _export(_Square())
    assert cg.op_names() == ["input", "conv", "relu", "mul", "output"]
    assert _in_edges(cg, "mul") == ["relu", "relu"]
    with pytest.raises(UnknownOpError, match="pow"):
        _export(_Square(exponent=3))


class _EvoNormLike(nn.Module):
    """x / sqrt(var(x) + eps), as EvoNorm's instance_std."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        return x / x.var(dim=(2, 3), unbiased=False, keepdim=True).add(1e-5).sqrt()


def test_variance_is_a_norm_that_the_input_is_divided_by():
    cg = _export(_EvoNormLike())
    assert cg.op_names() == ["input", "conv", "norm", "div", "output"]
    assert _in_edges(cg, "div") == ["conv", "norm"]


class _Windows(nn.Module):
    """Overlapping 4x4 windows of stride 2, by Tensor.unfold twice (HaloNet) or by F.unfold (im2col)."""

    def __init__(self, tensor_unfold):
        super().__init__()
        self.conv, self.tensor_unfold = nn.Conv2d(3, 4, 1), tensor_unfold

    def forward(self, x):
        x = self.conv(x)
        if self.tensor_unfold:
            windows = x.unfold(2, 4, 2).unfold(3, 4, 2).reshape(1, 4 * 9, 16).transpose(1, 2)
        else:
            windows = nn.functional.unfold(x, 4, stride=2).reshape(1, 4, 16, 9).permute(0, 2, 1, 3)
        return windows.softmax(-1)


def test_tensor_unfold_windows_are_one_im2col_like_f_unfold():
    cg = _export(_Windows(tensor_unfold=True))
    assert cg.op_names() == ["input", "conv", "im2col", "softmax", "output"]
    assert cg.op_names() == _export(_Windows(tensor_unfold=False)).op_names()


class _Residual(nn.Module):
    """x + f(conv(x)) for a glue-like f: neg (x * -1) and repeat_interleave fold to x + conv(x)."""

    def __init__(self, glue):
        super().__init__()
        self.conv, self.glue = nn.Conv2d(3, 3, 1), glue

    def forward(self, x):
        return (x + self.glue(self.conv(x))).mean((2, 3))


@pytest.mark.parametrize("glue", [torch.neg, lambda y: y.repeat_interleave(2, dim=0)], ids=["neg", "repeat_interleave"])
def test_neg_and_repeat_interleave_fold_like_glue(glue):
    assert _export(_Residual(glue)) == _export(_Residual(lambda y: y))


class _MaxOverDim(nn.Module):
    """A max over one dim (Hiera's amax over a pooling window, VOLO's max over tokens), or of two tensors."""

    def __init__(self, kind):
        super().__init__()
        self.conv, self.kind = nn.Conv2d(3, 4, 1), kind

    def forward(self, x):
        y = self.conv(x).flatten(2).transpose(1, 2)  # (1, 64, 4) tokens
        if self.kind == "amax":
            return y.view(1, 4, 16, 4).amax(dim=1)
        if self.kind == "max.dim":
            return y.max(dim=1)[0]
        return torch.max(y, torch.relu(y))


@pytest.mark.parametrize("kind", ["amax", "max.dim"])
def test_max_over_a_dim_is_max_pooling(kind):
    assert _export(_MaxOverDim(kind)).op_names() == ["input", "conv", "maxpool", "output"]


def test_max_of_two_tensors_is_maximum():
    assert _export(_MaxOverDim("max.other")).op_names() == ["input", "conv", "relu", "maximum", "output"]


class _ReshapeAs(nn.Module):
    """LeViT's bn(x.flatten(0, 1)).reshape_as(x): the shape donor x adds no edge."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 1), nn.BatchNorm1d(4)

    def forward(self, x):
        y = self.conv(x).flatten(2).transpose(1, 2)
        return torch.sigmoid(self.bn(y.flatten(0, 1)).reshape_as(y))


def test_reshape_as_carries_only_its_first_operand():
    cg = _export(_ReshapeAs())
    assert cg.op_names() == ["input", "conv", "batchnorm", "sigmoid", "output"]
    assert _in_edges(cg, "sigmoid") == ["batchnorm"]


class _CopyIntoBuffer(nn.Module):
    """buffer[:, :2] = relu(y) into a fresh buffer; or MViTv2's attn[..., 1:, 1:] = attn[..., 1:, 1:] + rel."""

    def __init__(self, into_activation):
        super().__init__()
        self.conv, self.rel, self.into_activation = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1), into_activation

    def forward(self, x):
        y = self.conv(x)
        if self.into_activation:
            y[:, :, 1:, 1:] = y[:, :, 1:, 1:] + self.rel(x)[:, :, 1:, 1:]
            return y.softmax(-1)
        out = y.new_zeros(1, 4, 8, 8)
        out[:, :2] = torch.relu(y[:, :2])
        return out.softmax(-1)


def test_copy_into_a_buffer_passes_its_source_on():
    cg = _export(_CopyIntoBuffer(into_activation=False))
    assert cg.op_names() == ["input", "conv", "relu", "softmax", "output"]


def test_copy_into_a_slice_of_an_activation_reaches_later_readers_of_it():
    cg = _export(_CopyIntoBuffer(into_activation=True))
    assert sorted(cg.op_names()) == sorted(["input", "conv", "conv", "add", "softmax", "output"])
    assert _in_edges(cg, "softmax") == ["add", "conv"]


# One timm model per family whose capture these mappings (and count_flops' fix) made possible,
# through the zoo's own build and capture; each takes seconds on meta.
_TIMM_FIXED = {
    "poolformerv2_s12": (224, "mul"),  # StarReLU: relu(x) ** 2
    "convnext_zepto_rms": (224, "norm"),  # var of an RMS/EvoNorm-style norm
    "halonet26t": (256, "im2col"),  # Tensor.unfold halo windows
    "levit_128s": (224, "batchnorm"),  # bn(...).reshape_as(x)
    "hiera_tiny_224": (224, "maxpool"),  # amax pooling of query tokens
    "test_vit3": (160, "bmm"),  # attention-pool latent query: FlopCounterMode's grad hook
}


@pytest.mark.parametrize("architecture", sorted(_TIMM_FIXED))
def test_timm_models_of_the_fixed_families_capture(architecture):
    from cgbench.families.timm_zoo import build_timm, capture_model

    size, op = _TIMM_FIXED[architecture]
    record = capture_model(architecture, lambda: build_timm(architecture), (1, 3, size, size))
    assert record.ok, record.failure
    assert op in record.graph.op_names() and record.flops > 0


def test_zoo_retries_failures_of_an_older_capture_code_but_keeps_successes(cgbench_home, monkeypatch):
    from cgbench.families import timm_zoo

    def broken():
        raise RuntimeError("cannot build")

    def working():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())

    shape = (1, 3, 8, 8)
    assert not timm_zoo.cached_capture("retry-test", "m@8", broken, shape).ok
    assert not timm_zoo.cached_capture("retry-test", "m@8", working, shape).ok  # same code: cached
    monkeypatch.setattr(timm_zoo, "CAPTURE_CODE_VERSION", "newer")
    retried = timm_zoo.cached_capture("retry-test", "m@8", working, shape)
    assert retried.ok and retried.graph.op_names() == ["input", "conv", "relu", "output"]
    monkeypatch.setattr(timm_zoo, "CAPTURE_CODE_VERSION", "newest")
    assert timm_zoo.cached_capture("retry-test", "m@8", broken, shape) == retried  # successes stay cached

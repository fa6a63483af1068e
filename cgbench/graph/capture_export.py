"""Capture through ``torch.export`` (non-strict): for models that plain torch.fx cannot trace.

torch.fx fails on models that branch on a tensor's shape (``if x.shape[-1] > 32``: a traced
shape is a Proxy); torch.export traces with fake tensors whose shapes are concrete, so such
branches resolve. Its graph holds ATen ops instead of modules and torch functions; this module
maps them to the same CG ops, through the same ``_Walker``, ``GraphBuilder`` and ``simplify``,
so a model both paths can capture gives the same CG (tests check it on torchvision models).

How ATen ops are written, so that the CG matches what fx writes for the module they came from:

- glue (views, reshapes, permutes, getitem, contiguous, alias, clone, pads, asserts) folds
  away; dropout (the identity in eval mode) is an ``identity`` node, as fx writes ``nn.Dropout``;
  an in-place op (``relu_``, ``add_``) maps like its out-of-place twin;
- ``conv*``/``convolution`` keep kernel, stride, groups and bias; ``linear`` is ``matmul`` with
  the attributes of ``nn.Linear``;
- ``scaled_dot_product_attention`` is written as capture.py writes attention: inside an
  ``nn.MultiheadAttention`` like that module (one edge from the in-projection, its embed dim),
  elsewhere like a functional call;
- an op with no activation operand (``zeros``, ``arange``, a mask) is a constant and adds nothing;
- any other op raises :class:`UnknownOpError` or becomes ``<oov>``, as in fx capture.

Known difference from fx: a model that calls ``F.linear`` directly gets ``matmul`` nodes with
``nn.Linear``'s attributes here and without attributes through fx.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.fx as fx
import torch.nn as nn
from torch.fx.passes.shape_prop import TensorMetadata, _extract_tensor_metadata

from .capture import _NEEDS_TWO_ACTIVATIONS, _attention_steps, _is_global, _resolution, _Step, _tensor_meta, _Walker, _window_attr
from .model import ComputationGraph

# ATen op (overload packet name, in-place suffix removed) -> CG op.
_ATEN_OPS: dict[str, str] = {
    "add": "add", "sub": "sub", "rsub": "sub", "mul": "mul", "div": "div", "maximum": "maximum",
    "cat": "concat", "concat": "concat", "concatenate": "concat", "stack": "concat",
    "relu": "relu", "relu6": "relu6", "hardtanh": "relu6", "sigmoid": "sigmoid", "tanh": "tanh",
    "gelu": "gelu", "silu": "swish", "hardswish": "hardswish", "hardsigmoid": "hardsigmoid",
    "softmax": "softmax", "_softmax": "softmax", "leaky_relu": "leakyrelu", "elu": "elu",
    "prelu": "prelu", "_prelu_kernel": "prelu", "mish": "mish", "softplus": "softplus",
    "batch_norm": "batchnorm", "_native_batch_norm_legit_no_training": "batchnorm",
    "native_batch_norm": "batchnorm", "layer_norm": "layernorm", "native_layer_norm": "layernorm",
    "group_norm": "groupnorm", "native_group_norm": "groupnorm", "instance_norm": "instancenorm",
    "upsample_nearest1d": "interpolate", "upsample_nearest2d": "interpolate",
    "upsample_bilinear2d": "interpolate", "upsample_bicubic2d": "interpolate",
    "upsample_linear1d": "interpolate", "_upsample_bilinear2d_aa": "interpolate",
    "_upsample_bicubic2d_aa": "interpolate", "pixel_shuffle": "depthtospacend",
    "pixel_unshuffle": "spacetodepthnd", "channel_shuffle": "channel_shuffle",
    "native_channel_shuffle": "channel_shuffle", "zeros_like": "zero",
    # fx writes nn.Dropout (the identity in eval mode) as an identity node; so does export.
    "dropout": "identity", "feature_dropout": "identity", "alpha_dropout": "identity",
    "feature_alpha_dropout": "identity", "native_dropout": "identity",
    # Reductions: a sum is a mean up to a constant, which CGs drop as GENNAPE drops scalings.
    "sum": "mean", "linalg_vector_norm": "norm", "norm": "norm", "im2col": "im2col", "col2im": "col2im",
    # x * a + b with parameters a, b (ResMLP's affine) folds like a mul by a parameter.
    "addcmul": "mul",
}
_PRODUCTS = {"matmul", "bmm", "mm", "einsum"}
_CONVS = {"conv1d", "conv2d", "conv3d", "convolution", "_convolution"}
_CONV_TRANSPOSES = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
_MAX_POOLS = {"max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices"}
_AVG_POOLS = {"avg_pool1d", "avg_pool2d", "avg_pool3d"}
_ADAPTIVE_AVG_POOLS = {"adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "_adaptive_avg_pool2d"}
_ADAPTIVE_MAX_POOLS = {"adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"}
_GLUE_ATEN = {
    "view", "_unsafe_view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "contiguous",
    "clone", "detach", "alias", "lift_fresh_copy", "squeeze", "unsqueeze", "expand", "expand_as", "select",
    "slice", "narrow", "chunk", "split", "split_with_sizes", "tensor_split", "unbind", "to", "_to_copy",
    "type_as", "repeat", "flip", "roll", "pad", "constant_pad_nd", "reflection_pad1d", "reflection_pad2d",
    "replication_pad1d", "replication_pad2d", "masked_fill", "movedim", "index", "index_select",
    "_assert_tensor_metadata", "_assert_async", "_assert_scalar", "sym_constrain_range_for_size",
    "swapaxes", "swapdims",
    # timm clamps only as numerical guards (the eps of F.normalize, logit-scale bounds).
    "clamp", "clamp_min", "clamp_max",
}
_GLUE_TARGETS = {operator.getitem}
# Ops that read only an operand's shape or device (new_zeros(x, ...)): constants, like torch.zeros.
_SHAPE_ONLY_ATEN = {"new_zeros", "new_ones", "new_full", "new_empty", "ones_like", "full_like", "empty_like"}


def _packet_name(target) -> str:
    """``aten.relu_.default`` -> ``relu``: the overload packet, in-place twin mapped to its base."""
    packet = getattr(target, "overloadpacket", None)
    name = packet.__name__ if packet is not None else getattr(target, "__name__", repr(target))
    if name.endswith("_") and not name.startswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def _call_args(node: fx.Node) -> dict[str, object]:
    """The call's arguments by schema name, defaults filled in."""
    schema = node.target._schema
    values: dict[str, object] = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args):
            values[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            values[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            values[arg.name] = arg.default_value
    return values


def _meta_of(value) -> TensorMetadata | None:
    return _tensor_meta(value.meta.get("tensor_meta")) if isinstance(value, fx.Node) else None


class _ExportWalker(_Walker):
    """A ``_Walker`` over an exported program's graph: ATen ops instead of modules and functions."""

    def __init__(self, program: torch.export.ExportedProgram, model: nn.Module, unknown_ops: str) -> None:
        super().__init__(program.graph_module, unknown_ops)
        self.user_inputs = set(program.graph_signature.user_inputs)
        self.model = model

    def visit(self, node: fx.Node) -> list[int]:
        if node.op == "placeholder" and node.name not in self.user_inputs:
            return []  # parameters, buffers and lifted constants are not activations
        if node.meta.get("tensor_meta") is None and isinstance(node.meta.get("val"), (tuple, list)):
            # export leaves multi-output ops (unbind, max_pool2d_with_indices) without tensor_meta.
            tensors = [v for v in node.meta["val"] if isinstance(v, torch.Tensor)]
            node.meta["tensor_meta"] = [_extract_tensor_metadata(t) for t in tensors]
        if node.op == "call_function" and _packet_name(node.target) in _SHAPE_ONLY_ATEN:
            return []
        return super().visit(node)

    def steps(self, node: fx.Node, out_meta: TensorMetadata) -> list[_Step] | None:
        args = self.activation_args(node)
        if node.target in _GLUE_TARGETS:
            return None
        name = _packet_name(node.target)
        if name in _GLUE_ATEN:
            return None
        in_shape = _resolution(_meta_of(args[0]), out_meta)
        if name == "scaled_dot_product_attention":
            return self._attention(node, in_shape)
        if name in _CONVS or name in _CONV_TRANSPOSES:
            return [self._conv(node, name)]
        if name == "linear":
            return [_Step("matmul", (0, 0, 0, 0, 1, int(_call_args(node).get("bias") is not None)))]
        if name in _PRODUCTS:
            return [_Step("bmm")] if len(args) >= 2 else [_Step("matmul", (0, 0, 0, 0, 1, 0))]
        pooling = self._pooling(node, name, out_meta)
        if pooling is not None:
            return pooling
        op = _ATEN_OPS.get(name)
        if op is None:
            return self.unknown(str(node.target), node)
        if op in _NEEDS_TWO_ACTIVATIONS and len(args) < 2:
            return None
        return [_Step(op)]

    def edge_sources(self, node: fx.Node) -> list[int]:
        if self._multihead_attention(node) is not None:
            # nn.MultiheadAttention is one fx leaf: Q, K and V are one edge from its in-projection.
            return list(dict.fromkeys(super().edge_sources(node)))
        return super().edge_sources(node)

    def _multihead_attention(self, node: fx.Node) -> nn.MultiheadAttention | None:
        if _packet_name(node.target) != "scaled_dot_product_attention":
            return None
        for path, _ in reversed(list((node.meta.get("nn_module_stack") or {}).values())):
            module = self.model.get_submodule(_module_attr_path(path)) if path else self.model
            if isinstance(module, nn.MultiheadAttention):
                return module
        return None

    def _attention(self, node: fx.Node, in_shape: tuple[int, ...]) -> list[_Step]:
        mha = self._multihead_attention(node)
        if mha is None:
            return _attention_steps(in_shape, in_shape[4], with_projections=False)
        query = _meta_of(node.args[0])
        tokens = int(query.shape[-2])
        return _attention_steps((tokens,) * 2 + (1, 1) + (mha.embed_dim,) * 2, mha.embed_dim, with_projections=False)

    @staticmethod
    def _conv(node: fx.Node, name: str) -> _Step:
        call = _call_args(node)
        w_meta = _meta_of(call["weight"])
        kernel = tuple(w_meta.shape[2:]) if w_meta is not None else (0, 0)
        groups = int(call.get("groups", 1))
        bias = int(call.get("bias") is not None)
        if name in _CONV_TRANSPOSES or call.get("transposed", False):
            return _Step("conv_transpose", _window_attr(kernel, call.get("stride", 1), groups, bool(bias)))
        in_channels = int(w_meta.shape[1]) * groups if w_meta is not None else 0
        op = "depthwise" if groups > 1 and groups == in_channels else "conv"
        return _Step(op, _window_attr(kernel, call.get("stride", 1), groups, bool(bias)))

    @staticmethod
    def _pooling(node: fx.Node, name: str, out_meta: TensorMetadata) -> list[_Step] | None:
        if name in _MAX_POOLS or name in _AVG_POOLS:
            call = _call_args(node)
            stride = call.get("stride") or call["kernel_size"]
            return [_Step("maxpool" if name in _MAX_POOLS else "avgpool", _window_attr(call["kernel_size"], stride))]
        if name in _ADAPTIVE_AVG_POOLS:
            return [_Step("mean" if _is_global(_call_args(node)["output_size"]) else "avgpool")]
        if name in _ADAPTIVE_MAX_POOLS:
            return [_Step("maxpool")]
        if name == "mean":
            return [_Step("avgpool" if len(out_meta.shape) == 4 and out_meta.shape[-1] != 1 else "mean")]
        return None


def _module_attr_path(path: str) -> str:
    """nn_module_stack writes submodule paths as ``L['self'].layers[0].attn`` or ``layers.0.attn``."""
    path = path.removeprefix("L['self']").lstrip(".")
    return path.replace("[", ".").replace("]", "").replace("'", "")


def export_module(model: nn.Module, input_shape: Sequence[int], unknown_ops: str) -> ComputationGraph:
    """Capture ``model`` (in eval mode) through non-strict ``torch.export``; see the module docstring."""
    tensors = [*model.parameters(), *model.buffers()]
    device = "meta" if tensors and all(t.is_meta for t in tensors) else "cpu"
    was_training = model.training
    model.eval()
    try:
        program = torch.export.export(model, (torch.empty(*input_shape, device=device),), strict=False)
    finally:
        model.train(was_training)
    return _ExportWalker(program, model, unknown_ops).walk()

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
- ops from timm models that fx cannot take (it falls back to export): ``x ** 2`` is ``mul(x, x)``,
  ``var``/``std`` are ``norm`` (``sqrt``/``rsqrt`` of them fold), max over a dim is ``maxpool``,
  ``Tensor.unfold`` windows are ``im2col``, ``neg``/``repeat_interleave``/``reshape_as`` fold, and
  ``copy_`` into a slice passes its source on to the tensor it writes into;
- an op name registered with :func:`~cgbench.graph.capture.register_op` maps as registered;
- any other op raises :class:`UnknownOpError` or becomes ``<oov>``, as in fx capture.

Errors say what to do: a branch on tensor values (export's "could not guard on data-dependent
expression") is a :class:`ControlFlowError` naming the line; a model that fails on the input
shape is a :class:`ModelRunError`.

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

from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

from .capture import (_NEEDS_TWO_ACTIVATIONS, _USER_NAMES, CaptureReport, ControlFlowError, ModelRunError,
                      _attention_steps, _is_global, _resolution, _run_failure, _Step, _tensor_meta, _user_code,
                      _user_steps, _Walker, _window_attr)

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
    # aten.max.other; max over a dim is a reduction (_MAX_REDUCTIONS).
    "max": "maximum",
    # The variance (and std) that EvoNorm divides by is a second-moment reduction: the 2-norm of
    # the centred values up to the constant 1/sqrt(n), which CGs drop as they drop scalings. So
    # x / sqrt(var(x) + eps) is norm -> div, as F.normalize's x / ||x|| is.
    "var": "norm", "std": "norm",
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
    # Data movement: copies of the operand along a dim (GC ViT's global query per window).
    "repeat_interleave",
    # -x is x * -1, a mul by a constant, which GENNAPE prunes (rotary embeddings' rotate_half).
    "neg",
    # sqrt/rsqrt turn a second-moment statistic (var, mean of squares) into the std or rms a norm
    # divides by; the statistic is the node (``norm``), as F.normalize's norm is one node.
    "sqrt", "rsqrt",
}
_GLUE_TARGETS = {operator.getitem}
# Ops that read only an operand's shape or device (new_zeros(x, ...)): constants, like torch.zeros.
_SHAPE_ONLY_ATEN = {"new_zeros", "new_ones", "new_full", "new_empty", "ones_like", "full_like", "empty_like"}
# Glue whose second operand gives only a shape (LeViT's bn(x.flatten(0, 1)).reshape_as(x)): the
# result carries the first operand alone, so the second adds no edge.
_SHAPED_LIKE_SECOND = {"reshape_as", "view_as"}
# Max reductions over a dim (Hiera's amax over a pooling window, VOLO's max over tokens): max
# pooling, without window attributes, as adaptive max pooling is written. aten.max.other is the
# elementwise max of two tensors (maximum).
_MAX_REDUCTIONS = {"amax", "max"}
# Square (x ** 2, StarReLU's relu(x) ** 2) is written as fx writes x * x: a mul with both edges
# from x. Other powers have no CG op and stay unknown.
_SQUARES = {"square", "pow"}


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

    def op_name(self, node: fx.Node) -> str:
        return _packet_name(node.target) if node.op == "call_function" else super().op_name(node)

    def visit(self, node: fx.Node) -> list[int]:
        if node.op == "placeholder" and node.name not in self.user_inputs:
            return []  # parameters, buffers and lifted constants are not activations
        if node.meta.get("tensor_meta") is None and isinstance(node.meta.get("val"), (tuple, list)):
            # export leaves multi-output ops (unbind, max_pool2d_with_indices) without tensor_meta.
            tensors = [v for v in node.meta["val"] if isinstance(v, torch.Tensor)]
            node.meta["tensor_meta"] = [_extract_tensor_metadata(t) for t in tensors]
        if node.op == "call_function":
            name = _packet_name(node.target)
            if name in _SHAPE_ONLY_ATEN:
                return []
            if name in _SHAPED_LIKE_SECOND:
                return list(self.sources.get(node.args[0], []))
            if name == "copy" and self.activation_args(node):
                return self._copy_into(node)
        return super().visit(node)

    def _copy_into(self, node: fx.Node) -> list[int]:
        """``dst.copy_(src)`` (``buffer[:, a:b] = src``, MViTv2's rel-pos add into a slice of attn):
        glue, but it mutates ``dst`` in place, so the tensor ``dst`` views (read again later
        through its own node) carries ``src`` from now on too."""
        merged = self.operand_sources(node)
        view = node.args[0]
        while isinstance(view, fx.Node):
            self.sources[view] = merged
            is_view = view.op == "call_function" and _packet_name(view.target) in _GLUE_ATEN
            view = view.args[0] if is_view and view.args else None
        return merged

    def steps(self, node: fx.Node, out_meta: TensorMetadata) -> list[_Step] | None:
        args = self.activation_args(node)
        if node.target in _GLUE_TARGETS:
            return None
        name = _packet_name(node.target)
        if name in _USER_NAMES:
            return _user_steps(_USER_NAMES[name])
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
        if name in _MAX_REDUCTIONS and node.target._overloadname != "other":
            return [_Step("maxpool")]
        if name in _SQUARES:
            return [_Step("mul")] if self._is_square(node) else self.unknown(str(node.target), node,
                                                                             f"register_op({name!r}, OP)")
        if name == "unfold":
            # Tensor.unfold along H then along W extracts local windows (HaloNet's halo windows),
            # what F.unfold does in one im2col: the first unfold is the im2col, the second folds.
            follows_unfold = isinstance(node.args[0], fx.Node) and node.args[0].op == "call_function" \
                and _packet_name(node.args[0].target) == "unfold"
            return None if follows_unfold else [_Step("im2col")]
        op = _ATEN_OPS.get(name)
        if op is None:
            return self.unknown(str(node.target), node, f"register_op({name!r}, OP)")
        if op in _NEEDS_TWO_ACTIVATIONS and len(args) < 2:
            return None
        return [_Step(op)]

    @staticmethod
    def _is_square(node: fx.Node) -> bool:
        if _packet_name(node.target) == "square":
            return True
        exponent = _call_args(node).get("exponent")
        return isinstance(exponent, (int, float)) and exponent == 2 and isinstance(node.args[0], fx.Node)

    def edge_sources(self, node: fx.Node) -> list[int]:
        if node.op == "call_function" and _packet_name(node.target) in _SQUARES:
            return super().edge_sources(node) * 2  # x * x: both edges from x
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


def export_module(model: nn.Module, input_shape: Sequence[int], unknown_ops: str) -> CaptureReport:
    """Capture ``model`` (in eval mode) through non-strict ``torch.export``; see the module docstring."""
    tensors = [*model.parameters(), *model.buffers()]
    device = "meta" if tensors and all(t.is_meta for t in tensors) else "cpu"
    was_training = model.training
    model.eval()
    try:
        program = torch.export.export(model, (torch.empty(*input_shape, device=device),), strict=False)
    except GuardOnDataDependentSymNode as err:
        raise ControlFlowError(
            f"the model's forward branches on the values of a tensor{_user_code(err)}: data-dependent control flow, "
            "which no graph capture can follow (a CG is one fixed graph). Make the branch depend on shapes or "
            "constructor arguments instead, or capture each branch's submodule on its own") from err
    except RuntimeError as err:
        raise ModelRunError(_run_failure(model, input_shape, err, _user_code(err))) from err
    finally:
        model.train(was_training)
    walker = _ExportWalker(program, model, unknown_ops)
    return CaptureReport(walker.walk(), "export", walker.unknown_found, walker.folded)

"""Any ``torch.nn.Module`` to a CG: torch.fx capture, shape propagation, op mapping.

Shapes are propagated on the ``meta`` device when the model lives there (build it under
``with torch.device("meta")`` so no weights are allocated) and under a FakeTensorMode otherwise,
so capture never runs real arithmetic. Each fx node is either mapped to one or more CG ops,
folded away (reshapes, views, indexing and other no-op glue; an add, mul or concat with at most
one activation operand, as GENNAPE prunes them), or, if it is unknown, reported with its op and
module path.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata
from torchvision.ops import stochastic_depth

from .compose import NO_ATTR, GraphBuilder
from .model import ComputationGraph
from .vocab import OOV, op_id


class UnknownOpError(ValueError):
    """Capture met an op that the CG vocabulary has no mapping for."""

    def __init__(self, op: str, module_path: str) -> None:
        super().__init__(
            f"cannot map op {op!r} at module path {module_path!r} to the CG vocabulary; "
            "pass unknown_ops='oov' to from_module to map it to the <oov> id instead"
        )
        self.op = op
        self.module_path = module_path


class ZeroOp(nn.Module):
    """An op whose output is identically zero (NAS-Bench-201's and DARTS' ``none``).

    Captured as a ``zero`` node; ``simplify`` then folds whatever only consumes zeros.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


# ---------------------------------------------------------------------------------------------
# Shapes and attributes


def _hwc(meta: TensorMetadata | None) -> tuple[int, int, int]:
    """(H, W, C) of a tensor: NCHW for 4-D and 5-D, tokens (N, L, D) as H=L, W=1, C=D."""
    if meta is None:
        return (1, 1, 1)
    dims = tuple(int(d) for d in meta.shape)
    if len(dims) >= 4:
        return (dims[-2], dims[-1], dims[1])
    if len(dims) == 3:
        return (dims[1], 1, dims[2])
    return (1, 1, dims[-1] if dims else 1)


def _resolution(first_in: TensorMetadata | None, out: TensorMetadata | None) -> tuple[int, ...]:
    (hi, wi, ci), (ho, wo, co) = _hwc(first_in), _hwc(out)
    return (hi, ho, wi, wo, ci, co)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


def _window_attr(kernel, stride, groups: int = 0, bias: bool = False) -> tuple[int, ...]:
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride if stride is not None else kernel)
    return (kh, kw, sh, sw, groups, int(bias))


def _conv_op(m: nn.Conv1d | nn.Conv2d | nn.Conv3d) -> str:
    if m.groups > 1 and m.groups == m.in_channels:
        return "depthwise"
    return "conv"


@dataclass(frozen=True)
class _Step:
    op: str
    attr: tuple[int, ...] = NO_ATTR
    # The step's resolution when it differs from the fx node's own (inside an expansion).
    shape: tuple[int, ...] | None = None


# ---------------------------------------------------------------------------------------------
# Module rules: nn.Module type -> the CG op chain it becomes.

_FOLD = "fold"
_MODULE_OPS: dict[type, str] = {
    nn.BatchNorm1d: "batchnorm", nn.BatchNorm2d: "batchnorm", nn.BatchNorm3d: "batchnorm",
    nn.SyncBatchNorm: "batchnorm", nn.LayerNorm: "layernorm", nn.GroupNorm: "groupnorm",
    nn.InstanceNorm1d: "instancenorm", nn.InstanceNorm2d: "instancenorm",
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardtanh: "relu6", nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh", nn.GELU: "gelu", nn.SiLU: "swish", nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid", nn.Softmax: "softmax", nn.LeakyReLU: "leakyrelu",
    nn.ELU: "elu", nn.PReLU: "prelu", nn.Mish: "mish", nn.Softplus: "softplus",
    nn.Dropout: "identity", nn.Dropout1d: "identity", nn.Dropout2d: "identity",
    nn.AlphaDropout: "identity", nn.Upsample: "interpolate", nn.UpsamplingBilinear2d: "interpolate",
    nn.UpsamplingNearest2d: "interpolate", nn.PixelShuffle: "depthtospacend",
    nn.PixelUnshuffle: "spacetodepthnd", nn.ChannelShuffle: "channel_shuffle", ZeroOp: "zero",
    nn.Identity: _FOLD, nn.Flatten: _FOLD, nn.Unflatten: _FOLD, nn.ZeroPad2d: _FOLD,
    nn.ConstantPad2d: _FOLD, nn.ReflectionPad2d: _FOLD, nn.ReplicationPad2d: _FOLD,
}


def _module_steps(m: nn.Module, in_shape: tuple[int, ...]) -> list[_Step] | None:
    """The op chain of a leaf module, [] to fold it, None if it is unknown."""
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return [_Step(_conv_op(m), _window_attr(m.kernel_size, m.stride, m.groups, m.bias is not None))]
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
        return [_Step("conv_transpose", _window_attr(m.kernel_size, m.stride, m.groups, m.bias is not None))]
    if isinstance(m, nn.Linear):
        return [_Step("matmul", (0, 0, 0, 0, 1, int(m.bias is not None)))]
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
        return [_Step("maxpool", _window_attr(m.kernel_size, m.stride))]
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
        return [_Step("avgpool", _window_attr(m.kernel_size, m.stride))]
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
        return [_Step("mean" if _is_global(m.output_size) else "avgpool")]
    if isinstance(m, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)):
        return [_Step("maxpool")]
    if isinstance(m, nn.MultiheadAttention):
        return _attention_steps(in_shape, m.embed_dim, with_projections=True)
    for module_type in type(m).__mro__:
        if module_type in _MODULE_OPS:
            op = _MODULE_OPS[module_type]
            return [] if op == _FOLD else [_Step(op)]
    return None


def _is_global(output_size) -> bool:
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
    return all(s == 1 for s in sizes)


def _attention_steps(in_shape: tuple[int, ...], embed_dim: int, with_projections: bool) -> list[_Step]:
    """Attention written in primitive ops: [in-projection] -> Q.K^T -> softmax -> A.V -> [out-projection]."""
    tokens = in_shape[0]
    scores = (tokens, tokens, 1, 1, embed_dim, tokens)
    mixed = (tokens, tokens, 1, 1, tokens, embed_dim)
    steps = [_Step("bmm", shape=scores), _Step("softmax", shape=(tokens, tokens, 1, 1, tokens, tokens)),
             _Step("bmm", shape=mixed)]
    if with_projections:
        linear = (0, 0, 0, 0, 1, 1)
        steps.insert(0, _Step("matmul", linear, (tokens, tokens, 1, 1, embed_dim, 3 * embed_dim)))
        steps.append(_Step("matmul", linear, (tokens, tokens, 1, 1, embed_dim, embed_dim)))
    return steps


# ---------------------------------------------------------------------------------------------
# Function and method rules: target -> op name, folded, or computed from the call.

_GLUE_METHODS = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze", "unsqueeze",
    "expand", "expand_as", "clone", "detach", "to", "type", "float", "half", "chunk", "split",
    "unbind", "narrow", "size", "dim", "repeat", "flip", "roll", "unflatten", "masked_fill",
    "__getitem__", "numel", "type_as", "movedim",
}
_GLUE_FUNCTIONS: set[Callable] = {
    operator.getitem, getattr, torch.flatten, torch.reshape, torch.permute, torch.transpose,
    torch.squeeze, torch.unsqueeze, torch.chunk, torch.split, torch.unbind, torch.narrow,
    torch.roll, torch.flip, F.pad, torch._assert, operator.eq, operator.floordiv, operator.mod,
    operator.ne, operator.lt, operator.gt, operator.le, operator.ge, torch.movedim,
}
_FUNCTION_OPS: dict[object, str] = {
    operator.add: "add", operator.iadd: "add", torch.add: "add", "add": "add", "add_": "add",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul", "mul": "mul", "mul_": "mul",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub", "sub": "sub",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div", "div": "div",
    torch.maximum: "maximum", torch.cat: "concat", torch.concat: "concat", torch.stack: "concat",
    F.relu: "relu", torch.relu: "relu", "relu": "relu", "relu_": "relu", F.relu6: "relu6",
    F.hardtanh: "relu6", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", "sigmoid": "sigmoid",
    F.hardsigmoid: "hardsigmoid", F.hardswish: "hardswish", F.silu: "swish", F.gelu: "gelu",
    torch.tanh: "tanh", F.tanh: "tanh", "tanh": "tanh", F.softmax: "softmax",
    torch.softmax: "softmax", "softmax": "softmax", F.layer_norm: "layernorm",
    F.group_norm: "groupnorm", F.batch_norm: "batchnorm", F.leaky_relu: "leakyrelu",
    F.elu: "elu", F.mish: "mish", F.softplus: "softplus", torch.mean: "mean", "mean": "mean",
    F.avg_pool2d: "avgpool", F.max_pool2d: "maxpool", F.interpolate: "interpolate",
    torch.channel_shuffle: "channel_shuffle", F.pixel_shuffle: "depthtospacend",
    F.dropout: "identity", torch.matmul: "bmm", torch.bmm: "bmm", operator.matmul: "bmm",
    "matmul": "bmm", F.linear: "matmul", F.conv2d: "conv", torch.zeros_like: "zero",
    F.adaptive_avg_pool2d: "mean", F.adaptive_max_pool2d: "maxpool",
}
# Binary ops that GENNAPE prunes when only one operand is an activation (x + const, x * gamma).
_NEEDS_TWO_ACTIVATIONS = {"add", "mul", "sub", "div", "maximum", "concat"}


# Functions that libraries mark as fx leaves and that are the identity in eval mode.
_FOLDED_LEAF_FUNCTIONS: set[Callable] = {stochastic_depth}


# ---------------------------------------------------------------------------------------------
# The tracer and the graph walk


class _CGTracer(fx.Tracer):
    """Keeps mapped torch.nn modules (and ZeroOp) as leaves, traces through everything else."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, ZeroOp):
            return True
        return super().is_leaf_module(m, qualname)


def _tensor_meta(value) -> TensorMetadata | None:
    if isinstance(value, TensorMetadata):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _tensor_meta(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _tensor_meta(list(value.values()))
    return None


def _module_path(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack.values()))[0] if stack else "<top level>"


def _target_name(node: fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))


def _propagate_shapes(gm: fx.GraphModule, input_shape: Sequence[int]) -> None:
    tensors = [*gm.parameters(), *gm.buffers()]
    if tensors and all(t.is_meta for t in tensors):
        ShapeProp(gm).propagate(torch.empty(*input_shape, device="meta"))
    else:
        ShapeProp(gm, fake_mode=FakeTensorMode(allow_non_fake_inputs=True)).propagate(torch.empty(*input_shape))


class _Walker:
    """Turns a shape-annotated fx graph into CG nodes through a GraphBuilder."""

    def __init__(self, gm: fx.GraphModule, unknown_ops: str) -> None:
        self.gm = gm
        self.unknown_ops = unknown_ops
        self.builder = GraphBuilder()
        # fx node -> the CG nodes whose values it carries ([] for constants and non-tensors).
        self.sources: dict[fx.Node, list[int]] = {}

    def activation_args(self, node: fx.Node) -> list[fx.Node]:
        found: list[fx.Node] = []
        fx.node.map_arg((node.args, node.kwargs), lambda a: found.append(a) if self.sources.get(a) else None)
        return found

    def operand_sources(self, node: fx.Node) -> list[int]:
        merged: list[int] = []
        for arg in self.activation_args(node):
            merged.extend(s for s in self.sources[arg] if s not in merged)
        return merged

    def walk(self) -> ComputationGraph:
        for node in self.gm.graph.nodes:
            self.sources[node] = self.visit(node)
        return self.builder.finish().validate()

    def visit(self, node: fx.Node) -> list[int]:
        out_meta = _tensor_meta(node.meta.get("tensor_meta"))
        if node.op == "placeholder":
            if out_meta is None:
                return []  # a forward argument left at its default (concrete_args)
            if self.builder.n_nodes:
                raise ValueError("from_module captures single-input modules; got a second input " + node.name)
            h, w, c = _hwc(out_meta)
            return [self.builder.add_node(op_id("input"), (h, h, w, w, c, c), name="input")]
        if node.op == "output":
            inputs = self.operand_sources(node)
            first = self.activation_args(node)
            h, w, c = _hwc(_tensor_meta(first[0].meta.get("tensor_meta")) if first else None)
            self.builder.add_node(op_id("output"), (h, h, w, w, c, c), inputs=inputs, name="output")
            return []
        if node.op == "get_attr" or out_meta is None or not self.activation_args(node):
            return []  # parameters, non-tensors and values computed from constants alone
        steps = self.steps(node, out_meta)
        if steps is None:
            return self.operand_sources(node)
        return self.emit(node, steps, out_meta)

    def steps(self, node: fx.Node, out_meta: TensorMetadata) -> list[_Step] | None:
        """The op chain for a call node; None folds it away."""
        args = self.activation_args(node)
        first_meta = _tensor_meta(args[0].meta.get("tensor_meta")) if args else None
        in_shape = _resolution(first_meta, out_meta)
        if node.op == "call_module":
            steps = _module_steps(self.gm.get_submodule(str(node.target)), in_shape)
            if steps is None:
                return self.unknown(type(self.gm.get_submodule(str(node.target))).__name__, node)
            return steps or None
        target = node.target
        if target in _GLUE_FUNCTIONS or target in _GLUE_METHODS or target in _FOLDED_LEAF_FUNCTIONS:
            return None
        if target is F.scaled_dot_product_attention:
            return _attention_steps(in_shape, in_shape[4], with_projections=False)
        op = _FUNCTION_OPS.get(target)
        if op is None:
            return self.unknown(_target_name(node), node)
        if op in _NEEDS_TWO_ACTIVATIONS and len(args) < 2:
            return None
        if op == "bmm" and len(args) < 2:
            return [_Step("matmul", (0, 0, 0, 0, 1, 0))]
        if op == "conv":
            return [self._functional_conv(node)]
        if op == "mean" and out_meta.shape[-1] != 1 and len(out_meta.shape) == 4:
            return [_Step("avgpool")]
        return [_Step(op)]

    def _functional_conv(self, node: fx.Node) -> _Step:
        weight = node.args[1] if len(node.args) > 1 else node.kwargs["weight"]
        w_meta = _tensor_meta(weight.meta.get("tensor_meta")) if isinstance(weight, fx.Node) else None
        kernel = tuple(w_meta.shape[2:]) if w_meta is not None else (0, 0)
        stride = node.args[3] if len(node.args) > 3 else node.kwargs.get("stride", 1)
        groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
        bias = node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
        in_channels = w_meta.shape[1] * groups if w_meta is not None else 0
        op = "depthwise" if groups > 1 and groups == in_channels else "conv"
        return _Step(op, _window_attr(kernel, stride, groups, bias is not None))

    def unknown(self, op: str, node: fx.Node) -> list[_Step]:
        if self.unknown_ops == "oov":
            return [_Step("<oov>")]
        raise UnknownOpError(op, _module_path(node))

    def edge_sources(self, node: fx.Node) -> list[int]:
        # Every operand is an edge, so x + x keeps both (folded glue deduplicates instead).
        return [s for arg in self.activation_args(node) for s in self.sources[arg]]

    def emit(self, node: fx.Node, steps: list[_Step], out_meta: TensorMetadata) -> list[int]:
        args = self.activation_args(node)
        first_meta = _tensor_meta(args[0].meta.get("tensor_meta")) if args else None
        shape = _resolution(first_meta, out_meta)
        inputs = self.edge_sources(node)
        path = _module_path(node)
        for step in steps:
            op = OOV if step.op == "<oov>" else op_id(step.op)
            node_id = self.builder.add_node(op, step.shape or shape, step.attr, inputs, name=path)
            inputs = [node_id]
        return inputs


def fx_module(model: nn.Module, input_shape: Sequence[int], unknown_ops: str) -> ComputationGraph:
    """The CG of ``model`` traced with torch.fx (``cgbench.graph.capturing.from_module`` chooses the method)."""
    if _module_steps(model, (1,) * 6) is not None:
        # fx never treats the root as a leaf; a container keeps a mapped layer whole.
        model = nn.Sequential(model)
    was_training = model.training
    model.eval()
    try:
        graph = _CGTracer().trace(model, concrete_args=_optional_forward_args(model))
        gm = fx.GraphModule(model, graph)
        # Shapes propagate in eval mode too: batch norm rejects a 1x1 map of batch 1 in training mode.
        _propagate_shapes(gm, input_shape)
    finally:
        model.train(was_training)
    return _Walker(gm, unknown_ops).walk()


def _optional_forward_args(model: nn.Module) -> dict[str, object]:
    """Forward arguments after the input that have defaults (``attn_mask=None``): traced as constants."""
    parameters = list(inspect.signature(model.forward).parameters.values())[1:]
    return {p.name: p.default for p in parameters
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD}

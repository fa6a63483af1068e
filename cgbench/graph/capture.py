"""Any ``torch.nn.Module`` to a CG: torch.fx or torch.export capture, shape propagation, op mapping.

Shapes are propagated on the ``meta`` device when the model lives there (build it under
``with torch.device("meta")`` so no weights are allocated) and under a FakeTensorMode otherwise,
so capture never runs real arithmetic. Each traced op is either mapped to one or more CG ops,
folded away by an explicit rule (reshapes, views, indexing, ``roll`` and other layout-only glue;
an add, mul or concat with at most one activation operand, as GENNAPE prunes them), or, if no
rule knows it, reported with its op and module path. Nothing is dropped silently: a capture
returns a :class:`CaptureReport` that lists every folded op and every op written as ``<oov>``
(``cgbench.graph.capturing`` chooses between fx and export), and :func:`register_op` maps an op
of your own.

When capture cannot go on it raises a :class:`CaptureError` that says what to do, the right fix
first: :class:`UnknownOpError` (map the op with :func:`register_op`; ``unknown_ops="oov"`` is the
lossy last resort), :class:`ControlFlowError` (the forward branches on tensor values),
:class:`ModelRunError` (the model does not run on the given input shape), :class:`FxTraceError`
(``method="fx"`` met control flow that ``"auto"``/``"export"`` can follow).
"""

from __future__ import annotations

import inspect
import operator
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from ..errors import InvalidInputError
from .compose import NO_ATTR, GraphBuilder
from .model import ComputationGraph
from .vocab import OOV, op_id


class CaptureError(InvalidInputError):
    """``from_module`` cannot capture the model; the message says why and what to do."""


class UnknownOpError(CaptureError):
    """Capture met an op that no rule maps to the CG vocabulary.

    ``op`` names it as traced, ``module_path`` says where it is, ``register`` is the
    :func:`register_op` call that maps it.
    """

    def __init__(self, op: str, module_path: str, register: str | None = None) -> None:
        self.op, self.module_path = op, module_path
        self.register = register or f"register_op({op!r}, OP)"
        self.brief = f"no CG mapping for {op!r} at {module_path!r}"
        super().__init__(
            f"cannot map op {op!r} at module path {module_path!r} to the CG vocabulary. Fixes, best first:\n"
            f"  1. map it to the CG op(s) it computes: cgbench.graph.{self.register}, with OP one of "
            "cgbench.graph.OPS (a chain is a list; None folds an op that computes nothing);\n"
            "  2. if it sits inside a layer of your own, map the whole layer: "
            "cgbench.graph.register_op(YourLayer, [\"conv\", \"relu\"]);\n"
            "  3. last resort, lossy: from_module(..., unknown_ops='oov') (cgbench capture --oov) writes it as an "
            "<oov> node, which predictors cannot tell from any other unknown op"
        )


class ControlFlowError(CaptureError):
    """The forward pass branches on the values of a tensor: no single graph describes the model."""


class ModelRunError(CaptureError, RuntimeError):
    """The model fails when run (on meta or fake tensors) on an input of the given shape."""


class FxTraceError(CaptureError, fx.proxy.TraceError):
    """torch.fx cannot trace the model (``method="fx"``); ``"auto"`` and ``"export"`` may."""


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
    chain = _user_module_chain(m)
    if chain is not None:
        return [_Step(name) for name in chain]
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


# Functions that libraries mark as fx leaves and that are the identity in eval mode, by
# (module, name): importing torchvision here would cost seconds on every ``import cgbench``.
_FOLDED_LEAF_FUNCTIONS = {("torchvision.ops.stochastic_depth", "stochastic_depth")}


# ---------------------------------------------------------------------------------------------
# Mappings users register for their own ops (register_op): consulted before the built-in rules.

_USER_MODULES: dict[type, tuple[str, ...]] = {}
_USER_FUNCTIONS: dict[object, tuple[str, ...]] = {}
_USER_NAMES: dict[str, tuple[str, ...]] = {}


def register_op(target, op: str | Sequence[str] | None) -> None:
    """Map ``target`` to CG op(s) in every later capture (fx and export).

    ``target`` is one of:

    - an ``nn.Module`` subclass: each instance is captured as one unit, written as ``op``;
    - a function as the model calls it (``torch.special.erf``, ``my_library.my_op``);
    - a name: the tensor method of that name (``x.erf()``) and the ATen op of that name that
      torch.export records (``"special_erf"`` for ``aten.special_erf``).

    ``op`` is a CG op name (one of ``cgbench.graph.OPS``), a list of them (a chain, such as
    ``["conv", "batchnorm", "relu"]``), or None to fold the op away because it computes nothing a
    CG records (a layout change of your own). An :class:`UnknownOpError` prints the exact call.

    >>> register_op(torch.special.erf, "gelu")       # erf is the core of GELU
    >>> register_op("special_erf", "gelu")           # the same op as torch.export records it
    """
    chain = () if op is None else ((op,) if isinstance(op, str) else tuple(op))
    for name in chain:
        op_id(name)  # a KeyError that names the vocabulary
    if isinstance(target, type) and issubclass(target, nn.Module):
        _USER_MODULES[target] = chain
    elif isinstance(target, str):
        _USER_NAMES[target] = chain
    elif callable(target):
        _USER_FUNCTIONS[target] = chain
    else:
        raise TypeError(f"register_op maps an nn.Module subclass, a function or an op name; got {target!r}")


def _user_steps(chain: tuple[str, ...]) -> list[_Step] | None:
    """A registered chain as steps; None (folded) for an empty chain."""
    return [_Step(name) for name in chain] or None


def _user_module_chain(m: nn.Module) -> tuple[str, ...] | None:
    for module_type in type(m).__mro__:
        if module_type in _USER_MODULES:
            return _USER_MODULES[module_type]
    return None


# ---------------------------------------------------------------------------------------------
# The tracer and the graph walk


class _CGTracer(fx.Tracer):
    """Keeps mapped torch.nn modules (ZeroOp, registered layers) as leaves, traces through everything else."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, ZeroOp) or _user_module_chain(m) is not None:
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
    return (next(reversed(stack.values()))[0] if stack else "") or "<top level>"


def _target_name(node: fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))


class _ShapeProp(ShapeProp):
    """ShapeProp that remembers the node it was running when it failed."""

    failed: fx.Node | None = None

    def run_node(self, n: fx.Node):
        self.failed = n
        return super().run_node(n)


def _propagate_shapes(gm: fx.GraphModule, input_shape: Sequence[int]) -> None:
    on_meta = _on_meta(gm)
    prop = _ShapeProp(gm) if on_meta else _ShapeProp(gm, fake_mode=FakeTensorMode(allow_non_fake_inputs=True))
    try:
        prop.propagate(torch.empty(*input_shape, device="meta" if on_meta else "cpu"))
    except RuntimeError as err:  # ShapeProp wraps every failure in a RuntimeError; the cause is torch's reason
        where = f" at module path {_module_path(prop.failed)!r}" if prop.failed is not None else ""
        raise ModelRunError(_run_failure(gm, input_shape, err.__cause__ or err, where)) from err.__cause__


def _on_meta(model: nn.Module) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    return bool(tensors) and all(t.is_meta for t in tensors)


def _run_failure(model: nn.Module, input_shape: Sequence[int], err: BaseException, where: str) -> str:
    """Why running the model on ``input_shape`` failed, and what its first layer expects."""
    reason = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
    message = f"the model fails when run on an input of shape {tuple(input_shape)}{where}: {reason}. "
    first = next(((name, m) for name, m in model.named_modules()
                  if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))), None)
    if first is not None:
        name, layer = first
        width = layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels
        unit = "features" if isinstance(layer, nn.Linear) else "channels"
        message += (f"Check the input shape (N, C, H, W) first: the first layer {name!r} "
                    f"({type(layer).__name__}) takes {width} {unit}. ")
    if _on_meta(model):
        message += "If the shape is right, build the model on the CPU instead of torch.device('meta'): some layers need real tensors."
    return message.strip()


def _user_code(err: BaseException) -> str:
    """' at FILE:LINE (`code`)': the innermost frame of the error outside torch and cgbench, if any."""
    skipped = (Path(torch.__file__).parent, Path(__file__).parents[1])
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not f.filename.startswith("<") and not any(Path(f.filename).is_relative_to(d) for d in skipped)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {frame.filename}:{frame.lineno} (`{(frame.line or '').strip()}`)"


class _Walker:
    """Turns a shape-annotated fx graph into CG nodes through a GraphBuilder."""

    def __init__(self, gm: fx.GraphModule, unknown_ops: str) -> None:
        self.gm = gm
        self.unknown_ops = unknown_ops
        self.builder = GraphBuilder()
        # fx node -> the CG nodes whose values it carries ([] for constants and non-tensors).
        self.sources: dict[fx.Node, list[int]] = {}
        self.folded: Counter[str] = Counter()  # ops that leave no node, by name
        self.unknown_found: list[tuple[str, str]] = []  # (op, module path) written as <oov>

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
            self.folded[self.op_name(node)] += 1
            return self.operand_sources(node)
        return self.emit(node, steps, out_meta)

    def op_name(self, node: fx.Node) -> str:
        """How a report names the op of ``node``."""
        if node.op == "call_module":
            return type(self.gm.get_submodule(str(node.target))).__name__
        return node.target if isinstance(node.target, str) else getattr(node.target, "__name__", _target_name(node))

    def steps(self, node: fx.Node, out_meta: TensorMetadata) -> list[_Step] | None:
        """The op chain for a call node; None folds it away."""
        args = self.activation_args(node)
        first_meta = _tensor_meta(args[0].meta.get("tensor_meta")) if args else None
        in_shape = _resolution(first_meta, out_meta)
        if node.op == "call_module":
            module = self.gm.get_submodule(str(node.target))
            steps = _module_steps(module, in_shape)
            if steps is None:
                cls = type(module)
                return self.unknown(cls.__name__, node, f"register_op({cls.__module__}.{cls.__qualname__}, OP)")
            return steps or None
        target = node.target
        if isinstance(target, str) and target in _USER_NAMES:
            return _user_steps(_USER_NAMES[target])
        if not isinstance(target, str) and target in _USER_FUNCTIONS:
            return _user_steps(_USER_FUNCTIONS[target])
        leaf = (getattr(target, "__module__", None), getattr(target, "__name__", None))
        if target in _GLUE_FUNCTIONS or target in _GLUE_METHODS or leaf in _FOLDED_LEAF_FUNCTIONS:
            return None
        if target is F.scaled_dot_product_attention:
            return _attention_steps(in_shape, in_shape[4], with_projections=False)
        op = _FUNCTION_OPS.get(target)
        if op is None:
            register = (f"register_op({target!r}, OP)" if isinstance(target, str) else
                        f"register_op({getattr(target, '__module__', '')}.{_target_name(node)}, OP)")
            return self.unknown(_target_name(node), node, register)
        if op in _NEEDS_TWO_ACTIVATIONS and len(args) < 2:
            return None
        if op == "bmm" and len(args) < 2:
            return [_Step("matmul", (0, 0, 0, 0, 1, 0))]
        if op == "conv":
            return [self._functional_conv(node)]
        if op == "mean" and len(out_meta.shape) == 4 and out_meta.shape[-1] != 1:
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

    def unknown(self, op: str, node: fx.Node, register: str) -> list[_Step]:
        if self.unknown_ops == "oov":
            self.unknown_found.append((op, _module_path(node)))
            return [_Step("<oov>")]
        raise UnknownOpError(op, _module_path(node), register)

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


@dataclass
class CaptureReport:
    """What a capture made of a model: the CG and everything that did not become a node."""

    graph: ComputationGraph
    method: str  # "fx" or "export": the capture that produced the graph
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (op, module path) written as <oov>
    folded: Counter[str] = field(default_factory=Counter)  # ops folded away (layout glue, constants' ops)
    fx_failure: str = ""  # why method="auto" went on to torch.export

    def summary_lines(self) -> list[str]:
        """A short, readable account: size, op counts, <oov> ops, folded ops, the method used."""
        g = self.graph
        lines = [f"CG: {g.n_nodes} nodes, {g.n_edges} edges (captured with torch.{self.method})"]
        if self.fx_failure:
            lines.append(f"  torch.fx could not trace it ({self.fx_failure}); torch.export could")
        lines.append("  ops: " + ", ".join(f"{op} x{n}" for op, n in sorted(g.op_counts().items(), key=lambda x: -x[1])))
        if self.unknown:
            lines.append(f"  unmapped ops written as <oov> ({len(self.unknown)}): "
                         + ", ".join(f"{op} at {path!r}" for op, path in self.unknown))
            lines.append("    map them with cgbench.graph.register_op(...) to keep what they compute")
        else:
            lines.append("  unmapped ops: none")
        if self.folded:
            lines.append("  folded (no node: layout glue, ops on constants, adds/muls with one activation): "
                         + ", ".join(f"{op} x{n}" for op, n in self.folded.most_common()))
        return lines


def fx_module(model: nn.Module, input_shape: Sequence[int], unknown_ops: str) -> CaptureReport:
    """``model`` traced with torch.fx (``cgbench.graph.capturing.capture_report`` chooses the method)."""
    if _module_steps(model, (1,) * 6) is not None:
        # fx never treats the root as a leaf; a container keeps a mapped layer whole.
        model = nn.Sequential(model)
    was_training = model.training
    model.eval()
    try:
        try:
            graph = _CGTracer().trace(model, concrete_args=_optional_forward_args(model))
        except (fx.proxy.TraceError, TypeError) as err:
            # TraceError: control flow on a traced value; TypeError: a traced value where Python needs an int.
            raise FxTraceError(
                f"torch.fx cannot trace the model{_user_code(err)}: {str(err).splitlines()[0]}. Use method='auto' "
                "(the default) or 'export': torch.export follows branches on shapes") from err
        gm = fx.GraphModule(model, graph)
        # Shapes propagate in eval mode too: batch norm rejects a 1x1 map of batch 1 in training mode.
        _propagate_shapes(gm, input_shape)
    finally:
        model.train(was_training)
    walker = _Walker(gm, unknown_ops)
    return CaptureReport(walker.walk(), "fx", walker.unknown_found, walker.folded)


def _optional_forward_args(model: nn.Module) -> dict[str, object]:
    """Forward arguments after the input that have defaults (``attn_mask=None``): traced as constants."""
    parameters = list(inspect.signature(model.forward).parameters.values())[1:]
    return {p.name: p.default for p in parameters
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD}

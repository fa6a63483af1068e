"""What the proxies share: the weight layers they sum over, the module modes they score in, state
that must come back unchanged, private copies of the weights, hooks, the loss and its gradients,
and the input gradients.

Following NAS-Bench-Suite-Zero (NASLib ``predictors/utils/pruners``), per-weight proxies sum
over the weights of ``nn.Conv2d`` and ``nn.Linear`` layers only (not BatchNorm affine
parameters, not biases). Every proxy leaves the network as it found it: gradients are taken
with ``torch.autograd.grad`` (``.grad`` is never written), hooks are removed, BatchNorm running
statistics and the train/eval flags are restored (:func:`network_state_kept`). Proxies that run
the network with ``torch.func.functional_call`` do so on a :func:`private_state` (detached
parameters, cloned buffers), so their train-mode BatchNorm updates land in the copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from .recipe import ProxyBatch, ProxyRecipe

WEIGHT_LAYER_TYPES = (nn.Conv2d, nn.Linear)


def state_name(prefix: str, name: str) -> str:
    """The ``state_dict`` key of tensor ``name`` of the module at ``prefix`` ("" is the root)."""
    return f"{prefix}.{name}" if prefix else name


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """The Conv2d / Linear modules of ``net`` in module order (each shared module once)."""
    layers = [m for m in net.modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    if not layers:
        raise ValueError(f"{type(net).__name__} has no Conv2d or Linear layer; per-weight proxies sum over those")
    return layers


def weight_names(net: nn.Module) -> list[str]:
    """The state names of the weights of :func:`weight_layers`, in the same order."""
    weight_layers(net)  # the same clear error for a network without any
    return [state_name(prefix, "weight") for prefix, module in net.named_modules()
            if isinstance(module, WEIGHT_LAYER_TYPES)]


def modules_of_types(net: nn.Module, types: tuple[type[nn.Module], ...], proxy: str, role: str) -> list[nn.Module]:
    """The modules of ``net`` of one of ``types``; a clear error naming ``proxy`` if there are none."""
    modules = [m for m in net.modules() if isinstance(m, types)]
    if not modules:
        raise ValueError(f"{proxy} needs {role} ({', '.join(t.__name__ for t in types)}); "
                         f"{type(net).__name__} has none")
    return modules


# ---------------------------------------------------------------------------------------------
# Modes and state


@contextmanager
def network_state_kept(net: nn.Module, recipe: ProxyRecipe) -> Iterator[nn.Module]:
    """BatchNorm layers in the recipe's mode, every other module in eval mode; on exit restore the
    modules' train/eval flags and the network's buffers.

    Only BatchNorm follows the recipe: dropout (and any other train-only randomness) is always off,
    so that a score is a function of (network, batch, recipe) alone and does not depend on the
    global random state. NASLib calls ``net.train()``, which also enables dropout; no search space
    of cgbench has a dropout with p > 0, so every family's scores are the same under both rules.
    Train-mode forward passes update BatchNorm running statistics in place; those are copied back
    so that a later proxy (or an eval-mode user) sees the network as it was built.
    """
    modes = {module: module.training for module in net.modules()}
    buffers = {name: buffer.detach().clone() for name, buffer in net.named_buffers()}
    try:
        for module in net.modules():
            module.training = isinstance(module, _BatchNorm) and recipe.bn_mode == "train"
        yield net
    finally:
        with torch.no_grad():
            for name, buffer in net.named_buffers():
                buffer.copy_(buffers[name])
        for module, training in modes.items():
            module.training = training


def private_state(net: nn.Module, dtype: torch.dtype, trainable: frozenset[str] | set[str] = frozenset()
                  ) -> dict[str, torch.Tensor]:
    """Parameters and buffers for ``functional_call`` that share nothing writable with ``net``.

    Parameters named in ``trainable`` become fresh leaves that require grad; the rest are detached.
    Floating buffers are cloned so that train-mode BatchNorm updates its own running statistics.
    """
    state: dict[str, torch.Tensor] = {}
    for name, param in net.named_parameters():
        tensor = param.detach().to(dtype)
        state[name] = tensor.clone().requires_grad_(True) if name in trainable else tensor
    for name, buffer in net.named_buffers():
        state[name] = buffer.to(dtype).clone() if buffer.is_floating_point() else buffer.clone()
    return state


def gaussian_state(net: nn.Module, dtype: torch.dtype, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Zen-NAS's ``network_weight_gaussian_init`` as a private state, with fresh BN statistics:
    Conv2d/Linear weights N(0, 1) and biases 0, BatchNorm/GroupNorm affine weights 1 and biases 0.

    The draws come from a CPU ``generator`` (in module order) so that every machine gets the same weights.
    """
    state = private_state(net, dtype)
    for prefix, module in net.named_modules():
        key = state_name(prefix, "")
        if isinstance(module, WEIGHT_LAYER_TYPES):
            weight = state[key + "weight"]
            state[key + "weight"] = torch.randn(weight.shape, generator=generator, dtype=dtype).to(weight.device)
            if module.bias is not None:
                state[key + "bias"] = torch.zeros_like(state[key + "bias"])
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
            state[key + "weight"] = torch.ones_like(state[key + "weight"])
            state[key + "bias"] = torch.zeros_like(state[key + "bias"])
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            state[key + "running_mean"].zero_()
            state[key + "running_var"].fill_(1.0)
            state[key + "num_batches_tracked"].zero_()
    return state


@contextmanager
def hooks(modules: list[nn.Module], hook: Callable, before_forward: bool = False) -> Iterator[None]:
    """``hook`` on every module for the duration of the block: a forward hook ``(module, args, output)``,
    or with ``before_forward`` a forward pre-hook ``(module, args)``."""
    handles = [module.register_forward_pre_hook(hook) if before_forward else module.register_forward_hook(hook)
               for module in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# ---------------------------------------------------------------------------------------------
# Loss and gradients


def joined_batch(batch: ProxyBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The recipe's ``n_batches`` batches as one (NASLib concatenates them the same way)."""
    return torch.cat(batch.inputs), torch.cat(batch.targets)


def loss_and_weights(net: nn.Module, batch: ProxyBatch) -> tuple[torch.Tensor, list[nn.Module]]:
    """Cross-entropy of ``net`` on the joined batch (a graph to differentiate) and its weight layers."""
    inputs, targets = joined_batch(batch)
    return F.cross_entropy(net(inputs), targets), weight_layers(net)


def weight_gradients(loss: torch.Tensor, layers: list[nn.Module], create_graph: bool = False) -> list[torch.Tensor]:
    """d loss / d weight of each layer; zeros for a layer the loss does not reach."""
    grads = torch.autograd.grad(loss, [layer.weight for layer in layers], create_graph=create_graph,
                                allow_unused=True)
    return [torch.zeros_like(layer.weight) if g is None else g for layer, g in zip(layers, grads)]


def weight_saliencies(net: nn.Module, batch: ProxyBatch) -> list[torch.Tensor]:
    """``weight * d loss / d weight`` of every weight layer (SNIP's and plain's per-weight terms)."""
    loss, layers = loss_and_weights(net, batch)
    return [layer.weight.detach() * g for layer, g in zip(layers, weight_gradients(loss, layers))]


def input_gradients(net: nn.Module, inputs: torch.Tensor, state: dict[str, torch.Tensor] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(d sum(output) / d input, output) for ``inputs`` (N, ...): one gradient per sample, shaped as
    the inputs. ``state``: run ``net`` with ``functional_call`` on it instead of its own tensors.

    A network whose output does not depend on its input (every path cut by a zero op) has no
    input gradient in autograd (the input is unused, or the output needs no grad at all); its
    gradient is zero, which is its value.
    """
    x = inputs.detach().clone().requires_grad_(True)
    output = net(x) if state is None else functional_call(net, state, (x,))
    if not output.requires_grad:  # nothing the output is computed from requires grad
        return torch.zeros_like(x), output.detach()
    (gradient,) = torch.autograd.grad(output.sum(), x, allow_unused=True)
    return (torch.zeros_like(x) if gradient is None else gradient), output.detach()


def identical_rows(rows: torch.Tensor) -> bool:
    """Whether every row of ``rows`` (N, D) equals the first, e.g. the input gradients of a network
    whose output ignores its input (all zero) or is linear in it."""
    return bool((rows == rows[:1]).all())


def total(values: list[torch.Tensor]) -> float:
    """The sum of per-layer tensors as one Python float (a single device sync); 0 for none."""
    if not values:
        return 0.0
    return float(torch.stack([v.sum() for v in values]).sum())


# NAS-Bench-Suite-Zero's benchmark configs (NASLib scripts/zc/create_configs_benchmarks.py) score
# one training batch of 32 images in train-mode BatchNorm.
SUITE_ZERO_RECIPE = ProxyRecipe(batch_size=32)
# Proxies that read only the input shape (params, flops, l2_norm) need no more than one image.
SHAPE_ONLY_RECIPE = ProxyRecipe(batch_size=1)

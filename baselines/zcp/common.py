"""What the proxies share: the weight layers they sum over, the loss on a batch, state that must
come back unchanged.

Following NAS-Bench-Suite-Zero (NASLib ``predictors/utils/pruners``), per-weight proxies sum
over the weights of ``nn.Conv2d`` and ``nn.Linear`` layers only (not BatchNorm affine
parameters, not biases). Every proxy leaves the network as it found it: gradients are taken
with ``torch.autograd.grad`` (``.grad`` is never written), hooks are removed, BatchNorm running
statistics and the train/eval mode are restored (:func:`network_state_kept`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .recipe import ProxyBatch, ProxyRecipe

WEIGHT_LAYER_TYPES = (nn.Conv2d, nn.Linear)


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """The Conv2d / Linear modules of ``net`` in module order (each shared module once)."""
    layers = [m for m in net.modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    if not layers:
        raise ValueError(f"{type(net).__name__} has no Conv2d or Linear layer; per-weight proxies sum over those")
    return layers


def joined_batch(batch: ProxyBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The recipe's ``n_batches`` batches as one (NASLib concatenates them the same way)."""
    return torch.cat(batch.inputs), torch.cat(batch.targets)


@contextmanager
def network_state_kept(net: nn.Module, recipe: ProxyRecipe) -> Iterator[nn.Module]:
    """Put ``net`` in the recipe's BatchNorm mode; on exit restore its mode and its buffers.

    Train-mode forward passes update BatchNorm running statistics in place; those are copied
    back so that a later proxy (or an eval-mode user) sees the network as it was built.
    """
    was_training = net.training
    saved = {name: buffer.detach().clone() for name, buffer in net.named_buffers()}
    net.train(recipe.bn_mode == "train")
    try:
        yield net
    finally:
        with torch.no_grad():
            for name, buffer in net.named_buffers():
                buffer.copy_(saved[name])
        net.train(was_training)


def loss_and_weights(net: nn.Module, batch: ProxyBatch) -> tuple[torch.Tensor, list[nn.Module]]:
    """Cross-entropy of ``net`` on the joined batch (a graph to differentiate) and its weight layers."""
    inputs, targets = joined_batch(batch)
    return F.cross_entropy(net(inputs), targets), weight_layers(net)


def weight_gradients(loss: torch.Tensor, layers: list[nn.Module], create_graph: bool = False) -> list[torch.Tensor]:
    """d loss / d weight of each layer; zeros for a layer the loss does not reach."""
    grads = torch.autograd.grad(loss, [layer.weight for layer in layers], create_graph=create_graph,
                                allow_unused=True)
    return [torch.zeros_like(layer.weight) if g is None else g for layer, g in zip(layers, grads)]


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

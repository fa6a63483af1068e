"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of the gradients across batches.

As ``compute_zico.py`` of SLDai/ZiCo: for every Conv2d and Linear layer l, the cross-entropy
gradient of its weight is taken on each of the recipe's batches (the gradient is zeroed between
batches); with mean_abs and std (population, over batches) per weight,

    score = sum_l log( sum_{w in l, std_w > 0} mean_abs_w / std_w )

skipping layers whose sum is 0. The network is in train mode (BatchNorm on batch statistics). The
standard deviation needs at least two batches; ZiCo's NAS-Bench experiments use two batches of 64.
Gradients are taken with ``torch.autograd.grad`` on a private copy of the weights, so the
network's own ``.grad`` fields are never touched.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from .registry import register_proxy
from .common import network_state_kept, private_state, weight_names
from .recipe import ProxyBatch, ProxyRecipe


def batch_gradients(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> dict[str, torch.Tensor]:
    """name -> (n_batches, weight size) cross-entropy gradients; layers the loss does not reach are left out."""
    names = weight_names(net)
    state = private_state(net, recipe.dtype, trainable=set(names))
    per_batch: list[tuple[torch.Tensor | None, ...]] = []
    for inputs, targets in zip(batch.inputs, batch.targets):
        loss = F.cross_entropy(functional_call(net, state, (inputs.to(recipe.dtype),)), targets)
        per_batch.append(torch.autograd.grad(loss, [state[name] for name in names], allow_unused=True))
    return {name: torch.stack([grads[i].reshape(-1) for grads in per_batch])
            for i, name in enumerate(names) if per_batch[0][i] is not None}


def zico_from_gradients(gradients: dict[str, torch.Tensor]) -> float:
    if not gradients:
        raise ValueError("zico needs Conv2d or Linear weights that the loss reaches; the network has none")
    layer_sums = []
    for stacked in gradients.values():
        std = stacked.std(dim=0, correction=0)
        mean_abs = stacked.abs().mean(dim=0)
        varying = std > 0
        layer_sums.append((mean_abs[varying] / std[varying]).double().sum())
    sums = torch.stack(layer_sums)
    return float(torch.log(sums[sums > 0]).sum())


@register_proxy("zico", ProxyRecipe(batch_size=64, n_batches=2, data="real"),
                "ZiCo: sum over conv/linear layers of log sum |mean gradient| / std of the gradient across batches")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    if len(batch.inputs) < 2:
        raise ValueError(f"zico needs at least 2 batches for the gradient standard deviation, got {len(batch.inputs)}")
    with network_state_kept(net, recipe):
        gradients = batch_gradients(net, batch, recipe)
    return zico_from_gradients(gradients)

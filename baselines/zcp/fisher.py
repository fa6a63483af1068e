"""fisher (Theis et al. 2018; Turner et al., ICLR 2020, as in Abdelfattah et al.): channel
saliency from the activations a and gradients dL/da at the output of every Conv2d/Linear.

Per output channel k of a layer call: ``0.5 * mean_n (sum_spatial a * dL/da)^2``. Like
NAS-Bench-Suite-Zero (whose per-weight arrays broadcast each channel's value to the
``in_channels * kh * kw`` weights of that channel before summing), a channel counts once per
weight it owns. A module called twice contributes once per call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, hooks, joined_batch, network_state_kept, total, weight_layers
from .recipe import ProxyBatch, ProxyRecipe


def _channel_saliency(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    per_sample = activation * gradient
    if per_sample.dim() > 2:
        per_sample = per_sample.sum(dim=tuple(range(2, per_sample.dim())))
    return 0.5 * per_sample.pow(2).mean(dim=0)


@register_proxy("fisher", SUITE_ZERO_RECIPE, "Fisher channel saliency of the Conv2d/Linear outputs")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    outputs: list[tuple[nn.Module, torch.Tensor, int]] = []

    def keep_output(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        outputs.append((module, output, output._version))

    inputs, targets = joined_batch(batch)
    with network_state_kept(net, recipe):
        with hooks(weight_layers(net), keep_output):
            loss = F.cross_entropy(net(inputs), targets)
        for module, output, version in outputs:
            if output._version != version:
                raise ValueError(f"the output of {module} is modified in place after the layer; fisher needs the "
                                 "layer's own output (use out-of-place activations)")
        grads = torch.autograd.grad(loss, [output for _, output, _ in outputs], allow_unused=True)
        saliencies = [
            _channel_saliency(output.detach(), g).abs() * module.weight[0].numel()
            for (module, output, _), g in zip(outputs, grads) if g is not None
        ]
        return total(saliencies)

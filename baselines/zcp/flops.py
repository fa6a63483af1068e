"""flops: FLOPs of one image at the batch's image shape, by torch's FlopCounterMode.

The same counter and convention as ``cgbench.graph.count_flops`` (a multiply-add is two FLOPs),
but run on the device and dtype of the batch so that it works on any device unchanged.
NAS-Bench-Suite-Zero counts one image too (its ``x_shape[0] = 1``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .registry import register_proxy
from .common import SHAPE_ONLY_RECIPE, network_state_kept
from .recipe import ProxyBatch, ProxyRecipe


def flops_per_image(net: nn.Module, image: torch.Tensor) -> int:
    """FLOPs of ``net`` on ``image`` (1, C, H, W) in eval mode."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(image)
    return int(counter.get_total_flops())


@register_proxy("flops", SHAPE_ONLY_RECIPE, "FLOPs of one image, 2 per multiply-add (larger = better)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    image = torch.zeros_like(batch.inputs[0][:1])
    with network_state_kept(net, recipe.with_(bn_mode="eval")):
        return float(flops_per_image(net, image))

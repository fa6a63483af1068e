"""l2_norm: the sum over Conv2d/Linear layers of the L2 norm of the layer's weight (NASLib's
``l2_norm``); it reads no data."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_proxy
from .common import SHAPE_ONLY_RECIPE, total, weight_layers
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("l2_norm", SHAPE_ONLY_RECIPE, "sum of the per-layer L2 norms of the weights at init")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with torch.no_grad():
        return total([layer.weight.norm() for layer in weight_layers(net)])

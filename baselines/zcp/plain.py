"""plain (Mozer & Smolensky's first-order saliency, as in Abdelfattah et al.): the signed sum of
weight * d loss / d weight over Conv2d/Linear weights."""

from __future__ import annotations

from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, network_state_kept, total, weight_saliencies
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("plain", SUITE_ZERO_RECIPE, "signed sum of w * dL/dw")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        return total(weight_saliencies(net, batch))

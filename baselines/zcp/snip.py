"""snip (Lee et al., ICLR 2019, as a NAS proxy by Abdelfattah et al.): sum of |weight * d loss /
d weight| over Conv2d/Linear weights.

SNIP differentiates the loss with respect to a multiplicative mask of ones; at mask = 1 that
derivative is exactly ``weight * d loss / d weight``, so no mask is installed.
"""

from __future__ import annotations

from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, network_state_kept, total, weight_saliencies
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("snip", SUITE_ZERO_RECIPE, "sum of |w * dL/dw| (connection sensitivity)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        return total([saliency.abs() for saliency in weight_saliencies(net, batch)])

"""snip (Lee et al., ICLR 2019, as a NAS proxy by Abdelfattah et al.): sum of |weight * d loss /
d weight| over Conv2d/Linear weights.

SNIP differentiates the loss with respect to a multiplicative mask of ones; at mask = 1 that
derivative is exactly ``weight * d loss / d weight``, so no mask is installed.
"""

from __future__ import annotations

from torch import nn

from . import register_proxy
from .common import SUITE_ZERO_RECIPE, loss_and_weights, network_state_kept, total, weight_gradients
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("snip", SUITE_ZERO_RECIPE, "sum of |w * dL/dw| (connection sensitivity)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        loss, layers = loss_and_weights(net, batch)
        grads = weight_gradients(loss, layers)
        return total([(layer.weight.detach() * g).abs() for layer, g in zip(layers, grads)])

"""plain (Mozer & Smolensky's first-order saliency, as in Abdelfattah et al.): the signed sum of
weight * d loss / d weight over Conv2d/Linear weights."""

from __future__ import annotations

from torch import nn

from . import register_proxy
from .common import SUITE_ZERO_RECIPE, loss_and_weights, network_state_kept, total, weight_gradients
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("plain", SUITE_ZERO_RECIPE, "signed sum of w * dL/dw")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        loss, layers = loss_and_weights(net, batch)
        grads = weight_gradients(loss, layers)
        return total([layer.weight.detach() * g for layer, g in zip(layers, grads)])

"""grad_norm (Abdelfattah et al., ICLR 2021): the sum over Conv2d/Linear layers of the L2 norm of
d loss / d weight on one batch."""

from __future__ import annotations

from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, loss_and_weights, network_state_kept, total, weight_gradients
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("grad_norm", SUITE_ZERO_RECIPE, "sum of per-layer L2 norms of the cross-entropy gradient")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        loss, layers = loss_and_weights(net, batch)
        return total([g.norm() for g in weight_gradients(loss, layers)])

"""grasp (Wang et al., ICLR 2020, as a NAS proxy by Abdelfattah et al.): sum of -weight * (H g)
over Conv2d/Linear weights, H the Hessian of the loss and g its gradient on the same batch.

The sign is NAS-Bench-Suite-Zero's: GraSP prunes the weights with the largest ``w * Hg``, and
NASLib found accuracy to correlate with the negative sum, so larger = better here too. NASLib
runs the batch forward twice (once for g, once with a graph for Hg); with the same batch and
train-mode BatchNorm both passes compute the same function, so one pass with
``create_graph=True`` gives the same g and Hg.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, loss_and_weights, network_state_kept, total, weight_gradients
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("grasp", SUITE_ZERO_RECIPE, "sum of -w * Hg (gradient-flow preservation)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        loss, layers = loss_and_weights(net, batch)
        grads = weight_gradients(loss, layers, create_graph=True)
        weights = [layer.weight for layer in layers]
        # g . g with the first g held constant: its gradient is H g.
        terms = [(g.detach() * g).sum() for g in grads if g.requires_grad]
        if not terms:
            return 0.0  # the loss reaches no weight, so H g is zero
        hessian_gradient = torch.autograd.grad(torch.stack(terms).sum(), weights, allow_unused=True)
        return total([-(w.detach() * hg) for w, hg in zip(weights, hessian_gradient) if hg is not None])

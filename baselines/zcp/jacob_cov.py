"""jacob_cov (Mellor et al., "NAS without training", v1): how decorrelated the input gradients of
different images are.

J is the gradient of sum(output) with respect to each input image (one row per image); with
C = corrcoef(J) and its eigenvalues v, the score is ``-sum(log(v + k) + 1 / (v + k))``,
k = 1e-5, as in NAS-Bench-Suite-Zero (``jacov``). When some image's gradient is constant (for
instance when the output does not depend on the input) C is undefined; NASLib then scores the
network -1e8, below every other, and this returns -inf.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import register_proxy
from .common import SUITE_ZERO_RECIPE, joined_batch, network_state_kept
from .recipe import ProxyBatch, ProxyRecipe

EIGENVALUE_OFFSET = 1e-5


def input_jacobian_rows(net: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """d sum(net(x)) / d x, flattened per image: (N, C*H*W)."""
    inputs = inputs.detach().clone().requires_grad_()
    (gradient,) = torch.autograd.grad(net(inputs).sum(), inputs, allow_unused=True)
    if gradient is None:  # the output does not depend on the input
        gradient = torch.zeros_like(inputs)
    return gradient.reshape(len(inputs), -1)


def correlation_score(rows: torch.Tensor) -> float:
    correlation = torch.corrcoef(rows.to(torch.float64))
    if not torch.isfinite(correlation).all():
        return -math.inf
    eigenvalues = torch.linalg.eigvalsh(correlation) + EIGENVALUE_OFFSET
    return float(-(torch.log(eigenvalues) + 1.0 / eigenvalues).sum())


@register_proxy("jacob_cov", SUITE_ZERO_RECIPE, "Jacobian covariance score of the input gradients (NASWOT v1)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    inputs, _ = joined_batch(batch)
    with network_state_kept(net, recipe):
        return correlation_score(input_jacobian_rows(net, inputs))

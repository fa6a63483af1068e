"""jacob_cov (Mellor et al., "NAS without training", v1): how decorrelated the input gradients of
different images are.

J is the gradient of sum(output) with respect to each input image (one row per image); with
C = corrcoef(J) and its eigenvalues v, the score is ``-sum(log(v + k) + 1 / (v + k))``,
k = 1e-5, as in NAS-Bench-Suite-Zero (``jacov``).

Two cases where ``corrcoef`` is undefined get a defined score:

- every image has the same gradient row, in particular a network whose output does not depend
  on its input (every path cut by a zero op: its gradient is 0 for every image). Identical
  non-constant rows correlate 1 (a network linear in its input), and that is the value taken for
  identical constant rows too: C is all ones, eigenvalues (N, 0, ..., 0), and the score is
  ``-(log(N + k) + 1 / (N + k)) - (N - 1) (log k + 1 / k)``, the lowest jacob_cov gives for N
  images. NASLib's code fails on such a network (its input gradient is None) and scores it -1e8.
- some, not all, images have a constant gradient row: NASLib scores the network -1e8, below every
  other, and this returns -inf.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, identical_rows, input_gradients, joined_batch, network_state_kept
from .recipe import ProxyBatch, ProxyRecipe

EIGENVALUE_OFFSET = 1e-5


def correlation_score(rows: torch.Tensor) -> float:
    """The score of input-gradient rows (N, D)."""
    rows = rows.to(torch.float64)
    if identical_rows(rows):
        correlation = torch.ones(len(rows), len(rows), dtype=rows.dtype, device=rows.device)
    else:
        correlation = torch.corrcoef(rows)
    if not torch.isfinite(correlation).all():
        return -math.inf
    eigenvalues = torch.linalg.eigvalsh(correlation) + EIGENVALUE_OFFSET
    return float(-(torch.log(eigenvalues) + 1.0 / eigenvalues).sum())


@register_proxy("jacob_cov", SUITE_ZERO_RECIPE, "Jacobian covariance score of the input gradients (NASWOT v1)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    inputs, _ = joined_batch(batch)
    with network_state_kept(net, recipe):
        gradients, _ = input_gradients(net, inputs)
    return correlation_score(gradients.reshape(len(inputs), -1))

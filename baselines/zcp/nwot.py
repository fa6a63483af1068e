"""nwot (Mellor et al., "NAS without training", ICML 2021, v2): log |det K| of the kernel of
binary ReLU activation codes.

Every ReLU-family module's input is binarised (x > 0) per image; K accumulates, over those
modules, the number of units on which two images agree, ``c c^T + (1 - c)(1 - c)^T``, and the
score is ``log |det K|`` (-inf when K is singular), as NAS-Bench-Suite-Zero computes it.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_proxy
from .common import SUITE_ZERO_RECIPE, hooks, joined_batch, modules_of_types, network_state_kept
from .recipe import ProxyBatch, ProxyRecipe

RELU_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU)
# float32 sums of 0/1 products are exact integers below 2**24.
_EXACT_FLOAT32_COUNT = 2**24


def agreement_kernel(codes: torch.Tensor) -> torch.Tensor:
    """(N, N) float64: units on which each pair of binary codes (N, units) agree."""
    dtype = torch.float32 if codes.shape[1] < _EXACT_FLOAT32_COUNT else torch.float64
    ones = codes.to(dtype)
    both_on = ones @ ones.T
    on = ones.sum(dim=1)
    # (1 - c)(1 - c)^T = units - on_i - on_j + both_on_ij
    both_off = codes.shape[1] - on[:, None] - on[None, :] + both_on
    return (both_on + both_off).to(torch.float64)


@register_proxy("nwot", SUITE_ZERO_RECIPE, "NASWOT: log|det| of the ReLU activation-code agreement kernel")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    inputs, _ = joined_batch(batch)
    relus = modules_of_types(net, RELU_TYPES, "nwot", "ReLU-family modules to read the inputs of")
    kernel = torch.zeros(len(inputs), len(inputs), dtype=torch.float64, device=inputs.device)

    def add_codes(module: nn.Module, args: tuple) -> None:
        nonlocal kernel
        kernel = kernel + agreement_kernel(args[0].detach().reshape(len(inputs), -1) > 0)

    with network_state_kept(net, recipe), torch.no_grad(), hooks(relus, add_codes, before_forward=True):
        net(inputs)
    return float(torch.linalg.slogdet(kernel).logabsdet)

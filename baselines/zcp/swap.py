"""SWAP (Peng et al., ICLR 2024): the number of distinct sample-wise activation patterns.

As ``src/metrics/swap.py`` and ``correlation.py`` of pym1024/SWAP: the weights are re-drawn as in
Zen-NAS (Conv2d/Linear N(0, 1), BN weight 1, bias 0), one batch is passed forward, and every
activation unit fed a 4-D map contributes its neurons; a neuron's pattern is the vector over the
batch's samples of whether it is active (``sign`` of a ReLU output). The score is the number of
distinct patterns over all neurons of the network. The reference scores 16 real CIFAR-10 images
and averages 32 Gaussian re-initialisations; our repeats are the recipe's batches (repeat i draws
its weights from seed ``recipe.seed + i``).

The reference hooks ``nn.ReLU`` only. We also take ReLU6, LeakyReLU, Hardswish, SiLU, GELU, ELU
and Mish modules (MobileNet/OFA networks have few plain ReLUs); each is positive exactly where its
input is, so a neuron is "active" where the output is > 0, which is the ReLU pattern for ReLUs.

Patterns are packed 62 samples to an int64 word so that ``torch.unique`` runs on a vector (one
word per neuron for batches up to 62) instead of on the rows of a (neurons, samples) matrix.

SWAP's optional size regularisation, the factor exp(-(parameters / 1000 - mu)^2 / sigma), depends on
per-space constants mu and sigma; :func:`regularised_swap` applies it on request, the registered
proxy is the plain score.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

from cgbench.graph import count_params

from .registry import register_proxy
from .common import gaussian_state, hooks, modules_of_types, network_state_kept
from .recipe import ProxyBatch, ProxyRecipe

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.SiLU, nn.GELU, nn.ELU, nn.Mish)
SAMPLES_PER_WORD = 62


def pack_patterns(active: torch.Tensor) -> torch.Tensor:
    """(samples, neurons) booleans -> (neurons, words) int64, bit k of word w = sample 62 w + k."""
    words = []
    for start in range(0, active.shape[0], SAMPLES_PER_WORD):
        bits = active[start:start + SAMPLES_PER_WORD].to(torch.int64)
        shifts = torch.arange(bits.shape[0], device=bits.device, dtype=torch.int64)[:, None]
        words.append((bits << shifts).sum(dim=0))
    return torch.stack(words, dim=1)


def activation_patterns(net: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Packed patterns of every neuron behind an activation module fed a 4-D map."""
    packed: list[torch.Tensor] = []

    def pack_active_neurons(module, inputs, output):
        if inputs[0].dim() == 4:
            packed.append(pack_patterns((output > 0).reshape(len(output), -1)))

    with hooks(modules_of_types(net, ACTIVATIONS, "swap", "activation modules"), pack_active_neurons):
        functional_call(net, state, (x,))
    if not packed:
        raise ValueError("swap found no activation module applied to a 4-D feature map")
    return torch.cat(packed)


def count_distinct(patterns: torch.Tensor) -> int:
    if patterns.shape[1] == 1:
        return len(torch.unique(patterns[:, 0]))
    return len(torch.unique(patterns, dim=0))


@torch.no_grad()
def swap_repeats(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> list[int]:
    counts = []
    with network_state_kept(net, recipe):
        for i, x in enumerate(batch.inputs):
            state = gaussian_state(net, recipe.dtype, torch.Generator().manual_seed(recipe.seed + i))
            counts.append(count_distinct(activation_patterns(net, state, x.to(recipe.dtype))))
    return counts


@register_proxy("swap", ProxyRecipe(batch_size=16, n_batches=32, data="real"),
                "SWAP: number of distinct sample-wise activation patterns of a Gaussian-initialised network, "
                "averaged over re-initialisations")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    counts = swap_repeats(net, batch, recipe)
    return sum(counts) / len(counts)


def regularised_swap(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe, mu: float, sigma: float) -> float:
    """SWAP times its size regulariser exp(-(parameters in thousands - mu)^2 / sigma)."""
    if sigma <= 0:
        raise ValueError(f"swap regularisation sigma must be positive, got {sigma}")
    thousands = count_params(net) / 1e3
    return score(net, batch, recipe) * math.exp(-((thousands - mu) ** 2) / sigma)

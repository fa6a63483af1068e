"""MeCo (Jiang et al., NeurIPS 2023): minimum eigenvalues of the feature-map correlation matrices.

As ``correlation/NAS_Bench_201.py`` of HamsterMimi/MeCo: a forward hook on *every* module (the
network itself and containers included, so a map returned unchanged by a container counts once
per module that returns it, as in the reference) takes the module's output for the first sample
of the batch, reshapes it to (channels, positions) and computes the Pearson correlation matrix of
the channels (NaN and inf entries set to 0); the score is the sum over module calls of its minimum
eigenvalue. Outputs with a single position per channel (pooled vectors, logits) have an all-NaN,
hence zero, matrix and add 0, so they are skipped. The reference scores one real CIFAR image
(batch size 1) with the network in train mode; with several batches the score is their mean.

All matrices of one size are stacked and go through one ``torch.linalg.eigvalsh`` call (they are
symmetric) instead of one ``torch.linalg.eig`` per hook.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn
from torch.func import functional_call

from .registry import register_proxy
from .common import hooks, network_state_kept, private_state
from .recipe import ProxyBatch, ProxyRecipe


def channel_correlation(feature: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the channels of one sample's (C, ...) map; NaN/inf entries are 0."""
    correlation = torch.corrcoef(feature.reshape(feature.shape[0], -1))
    return torch.nan_to_num(correlation, nan=0.0, posinf=0.0, neginf=0.0)


def first_sample_correlations(net: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor) -> list[torch.Tensor]:
    matrices: list[torch.Tensor] = []

    def correlate_first_sample(module, inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() >= 3 and output[0, 0].numel() > 1:
            matrices.append(channel_correlation(output[0].detach()))

    with hooks(list(net.modules()), correlate_first_sample):
        functional_call(net, state, (x,))
    return matrices


def sum_of_minimum_eigenvalues(matrices: list[torch.Tensor]) -> float:
    by_size: dict[int, list[torch.Tensor]] = defaultdict(list)
    for matrix in matrices:
        by_size[matrix.shape[0]].append(matrix)
    total = torch.zeros((), dtype=torch.float64)
    for same_size in by_size.values():
        eigenvalues = torch.linalg.eigvalsh(torch.stack(same_size))
        total += eigenvalues[:, 0].double().sum().cpu()
    return float(total)


@register_proxy("meco", ProxyRecipe(batch_size=1, n_batches=1, data="real"),
                "MeCo: sum over module outputs of the minimum eigenvalue of the channel correlation matrix")
@torch.no_grad()
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    state = private_state(net, recipe.dtype)
    with network_state_kept(net, recipe):
        per_batch = [sum_of_minimum_eigenvalues(first_sample_correlations(net, state, x.to(recipe.dtype)))
                     for x in batch.inputs]
    return float(sum(per_batch) / len(per_batch))

"""EPE-NAS (Lopes et al., ICANN 2021): how differently the network treats inputs of each class.

As in VascoLopes/EPE-NAS ``search.py`` and NASLib's ``epe_nas.py`` (whose NAS-Bench-Suite-Zero
scores used one real batch of 64): the input Jacobian J = d(sum of logits)/dx of every sample is
flattened; for each class c of the batch's labels, with R_c the Pearson correlation matrix of the
Jacobians of c's samples,

    s_c = sum_ij log(|R_c[i, j]| + 1e-5)          (divided by |c| when there are > 100 classes)

and the score is sum_c |s_c| for up to 100 classes, else sum_{c, c'} |s_c - s_c'| / #classes seen.
A class with a single sample has R_c = [1] (numpy's ``corrcoef`` of one row). Jacobians of all
batches are pooled.

When every sample has the same Jacobian, in particular for a network whose output does not depend
on its input (every path cut by a zero op: all Jacobians are 0), every R_c is taken as all ones:
identical non-constant rows correlate 1, and identical constant rows get the same value. The
score is then the one of a network that treats all inputs alike: each log term is log(1 + 1e-5),
so the score is near 0, the low end of EPE-NAS's range (decorrelated Jacobians score high). The
reference's ``corrcoef`` of constant rows is NaN there (and its input gradient is None for a
cut-off network). When only some samples have a constant Jacobian, the score is NaN, as in the
reference.

The correlations of every pair of samples come from one Gram matrix of the standardised Jacobians
instead of one ``np.corrcoef`` per class.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_proxy
from .common import identical_rows, input_gradients, network_state_kept, private_state
from .recipe import ProxyBatch, ProxyRecipe

CORRELATION_EPSILON = 1e-5
MANY_CLASSES = 100


def input_jacobians(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> tuple[torch.Tensor, int]:
    """(all samples, input size) Jacobians of the summed logits, and the number of logits."""
    state = private_state(net, recipe.dtype)
    jacobians = []
    for inputs in batch.inputs:
        gradient, logits = input_gradients(net, inputs.to(recipe.dtype), state)
        jacobians.append(gradient.reshape(len(inputs), -1))
    return torch.cat(jacobians), logits.shape[-1]


def sample_correlations(jacobians: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every pair of rows: all ones when the rows are identical, else NaN
    where a row is constant."""
    if identical_rows(jacobians):
        return torch.ones(len(jacobians), len(jacobians), dtype=jacobians.dtype, device=jacobians.device)
    centred = jacobians - jacobians.mean(dim=1, keepdim=True)
    unit = centred / centred.norm(dim=1, keepdim=True)
    return (unit @ unit.T).clamp(-1.0, 1.0)


def class_scores(correlations: torch.Tensor, labels: torch.Tensor, many_classes: bool) -> torch.Tensor:
    scores = []
    for label in torch.unique(labels):
        members = (labels == label).nonzero().squeeze(1)
        if len(members) == 1:
            block = torch.ones(1, 1, dtype=correlations.dtype, device=correlations.device)
        else:
            block = correlations[members][:, members]
        total = torch.log(block.abs() + CORRELATION_EPSILON).sum()
        scores.append(total / len(members) if many_classes else total)
    return torch.stack(scores)


@register_proxy("epe_nas", ProxyRecipe(batch_size=64, n_batches=1, data="real"),
                "EPE-NAS: per-class correlations of the input Jacobians (sum of |sum log|corr||)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        jacobians, n_logits = input_jacobians(net, batch, recipe)
    labels = torch.cat(batch.targets).to(jacobians.device)
    many_classes = n_logits > MANY_CLASSES
    # float64 like the reference's numpy corrcoef: the log of near-zero correlations is sensitive.
    per_class = class_scores(sample_correlations(jacobians.detach().double()), labels, many_classes)
    if not many_classes:
        return float(per_class.abs().sum())
    return float((per_class[:, None] - per_class[None, :]).abs().sum() / len(per_class))

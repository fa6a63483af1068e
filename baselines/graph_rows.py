"""Rows of families as collated CGs, and the minibatch order over them: what learned predictors train on.

Graph predictors here never build one PyG ``Data`` object per row: they gather the rows they need
from each family's collated PyG tensors (:meth:`cgbench.pyg.CGDataset.collated`) and cut batches
from those by position, which is several times faster than a ``DataLoader`` over ``dataset[i]``
and keeps per-row extras (targets, memberships) as plain tensors indexed by the same positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from cgbench.dataset import Family
from cgbench.pyg import CollatedGraphs

from .predictor import TrainingSet

INFERENCE_BATCH = 256


def family_graphs(family: Family, indices: np.ndarray | Sequence[int]) -> CollatedGraphs:
    """Rows ``indices`` of ``family`` (``op``, ``x``, ``edge_index`` and ``flops`` per CG)."""
    return family.to_pyg().collated(indices)


def labelled_graphs(data: Sequence[TrainingSet], minimum: int, who: str) -> tuple[CollatedGraphs, np.ndarray]:
    """The rows of ``data`` whose label is known, as one collated set, and those labels."""
    parts, labels = [], []
    for part in data:
        y = part.labels()
        keep = ~np.isnan(y)
        parts.append(family_graphs(part.family, np.asarray(part.indices)[keep]))
        labels.append(y[keep])
    if not parts or sum(len(p) for p in parts) < minimum:
        raise ValueError(f"{who} needs at least {minimum} labelled rows to train, got {sum(len(p) for p in parts)}")
    return CollatedGraphs.concat(parts), np.concatenate(labels)


def minibatches(n_rows: int, batch_size: int, generator: torch.Generator | None = None,
                avoid_single: bool = False) -> Iterator[torch.Tensor]:
    """Positions of each minibatch: shuffled by ``generator`` when given, else in order.

    ``avoid_single`` drops a last batch of exactly one row (a contrastive batch needs negatives).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = torch.randperm(n_rows, generator=generator) if generator is not None else torch.arange(n_rows)
    for start in range(0, n_rows, batch_size):
        positions = order[start:start + batch_size]
        if avoid_single and len(positions) == 1 and n_rows > 1:
            return
        yield positions

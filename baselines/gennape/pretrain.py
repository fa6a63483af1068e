"""Contrastive pretraining of the CG encoder (GENNAPE's first stage).

GENNAPE pretrains its k-GNN with contrastive learning "to encourage network separation by
topological features" and leaves the details to the paper. Choices made here:

* **Loss**: SimCLR's NT-Xent. Each CG in a batch gets two views; the two views of one CG are
  the positive pair and the other ``2B - 2`` views of the batch are its negatives.
* **Views: the same architecture at another input resolution.** A view multiplies the H and W
  columns of every node (``h_in, h_out, w_in, w_out``) by one factor per CG, ``2**u`` with
  ``u ~ U(-1, 1)``, which is what feeding the same network a 2x smaller or larger image does
  to its CG (channels, kernels, ops and wiring are unchanged). It keeps the architecture's
  identity exactly, unlike edge or node dropping, which would make a different network, and it
  is the variation a cross-family predictor must see through: the same cell is a CIFAR
  (32 px) network in NAS-Bench and an ImageNet (224 px) one in OFA. What is left to tell CGs
  apart is topology, op types, channels and kernels.
* **Projection head**: Linear-ReLU-Linear (32 -> 32 -> 32), discarded after pretraining as in
  SimCLR; the encoder's own mean-pooled output is the embedding used downstream.
* **Temperature** 0.2 (between SimCLR's 0.1 for large batches and 0.5 for small ones; batches
  here are 32-64 CGs). Adam at the predictor's learning rate (GENNAPE's 1e-4 under ``paper_scale``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch
from tqdm.auto import tqdm

from cgbench.graph.features import NODE_FEATURE_NAMES
from cgbench.pyg import CollatedGraphs

from ..training import Schedule, train_steps
from .encoder import KGNNEncoder

HW_COLUMNS = [NODE_FEATURE_NAMES.index(c) for c in ("h_in", "h_out", "w_in", "w_out")]
MAX_LOG2_SCALE = 1.0  # views rescale the input resolution by 2**U(-1, 1)


def resolution_view(batch: Batch, generator: torch.Generator) -> Batch:
    """A copy of ``batch`` in which each CG's spatial sizes are rescaled by one random factor."""
    log2_scale = (torch.rand(batch.num_graphs, generator=generator) * 2 - 1) * MAX_LOG2_SCALE
    scale = (2.0 ** log2_scale).to(batch.x.device)[batch.batch]
    view = batch.clone()
    view.x = batch.x.clone()
    view.x[:, HW_COLUMNS] = batch.x[:, HW_COLUMNS] * scale[:, None]
    return view


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised-temperature cross entropy for positive pairs ``(z1[i], z2[i])``."""
    if z1.shape != z2.shape or z1.ndim != 2 or len(z1) < 2:
        raise ValueError(f"expected two (B, d) views with B >= 2, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is not its own negative
    n = len(z1)
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positive)


class ProjectionHead(nn.Sequential):
    def __init__(self, size: int) -> None:
        super().__init__(nn.Linear(size, size), nn.ReLU(), nn.Linear(size, size))


def pretrain_contrastive(encoder: KGNNEncoder, graphs: CollatedGraphs, *, steps: int, batch_size: int = 32,
                         lr: float = 1e-3, temperature: float = 0.2, seed: int = 0,
                         device: torch.device | str = "cpu", progress: bool = False) -> list[float]:
    """Train ``encoder`` in place with NT-Xent over resolution views for ``steps`` Adam steps; returns
    the mean loss of each pass over the CGs (the last one possibly partial)."""
    if len(graphs) < 2:
        raise ValueError(f"contrastive pretraining needs at least 2 CGs (negatives), got {len(graphs)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    head = ProjectionHead(encoder.size).to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    encoder.train()
    full, rest = divmod(len(graphs), batch_size)
    steps_per_pass = full + (rest > 1)  # a last batch of one CG is dropped (no negatives)
    sums: list[list[float]] = []  # per pass: sum of loss x CGs, CGs, steps

    def step(positions: torch.Tensor) -> None:
        batch = graphs.batch(positions).to(device)
        z1 = head(encoder(resolution_view(batch, generator)))
        z2 = head(encoder(resolution_view(batch, generator)))
        loss = nt_xent(z1, z2, temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if not sums or sums[-1][2] == steps_per_pass:
            sums.append([0.0, 0, 0])
        sums[-1][0] += loss.item() * batch.num_graphs
        sums[-1][1] += batch.num_graphs
        sums[-1][2] += 1
        bar.update()

    with tqdm(total=steps, desc="contrastive pretraining", disable=not progress) as bar:
        if steps:
            train_steps(step, len(graphs), batch_size, Schedule(steps), generator, avoid_single=True)
    return [total / count for total, count, _ in sums]

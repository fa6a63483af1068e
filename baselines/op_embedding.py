"""Learned op embeddings in which an op never seen in training is represented by what it shares.

A plain ``nn.Embedding`` over the op vocabulary leaves the row of an op that no training CG
contains at its random initial value: NB-101 has no ``avgpool``, so a predictor trained on it
meets NB-201's ~17 avgpool nodes per CG with noise (the quick protocol measured GIN at -0.23 Spearman on
NB-201 this way, 0.56 once avgpool was mapped to maxpool). Here a node's vector is a sum of
factors, every one of them trained or exactly zero:

- an **op token**: the op itself if training showed it, otherwise its group's token
  (``baselines.op_groups``: avgpool -> "pool", layernorm -> "norm", ...). During training each
  node is backed off to its group token with probability ``backoff`` (as word dropout trains an
  unknown-word vector), so the group token carries what the group's ops have in common and an
  unseen op gets that, not an arbitrary row;
- with ``attributes=True``, embeddings of the window: kernel size (0-7, larger sizes share 7)
  and stride (0-3), so avgpool 3x3 stride 1 also shares "kernel 3, stride 1" with maxpool 3x3.

Every table starts at zero. A row that training never touches gets no gradient, and Adam leaves
it at exactly zero (the neutral element of the sum), so nothing random ever reaches a
prediction. When :meth:`OpEmbedding.mark_seen` first sees an op (at ``fit``, or at a
``fine_tune`` on a family with new ops) its row starts as a copy of its group's row.
"""

from __future__ import annotations

import torch
from torch import nn

from cgbench.graph.features import NODE_FEATURE_NAMES
from cgbench.graph.vocab import OPS

from .op_groups import GROUPS, OP_GROUP

N_KERNEL_VALUES = 8
N_STRIDE_VALUES = 4
DEFAULT_BACKOFF = 0.25
_KERNEL_COLUMN = NODE_FEATURE_NAMES.index("kernel_h")
_STRIDE_COLUMN = NODE_FEATURE_NAMES.index("stride_h")


class OpEmbedding(nn.Module):
    """``size``-wide vectors of nodes from their op ids (and window attributes in ``x``)."""

    def __init__(self, size: int, attributes: bool = True, backoff: float = DEFAULT_BACKOFF) -> None:
        super().__init__()
        if not 0.0 <= backoff < 1.0:
            raise ValueError(f"backoff must be a probability in [0, 1), got {backoff}")
        self.backoff = backoff
        # Rows 0..len(OPS)-1 are ops, the next len(GROUPS) rows their groups.
        self.tokens = nn.Embedding(len(OPS) + len(GROUPS), size)
        self.kernel = nn.Embedding(N_KERNEL_VALUES, size) if attributes else None
        self.stride = nn.Embedding(N_STRIDE_VALUES, size) if attributes else None
        for table in (self.tokens, self.kernel, self.stride):
            if table is not None:
                nn.init.zeros_(table.weight)
        self.register_buffer("group_token", torch.as_tensor(OP_GROUP + len(OPS), dtype=torch.long))
        self.register_buffer("seen", torch.zeros(len(OPS), dtype=torch.bool))

    @torch.no_grad()
    def mark_seen(self, op: torch.Tensor) -> None:
        """Ops in ``op`` now have their own token; a newly seen op's row starts from its group's row."""
        present = torch.zeros(len(OPS), dtype=torch.bool, device=self.seen.device)
        present[op.to(self.seen.device).unique()] = True
        new = (present & ~self.seen).nonzero().flatten()
        self.tokens.weight[new] = self.tokens.weight[self.group_token[new]]
        self.seen |= present

    def token_ids(self, op: torch.Tensor) -> torch.Tensor:
        """The token row of every node: its op if seen (and not backed off in training), else its group."""
        group = self.group_token[op]
        own = self.seen[op]
        if self.training and self.backoff > 0:
            own = own & (torch.rand(op.shape, device=op.device) >= self.backoff)
        return torch.where(own, op, group)

    def forward(self, op: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = self.tokens(self.token_ids(op))
        if self.kernel is not None:
            if x is None:
                raise ValueError("an OpEmbedding with attributes needs the node features x (kernel, stride)")
            kernel = x[:, _KERNEL_COLUMN].long().clamp(0, N_KERNEL_VALUES - 1)
            stride = x[:, _STRIDE_COLUMN].long().clamp(0, N_STRIDE_VALUES - 1)
            out = out + self.kernel(kernel) + self.stride(stride)
        return out

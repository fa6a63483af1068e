"""GENNAPE's CG encoder: its node embedding, a k-GNN (GraphConv) stack and mean pooling.

The node embedding follows GENNAPE's ``CGNodeEmbedding`` (widths from its demo k-GNN): a
regular node is ``[op embedding (24), shape Linear(6 -> 8)]``; a weighted node (conv,
depthwise, matmul) is ``[op embedding (14), shape Linear(6 -> 8), kernel Embedding(8, 4) for
each of the two kernel ints (8), bias Linear(2 -> 2) of the one-hot bias flag (2)]``, so every
node gets 32 numbers. GENNAPE orders weighted nodes first only because its batching relies on
it; message passing over an explicit ``edge_index`` and mean pooling are order-free, so the
CGs are used in their stored order.

The inputs are cgbench's PyG view (``family.to_pyg()``): ``op`` (cgbench op ids) and ``x``
(``cgbench.graph.features.NODE_FEATURE_NAMES``: the 6 GENNAPE shape floats, then kernel, stride
and bias).

One departure from GENNAPE, for families whose ops the training CGs never showed:
GENNAPE's op embeddings are plain tables over its 32 op ids, so an op absent from training
(NB-201's avgpool when training on NB-101) keeps its random initial row, and every op outside
GENNAPE's vocabulary shares the ``<oov>`` row. Here both op embeddings are
:class:`baselines.op_embedding.OpEmbedding` over cgbench's whole vocabulary: an unseen op is
represented by its op group's trained token (avgpool by "pool"), and regular nodes also embed
their window (kernel and stride: pooling nodes are regular nodes, and GENNAPE gives them no
window features). Weighted nodes keep GENNAPE's own kernel embedding.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GraphConv, global_mean_pool

from cgbench.graph.features import NODE_FEATURE_NAMES
from cgbench.graph.vocab import OPS, WEIGHTED_OPS

from ..op_embedding import OpEmbedding

EMBED_SIZE = 32
SHAPE_EMBED_SIZE = 8
KERNEL_EMBED_SIZE = 4  # per kernel int; two ints per weighted node
BIAS_EMBED_SIZE = 2
N_KERNEL_VALUES = 8  # GENNAPE's Embedding(8, 4): kernel sizes 0..7
SHAPE_COLUMNS = slice(0, 6)
KERNEL_COLUMNS = [NODE_FEATURE_NAMES.index("kernel_h"), NODE_FEATURE_NAMES.index("kernel_w")]
BIAS_COLUMN = NODE_FEATURE_NAMES.index("bias")

# Whether the op is a weighted node.
_IS_WEIGHTED = torch.tensor([i in WEIGHTED_OPS for i in range(len(OPS))], dtype=torch.bool)


class CGNodeEmbedding(nn.Module):
    """GENNAPE's per-node embedding, computed for all nodes of a PyG batch at once."""

    def __init__(self, size: int = EMBED_SIZE) -> None:
        super().__init__()
        regular_op_size = size - SHAPE_EMBED_SIZE
        weighted_op_size = size - SHAPE_EMBED_SIZE - 2 * KERNEL_EMBED_SIZE - BIAS_EMBED_SIZE
        if weighted_op_size <= 0:
            raise ValueError(f"embedding size {size} leaves no room for the op embedding of weighted nodes; "
                             f"expected more than {SHAPE_EMBED_SIZE + 2 * KERNEL_EMBED_SIZE + BIAS_EMBED_SIZE}")
        self.size = size
        self.regular_op = OpEmbedding(regular_op_size, attributes=True)
        self.weighted_op = OpEmbedding(weighted_op_size, attributes=False)
        self.shape = nn.Linear(6, SHAPE_EMBED_SIZE)
        self.kernel = nn.Embedding(N_KERNEL_VALUES, KERNEL_EMBED_SIZE)
        self.bias = nn.Linear(2, BIAS_EMBED_SIZE)

    def mark_seen(self, op: torch.Tensor) -> None:
        """The ops of the training CGs get their own tokens (the others back off to their groups)."""
        self.regular_op.mark_seen(op)
        self.weighted_op.mark_seen(op)

    def forward(self, op: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        weighted = _IS_WEIGHTED.to(op.device)[op]
        shape = self.shape(x[:, SHAPE_COLUMNS])
        out = torch.empty(len(op), self.size, dtype=shape.dtype, device=shape.device)
        out[~weighted] = torch.cat([self.regular_op(op[~weighted], x[~weighted]), shape[~weighted]], dim=1)
        # Kernels above 7 (e.g. AlexNet's 11) do not fit GENNAPE's Embedding(8); they share the 7 row.
        kernel = x[weighted][:, KERNEL_COLUMNS].long().clamp(0, N_KERNEL_VALUES - 1)
        bias_flag = x[weighted, BIAS_COLUMN]
        bias_one_hot = torch.stack([1 - bias_flag, bias_flag], dim=1)
        out[weighted] = torch.cat([
            self.weighted_op(op[weighted]), shape[weighted],
            self.kernel(kernel).flatten(1), self.bias(bias_one_hot),
        ], dim=1)
        return out


class KGNNEncoder(nn.Module):
    """Node embedding, ``n_layers`` x GraphConv with tanh, mean over nodes: one vector per CG."""

    def __init__(self, size: int = EMBED_SIZE, n_layers: int = 6) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.size = size
        self.embed = CGNodeEmbedding(size)
        self.convs = nn.ModuleList(GraphConv(size, size) for _ in range(n_layers))

    def forward(self, batch: Batch) -> torch.Tensor:
        h = self.embed(batch.op, batch.x)
        for conv in self.convs:
            h = torch.tanh(conv(h, batch.edge_index))
        return global_mean_pool(h, batch.batch, size=batch.num_graphs)

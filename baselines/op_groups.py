"""What ops of the CG vocabulary have in common: one coarse group per op.

Predictors use the groups in two places:

- graph features (``baselines.graf``) count ops and measure paths by group (convolutions,
  pooling, merges, ...), so the features mean the same thing in every family whatever exact
  ops the family uses (NB-101 pools with ``maxpool``, NB-201 with ``avgpool``);
- learned op embeddings (:class:`baselines.op_embedding.OpEmbedding`) back off from an op never
  seen in training to its group, so an unseen op gets a trained representation of what it shares
  with seen ops instead of an untrained random row.

Every op of ``cgbench.graph.vocab.OPS`` has exactly one group (a test checks it), so an op
appended to the vocabulary must be given one here.
"""

from __future__ import annotations

import numpy as np

from cgbench.graph.vocab import OP_ID, OPS

GROUP_OPS: dict[str, tuple[str, ...]] = {
    "io": ("input", "output"),
    # Layers with a spatial weight tensor (depthwise is a conv with groups = channels).
    "conv": ("conv", "depthwise", "conv_transpose"),
    "linear": ("matmul",),
    "norm": ("batchnorm", "layernorm", "groupnorm", "instancenorm", "norm"),
    "activation": ("relu", "relu6", "sigmoid", "tanh", "swish", "gelu", "hardswish", "hardsigmoid", "leakyrelu",
                   "elu", "prelu", "mish", "softplus", "softmax"),
    # Windowed and global pooling; "mean" is TF's global average pool, "global" GENNAPE's global pool.
    "pool": ("maxpool", "avgpool", "mean", "global"),
    # Element-wise joins of two or more activations.
    "merge": ("add", "sub", "maximum", "concat"),
    # Products: gating, scaling, attention products.
    "product": ("mul", "div", "layer_scale", "bmm"),
    "reshape": ("paddings", "spacetobatchnd", "batchtospacend", "spacetodepthnd", "depthtospacend", "interpolate",
                "channel_shuffle", "im2col", "col2im"),
    "identity": ("identity",),
    "zero": ("zero",),
    "other": ("<oov>", "reserved1", "reserved2", "reserved3", "reserved4", "reserved5"),
}
GROUPS: tuple[str, ...] = tuple(GROUP_OPS)
GROUP_ID: dict[str, int] = {name: i for i, name in enumerate(GROUPS)}


def _op_group_table() -> np.ndarray:
    table = np.full(len(OPS), -1, np.int64)
    for group, ops in GROUP_OPS.items():
        for op in ops:
            if table[OP_ID[op]] != -1:
                raise ValueError(f"op {op!r} is listed in two groups")
            table[OP_ID[op]] = GROUP_ID[group]
    missing = [OPS[i] for i in np.flatnonzero(table < 0)]
    if missing:
        raise ValueError(f"ops without a group: {missing}; give every op of the vocabulary a group")
    return table


# OP_GROUP[op_id] is the group id of a cgbench op id.
OP_GROUP: np.ndarray = _op_group_table()


def group_of(op_ids: np.ndarray) -> np.ndarray:
    """Group ids of an array of cgbench op ids."""
    return OP_GROUP[np.asarray(op_ids, np.int64)]

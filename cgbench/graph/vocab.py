"""The versioned op vocabulary of cgbench computation graphs.

Ids 0-31 are GENNAPE's vocabulary exactly (``tf_primitive_ops_simplified.txt`` with ``<oov>``
at 0), so GENNAPE features can be reproduced id for id. cgbench-cg-1 appends the ops that modern
networks need from id 32 on; ids are never reused or renumbered within a format version.
"""

from __future__ import annotations

CG_FORMAT_VERSION = "cgbench-cg-1"

GENNAPE_OPS: tuple[str, ...] = (
    "<oov>", "input", "output", "conv", "depthwise", "batchnorm", "relu", "relu6", "matmul",
    "add", "mul", "concat", "maxpool", "avgpool", "sigmoid", "tanh", "swish", "gelu", "paddings",
    "mean", "spacetobatchnd", "batchtospacend", "spacetodepthnd", "depthtospacend", "global",
    "identity", "zero", "reserved1", "reserved2", "reserved3", "reserved4", "reserved5",
)

EXTENDED_OPS: tuple[str, ...] = (
    "layernorm", "groupnorm", "instancenorm", "hardswish", "hardsigmoid", "softmax",
    # "bmm" is a product of two activations (attention); GENNAPE's "matmul" is a weighted layer.
    "bmm", "interpolate", "channel_shuffle", "sub", "div", "leakyrelu", "elu", "prelu",
    "mish", "softplus", "conv_transpose", "maximum", "layer_scale",
    # Appended for the model zoos (torch.export capture): a vector-norm reduction (cosine
    # attention, F.normalize), and unfold/fold of sliding windows (VOLO's outlook attention).
    "norm", "im2col", "col2im",
)

OPS: tuple[str, ...] = GENNAPE_OPS + EXTENDED_OPS
OP_ID: dict[str, int] = {name: i for i, name in enumerate(OPS)}
OOV = OP_ID["<oov>"]
N_GENNAPE_OPS = len(GENNAPE_OPS)

# Ops that carry a weight tensor: GENNAPE's "weighted" node type.
WEIGHTED_OPS = frozenset({OP_ID["conv"], OP_ID["depthwise"], OP_ID["matmul"], OP_ID["conv_transpose"]})

# How an extended op is written in GENNAPE's 32-id vocabulary. GENNAPE itself writes
# hard-sigmoid as relu6 and SiLU as swish; ops it never saw become <oov>.
_GENNAPE_EQUIVALENT = {"hardsigmoid": "relu6", "conv_transpose": "conv"}


def op_id(name: str) -> int:
    try:
        return OP_ID[name]
    except KeyError:
        raise KeyError(f"op {name!r} is not in the {CG_FORMAT_VERSION} vocabulary") from None


def gennape_op_id(cg_op_id: int) -> int:
    """The id GENNAPE's 32-entry vocabulary gives to a cgbench op id."""
    if cg_op_id < N_GENNAPE_OPS:
        return cg_op_id
    return OP_ID.get(_GENNAPE_EQUIVALENT.get(OPS[cg_op_id], "<oov>"), OOV)

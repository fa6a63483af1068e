"""The computation graph (CG): the one data model every family, loader and predictor shares.

A CG is a DAG of primitive-op nodes stored as dense arrays, nodes in topological order: node 0
is the input, the last node is the output and every edge runs from a lower to a higher index.
Per node it keeps the op id (``cgbench.graph.vocab``), the resolution ``(H_in, H_out, W_in,
W_out, C_in, C_out)`` where "in" is the first activation operand (GENNAPE's convention), and the
layer attributes ``(kernel_h, kernel_w, stride_h, stride_w, groups, bias)``, which are zero for
ops without a window or weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .vocab import CG_FORMAT_VERSION, OP_ID, OPS, WEIGHTED_OPS

SHAPE_FIELDS = ("h_in", "h_out", "w_in", "w_out", "c_in", "c_out")
ATTR_FIELDS = ("kernel_h", "kernel_w", "stride_h", "stride_w", "groups", "bias")
INPUT, OUTPUT = OP_ID["input"], OP_ID["output"]


class InvalidGraphError(ValueError):
    """A CG breaks one of the format's invariants."""


@dataclass(eq=False)
class ComputationGraph:
    op: np.ndarray  # (n,) int16
    shape: np.ndarray  # (n, 6) int32
    attr: np.ndarray  # (n, 6) int32
    edges: np.ndarray  # (m, 2) int32, producer -> consumer, sorted
    # Module path of each node, kept in memory for messages and drawings, not stored.
    node_names: tuple[str, ...] | None = field(default=None, repr=False)
    format_version: str = CG_FORMAT_VERSION

    def __post_init__(self) -> None:
        self.op = np.ascontiguousarray(self.op, dtype=np.int16)
        self.shape = np.ascontiguousarray(self.shape, dtype=np.int32).reshape(-1, 6)
        self.attr = np.ascontiguousarray(self.attr, dtype=np.int32).reshape(-1, 6)
        self.edges = np.ascontiguousarray(self.edges, dtype=np.int32).reshape(-1, 2)

    @property
    def n_nodes(self) -> int:
        return int(self.op.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def weighted(self) -> np.ndarray:
        return np.isin(self.op, list(WEIGHTED_OPS))

    def op_names(self) -> list[str]:
        return [OPS[i] for i in self.op]

    def op_counts(self) -> dict[str, int]:
        ids, counts = np.unique(self.op, return_counts=True)
        return {OPS[i]: int(c) for i, c in zip(ids, counts)}

    def validate(self) -> ComputationGraph:
        n = self.n_nodes
        if n < 2:
            raise InvalidGraphError(f"a CG needs at least an input and an output node, got {n} nodes")
        if len(self.shape) != n or len(self.attr) != n:
            raise InvalidGraphError("op, shape and attr arrays disagree on the number of nodes")
        if self.op[0] != INPUT or self.op[-1] != OUTPUT:
            raise InvalidGraphError("node 0 must be the input and the last node the output")
        if (self.op[1:-1] == INPUT).any() or (self.op[1:-1] == OUTPUT).any():
            raise InvalidGraphError("interior nodes cannot be input or output nodes")
        if self.op.min() < 0 or self.op.max() >= len(OPS):
            raise InvalidGraphError("op id outside the vocabulary")
        src, dst = self.edges[:, 0], self.edges[:, 1]
        if self.n_edges and ((src < 0).any() or (dst >= n).any() or (src >= dst).any()):
            raise InvalidGraphError("edges must run from a lower to a higher node index")
        has_input = np.zeros(n, bool)
        has_input[dst] = True
        if not has_input[1:].all():
            orphan = int(np.flatnonzero(~has_input[1:])[0]) + 1
            raise InvalidGraphError(f"node {orphan} ({OPS[self.op[orphan]]}) has no input: a CG has one source")
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComputationGraph):
            return NotImplemented
        return (
            np.array_equal(self.op, other.op)
            and np.array_equal(self.shape, other.shape)
            and np.array_equal(self.attr, other.attr)
            and np.array_equal(self.edges, other.edges)
        )

    def __repr__(self) -> str:
        return f"ComputationGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, ops={self.op_counts()})"

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
    """One network as a DAG of primitive ops (see the module docstring and ``docs/cg-format.md``).

    ``op[i]`` is node i's op id (``OPS[op[i]]`` its name), ``shape[i]`` its resolution
    ``(h_in, h_out, w_in, w_out, c_in, c_out)``, ``attr[i]`` its ``(kernel_h, kernel_w, stride_h,
    stride_w, groups, bias)``, ``edges`` the (producer, consumer) pairs. Two CGs are equal when all
    four arrays are; ``cgbench.graph.canonical_hash`` is equal for isomorphic ones. Get one from
    ``Family.graph(i)`` or ``cgbench.graph.from_module(model, input_shape)``.
    """

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
        """Number of nodes, input and output included."""
        return int(self.op.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of edges (a node fed twice by one producer has two)."""
        return int(self.edges.shape[0])

    @property
    def weighted(self) -> np.ndarray:
        """Which nodes carry a weight tensor (conv, depthwise, matmul, conv_transpose): GENNAPE's node types."""
        return np.isin(self.op, list(WEIGHTED_OPS))

    def op_names(self) -> list[str]:
        """The op name of every node, in node order."""
        return [OPS[i] for i in self.op]

    def op_counts(self) -> dict[str, int]:
        """How many nodes of each op the graph has."""
        ids, counts = np.unique(self.op, return_counts=True)
        return {OPS[i]: int(c) for i, c in zip(ids, counts)}

    def validate(self) -> ComputationGraph:
        """This graph, or :class:`InvalidGraphError` naming the invariant it breaks."""
        if len(self.shape) != self.n_nodes or len(self.attr) != self.n_nodes:
            raise InvalidGraphError("op, shape and attr arrays disagree on the number of nodes")
        check_graphs(np.array([0, self.n_nodes]), np.array([0, self.n_edges]), self.op, self.edges)
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


def check_graphs(node_ptr: np.ndarray, edge_ptr: np.ndarray, op: np.ndarray, edges: np.ndarray) -> None:
    """Check the CG invariants of many concatenated graphs at once (CSR layout, graph-local edges).

    Node 0 of each graph is its input and its last node the output, with no input or output node
    between; op ids are in the vocabulary; edges run from a lower to a higher index; every node but
    the input has an input. :class:`InvalidGraphError` names the first graph that breaks one.
    """
    n_graphs = len(node_ptr) - 1
    sizes = np.diff(node_ptr)

    def fail(bad: np.ndarray, message: str) -> None:
        if bad.any():
            where = f"graph {int(np.flatnonzero(bad)[0])}: " if n_graphs > 1 else ""
            raise InvalidGraphError(where + message)

    fail(sizes < 2, "a CG needs at least an input and an output node")
    if len(op) and (op.min() < 0 or op.max() >= len(OPS)):
        raise InvalidGraphError("op id outside the vocabulary")
    first, last = node_ptr[:-1], node_ptr[1:] - 1
    fail((op[first] != INPUT) | (op[last] != OUTPUT), "node 0 must be the input and the last node the output")
    endpoint = np.zeros(len(op), bool)
    endpoint[first] = endpoint[last] = True
    inner_io = ~endpoint & ((op == INPUT) | (op == OUTPUT))
    node_graph = np.repeat(np.arange(n_graphs), sizes)
    fail(np.bincount(node_graph[inner_io], minlength=n_graphs) > 0, "interior nodes cannot be input or output nodes")
    edge_graph = np.repeat(np.arange(n_graphs), np.diff(edge_ptr))
    src, dst = edges[:, 0], edges[:, 1]
    bad_edge = (src < 0) | (dst >= sizes[edge_graph]) | (src >= dst)
    fail(np.bincount(edge_graph[bad_edge], minlength=n_graphs) > 0, "edges must run from a lower to a higher node index")
    has_input = np.zeros(len(op), bool)
    has_input[dst.astype(np.int64) + node_ptr[:-1][edge_graph]] = True
    orphan = ~has_input & ~np.isin(np.arange(len(op)), first)
    if orphan.any():
        node = int(np.flatnonzero(orphan)[0])
        graph = int(node_graph[node])
        where = f"graph {graph}: " if n_graphs > 1 else ""
        raise InvalidGraphError(f"{where}node {node - int(node_ptr[graph])} ({OPS[op[node]]}) has no input: "
                                "a CG has one source")

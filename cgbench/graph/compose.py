"""Assembling CGs: a builder that adds nodes or splices whole fragments, and the final clean-up.

Both graph capture (``from_module``) and the fast family builders that compose a network's CG
from cached fragments go through this builder and through the same ``simplify``, so the two
paths give the same graph by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .model import ComputationGraph
from .vocab import OP_ID

NO_ATTR = (0, 0, 0, 0, 0, 0)
_ZERO, _ADD, _MUL, _OUTPUT = OP_ID["zero"], OP_ID["add"], OP_ID["mul"], OP_ID["output"]


class GraphBuilder:
    """Collects nodes in topological order: a node's inputs must already be in the builder."""

    def __init__(self, track_names: bool = True) -> None:
        self._op: list[np.ndarray] = []
        self._shape: list[np.ndarray] = []
        self._attr: list[np.ndarray] = []
        self._edges: list[np.ndarray] = []
        self._names: list[str] | None = [] if track_names else None
        self.n_nodes = 0

    def add_node(self, op: int, shape: Sequence[int], attr: Sequence[int] = NO_ATTR,
                 inputs: Sequence[int] = (), name: str = "") -> int:
        node = self.n_nodes
        self._op.append(np.array([op], np.int16))
        self._shape.append(np.array([shape], np.int32))
        self._attr.append(np.array([attr], np.int32))
        if inputs:
            self._edges.append(np.array([(i, node) for i in inputs], np.int32))
        if self._names is not None:
            self._names.append(name)
        self.n_nodes += 1
        return node

    def splice(self, fragment: ComputationGraph, inputs: Sequence[int], prefix: str = "") -> list[int]:
        """Insert a single-input fragment's interior nodes, feeding its input from ``inputs``.

        Returns the nodes that fed the fragment's output node (``inputs`` themselves for an
        identity fragment).
        """
        n = fragment.n_nodes
        offset = self.n_nodes - 1  # fragment node i (interior) becomes offset + i
        if n > 2:
            self._op.append(fragment.op[1:-1])
            self._shape.append(fragment.shape[1:-1])
            self._attr.append(fragment.attr[1:-1])
            if self._names is not None:
                names = fragment.node_names or ("",) * n
                self._names.extend(f"{prefix}{name}" for name in names[1:-1])
        src, dst = fragment.edges[:, 0], fragment.edges[:, 1]
        to_output = dst == n - 1
        from_input = src == 0
        interior = ~to_output & ~from_input
        self._edges.append(np.stack([src[interior] + offset, dst[interior] + offset], axis=1))
        feeders = dst[from_input & ~to_output] + offset
        for node in inputs:
            self._edges.append(np.stack([np.full_like(feeders, node), feeders], axis=1))
        outputs: list[int] = []
        for s in src[to_output]:
            outputs.extend(inputs if s == 0 else [int(s) + offset])
        self.n_nodes += n - 2
        return outputs

    def finish(self) -> ComputationGraph:
        """The raw graph, then ``simplify``: what every CG producer returns."""
        edges = np.concatenate(self._edges) if self._edges else np.zeros((0, 2), np.int32)
        return simplify(
            np.concatenate(self._op), np.concatenate(self._shape), np.concatenate(self._attr),
            edges, tuple(self._names) if self._names is not None else None,
        )


def simplify(op: np.ndarray, shape: np.ndarray, attr: np.ndarray, edges: np.ndarray,
             names: tuple[str, ...] | None) -> ComputationGraph:
    """Fold zeros, drop adds/muls left with one operand, merge add chains, remove dead code, renumber.

    A node whose every operand is identically zero computes nothing that depends on the input,
    so it merges into the zero node it came from; an add drops its zero operands; a mul with
    a zero operand is zero. Nodes that cannot reach the output are removed.
    """
    n = len(op)
    preds: list[list[int]] = [[] for _ in range(n)]
    order = np.lexsort((edges[:, 0], edges[:, 1])) if len(edges) else []
    for s, d in edges[order].tolist() if len(edges) else []:
        preds[d].append(s)
    rep = list(range(n))
    zero = [False] * n
    ops = op.tolist()
    for v in range(n):
        operands = [rep[u] for u in preds[v]]
        preds[v] = operands
        if ops[v] == _OUTPUT or not operands:
            zero[v] = ops[v] == _ZERO
            continue
        zeros = [u for u in operands if zero[u]]
        if ops[v] == _ZERO and len(zeros) < len(operands):
            zero[v] = True
        elif len(zeros) == len(operands) or (zeros and ops[v] == _MUL):
            rep[v] = zeros[0]
            continue
        if ops[v] == _ADD:
            operands = [u for u in operands if not zero[u]]
            preds[v] = operands
        if ops[v] in (_ADD, _MUL) and len(operands) == 1:
            rep[v] = operands[0]
    _merge_add_chains(ops, preds, rep)
    # Plain Python lists, not numpy arrays: per-element numpy indexing and sorting tuples of
    # numpy scalars cost more than the whole rest of the pass.
    live = [False] * n
    stack = [n - 1]
    while stack:
        v = stack.pop()
        if not live[v]:
            live[v] = True
            stack.extend(preds[v])
    for v in range(n):
        if rep[v] != v:
            live[v] = False
    live[0] = True
    kept = np.flatnonzero(live)
    new_index = (np.cumsum(live) - 1).tolist()
    new_edges = [(new_index[u], new_index[v]) for v in kept.tolist() for u in preds[v]]
    new_edges.sort()
    return ComputationGraph(
        op=op[kept], shape=shape[kept], attr=attr[kept],
        edges=np.array(new_edges, np.int32).reshape(-1, 2),
        node_names=tuple(names[i] for i in kept) if names is not None else None,
    )


def _merge_add_chains(ops: list[int], preds: list[list[int]], rep: list[int]) -> None:
    """Write ((a + b) + c) as one add of a, b, c (GENNAPE's AddN).

    Python sums terms pairwise, so the binary tree would depend on the order of the terms; one
    n-ary add makes a sum's CG independent of it. Only adds consumed by nothing but another add
    are merged: a sum that is also used elsewhere is a real intermediate value.
    """
    consumers = [0] * len(ops)
    for v, operands in enumerate(preds):
        if rep[v] == v:
            for u in operands:
                consumers[u] += 1
    for v, operands in enumerate(preds):
        if ops[v] != _ADD or rep[v] != v:
            continue
        merged: list[int] = []
        for u in operands:
            if ops[u] == _ADD and rep[u] == u and consumers[u] == 1:
                merged.extend(preds[u])
                rep[u] = v
            else:
                merged.append(u)
        preds[v] = merged

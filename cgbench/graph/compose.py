"""Assembling CGs: a builder that adds nodes or splices whole fragments, and the final clean-up.

Both graph capture (``from_module``) and the fast family builders that compose a network's CG
from cached fragments go through this builder and through the same ``simplify``, so the two
paths give the same graph by construction.

``simplify`` works on many graphs at once (:func:`simplify_many`, concatenated CSR arrays as in
``cgbench.storage.GraphTable``) with a fixed number of numpy passes plus one breadth-first search
in scipy, so a family build cleans up its 15k raw CGs in about a second instead of one Python
loop over the nodes of every graph; a single graph is a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from .arrays import sorted_unique
from .model import ComputationGraph
from .vocab import OP_ID

NO_ATTR = (0, 0, 0, 0, 0, 0)
_ZERO, _ADD, _MUL, _OUTPUT = OP_ID["zero"], OP_ID["add"], OP_ID["mul"], OP_ID["output"]


@dataclass(frozen=True, eq=False)
class SplicePlan:
    """A captured fragment ready to be spliced many times.

    Node ids are the fragment's own: 0 is its input, 1..n_interior its interior nodes (the output
    node is not kept). Splicing records a reference with an offset and never copies the arrays;
    :class:`RawGraphs` joins everything at the end.
    """

    op: np.ndarray  # interior nodes
    shape: np.ndarray
    attr: np.ndarray
    interior_edges: np.ndarray  # (k, 2) int64, between interior nodes
    feeders: np.ndarray  # int64, interior nodes the input feeds
    output_sources: tuple[int, ...]  # nodes that feed the output; 0 is the input
    names: tuple[str, ...]  # of the interior nodes ("" where the fragment has none)

    @classmethod
    def of(cls, fragment: ComputationGraph) -> SplicePlan:
        src, dst = fragment.edges[:, 0].astype(np.int64), fragment.edges[:, 1].astype(np.int64)
        to_output, from_input = dst == fragment.n_nodes - 1, src == 0
        interior = ~to_output & ~from_input
        return cls(fragment.op[1:-1], fragment.shape[1:-1], fragment.attr[1:-1],
                   np.stack([src[interior], dst[interior]], axis=1), dst[from_input & ~to_output],
                   tuple(src[to_output].tolist()), (fragment.node_names or ("",) * fragment.n_nodes)[1:-1])

    @property
    def n_interior(self) -> int:
        return len(self.op)

    @cached_property
    def nodes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(op, shape, attr) of the interior nodes."""
        return self.op, self.shape, self.attr

    def resolved(self) -> SplicePlan:
        return self


class BlockPlan:
    """A block (a sub-composition, such as a cell) spliced by reference to the builder that recorded it.

    Splicing needs only its size and the nodes that feed its output, which the builder knows; its
    arrays are joined when a graph that uses it is materialised, together with every other block
    pending then (:meth:`resolve_all`), so thousands of blocks cost a few numpy calls, not a few each.
    """

    def __init__(self, builder: GraphBuilder) -> None:
        output = builder.n_nodes - 1
        self.builder: GraphBuilder | None = builder
        self.n_interior = builder.n_nodes - 2
        self.output_sources = tuple(u for u, v in builder._edges if v == output)
        self._plan: SplicePlan | None = None

    def resolved(self) -> SplicePlan:
        if self._plan is None:
            BlockPlan.resolve_all([self])
        return self._plan

    @staticmethod
    def resolve_all(blocks: Sequence[BlockPlan]) -> None:
        """Join the recorded graphs of ``blocks`` (nested blocks first) and give each its SplicePlan."""
        pending = list({id(b): b for b in blocks if b._plan is None}.values())
        if not pending:
            return
        raw = RawGraphs.of([b.builder for b in pending])
        block = np.searchsorted(raw.node_ptr, raw.dst, side="right") - 1
        first, last = raw.node_ptr[:-1][block], raw.node_ptr[1:][block] - 1
        src, dst = raw.src - first, raw.dst - first
        to_output, from_input = raw.dst == last, raw.src == first
        interior, fed = _grouped(block, ~to_output & ~from_input, len(pending)), _grouped(
            block, from_input & ~to_output, len(pending))
        edges = np.stack([src, dst], axis=1)
        for i, b in enumerate(pending):
            a, z = raw.node_ptr[i] + 1, raw.node_ptr[i + 1] - 1
            b._plan = SplicePlan(raw.op[a:z], raw.shape[a:z], raw.attr[a:z], edges[interior[i]],
                                 dst[fed[i]], b.output_sources, ("",) * b.n_interior)
            b.builder = None  # the arrays now hold the block


def _grouped(group: np.ndarray, mask: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Per group, the positions where ``mask`` holds (in order)."""
    positions = np.flatnonzero(mask)
    order = positions[np.argsort(group[positions], kind="stable")]
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_groups)]


class GraphBuilder:
    """Collects nodes in topological order: a node's inputs must already be in the builder.

    Nodes and edges are kept as Python values and references to fragments until :meth:`raw` /
    :meth:`finish` (or :class:`RawGraphs` for many builders), which join them with a few numpy
    calls: a splice costs a few list appends.
    """

    def __init__(self, track_names: bool = True) -> None:
        # In node order: (op, shape, attr) arrays of added nodes, or the plan whose interior comes next.
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray] | SplicePlan | BlockPlan] = []
        self._added: list[tuple[int, Sequence[int], Sequence[int]]] = []  # nodes added since the last chunk
        self._edges: list[tuple[int, int]] = []
        self._spliced: list[tuple[SplicePlan | BlockPlan, int, tuple[int, ...]]] = []  # (plan, offset, inputs)
        self._names: list[str] | None = [] if track_names else None
        self.n_nodes = 0

    def add_node(self, op: int, shape: Sequence[int], attr: Sequence[int] = NO_ATTR,
                 inputs: Sequence[int] = (), name: str = "") -> int:
        node = self.n_nodes
        self._added.append((op, shape, attr))
        self._edges.extend((i, node) for i in inputs)
        if self._names is not None:
            self._names.append(name)
        self.n_nodes += 1
        return node

    def _close_added(self) -> None:
        if self._added:
            ops, shapes, attrs = zip(*self._added)
            self._chunks.append((np.array(ops, np.int16), np.array(shapes, np.int32).reshape(-1, 6),
                                 np.array(attrs, np.int32).reshape(-1, 6)))
            self._added = []

    def splice(self, fragment: ComputationGraph | SplicePlan | BlockPlan, inputs: Sequence[int],
               prefix: str = "") -> list[int]:
        """Insert a single-input fragment's interior nodes, feeding its input from ``inputs``.

        Returns the nodes that fed the fragment's output node (``inputs`` themselves for an
        identity fragment). Pass the fragment's :class:`SplicePlan` when it is spliced many times.
        """
        plan = SplicePlan.of(fragment) if isinstance(fragment, ComputationGraph) else fragment
        offset = self.n_nodes - 1  # fragment node i (interior) becomes offset + i
        if plan.n_interior:
            self._close_added()
            self._chunks.append(plan)
            if self._names is not None:
                self._names.extend(f"{prefix}{name}" for name in plan.resolved().names)
        self._spliced.append((plan, offset, tuple(inputs)))
        outputs: list[int] = []
        for s in plan.output_sources:
            outputs.extend(inputs if s == 0 else (s + offset,))
        self.n_nodes += plan.n_interior
        return outputs

    def raw(self) -> ComputationGraph:
        """The graph as built, before ``simplify`` (node names are not kept; edges are in no particular order)."""
        raw = RawGraphs.of([self])
        return ComputationGraph(raw.op, raw.shape, raw.attr, np.stack([raw.src, raw.dst], axis=1))

    def finish(self) -> ComputationGraph:
        """The raw graph, then ``simplify``: what every CG producer returns."""
        raw = RawGraphs.of([self])
        kept, _, _, edges = simplify_many(raw.node_ptr, raw.op, raw.src, raw.dst)
        names = tuple(self._names[i] for i in kept) if self._names is not None else None
        return ComputationGraph(raw.op[kept], raw.shape[kept], raw.attr[kept], edges, node_names=names)


@dataclass(frozen=True)
class RawGraphs:
    """Many builders' graphs as built, concatenated: nodes in CSR order, edges (src, dst) with global
    node indices in no particular order. What :func:`simplify_many` takes."""

    node_ptr: np.ndarray
    op: np.ndarray
    shape: np.ndarray
    attr: np.ndarray
    src: np.ndarray
    dst: np.ndarray

    @classmethod
    def of(cls, builders: Sequence[GraphBuilder]) -> RawGraphs:
        """Join the builders' recorded nodes and edges with a few numpy calls for all of them at once."""
        BlockPlan.resolve_all([p for b in builders for p, _, _ in b._spliced if isinstance(p, BlockPlan)])
        for builder in builders:
            builder._close_added()
        node_ptr = np.concatenate([[0], np.cumsum([b.n_nodes for b in builders])]).astype(np.int64)
        chunks = _Pool([c if isinstance(c, tuple) else c.resolved().nodes for b in builders for c in b._chunks])
        op, shape, attr = (chunks.joined(lambda c, k=k: c[k]) for k in range(3))
        pairs = np.array([e for b in builders for e in b._edges], np.int64).reshape(-1, 2)
        pairs += np.repeat(node_ptr[:-1], [len(b._edges) for b in builders])[:, None]
        src, dst = [pairs[:, 0]], [pairs[:, 1]]
        starts = node_ptr[:-1].tolist()
        spliced = [(p.resolved(), offset + start, inputs, start)
                   for b, start in zip(builders, starts) for p, offset, inputs in b._spliced]
        interior = [(p.interior_edges, offset) for p, offset, _, _ in spliced if len(p.interior_edges)]
        if interior:
            edges, offsets = zip(*interior)
            pool = _Pool(edges)
            joined = pool.joined(lambda e: e) + pool.repeat(offsets)[:, None]
            src.append(joined[:, 0])
            dst.append(joined[:, 1])
        fed = [(p.feeders, node + start, offset) for p, offset, inputs, start in spliced if len(p.feeders)
               for node in inputs]
        if fed:
            feeders, nodes, offsets = zip(*fed)
            pool = _Pool(feeders)
            src.append(pool.repeat(nodes))
            dst.append(pool.joined(lambda f: f) + pool.repeat(offsets))
        return cls(node_ptr, op, shape, attr, np.concatenate(src), np.concatenate(dst))


class _Pool:
    """Many references to few arrays (a piece spliced thousands of times): concatenated by one gather
    from the distinct ones instead of one copy per reference. An item is an array or a tuple of
    arrays of one length (the first one identifies it)."""

    def __init__(self, items: Sequence) -> None:
        slot_of: dict[int, int] = {}
        self.distinct: list = []
        slots = []
        for item in items:
            head = item[0] if isinstance(item, tuple) else item
            slot = slot_of.get(id(head))
            if slot is None:
                slot = slot_of[id(head)] = len(self.distinct)
                self.distinct.append(item)
            slots.append(slot)
        sizes = np.array([len(d[0] if isinstance(d, tuple) else d) for d in self.distinct], np.int64)
        slots = np.array(slots, np.int64)
        self.lengths = sizes[slots]
        pool_starts, out_starts = np.cumsum(sizes) - sizes, np.cumsum(self.lengths) - self.lengths
        self.index = np.repeat(pool_starts[slots] - out_starts, self.lengths) + np.arange(int(self.lengths.sum()))

    def joined(self, field) -> np.ndarray:
        """``np.concatenate([field(item) for item in items])``."""
        return np.concatenate([field(d) for d in self.distinct])[self.index]

    def repeat(self, values: Sequence[int]) -> np.ndarray:
        """Each item's value repeated over its rows."""
        return np.repeat(np.asarray(values, np.int64), self.lengths)


def simplify(op: np.ndarray, shape: np.ndarray, attr: np.ndarray, edges: np.ndarray,
             names: tuple[str, ...] | None) -> ComputationGraph:
    """:func:`simplify_many` of one graph (``edges`` local, in any order)."""
    kept, _, _, new_edges = simplify_many(np.array([0, len(op)]), op, edges[:, 0], edges[:, 1])
    return ComputationGraph(op=op[kept], shape=shape[kept], attr=attr[kept], edges=new_edges,
                            node_names=tuple(names[i] for i in kept) if names is not None else None)


def simplify_many(node_ptr: np.ndarray, op: np.ndarray, src: np.ndarray,
                  dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold zeros, drop adds/muls left with one operand, merge add chains, remove dead code, renumber.

    The graphs come concatenated: graph g owns nodes ``node_ptr[g]:node_ptr[g+1]`` (in topological
    order, input first, output last); the edges ``src -> dst`` use these global node indices, in
    any order. Returns ``(kept, node_ptr, edge_ptr, edges)``: the kept nodes' positions in the input
    (their order unchanged) and the simplified graphs' pointers and graph-local edges, each graph's
    edges sorted by (producer, consumer).

    A node whose every operand is identically zero computes nothing that depends on the input, so
    it merges into its first zero operand; an add drops its zero operands; a mul with a zero operand
    is zero. An add or mul left with one operand is that operand. An add whose only consumer is an
    add merges into it (:func:`_merge_add_chains`). Nodes that cannot reach the output are removed.
    """
    op = np.asarray(op)
    n, n_graphs = len(op), len(node_ptr) - 1
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    order = np.lexsort((src, dst))  # operands of a node in producer order
    src, dst = src[order], dst[order]
    is_add, is_mul = op == _ADD, op == _MUL
    n_operands = np.bincount(dst, minlength=n)
    zero, n_zero = _zero_nodes(op, src, dst, n_operands)
    # Representatives: a zero node merges into its first zero operand (a zero op with some live
    # operand stays: it is where the zeros start), a one-operand add or mul into its operand.
    rep = np.arange(n)
    collapses = zero & (n_operands > 0) & ~((op == _ZERO) & (n_zero < n_operands))
    from_zero = zero[src]
    rep[collapses] = _first_operand(src[from_zero], dst[from_zero], n)[collapses]
    single = ~zero & ((is_add & (n_operands - n_zero == 1)) | (is_mul & (n_operands == 1)))
    rep[single] = _first_operand(src[~from_zero], dst[~from_zero], n)[single]
    rep = _follow(rep)
    root = rep == np.arange(n)
    keep = root[dst] & ~(is_add[dst] & from_zero)
    src, dst = rep[src[keep]], dst[keep]
    src, dst, absorbed = _merge_add_chains(is_add, src, dst, n)
    live = _reaches_output(node_ptr, src, dst, n) & root & ~absorbed
    live[node_ptr[:-1]] = True
    kept = np.flatnonzero(live)
    node_graph = np.repeat(np.arange(n_graphs), np.diff(node_ptr))
    new_ptr = np.concatenate([[0], np.cumsum(np.bincount(node_graph[kept], minlength=n_graphs))]).astype(np.int64)
    new_index = np.cumsum(live) - 1
    on_live = live[dst]
    src, dst = src[on_live], dst[on_live]
    graph = node_graph[dst]
    local_src, local_dst = new_index[src] - new_ptr[graph], new_index[dst] - new_ptr[graph]
    order = np.lexsort((local_dst, local_src, graph))
    new_edges = np.stack([local_src[order], local_dst[order]], axis=1).astype(np.int32)
    new_edge_ptr = np.concatenate([[0], np.cumsum(np.bincount(graph, minlength=n_graphs))]).astype(np.int64)
    return kept, new_ptr, new_edge_ptr, new_edges


def _zero_nodes(op: np.ndarray, src: np.ndarray, dst: np.ndarray,
                n_operands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which nodes are identically zero, and how many zero operands each node has.

    Zeros start at zero ops and spread forward to every node (but the output) whose operands are
    all zero, and to every mul with a zero operand; the spread visits only the consumers of the
    nodes found in the previous step, so graphs without zeros cost nothing.
    """
    n = len(op)
    by_src = np.argsort(src, kind="stable")
    out_dst = dst[by_src]
    out_ptr = np.searchsorted(src[by_src], np.arange(n + 1))
    zero = op == _ZERO
    n_zero = np.zeros(n, np.int64)
    found = np.flatnonzero(zero)
    spreads = (op != _OUTPUT)
    while len(found):
        starts, stops = out_ptr[found], out_ptr[found + 1]
        counts = stops - starts
        consumers = out_dst[np.repeat(stops - counts.cumsum(), counts) + np.arange(counts.sum())]
        np.add.at(n_zero, consumers, 1)
        candidates = sorted_unique(consumers)
        all_zero = (n_zero[candidates] == n_operands[candidates]) | ((op[candidates] == _MUL) & (n_zero[candidates] > 0))
        found = candidates[~zero[candidates] & spreads[candidates] & all_zero]
        zero[found] = True
    return zero, n_zero


def _first_operand(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Per node, the first of the given operand edges (sorted by consumer, then producer); -1 if none."""
    first = np.full(n, -1, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], dst[1:] != dst[:-1]])) if len(dst) else np.zeros(0, np.int64)
    first[dst[starts]] = src[starts]
    return first


def _follow(pointer: np.ndarray) -> np.ndarray:
    """Each node's end of its pointer chain (pointer jumping; a chain ends where pointer[v] == v)."""
    while True:
        jumped = pointer[pointer]
        if np.array_equal(jumped, pointer):
            return pointer
        pointer = jumped


def _merge_add_chains(is_add: np.ndarray, src: np.ndarray, dst: np.ndarray,
                      n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write ((a + b) + c) as one add of a, b, c (GENNAPE's AddN).

    Python sums terms pairwise, so the binary tree would depend on the order of the terms; one
    n-ary add makes a sum's CG independent of it. Only adds consumed by nothing but one other add
    are merged (into the add at the end of their chain): a sum that is also used elsewhere is a
    real intermediate value. Returns the new operand edges and which adds were merged away.
    """
    n_consumers = np.bincount(src, minlength=n)
    consumer = np.arange(n)
    consumer[src] = dst  # exact for nodes with one consumer, the only ones read below
    absorbed = is_add & (n_consumers == 1) & is_add[consumer]
    target = np.where(absorbed, consumer, np.arange(n))
    target = _follow(target)
    keep = ~absorbed[src]
    return src[keep], target[dst[keep]], absorbed


def _reaches_output(node_ptr: np.ndarray, src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Which nodes have a path to their graph's output node (one breadth-first search over all graphs)."""
    outputs = node_ptr[1:] - 1
    hub = n  # one extra node that points at every output: a single search reaches all graphs
    rows = np.concatenate([dst, np.full(len(outputs), hub)])
    cols = np.concatenate([src, outputs])
    graph = csr_matrix((np.ones(len(rows), np.int32), (rows, cols)), shape=(n + 1, n + 1))
    reached = np.zeros(n + 1, bool)
    reached[breadth_first_order(graph, hub, directed=True, return_predecessors=False)] = True
    return reached[:n]

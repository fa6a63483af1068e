"""GRAF-style neural graph features of CGs, computed for many CGs at once from the collated arrays.

GRAF (Kadlecová et al., ICML 2024, "Surprisingly strong performance prediction with neural
graph features") describes a cell by op counts, by the shortest and longest input-to-output
paths that use only some kinds of ops, and by node degrees; fed to gradient-boosted trees,
these beat most learned predictors. cgbench CGs are whole networks of primitive ops, so the
features here are defined on the CG with the op groups of :mod:`baselines.op_groups` (every
family has them, whatever its exact ops):

- counts: nodes, edges, and nodes of each group (conv, linear, norm, activation, pool, merge,
  product, reshape, identity, zero); convolutions by kernel size (1, 3, 5, 7 and more), strided
  convolutions, depthwise convolutions and strided pools;
- paths from the input to the output node: the longest and the shortest (in edges), the most
  and the fewest convolutions on one path (the fewest is 0 when a conv-free skip path exists),
  the most and the fewest pools on one path, and log10 of the number of paths;
- degrees: the largest in- and out-degree, the mean in-degree of merge nodes, the number of
  branching nodes (out-degree 2 or more);
- width: the most nodes at one depth (depth = longest path from the input);
- shapes: log2 of the input resolution, the number of halvings from the input resolution to
  the smallest conv output, log2 of the largest and the mean log2 of conv output channels;
- cost: log10 of FLOPs and of parameters (NaN when the family does not know them, ``-1``).

Paths are dynamic programmes over the DAG. Nodes of a CG are in topological order (every edge
runs from a lower to a higher index), so one pass over node positions ``j = 1, 2, ...`` settles
node ``j`` of *every* graph at once: the edges into those nodes are one contiguous slice of the
edges sorted by (target position, target), and NumPy's ``reduceat`` takes the max / min / sum
over each target's incoming edges. The work is one vectorised step per node position (the
largest CG's size), not one Python step per node of every graph
(``benchmarks/bench_graf_features.py`` compares it with a per-graph networkx implementation).
"""

from __future__ import annotations

import numpy as np

from cgbench.graph.vocab import OP_ID
from cgbench.storage import GraphTable

from ..op_groups import GROUP_ID, OP_GROUP

COUNTED_GROUPS = ("conv", "linear", "norm", "activation", "pool", "merge", "product", "reshape", "identity", "zero")
KERNEL_BINS = (1, 3, 5, 7)  # the last bin holds 7 and larger
FEATURE_NAMES: tuple[str, ...] = (
    "n_nodes", "n_edges",
    *(f"n_{group}" for group in COUNTED_GROUPS),
    *(f"n_conv_k{k}" for k in KERNEL_BINS), "n_conv_strided", "n_depthwise", "n_pool_strided",
    "longest_path", "shortest_path", "max_convs_on_path", "min_convs_on_path", "max_pools_on_path",
    "min_pools_on_path", "log10_n_paths",
    "max_in_degree", "max_out_degree", "mean_merge_in_degree", "n_branch_nodes",
    "max_width",
    "log2_input_hw", "n_halvings", "log2_max_channels", "mean_log2_channels",
    "log10_flops", "log10_params",
)
_SHAPE = {name: i for i, name in enumerate(("h_in", "h_out", "w_in", "w_out", "c_in", "c_out"))}
_ATTR = {name: i for i, name in enumerate(("kernel_h", "kernel_w", "stride_h", "stride_w", "groups", "bias"))}


class _Layout:
    """Global node and edge indices of a GraphTable, and per-graph reductions over its nodes."""

    def __init__(self, graphs: GraphTable) -> None:
        self.n_graphs = len(graphs)
        node_counts = np.diff(graphs.node_ptr)
        if self.n_graphs and node_counts.min() < 2:
            raise ValueError("every CG needs at least an input and an output node")
        self.node_start = graphs.node_ptr[:-1]
        self.node_graph = np.repeat(np.arange(self.n_graphs), node_counts)
        self.local = np.arange(len(graphs.op)) - graphs.node_ptr[self.node_graph]
        edge_graph = np.repeat(np.arange(self.n_graphs), np.diff(graphs.edge_ptr))
        offset = graphs.node_ptr[edge_graph]
        self.src = graphs.edges[:, 0].astype(np.int64) + offset
        self.dst = graphs.edges[:, 1].astype(np.int64) + offset
        self.inputs = self.node_start
        self.outputs = graphs.node_ptr[1:] - 1

    def sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.node_start, axis=0) if self.n_graphs else values[:0]

    def max(self, values: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(values, self.node_start, axis=0) if self.n_graphs else values[:0]


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """A stable argsort of small non-negative integers (NumPy radix-sorts 16-bit keys in linear time)."""
    narrow = np.uint16 if keys.size == 0 or keys.max() <= np.iinfo(np.uint16).max else np.int64
    return np.argsort(keys.astype(narrow), kind="stable")


def _path_programmes(layout: _Layout, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every node: the largest and the smallest sum of ``weights`` (N, k) over input-to-node paths
    (the node's own weight included, the input's too), and the number of such paths.

    Nodes are renumbered position-major (all graphs' node 0, then all node 1s, ...): the nodes of
    one step are then one contiguous block and their predecessors sit in a few nearby blocks,
    which halves the time of the memory-bound gathers against graph-major order.
    """
    n_nodes = len(layout.local)
    by_position = _stable_order(layout.local)  # position-major, graph order within a position
    renumber = np.empty(n_nodes, np.int64)
    renumber[by_position] = np.arange(n_nodes)
    edge_order = _stable_order(layout.local[layout.dst])  # edges into one node stay contiguous
    src, dst = renumber[layout.src[edge_order]], renumber[layout.dst[edge_order]]
    n_positions = int(layout.local.max()) + 1 if n_nodes else 0
    node_bounds = np.searchsorted(layout.local[by_position], np.arange(n_positions + 1))
    edge_bounds = np.searchsorted(dst, node_bounds)
    w = weights[by_position].astype(np.float64)
    high, low = w.copy(), w.copy()
    paths = np.zeros(n_nodes)
    paths[node_bounds[0]:node_bounds[1]] = 1.0  # the input nodes
    for j in range(1, n_positions):
        nodes = slice(node_bounds[j], node_bounds[j + 1])
        begin, end = edge_bounds[j], edge_bounds[j + 1]
        sources = src[begin:end]
        targets = dst[begin:end]
        # Every node past the input has an incoming edge, so the segments are exactly this block's nodes.
        first = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]])
        high[nodes] = np.maximum.reduceat(high[sources], first, axis=0) + w[nodes]
        low[nodes] = np.minimum.reduceat(low[sources], first, axis=0) + w[nodes]
        paths[nodes] = np.add.reduceat(paths[sources], first)
    return high[renumber], low[renumber], paths[renumber]


def _log(values: np.ndarray, log, unknown_below: float = 0.0) -> np.ndarray:
    """``log(values)``, NaN where a value is below ``unknown_below`` (families that do not know it)."""
    values = np.asarray(values, np.float64)
    out = np.full(values.shape, np.nan)
    known = values >= unknown_below
    out[known] = log(np.maximum(values[known], 1.0))
    return out


def graf_features(graphs: GraphTable, flops: np.ndarray, params: np.ndarray) -> np.ndarray:
    """The features of :data:`FEATURE_NAMES` for every CG of ``graphs`` (float64, one row per CG).

    ``flops`` and ``params`` are per CG; negative values mean unknown and give NaN features.
    """
    if len(flops) != len(graphs) or len(params) != len(graphs):
        raise ValueError(f"expected one FLOPs and one parameter count per CG ({len(graphs)}), "
                         f"got {len(flops)} and {len(params)}")
    layout = _Layout(graphs)
    group = OP_GROUP[graphs.op.astype(np.int64)]
    is_group = {name: group == GROUP_ID[name] for name in COUNTED_GROUPS}
    conv, pool, merge = is_group["conv"], is_group["pool"], is_group["merge"]
    kernel = graphs.attr[:, _ATTR["kernel_h"]]
    strided = np.maximum(graphs.attr[:, _ATTR["stride_h"]], graphs.attr[:, _ATTR["stride_w"]]) > 1
    kernel_bins = [conv & (kernel == k) for k in KERNEL_BINS[:-1]] + [conv & (kernel >= KERNEL_BINS[-1])]

    one_per_edge = np.ones(len(graphs.op))
    one_per_edge[layout.inputs] = 0.0  # path lengths count edges: the input itself is not a step
    weights = np.stack([one_per_edge, conv, pool], axis=1)
    high, low, paths = _path_programmes(layout, weights)
    out_high, out_low = high[layout.outputs], low[layout.outputs]

    in_degree = np.bincount(layout.dst, minlength=len(graphs.op))
    out_degree = np.bincount(layout.src, minlength=len(graphs.op))
    n_merge = layout.sum(merge.astype(np.int64))
    merge_in = layout.sum(np.where(merge, in_degree, 0))

    input_h = graphs.shape[layout.inputs, _SHAPE["h_out"]].astype(np.float64)
    conv_h = np.where(conv, graphs.shape[:, _SHAPE["h_out"]], np.iinfo(np.int32).max)
    min_conv_h = np.minimum.reduceat(conv_h, layout.node_start) if layout.n_graphs else conv_h[:0]
    n_conv = layout.sum(conv.astype(np.int64))
    has_conv = n_conv > 0
    channels = np.log2(np.maximum(graphs.shape[:, _SHAPE["c_out"]], 1).astype(np.float64))
    halvings = np.zeros(layout.n_graphs)
    halvings[has_conv] = np.log2(np.maximum(input_h[has_conv], 1) / np.maximum(min_conv_h[has_conv], 1))

    columns = [
        np.diff(graphs.node_ptr), np.diff(graphs.edge_ptr),
        *(layout.sum(is_group[name].astype(np.int64)) for name in COUNTED_GROUPS),
        *(layout.sum(b.astype(np.int64)) for b in kernel_bins),
        layout.sum((conv & strided).astype(np.int64)),
        layout.sum((graphs.op == OP_ID["depthwise"]).astype(np.int64)),
        layout.sum((pool & strided).astype(np.int64)),
        out_high[:, 0], out_low[:, 0], out_high[:, 1], out_low[:, 1], out_high[:, 2], out_low[:, 2],
        np.log10(paths[layout.outputs]),
        layout.max(in_degree), layout.max(out_degree),
        np.divide(merge_in, n_merge, out=np.zeros(layout.n_graphs), where=n_merge > 0),
        layout.sum((out_degree >= 2).astype(np.int64)),
        _max_width(layout, high[:, 0].astype(np.int64)),
        np.log2(np.maximum(input_h, 1)), halvings,
        np.where(has_conv, layout.max(np.where(conv, channels, 0.0)), 0.0),
        np.divide(layout.sum(np.where(conv, channels, 0.0)), n_conv, out=np.zeros(layout.n_graphs), where=has_conv),
        _log(flops, np.log10), _log(params, np.log10),
    ]
    return np.stack([np.asarray(c, np.float64) for c in columns], axis=1)


def _max_width(layout: _Layout, depth: np.ndarray) -> np.ndarray:
    """The most nodes that share one depth (longest path from the input), per graph."""
    if not layout.n_graphs:
        return np.zeros(0)
    levels = int(depth.max()) + 1
    counts = np.bincount(layout.node_graph * levels + depth, minlength=layout.n_graphs * levels)
    return counts.reshape(layout.n_graphs, levels).max(axis=1)

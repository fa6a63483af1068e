"""GRAF features of a whole family: the vectorised extractor against a per-graph networkx version.

The naive version is how such features are usually written: one ``networkx.MultiDiGraph`` per CG,
``topological_sort``, Python dictionaries for the path programmes, ``in_degree``/``out_degree``
views. Both run on the same CGs (``--family``, all rows by default; ``--n`` for a seeded subset);
the benchmark prints both times, their ratio and the largest difference between the two
feature matrices (which should be 0).

    nice .venv/bin/python benchmarks/bench_graf_features.py --family nb201
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter

import networkx as nx
import numpy as np

from baselines.graf.features import COUNTED_GROUPS, FEATURE_NAMES, KERNEL_BINS, graf_features
from baselines.op_groups import GROUPS, OP_GROUP
from cgbench.dataset import load_family
from cgbench.graph.model import ComputationGraph
from cgbench.graph.vocab import OPS


def naive_features(cg: ComputationGraph, flops: float, params: float) -> list[float]:
    graph = nx.MultiDiGraph()  # CGs have parallel edges (NB-201's add(x, x) of two skips): each is a path
    graph.add_nodes_from(range(cg.n_nodes))
    graph.add_edges_from(map(tuple, cg.edges.tolist()))
    group = {v: GROUPS[OP_GROUP[int(cg.op[v])]] for v in graph}
    kernel = {v: int(cg.attr[v, 0]) for v in graph}
    strided = {v: max(int(cg.attr[v, 2]), int(cg.attr[v, 3])) > 1 for v in graph}
    counts = Counter(group.values())
    convs = [v for v in graph if group[v] == "conv"]
    pools = [v for v in graph if group[v] == "pool"]

    source, sink = 0, cg.n_nodes - 1
    weight = {v: (0 if v == source else 1, int(group[v] == "conv"), int(group[v] == "pool")) for v in graph}
    high, low, paths = {}, {}, {}
    for v in nx.topological_sort(graph):
        preds = [u for u, _ in graph.in_edges(v)]  # one entry per edge, parallel edges included
        if not preds:
            high[v], low[v], paths[v] = list(weight[v]), list(weight[v]), 1.0
            continue
        high[v] = [max(high[u][k] for u in preds) + weight[v][k] for k in range(3)]
        low[v] = [min(low[u][k] for u in preds) + weight[v][k] for k in range(3)]
        paths[v] = sum(paths[u] for u in preds)

    merges = [v for v in graph if group[v] == "merge"]
    depth_counts = Counter(high[v][0] for v in graph)
    input_h = int(cg.shape[source, 1])
    conv_h = [int(cg.shape[v, 1]) for v in convs]
    channels = [math.log2(max(int(cg.shape[v, 5]), 1)) for v in convs]
    kernel_counts = [sum(kernel[v] == k for v in convs) for k in KERNEL_BINS[:-1]]
    kernel_counts.append(sum(kernel[v] >= KERNEL_BINS[-1] for v in convs))
    return [
        graph.number_of_nodes(), graph.number_of_edges(),
        *(counts.get(name, 0) for name in COUNTED_GROUPS),
        *kernel_counts, sum(strided[v] for v in convs), sum(OPS[int(cg.op[v])] == "depthwise" for v in convs),
        sum(strided[v] for v in pools),
        high[sink][0], low[sink][0], high[sink][1], low[sink][1], high[sink][2], low[sink][2],
        math.log10(paths[sink]),
        max(d for _, d in graph.in_degree()), max(d for _, d in graph.out_degree()),
        sum(graph.in_degree(v) for v in merges) / len(merges) if merges else 0.0,
        sum(1 for _, d in graph.out_degree() if d >= 2),
        max(depth_counts.values()),
        math.log2(max(input_h, 1)), math.log2(max(input_h, 1) / max(min(conv_h), 1)) if convs else 0.0,
        max(channels) if convs else 0.0, sum(channels) / len(channels) if convs else 0.0,
        math.log10(max(flops, 1)) if flops >= 0 else math.nan, math.log10(max(params, 1)) if params >= 0 else math.nan,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="nb201")
    parser.add_argument("--n", type=int, help="a seeded subset of N CGs (default: every row)")
    args = parser.parse_args()
    family = load_family(args.family, progress=False)
    rows = np.arange(len(family)) if args.n is None else np.sort(
        np.random.default_rng(0).choice(len(family), args.n, replace=False))
    flops = family.table.column("flops").to_numpy(zero_copy_only=False).astype(np.float64)[rows]
    params = family.table.column("params").to_numpy(zero_copy_only=False).astype(np.float64)[rows]
    graphs = family.graphs
    if args.n is not None:
        from cgbench.storage import GraphTable

        graphs = GraphTable.from_graphs([family.graph(int(i)) for i in rows])

    started = time.perf_counter()
    fast = graf_features(graphs, flops, params)
    fast_seconds = time.perf_counter() - started
    started = time.perf_counter()
    naive = np.array([naive_features(graphs.graph(k), flops[k], params[k]) for k in range(len(rows))])
    naive_seconds = time.perf_counter() - started

    difference = np.nanmax(np.abs(fast - naive)) if len(rows) else 0.0
    same_nan = bool((np.isnan(fast) == np.isnan(naive)).all())
    print(f"{args.family}: {len(rows)} CGs, {len(FEATURE_NAMES)} features, {int(np.diff(graphs.node_ptr).sum())} nodes")
    print(f"{'implementation':28s} {'seconds':>9s} {'CGs/s':>10s}")
    print(f"{'vectorised (reduceat)':28s} {fast_seconds:9.2f} {len(rows) / fast_seconds:10.0f}")
    print(f"{'per-graph networkx':28s} {naive_seconds:9.2f} {len(rows) / naive_seconds:10.0f}")
    print(f"speed-up {naive_seconds / fast_seconds:.1f}x; largest |difference| {difference:.3g}; "
          f"NaN in the same places: {same_nan}")


if __name__ == "__main__":
    main()

"""Batching CGs for a graph predictor: collated-tensor gathers against PyG's DataLoader, side by side.

For each number of NB-201 rows, both paths produce the same batches of 256 CGs (the test suite
checks they are equal) for one pass over the rows, as a predictor's ``predict`` does:

- ``dataloader``: ``DataLoader([dataset[i] for i in rows], batch_size=256)``, the obvious way
  (one ``Data`` object per graph, re-collated per batch);
- ``collated``: ``dataset.collated(rows)`` once, then ``.batch(positions)`` per batch
  (``cgbench.pyg.CollatedGraphs``: a few tensor gathers, no per-graph Python).

It prints seconds per pass, microseconds per graph and the ratio, plus how each path grows
with the number of rows. Encoder time is not included (it is the same for both).

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_graph_batches.py [--sizes 1000 4000 15625]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from cgbench import load_family

BATCH = 256


def dataloader_pass(dataset, rows: np.ndarray) -> int:
    return sum(batch.num_graphs for batch in DataLoader([dataset[int(i)] for i in rows], batch_size=BATCH))


def collated_pass(dataset, rows: np.ndarray) -> int:
    graphs = dataset.collated(rows)
    return sum(graphs.batch(torch.arange(s, min(s + BATCH, len(graphs)))).num_graphs
               for s in range(0, len(graphs), BATCH))


def best_of(repeats: int, run, *args) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 4000, 15625])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    family = load_family("nb201", progress=False)
    dataset = family.to_pyg()
    print(f"{'rows':>6} {'dataloader s':>12} {'collated s':>10} {'us/graph (dl)':>13} {'us/graph (ours)':>15} {'ratio':>6}")
    for n in args.sizes:
        rows = np.random.default_rng(0).permutation(len(family))[:n]
        slow = best_of(args.repeats, dataloader_pass, dataset, rows)
        fast = best_of(args.repeats, collated_pass, dataset, rows)
        print(f"{n:>6} {slow:>12.3f} {fast:>10.3f} {1e6 * slow / n:>13.1f} {1e6 * fast / n:>15.1f} {slow / fast:>6.1f}")


if __name__ == "__main__":
    main()

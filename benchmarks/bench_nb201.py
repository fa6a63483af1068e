"""NB-201 build and load speed, measured side by side in one run on this machine.

(a) all 15,625 NB-201 CGs from scratch by fragment composition, against capturing whole
    networks with ``from_module`` (timed on a sample, per architecture);
(b) warm ``load_family("nb201").to_pyg()`` against ``torch.load`` of the same graphs saved as a
    list of PyG ``Data`` objects;
(c) how (a) and (b) grow from 1k to 15k graphs.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_nb201.py``
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch
from torch_geometric.data import Data

from cgbench import load_family
from cgbench.families.nb201 import SPACE, NB201Network, all_cells
from cgbench.graph import from_module
from cgbench.graph.hashing import canonical_hashes
from cgbench.storage import GraphTable

SIZES = (1000, 4000, 15625)


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def build_cgs(cells) -> GraphTable:
    space = type(SPACE)()  # a fresh fragment cache: the timing includes capturing every piece
    table = GraphTable.from_graphs([space.composed(c).graph for c in cells])
    canonical_hashes(table.node_ptr, table.edge_ptr, table.op, table.shape, table.attr, table.edges)
    return table


def capture_sample(cells) -> float:
    start = time.perf_counter()
    for cell in cells:
        with torch.device("meta"):
            net = NB201Network(cell)
        from_module(net, (1, 3, 32, 32))
    return (time.perf_counter() - start) / len(cells)


def data_list(ds, n: int) -> list[Data]:
    return [ds[i] for i in range(n)]


def main() -> None:
    cells = list(all_cells())
    print("(a) building NB-201 CGs from scratch (composition + canonical hashes)")
    per_capture = capture_sample(cells[:: len(cells) // 40][:40])
    for n in SIZES:
        seconds, _ = timed(lambda: build_cgs(cells[:n]))
        print(f"  {n:6d} graphs: {seconds:6.2f} s  {n / seconds:8.0f} archs/s | whole-network from_module: "
              f"{per_capture * n:7.1f} s (est. from 40 captures) -> composition is {per_capture * n / seconds:5.1f}x faster")

    family = load_family("nb201", progress=False)
    ds = family.to_pyg()  # make sure the processed file exists: the timings below are warm
    print("(b) warm load: load_family('nb201').to_pyg() vs torch.load of a list of Data objects")
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            path = Path(tmp) / f"list-{n}.pt"
            torch.save(data_list(ds, n), path)
            collated = Path(tmp) / f"collated-{n}.pt"
            sub = ds[:n]
            torch.save((sub._data.to_dict(), sub.slices), collated)
            ours, _ = timed(lambda: torch.load(collated, mmap=True, weights_only=False), repeat=3)
            theirs, _ = timed(lambda: torch.load(path, weights_only=False), repeat=3)
            print(f"  {n:6d} graphs: collated+mmap {ours * 1e3:7.1f} ms | list of Data {theirs * 1e3:8.1f} ms"
                  f" -> ratio {ours / theirs:.3f}")
        full, _ = timed(lambda: load_family("nb201", progress=False).to_pyg(), repeat=3)
        listed = Path(tmp) / "list-15625.pt"
        baseline, _ = timed(lambda: torch.load(listed, weights_only=False), repeat=3)
        print(f"  end to end: load_family('nb201').to_pyg() {full:.3f} s (sha256 check included) vs "
              f"torch.load(list of 15,625 Data) {baseline:.3f} s -> ratio {full / baseline:.3f}")


if __name__ == "__main__":
    os.environ.setdefault("CGBENCH_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    main()

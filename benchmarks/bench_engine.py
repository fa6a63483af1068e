"""The work engine's cost against the obvious alternative, and what a second worker buys, on one benchmark.

The same runs (``gin`` and ``graf`` under the quick protocol on nb101 and nasbench_macro, every track
they have, seeds 0-1: 24 runs) are made three ways, side by side in one process tree:

- ``loop``: the obvious alternative, :class:`baselines.protocol.MethodRunner` in this process (no plan,
  no store, nothing resumable);
- ``engine, 1 worker``: ``cgbench benchmark`` (a plan, one result file per run, fsynced), in one process;
- ``engine, 2 workers``: the same with ``--workers 2`` (two processes sharing the runs by claims).

It prints each wall time, the engine's overhead per run against the loop, and the speed-up of two
workers (bounded by the machine's cores and by the longest shared fit). Every way must give the same
predictions; the script checks that the two engine runs agree bit for bit.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_engine.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["--methods", "gin", "graf", "--families", "nb101", "nasbench_macro", "--seeds", "0", "1",
        "--tracks", "in_family", "gennape_zero_shot", "gennape_few_shot", "lofo_zero_shot",
        "--no-progress", "--no-submissions"]


def engine(out: Path, workers: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cgbench.cli", "benchmark", *ARGS, "--workers", str(workers),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def loop() -> float:
    """The same runs in a plain loop in a fresh process (so that imports and family loads count as they do
    for the engine)."""
    code = ("import time, torch; t = time.perf_counter(); torch.set_num_threads(1)\n"
            "from baselines.protocol import MethodRunner, Protocol, load_families\n"
            "p = Protocol(families=('nb101', 'nasbench_macro'), seeds=(0, 1), tracks=('in_family', "
            "'gennape_zero_shot', 'gennape_few_shot', 'lofo_zero_shot'))\n"
            "f = load_families(p, progress=False)\n"
            "for m in ('gin', 'graf'): MethodRunner(m, p, f).runs(progress=False)\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def predictions(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text())["predictions"] for p in (out / "store" / "results").glob("*.json")}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        loop()  # warm the family cache, so no way pays for a build
        seconds = {"loop (no plan, no store)": loop(), "engine, 1 worker": engine(Path(tmp, "one"), 1),
                   "engine, 2 workers": engine(Path(tmp, "two"), 2)}
        same = predictions(Path(tmp, "one")) == predictions(Path(tmp, "two"))
    n_runs = 24
    for way, value in seconds.items():
        print(f"{way:28s} {value:7.1f} s  ({value / n_runs:.2f} s per run)")
    print(f"engine overhead, 1 worker vs loop: {seconds['engine, 1 worker'] / seconds['loop (no plan, no store)']:.2f}x")
    print(f"speed-up of 2 workers over 1:      {seconds['engine, 1 worker'] / seconds['engine, 2 workers']:.2f}x")
    print(f"1 and 2 workers give identical predictions: {same}")


if __name__ == "__main__":
    main()

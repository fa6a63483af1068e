"""A new user's first call: cold ``load_family("nb201")`` (fetch from the mirror + build), phase by phase.

In one run, on this machine:
(a) ``import cgbench``;
(b) cold ``load_family("nb201")`` in an empty CGBENCH_HOME, with the wall and CPU time of every
    announced build phase (``cgbench.progress.recorded_phases``) and the machine's load average
    beside it (on a shared machine the CPU time is what the build itself costs);
(c) the warm load of the same family, and the ratio cold / warm;
(d) the CG composition path the build uses (raw networks cleaned up in batches by
    ``simplify_many``) against composing and simplifying networks one by one (``space.composed``),
    on the same cells.

``--profile`` adds the 20 functions with the most cumulative time of the cold build (cProfile).

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_cold_start.py [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

_started = time.perf_counter()
import cgbench  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _started

from cgbench.families.fragments import compose_family  # noqa: E402
from cgbench.families.nb201 import SPACE, all_cells  # noqa: E402
from cgbench.progress import recorded_phases  # noqa: E402

SAMPLE = 2000


def load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", action="store_true", help="print the cold build's cProfile top 20")
    args = parser.parse_args()
    print(f"(a) import cgbench: {IMPORT_SECONDS:.1f} s (load average {load()})")
    with tempfile.TemporaryDirectory() as home:
        os.environ["CGBENCH_HOME"] = home
        print(f"(b) cold load_family('nb201'), load average (1/5/15 min) before: {load()}")
        profiler = cProfile.Profile() if args.profile else None
        with recorded_phases() as phases:
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            family = cgbench.load_family("nb201", progress=False)
            if profiler:
                profiler.disable()
            cold, cold_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print("   wall s   CPU s  phase (nested phases are included in the ones that enclose them)")
        for what, seconds, cpu in phases:
            print(f"  {seconds:7.1f} {cpu:7.1f}  {what}")
        print(f"  cold total {cold:.1f} s wall, {cold_cpu:.1f} s CPU for {len(family)} architectures; "
              f"load average after: {load()}")
        started = time.perf_counter()
        cgbench.load_family("nb201", progress=False)
        warm = time.perf_counter() - started
        print(f"(c) warm load {warm:.2f} s -> cold / warm = {cold / warm:.0f}x")
    cells = list(all_cells())[:: len(list(all_cells())) // SAMPLE][:SAMPLE]
    batched = timed(lambda: compose_family(type(SPACE)(), cells, progress=False))
    fresh = type(SPACE)()
    one_by_one = timed(lambda: [fresh.composed(c) for c in cells])
    print(f"(d) {SAMPLE} NB-201 CGs: batched simplify {batched:.1f} s | one by one {one_by_one:.1f} s "
          f"-> batched is {one_by_one / batched:.1f}x faster")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    os.environ.setdefault("CGBENCH_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    main()

"""CG generation throughput and full build time of every search-space family, side by side.

For each family that comes from a search space, on the same seeded sample of configs:
- composed CGs per second (fresh fragment cache, so capturing every piece is included),
- plain model construction per second (``space.build(config)`` on the CPU, real weights),
- whole-network capture (``from_module`` of the built network) per second, on a smaller sample,
then the wall and CPU time of the full ``cgbench build`` of the family (raw files from
CGBENCH_MIRROR; on the shared machine the CPU time is what an idle core would take).

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_families.py [FAMILY ...]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import torch

from cgbench.dataset import build_family, rebuild_command
from cgbench.families import family_spec, list_families
from cgbench.graph import from_module
from cgbench.storage import read_manifest

N_COMPOSE, N_BUILD, N_CAPTURE = 400, 100, 20


def per_second(n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def space_rates(space) -> dict[str, float]:
    configs = space.sample_unique(N_COMPOSE, seed=0)
    fresh = type(space)()
    composed = per_second(len(configs), lambda: [fresh.composed(c) for c in configs])
    built = per_second(N_BUILD, lambda: [space.build(c) for c in configs[:N_BUILD]])

    def capture() -> None:
        for config in configs[:N_CAPTURE]:
            with torch.device("meta"):
                net = space.build(config)
            from_module(net, space.input_shape)

    return {"composed": composed, "built": built, "captured": per_second(N_CAPTURE, capture)}


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    rows = []
    for name in names:
        spec = family_spec(name)
        if spec.space is None or spec.import_command is not None:
            continue
        rates = space_rates(spec.space)
        with tempfile.TemporaryDirectory() as home:
            os.environ["CGBENCH_HOME"] = home
            start, cpu = time.perf_counter(), time.process_time()
            folder = build_family(name, progress=False)
            build_s, build_cpu_s = time.perf_counter() - start, time.process_time() - cpu
            n_archs = read_manifest(folder, name, spec.version, rebuild_command(spec))["n_archs"]
        rows.append((name, rates, build_s, build_cpu_s, n_archs))
        print(f"{name}: {rates} build {build_s:.1f}s ({build_cpu_s:.1f}s CPU) for {n_archs}", flush=True)
    print()
    print("| family | archs | composed CGs/s | plain construction/s | whole capture/s | composed vs construction "
          "| composed vs capture | full build s (CPU s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r, build_s, build_cpu_s, n_archs in rows:
        print(f"| {name} | {n_archs:,} | {r['composed']:.0f} | {r['built']:.0f} | {r['captured']:.1f} "
              f"| {r['composed'] / r['built']:.1f}x | {r['composed'] / r['captured']:.0f}x "
              f"| {build_s:.1f} ({build_cpu_s:.1f}) |")


if __name__ == "__main__":
    main(sys.argv[1:] or list_families())

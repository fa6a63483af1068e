"""Capture coverage of the model zoos: fx vs export vs failures per timm module, with timing.

Runs the whole of timm's results-imagenet.csv (every architecture at every evaluation size)
and every torchvision classification builder through the zoo families' own cached capture
(``cgbench.families.timm_zoo.capture_timm``), so a later ``cgbench build timm_zoo`` with the
same ``CGBENCH_HOME`` reuses the captures. Interrupt and rerun to resume.

Run: ``CGBENCH_MIRROR=../shared/data CGBENCH_HOME=/tmp/zoo-home nice -n 19 .venv/bin/python benchmarks/bench_zoo_coverage.py``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from tqdm.auto import tqdm

from cgbench.families.timm_zoo import RESULTS, ZooCapture, capture_timm, timm_modules
from cgbench.formats.timm_results import read_timm_results
from cgbench.sources import fetch


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def print_table(by_module: dict[str, list[ZooCapture]]) -> None:
    print(f"\n{'timm module':28s} {'archs':>5s} {'fx':>4s} {'export':>6s} {'failed':>6s} {'median s':>8s}")
    totals = defaultdict(int)
    for module, records in sorted(by_module.items()):
        counts = {m: sum(r.method == m for r in records) for m in ("fx", "export")}
        failed = sum(not r.ok for r in records)
        median = statistics.median(r.seconds for r in records)
        print(f"{module:28s} {len(records):5d} {counts['fx']:4d} {counts['export']:6d} {failed:6d} {median:8.2f}")
        totals["archs"] += len(records)
        totals["fx"] += counts["fx"]
        totals["export"] += counts["export"]
        totals["failed"] += failed
    print(f"{'TOTAL':28s} {totals['archs']:5d} {totals['fx']:4d} {totals['export']:6d} {totals['failed']:6d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N capture keys (a quick look)")
    args = parser.parse_args()
    results = read_timm_results(fetch(RESULTS, progress=False))
    firsts = {r.capture_key: r for r in reversed(results)}
    keys = list(firsts)[: args.limit]
    modules = timm_modules()
    start = time.perf_counter()
    captures: dict[str, ZooCapture] = {}
    for key in tqdm(keys, desc="timm captures", mininterval=5):
        captures[key] = capture_timm(firsts[key])
    wall = time.perf_counter() - start
    by_module: dict[str, list[ZooCapture]] = defaultdict(list)
    for key, record in captures.items():
        by_module[modules.get(firsts[key].architecture, "?")].append(record)
    print_table(by_module)
    archs = {firsts[k].architecture for k in keys}
    ok_archs = {firsts[k].architecture for k in keys if captures[k].ok}
    rows = [r for r in results if r.capture_key in captures]
    ok_rows = [r for r in rows if captures[r.capture_key].ok]
    print(f"\narchitectures: {len(ok_archs)}/{len(archs)} captured ({100 * len(ok_archs) / len(archs):.1f}%)")
    print(f"rows (model tags): {len(ok_rows)}/{len(rows)} ({100 * len(ok_rows) / len(rows):.1f}%)")
    for method in ("fx", "export"):
        times = [c.seconds for c in captures.values() if c.method == method]
        if times:
            print(f"{method}: {len(times)} captures, build+capture+count s median {statistics.median(times):.2f}, "
                  f"p95 {percentile(times, 0.95):.2f}, max {max(times):.1f}")
    print(f"wall time this run: {wall:.0f} s (cached captures are read, not redone)")
    print(f"sum of per-capture times: {sum(c.seconds for c in captures.values()):.0f} s")
    print("\nfailures:")
    for key, record in captures.items():
        if not record.ok:
            print(f"  {key} [{modules.get(firsts[key].architecture, '?')}] {record.failure_stage}: {record.failure}")


if __name__ == "__main__":
    main()

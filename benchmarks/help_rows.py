"""Device transfer on HELP's own evaluation rows, beside HELP's published Spearman (like with like).

HELP (HayeonLee/HELP, loader.py and scripts/run_meta_test_*.sh) scores a meta-test device on the
1,000 architectures after its training pool (NB-201 indices 900-1,899, FBNet 4,000-4,999) less the
10% fastest and the 10% slowest on that device: 800 rows per device. cgbench's rows are in those
indices' order (NB-201's official index; HELP's FBNet arch.pt). This script fits each method as the
device-transfer tracks do (the quick protocol's rows: source devices' train part, k shots of the
held-out device from the train part, seeds 0-4) and scores it both on cgbench's test part and on
HELP's rows (less any shot among them), with HELP's 10-shot values and HELP's FLOPs row beside.

    .venv/bin/python benchmarks/help_rows.py --methods flops device_embedding --shots 0 10 20
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats
from tqdm import tqdm

from baselines.protocol import Protocol, RunMaker, RunSpec, fine_tuned, load_families
from cgbench.tasks import (DEFAULT_SEEDS, HELD_OUT_DEVICES, HELP_10_SHOT, HELP_FLOPS, HELP_OUTLIER_SHARE,
                           HELP_QUERY_SIZE, HELP_QUERY_START)


def help_rows(family, target: str) -> np.ndarray:
    """HELP's scored rows of ``target``: its query indices less the 10% fastest and slowest there."""
    start = HELP_QUERY_START[family.name]
    rows = np.arange(start, start + HELP_QUERY_SIZE)
    order = rows[np.argsort(family.labels(target)[rows], kind="stable")]
    cut = int(HELP_OUTLIER_SHARE * len(rows))
    return np.sort(order[cut:len(order) - cut])


def scores(maker: RunMaker, method: str, family: str, target: str, shots: int, seed: int) -> tuple[float, float]:
    """Spearman on cgbench's test part and on HELP's rows (less the shots) of one run."""
    spec = RunSpec(method, f"device_transfer_k{shots}", family, target, seed)
    task = maker.problem(spec)
    predictor = fine_tuned(maker.fit(spec).predictor, task.shots, seed)
    data = maker.families[family]
    test = task.predict_indices
    rows = np.setdiff1d(help_rows(data, target), task.shots.indices if task.shots is not None else [])
    labels = data.labels(target)
    return (stats.spearmanr(labels[test], predictor.predict(data, test)).statistic,
            stats.spearmanr(labels[rows], predictor.predict(data, rows)).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["flops", "device_embedding"])
    parser.add_argument("--families", nargs="+", default=list(HELP_QUERY_START))
    parser.add_argument("--shots", nargs="+", type=int, default=[0, 10, 20])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS))
    args = parser.parse_args()
    protocol = Protocol(families=tuple(args.families), tracks=tuple(f"device_transfer_k{k}" for k in args.shots))
    maker = RunMaker(protocol, load_families(protocol, progress=False))
    jobs = [(m, f, t, k, s) for m in args.methods for f in args.families for k in args.shots
            for s in args.seeds for t in HELD_OUT_DEVICES[f]]
    results: dict[tuple, list[tuple[float, float]]] = {}
    # Seed-major within a (method, family, k) so that the devices of one seed share one fit.
    for method, family, target, shots, seed in tqdm(sorted(jobs, key=lambda j: (j[0], j[1], j[3], j[4])),
                                                    desc="runs", unit="run"):
        results.setdefault((method, family, shots, target), []).append(scores(maker, method, family, target,
                                                                              shots, seed))
    print(f"Spearman, mean ± std over seeds {args.seeds}: cgbench's test part | HELP's rows (800 per device, "
          "less shots); HELP's published 10-shot value and FLOPs row as its table lists them")
    print(f"{'method':18s} {'family':6s} {'k':>3s} {'device':22s} {'test part':>15s} {'HELP rows':>15s} "
          f"{'HELP':>6s} {'HELP FLOPs':>10s}")
    means: dict[tuple, list[float]] = {}
    for (method, family, shots, target), values in results.items():
        test, rows = np.array(values).T
        means.setdefault((method, family, shots), []).append(rows.mean())
        help_value, help_flops = HELP_10_SHOT.get((family, target)), HELP_FLOPS.get((family, target))
        print(f"{method:18s} {family:6s} {shots:3d} {target:22s} {test.mean():7.3f} ± {test.std(ddof=1):5.3f} "
              f"{rows.mean():7.3f} ± {rows.std(ddof=1):5.3f} {help_value or float('nan'):6.3f} "
              f"{help_flops or float('nan'):10.3f}")
    print("\nmean over the held-out devices on HELP's rows (HELP 10-shot: nb201 0.932, fbnet 0.907):")
    for (method, family, shots), values in means.items():
        print(f"  {method:18s} {family:6s} k={shots:<3d} {np.mean(values):.3f}")


if __name__ == "__main__":
    main()

"""GENNAPE training time against training-set size, on NB-201 rows, one CPU thread by default.

For each size, fits the ``gennape`` predictor with 2 contrastive and 2 supervised epochs and
reports the seconds per epoch of each stage (the mean over its 2 epochs), the
whole fit, and what the CPU defaults (3 contrastive + 15 supervised epochs) would take. The
last column is each row's per-epoch time divided by the previous row's: 2.0 for a doubling
of the rows means linear scaling.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_gennape.py [--sizes 250 500 ...]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines.gennape import GennapePredictor
from baselines.gennape.predictor import GennapeSettings
from baselines.predictor import TrainingSet
from cgbench import load_family

SIZES = (250, 500, 1000, 2000, 4000)
BENCH_EPOCHS = 2


def time_fit(family, n_rows: int, device: str) -> dict[str, float]:
    rows = np.random.default_rng(0).permutation(len(family))[:n_rows]
    predictor = GennapePredictor(device=device, pretrain_epochs=BENCH_EPOCHS, epochs=BENCH_EPOCHS)
    start = time.perf_counter()
    predictor.fit([TrainingSet(family, rows, family.default_target)], seed=0)
    total = time.perf_counter() - start
    contrastive, supervised = predictor.seconds_per_epoch["contrastive"], predictor.seconds_per_epoch["supervised"]
    fixed = total - BENCH_EPOCHS * (contrastive + supervised)  # loading CGs, embeddings, clustering
    defaults = GennapeSettings.for_scale(paper_scale=False)
    projected = fixed + defaults.pretrain_epochs * contrastive + defaults.epochs * supervised
    return {"contrastive": contrastive, "supervised": supervised, "fit": total, "default_fit": projected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    family = load_family("nb201")
    print(f"GENNAPE on nb201, device {args.device}, {args.threads} thread(s); {BENCH_EPOCHS} epochs per stage timed")
    header = (f"{'rows':>6} {'contrastive s/epoch':>20} {'supervised s/epoch':>19} {'fit s':>7} "
              f"{'default fit s':>14} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    previous = None
    for n in args.sizes:
        t = time_fit(family, n, args.device)
        per_epoch = t["contrastive"] + t["supervised"]
        ratio = f"{per_epoch / previous:6.2f}" if previous else f"{'':>6}"
        previous = per_epoch
        print(f"{n:>6} {t['contrastive']:>20.2f} {t['supervised']:>19.2f} {t['fit']:>7.1f} "
              f"{t['default_fit']:>14.1f} {ratio}", flush=True)


if __name__ == "__main__":
    main()

"""Several small networks on one GPU: the local backend with K worker processes per GPU against one.

The same plan size (``--n-units`` HiAML networks, ``--epochs`` epochs of the ``short12`` settings at
batch 256 in bf16) is launched through ``labeling.backends.local`` once per ``--per-gpu`` value, on
synthetic CIFAR-shaped data written in the official batch format (50,000 + 10,000 images, so the
training path is the real one). It prints the wall time of each whole launch (process start, data
load and every unit included), the training images per second over the launch, the ratio to the
first setting and each unit's own images/s. GPU only: on a CPU the backend runs one process.

    PYTHONPATH=. python benchmarks/bench_label_concurrency.py --work /tmp/concurrency --per-gpu 1 4
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from cgbench.jobs.backends.local import launch
from cgbench.jobs.store import ResultStore
from cgbench.jobs.worker import WorkerOptions
from labeling.cifar10 import synthetic_cifar10, write_cifar10_batches
from labeling.plan import make_plan
from labeling.recipe import get_recipe

N_TRAIN, N_TEST = 50_000, 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data and the plans")
    parser.add_argument("--per-gpu", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--n-units", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--family", default="hiaml")
    args = parser.parse_args()
    train, test = synthetic_cifar10(N_TRAIN, N_TEST, seed=0)
    write_cifar10_batches(args.work / "data", train, test)
    recipe = replace(get_recipe("short12"), name="concurrency_bench", epochs=args.epochs)
    baseline = None
    for per_gpu in args.per_gpu:
        plan = make_plan(args.family, args.n_units, seed=per_gpu, recipe=recipe,
                         folder=args.work / f"plan-{per_gpu}", progress=False)
        start = time.perf_counter()
        report = launch(plan, options=WorkerOptions(data_root=str(args.work / "data")), devices="cuda", per_gpu=per_gpu, wait=True,
                        progress=False)
        wall = time.perf_counter() - start
        store = ResultStore(plan)
        done = [store.read(u.unit_id) for u in plan.units if store.done(u.unit_id)]
        rate = len(done) * args.epochs * N_TRAIN / wall
        baseline = baseline or rate
        per_unit = [round(r["train"]["images_per_second"]) for r in done]
        print(f"per_gpu={per_gpu}: {len(done)}/{args.n_units} units, wall {wall:.1f} s, {rate:,.0f} images/s "
              f"over the launch ({rate / baseline:.2f}x), exit codes {report.returncodes}, per unit {per_unit}",
              flush=True)


if __name__ == "__main__":
    main()

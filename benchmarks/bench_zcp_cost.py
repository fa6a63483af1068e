"""Which zero-cost proxies fit the default 10-minute main job? Seconds per network on this CPU.

For every proxy (random-input recipe, as ``zc_ranker`` scores) and every family of the default
protocol, the wall time of building the seeded network and scoring it (what
``baselines.zcp.scoring.score_family`` spends per row) on ``--n`` networks, one torch thread.
The last table projects the cost of scoring every row the default protocol makes ``zc_ranker``
predict or train on (the few-shot test part is the whole family but its 50 shots, so in effect
every row of every default family) and marks the proxies that fit ``--budget`` seconds.

    nice .venv/bin/python benchmarks/bench_zcp_cost.py --n 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines.protocol import DEFAULT_FAMILIES
from baselines.zc_ranker import RECIPE_OVERRIDES
from baselines.zcp.proxies import list_proxies
from baselines.zcp.scoring import family_space, proxy_recipe, recipe_batches, seeded_network, timed_score
from cgbench.dataset import load_family


def seconds_per_network(family, proxy: str, n: int, seed: int) -> float:
    space = family_space(family)
    recipe = proxy_recipe(proxy, RECIPE_OVERRIDES)
    batch = recipe_batches(recipe, space, "cpu")
    rows = np.random.default_rng(seed).choice(len(family), size=n, replace=False)
    started = time.perf_counter()
    for row in rows:
        timed_score(proxy, seeded_network(space, family.arch_ids[int(row)], recipe, "cpu"), batch, recipe)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3, help="networks per family and proxy")
    parser.add_argument("--families", nargs="+", default=list(DEFAULT_FAMILIES))
    parser.add_argument("--proxies", nargs="+", default=list_proxies())
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds of the main job's 10 minutes that proxy scoring may take (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    families = {name: load_family(name, progress=False) for name in args.families}
    rows = {name: len(f) for name, f in families.items()}
    print(f"seconds per network (build + score), {args.n} networks each, 1 thread; rows: {rows}")
    print(f"{'proxy':12s} " + " ".join(f"{name:>15s}" for name in families) + f" {'all rows (s)':>13s}  fits")
    for proxy in args.proxies:
        per_network = {}
        for name, family in families.items():
            try:
                per_network[name] = seconds_per_network(family, proxy, args.n, args.seed)
            except RuntimeError as error:  # e.g. a second-order proxy through an op without a double backward
                print(f"{proxy} fails on {name}: {str(error).splitlines()[0]}")
                per_network[name] = float("nan")
        total = sum(per_network[name] * rows[name] for name in families)
        print(f"{proxy:12s} " + " ".join(f"{per_network[name]:15.3f}" for name in families)
              + f" {total:13.0f}  {'yes' if total <= args.budget else 'no'}", flush=True)


if __name__ == "__main__":
    main()

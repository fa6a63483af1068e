"""Leave-one-family-out (LOFO) and NB-101 -> NB-201 zero-shot experiments for the baselines.

A scratch experiment until the tracks live in the core: for each held-out family H and seed,
train a predictor on every *other* labelled family and score the ``random`` test part of H; report
Spearman's rho, the FLOPs ranking's rho on the same rows, and the partial Spearman given FLOPs
(the rank correlation left after FLOPs are accounted for: partial Pearson correlation of the
ranks of truth and prediction given the ranks of FLOPs; log-FLOPs has the same ranks as FLOPs).

Training rows of a source family: one row per canonical CG (``wl_hash``), label = the mean over
the rows sharing it (NB-201 has 15,625 rows but 5,425 distinct CGs; NB-101's 500 rows are 292),
then at most ``--cap`` of them (a seeded draw). Labels are put on one scale per family: each
family's percentile ranks x 100 (so "accuracy-like", positive, as GENNAPE's FLOPs quotient needs;
``graf`` ranks them again itself). The held-out family is never read for training: its rows
enter only through ``predict`` (``graf``'s ``family_rank`` features use its CGs and FLOPs, never
its labels).

``--nb101-zero-shot`` also runs GENNAPE's protocol: train on the distinct NB-101 cells (raw mean
labels) and score NB-201's ``random`` test part.

    nice .venv/bin/python benchmarks/exp_lofo.py --methods flops graf --seeds 0 1 2 --out results/lofo.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import baselines.gennape  # noqa: F401  (registers the predictors)
import baselines.graf  # noqa: F401
import baselines.simple  # noqa: F401
from baselines.predictor import TrainingSet
from baselines.predictors import make_predictor
from cgbench.dataset import Family, load_family

FAMILIES = ("nb201", "nb101", "nasbench_macro", "ofa_mbv3", "tnb101_micro", "tnb101_macro")
# name -> (registered predictor, options). Epochs sized for two shared CPU cores.
METHODS: dict[str, tuple[str, dict]] = {
    "flops": ("flops", {}),
    "params": ("params", {}),
    "graf": ("graf", {}),
    "graf_free": ("graf", {"monotone_cost": False}),
    "graf_raw": ("graf", {"features": "raw"}),
    "graf_family_rank": ("graf", {"features": "family_rank"}),
    "graf_lambdarank": ("graf", {"objective": "lambdarank"}),
    "graf_flops_prior": ("graf", {"flops_prior": 1.0}),
    "gin": ("gin", {"epochs": 20, "device": "cpu"}),
    "gennape": ("gennape", {"pretrain_epochs": 2, "epochs": 10, "device": "cpu"}),
    "gennape_notf": ("gennape_notf", {"pretrain_epochs": 2, "epochs": 10, "device": "cpu"}),
    "gennape_head": ("gennape_head", {"pretrain_epochs": 2, "epochs": 10, "device": "cpu"}),
}


@dataclass(frozen=True)
class PreparedTrainingSet(TrainingSet):
    """Rows with labels given here (per-CG means, per-family normalised) instead of the family's column."""

    values: np.ndarray

    def labels(self) -> np.ndarray:
        return self.values


def _sample_std(values: np.ndarray) -> str:
    return f"{values.std(ddof=1):.3f}" if len(values) > 1 else "  nan"


def distinct_rows(family: Family) -> tuple[np.ndarray, np.ndarray]:
    """One labelled row per canonical CG (the first), with the mean label of the rows sharing its hash."""
    labels = family.labels()
    hashes = np.asarray(family.table.column("wl_hash").to_pylist())
    labelled = np.flatnonzero(~np.isnan(labels))
    _, first, inverse = np.unique(hashes[labelled], return_index=True, return_inverse=True)
    means = np.bincount(inverse, weights=labels[labelled]) / np.bincount(inverse)
    return labelled[first], means


def source_set(family: Family, cap: int | None, seed: int, normalise: bool) -> PreparedTrainingSet:
    rows, labels = distinct_rows(family)
    if cap is not None and len(rows) > cap:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), cap, replace=False))
        rows, labels = rows[keep], labels[keep]
    if normalise:
        labels = 100 * (stats.rankdata(labels) - 0.5) / len(labels)
    return PreparedTrainingSet(family, rows, family.default_target, labels)


def partial_spearman(y: np.ndarray, p: np.ndarray, z: np.ndarray) -> float:
    """Partial Spearman correlation of ``y`` and ``p`` given ``z``: partial correlation of their ranks."""
    ry, rp, rz = (stats.rankdata(v) for v in (y, p, z))
    r = np.corrcoef([ry, rp, rz])
    r_yp, r_yz, r_pz = r[0, 1], r[0, 2], r[1, 2]
    return float((r_yp - r_yz * r_pz) / np.sqrt((1 - r_yz ** 2) * (1 - r_pz ** 2)))


def score(predictor, family: Family) -> dict:
    test = family.get_idx_split("random")["test"]
    y = family.labels()[test]
    test, y = test[~np.isnan(y)], y[~np.isnan(y)]
    flops = family.table.column("flops").to_numpy()[test].astype(np.float64)
    prediction = predictor.predict(family, test)
    return {"spearman": float(stats.spearmanr(y, prediction)[0]), "flops_spearman": float(stats.spearmanr(y, flops)[0]),
            "partial_spearman": partial_spearman(y, prediction, flops), "n_test": len(test)}


def run(method: str, sources: list[Family], target: Family, seed: int, cap: int | None, normalise: bool) -> dict:
    name, options = METHODS[method]
    started = time.perf_counter()
    data = [source_set(f, cap, seed, normalise) for f in sources]
    if target.name in {d.family.name for d in data}:
        raise AssertionError(f"the held-out family {target.name} is among the training families")
    predictor = make_predictor(name, **options)
    predictor.fit(data, seed)
    result = score(predictor, target)
    return {"method": method, "target": target.name, "sources": [f.name for f in sources], "seed": seed,
            "n_train": int(sum(len(d.indices) for d in data)), "seconds": round(time.perf_counter() - started, 1),
            **result}


def table(results: list[dict], track: str) -> str:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        if r["track"] == track:
            groups.setdefault((r["method"], r["target"]), []).append(r)
    lines = [f"{'method':18s} {'held-out':15s} {'spearman':>15s} {'flops':>7s} {'partial|flops':>15s} {'beats':>6s} "
             f"{'seeds':>5s} {'n_train':>7s} {'s/run':>6s}"]
    for (method, target), rs in sorted(groups.items()):
        rho = np.array([r["spearman"] for r in rs])
        partial = np.array([r["partial_spearman"] for r in rs])
        flops = rs[0]["flops_spearman"]
        lines.append(f"{method:18s} {target:15s} {rho.mean():7.3f} ± {_sample_std(rho)} {flops:7.3f} {partial.mean():7.3f} ± "
                     f"{_sample_std(partial)} {'yes' if rho.mean() > flops + 1e-9 else 'no':>6s} {len(rs):5d} {rs[0]['n_train']:7d} "
                     f"{np.mean([r['seconds'] for r in rs]):6.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["flops", "graf"], choices=sorted(METHODS))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--held-out", nargs="+", help="held-out families to score (default: every family)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cap", type=int, help="most distinct training CGs per source family (default: all)")
    parser.add_argument("--no-lofo", action="store_true", help="skip the leave-one-family-out runs")
    parser.add_argument("--nb101-zero-shot", action="store_true", help="also NB-101 -> NB-201 zero-shot")
    parser.add_argument("--out", type=Path, help="append the runs as JSON lines to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    families = {name: load_family(name, progress=False) for name in args.families}
    results = []

    def record(result: dict) -> None:
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")

    for seed in args.seeds:
        for method in args.methods:
            if args.nb101_zero_shot:
                record({"track": "nb101_to_nb201", **run(method, [families["nb101"]], families["nb201"], seed,
                                                         None, normalise=False)})
            if args.no_lofo:
                continue
            for target in args.held_out or args.families:
                sources = [families[n] for n in args.families if n != target]
                record({"track": "lofo", **run(method, sources, families[target], seed, args.cap, normalise=True)})
    for track in ("lofo", "nb101_to_nb201"):
        if any(r["track"] == track for r in results):
            print(f"\n{track}\n{table(results, track)}")


if __name__ == "__main__":
    main()

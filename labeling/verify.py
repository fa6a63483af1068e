"""Reproducibility check: retrain K random finished units and compare with their stored results.

The retrains go to ``<plan>/verify/`` (their own result store and checkpoints, so they never touch
the plan's results and a cut-off verification resumes), and ``<plan>/verify/report.json`` holds
the comparison: per unit the stored and retrained final (and best) test accuracy and their
absolute difference, the mean and max absolute difference, and the Spearman rank correlation of
the final accuracies when K >= 3 (below three points a rank correlation says nothing).

What agreement to expect: on CPU in fp32 with the same seed a retrain is bitwise identical; on
GPUs cuDNN's non-deterministic kernels and bf16 make it differ by a fraction of a point, and the
Spearman correlation then shows whether the ranking of architectures, which is what a predictor
benchmark needs, survives.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cgbench.errors import InvalidInputError
from cgbench.jobs.store import ResultStore, now_iso
from cgbench.storage import atomic_write_text

from .plan import TrainingPlan
from .unit import train_unit

MIN_UNITS_FOR_SPEARMAN = 3


@dataclass(frozen=True)
class UnitAgreement:
    unit_id: str
    arch_id: str
    seed: int
    stored_final: float
    retrained_final: float
    stored_best: float
    retrained_best: float

    @property
    def abs_diff(self) -> float:
        return abs(self.stored_final - self.retrained_final)


@dataclass(frozen=True)
class VerifyReport:
    units: tuple[UnitAgreement, ...]
    mean_abs_diff: float
    max_abs_diff: float
    spearman: float | None
    folder: Path

    def as_dict(self) -> dict:
        return {"units": [{**asdict(u), "abs_diff": u.abs_diff} for u in self.units],
                "mean_abs_diff": self.mean_abs_diff, "max_abs_diff": self.max_abs_diff, "spearman": self.spearman,
                "folder": str(self.folder), "time": now_iso()}

    def lines(self) -> list[str]:
        out = [f"{u.unit_id} {u.arch_id} seed {u.seed}: stored {u.stored_final:.4f}%, retrained "
               f"{u.retrained_final:.4f}%, |diff| {u.abs_diff:.4f}" for u in self.units]
        out.append(f"mean |diff| {self.mean_abs_diff:.4f}, max |diff| {self.max_abs_diff:.4f} (final test acc, %)")
        if self.spearman is not None:
            out.append(f"Spearman (stored vs retrained final) {self.spearman:.4f}")
        return out


def verify(plan: TrainingPlan, k: int, seed: int = 0, device: str = "cpu", data_root: str | Path | None = None,
           progress: bool = True, compile: bool = False) -> VerifyReport:
    from .cifar10 import default_data_root, load_cifar10

    store = ResultStore(plan)
    finished = sorted(store.finished() & set(plan.units_by_id))
    if not 1 <= k <= len(finished):
        raise InvalidInputError(f"k must be between 1 and the {len(finished)} finished units of {plan.folder}, got {k}")
    chosen = [finished[i] for i in np.random.default_rng(seed).choice(len(finished), size=k, replace=False)]
    folder = plan.folder / "verify"
    retrains = ResultStore(plan, results_dir=folder / "results", failures_dir=folder / "failures")
    data = None
    for uid in tqdm(chosen, desc="retraining", unit="net", disable=not progress):
        if retrains.done(uid):
            continue
        data = data or load_cifar10(data_root or default_data_root())
        checkpoint = folder / "checkpoints" / f"{uid}.pt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        retrains.write(uid, train_unit(plan, plan.unit(uid), data, device, checkpoint, compile, progress))
        checkpoint.unlink(missing_ok=True)
    report = _compare(store, retrains, chosen, folder)
    atomic_write_text(folder / "report.json", json.dumps(report.as_dict(), indent=2))
    return report


def _compare(store: ResultStore, retrains: ResultStore, unit_ids: list[str], folder: Path) -> VerifyReport:
    from scipy.stats import spearmanr

    units = []
    for uid in unit_ids:
        original, again = store.read(uid), retrains.read(uid)
        units.append(UnitAgreement(uid, original["unit"]["arch_id"], original["unit"]["seed"],
                                   original["train"]["final_test_acc"], again["train"]["final_test_acc"],
                                   original["train"]["best_test_acc"], again["train"]["best_test_acc"]))
    diffs = np.array([u.abs_diff for u in units])
    stored, retrained = [u.stored_final for u in units], [u.retrained_final for u in units]
    spearman = None
    # A constant side (every network at chance, say) has no ranking to compare.
    if len(units) >= MIN_UNITS_FOR_SPEARMAN and len(set(stored)) > 1 and len(set(retrained)) > 1:
        spearman = float(spearmanr(stored, retrained).statistic)
    return VerifyReport(tuple(units), float(diffs.mean()), float(diffs.max()), spearman, folder)

"""The validator: checks a submission against the current family builds and recomputes its scores.

Nothing a submission claims about its own quality is read: every metric comes from
``cgbench.evaluation.Evaluator`` applied to the submitted predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cgbench import Evaluator, Family, list_families, load_family

from .submission import InvalidSubmissionError, Run, Submission, load_submission

__all__ = ["InvalidSubmissionError", "RunMetrics", "SeedSummary", "ValidatedSubmission", "cached_loader", "json_safe",
           "validate_submission"]

FamilyLoader = Callable[[str], Family]


@dataclass(frozen=True)
class RunMetrics:
    """One run's metrics, recomputed by the Evaluator."""

    run: Run
    metrics: dict[str, float]


@dataclass(frozen=True)
class SeedSummary:
    """The runs of one (track, family) aggregated over seeds; ``std`` is None for a single seed."""

    track: str
    family: str
    target: str
    trained_on: tuple[str, ...]
    seeds: tuple[int, ...]
    mean: dict[str, float]
    std: dict[str, float | None]


@dataclass(frozen=True)
class ValidatedSubmission:
    submission: Submission
    runs: tuple[RunMetrics, ...]

    def summaries(self) -> list[SeedSummary]:
        groups: dict[tuple[str, str], list[RunMetrics]] = {}
        for result in self.runs:
            groups.setdefault((result.run.track, result.run.family), []).append(result)
        return [_summarise(results) for results in groups.values()]


def _summarise(results: list[RunMetrics]) -> SeedSummary:
    first = results[0].run
    names = [k for k in results[0].metrics if k != "n"]
    values = {k: np.array([r.metrics[k] for r in results], float) for k in names}
    return SeedSummary(
        track=first.track, family=first.family, target=first.target, trained_on=first.trained_on,
        seeds=tuple(sorted(r.run.seed for r in results)),
        mean={k: float(np.mean(v)) for k, v in values.items()},
        std={k: float(np.std(v, ddof=1)) if len(v) > 1 else None for k, v in values.items()})


def cached_loader(load: FamilyLoader | None = None) -> FamilyLoader:
    """A family loader that loads (and verifies) each family once; share it across many submissions."""
    loaded: dict[str, Family] = {}
    load = load or load_family  # a family built on first use announces its build phases

    def get(name: str) -> Family:
        if name not in loaded:
            loaded[name] = load(name)
        return loaded[name]

    return get


def validate_submission(submission: Submission | str | Path, load: FamilyLoader | None = None) -> ValidatedSubmission:
    """Check ``submission`` (or the file it is in) and recompute every run's metrics.

    Raises ``InvalidSubmissionError`` naming the run and the problem.
    """
    if not isinstance(submission, Submission):
        submission = load_submission(submission)
    load = load or cached_loader()
    families = {name: _current_family(name, submission, load) for name in submission.families}
    evaluators: dict[tuple[str, str, str, str], Evaluator] = {}
    results = []
    for i, run in enumerate(submission.runs):
        where = f"run #{i} ({run.label()})"
        _check_trained_on_labelled(run, families, where)
        family = families[run.family]
        if run.target not in family.targets:
            known = f"its label columns are {family.targets}" if family.targets else "it is unlabelled"
            raise InvalidSubmissionError(f"{where}: unknown target {run.target!r} for {run.family}; {known}")
        key = (run.family, run.split, run.part, run.target)
        if key not in evaluators:
            evaluators[key] = Evaluator(family, split=run.split, part=run.part, target=run.target)
        results.append(RunMetrics(run, evaluators[key].eval(_aligned(run, evaluators[key], where))))
    return ValidatedSubmission(submission, tuple(results))


def _aligned(run: Run, evaluator: Evaluator, where: str) -> np.ndarray:
    """The predictions as an array aligned with ``evaluator.arch_ids``.

    Some families list one arch_id on several rows (nb101: isomorphic cells NASLib lists under
    several keys, each with its own training run); they share one CG, so one prediction per
    arch_id scores all of its rows.
    """
    expected = dict.fromkeys(evaluator.arch_ids)
    scope = f"{run.family} {run.split}/{run.part} (target {run.target})"
    unknown = [a for a in run.predictions if a not in expected]
    if unknown:
        raise InvalidSubmissionError(
            f"{where}: {len(unknown)} arch_id(s) are not in {scope}, e.g. {unknown[:3]}; predict exactly "
            f"the {len(expected)} arch_ids of Evaluator({run.family!r}, {run.split!r}, {run.part!r}).arch_ids")
    missing = [a for a in expected if a not in run.predictions]
    if missing:
        raise InvalidSubmissionError(
            f"{where}: {len(missing)} arch_id(s) of {scope} have no prediction, e.g. {missing[:3]}; predict "
            f"exactly the {len(expected)} arch_ids of Evaluator({run.family!r}, {run.split!r}, {run.part!r}).arch_ids")
    return np.array([run.predictions[a] for a in evaluator.arch_ids], float)


def _current_family(name: str, submission: Submission, load: FamilyLoader) -> Family:
    if name not in list_families():
        raise InvalidSubmissionError(f"families: unknown family {name!r}; known families: {', '.join(list_families())}")
    family = load(name)
    claimed = submission.families[name]
    if (claimed.version, claimed.data_sha256) != (family.version, family.data_sha256):
        raise InvalidSubmissionError(
            f"families[{name!r}]: stale data version: the submission was made against version {claimed.version!r} "
            f"(data_sha256 {claimed.data_sha256[:16]}...), the current build is version {family.version!r} "
            f"(data_sha256 {family.data_sha256[:16]}...); rerun the method on the current data")
    return family


def _check_trained_on_labelled(run: Run, families: dict[str, Family], where: str) -> None:
    for name in run.trained_on:
        if not families[name].targets:
            raise InvalidSubmissionError(f"{where}: trained_on names {name!r}, which has no labels to train on")


def json_safe(value: float | None) -> float | None:
    """Metrics as JSON allows them: NaN (e.g. Spearman of constant predictions) becomes null."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value

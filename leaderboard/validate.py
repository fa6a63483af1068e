"""The validator: checks a submission against the current family builds and recomputes its scores.

Nothing a submission claims about its own quality is read: every run is scored by
:func:`cgbench.tasks.score_run`, which checks the track's rule and applies the Evaluator of the
run's split, part and target to the submitted predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cgbench import Family, load_family
from cgbench.errors import InvalidInputError
from cgbench.submission import InvalidSubmissionError, Submission, load_submission
from cgbench.tasks import Run, ScoredRun, SeedAggregate, aggregate, evaluator_for, score_run

__all__ = ["InvalidSubmissionError", "ValidatedSubmission", "cached_loader", "json_safe", "validate_submission"]

FamilyLoader = Callable[[str], Family]


@dataclass(frozen=True)
class ValidatedSubmission:
    submission: Submission
    runs: tuple[ScoredRun, ...]

    def summaries(self) -> list[SeedAggregate]:
        return aggregate(self.runs)


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
    evaluators: dict[tuple[str, str, str, str], object] = {}
    results = []
    for i, run in enumerate(submission.runs):
        where = f"run #{i} ({run.label()})"
        _check_trained_on_labelled(run, families, where)
        family = families[run.family]
        if run.target not in family.targets:
            known = f"its label columns are {family.targets}" if family.targets else "it is unlabelled"
            raise InvalidSubmissionError(f"{where}: unknown target {run.target!r} for {run.family}; {known}")
        key = (run.family, run.split, run.part, run.target)
        try:
            if key not in evaluators:
                evaluators[key] = evaluator_for(run, family)
            results.append(score_run(run, family, evaluator=evaluators[key]))
        except InvalidInputError as err:
            raise InvalidSubmissionError(f"{where}: {str(err).splitlines()[0]}; predict exactly the arch_ids of "
                                         f"Evaluator({run.family!r}, {run.split!r}, {run.part!r}, "
                                         f"target={run.target!r}).arch_ids") from None
    return ValidatedSubmission(submission, tuple(results))


def _current_family(name: str, submission: Submission, load: FamilyLoader) -> Family:
    family = load(name)
    claimed = submission.families[name]
    if (claimed.version, claimed.data_sha256) != (family.version, family.data_sha256):
        raise InvalidSubmissionError(
            f"families[{name!r}]: data version differs: the submission was made against version {claimed.version!r} "
            f"(data_sha256 {claimed.data_sha256[:16]}...), the current build is version {family.version!r} "
            f"(data_sha256 {family.data_sha256[:16]}...); rerun the method on the current data, or, if your "
            f"build predates this cgbench, rebuild it: cgbench build {name} --force")
    return family


def _check_trained_on_labelled(run: Run, families: dict[str, Family], where: str) -> None:
    for name in run.trained_on:
        if not families[name].targets:
            raise InvalidSubmissionError(f"{where}: trained_on names {name!r}, which has no labels to train on")


def json_safe(value: float | None) -> float | None:
    """Metrics as JSON allows them: NaN (e.g. Spearman of constant predictions) becomes null."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value

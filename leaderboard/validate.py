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
from cgbench.submission import InvalidSubmissionError, Submission, is_public_address, load_submission
from cgbench.tasks import Run, ScoredRun, SeedAggregate, aggregate, evaluator_for, score_run

__all__ = ["InvalidSubmissionError", "ValidatedSubmission", "cached_loader", "summary_lines", "validate_submission"]

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


def validate_submission(submission: Submission | str | Path, load: FamilyLoader | None = None,
                        shipped: bool = False) -> ValidatedSubmission:
    """Check ``submission`` (or the file it is in) and recompute every run's metrics; ``shipped``: also the
    rules of the shipped leaderboard (its code at a public http(s) address, not a local path).

    Raises ``InvalidSubmissionError`` naming the run and the problem.
    """
    if not isinstance(submission, Submission):
        submission = load_submission(submission)
    if shipped and not is_public_address(submission.method.code_url):
        raise InvalidSubmissionError(f"method.code_url is the local path {submission.method.code_url!r}: the shipped "
                                     "leaderboard links public code; give --code-url https://... (a local board "
                                     "accepts a path: `cgbench leaderboard render --add FILE`)")
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


def summary_lines(result: ValidatedSubmission) -> list[str]:
    """A short table of a validated submission: per (track, family, target), Spearman (mean ± std over seeds),
    the FLOPs ranking's on the same rows, the partial Spearman beyond FLOPs, and whether it beats FLOPs
    beyond seed noise (``cgbench.tasks.beats_flops``); MAE and MAPE only for target-scale methods."""
    from cgbench.tasks import beats_flops

    method = result.submission.method
    errors = method.scale == "target"
    header = ["track", "family", "target", "seeds", "spearman", "flops", "beyond flops", "beats flops"]
    rows = [header + (["mae", "mape"] if errors else [])]
    for a in result.summaries():
        row = [a.track, a.family, a.target, str(len(a.seeds)), _mean_std(a, "spearman"),
               f"{a.mean.get('flops_spearman', math.nan):.3f}", _mean_std(a, "spearman_beyond_flops"),
               "yes" if beats_flops(a) else "no"]
        if errors:
            row += [_mean_std(a, "mae"), _mean_std(a, "mape")]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    wins = sum(row[7] == "yes" for row in rows[1:])
    return [f"{method.name} ({method.protocol.badge()}; {method.scale} scale): {len(result.runs)} runs valid, every "
            "metric recomputed", *table, f"beats the FLOPs ranking beyond seed noise on {wins} of {len(rows) - 1}"]


def _mean_std(summary: SeedAggregate, key: str) -> str:
    mean, std = summary.mean.get(key, math.nan), summary.std.get(key)
    if mean is None or not math.isfinite(mean):
        return "nan"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"

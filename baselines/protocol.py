"""The benchmark protocol: three tracks, fixed seeds, runs aggregated over seeds.

Tracks (every family is scored on its default target, on the ``test`` part, with
:class:`cgbench.evaluation.Evaluator`):

- ``in_family``: fit on the ``train`` part of the family's ``random`` split (the ``valid`` part is
  handed to predictors whose ``fit`` takes a ``valid`` keyword, for early stopping), predict its
  ``random`` test part. ``trained_on`` = [family].
- ``zero_shot``: fit on every labelled row of one source family (default ``nb101``: its 500
  labelled cells, as GENNAPE pretrains on NAS-Bench-101), predict the ``random`` test part of
  every other family untouched. ``trained_on`` = [source].
- ``few_shot``: a copy of the zero-shot model is ``fine_tune``-d on the 50 ``train`` rows of the
  target family's ``fewshot50`` split and predicts that split's test part (the rest of the
  family). ``trained_on`` = [source, family].

Seeds 0..4 by default; each seed refits every predictor from scratch. Results are the mean and
the sample standard deviation (``ddof=1``, as the leaderboard reports; NaN for a single seed)
over seeds.

The default (quick) protocol is sized for two shared CPU cores. Its caps:

- methods: flops, params, gin, gennape. zc_ranker is opt-in (``--methods ... zc_ranker`` or
  ``--full``): it computes four zero-cost proxies for every row it scores, seconds per network on
  a CPU, hours for the default families;
- families: nb201, nb101, nasbench_macro, ofa_mbv3, tnb101_micro;
- every training set (in-family train parts, the zero-shot source) is subsampled to at most
  ``QUICK_TRAIN_CAP`` = 300 labelled rows per seed (a seeded draw, so seeds differ in their
  training rows as well as their initialisation); test parts are never capped (a submission must
  score every test row);
- learned predictors run with fewer epochs (``QUICK_PREDICTOR_OPTIONS``): GIN 10 epochs instead
  of its default 20; GENNAPE 2 contrastive + 8 supervised epochs instead of its CPU defaults
  3 + 15 (paper: 40 + 40) and 50 fine-tuning epochs instead of 100;
- the CLI runs torch with ``QUICK_TORCH_THREADS`` = 1 thread (``--threads``): on two shared cores,
  torch's default thread count made GIN training about ten times slower (measured: 144 s against
  16 s for one 300-row fit).

``full=True`` (``cgbench benchmark --full``) is the paper-scale protocol: every labelled family
that is built or buildable without user files (plus imported ones that are already built), all
rows, and each predictor's paper settings (``FULL_PREDICTOR_OPTIONS``, e.g. ``paper_scale=True``).
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from baselines.defaults import (DEFAULT_FAMILIES, DEFAULT_METHODS, DEFAULT_SEEDS,  # noqa: F401 (the protocol's names)
                                DEFAULT_SOURCE, FULL_METHODS, QUICK_TORCH_THREADS, QUICK_TRAIN_CAP, TRACKS)
from baselines.predictor import Predictor, TrainingSet, make_predictor
from cgbench.dataset import Family, family_folder
from cgbench.dataset import load_families as cgbench_load_families
from cgbench.errors import InvalidInputError
from cgbench.evaluation import Evaluator
from cgbench.families import family_spec
from cgbench.storage import is_built

TRACK_SPLITS = {"in_family": "random", "zero_shot": "random", "few_shot": "fewshot50"}
TEST_PART = "test"
# Fewer epochs than even the predictors' CPU-friendly defaults, so that 5 seeds x (6 fits + 4
# fine-tunes) per learned method fit in minutes; the full protocol switches to paper settings.
QUICK_PREDICTOR_OPTIONS: dict[str, dict] = {
    "gin": {"epochs": 10},
    "gennape": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
}
FULL_PREDICTOR_OPTIONS: dict[str, dict] = {"gennape": {"paper_scale": True}}
SUMMARY_METRICS = ("spearman", "kendall")
# GENNAPE's gap-thresholded Kendall is O(n^2) (seconds on the 15,575 few-shot test rows of nb201):
# the quick protocol leaves it out; the leaderboard recomputes every metric from the submissions.
QUICK_SKIPPED_METRICS = ("kendall_gennape",)


@dataclass(frozen=True)
class Protocol:
    """What a benchmark run covers: families, seeds, tracks, source family and caps."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    tracks: tuple[str, ...] = TRACKS
    source: str = DEFAULT_SOURCE
    # At most this many labelled training rows per fit (None: all); test parts are never capped.
    train_cap: int | None = QUICK_TRAIN_CAP
    predictor_options: dict[str, dict] = field(default_factory=lambda: dict(QUICK_PREDICTOR_OPTIONS))
    full: bool = False

    def __post_init__(self) -> None:
        unknown = [t for t in self.tracks if t not in TRACKS]
        if unknown:
            raise InvalidInputError(f"unknown track(s) {unknown}; expected some of {list(TRACKS)}")
        if not self.families:
            raise InvalidInputError("a protocol needs at least one family")
        if not self.seeds:
            raise InvalidInputError("a protocol needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise InvalidInputError(f"seeds must be distinct, got {list(self.seeds)}")
        if self.train_cap is not None and self.train_cap < 1:
            raise InvalidInputError(f"train_cap must be a positive number of rows or None, got {self.train_cap}")

    @classmethod
    def paper(cls, families: Sequence[str] | None = None, seeds: Sequence[int] = DEFAULT_SEEDS,
              tracks: Sequence[str] = TRACKS, source: str = DEFAULT_SOURCE) -> Protocol:
        """The paper-scale protocol: all labelled families, all rows, each predictor's own defaults."""
        return cls(families=tuple(families or labelled_families()), seeds=tuple(seeds), tracks=tuple(tracks),
                   source=source, train_cap=None, predictor_options=dict(FULL_PREDICTOR_OPTIONS), full=True)

    def options_for(self, method: str) -> dict:
        return dict(self.predictor_options.get(method, {}))

    def cap_lines(self) -> list[str]:
        """Every cap of this protocol, in words, for the printed output and the results file."""
        scale = "full (paper-scale)" if self.full else "quick (default; `--full` for the paper-scale protocol)"
        lines = [
            f"protocol: {scale}",
            f"families: {', '.join(self.families)}; zero-shot/few-shot source: {self.source}",
            f"seeds: {', '.join(map(str, self.seeds))} (mean and sample std over seeds)",
            "zc_ranker: " + ("in the default methods" if self.full else
                             "opt-in (`--methods ... zc_ranker` or `--full`; seconds per network on a CPU)"),
            "training rows per fit: " + ("all labelled rows" if self.train_cap is None else
                                         f"at most {self.train_cap} (seeded subsample of the labelled rows)"),
            "test parts: never capped",
            "run metrics: all of the Evaluator's" + ("" if self.full else
                                                     f" except {', '.join(QUICK_SKIPPED_METRICS)} (O(n^2))"),
        ]
        for method, options in sorted(self.predictor_options.items()):
            lines.append(f"predictor options for {method}: " + ", ".join(f"{k}={v}" for k, v in sorted(options.items())))
        return lines


def labelled_families() -> list[str]:
    """Families with a default target that can be loaded now: buildable ones, and imported ones already built."""
    from cgbench.families import list_families

    names = []
    for name in list_families():
        spec = family_spec(name)
        if spec.default_target is None:
            continue
        if spec.import_command is not None and not is_built(family_folder(spec)):
            continue
        names.append(name)
    return names


def labelled_rows(family: Family, indices: np.ndarray, target: str) -> np.ndarray:
    """The rows of ``indices`` whose ``target`` label is known."""
    return indices[~np.isnan(family.labels(target)[indices])]


def capped(indices: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """At most ``cap`` of ``indices``, drawn without replacement by ``seed`` (all of them when they fit)."""
    if cap is None or len(indices) <= cap:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, size=cap, replace=False))


def in_family_training(family: Family, seed: int, cap: int | None) -> TrainingSet:
    target = family.default_target
    rows = labelled_rows(family, family.get_idx_split("random")["train"], target)
    return TrainingSet(family, capped(rows, cap, seed), target)


def in_family_validation(family: Family) -> TrainingSet:
    target = family.default_target
    return TrainingSet(family, labelled_rows(family, family.get_idx_split("random")["valid"], target), target)


def source_training(family: Family, seed: int, cap: int | None) -> TrainingSet:
    """Every labelled row of the zero-shot source family (capped)."""
    target = family.default_target
    return TrainingSet(family, capped(labelled_rows(family, np.arange(len(family)), target), cap, seed), target)


def few_shot_training(family: Family) -> TrainingSet:
    """The 50 fine-tuning rows of the family's ``fewshot50`` split, never capped."""
    return TrainingSet(family, family.get_idx_split("fewshot50")["train"], family.default_target)


@dataclass
class Run:
    """One (method, track, family, seed): its predictions on the test part and their metrics."""

    method: str
    track: str
    family: str
    target: str
    seed: int
    trained_on: tuple[str, ...]
    n_train: int
    arch_ids: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    metrics: dict[str, float]
    seconds: float

    @property
    def split(self) -> str:
        return TRACK_SPLITS[self.track]

    @property
    def part(self) -> str:
        return TEST_PART

    def submission_entry(self) -> dict:
        """This run as one entry of a submission's ``runs`` (cgbench-submission-1)."""
        return {
            "track": self.track, "family": self.family, "split": self.split, "part": self.part,
            "target": self.target, "seed": self.seed, "trained_on": list(self.trained_on),
            "predictions": self.predictions_by_arch_id(),
        }

    def predictions_by_arch_id(self) -> dict[str, float]:
        """``{arch_id: score}``. Rows sharing an arch_id (nb101 lists isomorphic cells more than once) are
        the same network, so their scores must agree; a mapping keeps one of them."""
        by_id: dict[str, float] = {}
        for arch_id, score in zip(self.arch_ids, self.y_pred):
            score = float(score)
            kept = by_id.setdefault(arch_id, score)
            if not np.isclose(kept, score, rtol=1e-6, atol=1e-9):
                raise ValueError(f"{self.method} {self.track} {self.family} seed {self.seed}: rows with the same "
                                 f"arch_id {arch_id!r} got different scores {kept} and {score}; a submission "
                                 "holds one score per arch_id")
        return by_id

    def summary(self) -> dict:
        """The run without its predictions, for the results file."""
        return {"method": self.method, "track": self.track, "family": self.family, "split": self.split,
                "part": self.part, "target": self.target, "seed": self.seed, "trained_on": list(self.trained_on),
                "n_train": self.n_train, "n_test": len(self.arch_ids), "seconds": round(self.seconds, 3),
                "metrics": self.metrics}


def fit_predictor(predictor: Predictor, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
    """``predictor.fit``, also handing over ``valid`` rows when its ``fit`` takes a ``valid`` keyword."""
    if valid is not None and "valid" in inspect.signature(predictor.fit).parameters:
        predictor.fit(data, seed, valid=valid)
    else:
        predictor.fit(data, seed)


def evaluate(evaluator: Evaluator, y_pred: np.ndarray, skip: Sequence[str] = ()) -> dict[str, float]:
    """``evaluator.eval(y_pred)`` without the metrics named in ``skip``."""
    y_pred = evaluator.check(y_pred)
    metrics: dict[str, float] = {"n": len(y_pred)}
    for name, metric in evaluator.metrics.items():
        if name not in skip:
            value = metric(evaluator.y_true, y_pred)
            metrics[name] = value if np.isfinite(value) else float("nan")
    return metrics


def score(method: str, track: str, predictor: Predictor, family: Family, seed: int, trained_on: Iterable[str],
          n_train: int, started: float, full_metrics: bool = False) -> Run:
    """Predict the test part of ``track``'s split of ``family`` and evaluate it."""
    evaluator = Evaluator(family, TRACK_SPLITS[track], TEST_PART)
    y_pred = np.asarray(predictor.predict(family, evaluator.indices), dtype=np.float64)
    if y_pred.shape != evaluator.indices.shape:
        raise ValueError(f"{method}.predict on {family.name} returned shape {y_pred.shape}, "
                         f"expected {evaluator.indices.shape} (one score per requested row)")
    metrics = evaluate(evaluator, y_pred, skip=() if full_metrics else QUICK_SKIPPED_METRICS)
    return Run(method=method, track=track, family=family.name, target=evaluator.target, seed=seed,
               trained_on=tuple(trained_on), n_train=n_train, arch_ids=evaluator.arch_ids, y_true=evaluator.y_true,
               y_pred=y_pred, metrics=metrics, seconds=time.perf_counter() - started)


class MethodRunner:
    """Runs every track of a protocol for one method; keeps the last fitted predictor for its metadata."""

    def __init__(self, method: str, protocol: Protocol, families: dict[str, Family],
                 factory: Callable[..., Predictor] = make_predictor) -> None:
        self.method, self.protocol, self.families = method, protocol, families
        self.factory = factory
        self.last_predictor: Predictor | None = None

    def new_predictor(self) -> Predictor:
        self.last_predictor = self.factory(self.method, **self.protocol.options_for(self.method))
        return self.last_predictor

    @property
    def targets(self) -> list[str]:
        """Families the zero-shot and few-shot tracks predict: all but the source."""
        return [name for name in self.protocol.families if name != self.protocol.source]

    def n_runs(self) -> int:
        tracks = self.protocol.tracks
        per_seed = (len(self.protocol.families) if "in_family" in tracks else 0) + len(self.targets) * (
            ("zero_shot" in tracks) + ("few_shot" in tracks))
        return per_seed * len(self.protocol.seeds)

    def in_family(self, name: str, seed: int) -> Run:
        family = self.families[name]
        started = time.perf_counter()
        data = in_family_training(family, seed, self.protocol.train_cap)
        predictor = self.new_predictor()
        fit_predictor(predictor, [data], seed, valid=[in_family_validation(family)])
        return score(self.method, "in_family", predictor, family, seed, [name], len(data.indices), started,
                     self.protocol.full)

    def transfer(self, seed: int) -> Iterable[Run]:
        """The zero-shot and few-shot runs of one seed, from one model fitted on the source family.

        A run's ``seconds`` include the source fit it starts from, so tracks compare in cost.
        """
        source = self.families[self.protocol.source]
        fit_started = time.perf_counter()
        data = source_training(source, seed, self.protocol.train_cap)
        pretrained = self.new_predictor()
        fit_predictor(pretrained, [data], seed)
        fit_seconds = time.perf_counter() - fit_started
        for name in self.targets:
            family = self.families[name]
            if "zero_shot" in self.protocol.tracks:
                yield score(self.method, "zero_shot", pretrained, family, seed, [source.name], len(data.indices),
                            time.perf_counter() - fit_seconds, self.protocol.full)
            if "few_shot" in self.protocol.tracks:
                started = time.perf_counter() - fit_seconds
                tuned = copy.deepcopy(pretrained)
                shots = few_shot_training(family)
                tuned.fine_tune(shots, seed)
                yield score(self.method, "few_shot", tuned, family, seed, [source.name, name],
                            len(data.indices) + len(shots.indices), started, self.protocol.full)

    def runs(self, progress: bool = True) -> list[Run]:
        results = []
        with tqdm(total=self.n_runs(), desc=f"{self.method}", unit="run", disable=not progress) as bar:
            for seed in self.protocol.seeds:
                if "in_family" in self.protocol.tracks:
                    for name in self.protocol.families:
                        results.append(self.in_family(name, seed))
                        bar.update()
                if {"zero_shot", "few_shot"} & set(self.protocol.tracks) and self.targets:
                    for run in self.transfer(seed):
                        results.append(run)
                        bar.update()
        return results


def load_families(protocol: Protocol, progress: bool = True) -> dict[str, Family]:
    """Every family the protocol predicts or trains on, loaded (built on first use)."""
    names = list(protocol.families)
    if {"zero_shot", "few_shot"} & set(protocol.tracks) and protocol.source not in names:
        names.append(protocol.source)
    for name in names:
        if family_spec(name).default_target is None:
            raise InvalidInputError(f"{name} is unlabelled; the benchmark needs labelled families "
                                    f"(labelled ones: {', '.join(labelled_families())})")
    return cgbench_load_families(names, progress=progress)


@dataclass(frozen=True)
class Aggregate:
    """One (method, track, family) over its seeds: mean and sample std (NaN for one seed) of each metric."""

    method: str
    track: str
    family: str
    seeds: tuple[int, ...]
    n_train: int
    n_test: int
    mean: dict[str, float]
    std: dict[str, float]
    seconds: float

    def as_dict(self) -> dict:
        return {"method": self.method, "track": self.track, "family": self.family, "seeds": list(self.seeds),
                "n_train": self.n_train, "n_test": self.n_test, "mean": self.mean,
                "std": {m: (None if np.isnan(v) else v) for m, v in self.std.items()},
                "seconds_per_seed": round(self.seconds, 3)}


def aggregate(runs: Sequence[Run], metrics: Sequence[str] = SUMMARY_METRICS) -> list[Aggregate]:
    """Group runs by (method, track, family) in first-seen order; mean and std of ``metrics`` over seeds."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.method, run.track, run.family), []).append(run)
    out = []
    for (method, track, family), members in groups.items():
        seeds = [r.seed for r in members]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{method}/{track}/{family} has repeated seeds {seeds}; each seed must run once")
        values = {m: np.array([r.metrics[m] for r in members], dtype=float) for m in metrics}
        out.append(Aggregate(
            method=method, track=track, family=family, seeds=tuple(seeds),
            n_train=int(np.mean([r.n_train for r in members])), n_test=len(members[0].arch_ids),
            mean={m: float(v.mean()) for m, v in values.items()}, std={m: float(v.std(ddof=1)) if len(v) > 1 else float("nan") for m, v in values.items()},
            seconds=float(np.mean([r.seconds for r in members]))))
    return out


# ---------------------------------------------------------------------------------------------
# Submissions

DEFAULT_CODE_URL = "https://github.com/cgbench/cgbench"


def code_url() -> str:
    """The project's repository address from the package metadata (``[project.urls]``), else the default."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = metadata("cgbench").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    addresses = [u.split(",", 1)[1].strip() for u in urls if "," in u]
    return addresses[0] if addresses else DEFAULT_CODE_URL


def hardware() -> str:
    import os
    import platform

    import torch

    text = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def write_method_submission(path, method: str, predictor: Predictor, runs: Sequence[Run],
                            families: dict[str, Family]):
    """Write one method's runs as a ``cgbench-submission-1`` file through the leaderboard's writer."""
    from leaderboard.submission import MethodInfo
    from leaderboard.submission import Run as SubmissionRun
    from leaderboard.submission import write_submission

    used = {run.family for run in runs} | {name for run in runs for name in run.trained_on}
    info = MethodInfo(name=method, description=predictor.description, code_url=code_url(), hardware=hardware(),
                      n_parameters=int(predictor.n_parameters))
    entries = [SubmissionRun(**{**run.submission_entry(), "trained_on": tuple(run.trained_on)}) for run in runs]
    return write_submission(path, info, entries, [families[name] for name in sorted(used)])

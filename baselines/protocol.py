"""Running predictors on the benchmark's tracks: the baselines' side of :mod:`cgbench.tasks`.

The task (tracks, what each may train on, the run record, aggregation) is defined in
``cgbench.tasks``; this module turns it into fits and predictions for registered predictors, one
:class:`RunSpec` (method, track, family, target, seed) at a time, under a :class:`Protocol` that says
how much compute they get. A benchmark is a plan of such runs (``baselines.benchmark``) that the
work engine (``cgbench.jobs``) runs on local workers or a SLURM cluster; :class:`RunMaker` makes
one run, and any process making the same run makes the same predictions.

What a run of each track fits on (``training``), validates on and predicts:

- ``in_family``: fit on the family's ``random`` train part; validation rows from its ``valid``
  part; predict its test part.
- ``gennape_zero_shot`` / ``gennape_few_shot``: fit on the deduplicated NB-101 source
  (``tasks.deduplicated_rows``), scored on every other accuracy family; for few-shot a copy is
  ``fine_tune``-d on the family's 50 ``fewshot50`` train rows. On NB-201 a run also predicts
  GENNAPE's own evaluation set (the ``gennape4096`` split's 4,046 test cells; few-shot from a copy
  fine-tuned on its 50 train cells), which the report sets beside GENNAPE's published numbers.
- ``lofo_zero_shot``: fit on every other search space's families, each family's labels as
  percentile ranks (``tasks.percentile_ranks``).
- ``device_transfer_k{0,10,20}``: fit on the source devices' latencies of the train part; for
  k > 0 a copy is fine-tuned on k rows of the held-out device.

**Validation rows.** Every fit receives validation rows, one set per training family, never rows it
trains on: for ``in_family`` at most ``valid_cap`` rows of the ``valid`` part (a seeded draw); for
the transfer tracks a seeded hold-out of each training family's pool (at most ``valid_cap`` rows and
at most a quarter of the pool), drawn before the training rows, so no row of a scored family is
used beyond what the track allows. Learned predictors choose their training length on them
(``baselines.training``). Fine-tuning on a handful of shots has no validation rows and runs its
fixed budget.

**Shared fits.** The runs of one seed on the GENNAPE tracks share one fit on the source, and the
device-transfer runs of one (family, seed) share one fit on the source devices (``RunSpec.fit_key``).
A process keeps its last fit and reuses it for the next run with the same key; a run elsewhere
refits, and fits are seeded, so the predictions are the same. A run's ``seconds`` include its fit.

Protocols (``Protocol.name``):

- ``quick`` (the default, sized for two shared CPU cores; ``cgbench benchmark`` with no options,
  the main job ``make run``): at most ``QUICK_TRAIN_CAP`` labelled training rows per (family,
  target) and fit, a seeded draw, so seeds differ in data as well as initialisation (test parts are
  never capped); the learned predictors' short budgets in ``QUICK_PREDICTOR_OPTIONS``, which do
  not let graph networks converge: a quick number is not a verdict on a kind of model.
- ``reference``: the quick protocol's tracks, families, seeds and caps, with every learned
  predictor at the converged budget in ``REFERENCE_PREDICTOR_OPTIONS`` (chosen from the curves of
  ``benchmarks/convergence.py``).
- ``full``: paper scale: every labelled family buildable without user files (and imported ones
  already built), all rows, each predictor's paper settings.

GENNAPE's O(n^2) Kendall is left out of the printed runs of the capped protocols (the
leaderboard recomputes every metric from the submissions).
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from baselines.defaults import (DEFAULT_FAMILIES, DEFAULT_METHODS, FULL_METHODS,  # noqa: F401 (the protocol's names)
                                QUICK_PREDICTOR_OPTIONS, QUICK_TORCH_THREADS, QUICK_TRAIN_CAP,
                                REFERENCE_PREDICTOR_OPTIONS)
from baselines.predictor import Predictor
from baselines.predictors import make_predictor, predictor_class
from cgbench.dataset import Family, is_family_built
from cgbench.dataset import load_families as cgbench_load_families
from cgbench.errors import InvalidInputError, UnknownNameError
from cgbench.families import family_spec
from cgbench.jobs.worker import grouped
from cgbench.splits import GENNAPE_SET
from cgbench.problems import (VALID_CAP, VALID_POOL_SHARE, Problem, TrainingSet, accuracy_families, fit_key,
                              gennape_source_of, predictions_by_arch_id, problem, scored_pairs)
from cgbench.tasks import DEFAULT_SEEDS, TRACKS, Run, ScoredRun, get_track, score_run

FULL_PREDICTOR_OPTIONS: dict[str, dict] = {name: {"paper_scale": True}
                                           for name in ("gennape", "gennape_notf", "gennape_head")}
PROTOCOL_OPTIONS = {"quick": QUICK_PREDICTOR_OPTIONS, "reference": REFERENCE_PREDICTOR_OPTIONS,
                    "full": FULL_PREDICTOR_OPTIONS}
# GENNAPE's gap-thresholded Kendall is O(n^2) (seconds on the 15,575 few-shot test rows of nb201).
QUICK_SKIPPED_METRICS = ("kendall_gennape",)
@dataclass(frozen=True)
class Protocol:
    """What a benchmark run covers: families, seeds, tracks, and the compute predictors get."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    # Every track of the task by default, read when a protocol is made (cgbench.tasks defines them).
    tracks: tuple[str, ...] = field(default_factory=lambda: tuple(TRACKS))
    # At most this many labelled training rows per (family, target) and fit (None: all).
    train_cap: int | None = QUICK_TRAIN_CAP
    predictor_options: dict[str, dict] = field(default_factory=lambda: dict(QUICK_PREDICTOR_OPTIONS))
    name: str = "quick"
    # The label column in_family scores instead of each family's default (any target: a latency, a
    # cross-task accuracy); the transfer tracks keep the targets the task defines.
    target: str | None = None
    # At most this many validation rows per training family and fit (0: none).
    valid_cap: int = VALID_CAP

    def __post_init__(self) -> None:
        for track in self.tracks:
            get_track(track)  # unknown names fail here, naming the known ones
        if self.name not in PROTOCOL_OPTIONS:
            raise InvalidInputError(f"unknown protocol {self.name!r}; known: {', '.join(PROTOCOL_OPTIONS)}")
        if not self.families:
            raise InvalidInputError("a protocol needs at least one family")
        if not self.seeds:
            raise InvalidInputError("a protocol needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise InvalidInputError(f"seeds must be distinct, got {list(self.seeds)}")
        if self.train_cap is not None and self.train_cap < 1:
            raise InvalidInputError(f"train_cap must be a positive number of rows or None, got {self.train_cap}")
        if self.valid_cap < 0:
            raise InvalidInputError(f"valid_cap must be a number of rows >= 0, got {self.valid_cap}")

    @classmethod
    def paper(cls, families: Sequence[str] | None = None, seeds: Sequence[int] = DEFAULT_SEEDS,
              tracks: Sequence[str] | None = None, target: str | None = None) -> Protocol:
        """The paper-scale protocol: all labelled families, all rows, each predictor's own defaults
        (every track unless ``tracks`` are named)."""
        return cls(families=tuple(families or labelled_families()), seeds=tuple(seeds),
                   tracks=tuple(TRACKS if tracks is None else tracks),
                   train_cap=None, predictor_options=dict(FULL_PREDICTOR_OPTIONS), name="full", target=target)

    @classmethod
    def reference(cls, **settings) -> Protocol:
        """The quick protocol's coverage (``settings`` as :class:`Protocol`'s) with converged budgets."""
        return cls(**settings, predictor_options=dict(REFERENCE_PREDICTOR_OPTIONS), name="reference")

    @property
    def full(self) -> bool:
        return self.name == "full"

    def options_for(self, method: str) -> dict:
        return dict(self.predictor_options.get(method, {}))

    def settings_text(self, method: str) -> str:
        options = self.options_for(method)
        return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "its defaults"

    def cap_lines(self, methods: Sequence[str]) -> list[str]:
        """Every cap of this protocol for ``methods``, in words, for the printed output and the results file."""
        scale = {"quick": "quick (default; short budgets: not a verdict on a kind of model; `--protocol reference` "
                          "trains to convergence)",
                 "reference": "reference (the quick protocol's rows, every learned predictor at a converged budget)",
                 "full": "full (paper-scale)"}[self.name]
        lines = [
            f"protocol: {scale}",
            f"families: {', '.join(self.families)}",
            f"tracks: {', '.join(self.tracks)}" + (f"; in_family target {self.target}" if self.target else ""),
            f"seeds: {', '.join(map(str, self.seeds))} (mean and sample std over seeds)",
            "training rows per fit: " + ("all labelled rows" if self.train_cap is None else
                                         f"at most {self.train_cap} per (family, target) (a seeded draw)"),
            "validation rows per fit: " + (f"at most {self.valid_cap} per training family (the valid part in-family;"
                                           f" a seeded hold-out of at most 1/{VALID_POOL_SHARE} of the pool on "
                                           "transfer tracks)" if self.valid_cap else "none"),
            "test parts: never capped",
            "run metrics: all of the Evaluator's" + ("" if self.full else
                                                     f" except {', '.join(QUICK_SKIPPED_METRICS)} (O(n^2))"),
        ]
        return lines + [f"predictor options for {method}: {self.settings_text(method)}"
                         for method in methods if self.options_for(method)]

    def as_dict(self) -> dict:
        """Everything that decides a run's predictions besides the method, the run and the data (JSON)."""
        return {"name": self.name, "train_cap": self.train_cap, "valid_cap": self.valid_cap,
                "predictor_options": {m: self.predictor_options[m] for m in sorted(self.predictor_options)}}


def labelled_families() -> list[str]:
    """Families with a default target that can be loaded now: buildable ones, and imported ones already built."""
    from cgbench.families import list_families

    names = []
    for name in list_families():
        spec = family_spec(name)
        if spec.default_target is None:
            continue
        if spec.import_command is not None and not is_family_built(name):
            continue
        names.append(name)
    return names


@dataclass(frozen=True, order=True)
class RunSpec:
    """One run of the benchmark: a method's predictions for (track, family, target) under one seed."""

    method: str
    track: str
    family: str
    target: str
    seed: int

    @property
    def fit_key(self) -> tuple:
        return fit_key(self.method, self.track, self.family, self.target, self.seed)

    def label(self) -> str:
        return f"{self.method} {self.track} {self.family} {self.target} seed {self.seed}"


class Coverage:
    """The (track, family, target) combinations a protocol scores, from the families it loaded."""

    def __init__(self, protocol: Protocol, families: dict[str, Family]) -> None:
        self.protocol, self.families = protocol, families

    def targets(self, track: str) -> list[tuple[str, str]]:
        """(family, target) pairs the track scores among the protocol's families."""
        return scored_pairs(get_track(track), self.protocol.families, self.families, self.protocol.target)

    @property
    def gennape_source(self) -> str:
        return gennape_source_of()

    @property
    def accuracy_families(self) -> list[str]:
        """The protocol's families with an accuracy target: the pool leave-one-out runs train on."""
        return accuracy_families(self.protocol.families, self.families)

    def specs(self, method: str, kind: type[Predictor] | None = None) -> list[RunSpec]:
        """Every run of ``method``: seed by seed, tracks in the task's order; none of a (family, target) the
        method cannot score (:meth:`left_out` says why; ``kind``: its class, default the registered one)."""
        tracks = [t for t in TRACKS if t in self.protocol.tracks]
        left_out = self.left_out(method, kind)
        return [RunSpec(method, track, name, target, seed) for seed in self.protocol.seeds for track in tracks
                for name, target in self.targets(track) if (name, target) not in left_out]

    def left_out(self, method: str, kind: type[Predictor] | None = None) -> dict[tuple[str, str], str]:
        """(family, target) -> why ``method`` cannot score it (its ``cannot_predict``), over every track."""
        predictor = kind or predictor_class(method)
        pairs = dict.fromkeys(pair for track in self.protocol.tracks for pair in self.targets(track))
        reasons = {pair: predictor.cannot_predict(self.families[pair[0]], pair[1]) for pair in pairs}
        return {pair: reason for pair, reason in reasons.items() if reason is not None}

    def n_runs(self) -> int:
        return sum(len(self.targets(t)) for t in self.protocol.tracks) * len(self.protocol.seeds)


@dataclass
class Fitted:
    predictor: Predictor
    problem: Problem
    seconds: float


@dataclass(frozen=True)
class MadeRun:
    """A run's predictions and how they were made (what a benchmark unit publishes)."""

    run: Run
    n_valid: int
    n_parameters: int
    step_log: dict | None
    device: str
    # GENNAPE's NB-201 set (the test part of the family's gennape4096 split), for the GENNAPE tracks.
    gennape_set: dict[str, float] | None = None


def takes_device(predictor: type[Predictor]) -> bool:
    """Whether the predictor's constructor takes ``device`` (graph networks do; rules and trees do not).

    A constructor's ``**options`` pass ``device`` on only when a constructor above it names it, so the
    classes of the method resolution order are asked, not the ``**`` alone (graf_anchored's
    ``**graf_options`` end in GRAF's, which has no device)."""
    return any("device" in inspect.signature(cls.__init__).parameters
               for cls in predictor.__mro__ if "__init__" in vars(cls))


def predictor_device(device: str | None) -> str:
    """The torch device predictors get: ``auto`` is CUDA when this process sees a GPU, else the CPU."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise InvalidInputError(f"device must be auto, cpu or cuda (cuda:N), got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device}, but this process sees no GPU; use --device auto or cpu")
    return device


def fine_tuned(fitted: Predictor, shots: TrainingSet | None, seed: int) -> Predictor:
    """A copy of ``fitted`` fine-tuned on ``shots`` (the fitted predictor itself when there are none, or when it
    reads no labels), so one fit serves every run that shares it."""
    if shots is None or not fitted.uses_labels:
        return fitted
    predictor = copy.deepcopy(fitted)
    predictor.fine_tune(shots, seed)
    return predictor


class RunMaker:
    """Makes runs of a protocol one :class:`RunSpec` at a time (its rows: :func:`cgbench.problems.problem`),
    keeping the last fit for the runs that share it."""

    def __init__(self, protocol: Protocol, families: dict[str, Family],
                 factory: Callable[..., Predictor] = make_predictor, device: str | None = "cpu") -> None:
        self.protocol, self.families, self.factory = protocol, families, factory
        self.coverage = Coverage(protocol, families)
        self.device = predictor_device(device)
        self._last_fit: tuple[tuple, Fitted] | None = None
        self._evaluators: dict = {}

    def new_predictor(self, method: str) -> Predictor:
        options = self.protocol.options_for(method)
        if self.factory is make_predictor and takes_device(predictor_class(method)):
            options.setdefault("device", self.device)
        return self.factory(method, **options)

    def problem(self, spec: RunSpec) -> Problem:
        """What the run of ``spec`` trains, validates and fine-tunes on, and predicts."""
        return problem(spec.track, spec.family, spec.target, spec.seed, self.families, self.protocol,
                       self.protocol.families, self._evaluators)

    def fit(self, spec: RunSpec) -> Fitted:
        """The fitted predictor of ``spec``'s fit (made now, or kept from the last run with the same key)."""
        key = spec.fit_key
        if self._last_fit is not None and self._last_fit[0] == key:
            return self._last_fit[1]
        task = self.problem(spec)
        self._last_fit = None  # free the previous fit before making the next
        started = time.perf_counter()
        predictor = self.new_predictor(spec.method)
        if predictor.uses_labels:
            predictor.fit(list(task.train), spec.seed, valid=list(task.valid))
        else:
            predictor.fit([], spec.seed, valid=[])
        fitted = Fitted(predictor, task, time.perf_counter() - started)
        self._last_fit = (key, fitted)
        return fitted

    def make(self, spec: RunSpec) -> MadeRun:
        """Fit (or reuse the fit), fine-tune a copy on the run's shots, predict the evaluated part."""
        fitted = self.fit(spec)
        started = time.perf_counter()
        task = self.problem(spec)
        predictor = fine_tuned(fitted.predictor, task.shots, spec.seed)
        y_pred = predictor.predict(task.family, task.predict_indices)
        run = task.run(y_pred, seconds=fitted.seconds + time.perf_counter() - started, who=f"{spec.method}.predict",
                       uses_labels=predictor.uses_labels)
        step_log = getattr(fitted.predictor, "step_log", None)
        return MadeRun(run, task.training.n_valid, int(predictor.n_parameters),
                       step_log.as_dict() if step_log is not None else None, self.device,
                       self.gennape_set(spec, fitted.predictor))

    def gennape_set(self, spec: RunSpec, fitted: Predictor) -> dict[str, float] | None:
        """A GENNAPE-track run on a family with GENNAPE's own evaluation set (NB-201's ``gennape4096``):
        predictions of its test cells, like with like with GENNAPE's published numbers. Zero-shot uses the
        fitted model; few-shot a copy fine-tuned on the set's own 50 cells, as GENNAPE did."""
        family = self.families[spec.family]
        if get_track(spec.track).sources != "gennape_source" or GENNAPE_SET not in family.splits:
            return None
        split = family.get_idx_split(GENNAPE_SET, spec.target)
        shots = TrainingSet(family, split["train"], spec.target) if get_track(spec.track).shots else None
        predictor = fine_tuned(fitted, shots, spec.seed)
        arch_ids = family.table.column("arch_id").to_numpy(zero_copy_only=False)[split["test"]]
        return predictions_by_arch_id(list(arch_ids), np.asarray(predictor.predict(family, split["test"]), float))

    def score(self, run: Run) -> ScoredRun:
        """Score ``run`` through the Evaluator of its track (the capped protocols skip the O(n^2) metrics)."""
        evaluator = self.problem(RunSpec("", run.track, run.family, run.target, run.seed)).evaluator
        metrics = None if self.protocol.full else [m for m in evaluator.metric_names if m not in QUICK_SKIPPED_METRICS]
        return score_run(run, self.families[run.family], metrics=metrics, evaluator=evaluator)


class MethodRunner:
    """Every run of one method in this process, in order (a benchmark's runs go through the work engine;
    this is the same run-making for a library user or a test)."""

    def __init__(self, method: str, protocol: Protocol, families: dict[str, Family],
                 factory: Callable[..., Predictor] = make_predictor, device: str | None = "cpu") -> None:
        self.method, self.protocol = method, protocol
        self.maker = RunMaker(protocol, families, factory, device)
        self.plan = self.maker.coverage
        # A factory of the caller's own may make an unregistered predictor; it is taken to score every family.
        self.kind = predictor_class(method) if factory is make_predictor else Predictor

    def runs(self, progress: bool = True) -> list[ScoredRun]:
        """Every run, the runs that share a fit one after another (as a worker takes them)."""
        specs = [spec for group in grouped(self.plan.specs(self.method, self.kind), lambda spec: spec.fit_key)
                 for spec in group]
        return [self.maker.score(self.maker.make(spec).run)
                for spec in tqdm(specs, desc=self.method, unit="run", disable=not progress)]


def load_families(protocol: Protocol, progress: bool = True) -> dict[str, Family]:
    """Every family the protocol predicts or trains on, loaded (built on first use, announced)."""
    names = list(protocol.families)
    if any(get_track(t).sources == "gennape_source" for t in protocol.tracks):
        names.append(gennape_source_of())
    names = list(dict.fromkeys(names))
    # Refused by its spec before anything is built (a model zoo's build takes up to an hour); collected
    # labels never set a family's default target, so the spec decides.
    for name in names:
        if family_spec(name).default_target is None:
            raise InvalidInputError(f"{name} is unlabelled; the benchmark needs labelled families "
                                    f"(labelled ones: {', '.join(labelled_families())})")
    families = cgbench_load_families(names, progress=progress)
    if protocol.target is not None and not any(protocol.target in f.targets for f in families.values()):
        raise UnknownNameError(f"no family of the protocol has the label column {protocol.target!r} "
                               f"(families: {', '.join(families)}; `cgbench info FAMILY` lists their labels)")
    return families


# ---------------------------------------------------------------------------------------------
# Submissions

DEFAULT_CODE_URL = "https://github.com/cgbench/cgbench"
REPOSITORY = Path(__file__).resolve().parents[1]


def code_url(predictor: type[Predictor]) -> str:
    """Where the predictor class's code is: its ``code_url`` attribute when it has one; for a class of this
    repository, the project's address (``[project.urls]``) and the module's path; else its file's absolute
    path (accepted on a local board, refused by the shipped leaderboard's check)."""
    from importlib.metadata import PackageNotFoundError, metadata

    declared = getattr(predictor, "code_url", None)
    if isinstance(declared, str) and declared:
        return declared
    path = Path(inspect.getfile(predictor)).resolve()
    if not path.is_relative_to(REPOSITORY):
        return str(path)
    try:
        urls = metadata("cgbench").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    addresses = [u.split(",", 1)[1].strip() for u in urls if "," in u]
    base = addresses[0] if addresses else DEFAULT_CODE_URL
    return f"{base}/blob/main/{module_path(predictor)}"


def module_path(predictor: type[Predictor]) -> str:
    """The repository path of the module that defines a predictor class (``baselines/graf/predictor.py``)."""
    return Path(inspect.getfile(predictor)).resolve().relative_to(REPOSITORY).as_posix()


def hardware(device: str) -> str:
    """This machine in words, with the GPU when ``device`` is ``cuda``."""
    import os
    import platform

    import torch

    text = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    if device == "cuda":
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def method_info(method: str, protocol: Protocol, *, n_parameters: int, hardware: str,
                code: str | None = None):
    """What a submission says of a registered method run under ``protocol`` (``code``: its code's address,
    default :func:`code_url`)."""
    from cgbench.submission import MethodInfo, ProtocolInfo

    predictor = predictor_class(method)
    if predictor.provenance is not None:
        run_as = ProtocolInfo("published", None, predictor.provenance)
    else:
        settings = predictor.settings() or protocol.settings_text(method)
        run_as = ProtocolInfo(protocol.name, protocol.train_cap, settings)
    return MethodInfo(name=method, description=predictor.description, code_url=code or code_url(predictor),
                      hardware=hardware, n_parameters=n_parameters, scale=predictor.prediction_scale,
                      protocol=run_as)


def write_method_submission(path, method: str, runs: Sequence[Run], families: dict[str, Family],
                            protocol: Protocol, *, n_parameters: int, hardware: str, code: str | None = None):
    """Write one method's runs as a ``cgbench-submission-2`` file."""
    from cgbench.submission import write_submission

    used = {r.family for r in runs} | {name for r in runs for name in r.trained_on}
    info = method_info(method, protocol, n_parameters=n_parameters, hardware=hardware, code=code)
    return write_submission(path, info, list(runs), [families[name] for name in sorted(used)])


__all__ = ["Coverage", "MethodRunner", "Protocol", "RunMaker", "RunSpec",
           "labelled_families", "load_families", "write_method_submission"]

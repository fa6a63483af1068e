"""Running predictors on the benchmark's tracks: the baselines' side of :mod:`cgbench.tasks`.

The task (tracks, what each may train on, the run record, aggregation) is defined in
``cgbench.tasks``; this module only turns it into fits and predictions for registered predictors,
under a :class:`Protocol` that says how much compute they get:

- ``in_family``: fit on the family's ``random`` train part (the ``valid`` part goes to predictors
  whose ``fit`` takes a ``valid`` keyword), predict its test part.
- ``gennape_zero_shot`` / ``gennape_few_shot``: one fit per seed on the deduplicated NB-101 source
  (``tasks.deduplicated_rows``), scored on every other accuracy family; for few-shot a copy is
  ``fine_tune``-d on the family's 50 ``fewshot50`` train rows.
- ``lofo_zero_shot``: per held-out family, one fit on every other search space's families, each
  family's labels as percentile ranks (``tasks.percentile_ranks``).
- ``device_transfer_k{0,10,20}``: per family with HELP latencies, one fit per seed on the source
  devices' latencies of the train part; per held-out device, a copy fine-tuned on k rows of it.

Quick protocol (the default, sized for two shared CPU cores; ``cgbench benchmark`` with no options,
the main job ``make run``): at most ``QUICK_TRAIN_CAP`` labelled training rows per (family, target)
and fit, a seeded draw, so seeds differ in data as well as initialisation (test parts are never
capped: a run scores every test row); the learned predictors' epochs in ``QUICK_PREDICTOR_OPTIONS``;
``QUICK_TORCH_THREADS`` torch threads; GENNAPE's O(n^2) Kendall left out of the printed runs (the
leaderboard recomputes every metric from the submissions). ``full=True`` is the paper-scale
protocol: every labelled family buildable without user files (and imported ones already built),
all rows, each predictor's paper settings.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from baselines.defaults import (DEFAULT_FAMILIES, DEFAULT_METHODS, FULL_METHODS,  # noqa: F401 (the protocol's names)
                                QUICK_TORCH_THREADS, QUICK_TRAIN_CAP)
from baselines.predictor import Predictor, TrainingSet, make_predictor
from cgbench.dataset import Family, family_folder
from cgbench.dataset import load_families as cgbench_load_families
from cgbench.errors import InvalidInputError, UnknownNameError
from cgbench.evaluation import Evaluator
from cgbench.families import family_spec
from cgbench.storage import is_built
from cgbench.tasks import (DEFAULT_SEEDS, TRACKS, Run, ScoredRun, deduplicated_rows,
                           gennape_source, get_track, labelled, lofo_sources, percentile_ranks, score_run, shot_rows,
                           source_devices, track_targets)

# Fewer epochs than even the predictors' CPU-friendly defaults, so that 5 seeds of every track fit in
# the main job's minutes; the full protocol switches to paper settings.
QUICK_PREDICTOR_OPTIONS: dict[str, dict] = {
    "gin": {"epochs": 10},
    "gennape": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
    "gennape_notf": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
    "gennape_head": {"pretrain_epochs": 2, "epochs": 8, "fine_tune_epochs": 50},
}
FULL_PREDICTOR_OPTIONS: dict[str, dict] = {name: {"paper_scale": True}
                                           for name in ("gennape", "gennape_notf", "gennape_head")}
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
    full: bool = False
    # The label column in_family scores instead of each family's default (any target: a latency, a
    # cross-task accuracy); the transfer tracks keep the targets the task defines.
    target: str | None = None

    def __post_init__(self) -> None:
        for name in self.tracks:
            get_track(name)  # unknown names fail here, naming the known ones
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
              tracks: Sequence[str] | None = None, target: str | None = None) -> Protocol:
        """The paper-scale protocol: all labelled families, all rows, each predictor's own defaults
        (every track unless ``tracks`` are named)."""
        return cls(families=tuple(families or labelled_families()), seeds=tuple(seeds),
                   tracks=tuple(TRACKS if tracks is None else tracks),
                   train_cap=None, predictor_options=dict(FULL_PREDICTOR_OPTIONS), full=True, target=target)

    @property
    def name(self) -> str:
        return "full" if self.full else "quick"

    def options_for(self, method: str) -> dict:
        return dict(self.predictor_options.get(method, {}))

    def settings_text(self, method: str) -> str:
        options = self.options_for(method)
        return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "its defaults"

    def cap_lines(self, methods: Sequence[str]) -> list[str]:
        """Every cap of this protocol for ``methods``, in words, for the printed output and the results file."""
        scale = "full (paper-scale)" if self.full else "quick (default; `--full` for the paper-scale protocol)"
        lines = [
            f"protocol: {scale}",
            f"families: {', '.join(self.families)}",
            f"tracks: {', '.join(self.tracks)}" + (f"; in_family target {self.target}" if self.target else ""),
            f"seeds: {', '.join(map(str, self.seeds))} (mean and sample std over seeds)",
            "training rows per fit: " + ("all labelled rows" if self.train_cap is None else
                                         f"at most {self.train_cap} per (family, target) (a seeded draw)"),
            "test parts: never capped",
            "run metrics: all of the Evaluator's" + ("" if self.full else
                                                     f" except {', '.join(QUICK_SKIPPED_METRICS)} (O(n^2))"),
        ]
        return lines + [f"predictor options for {method}: {self.settings_text(method)}"
                         for method in methods if self.options_for(method)]


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


def capped(indices: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """At most ``cap`` of ``indices``, drawn without replacement by ``seed`` (all of them when they fit)."""
    if cap is None or len(indices) <= cap:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, size=cap, replace=False))


def fit_predictor(predictor: Predictor, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
    """``predictor.fit``, also handing over ``valid`` rows when its ``fit`` takes a ``valid`` keyword."""
    if valid is not None and "valid" in inspect.signature(predictor.fit).parameters:
        predictor.fit(data, seed, valid=valid)
    else:
        predictor.fit(data, seed)


@dataclass
class Plan:
    """The scored (track, family, target) combinations of a protocol, from the families it loaded."""

    protocol: Protocol
    families: dict[str, Family]

    def targets(self, track: str) -> list[tuple[str, str]]:
        """(family, target) pairs the track scores among the protocol's families."""
        definition = get_track(track)
        if track == "in_family" and self.protocol.target is not None:
            return [(name, self.protocol.target) for name in self.protocol.families
                    if self.protocol.target in self.families[name].targets]
        pairs = [(name, target) for name in self.protocol.families
                 for target in track_targets(definition, self.families[name])]
        if track.startswith("gennape_"):
            source = self.gennape_source
            pairs = [(name, target) for name, target in pairs
                     if family_spec(name).group() != family_spec(source).group()]
        if track == "lofo_zero_shot":
            # A held-out family is scored only when another search space is left to train on.
            pairs = [(name, target) for name, target in pairs if lofo_sources(name, self.accuracy_families)]
        return pairs

    @property
    def gennape_source(self) -> str:
        return gennape_source(lambda name: is_built(family_folder(family_spec(name))))

    @property
    def accuracy_families(self) -> list[str]:
        """The protocol's families with an accuracy target: the pool leave-one-out runs train on."""
        lofo = get_track("lofo_zero_shot")
        return [name for name in self.protocol.families if track_targets(lofo, self.families[name])]

    def n_runs(self) -> int:
        return sum(len(self.targets(t)) for t in self.protocol.tracks) * len(self.protocol.seeds)


class MethodRunner:
    """Runs every track of a protocol for one method; keeps the last fitted predictor for its metadata."""

    def __init__(self, method: str, protocol: Protocol, families: dict[str, Family],
                 factory: Callable[..., Predictor] = make_predictor) -> None:
        self.method, self.protocol, self.families = method, protocol, families
        self.plan = Plan(protocol, families)
        self.factory = factory
        self.last_predictor: Predictor | None = None
        self._evaluators: dict[tuple[str, str, str], Evaluator] = {}

    def new_predictor(self) -> Predictor:
        self.last_predictor = self.factory(self.method, **self.protocol.options_for(self.method))
        return self.last_predictor

    def training_set(self, name: str, rows: np.ndarray, target: str, seed: int, ranks: bool = False) -> TrainingSet:
        family = self.families[name]
        rows = capped(labelled(family, rows, target), self.protocol.train_cap, seed)
        values = percentile_ranks(family.labels(target)[rows]) if ranks else None
        return TrainingSet(family, rows, target, values)

    def score(self, track: str, predictor: Predictor, name: str, target: str, seed: int, trained_on: Sequence[str],
              n_train: int, started: float) -> ScoredRun:
        """Predict the evaluated part of ``track`` for (family, target) and score it through the Evaluator."""
        family = self.families[name]
        definition = get_track(track)
        key = (name, definition.split, target)
        if key not in self._evaluators:
            self._evaluators[key] = Evaluator(family, definition.split, definition.part, target)
        evaluator = self._evaluators[key]
        y_pred = np.asarray(predictor.predict(family, evaluator.indices), dtype=np.float64)
        if y_pred.shape != evaluator.indices.shape:
            raise ValueError(f"{self.method}.predict on {name} returned shape {y_pred.shape}, "
                             f"expected {evaluator.indices.shape} (one score per requested row)")
        run = Run(track, name, target, seed, tuple(trained_on), predictions_by_arch_id(evaluator.arch_ids, y_pred),
                  n_train=n_train, seconds=time.perf_counter() - started)
        metrics = None if self.protocol.full else [m for m in evaluator.metric_names if m not in QUICK_SKIPPED_METRICS]
        return score_run(run, family, metrics=metrics, evaluator=evaluator)

    def in_family(self, seed: int) -> Iterator[ScoredRun]:
        if "in_family" not in self.protocol.tracks:
            return
        for name, target in self.plan.targets("in_family"):
            started = time.perf_counter()
            split = self.families[name].get_idx_split(get_track("in_family").split)
            data = self.training_set(name, split["train"], target, seed)
            valid = TrainingSet(self.families[name], labelled(self.families[name], split["valid"], target), target)
            predictor = self.new_predictor()
            fit_predictor(predictor, [data], seed, valid=[valid])
            yield self.score("in_family", predictor, name, target, seed, [name], len(data.indices), started)

    def gennape(self, seed: int) -> Iterator[ScoredRun]:
        """Both GENNAPE tracks of one seed from one fit on the source; a run's seconds include that fit."""
        targets = {t: self.plan.targets(t) for t in ("gennape_zero_shot", "gennape_few_shot")
                   if t in self.protocol.tracks}
        if not any(targets.values()):
            return
        source = self.families[self.plan.gennape_source]
        started = time.perf_counter()
        dedup = deduplicated_rows(source, source.default_target)
        keep = capped(np.arange(len(dedup.indices)), self.protocol.train_cap, seed)
        data = TrainingSet(source, dedup.indices[keep], dedup.target, dedup.values[keep])
        pretrained = self.new_predictor()
        fit_predictor(pretrained, [data], seed)
        fit_seconds = time.perf_counter() - started
        for name, target in targets.get("gennape_zero_shot", []):
            yield self.score("gennape_zero_shot", pretrained, name, target, seed, [source.name], len(data.indices),
                             time.perf_counter() - fit_seconds)
        few_shot_split = get_track("gennape_few_shot").split
        for name, target in targets.get("gennape_few_shot", []):
            started = time.perf_counter() - fit_seconds
            tuned = copy.deepcopy(pretrained)
            family = self.families[name]
            shots = TrainingSet(family, family.get_idx_split(few_shot_split, target)["train"], target)
            tuned.fine_tune(shots, seed)
            yield self.score("gennape_few_shot", tuned, name, target, seed, [source.name, name],
                             len(data.indices) + len(shots.indices), started)

    def lofo(self, seed: int) -> Iterator[ScoredRun]:
        if "lofo_zero_shot" not in self.protocol.tracks:
            return
        pool = self.plan.accuracy_families
        for name, target in self.plan.targets("lofo_zero_shot"):
            started = time.perf_counter()
            sources = lofo_sources(name, pool)
            data = [self.training_set(source, np.arange(len(self.families[source])),
                                      self.families[source].default_target, seed, ranks=True) for source in sources]
            predictor = self.new_predictor()
            fit_predictor(predictor, data, seed)
            yield self.score("lofo_zero_shot", predictor, name, target, seed, sources,
                             sum(len(d.indices) for d in data), started)

    def device_transfer(self, seed: int) -> Iterator[ScoredRun]:
        tracks = [t for t in self.protocol.tracks if get_track(t).target_kind == "latency"]
        names = dict.fromkeys(name for t in tracks for name, _ in self.plan.targets(t))
        for name in names:
            family = self.families[name]
            started = time.perf_counter()
            train = family.get_idx_split("random")["train"]
            data = [self.training_set(name, train, device, seed) for device in source_devices(family)]
            pretrained = self.new_predictor()
            fit_predictor(pretrained, data, seed)
            fit_seconds = time.perf_counter() - started
            n_source = sum(len(d.indices) for d in data)
            for track in tracks:
                shots = get_track(track).shots
                for _, target in (pair for pair in self.plan.targets(track) if pair[0] == name):
                    started = time.perf_counter() - fit_seconds
                    predictor = pretrained
                    if shots:
                        predictor = copy.deepcopy(pretrained)
                        predictor.fine_tune(TrainingSet(family, shot_rows(family, target, shots, seed), target), seed)
                    yield self.score(track, predictor, name, target, seed, [name], n_source + shots, started)

    def runs(self, progress: bool = True) -> list[ScoredRun]:
        results = []
        with tqdm(total=self.plan.n_runs(), desc=self.method, unit="run", disable=not progress) as bar:
            for seed in self.protocol.seeds:
                for produce in (self.in_family, self.gennape, self.lofo, self.device_transfer):
                    for result in produce(seed):
                        results.append(result)
                        bar.update()
        return results


def predictions_by_arch_id(arch_ids: Sequence[str], y_pred: np.ndarray) -> dict[str, float]:
    """``{arch_id: score}``. Rows sharing an arch_id (nb101 lists isomorphic cells more than once) are
    the same network, so their scores must agree; a mapping keeps one of them.

    "Agree" allows float32 noise: a graph network's batched inference sums messages in an order that
    depends on the other graphs of the batch (GENNAPE without its transform scored two copies of
    NB-101's trivial cell 0.02182793 and 0.02182789, 1.6e-6 apart relatively); a real mix-up differs
    by far more."""
    by_id: dict[str, float] = {}
    for arch_id, score in zip(arch_ids, y_pred):
        score = float(score)
        kept = by_id.setdefault(arch_id, score)
        if not np.isclose(kept, score, rtol=1e-5, atol=1e-7):
            raise ValueError(f"rows with the same arch_id {arch_id!r} got different scores {kept} and {score}; "
                             "a run holds one score per arch_id")
    return by_id


def load_families(protocol: Protocol, progress: bool = True) -> dict[str, Family]:
    """Every family the protocol predicts or trains on, loaded (built on first use, announced)."""
    names = list(protocol.families)
    if any(t.startswith("gennape_") for t in protocol.tracks):
        names.append(gennape_source(lambda name: is_built(family_folder(family_spec(name)))))
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


def code_url(predictor: Predictor) -> str:
    """Where the predictor's code is: the project's repository address (``[project.urls]``) and its module's path."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = metadata("cgbench").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    addresses = [u.split(",", 1)[1].strip() for u in urls if "," in u]
    base = addresses[0] if addresses else DEFAULT_CODE_URL
    return f"{base}/blob/main/{module_path(predictor)}"


def module_path(predictor: Predictor) -> str:
    """The repository path of the module that defines the predictor's class (``baselines/graf/predictor.py``)."""
    return Path(inspect.getfile(type(predictor))).resolve().relative_to(REPOSITORY).as_posix()


def hardware() -> str:
    import os
    import platform

    import torch

    text = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def write_method_submission(path, method: str, predictor: Predictor, runs: Sequence[ScoredRun],
                            families: dict[str, Family], protocol: Protocol):
    """Write one method's runs as a ``cgbench-submission-2`` file."""
    from cgbench.submission import MethodInfo, ProtocolInfo, write_submission

    used = {r.run.family for r in runs} | {name for r in runs for name in r.run.trained_on}
    info = MethodInfo(name=method, description=predictor.description, code_url=code_url(predictor),
                      hardware=hardware(), n_parameters=int(predictor.n_parameters),
                      scale=predictor.prediction_scale,
                      protocol=ProtocolInfo(protocol.name, protocol.train_cap, protocol.settings_text(method)))
    return write_submission(path, info, [r.run for r in runs], [families[name] for name in sorted(used)])


__all__ = ["MethodRunner", "Plan", "Protocol", "capped", "labelled_families", "load_families",
           "write_method_submission"]

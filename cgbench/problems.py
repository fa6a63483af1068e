"""What one run of a track may train on, validates on and predicts: the benchmark's problems.

A :class:`Problem` is one (track, family, target, seed) of the task (:mod:`cgbench.tasks`) with its
rows drawn: the labelled training rows (at most ``train_cap`` per training family and target, a
seeded draw, so seeds differ in data as well as initialisation), the validation rows, the few
labelled rows of the scored family a few-shot run fine-tunes on, the rows to predict (the track's
evaluated part, never capped), the target's direction, and the ``trained_on`` a run declares.
:func:`problems` yields every problem of some tracks, families and seeds; the built-in baselines get
exactly these rows (``baselines.protocol.RunMaker``), and a user's own loop gets them the same way::

    for problem in problems(families, tracks=["in_family"], seeds=[0], protocol=Protocol()):
        model = fit(problem.train, problem.valid)            # TrainingSet: family, indices, labels()
        predictions[problem] = model.predict(problem.family, problem.predict_indices)
    write_problem_submission("mine.json.gz", method_info, predictions)

Where each track's rows come from (``Track.sources``):

- ``own`` (``in_family``): the family's ``random`` train part; validation rows from its ``valid``
  part (at most ``valid_cap``, a seeded draw).
- ``gennape_source`` (the GENNAPE tracks): the deduplicated NB-101 source (:func:`tasks.deduplicated_rows`),
  one row per canonical CG, the label the mean over its copies; few-shot adds the scored family's 50
  ``fewshot50`` train rows as shots.
- ``other_spaces`` (``lofo_zero_shot``): every accuracy family of another search space among the
  families given, each family's labels as percentile ranks within the rows drawn.
- ``other_devices`` (device transfer): the family's train part's latencies on every device but the
  held-out ones; k shots of the held-out device (a seeded draw from the train part).

On the transfer tracks the validation rows are a seeded hold-out of each training family's pool (at
most ``valid_cap`` rows and at most 1/VALID_POOL_SHARE of the pool), drawn before the training rows,
so no row of a scored family is used beyond what the track allows.

Runs that share a fit (the GENNAPE tracks of one seed train one model on the source; the device
tracks of one family and seed one model on its source devices) have the same :meth:`Problem.fit_key`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import InvalidInputError
from .tasks import (DEFAULT_SEEDS, TRACKS, Run, Track, deduplicated_rows, gennape_source, get_track, labelled,
                    lofo_sources, percentile_ranks, shot_rows, source_devices, track_targets)

if TYPE_CHECKING:
    from .dataset import Family
    from .evaluation import Evaluator

# Most validation rows per training family and fit; a transfer track holds out at most
# 1/VALID_POOL_SHARE of a training family's pool.
VALID_CAP, VALID_POOL_SHARE = 100, 4
# A second random stream of the run's seed draws validation rows, so they do not depend on the cap.
VALID_STREAM = 1


class RowCaps(Protocol):
    """What :func:`problems` reads of a protocol (``baselines.protocol.Protocol`` is one)."""

    train_cap: int | None
    valid_cap: int


@dataclass(frozen=True)
class Caps:
    """At most ``train_cap`` labelled training rows per training family and target (None: all), and at
    most ``valid_cap`` validation rows (0: none)."""

    train_cap: int | None = 300
    valid_cap: int = VALID_CAP


@dataclass(frozen=True)
class TrainingSet:
    """Rows ``indices`` of ``family`` with their labels in column ``target``.

    ``values``, when given, are the labels to train on instead of the column's (a track's declared
    normalisation: percentile ranks within the family for leave-one-out; the mean over the rows of
    one canonical CG for GENNAPE's deduplicated source).
    """

    family: Family
    indices: np.ndarray
    target: str
    values: np.ndarray | None = None

    def labels(self) -> np.ndarray:
        if self.values is not None:
            return np.asarray(self.values, np.float64)
        return self.family.labels(self.target)[self.indices]


def capped(indices: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """At most ``cap`` of ``indices``, drawn without replacement by ``seed`` (all of them when they fit)."""
    if cap is None or len(indices) <= cap:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, size=cap, replace=False))


def held_out(pool: np.ndarray, cap: int | None, valid_cap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A transfer track's (training, validation) rows of one training family's ``pool``: first at most
    ``valid_cap`` and at most 1/VALID_POOL_SHARE of the pool for validation, then at most ``cap`` of the rest."""
    n_valid = min(valid_cap, len(pool) // VALID_POOL_SHARE)
    valid = np.sort(np.random.default_rng([seed, VALID_STREAM]).choice(pool, size=n_valid, replace=False))
    return capped(np.setdiff1d(pool, valid), cap, seed), valid


# ---------------------------------------------------------------------------------------------
# Which (family, target) pairs a track scores


def gennape_source_of() -> str:
    """The GENNAPE tracks' source: ``nb101_full`` when it is built, else ``nb101``."""
    from .dataset import is_family_built

    return gennape_source(is_family_built)


def accuracy_families(names: Sequence[str], families: Mapping[str, Family]) -> list[str]:
    """The families among ``names`` with an accuracy target: the pool leave-one-out runs train on."""
    lofo = get_track("lofo_zero_shot")
    return [name for name in names if track_targets(lofo, families[name])]


def scored_pairs(track: Track, names: Sequence[str], families: Mapping[str, Family],
                 target: str | None = None) -> list[tuple[str, str]]:
    """(family, target) pairs ``track`` scores among the families ``names`` (``target``: the in-family
    label asked for instead of each family's default)."""
    if track.sources == "own" and target is not None:
        return [(name, target) for name in names if target in families[name].targets]
    pairs = [(name, t) for name in names for t in track_targets(track, families[name])]
    if track.sources == "gennape_source":
        source_group = families[gennape_source_of()].spec.group()
        pairs = [(name, t) for name, t in pairs if families[name].spec.group() != source_group]
    if track.sources == "other_spaces":
        # A held-out family is scored only when another search space is left to train on.
        pool = accuracy_families(names, families)
        pairs = [(name, t) for name, t in pairs if lofo_sources(name, pool)]
    return pairs


# ---------------------------------------------------------------------------------------------
# What a fit trains and validates on


@dataclass(frozen=True)
class Training:
    """What a fit trains and validates on, and what the run declares it used."""

    train: tuple[TrainingSet, ...]
    valid: tuple[TrainingSet, ...]
    trained_on: tuple[str, ...]

    @property
    def n_train(self) -> int:
        return sum(len(d.indices) for d in self.train)

    @property
    def n_valid(self) -> int:
        return sum(len(v.indices) for v in self.valid)


def _pool_sets(family: Family, pool: np.ndarray, target: str, seed: int, caps: RowCaps,
               values: np.ndarray | None = None, ranks: bool = False) -> tuple[TrainingSet, TrainingSet]:
    """Training and validation sets held out of ``pool`` (rows of ``family``; ``values``: their labels when
    not the column's); ``ranks``: train on the labels' percentile ranks within the rows drawn."""
    train, valid = held_out(np.arange(len(pool)), caps.train_cap, caps.valid_cap, seed)
    labels = family.labels(target)[pool] if values is None else np.asarray(values, float)
    train_values = percentile_ranks(labels[train]) if ranks else labels[train]
    return (TrainingSet(family, pool[train], target, train_values),
            TrainingSet(family, pool[valid], target, labels[valid]))


def _sets(pairs: list[tuple[TrainingSet, TrainingSet]], trained_on: tuple[str, ...]) -> Training:
    return Training(tuple(d for d, _ in pairs), tuple(v for _, v in pairs if len(v.indices)), trained_on)


def _own_rows(track: Track, family: Family, target: str, seed: int, families, names, caps: RowCaps) -> Training:
    split = family.get_idx_split(track.split)
    train = capped(labelled(family, split["train"], target), caps.train_cap, seed)
    valid = capped(labelled(family, split["valid"], target), caps.valid_cap, seed)
    return Training((TrainingSet(family, train, target),), (TrainingSet(family, valid, target),) if len(valid) else (),
                    (family.name,))


def _gennape_rows(track: Track, family: Family, target: str, seed: int, families, names, caps: RowCaps) -> Training:
    source = families[gennape_source_of()]
    dedup = deduplicated_rows(source, source.default_target)
    return _sets([_pool_sets(source, dedup.indices, dedup.target, seed, caps, values=dedup.values)], (source.name,))


def _other_space_rows(track: Track, family: Family, target: str, seed: int, families, names,
                      caps: RowCaps) -> Training:
    sources = lofo_sources(family.name, accuracy_families(names, families))
    sets = [_pool_sets(families[s], labelled(families[s], np.arange(len(families[s])), families[s].default_target),
                       families[s].default_target, seed, caps, ranks=True) for s in sources]
    return _sets(sets, tuple(sources))


def _other_device_rows(track: Track, family: Family, target: str, seed: int, families, names,
                       caps: RowCaps) -> Training:
    train = family.get_idx_split("random")["train"]
    return _sets([_pool_sets(family, labelled(family, train, device), device, seed, caps)
                  for device in source_devices(family)], (family.name,))


TRAINING_ROWS = {"own": _own_rows, "gennape_source": _gennape_rows, "other_spaces": _other_space_rows,
                 "other_devices": _other_device_rows}


def shots_of(track: Track, family: Family, target: str, seed: int) -> TrainingSet | None:
    """The labelled rows of the scored family a few-shot run fine-tunes on (None: the track has none):
    ``track.shots`` rows of the train part of the track's split for ``target``, drawn by the seed (all
    of them when the part holds exactly that many: GENNAPE's fewshot50)."""
    if not track.shots:
        return None
    return TrainingSet(family, shot_rows(family, target, track.shots, seed, track.split), target)


# ---------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True, eq=False)
class Problem:
    """One run's worth of rows: train and validate on ``training``, fine-tune on ``shots`` (few-shot
    tracks), predict ``predict_indices`` of ``family`` (in the Evaluator's order), declare ``trained_on``."""

    track: Track
    family: Family
    target: str
    seed: int
    training: Training
    shots: TrainingSet | None
    _evaluators: dict = field(default_factory=dict, repr=False)

    @property
    def train(self) -> tuple[TrainingSet, ...]:
        return self.training.train

    @property
    def valid(self) -> tuple[TrainingSet, ...]:
        return self.training.valid

    @property
    def trained_on(self) -> tuple[str, ...]:
        """Every family whose labels the run uses (the shots' family last)."""
        names = self.training.trained_on + ((self.family.name,) if self.shots is not None else ())
        return tuple(dict.fromkeys(names))

    @property
    def n_train(self) -> int:
        return self.training.n_train + (len(self.shots.indices) if self.shots is not None else 0)

    @property
    def key(self) -> tuple[str, str, str, int]:
        return self.track.name, self.family.name, self.target, self.seed

    @cached_property
    def evaluator(self) -> Evaluator:
        """The Evaluator of the run's (family, split, part, target), shared by the problems of one call."""
        from .evaluation import Evaluator

        key = (self.family.name, self.track.split, self.track.part, self.target)
        if key not in self._evaluators:
            self._evaluators[key] = Evaluator(self.family, self.track.split, self.track.part, self.target)
        return self._evaluators[key]

    @property
    def predict_indices(self) -> np.ndarray:
        """The rows to predict: the track's evaluated part of the family, in the Evaluator's order."""
        return self.evaluator.indices

    @property
    def arch_ids(self) -> list[str]:
        return self.evaluator.arch_ids

    @property
    def higher_is_better(self) -> bool:
        """The target's direction. Predictions are ordered like the target's own values either way: a
        latency prediction is the latency (or a score that grows with it), not its negation."""
        return bool(self.family.manifest["labels"][self.target].get("higher_is_better", True))

    def fit_key(self, method: str) -> tuple:
        return fit_key(method, *self.key)

    def run(self, y_pred, seconds: float | None = None, who: str = "the predictions",
            uses_labels: bool = True) -> Run:
        """The run of predictions ``y_pred`` of :attr:`predict_indices` (one finite score per row; ``who``
        made them, for the message when they are not). ``uses_labels=False``: a training-free run, which
        declares ``trained_on: []`` and no training rows."""
        where = f"{who} on {self.label()}"
        try:
            values = np.asarray(y_pred, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"{where}: {type(y_pred).__name__} that are not numbers ({error})") from None
        if values.shape != self.predict_indices.shape:
            raise InvalidInputError(f"{where}: shape {values.shape} for {len(self.predict_indices)} rows to predict "
                                    "(one score per row)")
        if not np.isfinite(values).all():
            raise InvalidInputError(f"{where}: {int((~np.isfinite(values)).sum())} of {len(values)} are NaN or "
                                    "infinite (every row needs a finite score)")
        return Run(self.track.name, self.family.name, self.target, self.seed, self.trained_on if uses_labels else (),
                   predictions_by_arch_id(self.arch_ids, values), n_train=self.n_train if uses_labels else 0,
                   seconds=seconds)

    def label(self) -> str:
        return f"{self.track.name} {self.family.name} {self.target} seed {self.seed}"


def fit_key(method: str, track: str, family: str, target: str, seed: int) -> tuple:
    """Runs with the same key share one fit (GENNAPE's source model; a family's source devices)."""
    sources = get_track(track).sources
    if sources == "gennape_source":
        return method, "gennape_source", seed
    if sources == "other_devices":
        return method, "source_devices", family, seed
    return method, track, family, target, seed


def problem(track: str, family: str, target: str, seed: int, families: Mapping[str, Family],
            protocol: RowCaps = Caps(), names: Sequence[str] | None = None, evaluators: dict | None = None) -> Problem:
    """The problem of (track, family, target, seed); ``families`` holds every family it may train on
    (``names``: the protocol's families, the leave-one-out pool; default all of ``families``)."""
    definition = get_track(track)
    scored = families[family]
    training = TRAINING_ROWS[definition.sources](definition, scored, target, seed, families,
                                                 list(names if names is not None else families), protocol)
    return Problem(definition, scored, target, seed, training, shots_of(definition, scored, target, seed),
                   evaluators if evaluators is not None else {})


def problems(families: Mapping[str, Family], tracks: Sequence[str] | None = None,
             seeds: Sequence[int] = DEFAULT_SEEDS, protocol: RowCaps = Caps(),
             target: str | None = None) -> Iterator[Problem]:
    """Every problem of ``tracks`` (default: all) on ``families`` (a dict of loaded families; the GENNAPE
    tracks need their NB-101 source among them) for ``seeds``: seed by seed, tracks in the task's order.
    ``protocol``: the caps (anything with ``train_cap`` and ``valid_cap``, e.g. ``baselines.protocol.Protocol()``
    or :class:`Caps`); ``target``: the label ``in_family`` scores instead of each family's default."""
    chosen = [t for t in TRACKS if tracks is None or t in tracks]
    unknown = sorted(set(tracks or ()) - set(TRACKS))
    if unknown:
        get_track(unknown[0])  # names the known tracks
    names = list(families)
    evaluators: dict = {}
    for seed in seeds:
        for name in chosen:
            for family, label in scored_pairs(get_track(name), names, families, target):
                yield problem(name, family, label, seed, families, protocol, names, evaluators)


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

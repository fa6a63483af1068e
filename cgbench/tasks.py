"""The benchmark's task: its tracks, what a run of each may train on and is scored on, the run
record, and aggregation over seeds. Defined here once; ``baselines`` produce runs from it and
``leaderboard`` validates and renders them (OGB keeps its task beside its Evaluator).

Tracks, in order (``TRACKS``; ``cgbench tracks`` prints them):

- ``in_family``: train on the ``train`` part of a family's ``random`` split (the ``valid`` part may
  be used for early stopping), score its ``test`` part. Each family's default target, or any label
  column asked for (a latency, a cross-task accuracy: the rows that carry it).
- ``gennape_zero_shot``: GENNAPE's protocol. Train on NAS-Bench-101 only (``nb101_full`` when a
  user imported it, else ``nb101``; its rows deduplicated to one per canonical CG, the label the
  mean over the duplicates), score the ``random`` test part of every other accuracy family.
- ``gennape_few_shot``: the same NB-101 model, then fine-tuned on the 50 ``train`` rows of the
  target family's ``fewshot50`` split; scored on that split's ``test`` part (the rest).
- ``lofo_zero_shot``: leave one search space out. Train on every labelled accuracy family of
  *other* search spaces (``FamilySpec.group``: ``nb201`` and ``gennape_nb201`` are one; the two
  model zoos are one), score the held-out family's ``random`` test part. Labels of different
  families are not on one scale (NB-201 10-92 %, TNB-101 21-46 %, OFA 71-77 % top-1), so the
  training labels of each family are its percentile ranks (``LABEL_NORMALISATION``, in [0, 1]);
  predictions are scored by rank only.
- ``device_transfer_k0`` / ``_k10`` / ``_k20``: HELP's few-shot latency setting. For a family with
  latency on many devices, hold out HELP's meta-test devices (``HELD_OUT_DEVICES``); train on the
  ``train`` part's latencies on the other devices plus ``k`` rows of the held-out device drawn by
  the seed from the same ``train`` part; score the held-out device's latency on the ``test`` part.

Every transfer track runs five seeds by default. A run's ``trained_on`` declares the families
whose labels it used; :func:`training_problem` checks it against the track's rule (the
leaderboard refuses runs that break it). ``trained_on: []`` is a **training-free** run (a
zero-cost proxy, FLOPs): it used no label of any family, so it breaks no track's rule and is
valid on every track. A run is keyed by (track, family, target, seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .errors import InvalidInputError, unknown_name

EVALUATED_PART = "test"
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
GENNAPE_SOURCES = ("nb101_full", "nb101")
GENNAPE_SHOTS = 50
LABEL_NORMALISATION = "percentile rank within each family"
DEVICE_SHOTS = (0, 10, 20)
# The track a target asked for by name is scored on (the transfer tracks define their own targets).
IN_FAMILY = "in_family"
# HELP's meta-test devices (scripts/run_meta_training_*.sh of HayeonLee/HELP): nasbench201
# titan_rtx_256, gold_6226, fpga, pixel2, raspi4, eyeriss; fbnet fpga, raspi4, eyeriss; ofa titan_rtx_64.
# The other latency columns of the family (HELP's meta-train and meta-valid devices) are the sources.
HELD_OUT_DEVICES: dict[str, tuple[str, ...]] = {
    "nb201": ("lat_titanrtx_bs256_ms", "lat_gold6226_ms", "lat_fpga_ms", "lat_pixel2_ms", "lat_raspi4_ms",
              "lat_eyeriss_ms"),
    "fbnet": ("lat_fpga_ms", "lat_raspi4_ms", "lat_eyeriss_ms"),
    "ofa_mbv3": ("lat_titanrtx_bs64_ms",),
}


class InvalidRunError(InvalidInputError):
    """A run that breaks its track's rules (what it trains on, what it scores)."""


# ---------------------------------------------------------------------------------------------
# Tracks


@dataclass(frozen=True)
class Track:
    """A way of scoring predictors: which rows are predicted, and which labels training may use."""

    name: str
    title: str
    description: str
    # The stored split whose ``EVALUATED_PART`` is scored.
    split: str
    # "default": each family's default target (or any label column asked for); "accuracy": each
    # family's default target when it is an accuracy; "latency": the held-out devices.
    target_kind: str
    # Labelled rows of the scored (family, target) a run may train on (GENNAPE's 50, HELP's k).
    shots: int
    # Whether training labels are on the target's scale (so MAE/MAPE mean something) or ranks.
    label_scale: str
    # (family, trained_on) -> what is wrong with trained_on, or None.
    rule: Callable[[str, tuple[str, ...]], str | None] = field(repr=False, compare=False)
    # family -> why the track does not score it (None: it does), whatever the run trained on.
    scores: Callable[[str], str | None] = field(default=lambda _family: None, repr=False, compare=False)
    # Where a run's training rows come from (cgbench.problems.TRAINING_ROWS): "own", "gennape_source",
    # "other_spaces", "other_devices".
    sources: str = "own"
    part: str = EVALUATED_PART

    @property
    def transfer(self) -> bool:
        return self.name != IN_FAMILY

    def training_problem(self, family: str, trained_on: Sequence[str]) -> str | None:
        """What is wrong with a run of this track on ``family`` that trained on ``trained_on`` (None: nothing).
        A training-free run (no family) uses no label the track could forbid."""
        return self.scores(family) or (self.rule(family, tuple(trained_on)) if trained_on else None)


def family_group(name: str) -> str:
    from .families import family_spec

    return family_spec(name).group()


def _in_family_rule(family: str, trained_on: tuple[str, ...]) -> str | None:
    if trained_on != (family,):
        return f"an in_family run trains on its own family only: trained_on must be [{family!r}]"
    return None


def _gennape_scores(family: str) -> str | None:
    if family_group(family) == family_group(GENNAPE_SOURCES[0]):
        return f"{family} is NAS-Bench-101 itself: the GENNAPE tracks score the other families"
    return None


def _gennape_source_problem(source: str) -> str | None:
    if source not in GENNAPE_SOURCES:
        return f"the GENNAPE tracks train on NAS-Bench-101 ({' or '.join(GENNAPE_SOURCES)}), not {source!r}"
    return None


def _gennape_zero_shot_rule(family: str, trained_on: tuple[str, ...]) -> str | None:
    if len(trained_on) != 1:
        return f"a gennape_zero_shot run trains on one NAS-Bench-101 family, got {list(trained_on)}"
    return _gennape_source_problem(trained_on[0])


def _gennape_few_shot_rule(family: str, trained_on: tuple[str, ...]) -> str | None:
    if len(trained_on) != 2 or trained_on[1] != family:
        return (f"a gennape_few_shot run trains on [NAS-Bench-101, {family!r}] (the source, then the "
                f"{GENNAPE_SHOTS} fine-tuning rows), got {list(trained_on)}")
    return _gennape_source_problem(trained_on[0])


def _lofo_rule(family: str, trained_on: tuple[str, ...]) -> str | None:
    held_out = family_group(family)
    same = [name for name in trained_on if family_group(name) == held_out]
    if same:
        return (f"a lofo_zero_shot run holds out {family}'s whole search space ({held_out}), but trained_on "
                f"names {same}")
    return None


def _device_scores(family: str) -> str | None:
    if family not in HELD_OUT_DEVICES:
        return f"{family} has no device-transfer task (families with one: {', '.join(HELD_OUT_DEVICES)})"
    return None


def _device_rule(family: str, trained_on: tuple[str, ...]) -> str | None:
    if trained_on != (family,):
        return f"a device-transfer run trains on latencies of {family} itself: trained_on must be [{family!r}]"
    return None


def _device_track(shots: int) -> Track:
    return Track(
        f"device_transfer_k{shots}", f"Device transfer, {shots} shots",
        f"latency on a device held out of training (HELP's meta-test devices), from the other devices' "
        f"latencies{f' and {shots} labelled rows of the held-out device' if shots else ' only'}",
        "random", "latency", shots, "target", _device_rule, _device_scores, sources="other_devices")


TRACKS: dict[str, Track] = {track.name: track for track in (
    Track(IN_FAMILY, "In-family", "train on the family's random-split train part, score its test part",
          "random", "default", 0, "target", _in_family_rule),
    Track("gennape_zero_shot", "GENNAPE zero-shot (NB-101 source)",
          "train on NAS-Bench-101 (deduplicated), score a family never seen", "random", "accuracy", 0, "target",
          _gennape_zero_shot_rule, _gennape_scores, sources="gennape_source"),
    Track("gennape_few_shot", f"GENNAPE few-shot (NB-101 + {GENNAPE_SHOTS} rows)",
          f"the NB-101 model fine-tuned on {GENNAPE_SHOTS} rows of the family (fewshot50 split)", "fewshot50",
          "accuracy", GENNAPE_SHOTS, "target", _gennape_few_shot_rule, _gennape_scores, sources="gennape_source"),
    Track("lofo_zero_shot", "Leave one search space out (zero-shot)",
          f"train on every other search space's labelled families ({LABEL_NORMALISATION}), score the held-out one",
          "random", "accuracy", 0, "rank", _lofo_rule, sources="other_spaces"),
    *(_device_track(k) for k in DEVICE_SHOTS),
)}


def get_track(name: str) -> Track:
    if name not in TRACKS:
        raise unknown_name("track", name, TRACKS)
    return TRACKS[name]


def track_targets(track: Track, family) -> tuple[str, ...]:
    """The targets a track scores on a loaded family (none: the track does not apply to it)."""
    if track.target_kind == "latency":
        return tuple(t for t in HELD_OUT_DEVICES.get(family.name, ()) if t in family.targets)
    target = family.default_target
    if target is None or (track.target_kind == "accuracy" and not is_accuracy_target(family, target)):
        return ()
    return (target,)


def is_accuracy_target(family, target: str) -> bool:
    """An accuracy-like label: higher is better and no device (not a latency or other cost)."""
    meta = family.manifest["labels"][target]
    return bool(meta.get("higher_is_better", True)) and not meta.get("device")


def source_devices(family) -> tuple[str, ...]:
    """The latency columns a device-transfer run of ``family`` trains on: every device but the held-out ones."""
    held_out = set(HELD_OUT_DEVICES.get(family.name, ()))
    return tuple(name for name, meta in family.manifest["labels"].items()
                 if meta.get("device") and not meta.get("higher_is_better", True) and name not in held_out)


def gennape_source(built: Callable[[str], bool]) -> str:
    """The GENNAPE tracks' source: ``nb101_full`` when a user imported it (``built``), else ``nb101``."""
    return next((name for name in GENNAPE_SOURCES[:-1] if built(name)), GENNAPE_SOURCES[-1])


def lofo_sources(held_out: str, candidates: Iterable[str]) -> list[str]:
    """The families a leave-one-out run on ``held_out`` trains on: the candidates of other search spaces."""
    group = family_group(held_out)
    return [name for name in candidates if family_group(name) != group]


# ---------------------------------------------------------------------------------------------
# Training rows


@dataclass(frozen=True)
class TrainingRows:
    """Rows of a family and the label each is trained on (for a declared normalisation, not the raw column)."""

    family: str
    target: str
    indices: np.ndarray
    values: np.ndarray


def labelled(family, indices: np.ndarray, target: str) -> np.ndarray:
    """The rows of ``indices`` that carry ``target``."""
    return indices[~np.isnan(family.labels(target)[indices])]


def deduplicated_rows(family, target: str) -> TrainingRows:
    """One row per canonical CG (``wl_hash``) among the rows labelled with ``target``; its label is the
    mean over the rows sharing the CG (NASLib's NB-101 file lists 500 cells, 292 distinct; 55 rows are
    one trivial cell). The first such row represents the CG."""
    rows = labelled(family, np.arange(len(family)), target)
    hashes = np.asarray(family.table.column("wl_hash").to_pylist(), dtype=object)[rows]
    first, _, means = mean_by_key(hashes, family.labels(target)[rows])
    order = np.argsort(first)
    return TrainingRows(family.name, target, rows[first[order]], means[order])


def mean_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by equal ``keys``: each group's first row, each row's group, each group's mean value."""
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    return first, group, np.bincount(group, weights=values) / np.bincount(group)


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's average rank, scaled to [0, 1] (0 the worst, 1 the best; 0.5 for a single value)."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return np.full(len(values), 0.5)
    return (stats.rankdata(values) - 1) / (len(values) - 1)


def shot_rows(family, target: str, k: int, seed: int, split: str = "random") -> np.ndarray:
    """``k`` rows of the split's ``train`` part that carry ``target``, drawn by ``seed`` (sorted)."""
    pool = family.get_idx_split(split, target)["train"]
    if k > len(pool):
        raise InvalidInputError(f"{family.name} has {len(pool)} labelled train rows for {target}; {k} shots asked")
    return np.sort(np.random.default_rng(seed).choice(pool, size=k, replace=False)) if k else pool[:0]


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class Run:
    """Predictions of one method (one seed) for the evaluated part of one (track, family, target).

    ``predictions`` maps arch_id -> predicted value of the target (one per arch_id: rows listing the
    same architecture share it). ``n_train`` and ``seconds`` describe how it was made (the benchmark
    reports them; a submission need not carry them).
    """

    track: str
    family: str
    target: str
    seed: int
    trained_on: tuple[str, ...]
    predictions: Mapping[str, float] = field(repr=False)
    n_train: int | None = None
    seconds: float | None = None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return self.track, self.family, self.target, self.seed

    @property
    def split(self) -> str:
        return get_track(self.track).split

    @property
    def part(self) -> str:
        return get_track(self.track).part

    def label(self) -> str:
        return f"{self.track} {self.family} {self.target} seed {self.seed}"


def training_problem(run: Run) -> str | None:
    """What is wrong with the run's ``trained_on`` under its track's rule (None: nothing)."""
    return get_track(run.track).training_problem(run.family, run.trained_on)


def check_run(run: Run) -> None:
    """Raise :class:`InvalidRunError` if the run breaks its track's rule."""
    problem = training_problem(run)
    if problem is not None:
        raise InvalidRunError(f"{run.label()}: {problem}")


@dataclass(frozen=True)
class ScoredRun:
    """A run and its metrics, with truth and prediction aligned to the Evaluator's rows."""

    run: Run
    metrics: dict[str, float]
    arch_ids: list[str] = field(repr=False)
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)

    def as_dict(self, hide: Iterable[str] = ()) -> dict:
        """The run (without its predictions) and its metrics as JSON allows them (``hide``: metrics left out)."""
        run = self.run
        return {"track": run.track, "family": run.family, "target": run.target, "seed": run.seed,
                "trained_on": list(run.trained_on), "n_train": run.n_train,
                "seconds": None if run.seconds is None else round(run.seconds, 3),
                "metrics": json_metrics(self.metrics, hide)}


def evaluator_for(run: Run, family):
    from .evaluation import Evaluator

    return Evaluator(family, split=run.split, part=run.part, target=run.target)


def score_run(run: Run, family, metrics: Sequence[str] | None = None, evaluator=None) -> ScoredRun:
    """Check the run's rule and score its predictions with the Evaluator of its split, part and target.

    ``evaluator``: one already made for the same (family, split, part, target), to share between seeds.
    """
    check_run(run)
    evaluator = evaluator or evaluator_for(run, family)
    y_pred = evaluator.check(dict(run.predictions))
    return ScoredRun(run, evaluator.eval(y_pred, metrics=metrics), evaluator.arch_ids, evaluator.y_true, y_pred)


@dataclass(frozen=True)
class SeedAggregate:
    """The runs of one (track, family, target) over seeds: mean and sample std (None for one seed) of each metric."""

    track: str
    family: str
    target: str
    trained_on: tuple[str, ...]
    seeds: tuple[int, ...]
    n_test: int
    mean: dict[str, float]
    std: dict[str, float | None]
    n_train: int | None = None
    seconds: float | None = None

    def as_dict(self, hide: Iterable[str] = ()) -> dict:
        """The aggregate as JSON allows it (``hide``: metrics left out)."""
        return {"track": self.track, "family": self.family, "target": self.target, "trained_on": list(self.trained_on),
                "seeds": list(self.seeds), "n_train": self.n_train, "n_test": self.n_test,
                "mean": json_metrics(self.mean, hide), "std": json_metrics(self.std, hide),
                "seconds_per_seed": self.seconds}


def json_number(value: float | None) -> float | None:
    """A metric as JSON allows it: NaN and infinities (a Spearman of constant predictions) become null."""
    return None if value is None or not math.isfinite(value) else value


def json_metrics(metrics: Mapping[str, float | None], hide: Iterable[str] = ()) -> dict[str, float | None]:
    hidden = set(hide)
    return {k: json_number(v) for k, v in metrics.items() if k not in hidden}


def aggregate(scored: Sequence[ScoredRun]) -> list[SeedAggregate]:
    """Group runs by (track, family, target) in track order; mean and sample std (ddof=1) of every metric."""
    groups: dict[tuple[str, str, str], list[ScoredRun]] = {}
    for result in scored:
        groups.setdefault((result.run.track, result.run.family, result.run.target), []).append(result)
    out = []
    for (track, family, target), members in sorted(groups.items(), key=lambda item: _track_order(item[0])):
        seeds = [m.run.seed for m in members]
        if len(set(seeds)) != len(seeds):
            raise InvalidRunError(f"{track} {family} {target} has repeated seeds {seeds}; each seed runs once")
        names = [k for k in members[0].metrics if k != "n"]
        values = {k: np.array([m.metrics.get(k, np.nan) for m in members], float) for k in names}
        n_train = [m.run.n_train for m in members if m.run.n_train is not None]
        seconds = [m.run.seconds for m in members if m.run.seconds is not None]
        out.append(SeedAggregate(
            track=track, family=family, target=target, trained_on=members[0].run.trained_on,
            seeds=tuple(sorted(seeds)), n_test=len(members[0].arch_ids),
            mean={k: float(np.mean(v)) for k, v in values.items()},
            std={k: float(np.std(v, ddof=1)) if len(v) > 1 else None for k, v in values.items()},
            n_train=int(np.mean(n_train)) if n_train else None, seconds=float(np.mean(seconds)) if seconds else None))
    return out


# A method beats the FLOPs ranking on a (track, family, target) when its mean Spearman is above the
# FLOPs ranking's by more than seed noise: a one-sided t-test at 5% on the seeds' Spearman values
# (the FLOPs ranking of a fixed test part is one number), and by at least BEATS_MIN_MARGIN, since a
# deterministic method (std 0) that ties FLOPs to the fourth decimal has not beaten it.
BEATS_ALPHA, BEATS_MIN_MARGIN = 0.05, 0.005


def beats_flops(result: SeedAggregate) -> bool:
    """Whether ``result``'s mean Spearman is above the FLOPs ranking's by more than seed noise (see above)."""
    margin = result.mean["spearman"] - result.mean["flops_spearman"]
    std, n = result.std.get("spearman"), len(result.seeds)
    noise = 0.0 if std is None or n < 2 else stats.t.ppf(1 - BEATS_ALPHA, n - 1) * std / math.sqrt(n)
    return margin > max(noise, BEATS_MIN_MARGIN)


def track_rank(track: str) -> int:
    """Where a track comes in every table and listing: the task's order (``TRACKS``); unknown ones last."""
    return list(TRACKS).index(track) if track in TRACKS else len(TRACKS)


def _track_order(key: tuple[str, str, str]) -> tuple[int, str, str]:
    return track_rank(key[0]), key[1], key[2]


# ---------------------------------------------------------------------------------------------
# Published anchors: numbers from the literature that a table of ours is read beside


@dataclass(frozen=True)
class Anchor:
    """A published Spearman's rho for a (track, family, target), with what exactly it measured."""

    track: str
    family: str
    target: str  # the cgbench label column nearest to what the publication scored
    text: str
    spearman: float
    source: str
    # The rows the publication scored, when not a whole test part (a description).
    subset: str | None = None


NONE_FREE_NB201 = ("GENNAPE's NB-201 set (the 4,096 cells without a 'none' edge; scored on the 4,046 outside "
                   "its 50 fine-tuning cells, split gennape4096)")
# The publications score NB-201's CIFAR-10 accuracy after 200 epochs; cgbench's CIFAR-10 label of it.
NB201_C10 = "c10_valid_acc_200ep"

HELP_SOURCE = "Lee et al., HELP, NeurIPS 2021 (HayeonLee/HELP README: NB-201 table 3, FBNet table 2)"
# HELP scores the 1,000 architectures after its training pool less the 10% fastest and the 10% slowest on
# the device (loader.py; benchmarks/help_rows.py scores cgbench's methods on the same rows).
HELP_QUERY_START = {"nb201": 900, "fbnet": 4000}
HELP_QUERY_SIZE = 1000
HELP_OUTLIER_SHARE = 0.1  # cut at each end
HELP_10_SHOT = {
    ("nb201", "lat_titanrtx_bs256_ms"): 0.987, ("nb201", "lat_gold6226_ms"): 0.989, ("nb201", "lat_pixel2_ms"): 0.802,
    ("nb201", "lat_raspi4_ms"): 0.890, ("nb201", "lat_eyeriss_ms"): 0.940, ("nb201", "lat_fpga_ms"): 0.985,
    ("fbnet", "lat_raspi4_ms"): 0.887, ("fbnet", "lat_eyeriss_ms"): 0.943, ("fbnet", "lat_fpga_ms"): 0.892,
}
HELP_FLOPS = {
    ("nb201", "lat_titanrtx_bs256_ms"): 0.950, ("nb201", "lat_gold6226_ms"): 0.826, ("nb201", "lat_pixel2_ms"): 0.765,
    ("nb201", "lat_raspi4_ms"): 0.846, ("nb201", "lat_eyeriss_ms"): 0.437, ("nb201", "lat_fpga_ms"): 0.900,
}


def _help_subset(family: str) -> str:
    start, share = HELP_QUERY_START[family], HELP_OUTLIER_SHARE
    kept = round(HELP_QUERY_SIZE * (1 - 2 * share))
    return (f"HELP's rows: {family} indices {start:,}-{start + HELP_QUERY_SIZE - 1:,} less the {share:.0%} fastest and "
            f"the {share:.0%} slowest on the device ({kept}), not cgbench's test part; one draw of 10 shots from "
            f"indices 0-{start - 1:,}")


PUBLISHED_ANCHORS: tuple[Anchor, ...] = (
    Anchor("gennape_zero_shot", "nb201", NB201_C10, "GENNAPE pretrained on NB-101, zero-shot on NB-201", 0.815,
           "Mills et al., GENNAPE, AAAI-23 (NB-201 CIFAR-10 test accuracy)", NONE_FREE_NB201),
    Anchor("gennape_few_shot", "nb201", NB201_C10, "GENNAPE pretrained on NB-101, fine-tuned on 50 NB-201 cells", 0.910,
           "Mills et al., GENNAPE, AAAI-23 (NB-201 CIFAR-10 test accuracy)", NONE_FREE_NB201),
    Anchor("gennape_zero_shot", "nb201", NB201_C10, "FLAN's public zero-shot NB-201 predictions, ensemble of two models "
           "(0.78 and 0.80 alone)", 0.849,
           "Akhauri & Abdelfattah, FLAN (2024), public prediction files as measured by cgbench; trained on "
           "other search spaces than NB-101 alone"),
    Anchor("in_family", "nb201", NB201_C10, "synflow alone on NB-201 CIFAR-10 (a training-free rule)", 0.74,
           "Abdelfattah et al. 2021; Krishnakumar et al. 2022 (NAS-Bench-Suite-Zero)"),
    Anchor("in_family", "nb201", NB201_C10, "NASWOT alone on NB-201 CIFAR-10 (a training-free rule)", 0.79,
           "Mellor et al. 2021; Krishnakumar et al. 2022 (NAS-Bench-Suite-Zero)"),
    *(Anchor("device_transfer_k10", family, device, "HELP, 10 shots of the held-out device", value, HELP_SOURCE,
             _help_subset(family)) for (family, device), value in HELP_10_SHOT.items()),
    *(Anchor("device_transfer_k10", family, device, "FLOPs as HELP's table lists it (a training-free rule)", value,
             HELP_SOURCE, _help_subset(family)) for (family, device), value in HELP_FLOPS.items()),
)


def anchors_for(track: str, family: str, target: str) -> list[Anchor]:
    """The published anchors of one leaderboard table (an anchor of CIFAR-10 accuracy never heads a
    CIFAR-100 or latency table of the same family)."""
    return [a for a in PUBLISHED_ANCHORS if (a.track, a.family, a.target) == (track, family, target)]

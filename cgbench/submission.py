"""The submission format (``cgbench-submission-2``): one JSON document per method, its runs of the
benchmark's tracks (:mod:`cgbench.tasks`), stored gzip-compressed as ``<method>.json.gz`` (plain
``.json`` is read and written too; the file name's suffix decides).

A submission holds raw predictions, never scores: the validator recomputes every metric with
``cgbench.evaluation.Evaluator``. This module owns the format: the dataclasses, the strict parser
(``load_submission``: unknown keys, wrong types, duplicated JSON keys and the track rules, which
need no family data, are rejected here) and the writer producers use (``write_submission``). Rules
that need the built families (known target, current data version, exact arch_ids) live in
``leaderboard.validate``.

Besides its runs a submission says how the method was run: ``method.protocol`` (``quick``,
``reference``, ``full`` or ``custom``, the training cap and the predictor settings, shown as a badge;
``published`` when the predictions are scores someone else computed and published, the settings
saying whose, from which file, under which licence) and
``method.scale`` (``target`` when predictions estimate the target's own values, so MAE and MAPE
mean something; ``rank`` when they are scores of which only the order counts).

The writer rounds the predictions of a run to 8 significant digits (a relative error of 5e-8 at
most, finer than float32's 6e-8), or to the fewest digits up to 17 (float64, exact) that keep its
distinct predictions distinct. Rounding is monotone and creates no ties, so a run's ranking, and
with it every rank metric, is exactly the submitted one; error metrics (MAE, MAPE) move by a
relative 5e-8 at most where 8 digits do. A predictor's float64 digits beyond float32's are noise,
and they are most of what gzip cannot compress (arch_ids repeat across seeds and compress well).
The reader takes any finite JSON number.

Reading is bounded (``cgbench.userfiles``): a file above ``MAX_SUBMISSION_BYTES``, compressed or
inflated, is refused before it fills memory, and so is JSON nested deeper than the format needs.
A method's name is lower-case letters, digits and ``_`` (``METHOD_NAME``): it names the file
``<method>.json.gz`` and a row of the leaderboard.
"""

from __future__ import annotations

import gzip
import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from . import __version__ as CGBENCH_VERSION
from .errors import InvalidFileError, InvalidInputError
from .storage import write_bytes
from .tasks import TRACKS, Run, get_track
from .userfiles import MAX_FILE_BYTES, decode_text, gunzip, parse_json, read_bytes

FORMAT_TAG = "cgbench-submission-2"
TOP_LEVEL_KEYS = ("format", "method", "cgbench_version", "families", "runs")
METHOD_KEYS = ("name", "description", "code_url", "hardware", "n_parameters", "scale", "protocol")
PROTOCOL_KEYS = ("name", "train_cap", "settings")
PROTOCOL_NAMES = ("quick", "reference", "full", "custom", "published")
SCALES = ("target", "rank")
FAMILY_KEYS = ("version", "data_sha256")
RUN_KEYS = ("track", "family", "split", "part", "target", "seed", "trained_on", "predictions")
# Significant digits of stored predictions: 8 (finer than float32) up to 17 (exact float64).
MIN_DIGITS, EXACT_DIGITS = 8, 17
GZIP_SUFFIX, JSON_SUFFIX = ".json.gz", ".json"
SUBMISSION_SUFFIXES = (GZIP_SUFFIX, JSON_SUFFIX)
GZIP_MAGIC = b"\x1f\x8b"
# The standard protocol's submissions are about 13 MB of JSON; the cap is for the file and for its inflated JSON.
MAX_SUBMISSION_BYTES = MAX_FILE_BYTES
METHOD_NAME = re.compile(r"[a-z0-9_]+")


def is_public_address(code_url: str) -> bool:
    """An http(s) address: what the shipped leaderboard requires (a local path serves a local board)."""
    return code_url.startswith(("https://", "http://"))


class InvalidSubmissionError(InvalidInputError):
    """A submission that breaks the format or the benchmark's rules; the message says which and where."""


@dataclass(frozen=True)
class ProtocolInfo:
    """How the method was run: ``quick`` (the default, capped protocol, short budgets), ``reference`` (the quick
    protocol's rows at converged budgets), ``full`` (paper scale), ``custom``, or ``published`` (scores taken
    from another project's published files, which ``settings`` names)."""

    name: str
    # Most labelled training rows per fit (None: all).
    train_cap: int | None
    # The predictor's settings in words (epochs, ...), as the benchmark printed them.
    settings: str

    def badge(self) -> str:
        if self.name == "published":
            return f"published scores: {self.settings}"
        cap = "all rows" if self.train_cap is None else f"≤{self.train_cap} training rows per fit"
        return f"{self.name} protocol, {cap}" + (f", {self.settings}" if self.settings else "")


@dataclass(frozen=True)
class MethodInfo:
    name: str
    description: str
    code_url: str
    hardware: str
    n_parameters: int
    scale: str = "target"
    protocol: ProtocolInfo = ProtocolInfo("custom", None, "")


@dataclass(frozen=True)
class FamilyVersion:
    """The build of a family a submission was made against (``Family.version``, ``Family.data_sha256``)."""

    version: str
    data_sha256: str


@dataclass(frozen=True)
class Submission:
    method: MethodInfo
    cgbench_version: str
    families: dict[str, FamilyVersion]
    runs: tuple[Run, ...]


# ---------------------------------------------------------------------------------------------
# Reading


class _ObjectWithDuplicates(dict):
    """A JSON object in which some key appeared more than once (the parser keeps the last value)."""

    def __init__(self, pairs: list[tuple[str, object]], duplicates: list[str]) -> None:
        super().__init__(pairs)
        self.duplicates = duplicates


def _keep_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    duplicates = [key for key, _ in pairs if key in seen or seen.add(key)]
    return _ObjectWithDuplicates(pairs, duplicates) if duplicates else dict(pairs)


def is_submission_file(path: Path) -> bool:
    return path.name.endswith(SUBMISSION_SUFFIXES)


def _check_suffix(path: Path) -> None:
    if not is_submission_file(path):
        raise InvalidSubmissionError(f"{path}: a submission file is named *{GZIP_SUFFIX} (gzip-compressed JSON) "
                                     f"or *{JSON_SUFFIX}")


def read_submission_bytes(path: Path) -> bytes:
    """The JSON bytes of a submission file, decompressed when its name ends in ``.json.gz``, at most
    ``MAX_SUBMISSION_BYTES`` either way."""
    _check_suffix(path)
    try:
        raw = read_bytes(path, "a submission", MAX_SUBMISSION_BYTES)
        if not path.name.endswith(GZIP_SUFFIX):
            if raw.startswith(GZIP_MAGIC):
                raise InvalidSubmissionError(f"{path}: the file is gzip-compressed; name it *{GZIP_SUFFIX}")
            return raw
        return gunzip(raw, str(path), MAX_SUBMISSION_BYTES)
    except (InvalidFileError, IsADirectoryError, FileNotFoundError, PermissionError) as err:
        raise InvalidSubmissionError(str(err)) from None


def load_submission(path: str | Path) -> Submission:
    """Read and structurally check a submission file (``.json.gz`` or ``.json``); raise
    ``InvalidSubmissionError`` on any problem."""
    path = Path(path)
    try:
        document = parse_json(decode_text(read_submission_bytes(path), str(path)), str(path), _keep_duplicates)
    except InvalidFileError as err:
        raise InvalidSubmissionError(str(err)) from None
    return parse_submission(document)


def parse_submission(document: object) -> Submission:
    """Check a decoded JSON document against the format and the rules that need no family data."""
    top = _object(document, "the submission", TOP_LEVEL_KEYS)
    if top["format"] != FORMAT_TAG:
        raise InvalidSubmissionError(f"format is {top['format']!r}; expected {FORMAT_TAG!r}")
    method = _method(top["method"])
    cgbench_version = _string(top["cgbench_version"], "cgbench_version")
    families = _families(top["families"])
    if not isinstance(top["runs"], list) or not top["runs"]:
        raise InvalidSubmissionError(f"runs must be a non-empty list of run objects, got {_describe(top['runs'])}")
    runs = tuple(_run(raw, i) for i, raw in enumerate(top["runs"]))
    _check_runs_together(runs, families)
    return Submission(method, cgbench_version, families, runs)


def _describe(value: object) -> str:
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"


def _object(value: object, where: str, keys: tuple[str, ...]) -> dict:
    """``value`` as a JSON object with exactly ``keys``."""
    mapping = _mapping(value, where)
    unknown = [k for k in mapping if k not in keys]
    if unknown:
        hint = " (scores are never accepted: the leaderboard recomputes them from predictions)" \
            if "metrics" in unknown or "scores" in unknown else ""
        raise InvalidSubmissionError(f"{where} has unknown key(s) {unknown}{hint}; allowed keys: {list(keys)}")
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise InvalidSubmissionError(f"{where} is missing key(s) {missing}; required keys: {list(keys)}")
    return mapping


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidSubmissionError(f"{where} must be a JSON object, got {_describe(value)}")
    if isinstance(value, _ObjectWithDuplicates):
        raise InvalidSubmissionError(f"{where}: key(s) {value.duplicates[:3]} appear more than once in the JSON text")
    return value


def _string(value: object, where: str, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidSubmissionError(f"{where} must be a string, got {_describe(value)}")
    if non_empty and not value.strip():
        raise InvalidSubmissionError(f"{where} must be a non-empty string")
    return value


def _integer(value: object, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSubmissionError(f"{where} must be an integer, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise InvalidSubmissionError(f"{where} must be >= {minimum}, got {value}")
    return value


def _method(value: object) -> MethodInfo:
    raw = _object(value, "method", METHOD_KEYS)
    code_url = _string(raw["code_url"], "method.code_url")
    if not (is_public_address(code_url) or Path(code_url).is_absolute()):
        raise InvalidSubmissionError(f"method.code_url must be an http(s) address of the code (or, on a local "
                                     f"board, the absolute path of its file), got {code_url!r}")
    name = _string(raw["name"], "method.name", non_empty=True)
    scale = _string(raw["scale"], "method.scale")
    if scale not in SCALES:
        raise InvalidSubmissionError(f"method.scale is {scale!r}; expected one of {list(SCALES)} (target: predictions "
                                     "estimate the target's values; rank: only their order counts)")
    if not METHOD_NAME.fullmatch(name):
        raise InvalidSubmissionError(f"method.name {name!r} must be lower-case letters, digits and _ "
                                     f"(it names the file <name>{GZIP_SUFFIX})")
    return MethodInfo(
        name=name,
        description=_string(raw["description"], "method.description"),
        code_url=code_url,
        hardware=_string(raw["hardware"], "method.hardware", non_empty=True),
        n_parameters=_integer(raw["n_parameters"], "method.n_parameters", minimum=0),
        scale=scale, protocol=_protocol(raw["protocol"]),
    )


def _protocol(value: object) -> ProtocolInfo:
    raw = _object(value, "method.protocol", PROTOCOL_KEYS)
    name = _string(raw["name"], "method.protocol.name")
    if name not in PROTOCOL_NAMES:
        raise InvalidSubmissionError(f"method.protocol.name is {name!r}; expected one of {list(PROTOCOL_NAMES)}")
    cap = None if raw["train_cap"] is None else _integer(raw["train_cap"], "method.protocol.train_cap", minimum=1)
    return ProtocolInfo(name, cap, _string(raw["settings"], "method.protocol.settings"))


def _families(value: object) -> dict[str, FamilyVersion]:
    raw = _mapping(value, "families")
    if not raw:
        raise InvalidSubmissionError("families must name every family predicted or trained on; it is empty")
    families = {}
    for name, entry in raw.items():
        fields = _object(entry, f"families[{name!r}]", FAMILY_KEYS)
        families[name] = FamilyVersion(
            version=_string(fields["version"], f"families[{name!r}].version", non_empty=True),
            data_sha256=_string(fields["data_sha256"], f"families[{name!r}].data_sha256", non_empty=True))
    return families


def _run(value: object, index: int) -> Run:
    where = f"run #{index}"
    raw = _object(value, where, RUN_KEYS)
    track_name = _string(raw["track"], f"{where} track")
    if track_name not in TRACKS:
        raise InvalidSubmissionError(f"{where}: unknown track {track_name!r}; expected one of {list(TRACKS)}")
    track = get_track(track_name)
    family = _known_family(_string(raw["family"], f"{where} family", non_empty=True), where)
    target = _string(raw["target"], f"{where} target", non_empty=True)
    seed = _integer(raw["seed"], f"{where} seed")
    where = f"run #{index} ({track.name} {family} {target} seed {seed})"
    split = _string(raw["split"], f"{where} split")
    if split != track.split:
        raise InvalidSubmissionError(
            f"{where}: split is {split!r}, but the {track.name} track is evaluated on split {track.split!r}")
    part = _string(raw["part"], f"{where} part")
    if part != track.part:
        raise InvalidSubmissionError(f"{where}: part is {part!r}; only the {track.part!r} part is scored")
    trained_on = tuple(_known_family(name, where) for name in _trained_on(raw["trained_on"], where))
    problem = track.training_problem(family, trained_on)
    if problem is not None:
        raise InvalidSubmissionError(f"{where}: {problem}, got trained_on {list(trained_on)}")
    return Run(track=track.name, family=family, target=target, seed=seed, trained_on=trained_on,
               predictions=_predictions(raw["predictions"], where))


def _known_family(name: str, where: str) -> str:
    from .families import list_families

    if name not in list_families():
        raise InvalidSubmissionError(f"{where}: unknown family {name!r}; known families: {', '.join(list_families())}")
    return name


def _trained_on(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSubmissionError(f"{where}: trained_on must be a list of family names, got {_describe(value)}")
    if len(set(value)) != len(value):
        raise InvalidSubmissionError(f"{where}: trained_on names a family more than once: {value}")
    return tuple(value)


def _predictions(value: object, where: str) -> dict[str, float]:
    if isinstance(value, _ObjectWithDuplicates):
        raise InvalidSubmissionError(f"{where} predictions: arch_id(s) {value.duplicates[:3]} appear more than once")
    raw = _mapping(value, f"{where} predictions")
    if not raw:
        raise InvalidSubmissionError(f"{where}: predictions is empty")
    predictions = {}
    for arch_id, score in raw.items():
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise InvalidSubmissionError(
                f"{where}: prediction for {arch_id!r} is {_describe(score)}; expected a finite number")
        value = _finite_float(score)
        if value is None:
            raise InvalidSubmissionError(
                f"{where}: prediction for {arch_id!r} is {repr(score)[:60]}; predictions must be finite "
                "(no NaN or inf, no integer beyond float's range)")
        predictions[arch_id] = value
    return predictions


def _finite_float(score: numbers.Real) -> float | None:
    """``score`` as a float, or None if it is NaN, infinite or (a JSON integer) beyond float's range."""
    try:
        value = float(score)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _check_runs_together(runs: tuple[Run, ...], families: dict[str, FamilyVersion]) -> None:
    seen: dict[tuple[str, str, str, int], int] = {}
    for i, run in enumerate(runs):
        if run.key in seen:
            raise InvalidSubmissionError(
                f"run #{i} ({run.label()}) duplicates run #{seen[run.key]}: one run per (track, family, target, seed)")
        seen[run.key] = i
    _check_seed_groups_agree(runs)
    used = {run.family for run in runs} | {name for run in runs for name in run.trained_on}
    for i, run in enumerate(runs):
        for name in (run.family, *run.trained_on):
            if name not in families:
                raise InvalidSubmissionError(
                    f"run #{i} ({run.label()}) uses family {name!r}, which is missing from \"families\" "
                    "(every family predicted or trained on needs its version and data_sha256 there)")
    unused = sorted(set(families) - used)
    if unused:
        raise InvalidSubmissionError(f"families lists {unused}, which no run predicts or trains on")


def _check_seed_groups_agree(runs: tuple[Run, ...]) -> None:
    """Seeds of one (track, family, target) are aggregated, so they must share their training families."""
    first: dict[tuple[str, str, str], Run] = {}
    for run in runs:
        reference = first.setdefault((run.track, run.family, run.target), run)
        if run.trained_on != reference.trained_on:
            raise InvalidSubmissionError(
                f"runs {reference.label()} and {run.label()} differ in trained_on; the seeds of one "
                "(track, family, target) are averaged, so they must share it")


# ---------------------------------------------------------------------------------------------
# Writing


def submission_to_json(submission: Submission) -> dict:
    return {
        "format": FORMAT_TAG,
        "method": {**{key: getattr(submission.method, key) for key in METHOD_KEYS if key != "protocol"},
                   "protocol": {key: getattr(submission.method.protocol, key) for key in PROTOCOL_KEYS}},
        "cgbench_version": submission.cgbench_version,
        "families": {name: {"version": fv.version, "data_sha256": fv.data_sha256}
                     for name, fv in sorted(submission.families.items())},
        "runs": [{"track": r.track, "family": r.family, "split": r.split, "part": r.part, "target": r.target,
                  "seed": r.seed, "trained_on": list(r.trained_on), "predictions": dict(r.predictions)}
                 for r in submission.runs],
    }


def family_versions(families: Iterable) -> dict[str, FamilyVersion]:
    """``{name: FamilyVersion}`` of loaded ``cgbench.Family`` objects (a mapping is passed through)."""
    if isinstance(families, Mapping):
        return {name: fv if isinstance(fv, FamilyVersion) else FamilyVersion(**fv) for name, fv in families.items()}
    return {family.name: FamilyVersion(family.version, family.data_sha256) for family in families}


def write_submission(path: str | Path, method: MethodInfo, runs: Iterable[Run], families: Iterable) -> Path:
    """Write a submission atomically, after checking it as ``load_submission`` will read it.

    ``path`` ends in ``.json.gz`` (gzip-compressed, the leaderboard's form) or ``.json``.
    ``families``: the loaded ``cgbench.Family`` objects the runs predict or train on, or a mapping
    ``{name: FamilyVersion}``. Run predictions are ``{arch_id: score}`` (numpy scalars are fine);
    they are stored at 8 significant digits where that creates no ties (see the module docstring).
    """
    path = Path(path)
    _check_suffix(path)
    runs = tuple(replace(r, predictions=_stored_predictions(r.predictions), trained_on=tuple(r.trained_on),
                         n_train=None, seconds=None) for r in runs)
    document = submission_to_json(Submission(method, CGBENCH_VERSION, family_versions(families), runs))
    parse_submission(json.loads(json.dumps(document), object_pairs_hook=_keep_duplicates))
    data = (json.dumps(document, indent=1, allow_nan=False) + "\n").encode("utf-8")
    if path.name.endswith(GZIP_SUFFIX):
        # mtime=0: the same submission gives the same bytes.
        data = gzip.compress(data, compresslevel=9, mtime=0)
    write_bytes(path, data)
    return path


def write_problem_submission(path: str | Path, method: MethodInfo, predictions: Mapping) -> Path:
    """Write the submission of ``predictions``: ``{problem: scores}`` with problems from
    :func:`cgbench.problems.problems` and scores one per ``problem.predict_indices`` row, in that order
    (the bring-your-own-loop way to the leaderboard; a run per problem, in the order given)."""
    runs = [problem.run(scores, who=f"{method.name}'s predictions") for problem, scores in predictions.items()]
    families = {}
    for problem in predictions:
        families[problem.family.name] = problem.family
        for part in (*problem.train, *([problem.shots] if problem.shots is not None else [])):
            families[part.family.name] = part.family
    return write_submission(path, method, runs, [families[name] for name in sorted(families)])


def _stored_predictions(predictions: Mapping[str, object]) -> dict[str, float]:
    """The run's predictions rounded to the fewest significant digits (at least ``MIN_DIGITS``) that
    keep its distinct predictions distinct, in arch_id order (the same predictions, the same bytes)."""
    predictions = dict(sorted(predictions.items()))
    values = [_plain_float(score) for score in predictions.values()]
    distinct = len(set(values))
    for digits in range(MIN_DIGITS, EXACT_DIGITS):
        rounded = [float(f"{value:.{digits}g}") for value in values]
        if len(set(rounded)) == distinct:
            return dict(zip(predictions, rounded))
    return dict(zip(predictions, values))


def _plain_float(score: object) -> float:
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise InvalidSubmissionError(f"prediction {score!r} ({type(score).__name__}) is not a real number")
    value = _finite_float(score)
    if value is None:
        raise InvalidSubmissionError(f"prediction {score!r} is not finite; submissions hold finite numbers only")
    return value

"""A plan: a folder whose ``plan.parquet`` lists work units under stable ids, of one registered kind.

The engine knows nothing of what a unit does. A plan kind is a class (registered under the
``cgbench.plan_kinds`` entry-point group, its name the plan's ``kind``) with:

- ``load(folder)`` (classmethod): the plan in ``folder``, its units checked against their ids;
- ``folder`` and ``units`` (dataclasses with a ``unit_id``; :class:`PlanLayout` gives the folders);
- ``describe()`` and ``unit_label(unit_id)``: words for status lines;
- ``result_problems(unit, record)``: every way a result record is not this unit's (empty: it is);
- ``result_line(record)``: one line about a finished unit;
- ``open_runner(options)``: a context manager giving ``run(unit) -> record``, opened once per worker
  (what all units share, a dataset, loaded families, is loaded there);
- optionally ``group_key(unit)``: units with the same key run one after another in one worker (they
  share work, such as a fitted model); by default each unit is its own group.

``plan.parquet`` is written once (:func:`write_plan_file`): the same arguments give the same bytes
(no timestamp: that lives in the human-readable ``plan.json`` beside it), and writing a different
plan into a folder that holds one is an error. Its key-value metadata (``cgbench.plan.*``) holds the
kind and whatever the kind records; a file that is unreadable, or not a plan, is
:class:`InvalidPlanError` naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Hashable
from datetime import datetime, timezone
from functools import cache, cached_property
from importlib.metadata import entry_points
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InvalidFileError, InvalidInputError, UnknownNameError, unknown_name
from ..storage import atomic_write_text, read_parquet_file, write_bytes
from ..userfiles import read_json

PLAN_FILE = "plan.parquet"
PLAN_SUMMARY = "plan.json"
UNIT_ID_LENGTH = 16
PLAN_KINDS_GROUP = "cgbench.plan_kinds"
_META_PREFIX = b"cgbench.plan."
# Plans written before the engine moved out of labeling carry this prefix (and no kind: training).
_OLD_META_PREFIX = b"cgbench.label."
MADE_BY = "expected a plan folder made by `cgbench label plan`, `cgbench zcp plan` or `cgbench benchmark`"


class InvalidPlanError(InvalidFileError):
    """A plan file that is unreadable, not a plan, or edited since it was made."""


def stable_id(*parts: str) -> str:
    """A unit id: the first 16 hex digits of sha256 of the parts joined by ``|`` (the same on every machine)."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:UNIT_ID_LENGTH]


class PlanLayout:
    """The folders of a plan of any kind and its units by id (a plan has ``folder`` and ``units``)."""

    folder: Path
    units: tuple

    @property
    def results_dir(self) -> Path:
        return self.folder / "results"

    @property
    def failures_dir(self) -> Path:
        return self.folder / "failures"

    @property
    def checkpoints_dir(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.folder / "logs"

    @cached_property
    def units_by_id(self) -> dict:
        return {unit.unit_id: unit for unit in self.units}

    def unit(self, unit_id: str):
        if unit_id not in self.units_by_id:
            raise UnknownNameError(f"plan {self.folder} has no unit {unit_id!r}")
        return self.units_by_id[unit_id]

    @property
    def launch_lock(self) -> Path:
        """The lock one launch holds while its workers run (``cgbench.jobs.worker.hold_plan``)."""
        return self.folder / ".launch.lock"

    def checkpoint_path(self, unit_id: str) -> Path:
        return self.checkpoints_dir / f"{unit_id}.pt"

    def group_key(self, unit) -> Hashable:
        return unit.unit_id

    def result_line(self, record: dict) -> str:
        return "published"


def write_plan_file(folder: Path, kind: str, table: pa.Table, metadata: dict[str, str], summary: dict) -> None:
    """Write a plan's units ``table`` with ``metadata`` once: byte-identical again is a no-op, different an error."""
    table = table.replace_schema_metadata({_META_PREFIX + k.encode(): v.encode()
                                           for k, v in {"kind": kind, **metadata}.items()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    content = buffer.getvalue()
    file = Path(folder) / PLAN_FILE
    if file.exists():
        if file.read_bytes() != content:
            raise FileExistsError(
                f"{folder} already holds a different plan; choose another --out folder or delete it "
                "(its results belong to that plan)")
        return
    write_bytes(file, content)
    atomic_write_text(Path(folder) / PLAN_SUMMARY, json.dumps(
        {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kind": kind, **summary}, indent=2))


def read_plan_file(path: str | Path) -> tuple[pa.Table, dict[str, str], Path]:
    """The units table, the metadata (with ``kind``) and the file of the plan in folder ``path`` (or the file)."""
    path = Path(path)
    if path.is_file() and path.name != PLAN_FILE:
        raise InvalidInputError(f"{path} is a file; {MADE_BY}")
    file = path if path.name == PLAN_FILE else path / PLAN_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist: {MADE_BY}")
    try:
        table = read_parquet_file(file, "Parquet plan", "the plan is damaged: make it again into a new folder (its "
                                  "results are kept in the old one's store) or restore the file")
    except InvalidFileError as err:
        raise InvalidPlanError(str(err)) from None
    return table, _read_metadata(table.schema, file), file


def _read_metadata(schema: pa.Schema, file: Path) -> dict[str, str]:
    raw = schema.metadata or {}
    prefix = _META_PREFIX if any(k.startswith(_META_PREFIX) for k in raw) else _OLD_META_PREFIX
    try:
        meta = {k[len(prefix):].decode(): v.decode() for k, v in raw.items() if k.startswith(prefix)}
    except UnicodeDecodeError:
        raise InvalidPlanError(f"{file}: its metadata is not UTF-8 text; it is not a cgbench plan") from None
    if not meta:
        raise InvalidPlanError(f"{file} is not a cgbench plan: it has no plan metadata")
    meta.setdefault("kind", "train")
    return meta


def require_metadata(meta: dict[str, str], keys: tuple[str, ...], file: Path) -> None:
    """:class:`InvalidPlanError` unless the plan's metadata holds every one of ``keys``."""
    missing = sorted(set(keys) - set(meta))
    if missing:
        raise InvalidPlanError(f"{file} is not a cgbench {meta.get('kind')} plan: its metadata lacks {missing}")


def plan_created(folder: Path) -> str:
    """When the plan was made, from its human-readable summary (empty if there is none)."""
    summary = Path(folder) / PLAN_SUMMARY
    if not summary.is_file():
        return ""
    record = read_json(summary, "a plan summary", 16 * 2**20)
    created = record.get("created") if isinstance(record, dict) else None
    if not isinstance(created, str):
        raise InvalidPlanError(f"{summary} has no 'created' time; it is not a plan summary")
    return created


@cache
def plan_kinds() -> dict[str, object]:
    """Every registered plan kind: name -> entry point (loaded on use)."""
    return {entry.name: entry for entry in entry_points(group=PLAN_KINDS_GROUP)}


def plan_kind(name: str) -> type:
    kinds = plan_kinds()
    if name not in kinds:
        raise unknown_name("plan kind", name, kinds)
    return kinds[name].load()


def load_plan(path: str | Path):
    """The plan in folder ``path``, of whichever registered kind its file names."""
    _, meta, _ = read_plan_file(path)
    return plan_kind(meta["kind"]).load(path)

"""The result store of a plan: exactly one complete result file per finished work unit.

``<results>/<unit_id>.json`` is written once: the JSON goes to a temporary file in the same
folder, is flushed and fsynced, and is then *hard-linked* to its final name, and the folder is
fsynced. ``os.link`` fails when the name exists, so of two workers that finish the same unit (a
requeued array task racing its predecessor) exactly one wins and the other gets
:class:`ResultExistsError`; ``os.replace`` would silently let the later one overwrite. A crash at
any point leaves either no result or the whole result, never a part of one: readers only look at
``<unit_id>.json``, and a name only ever points to a fully written, fsynced file.

Leftover temporary files (``.*.tmp``, from a crash between the write and the link) are ignored,
and removed when a store is opened if they are older than :data:`STALE_TMP_SECONDS`: a younger
one may belong to a worker writing right now on another process or node.

Reading a result checks it against its plan (``plan.result_problems``): a result that fails raises
:class:`InvalidResultError` naming the file, so another unit's record never passes for this one.

Failures go to ``<failures>/<unit_id>.json`` (exception type and message, traceback tail, host,
time, attempt count) and are removed when the unit later succeeds. A unit with a checkpoint
(``<plan>/checkpoints/<unit_id>.pt``) and no result is in progress, or was cut off and will resume
from it. The folders are the plan's (``results_dir``, ``failures_dir``): a kind may share one store
between plans whose unit ids are content hashes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from .. import __version__ as cgbench_version
from ..errors import InvalidFileError
from ..storage import atomic_write_text, disk_full_error, fsync_folder, is_disk_full
from ..userfiles import read_json

STALE_TMP_SECONDS = 300.0
# A training result holds one record per epoch, a benchmark run one prediction per test row: both
# stay well below this (a few hundred kilobytes to a megabyte).
MAX_RECORD_BYTES = 64 * 2**20
# What every failure record holds; a record also holds the fields of its plan kind's unit (family, arch_id, ...).
FAILURE_FIELDS = ("unit_id", "error_type", "message", "attempts", "hostname", "time")
TRACEBACK_TAIL_CHARS = 4000
SLURM_VARIABLES = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
                   "array_task_id": "SLURM_ARRAY_TASK_ID", "restart_count": "SLURM_RESTART_COUNT"}


class ResultExistsError(FileExistsError):
    """A unit already has its result; a store never holds two."""


class InvalidResultError(InvalidFileError):
    """A result file that is unreadable or does not belong to its unit of the plan."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def code_revision() -> str:
    """``git rev-parse HEAD`` of the checkout cgbench runs from, else ``cgbench <version>``."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / ".git").exists():
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True,
                                 timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0:
            return out.stdout.strip()
    return f"cgbench {cgbench_version}"


def run_context() -> dict:
    """Where a result was produced: code revision, host, and the SLURM ids when under SLURM."""
    slurm = {key: os.environ[var] for key, var in SLURM_VARIABLES.items() if var in os.environ}
    return {"git_revision": code_revision(), "hostname": socket.gethostname(), "slurm": slurm or None}


class ResultStore:
    def __init__(self, plan, results_dir: Path | None = None, failures_dir: Path | None = None) -> None:
        self.plan = plan
        self.results_dir = Path(results_dir or plan.results_dir)
        self.failures_dir = Path(failures_dir or plan.failures_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        self.clean_partial()

    def result_path(self, unit_id: str) -> Path:
        return self.results_dir / f"{unit_id}.json"

    def failure_path(self, unit_id: str) -> Path:
        return self.failures_dir / f"{unit_id}.json"

    def clean_partial(self, older_than: float = STALE_TMP_SECONDS) -> list[Path]:
        """Remove temporary files a crashed writer left behind; returns what was removed."""
        removed = []
        for tmp in self.results_dir.glob(".*.tmp"):
            try:
                if time.time() - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed.append(tmp)
            except FileNotFoundError:
                continue  # its writer finished (or another cleaner got there) meanwhile
        return removed

    def done(self, unit_id: str) -> bool:
        return self.result_path(unit_id).is_file()

    def finished(self) -> set[str]:
        """Unit ids with a result (one directory listing, for plans of many units)."""
        return {p.stem for p in self.results_dir.glob("*.json") if not p.name.startswith(".")}

    def pending(self, units: Iterable) -> list:
        finished = self.finished()
        return [u for u in units if u.unit_id not in finished]

    def read(self, unit_id: str) -> dict:
        """The result of ``unit_id``, checked against the plan; :class:`InvalidResultError` names a bad file."""
        path = self.result_path(unit_id)
        if not path.is_file():
            raise FileNotFoundError(f"unit {unit_id} has no result yet ({path})")
        try:
            record = read_json(path, "a unit's result", MAX_RECORD_BYTES)
        except InvalidFileError as err:
            raise InvalidResultError(str(err)) from None
        problems = self.plan.result_problems(self.plan.unit(unit_id), record)
        if problems:
            raise InvalidResultError(f"{path}: {'; '.join(problems)}")
        return record

    def write(self, unit_id: str, result: dict) -> Path:
        """Publish ``result`` as the one result of ``unit_id``; :class:`ResultExistsError` if it has one."""
        path = self.result_path(unit_id)
        if path.exists():
            raise ResultExistsError(f"unit {unit_id} already has a result ({path}); a unit gets exactly one")
        data = json.dumps(result, indent=2, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(dir=self.results_dir, prefix=f".{unit_id}.json.", suffix=".tmp")
        try:
            _write_all(fd, data, path, self.results_dir)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ResultExistsError(
                    f"unit {unit_id} got a result from another worker while this one was writing ({path})") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        fsync_folder(self.results_dir)
        self.failure_path(unit_id).unlink(missing_ok=True)
        return path

    def record_failure(self, unit, error: BaseException) -> dict:
        previous = self.failure(unit.unit_id)
        record = {
            **asdict(unit),  # unit_id, family, and what the plan kind's units hold (arch_id, seed, ...)
            "error_type": type(error).__name__, "message": str(error),
            "traceback": "".join(traceback.format_exception(error))[-TRACEBACK_TAIL_CHARS:],
            "time": now_iso(), "attempts": (previous or {}).get("attempts", 0) + 1, **run_context(),
        }
        atomic_write_text(self.failure_path(unit.unit_id), json.dumps(record, indent=2, sort_keys=True))
        return record

    def failure(self, unit_id: str) -> dict | None:
        """The unit's failure record, if it has one."""
        path = self.failure_path(unit_id)
        if not path.is_file():
            return None
        record = read_json(path, "a failure record", MAX_RECORD_BYTES)
        missing = [k for k in FAILURE_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise InvalidFileError(f"{path} is not a failure record (it lacks {missing}); delete it to retry the unit")
        return record


def _write_all(fd: int, data: bytes, path: Path, folder: Path) -> None:
    """Write ``data`` to the open descriptor, fsync and close it; a full disk is a DiskFullError for ``path``."""
    written = 0
    try:
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError as error:
        if is_disk_full(error, folder):
            raise disk_full_error(path, written, needed=len(data)) from None
        raise
    finally:
        os.close(fd)


@dataclass
class PlanStatus:
    """Every unit of a plan in one of four states (a result wins over everything else)."""

    done: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    in_progress: dict[str, float] = field(default_factory=dict)  # unit -> seconds since its last checkpoint
    failed: dict[str, dict] = field(default_factory=dict)  # unit -> failure record

    def counts(self) -> dict[str, int]:
        return {"done": len(self.done), "pending": len(self.pending), "in_progress": len(self.in_progress),
                "failed": len(self.failed)}


def plan_status(plan, store: ResultStore | None = None) -> PlanStatus:
    """A checkpoint newer than a unit's failure record means a retry is under way: in progress."""
    store = store or ResultStore(plan)
    finished = store.finished()
    status = PlanStatus()
    for unit in plan.units:
        uid = unit.unit_id
        checkpoint = plan.checkpoint_path(uid)
        checkpoint_mtime = checkpoint.stat().st_mtime if checkpoint.is_file() else None
        failure_path = store.failure_path(uid)
        failure_mtime = failure_path.stat().st_mtime if failure_path.is_file() else None
        if uid in finished:
            status.done.append(uid)
        elif failure_mtime is not None and (checkpoint_mtime is None or checkpoint_mtime <= failure_mtime):
            status.failed[uid] = store.failure(uid)
        elif checkpoint_mtime is not None:
            status.in_progress[uid] = time.time() - checkpoint_mtime
        else:
            status.pending.append(uid)
    return status

"""A worker: run a plan's pending units one after another and publish each result.

The plan's kind opens a runner once (``plan.open_runner(options)``: what every unit shares is loaded
there), then each unit without a result is run and its record published through the
:class:`~cgbench.jobs.store.ResultStore`; a unit's checkpoint, if its kind writes one, is deleted once
its result is in. A worker that is killed loses at most the unit in flight, which resumes from its
last checkpoint (kinds that checkpoint) the next time any worker picks it up.

A unit that raises one of :data:`UNIT_ERRORS` gets a failure record and the worker goes on with the
next unit; errors outside that list (``KeyboardInterrupt``, ``SystemExit``, ``MemoryError``) end the
worker, since they say the process itself should stop, and the scheduler or the user relaunches it.
If opening the runner fails, every unit of the worker gets that failure (so ``status`` shows why
nothing ran) and the worker stops.

Units are taken group by group (``plan.group_key``): units that share work run one after another.
With ``claims`` (a folder), several workers given the same units share them: a worker runs a group
only after creating ``claims/<group>`` (``O_EXCL``: exactly one worker gets each), so fast workers
take more groups and none runs a group twice.

Command line (used by the local backend): ``python -m cgbench.jobs.worker PLAN --units-file FILE
[--claims DIR] --device cuda:0 --threads 1 --data-root D``; ``--units a,b,c`` names units directly.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import sys
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from ..errors import CgbenchError
from ..userfiles import read_text
from .plan import load_plan
from .store import ResultExistsError, ResultStore

# What running one unit can raise that says "this unit failed", not "stop".
UNIT_ERRORS = (ArithmeticError, AssertionError, AttributeError, LookupError, OSError, RuntimeError, TypeError,
               ValueError)
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerOptions:
    """What a worker is given besides its units: the torch device, torch's intra-op threads (None:
    torch's default), where datasets live, whether to torch.compile networks, and progress output."""

    device: str = "cpu"
    threads: int | None = None
    data_root: str | None = None
    compile: bool = False
    progress: bool = True

    def arguments(self) -> list[str]:
        """The worker command line's options for these settings (progress is off in a background worker)."""
        args = ["--device", self.device, "--no-progress"]
        if self.threads is not None:
            args += ["--threads", str(self.threads)]
        if self.data_root is not None:
            args += ["--data-root", str(self.data_root)]
        return args + (["--compile"] if self.compile else [])

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_OPTIONS = WorkerOptions()


def shard(units: Sequence[T], n_shards: int, index: int) -> list[T]:
    """Round-robin part ``index`` of ``n_shards``: units with similar positions spread over shards."""
    if n_shards < 1 or not 0 <= index < n_shards:
        raise ValueError(f"shard index must be in [0, {n_shards}) with n_shards >= 1, got index {index}")
    return list(units[index::n_shards])


def grouped(units: Sequence[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """``units`` in groups of equal ``key``, groups in order of first appearance."""
    groups: dict = {}
    for unit in units:
        groups.setdefault(key(unit), []).append(unit)
    return list(groups.values())


def shard_groups(plan, units: Sequence, n_shards: int) -> list[list]:
    """``units`` in ``n_shards`` parts, whole groups each: largest group first, each to the part with fewest
    units so far (parts within one group's size of each other)."""
    parts: list[list] = [[] for _ in range(n_shards)]
    for group in sorted(grouped(units, plan.group_key), key=len, reverse=True):
        min(parts, key=len).extend(group)
    return parts


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished elsewhere, or claimed by another worker


def claim(claims: Path, plan, group: list) -> bool:
    """Whether this worker gets ``group`` (it creates the group's claim file first)."""
    key = hashlib.sha256(repr(plan.group_key(group[0])).encode()).hexdigest()[:16]
    try:
        os.close(os.open(claims / key, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class PlanBusyError(CgbenchError, RuntimeError):
    """Another launch of the plan is running on this machine."""


@contextmanager
def launched(plan) -> Iterator[int]:
    """Hold the plan's launch lock for the block (see :func:`hold_plan`); yields its descriptor, which
    worker processes started inside the block inherit."""
    fd = hold_plan(plan)
    try:
        yield fd
    finally:
        os.close(fd)


def hold_plan(plan) -> int:
    """An open descriptor holding the plan's launch lock (``plan.launch_lock``; ``flock``, exclusive, not
    waiting): one launch of a plan (of a store, for kinds whose plans share one) at a time on a machine. Worker processes inherit it, so the lock lasts while any of them runs;
    a second launch meanwhile is a :class:`PlanBusyError` instead of a second crew on the same units."""
    path = plan.launch_lock
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise PlanBusyError(f"another launch of {plan.folder} is running on this machine (its workers hold {path}); "
                            "wait for it (`cgbench label status PLAN` follows it) or stop it, then launch again") \
            from None
    return fd


def run_units(plan, unit_ids: Sequence[str] | None = None, options: WorkerOptions = DEFAULT_OPTIONS,
              claims: Path | None = None) -> RunSummary:
    """Run the pending units among ``unit_ids`` (all of the plan's when None), publishing each result."""
    store = ResultStore(plan)
    units = plan.units if unit_ids is None else [plan.unit(u) for u in unit_ids]
    todo = store.pending(units)
    todo_ids = {u.unit_id for u in todo}
    summary = RunSummary(skipped=[u.unit_id for u in units if u.unit_id not in todo_ids])
    if not todo:
        return summary
    if options.threads is not None:
        import torch

        torch.set_num_threads(options.threads)
    resources = ExitStack()
    try:
        run = resources.enter_context(plan.open_runner(options))
    except UNIT_ERRORS as error:
        for unit in todo:
            store.record_failure(unit, error)
        tqdm.write(f"cannot start the units of {plan.folder}: {type(error).__name__}: {error}")
        summary.failed.extend(u.unit_id for u in todo)
        return summary
    with resources, tqdm(total=len(todo), desc=f"units on {options.device}", unit="unit",
                         disable=not options.progress) as bar:
        for group in grouped(todo, plan.group_key):
            if claims is not None and not claim(claims, plan, group):
                summary.skipped.extend(u.unit_id for u in group)
                bar.update(len(group))
                continue
            for unit in group:
                getattr(summary, _run_one(plan, store, run, unit)).append(unit.unit_id)
                bar.update()
    return summary


def _run_one(plan, store: ResultStore, run, unit) -> str:
    if store.done(unit.unit_id):
        return "skipped"
    start = time.perf_counter()
    try:
        result = run(unit)
    except UNIT_ERRORS as error:
        record = store.record_failure(unit, error)
        tqdm.write(f"FAILED {unit.unit_id} {plan.unit_label(unit.unit_id)} (attempt {record['attempts']}): "
                   f"{record['error_type']}: {record['message']}")
        return "failed"
    checkpoint = plan.checkpoint_path(unit.unit_id)
    try:
        store.write(unit.unit_id, result)
    except ResultExistsError as error:
        checkpoint.unlink(missing_ok=True)
        tqdm.write(f"skipped {unit.unit_id}: {error}")
        return "skipped"
    checkpoint.unlink(missing_ok=True)
    tqdm.write(f"done {unit.unit_id} {plan.unit_label(unit.unit_id)}: {plan.result_line(result)} "
               f"in {time.perf_counter() - start:.1f} s")
    return "done"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cgbench.jobs.worker", description=__doc__.split("\n")[0])
    parser.add_argument("plan", help="plan folder (or its plan.parquet)")
    units = parser.add_mutually_exclusive_group()
    units.add_argument("--units", help="comma-separated unit ids (default: every unit of the plan)")
    units.add_argument("--units-file", help="a file of unit ids, one per line")
    parser.add_argument("--claims", help="a folder of claim files shared with the other workers of this launch")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--data-root", help="folder of the datasets the units read")
    parser.add_argument("--compile", action="store_true", help="torch.compile each network")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    plan = load_plan(args.plan)
    unit_ids = None
    if args.units:
        unit_ids = [u for u in args.units.split(",") if u]
    elif args.units_file:
        unit_ids = [line.strip() for line in read_text(Path(args.units_file), "a file of unit ids").splitlines()
                    if line.strip()]
    unknown = [u for u in unit_ids or () if u not in plan.units_by_id]
    if unknown:
        raise SystemExit(f"{len(unknown)} unit ids are not in the plan {plan.folder} (e.g. {unknown[0]!r})")
    options = WorkerOptions(args.device, args.threads, args.data_root, args.compile, not args.no_progress)
    summary = run_units(plan, unit_ids, options, Path(args.claims) if args.claims else None)
    print(f"worker finished: {len(summary.done)} done, {len(summary.failed)} failed, "
          f"{len(summary.skipped)} already done or taken by another worker", flush=True)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())

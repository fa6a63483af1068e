"""A worker: train a plan's pending units one after another and publish each result.

For each unit not yet done: build the network (``space.build(space.parse(arch_id))``), train it
with :func:`labeling.train.train_network` (which initialises it from the unit's seed), checkpointing
every epoch to ``<plan>/checkpoints/<unit_id>.pt``, write the result through the
:class:`~labeling.store.ResultStore`, then delete the checkpoint. A worker that is killed resumes
the unit from its last checkpoint the next time any worker picks the unit up.

A unit that raises one of :data:`UNIT_ERRORS` gets a failure record and the worker goes on with
the next unit; errors outside that list (``KeyboardInterrupt``, ``SystemExit``, ``MemoryError``)
end the worker, since they say the process itself should stop, and the scheduler or the user
relaunches it. CIFAR-10 is loaded once per worker; if loading fails, every unit of the worker gets
that failure (so ``status`` shows why nothing ran) and the worker stops.

Command line (used by the local backend): ``python -m labeling.worker PLAN --units-file FILE
--device cuda:0 --data-root D``; ``--units a,b,c`` names units directly.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from cgbench.userfiles import read_text

from .plan import Plan, WorkUnit, load_plan
from .store import ResultExistsError, ResultStore, now_iso, run_context

# What building or training one network can raise that says "this unit failed", not "stop".
UNIT_ERRORS = (ArithmeticError, AssertionError, AttributeError, LookupError, OSError, RuntimeError, TypeError,
               ValueError)
T = TypeVar("T")


def shard(units: Sequence[T], n_shards: int, index: int) -> list[T]:
    """Round-robin part ``index`` of ``n_shards``: units with similar positions spread over shards."""
    if n_shards < 1 or not 0 <= index < n_shards:
        raise ValueError(f"shard index must be in [0, {n_shards}) with n_shards >= 1, got index {index}")
    return list(units[index::n_shards])


@dataclass
class RunSummary:
    done: list[str]
    failed: list[str]
    skipped: list[str]  # finished elsewhere before or while this worker got to them


def build_network(unit: WorkUnit):
    """The unit's network (``train_network`` re-initialises its parameters from the unit's seed)."""
    from cgbench.families import family_spec

    space = family_spec(unit.family).space
    return space.build(space.parse(unit.arch_id))


def train_unit(plan: Plan, unit: WorkUnit, data, device: str, checkpoint_path: Path, compile: bool = False,
               progress: bool = True) -> dict:
    """Train one unit (resuming from ``checkpoint_path`` if it exists) and return its result record."""
    from .train import train_network

    started = now_iso()
    resumed = checkpoint_path.is_file()
    model = build_network(unit)
    result = train_network(model, data, plan.recipe, unit.seed, device=device, compile=compile,
                           checkpoint_path=checkpoint_path, progress=progress)
    return {
        "unit": {"unit_id": unit.unit_id, "family": unit.family, "arch_id": unit.arch_id, "seed": unit.seed},
        "recipe": {"name": plan.recipe.name, "hash": plan.recipe.hash},
        "train": result.as_dict(), "data": data.describe(), "cifar10_sha256": dict(data.sha256),
        "resumed_from_checkpoint": resumed, "device_requested": device,
        "started": started, "finished": now_iso(), **run_context(),
    }


def pending_units(plan, unit_ids: Sequence[str] | None) -> tuple[ResultStore, list, RunSummary]:
    """The plan's store, its units among ``unit_ids`` (all when None) without a result, and a summary
    that lists the others as skipped: where every plan kind's ``run_units`` starts."""
    store = ResultStore(plan)
    units = plan.units if unit_ids is None else [plan.unit(u) for u in unit_ids]
    todo = store.pending(units)
    todo_ids = {u.unit_id for u in todo}
    return store, todo, RunSummary(done=[], failed=[], skipped=[u.unit_id for u in units if u.unit_id not in todo_ids])


def run_units(plan, unit_ids: Sequence[str] | None = None, device: str = "cpu",
              data_root: str | Path | None = None, progress: bool = True, compile: bool = False) -> RunSummary:
    """Run the pending units among ``unit_ids`` (all of the plan's when None): train them for a training
    plan; a plan of another kind (zero-cost scoring) runs its units through its own ``run_units``."""
    if not isinstance(plan, Plan):
        return plan.run_units(unit_ids, device=device, data_root=data_root, progress=progress)
    store, todo, summary = pending_units(plan, unit_ids)
    if not todo:
        return summary
    data = _load_data(store, todo, data_root)
    if data is None:
        summary.failed.extend(u.unit_id for u in todo)
        return summary
    plan.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    for unit in tqdm(todo, desc=f"units on {device}", unit="net", disable=not progress):
        outcome = _run_one(plan, store, unit, data, device, compile, progress)
        getattr(summary, outcome).append(unit.unit_id)
    return summary


def _load_data(store: ResultStore, units: Sequence[WorkUnit], data_root):
    from .cifar10 import default_data_root, load_cifar10

    root = data_root or default_data_root()
    try:
        return load_cifar10(root)
    except UNIT_ERRORS as error:
        for unit in units:
            store.record_failure(unit, error)
        tqdm.write(f"cannot load CIFAR-10 from {root}: {type(error).__name__}: {error}")
        return None


def _run_one(plan: Plan, store: ResultStore, unit: WorkUnit, data, device: str, compile: bool,
             progress: bool) -> str:
    if store.done(unit.unit_id):
        return "skipped"
    checkpoint = plan.checkpoint_path(unit.unit_id)
    start = time.perf_counter()
    try:
        result = train_unit(plan, unit, data, device, checkpoint, compile, progress)
    except UNIT_ERRORS as error:
        record = store.record_failure(unit, error)
        tqdm.write(f"FAILED {unit.unit_id} {unit.arch_id} seed {unit.seed} (attempt {record['attempts']}): "
                   f"{record['error_type']}: {record['message']}")
        return "failed"
    try:
        store.write(unit.unit_id, result)
    except ResultExistsError as error:
        checkpoint.unlink(missing_ok=True)
        tqdm.write(f"skipped {unit.unit_id}: {error}")
        return "skipped"
    checkpoint.unlink(missing_ok=True)
    tqdm.write(f"done {unit.unit_id} {unit.arch_id} seed {unit.seed}: final test acc "
               f"{result['train']['final_test_acc']:.2f}% in {time.perf_counter() - start:.1f} s")
    return "done"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m labeling.worker", description=__doc__.split("\n")[0])
    parser.add_argument("plan", help="plan folder (or its plan.parquet)")
    units = parser.add_mutually_exclusive_group()
    units.add_argument("--units", help="comma-separated unit ids (default: every unit of the plan)")
    units.add_argument("--units-file", help="a file of unit ids, one per line")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    parser.add_argument("--data-root", help="folder holding cifar-10-batches-py (default: $CGBENCH_DATA or "
                        "<CGBENCH_HOME>/data)")
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
    summary = run_units(plan, unit_ids, device=args.device, data_root=args.data_root,
                        progress=not args.no_progress, compile=args.compile)
    print(f"worker finished: {len(summary.done)} done, {len(summary.failed)} failed, "
          f"{len(summary.skipped)} already done", flush=True)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Plans of function calls: any importable function with JSON arguments as a unit of the engine.

For long studies that are not a benchmark or a labelling run (``benchmarks/convergence.py``): each
named call is a unit whose id hashes its name, function and arguments, so a changed argument is a new
unit, and the returned JSON value is the unit's result. :func:`run_callables` writes the plan, runs
what is missing (in this process with one worker, else through the local backend) and returns every
call's value (None for a call that failed; its failure record says why).

A function is named ``package.module:qualname`` or, for a top-level module such as a script,
``path/to/file.py:qualname``; a file is imported under a module name of its own (never
``__main__``), so a script's functions can be called by the workers of that script.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from ..plugins import import_object
from .plan import InvalidPlanError, PlanLayout, plan_created, read_plan_file, require_metadata, stable_id, write_plan_file
from .store import ResultStore, now_iso, run_context
from .worker import WorkerOptions, launched, run_units

COLUMNS = ("unit_id", "name", "function", "arguments")


def reference_of(function: Callable) -> str:
    """How a worker finds ``function`` again: ``package.module:name`` for a module of a package; the
    file for a top-level module (a script, a test module), which another process may not find by name."""
    module = function.__module__
    if "." in module and not module.startswith("cgbench_user_"):
        return f"{module}:{function.__qualname__}"
    return f"{Path(inspect.getfile(function)).resolve()}:{function.__qualname__}"


@dataclass(frozen=True)
class CallUnit:
    unit_id: str
    name: str
    function: str
    arguments: str  # a JSON list


@dataclass(frozen=True)
class CallPlan(PlanLayout):
    """Named calls of functions, each a unit; a call's result is its returned JSON value."""

    kind: ClassVar[str] = "calls"
    folder: Path
    units: tuple[CallUnit, ...]
    created: str

    @classmethod
    def load(cls, path: str | Path) -> CallPlan:
        table, meta, file = read_plan_file(path)
        require_metadata(meta, ("kind",), file)
        columns = [table.column(c).to_pylist() for c in COLUMNS]
        units = tuple(CallUnit(*row) for row in zip(*columns))
        for unit in units:
            if unit.unit_id != stable_id(unit.name, unit.function, unit.arguments):
                raise InvalidPlanError(f"{file}: unit {unit.unit_id} ({unit.name}) was edited after the plan was made")
        return cls(file.parent, units, plan_created(file.parent))

    def describe(self) -> str:
        return f"{len(self.units)} calls"

    def unit_label(self, unit_id: str) -> str:
        return self.unit(unit_id).name

    def result_problems(self, unit: CallUnit, record: object) -> list[str]:
        if not isinstance(record, dict) or "value" not in record:
            return ["it is not a call's result (no 'value')"]
        return [] if record.get("unit") == asdict(unit) else [f"it is the result of another call, not {unit.name}"]

    @contextmanager
    def open_runner(self, options: WorkerOptions):
        def run(unit: CallUnit) -> dict:
            started = now_iso()
            value = import_object(unit.function)(*json.loads(unit.arguments))
            return {"unit": asdict(unit), "value": value, "started": started, "finished": now_iso(), **run_context()}

        yield run


def make_call_plan(folder: Path, calls: Mapping[str, tuple[Callable, Sequence]]) -> CallPlan:
    """The plan of ``calls`` ({name: (function, arguments)}) in ``folder`` (a no-op when it is there already)."""
    units = []
    for name, (function, arguments) in calls.items():
        reference, text = reference_of(function), json.dumps(list(arguments))
        units.append(CallUnit(stable_id(name, reference, text), name, reference, text))
    table = pa.table({c: pa.array([getattr(u, c) for u in units], pa.string()) for c in COLUMNS})
    write_plan_file(Path(folder), CallPlan.kind, table, {}, {"n_units": len(units)})
    return CallPlan.load(folder)


def run_callables(calls: Mapping[str, tuple[Callable, Sequence]], folder: Path, workers: int = 1,
                  progress: bool = True) -> dict[str, object]:
    """Run every call not yet done (resumable), then return {name: value, or None if it failed}."""
    from .backends import local

    plan = make_call_plan(Path(folder), calls)
    options = WorkerOptions(threads=1, progress=progress)
    started = time.perf_counter()
    if workers == 1:
        with launched(plan):
            run_units(plan, options=options)
    else:
        print(local.launch(plan, options=options, workers=workers, progress=progress).summary())
    store = ResultStore(plan)
    finished = store.finished()
    values = {u.name: store.read(u.unit_id)["value"] if u.unit_id in finished else None for u in plan.units}
    failed = [name for name, value in values.items() if value is None]
    print(f"{len(values) - len(failed)} of {len(values)} calls done in {time.perf_counter() - started:.0f} s"
          + (f"; failed (see {plan.failures_dir}): {', '.join(failed)}" if failed else ""))
    return values

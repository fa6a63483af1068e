"""A benchmark as a plan of the work engine (:mod:`cgbench.jobs`, kind ``benchmark``): one unit per
(method, track, family, target, seed), made by :class:`baselines.protocol.RunMaker`.

Under a benchmark's output folder ``OUT``:

- ``OUT/plans/<plan id>/plan.parquet``: the units of one ``cgbench benchmark`` invocation, with the
  protocol and the data version (``data_sha256``) of every family it reads in the file's metadata;
- ``OUT/store/results/<unit_id>.json`` and ``OUT/store/failures/``: one result store for every plan
  in ``OUT``. A unit id hashes everything that decides the run's predictions: the run, the method's
  options under the protocol, the training and validation caps, the protocol's families and their
  data versions. An invocation with another method or more seeds therefore reuses every run already
  done, and a changed family build or setting can never pass an old result off as its own.

A unit's record holds the run's predictions (one per arch_id of the evaluated part), what it trained
on, its training and validation row counts, seconds (its fit included), the predictor's parameter
count, the validation curve its training length was chosen on, the torch device and hardware, and
where it ran (host, code revision, SLURM ids). Runs are scored when the benchmark is assembled
(:func:`collect_runs`), never in the worker: one Evaluator, one place.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from cgbench import __version__ as cgbench_version
from cgbench.jobs.plan import (InvalidPlanError, PlanLayout, plan_created, read_plan_file, require_metadata,
                               stable_id, write_plan_file)
from cgbench.jobs.store import ResultStore, run_context
from cgbench.jobs.worker import WorkerOptions
from cgbench.tasks import Run

from .predictors import predictor_class
from .protocol import Coverage, Protocol, RunMaker, RunSpec, hardware

BENCHMARK_KIND = "benchmark"
UNIT_COLUMNS = ("unit_id", "method", "track", "family", "target", "seed")


@dataclass(frozen=True)
class BenchmarkUnit:
    unit_id: str
    method: str
    track: str
    family: str
    target: str
    seed: int

    @property
    def spec(self) -> RunSpec:
        return RunSpec(self.method, self.track, self.family, self.target, self.seed)


def protocol_from_dict(record: dict) -> Protocol:
    """The :class:`Protocol` a plan recorded (``Protocol.as_dict`` plus its coverage)."""
    return Protocol(families=tuple(record["families"]), seeds=tuple(record["seeds"]), tracks=tuple(record["tracks"]),
                    train_cap=record["train_cap"], predictor_options=record["predictor_options"], name=record["name"],
                    target=record["target"], valid_cap=record["valid_cap"])


def protocol_record(protocol: Protocol) -> dict:
    return {**protocol.as_dict(), "families": list(protocol.families), "seeds": list(protocol.seeds),
            "tracks": list(protocol.tracks), "target": protocol.target}


def unit_key(spec: RunSpec, protocol: Protocol, family_versions: dict[str, str], plugins: dict[str, dict]) -> str:
    """The id of a run: a hash of everything that decides its predictions (see the module notes); for a
    user's predictor (``plugins``), the sha256 of its file too, so an edited predictor makes new runs."""
    decides = {"run": asdict(spec), "options": protocol.options_for(spec.method), "train_cap": protocol.train_cap,
               "valid_cap": protocol.valid_cap, "families": family_versions}
    if spec.method in plugins:
        decides["code"] = plugins[spec.method]["sha256"]
    return stable_id(BENCHMARK_KIND, json.dumps(decides, sort_keys=True))


def plugin_record(reference: str) -> dict:
    """What a plan records of a user's predictor: where it is, and the sha256 of its file (or module)."""
    from cgbench.plugins import reference_file
    from cgbench.sources import sha256_of

    file = reference_file(reference)
    if file is None:  # an installed package's module: its file, found by import
        import importlib.util

        origin = importlib.util.find_spec(reference.rpartition(":")[0]).origin
        file = Path(origin)
    return {"reference": reference, "sha256": sha256_of(file)}


def load_plugins(plugins: dict[str, dict]) -> None:
    """Register the plan's user predictors in this process; refuse one whose file changed since the plan."""
    from .predictors import load_predictor

    for method, record in plugins.items():
        current = plugin_record(record["reference"])
        if current["sha256"] != record["sha256"]:
            raise InvalidPlanError(f"{record['reference']} changed since the plan was made; run the benchmark "
                                   "again (a changed predictor makes new runs)")
        load_predictor(record["reference"])


@dataclass(frozen=True)
class BenchmarkPlan(PlanLayout):
    """The runs of one benchmark invocation; results live in the store shared by every plan of ``OUT``."""

    kind: ClassVar[str] = BENCHMARK_KIND
    folder: Path
    protocol: Protocol
    family_versions: dict[str, str]
    units: tuple[BenchmarkUnit, ...]
    created: str
    # method -> {"reference": "path/to/file.py:Class", "sha256": ...} for predictors outside the package
    plugins: dict[str, dict]
    # Methods that read no label (zero-cost proxies): their runs of one family and seed share a worker,
    # which scores each row once and lets every track read the score.
    training_free: tuple[str, ...] = ()

    @property
    def out(self) -> Path:
        return self.folder.parent.parent

    @property
    def results_dir(self) -> Path:
        return self.out / "store" / "results"

    @property
    def failures_dir(self) -> Path:
        return self.out / "store" / "failures"

    @property
    def launch_lock(self) -> Path:
        """One benchmark at a time writes into ``OUT``'s store (its plans may share runs)."""
        self.out.joinpath("store").mkdir(parents=True, exist_ok=True)
        return self.out / "store" / ".launch.lock"

    @classmethod
    def load(cls, path: str | Path) -> BenchmarkPlan:
        table, meta, file = read_plan_file(path)
        if meta["kind"] != BENCHMARK_KIND:
            raise InvalidPlanError(f"{file} is a {meta['kind']} plan, not a benchmark plan")
        require_metadata(meta, ("protocol", "family_versions"), file)
        try:
            protocol = protocol_from_dict(json.loads(meta["protocol"]))
            versions = json.loads(meta["family_versions"])
            plugins = json.loads(meta.get("plugins", "{}"))
            training_free = tuple(json.loads(meta.get("training_free", "[]")))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise InvalidPlanError(f"{file}: its protocol metadata is not a benchmark protocol: {error}") from None
        missing = [c for c in UNIT_COLUMNS if c not in table.column_names]
        if missing:
            raise InvalidPlanError(f"{file} lacks the column(s) {missing}; a benchmark plan has {list(UNIT_COLUMNS)}")
        units = tuple(BenchmarkUnit(*row) for row in zip(*(table.column(c).to_pylist() for c in UNIT_COLUMNS)))
        for unit in units:
            if unit.unit_id != unit_key(unit.spec, protocol, versions, plugins):
                raise InvalidPlanError(f"{file}: unit {unit.unit_id} ({unit.spec.label()}) does not match its "
                                       "protocol: the plan was edited after it was made")
        return cls(file.parent, protocol, versions, units, plan_created(file.parent), plugins, training_free)

    def describe(self) -> str:
        methods = sorted({u.method for u in self.units})
        return f"benchmark of {', '.join(methods)} ({self.protocol.name} protocol)"

    def unit_label(self, unit_id: str) -> str:
        return self.unit(unit_id).spec.label()

    def group_key(self, unit: BenchmarkUnit) -> tuple:
        if unit.method in self.training_free:
            return unit.method, "training_free", unit.family, unit.seed
        return unit.spec.fit_key

    def result_line(self, record: dict) -> str:
        log = record.get("step_log") or {}
        chosen = f", kept step {log['best_step']} of {log['budget']}" if log.get("best_step") else ""
        return f"{len(record['predictions'])} predictions, {record['n_train']} training rows{chosen}"

    def result_problems(self, unit: BenchmarkUnit, record: object) -> list[str]:
        if not isinstance(record, dict):
            return [f"it holds {type(record).__name__}, not a result object"]
        problems = []
        if record.get("unit") != asdict(unit):
            problems.append(f"its unit is not the plan's unit {unit.unit_id} ({unit.spec.label()})")
        predictions = record.get("predictions")
        if not isinstance(predictions, dict) or not predictions or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in predictions.values()):
            problems.append("its predictions are not a non-empty mapping of arch_id to finite numbers")
        trained_on = record.get("trained_on")
        if not isinstance(trained_on, list) or not all(isinstance(n, str) for n in trained_on):
            problems.append("its trained_on is not a list of family names")
        for key in ("n_train", "n_valid", "n_parameters"):
            if not isinstance(record.get(key), int) or isinstance(record.get(key), bool) or record[key] < 0:
                problems.append(f"its {key} is not a count")
        if not isinstance(record.get("seconds"), (int, float)) or not isinstance(record.get("device"), str):
            problems.append("its seconds or device is missing")
        return problems

    @contextmanager
    def open_runner(self, options: WorkerOptions):
        """The protocol's families loaded once per worker (refused when their data changed since the plan)."""
        from .protocol import load_families

        load_plugins(self.plugins)
        families = load_families(self.protocol, progress=False)
        changed = [name for name, family in families.items() if family.data_sha256 != self.family_versions.get(name)]
        if changed:
            raise InvalidPlanError(f"the data of {', '.join(changed)} changed since the plan {self.folder} was made; "
                                   "run the benchmark again (it makes a new plan) or use another --out")
        maker = RunMaker(self.protocol, families, device=options.device)
        machine = hardware(maker.device)

        def run(unit: BenchmarkUnit) -> dict:
            made = maker.make(unit.spec)
            return {"unit": asdict(unit), "predictions": dict(made.run.predictions),
                    "trained_on": list(made.run.trained_on), "n_train": made.run.n_train, "n_valid": made.n_valid,
                    "seconds": made.run.seconds, "n_parameters": made.n_parameters, "step_log": made.step_log,
                    "device": made.device, "hardware": machine, "torch_threads": _torch_threads(),
                    "gennape_set": made.gennape_set,
                    "cgbench_version": cgbench_version, **run_context()}

        yield run


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def make_benchmark_plan(out: Path, protocol: Protocol, methods: list[str], families: dict,
                        plugins: dict[str, str] | None = None) -> BenchmarkPlan:
    """The plan of every run of ``methods`` under ``protocol`` in ``OUT/plans/<id>`` (a no-op when it exists);
    ``plugins``: {method: "path/to/file.py:Class"} of the methods that are a user's predictors."""
    versions = {name: family.data_sha256 for name, family in sorted(families.items())}
    records = {method: plugin_record(reference) for method, reference in sorted((plugins or {}).items())}
    training_free = [method for method in methods if not predictor_class(method).uses_labels]
    coverage = Coverage(protocol, families)
    specs = [spec for method in methods for spec in coverage.specs(method)]
    units = [BenchmarkUnit(unit_key(spec, protocol, versions, records), *asdict(spec).values()) for spec in specs]
    table = pa.table({c: pa.array([getattr(u, c) for u in units], pa.int64() if c == "seed" else pa.string())
                      for c in UNIT_COLUMNS})
    folder = Path(out) / "plans" / stable_id(BENCHMARK_KIND, *(u.unit_id for u in units))
    write_plan_file(folder, BENCHMARK_KIND, table, {
        "protocol": json.dumps(protocol_record(protocol), sort_keys=True),
        "family_versions": json.dumps(versions, sort_keys=True), "plugins": json.dumps(records, sort_keys=True),
        "training_free": json.dumps(training_free), "cgbench_version": cgbench_version,
    }, {"methods": methods, "protocol": protocol_record(protocol), "plugins": records, "n_units": len(units)})
    return BenchmarkPlan.load(folder)


@dataclass(frozen=True)
class CollectedRuns:
    """What the store holds for a plan: per method its runs (with their records), and the units without one."""

    runs: dict[str, list[tuple[Run, dict]]]
    missing: list[BenchmarkUnit]


def collect_runs(plan: BenchmarkPlan) -> CollectedRuns:
    """Every finished run of the plan, in the plan's order, as :class:`Run` objects with their records."""
    store = ResultStore(plan)
    finished = store.finished()
    runs: dict[str, list[tuple[Run, dict]]] = {}
    missing = []
    for unit in plan.units:
        if unit.unit_id not in finished:
            missing.append(unit)
            continue
        record = store.read(unit.unit_id)
        run = Run(unit.track, unit.family, unit.target, unit.seed, tuple(record["trained_on"]),
                  record["predictions"], n_train=record["n_train"], seconds=record["seconds"])
        runs.setdefault(unit.method, []).append((run, record))
    return CollectedRuns(runs, missing)

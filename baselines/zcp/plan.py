"""Zero-cost scoring of whole families as a plan of the work engine (:mod:`cgbench.jobs`, kind ``zcp``).

Scoring every network of a family with a proxy is hours of CPU or minutes of many GPUs, so it
runs like training does: a plan folder of work units, workers that publish one result per
finished unit through :class:`cgbench.jobs.store.ResultStore` (atomic, exactly one result per
unit, failures recorded with their traceback), launched by the local backend (worker processes,
one per GPU or K per GPU, or N on CPU) or the submitit backend (a SLURM job array), watched with
``cgbench label status``, resumed by launching again.

- **Units**: (family, chunk of ``chunk_size`` distinct arch_ids, proxy under its recipe). A
  unit id hashes all of that, so a changed recipe or chunk makes new units. Chunks keep results
  few and small while a killed worker loses at most one chunk of one proxy.
- **Plan file**: ``plan.parquet`` with ``unit_id, family, proxy, recipe_hash, arch_ids`` per unit
  and, in its metadata, ``kind = "zcp"``, the family and its version, and every proxy's recipe;
  written through :func:`cgbench.jobs.plan.write_plan_file` (same arguments, same bytes).
- **Results**: ``results/<unit_id>.json`` with the chunk's scores and per-network seconds,
  recipe, device, host, code revision and SLURM ids.
- **Collect**: :func:`collect_zcp` adds the finished units' scores to the family's score tables
  (``baselines.zcp.scoring``: ``<family>/proxies/<proxy>-<recipe hash>.parquet``), where
  ``load_scores``, ``zc_ranker`` and ``graf`` read them.

Commands: ``cgbench zcp plan FAMILY --proxies nwot,synflow`` writes the plan, then
``cgbench label launch PLAN --backend local|submitit ...``, ``cgbench label status PLAN``
and ``cgbench zcp collect PLAN``.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from cgbench import __version__ as cgbench_version
from cgbench.dataset import Family, load_family
from cgbench.sources import cgbench_home
from cgbench.jobs.plan import InvalidPlanError, PlanLayout, plan_created, read_plan_file, stable_id, write_plan_file
from cgbench.jobs.store import ResultStore, now_iso, run_context
from cgbench.jobs.worker import WorkerOptions

from .recipe import ProxyRecipe
from .scoring import add_scores, family_space, network_score, proxy_recipe, recipe_batches, unique_arch_ids

DEFAULT_CHUNK_SIZE = 100
ZCP_KIND = "zcp"


@dataclass(frozen=True)
class ZcpUnit:
    unit_id: str
    family: str
    proxy: str
    recipe_hash: str
    arch_ids: tuple[str, ...]


def zcp_unit_id(family: str, proxy: str, recipe_hash: str, arch_ids: tuple[str, ...]) -> str:
    return stable_id("zcp", family, proxy, recipe_hash, *arch_ids)


@dataclass(frozen=True)
class ZcpPlan(PlanLayout):
    """A zero-cost scoring plan: chunks of a family's architectures x proxies under recorded recipes."""

    kind: ClassVar[str] = ZCP_KIND
    folder: Path
    family: str
    family_version: str
    recipes: dict[str, ProxyRecipe]
    units: tuple[ZcpUnit, ...]
    created: str

    @classmethod
    def load(cls, path: str | Path) -> ZcpPlan:
        table, meta, file = read_plan_file(path)
        if meta["kind"] != ZCP_KIND:
            raise InvalidPlanError(f"{file} is not a zero-cost scoring plan (kind {meta['kind']!r})")
        recipes = {proxy: ProxyRecipe(**recipe) for proxy, recipe in json.loads(meta["recipes"]).items()}
        columns = (table.column(c).to_pylist() for c in ("unit_id", "family", "proxy", "recipe_hash", "arch_ids"))
        units = tuple(ZcpUnit(u, f, p, h, tuple(a)) for u, f, p, h, a in zip(*columns))
        for unit in units:
            if recipes[unit.proxy].hash != unit.recipe_hash:
                raise ValueError(f"{file}: unit {unit.unit_id} was planned under {unit.proxy} recipe {unit.recipe_hash}, "
                                 f"but the recipe now hashes to {recipes[unit.proxy].hash}: the recipe definition "
                                 "changed since the plan was made")
        return cls(file.parent, meta["family"], meta["family_version"], recipes, units, plan_created(file.parent))

    def describe(self) -> str:
        return f"{self.family}, zero-cost proxies " + ", ".join(f"{p} {r.hash}" for p, r in self.recipes.items())

    def unit_label(self, unit_id: str) -> str:
        unit = self.unit(unit_id)
        return f"{unit.proxy} on {len(unit.arch_ids)} architectures from {unit.arch_ids[0]!r}"

    def result_problems(self, unit: ZcpUnit, record: object) -> list[str]:
        """Every way ``record`` is not a scoring result of ``unit`` (empty: it is one)."""
        if not isinstance(record, dict):
            return [f"it holds {type(record).__name__}, not a result object"]
        problems = []
        if record.get("unit") != {**asdict(unit), "arch_ids": list(unit.arch_ids)}:
            problems.append(f"its unit is not the plan's unit {unit.unit_id} ({self.unit_label(unit.unit_id)})")
        if record.get("recipe") != self.recipes[unit.proxy].as_dict():
            problems.append(f"its recipe is not the plan's {unit.proxy} recipe {unit.recipe_hash}")
        for key in ("scores", "seconds"):
            values = record.get(key)
            if not isinstance(values, list) or len(values) != len(unit.arch_ids) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                problems.append(f"its {key!r} is not a list of {len(unit.arch_ids)} numbers, one per architecture")
        errors = record.get("errors", [None] * len(unit.arch_ids))
        if not isinstance(errors, list) or len(errors) != len(unit.arch_ids) or not all(
                e is None or isinstance(e, str) for e in errors):
            problems.append(f"its 'errors' is not a list of {len(unit.arch_ids)} messages or nulls")
        if not isinstance(record.get("git_revision"), str):
            problems.append("git_revision is missing")
        return problems

    def result_line(self, record: dict) -> str:
        return f"{len(record['scores'])} scores"

    @contextmanager
    def open_runner(self, options: WorkerOptions):
        """The family loaded once per worker, each proxy's batch made once; a unit scores one chunk."""
        family = self._family()
        batches = {}

        def run(unit: ZcpUnit) -> dict:
            recipe = self.recipes[unit.proxy]
            if unit.proxy not in batches:
                batches[unit.proxy] = recipe_batches(recipe, family_space(family), options.device, options.data_root)
            return score_unit(family, unit, recipe, batches[unit.proxy], options.device)

        yield run

    def _family(self) -> Family:
        family = load_family(self.family, progress=False)
        if family.version != self.family_version:
            raise ValueError(f"the plan scores {self.family} version {self.family_version} but version "
                             f"{family.version} is built; make a new plan")
        return family


def score_unit(family: Family, unit: ZcpUnit, recipe: ProxyRecipe, batch, device: str) -> dict:
    """Score the unit's architectures: a result record with scores, seconds and errors (null, or why that
    network failed: its score is NaN) in the unit's order."""
    space = family_space(family)
    started = now_iso()
    scored = [network_score(unit.proxy, space, arch_id, batch, recipe, device) for arch_id in unit.arch_ids]
    scores, seconds, errors = (list(column) for column in zip(*scored))
    return {"unit": asdict(unit), "recipe": recipe.as_dict(), "scores": scores, "seconds": seconds,
            "errors": errors, "device_requested": device, "started": started, "finished": now_iso(),
            **run_context()}


def make_zcp_plan(family_name: str, proxies: list[str], recipe_overrides: dict | None = None, n: int | None = None,
                  seed: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE, folder: Path | None = None) -> ZcpPlan:
    """Plan scoring ``n`` seeded random architectures (all distinct ones when None) of a family with ``proxies``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of architectures, got {chunk_size}")
    if not proxies or len(set(proxies)) != len(proxies):
        raise ValueError(f"proxies must be distinct names, at least one; got {list(proxies)}")
    family = load_family(family_name, progress=False)
    family_space(family)  # a model zoo without a search space fails here
    arch_ids = unique_arch_ids(family)
    if n is not None:
        if not 1 <= n <= len(arch_ids):
            raise ValueError(f"n must be between 1 and the family's {len(arch_ids)} distinct architectures, got {n}")
        arch_ids = [arch_ids[i] for i in np.sort(np.random.default_rng(seed).choice(len(arch_ids), n, replace=False))]
    recipes = {proxy: proxy_recipe(proxy, recipe_overrides) for proxy in proxies}
    chunks = [tuple(arch_ids[i:i + chunk_size]) for i in range(0, len(arch_ids), chunk_size)]
    units = [ZcpUnit(zcp_unit_id(family.name, p, recipes[p].hash, c), family.name, p, recipes[p].hash, c)
             for p in proxies for c in chunks]
    recipes_json = json.dumps({p: r.as_dict() for p, r in recipes.items()}, sort_keys=True)
    if folder is None:
        tag = hashlib.sha256(recipes_json.encode()).hexdigest()[:8]
        folder = cgbench_home() / "zcp_plans" / f"{family.name}-{tag}-n{n or 'all'}-s{seed}-c{chunk_size}"
    table = pa.table({
        "unit_id": pa.array([u.unit_id for u in units], pa.string()),
        "family": pa.array([u.family for u in units], pa.string()),
        "proxy": pa.array([u.proxy for u in units], pa.string()),
        "recipe_hash": pa.array([u.recipe_hash for u in units], pa.string()),
        "arch_ids": pa.array([list(u.arch_ids) for u in units], pa.list_(pa.string())),
    })
    write_plan_file(Path(folder), ZCP_KIND, table, {
        "family": family.name, "family_version": family.version, "recipes": recipes_json,
        "n": str(n or len(arch_ids)), "sample_seed": str(seed), "chunk_size": str(chunk_size),
        "cgbench_version": cgbench_version,
    }, {"family": family.name, "proxies": list(proxies), "n_architectures": len(arch_ids),
        "chunk_size": chunk_size, "n_units": len(units), "recipes": json.loads(recipes_json)})
    return ZcpPlan.load(folder)


@dataclass(frozen=True)
class ZcpCollectReport:
    family: str
    added: dict[str, int]  # proxy -> scores added to its table
    paths: dict[str, Path]
    n_units: int


def collect_zcp(plan: ZcpPlan, progress: bool = True) -> ZcpCollectReport:
    """Add the scores of every finished unit to the family's score tables (one per proxy and recipe)."""
    family = plan._family()
    store = ResultStore(plan)
    finished = sorted(store.finished() & set(plan.units_by_id))
    if not finished:
        raise ValueError(f"no finished units in {plan.folder}: nothing to collect (see `cgbench label status`)")
    columns: dict[str, dict[str, list]] = {p: {"arch_ids": [], "scores": [], "seconds": [], "errors": []}
                                           for p in plan.recipes}
    for uid in tqdm(finished, desc=f"reading {plan.folder.name}", disable=not progress):
        result, unit = store.read(uid), plan.unit(uid)
        columns[unit.proxy]["arch_ids"].extend(unit.arch_ids)
        for key in ("scores", "seconds"):
            columns[unit.proxy][key].extend(result[key])
        columns[unit.proxy]["errors"].extend(result.get("errors", [None] * len(unit.arch_ids)))
    added, paths = {}, {}
    for proxy, c in columns.items():
        if c["arch_ids"]:
            paths[proxy], added[proxy] = add_scores(family, proxy, plan.recipes[proxy], c["arch_ids"], c["scores"],
                                                    c["seconds"], c["errors"])
    return ZcpCollectReport(plan.family, added, paths, len(finished))

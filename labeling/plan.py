"""A labelling plan: which architectures of a family to train, under which recipe and seeds.

A plan is a folder holding ``plan.parquet`` (one row per work unit: ``unit_id``, ``family``,
``arch_id``, ``seed``), a human-readable ``plan.json`` and, as work proceeds, ``results/``,
``checkpoints/``, ``failures/`` and ``logs/``. The Parquet file is the plan; its key-value
metadata holds the recipe JSON and hash, the family and its version, the cgbench version, the
sampling seed and the training seeds.

Choices:

- Architectures are drawn from the *built family's rows* (``load_family(name).arch_ids``, without
  replacement, ``numpy.random.default_rng(seed)``), not from the search space's own sampler.
  Inception and Two-Path families are a 10,000-network sample of their spaces, so space samples
  would mostly be networks the family does not hold and their labels could never be merged into
  it. For HiAML (the whole 14^4 space) this is the same uniform distribution either way.
- ``plan.parquet`` is a function of the arguments only: no timestamp (that lives in
  ``plan.json``), fixed column order and compression, units in draw order;
  so the same arguments give a byte-identical file, and re-running ``make_plan`` on an existing
  folder is a no-op when the bytes agree and an error when they do not.
- A unit id is the first 16 hex digits of sha256("family|arch_id|recipe_hash|seed"): stable across
  processes and machines, and a changed recipe gives new ids, so results of different recipes
  never mix in one store.
- Loading a plan recomputes every unit id from its row: a plan whose rows were edited after it was
  made (another architecture, seed or family under an old id) is refused, as is a plan file that
  is not a readable plan (:class:`InvalidPlanError`, naming the file).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cgbench import __version__ as cgbench_version
from cgbench.errors import InvalidFileError, InvalidInputError, UnknownNameError
from cgbench.families import family_spec
from cgbench.sources import cgbench_home
from cgbench.storage import atomic_write, atomic_write_text
from cgbench.userfiles import read_json

from .recipe import Recipe

PLAN_FILE = "plan.parquet"
# Plan kinds: training networks for labels (this module) and zero-cost proxy scoring (baselines.zcp.plan).
TRAIN_KIND, ZCP_KIND = "train", "zcp"
PLAN_SUMMARY = "plan.json"
UNIT_ID_LENGTH = 16
_META_PREFIX = b"cgbench.label."
PLAN_COLUMNS = ("unit_id", "family", "arch_id", "seed")


class InvalidPlanError(InvalidFileError):
    """A plan file that is unreadable, not a plan, or edited since it was made."""


@dataclass(frozen=True)
class WorkUnit:
    unit_id: str
    family: str
    arch_id: str
    seed: int


def unit_id(family: str, arch_id: str, recipe_hash: str, seed: int) -> str:
    return hashlib.sha256(f"{family}|{arch_id}|{recipe_hash}|{seed}".encode()).hexdigest()[:UNIT_ID_LENGTH]


class PlanLayout:
    """The folders of a plan of any kind and its units by id (a plan has ``folder`` and ``units``)."""

    folder: Path
    units: tuple

    @property
    def results_dir(self) -> Path:
        return self.folder / "results"

    @property
    def checkpoints_dir(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def failures_dir(self) -> Path:
        return self.folder / "failures"

    @property
    def logs_dir(self) -> Path:
        return self.folder / "logs"

    @cached_property
    def units_by_id(self) -> dict[str, WorkUnit]:
        return {unit.unit_id: unit for unit in self.units}

    def unit(self, unit_id: str) -> WorkUnit:
        if unit_id not in self.units_by_id:
            raise UnknownNameError(f"plan {self.folder} has no unit {unit_id!r}")
        return self.units_by_id[unit_id]

    def checkpoint_path(self, unit_id: str) -> Path:
        return self.checkpoints_dir / f"{unit_id}.pt"


@dataclass(frozen=True)
class Plan(PlanLayout):
    """A training plan: networks of a family to train under one recipe and seeds."""

    folder: Path
    family: str
    recipe: Recipe
    units: tuple[WorkUnit, ...]
    sample_seed: int
    created: str

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """The plan in folder ``path`` (or of the file ``path``/plan.parquet itself)."""
        table, meta, file = read_plan_file(path)
        if meta.get("kind", TRAIN_KIND) != TRAIN_KIND:
            raise InvalidPlanError(f"{file} is a {meta['kind']} plan, not a training plan; open it with load_plan")
        recipe = _plan_recipe(meta, file)
        units = _plan_units(table, meta["family"], recipe.hash, file)
        return cls(file.parent, meta["family"], recipe, units, _integer(meta["sample_seed"], "sample_seed", file),
                   plan_created(file.parent))

    def describe(self) -> str:
        return f"{self.family}, recipe {self.recipe.name} {self.recipe.hash}"

    def unit_label(self, unit_id: str) -> str:
        unit = self.unit(unit_id)
        return f"{unit.arch_id} seed {unit.seed}"

    def result_problems(self, unit: WorkUnit, record: object) -> list[str]:
        """Every way ``record`` is not a training result of ``unit`` (empty: it is one)."""
        from .store import result_problems

        return result_problems(self, unit, record)


def default_plan_folder(family: str, n: int, seed: int, recipe: Recipe) -> Path:
    return cgbench_home() / "labeling" / f"{family}-{recipe.name}-{recipe.hash[:8]}-n{n}-s{seed}"


def family_arch_ids(family: str, progress: bool = True) -> list[str]:
    """The arch_ids of the family's rows (built first if need be), read without loading its graphs."""
    from cgbench.dataset import family_column

    return family_column(family, "arch_id", progress)


def sample_arch_ids(family: str, n: int, seed: int, progress: bool = True) -> list[str]:
    """``n`` distinct arch_ids of the built family, in draw order."""
    arch_ids = family_arch_ids(family, progress)
    if not 1 <= n <= len(arch_ids):
        raise InvalidInputError(f"n must be between 1 and the family's {len(arch_ids)} architectures, got {n}")
    picks = np.random.default_rng(seed).choice(len(arch_ids), size=n, replace=False)
    return [arch_ids[i] for i in picks]


def make_plan(family: str, n: int, seed: int, recipe: Recipe, folder: Path | None = None,
              train_seeds: Sequence[int] = (0,), progress: bool = True) -> Plan:
    """Write the plan of ``n`` architectures x ``train_seeds`` into ``folder`` (a no-op if it is there already)."""
    spec = family_spec(family)
    if spec.space is None:
        raise InvalidInputError(f"{family} has no search space to build networks from; families with a space can be "
                                "labelled (hiaml, inception, two_path, ...)")
    train_seeds = _check_seeds(train_seeds)
    folder = Path(folder) if folder is not None else default_plan_folder(family, n, seed, recipe)
    arch_ids = sample_arch_ids(family, n, seed, progress)
    units = [WorkUnit(unit_id(family, a, recipe.hash, s), family, a, s) for a in arch_ids for s in train_seeds]
    table = pa.table({
        "unit_id": pa.array([u.unit_id for u in units], pa.string()),
        "family": pa.array([u.family for u in units], pa.string()),
        "arch_id": pa.array([u.arch_id for u in units], pa.string()),
        "seed": pa.array([u.seed for u in units], pa.int64()),
    })
    write_plan_file(folder, table, {
        "family": family, "family_version": spec.version, "recipe": json.dumps(recipe.as_dict(), sort_keys=True),
        "recipe_hash": recipe.hash, "sample_seed": str(seed), "n": str(n),
        "train_seeds": ",".join(map(str, train_seeds)), "cgbench_version": cgbench_version,
    }, {"family": family, "n": n, "sample_seed": seed, "train_seeds": list(train_seeds), "recipe": recipe.as_dict(),
        "recipe_hash": recipe.hash, "n_units": len(units)})
    return Plan.load(folder)


def _check_seeds(train_seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(train_seeds)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise InvalidInputError(f"train_seeds must be distinct non-negative integers, got {list(seeds)}")
    return seeds


def write_plan_file(folder: Path, table: pa.Table, metadata: dict[str, str], summary: dict) -> None:
    """Write a plan's units ``table`` with ``metadata`` once: byte-identical again is a no-op, different an error.

    Every plan kind goes through here, so the same arguments always give the same bytes (no timestamp:
    that lives in the human-readable ``plan.json`` beside it, with ``summary``).
    """
    table = table.replace_schema_metadata({_META_PREFIX + k.encode(): v.encode() for k, v in metadata.items()})
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
    atomic_write(file, lambda tmp: tmp.write_bytes(content))
    atomic_write_text(Path(folder) / PLAN_SUMMARY, json.dumps(
        {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **summary}, indent=2))


def read_plan_file(path: str | Path) -> tuple[pa.Table, dict[str, str], Path]:
    """The units table, the metadata and the file of the plan in folder ``path`` (or the file itself)."""
    path = Path(path)
    made_by = "expected a plan folder made by `cgbench label plan` or `cgbench zcp plan`"
    if path.is_file() and path.name != PLAN_FILE:
        raise InvalidInputError(f"{path} is a file; {made_by}")
    file = path if path.name == PLAN_FILE else path / PLAN_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist: {made_by}")
    try:
        table = pq.read_table(file)
    except pa.ArrowException as err:
        raise InvalidPlanError(f"{file} is not a readable Parquet plan (truncated or corrupted?): {err}") from None
    return table, _read_metadata(table.schema, file), file


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


def load_plan(path: str | Path):
    """The plan in folder ``path``, of whichever kind: a training plan (:class:`Plan`) or a zero-cost
    scoring plan (:class:`baselines.zcp.plan.ZcpPlan`). Workers and backends treat both alike."""
    _, meta, _ = read_plan_file(path)
    if meta.get("kind", TRAIN_KIND) == ZCP_KIND:
        from baselines.zcp.plan import ZcpPlan

        return ZcpPlan.load(path)
    return Plan.load(path)


def _read_metadata(schema: pa.Schema, file: Path) -> dict[str, str]:
    try:
        meta = {k[len(_META_PREFIX):].decode(): v.decode() for k, v in (schema.metadata or {}).items()
                if k.startswith(_META_PREFIX)}
    except UnicodeDecodeError:
        raise InvalidPlanError(f"{file}: its metadata is not UTF-8 text; it is not a cgbench labelling plan") from None
    required = {"family"} if meta.get("kind") == ZCP_KIND else {"family", "recipe", "recipe_hash", "sample_seed"}
    missing = required - set(meta)
    if missing:
        raise InvalidPlanError(f"{file} is not a cgbench labelling plan: its metadata lacks {sorted(missing)}")
    return meta


def _plan_recipe(meta: dict[str, str], file: Path) -> Recipe:
    try:
        recipe = Recipe.from_dict(json.loads(meta["recipe"]))
    except (json.JSONDecodeError, ValueError) as err:
        raise InvalidPlanError(f"{file}: its recipe metadata is not a valid recipe: {err}") from None
    if recipe.hash != meta["recipe_hash"]:
        raise InvalidPlanError(
            f"{file}: its recipe hashes to {recipe.hash} but the plan records {meta['recipe_hash']}; "
            "the recipe definition changed since the plan was made, so its units would not match"
        )
    return recipe


def _integer(text: str, what: str, file: Path) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidPlanError(f"{file}: its {what} {text!r} is not an integer") from None


def _plan_units(table: pa.Table, family: str, recipe_hash: str, file: Path) -> tuple[WorkUnit, ...]:
    """The plan's rows as work units, each id recomputed from its row: an edited row does not match its id."""
    missing = [c for c in PLAN_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidPlanError(f"{file} lacks the column(s) {missing}; a plan has {list(PLAN_COLUMNS)}")
    rows = zip(*(table.column(c).to_pylist() for c in PLAN_COLUMNS))
    units = []
    for i, (uid, row_family, arch_id, seed) in enumerate(rows):
        if not (isinstance(uid, str) and isinstance(arch_id, str) and isinstance(seed, int) and seed >= 0):
            raise InvalidPlanError(f"{file}: row {i} is not (unit_id, family, arch_id, seed >= 0): "
                                   f"{(uid, row_family, arch_id, seed)}")
        if row_family != family:
            raise InvalidPlanError(f"{file}: row {i} names family {row_family!r}, but the plan is for {family!r}")
        expected = unit_id(family, arch_id, recipe_hash, seed)
        if uid != expected:
            raise InvalidPlanError(f"{file}: row {i} (unit {uid}) was edited after the plan was made: its arch_id "
                                   f"{arch_id!r} and seed {seed} give unit id {expected}")
        units.append(WorkUnit(uid, family, arch_id, seed))
    if len({u.unit_id for u in units}) != len(units):
        raise InvalidPlanError(f"{file} lists a unit more than once")
    return tuple(units)

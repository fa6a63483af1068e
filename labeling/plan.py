"""A training plan: which architectures of a family to train, under which recipe and seeds.

A plan of the work engine (:mod:`cgbench.jobs`, kind ``train``): a folder holding ``plan.parquet``
(one row per work unit: ``unit_id``, ``family``, ``arch_id``, ``seed``), a human-readable
``plan.json`` and, as work proceeds, ``results/``, ``checkpoints/``, ``failures/`` and ``logs/``.
The Parquet file is the plan; its key-value metadata holds the recipe JSON and hash, the family and
its version, the cgbench version, the sampling seed and the training seeds. A unit trains one
network (:mod:`labeling.unit`), checkpointing every epoch, and its result is checked by
:meth:`TrainingPlan.result_problems`.

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
- A result is the unit's: its unit, the plan's recipe hash, finite accuracies in [0, 100], the
  device and code revision, and the sha256 of the CIFAR-10 files it was trained on; a synthetic
  stand-in is marked as such.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from cgbench import __version__ as cgbench_version
from cgbench.errors import InvalidInputError
from cgbench.families import family_spec
from cgbench.jobs.plan import (PLAN_FILE, InvalidPlanError, PlanLayout, plan_created, read_plan_file,  # noqa: F401
                               require_metadata, stable_id, write_plan_file)
from cgbench.jobs.worker import WorkerOptions
from cgbench.sources import cgbench_home

from .recipe import Recipe
from .unit import train_unit

TRAIN_KIND = "train"
PLAN_COLUMNS = ("unit_id", "family", "arch_id", "seed")
ACCURACY_FIELDS = ("final_test_acc", "best_test_acc")


@dataclass(frozen=True)
class TrainingUnit:
    unit_id: str
    family: str
    arch_id: str
    seed: int


def unit_id(family: str, arch_id: str, recipe_hash: str, seed: int) -> str:
    return stable_id(family, arch_id, recipe_hash, str(seed))


@dataclass(frozen=True)
class TrainingPlan(PlanLayout):
    """A training plan: networks of a family to train under one recipe and seeds."""

    kind: ClassVar[str] = TRAIN_KIND
    folder: Path
    family: str
    recipe: Recipe
    units: tuple[TrainingUnit, ...]
    sample_seed: int
    created: str

    @classmethod
    def load(cls, path: str | Path) -> TrainingPlan:
        """The plan in folder ``path`` (or of the file ``path``/plan.parquet itself)."""
        table, meta, file = read_plan_file(path)
        if meta["kind"] != TRAIN_KIND:
            raise InvalidPlanError(f"{file} is a {meta['kind']} plan, not a training plan; open it with load_plan")
        require_metadata(meta, ("family", "recipe", "recipe_hash", "sample_seed"), file)
        recipe = _plan_recipe(meta, file)
        units = _plan_units(table, meta["family"], recipe.hash, file)
        return cls(file.parent, meta["family"], recipe, units, _integer(meta["sample_seed"], "sample_seed", file),
                   plan_created(file.parent))

    def describe(self) -> str:
        return f"{self.family}, recipe {self.recipe.name} {self.recipe.hash}"

    def unit_label(self, unit_id: str) -> str:
        unit = self.unit(unit_id)
        return f"{unit.arch_id} seed {unit.seed}"

    def result_line(self, record: dict) -> str:
        return f"final test acc {record['train']['final_test_acc']:.2f}%"

    def result_problems(self, unit: TrainingUnit, record: object) -> list[str]:
        """Every way ``record`` is not a training result of ``unit`` (empty: it is one)."""
        if not isinstance(record, dict):
            return [f"it holds {type(record).__name__}, not a result object"]
        problems = []
        for key in ("unit", "recipe", "train", "cifar10_sha256"):
            if not isinstance(record.get(key), dict):
                problems.append(f"its {key!r} is missing or not an object")
        if problems:
            return problems
        expected_unit = {"unit_id": unit.unit_id, "family": unit.family, "arch_id": unit.arch_id, "seed": unit.seed}
        for key, expected in expected_unit.items():
            if record["unit"].get(key) != expected:
                problems.append(f"unit.{key} is {record['unit'].get(key)!r}, but the plan's unit has {expected!r}")
        if record["recipe"].get("hash") != self.recipe.hash:
            problems.append(f"recipe.hash is {record['recipe'].get('hash')!r}, but the plan's recipe is "
                            f"{self.recipe.hash}")
        for key in ACCURACY_FIELDS:
            value = record["train"].get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                problems.append(f"train.{key} is {value!r}, not an accuracy in [0, 100]")
        for where, key in ((record["train"], "device"), (record, "git_revision")):
            if not isinstance(where.get(key), str):
                problems.append(f"{key} is missing")
        data = record.get("data")  # older results do not record it
        if data is not None and not (isinstance(data, dict) and _marker_or_none(data.get("synthetic"))):
            problems.append("data.synthetic is neither null nor the marker of a synthetic stand-in")
        sha256 = record["cifar10_sha256"]
        if not sha256 or not all(isinstance(v, str) and len(v) == 64 for v in sha256.values()):
            problems.append("cifar10_sha256 does not record the sha256 of the CIFAR-10 files the unit was trained on")
        return problems

    @contextmanager
    def open_runner(self, options: WorkerOptions):
        """CIFAR-10 loaded once for the worker; each unit trains one network (:func:`labeling.unit.train_unit`)."""
        from .cifar10 import default_data_root, load_cifar10  # imports torch: only in a worker

        data = load_cifar10(options.data_root or default_data_root())
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        yield lambda unit: train_unit(self, unit, data, options.device, self.checkpoint_path(unit.unit_id),
                                      options.compile, options.progress)


def _marker_or_none(marker: object) -> bool:
    if marker is None:
        return True
    from .cifar10 import is_synthetic_marker  # imports torch: only for results trained on a stand-in

    return is_synthetic_marker(marker)


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
              train_seeds: Sequence[int] = (0,), progress: bool = True) -> TrainingPlan:
    """Write the plan of ``n`` architectures x ``train_seeds`` into ``folder`` (a no-op if it is there already)."""
    spec = family_spec(family)
    if spec.space is None:
        raise InvalidInputError(f"{family} has no search space to build networks from; families with a space can be "
                                "labelled (hiaml, inception, two_path, ...)")
    train_seeds = _check_seeds(train_seeds)
    folder = Path(folder) if folder is not None else default_plan_folder(family, n, seed, recipe)
    arch_ids = sample_arch_ids(family, n, seed, progress)
    units = [TrainingUnit(unit_id(family, a, recipe.hash, s), family, a, s) for a in arch_ids for s in train_seeds]
    table = pa.table({
        "unit_id": pa.array([u.unit_id for u in units], pa.string()),
        "family": pa.array([u.family for u in units], pa.string()),
        "arch_id": pa.array([u.arch_id for u in units], pa.string()),
        "seed": pa.array([u.seed for u in units], pa.int64()),
    })
    write_plan_file(folder, TRAIN_KIND, table, {
        "family": family, "family_version": spec.version, "recipe": json.dumps(recipe.as_dict(), sort_keys=True),
        "recipe_hash": recipe.hash, "sample_seed": str(seed), "n": str(n),
        "train_seeds": ",".join(map(str, train_seeds)), "cgbench_version": cgbench_version,
    }, {"family": family, "n": n, "sample_seed": seed, "train_seeds": list(train_seeds), "recipe": recipe.as_dict(),
        "recipe_hash": recipe.hash, "n_units": len(units)})
    return TrainingPlan.load(folder)


def _check_seeds(train_seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(train_seeds)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise InvalidInputError(f"train_seeds must be distinct non-negative integers, got {list(seeds)}")
    return seeds


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


def _plan_units(table: pa.Table, family: str, recipe_hash: str, file: Path) -> tuple[TrainingUnit, ...]:
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
        units.append(TrainingUnit(uid, family, arch_id, seed))
    if len({u.unit_id for u in units}) != len(units):
        raise InvalidPlanError(f"{file} lists a unit more than once")
    return tuple(units)

"""Turn the results of one or more plans into label columns of their family.

Each recipe gives two columns, both CIFAR-10 test accuracy in %:

- ``c10_<recipe>_final``: after the last epoch (the label; what NB-201 and most benchmarks report);
- ``c10_<recipe>_best``: the best over the per-epoch evaluations. It is selected on the test set,
  so it is optimistic; it is there because several benchmarks report it and predictors are
  compared on it, not as the main target.

Per architecture the value is the mean over the seeds that finished, with ``n_seeds`` and the
sample standard deviation beside it (``cgbench.collected``).

Choices:

- Several plans can be collected together (e.g. the first 1,000 networks, then 1,000 more) as long as
  they share family and recipe hash; a unit that appears in two plans (same unit id) counts once.
- A collected column is owned by one recipe hash: collecting a recipe whose *name* matches an
  existing column made under a different hash (an edited recipe file) is refused unless
  ``replace`` is given, so labels of two different schedules never silently mix or overwrite.
- Every result is checked against its plan before anything is written (``ResultStore.read``:
  schema, unit id, architecture, seed, recipe hash, finite accuracies, CIFAR-10 sha256); one bad
  file stops the collection with an error that names the bad files.
- The provenance of the collected labels carries the sha256 of the CIFAR-10 files the results
  were trained on (each distinct set once).
- After writing, the family's stored build is re-merged at once
  (``cgbench.dataset.refresh_collected_labels``), so the next ``load_family`` sees the labels.
- Results trained on a synthetic stand-in (``cgbench label data --synthetic``; recorded in each
  result's ``data.synthetic``) are rehearsal labels: their columns are named
  ``synthetic_c10_<recipe>_<kind>``, their dataset, description and licence say so, and their
  provenance holds the stand-in's marker. Synthetic and real results are never collected together.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cgbench.collected import collected_folder, read_collected, write_collected
from cgbench.errors import InvalidInputError
from cgbench.families.base import LabelColumn
from cgbench.jobs.store import InvalidResultError, ResultStore, now_iso

from .plan import TrainingPlan, family_arch_ids
from .recipe import Recipe

SOURCE_ID = "cgbench"
LICENCE = "CC-BY-4.0 (labels produced by cgbench)"
SYNTHETIC_SOURCE_ID = "cgbench-synthetic"
SYNTHETIC_LICENCE = "CC0-1.0 (rehearsal labels on generated images; not a measurement on CIFAR-10)"
CIFAR10_TRAIN_SIZE = 50_000
KINDS = {"final": "final_test_acc", "best": "best_test_acc"}


def column_name(recipe: Recipe, kind: str, synthetic: bool = False) -> str:
    return f"{'synthetic_' if synthetic else ''}c10_{recipe.name}_{kind}"


@dataclass(frozen=True)
class CollectReport:
    family: str
    columns: tuple[str, ...]
    n_results: int
    n_archs: int
    paths: tuple[Path, ...]
    family_folder: Path


def collect(plans: Sequence[TrainingPlan], replace: bool = False, progress: bool = True) -> CollectReport:
    """Write the collected label sets of ``plans`` and re-merge them into the family."""
    from cgbench.dataset import refresh_collected_labels

    family, recipe = _common_family_and_recipe(plans)
    results = _read_results(plans, progress)
    if not results:
        raise InvalidInputError(f"no finished units in {', '.join(str(p.folder) for p in plans)}: nothing to collect "
                                "(see `cgbench label status`)")
    synthetic = _synthetic_marker(results)
    # After reading: whether the columns are the synthetic ones depends on the data the results record.
    _check_owner(family, recipe, replace, synthetic is not None)
    known = set(family_arch_ids(family, progress))
    strangers = sorted({r["unit"]["arch_id"] for r in results} - known)
    if strangers:
        raise InvalidInputError(f"{len(strangers)} trained architectures are not in the family {family} "
                                f"(e.g. {strangers[0]!r}); the plan belongs to another version of the family")
    provenance = {**_provenance(plans, recipe, results), "synthetic_data": synthetic}
    paths = []
    for kind, field_name in KINDS.items():
        arch_ids, mean, n_seeds, std = _aggregate(results, field_name)
        label = _label_column(recipe, kind, results, synthetic)
        paths.append(write_collected(family, label, arch_ids, mean, n_seeds, std, provenance))
    folder = refresh_collected_labels(family)
    return CollectReport(family, tuple(column_name(recipe, k, synthetic is not None) for k in KINDS), len(results),
                         len({r["unit"]["arch_id"] for r in results}), tuple(paths), folder)


def _synthetic_marker(results: Sequence[dict]) -> dict | None:
    """The synthetic stand-in's marker if every result was trained on one, None if none was; mixing is refused."""
    markers = [(r.get("data") or {}).get("synthetic") for r in results]
    if not any(markers):
        return None
    if not all(markers):
        n = sum(1 for m in markers if m)
        raise InvalidInputError(f"{n} of {len(results)} results were trained on a synthetic stand-in and the others "
                                "on real data; collect them from separate plans (synthetic labels are rehearsal labels)")
    return markers[0]


def _common_family_and_recipe(plans: Sequence[TrainingPlan]) -> tuple[str, Recipe]:
    if not plans:
        raise InvalidInputError("collect needs at least one plan")
    pairs = {(p.family, p.recipe.hash) for p in plans}
    if len(pairs) != 1:
        raise InvalidInputError(f"plans collected together must share family and recipe; got (family, recipe hash) "
                                f"{sorted(pairs)}")
    return plans[0].family, plans[0].recipe


def _read_results(plans: Sequence[TrainingPlan], progress: bool) -> list[dict]:
    """Every finished unit's result, each checked against its plan; one error naming every bad file."""
    by_unit: dict[str, dict] = {}
    bad: list[str] = []
    for plan in plans:
        store = ResultStore(plan)
        finished = sorted(store.finished() & set(plan.units_by_id))
        for uid in tqdm(finished, desc=f"reading results of {plan.folder.name}", disable=not progress):
            if uid in by_unit:
                continue
            try:
                by_unit[uid] = store.read(uid)
            except InvalidResultError as err:
                bad.append(str(err))
    if bad:
        raise InvalidResultError(f"{len(bad)} result file(s) do not match their plan, nothing was collected: "
                                 + " | ".join(bad[:5]) + (" | ..." if len(bad) > 5 else ""))
    return [by_unit[uid] for uid in sorted(by_unit)]


def _check_owner(family: str, recipe: Recipe, replace: bool, synthetic: bool) -> None:
    for existing in read_collected(family):
        if existing.column.name not in {column_name(recipe, k, synthetic) for k in KINDS}:
            continue
        owner = existing.provenance.get("recipe_hash")
        if owner != recipe.hash and not replace:
            raise FileExistsError(
                f"{existing.path} holds {existing.column.name} made with recipe hash {owner}, not {recipe.hash}; "
                "give the recipe another name, or pass --replace to discard the old labels")


def _aggregate(results: Sequence[dict], field_name: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Per architecture (in first-appearance order of sorted unit ids): mean, count and sample std over seeds."""
    per_arch: dict[str, list[float]] = defaultdict(list)
    for result in results:
        per_arch[result["unit"]["arch_id"]].append(float(result["train"][field_name]))
    arch_ids = sorted(per_arch)
    values = [np.asarray(per_arch[a]) for a in arch_ids]
    mean = np.array([v.mean() for v in values])
    std = np.array([v.std(ddof=1) if len(v) > 1 else np.nan for v in values])
    return arch_ids, mean, np.array([len(v) for v in values]), std


def _label_column(recipe: Recipe, kind: str, results: Sequence[dict], synthetic: dict | None) -> LabelColumn:
    seeds = sorted({r["unit"]["seed"] for r in results})
    n_train = recipe.n_train or CIFAR10_TRAIN_SIZE
    when = "after the last epoch" if kind == "final" else "best over the per-epoch evaluations (selected on test)"
    recipe_text = f"recipe {recipe.name} (hash {recipe.hash}): {json.dumps(recipe.as_dict(), sort_keys=True)}"
    if synthetic is not None:
        return LabelColumn(
            name=column_name(recipe, kind, synthetic=True), source_id=SYNTHETIC_SOURCE_ID,
            dataset="SYNTHETIC stand-in for CIFAR-10 (generated images, not CIFAR-10)",
            split=f"synthetic test images ({synthetic['n_test']:,}); trained on up to {n_train:,} synthetic images",
            epochs=recipe.epochs, unit="%", seeds=f"mean over training seeds {seeds} (n_seeds per architecture)",
            licence=SYNTHETIC_LICENCE,
            description=(f"SYNTHETIC REHEARSAL LABEL, not a CIFAR-10 accuracy: top-1 accuracy {when} on generated "
                         f"images (seed {synthetic['seed']}), trained by cgbench with {recipe_text}"))
    return LabelColumn(
        name=column_name(recipe, kind), source_id=SOURCE_ID, dataset="CIFAR-10",
        split=f"test (10,000 images); trained on {n_train:,} training images",
        epochs=recipe.epochs, unit="%", seeds=f"mean over training seeds {seeds} (n_seeds per architecture)",
        licence=LICENCE,
        description=f"top-1 test accuracy {when}, trained by cgbench with {recipe_text}",
    )


def _provenance(plans: Sequence[TrainingPlan], recipe: Recipe, results: Sequence[dict]) -> dict:
    return {
        "plans": [str(p.folder) for p in plans], "recipe": recipe.as_dict(), "recipe_hash": recipe.hash,
        "git_revisions": sorted({r["git_revision"] for r in results}),
        "devices": sorted({r["train"]["device"] for r in results}), "n_results": len(results),
        "cifar10_sha256": [json.loads(text) for text in sorted({json.dumps(r["cifar10_sha256"], sort_keys=True)
                                                                 for r in results})],
        "collected": now_iso(), "collected_into": str(collected_folder(plans[0].family)),
    }

"""Label sets produced outside a family's raw sources (cgbench's own training), merged into the family.

A collected label set is one Parquet file ``<CGBENCH_HOME>/collected/<family>/<column>.parquet``
with columns ``arch_id``, ``value`` (the mean over training seeds), ``n_seeds`` and ``std`` (sample
standard deviation over seeds; NaN for a single seed, where it is unknown rather than zero). Its
key-value metadata holds the fields of a :class:`~cgbench.families.base.LabelColumn` (what the
label means, its source and licence) and a provenance record (which plans, recipe, code revision).

Choices:

- The files live outside the family folder, beside it in ``CGBENCH_HOME``, so rebuilding or
  deleting a family never loses labels that took GPU-days to produce, and a rebuild merges them
  back (:func:`merge_collected`, called by ``build_family``).
- The family's manifest records the sha256 of every merged file (``collected_labels``). A family
  whose recorded set differs from the files now on disk is stale; ``load_family`` re-merges the
  labels into the stored table (no CG rebuild). The table changes, so the family's data sha256 and
  with it every cache keyed on it change too.
- Architectures the set does not cover get NaN (a null in Parquet): a family may be labelled a
  few hundred networks at a time.
- The family's ``default_target`` is not changed by collected labels; they are opt-in targets.

This module is part of ``cgbench`` and so imports nothing from ``labeling``: the label generator
hands over plain arrays and dictionaries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InvalidFileError, InvalidInputError
from .families.base import FamilySpec, LabelColumn
from .sources import cgbench_home, sha256_of
from .storage import atomic_write, read_parquet_file

COLUMN_KEY = b"cgbench.label_column"
PROVENANCE_KEY = b"cgbench.provenance"
MANIFEST_KEY = "collected_labels"
COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]*")


def collected_folder(family: str) -> Path:
    return cgbench_home() / "collected" / family


@dataclass(frozen=True)
class CollectedLabels:
    column: LabelColumn
    arch_ids: list[str]
    values: np.ndarray
    n_seeds: np.ndarray
    std: np.ndarray
    provenance: dict
    path: Path


def write_collected(family: str, column: LabelColumn, arch_ids: Sequence[str], values: Sequence[float],
                    n_seeds: Sequence[int], std: Sequence[float], provenance: dict) -> Path:
    """Store (or replace) the collected label set ``column.name`` of ``family``, atomically."""
    if not COLUMN_NAME.fullmatch(column.name):
        raise InvalidInputError(f"label column name {column.name!r} must be lower-case letters, digits and _")
    if len(set(arch_ids)) != len(arch_ids):
        raise InvalidInputError(f"{column.name}: arch_ids must be distinct (one value per architecture)")
    lengths = {len(arch_ids), len(values), len(n_seeds), len(std)}
    if len(lengths) != 1:
        raise InvalidInputError(f"{column.name}: arch_ids, values, n_seeds and std must have one length, "
                                f"got {lengths}")
    table = pa.table({
        "arch_id": pa.array(list(arch_ids), pa.string()),
        "value": pa.array(np.asarray(values, np.float64)),
        "n_seeds": pa.array(np.asarray(n_seeds, np.int32)),
        "std": pa.array(np.asarray(std, np.float64)),
    }).replace_schema_metadata({COLUMN_KEY: json.dumps(column.as_manifest(), sort_keys=True).encode(),
                                PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode()})
    path = collected_folder(family) / f"{column.name}.parquet"
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


def read_collected(family: str) -> list[CollectedLabels]:
    """Every collected label set of ``family``, by column name."""
    return [_read(path) for path in sorted(collected_folder(family).glob("*.parquet"))]


def _read(path: Path) -> CollectedLabels:
    table = read_parquet_file(path, "collected label set", "delete it, or collect the plans again "
                              "(`cgbench label collect PLAN`)")
    meta = table.schema.metadata or {}
    if COLUMN_KEY not in meta or PROVENANCE_KEY not in meta:
        raise InvalidFileError(f"{path} is not a collected label set (no label column metadata); delete or replace it")
    try:
        column, provenance = json.loads(meta[COLUMN_KEY]), json.loads(meta[PROVENANCE_KEY])
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidFileError(f"{path}: its metadata is not JSON ({err}); delete or replace it") from None
    known = {f.name for f in fields(LabelColumn)}
    # Fields with defaults were added later (direction, device); files written before them lack them.
    required = {f.name for f in fields(LabelColumn) if f.default is MISSING}
    if not isinstance(column, dict) or not required <= set(column) <= known:
        raise InvalidFileError(f"{path}: label column metadata has fields {sorted(column)}, expected "
                               f"{sorted(required)} and optionally {sorted(known - required)}; delete or replace it")
    missing = [c for c in ("arch_id", "value", "n_seeds", "std") if c not in table.column_names]
    if missing:
        raise InvalidFileError(f"{path} lacks the column(s) {missing}; delete or replace it")
    return CollectedLabels(
        column=LabelColumn(**column), arch_ids=table.column("arch_id").to_pylist(),
        values=table.column("value").to_numpy(), n_seeds=table.column("n_seeds").to_numpy(),
        std=table.column("std").to_numpy(zero_copy_only=False), provenance=provenance, path=path,
    )


def collected_fingerprint(family: str) -> dict[str, str]:
    """Column name -> sha256 of its file, for the collected sets now on disk."""
    return {path.stem: sha256_of(path) for path in sorted(collected_folder(family).glob("*.parquet"))}


def merged_fingerprint(manifest: dict) -> dict[str, str]:
    """Column name -> sha256 of the collected sets merged into a stored build (its manifest says)."""
    return {name: entry["sha256"] for name, entry in manifest.get(MANIFEST_KEY, {}).items()}


def merge_collected(spec: FamilySpec, table: pa.Table,
                    fingerprint: dict[str, str] | None = None) -> tuple[pa.Table, dict]:
    """``table`` with one column per collected set (NaN where unlabelled) and the manifest entries to add
    (``fingerprint``: :func:`collected_fingerprint` when the caller has just computed it, so no file is
    hashed twice).

    The manifest entries are empty when the family has no collected sets, so such a family's build
    is exactly what it was before collected labels existed.
    """
    sets = read_collected(spec.name)
    if not sets:
        return table, {}
    row_of = {arch_id: i for i, arch_id in enumerate(table.column("arch_id").to_pylist())}
    labels = {label.name: label.as_manifest() for label in spec.labels}
    merged = {}
    for labelled in sets:
        name = labelled.column.name
        if name in labels or name in table.column_names:
            raise InvalidFileError(f"collected label set {labelled.path} is named like an existing column of "
                                   f"{spec.name} ({name!r}); rename or delete it")
        unknown = [a for a in labelled.arch_ids if a not in row_of]
        if unknown:
            raise InvalidFileError(f"collected label set {labelled.path} labels {len(unknown)} architectures that "
                                   f"{spec.name} v{spec.version} does not hold (e.g. {unknown[0]!r}); delete it or "
                                   "collect again from plans of this family version")
        values = np.full(table.num_rows, np.nan)
        values[[row_of[a] for a in labelled.arch_ids]] = labelled.values
        table = table.append_column(name, pa.array(values, mask=np.isnan(values)))
        labels[name] = labelled.column.as_manifest()
        sha256 = fingerprint[name] if fingerprint and name in fingerprint else sha256_of(labelled.path)
        merged[name] = {"sha256": sha256, "n_labelled": len(labelled.arch_ids),
                        "provenance": labelled.provenance}
    return table, {"labels": labels, MANIFEST_KEY: merged}

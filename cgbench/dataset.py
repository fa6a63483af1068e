"""Loading a family: fetch and build on first use, then serve the verified cache.

``load_family(name)`` returns a :class:`Family` with pandas, Hugging Face ``datasets`` and
PyTorch Geometric views, the CGs, the labels and the stored splits. Label sets produced by
cgbench's own training (``cgbench.collected``) are merged into the table as extra label columns.
Every view carries the family's metadata (``cgbench.metadata``): column meanings and units, the
target's unit and source, licences and the citation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import __version__
from .collected import MANIFEST_KEY, is_stale, merge_collected
from .families import FamilySpec, family_spec, list_families
from .graph.model import ComputationGraph
from .graph.vocab import CG_FORMAT_VERSION
from .metadata import CITATION, annotate_table, dataset_description, licence_summary
from .progress import phase, reporting
from .sources import cgbench_home, fetch
from .splits import PARTS, splits_from_table, splits_to_table, standard_splits
from .storage import (DATA_FILE, MANIFEST_FILE, SPLITS_FILE, FamilyIntegrityError, GraphTable, read_manifest,
                      read_parquet, verify_family, write_family)

__all__ = ["Family", "FamilyNotBuiltError", "build_family", "family_folder", "list_families", "load_families",
           "load_family", "store_family"]


def family_folder(spec: FamilySpec) -> Path:
    """Where a family version lives: ``$CGBENCH_HOME/families/<name>/<version>/``."""
    return cgbench_home() / "families" / spec.name / spec.version


def _rebuild_hint(name: str) -> str:
    return f"Rebuild it with `cgbench build {name} --force`."


class FamilyNotBuiltError(FileNotFoundError):
    """A family built from files a user brings has not been imported yet."""


def build_family(name: str, force: bool = False, progress: bool = True, note: str = "") -> Path:
    """Fetch the raw files of family ``name``, build its table and splits, write them atomically.

    Returns the family's folder; a verified build there is kept unless ``force``. Every phase is
    announced on stderr (``progress=False`` keeps it quiet); ``note`` is added to the first line
    (``load_families`` says "(k of n)").
    """
    spec = family_spec(name)
    folder = family_folder(spec)
    if not force and (folder / "manifest.json").exists():
        return folder
    if spec.import_command is not None:
        raise FamilyNotBuiltError(
            f"{name} is built from files you bring (they are not public downloads); run `{spec.import_command}`")
    with reporting(progress), phase(f"building {name}{note} (first use; later loads read {folder})"):
        with phase(f"{name}: fetching {len(spec.raw_files)} raw file(s)"):
            raw_paths = {raw.key: fetch(raw, progress) for raw in spec.raw_files}
        with phase(f"{name}: reading the raw files and composing the CGs"):
            table = spec.build_table(raw_paths, progress)
        return store_family(spec, *merge_collected(spec, table))


def refresh_collected_labels(name: str) -> Path:
    """Merge the family's collected label sets (``cgbench.collected``) into its stored build anew.

    The CGs are kept: the stored table loses its previously merged collected columns and gets the
    current ones, so this costs one table read and write, not a rebuild.
    """
    spec = family_spec(name)
    folder = family_folder(spec)
    manifest = read_manifest(folder)
    verify_family(folder, manifest, _rebuild_hint(name))
    table = read_parquet(folder / DATA_FILE, memory_map=False)
    table = table.drop_columns([c for c in manifest.get(MANIFEST_KEY, {}) if c in table.column_names])
    return store_family(spec, *merge_collected(spec, table))


def store_family(spec: FamilySpec, table: pa.Table, extra_manifest: dict | None = None) -> Path:
    """Compute the standard splits of a built table and write the family version atomically."""
    folder = family_folder(spec)
    hashes = np.asarray(table.column("wl_hash").to_pylist())
    target = None
    if spec.default_target is not None:
        target = np.asarray(table.column(spec.default_target).to_numpy(zero_copy_only=False), float)
    with phase(f"{spec.name}: computing the standard splits"):
        splits = standard_splits(target, hashes)
    manifest = {
        **spec.manifest(), **(extra_manifest or {}), "cgbench_version": __version__, "cg_format": CG_FORMAT_VERSION,
        "n_archs": table.num_rows,
        "splits": {n: {p: int(len(i)) for p, i in parts.items()} for n, parts in splits.items()},
    }
    with phase(f"{spec.name}: writing Parquet files and manifest to {folder}"):
        write_family(folder, annotate_table(table, manifest), splits_to_table(splits), manifest)
    return folder


def load_family(name: str, progress: bool = True) -> Family:
    """The family ``name`` (see ``cgbench families``): built on first use, then read from the cache.

    The first call fetches the raw files (from ``CGBENCH_MIRROR`` when set), builds the table of
    CGs and labels and the standard splits, and writes them under ``$CGBENCH_HOME/families/``
    (default ``~/.cache/cgbench``), announcing each phase on stderr unless ``progress=False``.
    Later calls check the files' sha256 against the manifest and memory-map them.

    >>> nb201 = load_family("nb201")
    >>> nb201
    Family('nb201', version='1.0', n_archs=15625, default_target='c10_valid_acc_200ep' [%], targets=...)
    """
    return _load(name, progress, note="")


def load_families(names: Sequence[str], progress: bool = True) -> dict[str, Family]:
    """:func:`load_family` of each name; a family built on the way says "building X (k of n)"."""
    return {name: _load(name, progress, note=f" ({k} of {len(names)})") for k, name in enumerate(names, 1)}


def _load(name: str, progress: bool, note: str) -> Family:
    spec = family_spec(name)
    folder = family_folder(spec)
    if not (folder / "manifest.json").exists():
        build_family(name, progress=progress, note=note)
    elif is_stale(name, read_manifest(folder)):
        refresh_collected_labels(name)
    return Family.from_folder(spec, folder)


class Family:
    """A built family version: one row per architecture with its CG, FLOPs, parameters and labels.

    Views: :meth:`to_pandas` (the table), :meth:`to_hf` (Hugging Face ``DatasetDict`` by split),
    :meth:`to_pyg` (PyTorch Geometric ``InMemoryDataset``), :meth:`graph` (one
    ``ComputationGraph``), :meth:`labels` (a label column as floats, NaN where missing) and
    :meth:`get_idx_split` (OGB-style index arrays). ``manifest`` holds what every label column
    means (unit, dataset, split, epochs, seeds, source, licence: ``label_info``); the files are
    listed by :attr:`files`. Get one with :func:`load_family`.
    """

    def __init__(self, spec: FamilySpec, folder: Path, manifest: dict, table: pa.Table,
                 splits: dict[str, dict[str, np.ndarray]]) -> None:
        self.spec = spec
        self.folder = folder
        self.manifest = manifest
        self.table = table
        self.splits = splits

    @classmethod
    def from_folder(cls, spec: FamilySpec, folder: Path) -> Family:
        """Read a stored family version, checking every file against the manifest's sha256."""
        manifest = read_manifest(folder)
        verify_family(folder, manifest, _rebuild_hint(spec.name))
        try:
            table = read_parquet(folder / DATA_FILE)
            splits = splits_from_table(read_parquet(folder / SPLITS_FILE))
        except pa.ArrowException as err:
            raise FamilyIntegrityError(f"cannot read {folder}: {err}. {_rebuild_hint(spec.name)}") from None
        return cls(spec, folder, manifest, table, splits)

    @property
    def name(self) -> str:
        """The family's registered name (``cgbench families``)."""
        return self.spec.name

    @property
    def version(self) -> str:
        """The family version this build is of (bumped whenever its rows, CGs or labels change)."""
        return self.manifest["version"]

    @property
    def data_sha256(self) -> str:
        """sha256 of ``data.parquet``: identifies the exact build (leaderboard submissions record it)."""
        return self.manifest["files"][DATA_FILE]

    @property
    def files(self) -> dict[str, Path]:
        """The family's files on disk: ``data`` (Parquet, one row per architecture), ``splits``
        (Parquet: split, part, row index) and ``manifest`` (JSON: sources, labels, sha256s)."""
        return {"data": self.folder / DATA_FILE, "splits": self.folder / SPLITS_FILE,
                "manifest": self.folder / MANIFEST_FILE}

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        unit = f" [{self.label_info()['unit']}]" if self.default_target else ""
        return (f"Family({self.name!r}, version={self.version!r}, n_archs={len(self)}, "
                f"default_target={self.default_target!r}{unit}, targets={len(self.targets)}, "
                f"splits={sorted(self.splits)}, folder={str(self.folder)!r})")

    @property
    def targets(self) -> list[str]:
        """The label columns (``labels(name)`` reads one; ``label_info(name)`` says what it is)."""
        return list(self.manifest["labels"])

    @property
    def default_target(self) -> str | None:
        """The label column the standard splits, the Evaluator and ``to_pyg`` use unless told otherwise."""
        return self.manifest["default_target"]

    def label_info(self, target: str | None = None) -> dict:
        """What label column ``target`` (default: the default target) means: unit, dataset, split,
        epochs, seeds, source and licence, and a description."""
        target = target or self.default_target
        if target not in self.manifest["labels"]:
            raise KeyError(f"{self.name} has no label column {target!r}; it has {self.targets}")
        return dict(self.manifest["labels"][target])

    @cached_property
    def arch_ids(self) -> list[str]:
        """The canonical architecture string of every row, in row order."""
        return self.table.column("arch_id").to_pylist()

    def labels(self, target: str | None = None) -> np.ndarray:
        """Label column ``target`` (default: the default target) as float64, NaN where a row has none."""
        target = target or self.default_target
        if target is None:
            raise KeyError(f"{self.name} is unlabelled (architectures waiting for labels); it has no targets")
        if target not in self.manifest["labels"]:
            raise KeyError(f"{self.name} has no label column {target!r}; it has {self.targets}")
        return np.asarray(self.table.column(target).to_numpy(zero_copy_only=False), dtype=np.float64)

    @cached_property
    def graphs(self) -> GraphTable:
        """Every CG of the family in CSR form (concatenated arrays and per-graph offsets)."""
        return GraphTable.from_arrow(self.table)

    def graph(self, i: int) -> ComputationGraph:
        """The CG of row ``i``."""
        if not 0 <= i < len(self):
            raise IndexError(f"{self.name} has {len(self)} architectures; index {i} is out of range")
        return self.graphs.graph(i)

    def get_idx_split(self, name: str = "random") -> dict[str, np.ndarray]:
        """OGB style: ``{"train", "valid", "test"}`` row-index arrays of the stored split ``name``.

        ``random`` (80/10/10), ``dedup`` (80/10/10 over one representative per isomorphism class)
        and, for labelled families, ``fewshot50`` (GENNAPE's 50 fine-tuning rows and the rest as
        test; its ``valid`` is empty by design, see ``cgbench.splits``).
        """
        if name not in self.splits:
            raise KeyError(f"{self.name} has no split {name!r}; it has {sorted(self.splits)}")
        return {part: self.splits[name][part].copy() for part in PARTS}

    def to_pandas(self, graphs: bool = False):
        """The table as a pandas DataFrame: ids, config, sizes, hash, FLOPs, parameters, labels
        (``graphs=True`` adds the graph columns). Column meanings and units: ``column_docs()``."""
        from .storage import GRAPH_COLUMNS

        columns = self.table.column_names if graphs else [c for c in self.table.column_names if c not in GRAPH_COLUMNS]
        return self.table.select(columns).to_pandas()

    def column_docs(self) -> dict[str, dict[str, str]]:
        """Meaning and unit of every column of the table (also in the Parquet file's field metadata)."""
        from .metadata import column_docs

        return column_docs(self.manifest, self.table.column_names)

    def to_hf(self, split: str = "random"):
        """A ``datasets.DatasetDict`` with one ``Dataset`` per non-empty part of ``split``.

        Each ``Dataset.info`` carries the family card: the family and its version, every column's
        meaning and unit (in ``description``), the citation and the licences.
        """
        import datasets

        parts = self.get_idx_split(split)
        info = datasets.DatasetInfo(
            description=dataset_description(self.manifest, self.table.column_names), citation=CITATION,
            license=licence_summary(self.manifest), dataset_name=self.name, config_name=split)
        return datasets.DatasetDict({
            part: datasets.Dataset(self.table.take(pa.array(idx)), info=info.copy(), split=part)
            for part, idx in parts.items() if len(idx)
        })

    def to_hdf5(self, path: str | Path) -> Path:
        """Write the family to one self-describing HDF5 file (``cgbench.storage.export_hdf5``): CGs,
        columns with meanings and units, the op table, the splits, the manifest."""
        from .storage import export_hdf5

        export_hdf5(self.table, self.manifest, Path(path), self.splits)
        return Path(path)

    def to_pyg(self, target: str | None = None, transform=None, pre_transform=None):
        """A PyTorch Geometric ``InMemoryDataset`` of the CGs (``cgbench.pyg.CGDataset``) with ``y`` =
        ``target`` (default: the default target), and its metadata: ``op_names``,
        ``feature_names``, ``target_unit``, ``target_info``; ``collated()`` batches fast."""
        from .pyg import CGDataset

        return CGDataset(self, target=target, transform=transform, pre_transform=pre_transform)

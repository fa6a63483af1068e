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
import pyarrow.parquet as pq

from . import __version__
from .collected import MANIFEST_KEY, collected_fingerprint, merge_collected, merged_fingerprint
from .errors import CgbenchError, InvalidInputError, UnknownNameError
from .families import FamilySpec, family_spec, importer, list_families
from .graph.model import ComputationGraph
from .graph.vocab import CG_FORMAT_VERSION
from .metadata import CITATION, annotate_table, dataset_description, licence_summary
from .progress import phase, reporting
from .sources import cgbench_home, fetch
from .splits import PARTS, fewshot_split, splits_from_table, splits_to_table, standard_splits
from .storage import (DATA_FILE, MANIFEST_FILE, SPLITS_FILE, FamilyIntegrityError, GraphTable, building, is_built,
                      read_manifest, read_parquet, reading, verify_family, write_family)

__all__ = ["Family", "FamilyNotBuiltError", "build_family", "family_column", "family_folder", "import_families",
           "list_families", "load_families", "load_family", "store_family"]

# Manifest entries a build computes from its table; a label refresh recomputes them and keeps the rest
# (a zoo's capture failures, an import's source file, a subset's members).
_COMPUTED_KEYS = frozenset({"cgbench_version", "cg_format", "n_archs", "splits", "files", "labels", MANIFEST_KEY})


def family_folder(spec: FamilySpec) -> Path:
    """Where a family version lives: ``$CGBENCH_HOME/families/<name>/<version>/``."""
    return cgbench_home() / "families" / spec.name / spec.version


def is_family_built(name: str) -> bool:
    """Whether family ``name``'s current version is built in this ``CGBENCH_HOME`` (nothing is read or built)."""
    return is_built(family_folder(family_spec(name)))


def rebuild_command(spec: FamilySpec) -> str:
    """The command that (re)builds a family: its import command for families built from user files."""
    return spec.import_command or f"cgbench build {spec.name} --force"


class FamilyNotBuiltError(CgbenchError, FileNotFoundError):
    """A family built from files a user brings has not been imported yet."""


class ArchitectureIndexError(InvalidInputError, IndexError):
    """A row index outside a family."""


def build_family(name: str, force: bool = False, progress: bool = True) -> Path:
    """Fetch the raw files of family ``name``, build its table and splits, write them atomically.

    Returns the family's folder; a verified build there is kept unless ``force``. Every phase is
    announced on stderr (``progress=False`` keeps it quiet).
    """
    spec = family_spec(name)
    return _build(spec, family_folder(spec), force, progress)


def _build(spec: FamilySpec, folder: Path, force: bool, progress: bool, note: str = "") -> Path:
    """``build_family``'s work; ``note`` is added to the first line it prints ("(k of n)")."""
    if not force:
        with reading(folder):  # not in the instant a rebuild swaps its files in
            if is_built(folder):
                return folder
    return _construct(spec, folder, progress, note, force)


def _construct(spec: FamilySpec, folder: Path, progress: bool, note: str = "", force: bool = False) -> Path:
    """Fetch, build and store the family in ``folder`` (it is not built, or a rebuild was asked for).

    One build of a family at a time: a process that finds another building it waits for that build
    (``building``) and, unless a rebuild was asked for, uses it instead of building again."""
    with building(folder):
        if not force and is_built(folder):
            return folder
        return _compose_and_store(spec, folder, progress, note)


def _compose_and_store(spec: FamilySpec, folder: Path, progress: bool, note: str) -> Path:
    if spec.import_command is not None:
        raise FamilyNotBuiltError(
            f"{spec.name} is built from files you bring (they are not public downloads); run `{spec.import_command}`")
    with reporting(progress), phase(f"building {spec.name}{note} (first use; later loads read {folder})"):
        with phase(f"{spec.name}: fetching {len(spec.raw_files)} raw file(s)"):
            raw_paths = {raw.key: fetch(raw, progress) for raw in spec.raw_files}
        with phase(f"{spec.name}: reading the raw files and composing the CGs"):
            table, found = spec.build(raw_paths, progress)
        table, collected = merge_collected(spec, table)
        return store_family(spec, table, {**found, **collected}, folder)


def import_families(kind: str, path: Path, progress: bool = True) -> list[str]:
    """Run the importer ``kind`` on ``path`` and store every family it read; their names.

    The importer reads everything before anything is written, so a bad file leaves no family
    half-imported.
    """
    path = Path(path)
    imported = importer(kind)(path, progress)
    with reporting(progress):
        for name, (table, found) in sorted(imported.items()):
            store_family(family_spec(name), table, {"imported_from": path.name, **found})
    return sorted(imported)


def refresh_collected_labels(name: str) -> Path:
    """Merge the family's collected label sets (``cgbench.collected``) into its stored build anew.

    The CGs are kept: the stored table loses its previously merged collected columns and gets the
    current ones, so this costs one table read and write, not a rebuild. Manifest entries of the
    build (capture failures, the imported file, ...) are kept.
    """
    spec = family_spec(name)
    family = Family.from_folder(spec, family_folder(spec))
    return _refresh(family)


def _refresh(family: Family, fingerprint: dict[str, str] | None = None) -> Path:
    manifest = family.manifest
    table = family.table.drop_columns([c for c in manifest.get(MANIFEST_KEY, {}) if c in family.table.column_names])
    table, collected = merge_collected(family.spec, table, fingerprint)
    kept = {key: value for key, value in manifest.items() if key not in _COMPUTED_KEYS}
    return store_family(family.spec, table, {**kept, **collected}, family.folder)


def store_family(spec: FamilySpec, table: pa.Table, extra_manifest: dict | None = None,
                 folder: Path | None = None) -> Path:
    """Compute the standard splits of a built table and write the family version atomically (into
    ``folder``, the family's folder when the caller has not resolved it already)."""
    folder = family_folder(spec) if folder is None else folder
    hashes = np.asarray(table.column("wl_hash").to_pylist())
    target = None
    if spec.default_target is not None:
        target = np.asarray(table.column(spec.default_target).to_numpy(zero_copy_only=False), float)
    with phase(f"{spec.name}: computing the standard splits"):
        splits = {**standard_splits(target, hashes), **spec.extra_splits(table)}
    manifest = {
        **spec.manifest(), **(extra_manifest or {}), "cgbench_version": __version__, "cg_format": CG_FORMAT_VERSION,
        "n_archs": table.num_rows,
        "splits": {n: {p: int(len(i)) for p, i in parts.items()} for n, parts in splits.items()},
    }
    with phase(f"{spec.name}: writing Parquet files and manifest to {folder}"):
        write_family(folder, annotate_table(table, manifest), splits_to_table(splits), manifest)
    return folder


def family_column(name: str, column: str, progress: bool = True) -> list:
    """One column of the family's verified build (built first if need be), read without its graphs."""
    spec = family_spec(name)
    folder = _build(spec, family_folder(spec), False, progress)
    rebuild = rebuild_command(spec)
    with reading(folder):
        verify_family(folder, read_manifest(folder, spec.name, spec.version, rebuild), rebuild)
        return pq.read_table(folder / DATA_FILE, columns=[column]).column(column).to_pylist()


def load_family(name: str, progress: bool = True) -> Family:
    """The family ``name`` (see ``cgbench families``): built on first use, then read from the cache.

    The first call fetches the raw files (from ``CGBENCH_MIRROR`` when set), builds the table of
    CGs and labels and the standard splits, and writes them under ``$CGBENCH_HOME/families/``
    (default ``~/.cache/cgbench``), announcing each phase on stderr unless ``progress=False``.
    Later calls check the files' sha256 against the manifest and memory-map them; collected
    labels (``cgbench.collected``) are merged in again when they changed.

    >>> nb201 = load_family("nb201")
    >>> nb201
    Family('nb201', version='1.0', n_archs=15625, default_target='c10_valid_acc_200ep' [%], targets=...)
    """
    return _load(name, progress, note="")


def load_families(names: Sequence[str], progress: bool = True) -> dict[str, Family]:
    """:func:`load_family` of each name; a family built on the way says "building X (k of n)"."""
    return {name: _load(name, progress, note=f" ({k} of {len(names)})") for k, name in enumerate(names, 1)}


def _load(name: str, progress: bool, note: str) -> Family:
    """One walk: resolve the spec and folder once; a built family is read and verified (and its collected
    labels merged anew when they changed); an unbuilt one is built, then read without hashing again the
    files the build hashed as it wrote them, and with the collected labels it has just merged."""
    spec = family_spec(name)
    folder = family_folder(spec)
    with reading(folder):
        family = Family.read(spec, folder) if is_built(folder) else None
    if family is None:
        _construct(spec, folder, progress, note)
        with reading(folder):
            return Family.read(spec, folder, verify=False)
    fingerprint = collected_fingerprint(name)
    if fingerprint != merged_fingerprint(family.manifest):
        with reporting(progress):
            _refresh(family, fingerprint)
        with reading(folder):
            family = Family.read(spec, folder, verify=False)
    return family


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
        """The family stored in ``folder``, checked against ``spec`` and its manifest's sha256s."""
        with reading(folder):
            return cls.read(spec, folder)

    @classmethod
    def read(cls, spec: FamilySpec, folder: Path, verify: bool = True) -> Family:
        """:meth:`from_folder` for a caller that holds :func:`cgbench.storage.reading` on ``folder``
        (``verify=False``: the caller has just written the files and hashed them on the way)."""
        rebuild = rebuild_command(spec)
        manifest = read_manifest(folder, spec.name, spec.version, rebuild)
        if verify:
            verify_family(folder, manifest, rebuild)
        try:
            table = read_parquet(folder / DATA_FILE)
            splits = splits_from_table(read_parquet(folder / SPLITS_FILE))
        except pa.ArrowException as err:
            raise FamilyIntegrityError(f"cannot read {folder}: {err}; run `{rebuild}`") from None
        if table.num_rows != manifest["n_archs"]:
            raise FamilyIntegrityError(f"{folder / DATA_FILE} has {table.num_rows} rows but its manifest records "
                                       f"{manifest['n_archs']}; run `{rebuild}`")
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
        self.labels(target)  # unknown targets fail here, naming the known ones
        return dict(self.manifest["labels"][target])

    @cached_property
    def arch_ids(self) -> list[str]:
        """The canonical architecture string of every row, in row order."""
        return self.table.column("arch_id").to_pylist()

    def labels(self, target: str | None = None) -> np.ndarray:
        """Label column ``target`` (default: the default target) as float64, NaN where a row has none."""
        target = target or self.default_target
        if target is None:
            raise UnknownNameError(f"{self.name} is unlabelled (architectures waiting for labels); it has no targets")
        if target not in self.manifest["labels"]:
            raise UnknownNameError(f"{self.name} has no label column {target!r}; it has {', '.join(self.targets)}")
        return np.asarray(self.table.column(target).to_numpy(zero_copy_only=False), dtype=np.float64)

    def higher_is_better(self, target: str | None = None) -> bool:
        """The direction of ``target`` (default target if None): False for costs such as latency."""
        target = target or self.default_target
        self.labels(target)  # unknown targets fail here, naming the known ones
        return bool(self.manifest["labels"][target].get("higher_is_better", True))

    def noise_ceiling(self, target: str | None = None, min_pairs: int = 20) -> dict | None:
        """How well two measurements of ``target`` agree (:func:`cgbench.metrics.label_agreement`), or None.

        From the family's declared repeat labels (two trainings of every architecture) when it has
        them for ``target``, else from architectures listed more than once with their own label (the
        first two rows of every canonical CG labelled twice, if there are ``min_pairs`` such CGs). The
        result names its ``source``.
        """
        from .metrics import label_agreement

        target = target or self.default_target
        direction = self.higher_is_better(target)
        if target in self.spec.repeat_labels:
            a, b = self.spec.repeat_labels[target]
            return {**label_agreement(self.labels(a), self.labels(b), higher_is_better=direction),
                    "source": f"{a} vs {b} (two trainings of every architecture)"}
        rows = np.flatnonzero(~np.isnan(self.labels(target)))
        hashes = np.asarray(self.table.column("wl_hash").to_pylist(), dtype=object)[rows]
        first_rows: dict[str, list[int]] = {}
        for row, key in zip(rows, hashes):
            first_rows.setdefault(key, []).append(int(row))
        pairs = np.array([group[:2] for group in first_rows.values() if len(group) >= 2], dtype=np.int64)
        if len(pairs) < min_pairs:
            return None
        values = self.labels(target)
        return {**label_agreement(values[pairs[:, 0]], values[pairs[:, 1]], higher_is_better=direction),
                "source": f"two rows of the same architecture ({len(pairs)} architectures labelled twice)"}

    def labelled_rows(self, *targets: str) -> np.ndarray:
        """Indices of the rows that carry every one of ``targets`` (e.g. an accuracy and a latency)."""
        if not targets:
            raise ValueError("name at least one target")
        labelled = np.ones(len(self), bool)
        for target in targets:
            labelled &= ~np.isnan(self.labels(target))
        return np.flatnonzero(labelled)

    @cached_property
    def graphs(self) -> GraphTable:
        """Every CG of the family in CSR form (concatenated arrays and per-graph offsets)."""
        return GraphTable.from_arrow(self.table)

    def graph(self, i: int) -> ComputationGraph:
        """The CG of row ``i``."""
        if not 0 <= i < len(self):
            raise ArchitectureIndexError(f"{self.name} has {len(self)} architectures (rows 0 to {len(self) - 1}); "
                                         f"index {i} is out of range")
        return self.graphs.graph(i)

    def get_idx_split(self, name: str = "random", target: str | None = None) -> dict[str, np.ndarray]:
        """OGB style: ``{"train", "valid", "test"}`` row-index arrays of the stored split ``name``.

        ``random`` (80/10/10), ``dedup`` (80/10/10 over one representative per isomorphism class)
        and, for labelled families, ``fewshot50`` (GENNAPE's 50 fine-tuning rows and the rest as
        test; its ``valid`` is empty by design, see ``cgbench.splits``). With ``target``, each part
        keeps only the rows labelled by it (families whose targets cover different rows), and
        ``fewshot50`` is the few-shot split of that target: the stored one is of the default
        target, another target's is computed by the same rule (``cgbench.splits.fewshot_split``)
        over the rows it labels.
        """
        parts = self.split_parts(name, target)
        if target is None:
            return parts
        labelled = ~np.isnan(self.labels(target))
        return {part: idx[labelled[idx]] for part, idx in parts.items()}

    def split_parts(self, name: str, target: str | None = None) -> dict[str, np.ndarray]:
        """The parts of split ``name`` for ``target`` before unlabelled rows are dropped."""
        if name not in self.splits:
            raise UnknownNameError(f"{self.name} has no split {name!r}; it has {', '.join(sorted(self.splits))}")
        if name == "fewshot50" and target not in (None, self.default_target):
            return fewshot_split(self.labels(target))
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

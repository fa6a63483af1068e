"""On-disk forms of a family version: canonical Parquet + JSON manifest, and an HDF5 export.

A family version is a folder holding ``data.parquet`` (one row per architecture: ``arch_id``,
``config``, graph columns as nested lists, FLOPs, parameters, labels), ``splits.parquet`` and
``manifest.json``. The manifest records the sha256 of exactly those two data files, by plain
name, and what the family is (name, version, row count, labels, splits). Reading checks the
manifest against the family it should describe and the sha256s first: a truncated or altered
file, or a manifest that lists other files or describes another family, gives
:class:`FamilyIntegrityError` naming the file and the command that rebuilds it.

Writing is atomic for readers, also against a rebuild (``cgbench build --force``) while other
processes read: every file is first written to a temporary name in the folder and flushed to
disk, then, under an exclusive lock that readers share (``.read.lock``, ``flock``), the manifest
is removed, the data files are renamed into place and the new manifest is renamed in last. A
reader holding the shared lock therefore sees the old build or the new one, never a mix and
never neither; a writer killed before the renames leaves the old build, and one killed during
them leaves no manifest (an unfinished build, rebuilt on the next load). Readers take the shared
lock through a gate (``.gate.lock``) that a writer closes while it waits for the readers of the
moment to finish, so a stream of readers cannot starve it. Writers take a third lock
(``.write.lock``) for the whole write, so the next writer knows that temporary files it finds
(``.*.tmp``) belong to a killed writer and removes them.

Graphs travel in CSR form (:class:`GraphTable`): per-graph offsets into concatenated node and
edge arrays. Parquet list columns store exactly that, so loading needs no per-graph work.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import CgbenchError, InvalidFileError
from .graph.model import ComputationGraph, check_graphs
from .sources import sha256_of
from .userfiles import read_json

DATA_FILE, SPLITS_FILE, MANIFEST_FILE = "data.parquet", "splits.parquet", "manifest.json"
FAMILY_FILES = (DATA_FILE, SPLITS_FILE)
# What every manifest holds; a manifest without one of these keys was not written by cgbench.
MANIFEST_KEYS = ("family", "version", "files", "n_archs", "labels", "default_target", "splits", "cg_format")
GRAPH_COLUMNS = ("node_op", "node_shape", "node_attr", "edge_src", "edge_dst")
_READ_LOCK, _GATE_LOCK, _WRITE_LOCK, _BUILD_LOCK, _MAKE_LOCK = ".read.lock", ".gate.lock", ".write.lock", ".build.lock", ".make.lock"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A manifest is a few kilobytes; a larger one is not cgbench's.
_MAX_MANIFEST_BYTES = 16 * 2**20


class FamilyIntegrityError(CgbenchError, RuntimeError):
    """A stored family file is missing, truncated, altered, or describes another family."""


# ---------------------------------------------------------------------------------------------
# Atomic writes


def fsync_folder(folder: Path) -> None:
    """Make a rename or link inside ``folder`` durable (it is an entry of the folder, not of the file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@cache
def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file (0644 under the usual umask 022); mkstemp makes 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class DiskFullError(CgbenchError, OSError):
    """A write ran out of disk space (or quota); nothing was replaced."""


# torch.save reports a full disk as a RuntimeError without an errno; below this much free space there,
# a failed write is taken for one that ran out of it.
_NEARLY_FULL_BYTES = 1 << 20


def is_disk_full(error: BaseException, folder: Path) -> bool:
    """Whether a failed write into ``folder`` failed for want of space."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, RuntimeError) and shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES


def disk_full_error(path: Path, written: int, needed: int | None = None) -> DiskFullError:
    """The one-line error of a write of ``path`` that filled its disk after ``written`` bytes (of ``needed``)."""
    free = shutil.disk_usage(path.parent).free
    of = f" of the {needed:,} it needs" if needed is not None else ""
    error = DiskFullError(
        f"no space left on the disk that holds {path.parent}: writing {path.name} stopped after {written:,} "
        f"bytes{of}, with {free:,} bytes free there; make room there (or point CGBENCH_HOME or --out at another "
        f"disk) and run the command again. Nothing was replaced: the previous {path.name}, if any, is as it was")
    error.errno, error.written = errno.ENOSPC, written
    return error


def staged_file(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a new temporary file ``.<name>.*.tmp`` next to ``path``, flushed to disk.

    The caller renames it into place (or removes it); if ``write`` fails, the file is removed, and a
    write that filled the disk is a :class:`DiskFullError` saying where and how far it got. The file
    gets the mode a plainly created file would have (readable by others under umask 022).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a file name to write")
    blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(f"{blocking} is a file, so {path} cannot be written")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        if is_disk_full(error, path.parent):
            raise disk_full_error(path, 0) from None
        raise
    os.close(fd)
    written = False
    try:
        os.chmod(tmp, _new_file_mode())
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        written = True
    except (OSError, RuntimeError) as error:
        if is_disk_full(error, path.parent):
            # Some writers (pyarrow) remove their partial file themselves.
            size = os.path.getsize(tmp) if os.path.exists(tmp) else 0
            raise disk_full_error(path, size) from None
        raise
    finally:
        if not written:
            Path(tmp).unlink(missing_ok=True)
    return Path(tmp)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file ``.<name>.*.tmp`` next to ``path``, then rename it into place.

    The file and the rename are flushed to disk, so a crash leaves either the old file or the new one.
    """
    path = Path(path)
    tmp = staged_file(path, write)
    try:
        os.replace(tmp, path)
        fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of ``data``; on a full disk the error also says how much was needed."""
    try:
        atomic_write(path, lambda tmp: tmp.write_bytes(data))
    except DiskFullError as error:
        raise disk_full_error(Path(path), error.written, needed=len(data)) from None


# ---------------------------------------------------------------------------------------------
# Graphs in CSR form


@dataclass
class GraphTable:
    """Many CGs as concatenated arrays with per-graph offsets (``node_ptr``, ``edge_ptr``)."""

    node_ptr: np.ndarray  # (G+1,) int64
    edge_ptr: np.ndarray  # (G+1,) int64
    op: np.ndarray  # (N,) int16
    shape: np.ndarray  # (N, 6) int32
    attr: np.ndarray  # (N, 6) int32
    edges: np.ndarray  # (E, 2) int32, local node indices

    def __len__(self) -> int:
        return len(self.node_ptr) - 1

    def graph(self, i: int) -> ComputationGraph:
        """Graph ``i`` as a ComputationGraph (views into the arrays, no copy)."""
        a, b = self.node_ptr[i], self.node_ptr[i + 1]
        c, d = self.edge_ptr[i], self.edge_ptr[i + 1]
        return ComputationGraph(self.op[a:b], self.shape[a:b], self.attr[a:b], self.edges[c:d])

    def validate(self) -> GraphTable:
        """This table, or ``InvalidGraphError`` naming the first graph that breaks a CG invariant."""
        check_graphs(self.node_ptr, self.edge_ptr, self.op, self.edges)
        return self

    @classmethod
    def from_graphs(cls, graphs: Sequence[ComputationGraph]) -> GraphTable:
        return cls._joined([np.array([g.n_nodes for g in graphs], np.int64)], [np.array([g.n_edges for g in graphs], np.int64)],
                           graphs)

    @classmethod
    def concat(cls, tables: Sequence[GraphTable]) -> GraphTable:
        """The graphs of ``tables``, one after the other."""
        return cls._joined([np.diff(t.node_ptr) for t in tables], [np.diff(t.edge_ptr) for t in tables], tables)

    @classmethod
    def _joined(cls, node_counts: list[np.ndarray], edge_counts: list[np.ndarray], parts: Sequence) -> GraphTable:
        def ptr(counts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate([[0], np.cumsum(np.concatenate([np.zeros(0, np.int64), *counts]))]).astype(np.int64)

        def joined(name: str, empty: np.ndarray) -> np.ndarray:
            return np.concatenate([empty, *(getattr(p, name) for p in parts)])

        return cls(node_ptr=ptr(node_counts), edge_ptr=ptr(edge_counts),
                   op=joined("op", np.zeros(0, np.int16)), shape=joined("shape", np.zeros((0, 6), np.int32)),
                   attr=joined("attr", np.zeros((0, 6), np.int32)), edges=joined("edges", np.zeros((0, 2), np.int32)))

    def to_arrow_columns(self) -> dict[str, pa.Array]:
        """The graph columns of a family table (``node_op``, ``node_shape``, ``node_attr``, ``edge_src``,
        ``edge_dst``) as Arrow list arrays over these very buffers."""
        node_offsets = pa.array(self.node_ptr.astype(np.int32))
        edge_offsets = pa.array(self.edge_ptr.astype(np.int32))

        def nested(values: np.ndarray, offsets: pa.Array, width: int | None = None) -> pa.Array:
            flat = pa.array(values.reshape(-1))
            inner = pa.FixedSizeListArray.from_arrays(flat, width) if width else flat
            return pa.ListArray.from_arrays(offsets, inner)

        return {
            "node_op": nested(self.op, node_offsets),
            "node_shape": nested(self.shape, node_offsets, 6),
            "node_attr": nested(self.attr, node_offsets, 6),
            "edge_src": nested(self.edges[:, 0], edge_offsets),
            "edge_dst": nested(self.edges[:, 1], edge_offsets),
        }

    @classmethod
    def from_arrow(cls, table: pa.Table) -> GraphTable:
        def flat(name: str, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
            column = table.column(name).combine_chunks()
            offsets = column.offsets.to_numpy().astype(np.int64)
            values = column.values
            if width:
                values = values.flatten()
            values = values.to_numpy(zero_copy_only=False)
            # Offsets of a sliced column need not start at 0.
            start, stop = offsets[0] * (width or 1), offsets[-1] * (width or 1)
            values = values[start:stop]
            return offsets - offsets[0], values.reshape(-1, width) if width else values

        node_ptr, op = flat("node_op")
        _, shape = flat("node_shape", 6)
        _, attr = flat("node_attr", 6)
        edge_ptr, src = flat("edge_src")
        _, dst = flat("edge_dst")
        return cls(node_ptr, edge_ptr, op, shape, attr, np.stack([src, dst], axis=1))


# ---------------------------------------------------------------------------------------------
# Family folders


def _locked(path: Path, exclusive: bool) -> int | None:
    """An open descriptor of the lock file ``path``, locked; None in a folder nobody may write to."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as err:
        # A folder nobody may write to (a read-only cache) has no writers to wait for.
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return None
        raise
    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    return fd


@contextmanager
def _flock(path: Path, exclusive: bool) -> Iterator[None]:
    fd = _locked(path, exclusive)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


@contextmanager
def reading(folder: Path) -> Iterator[None]:
    """Hold while reading a family folder's manifest and files: no writer swaps them meanwhile."""
    folder = Path(folder)
    if not folder.is_dir():
        yield  # nothing built yet, nothing to protect
        return
    with _flock(folder / _GATE_LOCK, exclusive=False):
        fd = _locked(folder / _READ_LOCK, exclusive=False)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


@contextmanager
def building(folder: Path) -> Iterator[None]:
    """Hold while building a family into ``folder``: a second builder waits here for the first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _flock(folder / _BUILD_LOCK, exclusive=True):
        yield


@contextmanager
def making(folder: Path) -> Iterator[None]:
    """Hold while reading or making a derived cache in ``folder`` (a PyG view): whoever finds it missing or
    damaged makes it again while the others wait, and nobody reads it half made or deletes it under a reader."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _flock(folder / _MAKE_LOCK, exclusive=True):
        yield


def is_built(folder: Path) -> bool:
    """Whether ``folder`` holds a finished build (its manifest is written last)."""
    return (Path(folder) / MANIFEST_FILE).is_file()


def remove_orphans(folder: Path) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder``; call it holding the write lock."""
    orphans = sorted(Path(folder).glob(".*.tmp"))
    for path in orphans:
        path.unlink(missing_ok=True)
    return orphans


def _canonical_type(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every list's item field named ``item``, Arrow's default, whatever it was called."""
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        return kind
    item = kind.value_field
    item = pa.field("item", _canonical_type(item.type), item.nullable, item.metadata)
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(item, kind.list_size)
    return pa.large_list(item) if pa.types.is_large_list(kind) else pa.list_(item)


def canonical_table(table: pa.Table) -> pa.Table:
    """``table`` in the one schema form its content has, so equal tables give equal Parquet bytes.

    Parquet readers name a list's item field ``element`` while tables built in memory name it
    ``item``; the name is stored in the file, so a table read back and written again (refreshing
    collected labels) changed ``data_sha256`` without any change of data, and every submission
    made against the family stopped validating.
    """
    schema = table.schema
    for i, field in enumerate(schema):
        schema = schema.set(i, field.with_type(_canonical_type(field.type)))
    return table.cast(schema)


def write_family(folder: Path, table: pa.Table, splits: pa.Table, manifest: dict) -> None:
    """Write a family version: data and splits staged first, then swapped in with the manifest last."""
    table, splits = canonical_table(table), canonical_table(splits)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _flock(folder / _WRITE_LOCK, exclusive=True):
        remove_orphans(folder)
        staged: dict[str, Path] = {}
        try:
            for name, content in ((DATA_FILE, table), (SPLITS_FILE, splits)):
                staged[name] = staged_file(folder / name, lambda tmp, content=content: pq.write_table(
                    content, tmp, compression="zstd", row_group_size=1 << 20))
            files = {name: sha256_of(tmp) for name, tmp in staged.items()}
            text = json.dumps({**manifest, "files": files}, indent=2, sort_keys=True)
            staged[MANIFEST_FILE] = staged_file(folder / MANIFEST_FILE, lambda tmp: tmp.write_text(text))
            with _flock(folder / _GATE_LOCK, exclusive=True), _flock(folder / _READ_LOCK, exclusive=True):
                (folder / MANIFEST_FILE).unlink(missing_ok=True)
                fsync_folder(folder)
                for name in (*FAMILY_FILES, MANIFEST_FILE):
                    os.replace(staged[name], folder / name)
                fsync_folder(folder)
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)


def read_manifest(folder: Path, family: str, version: str, rebuild: str) -> dict:
    """The manifest of ``folder``, checked to describe ``family`` ``version`` and to list exactly its files.

    ``rebuild`` is the command that rebuilds the family; every error names it.
    """
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise FamilyIntegrityError(f"{path} is missing: the family was never built or its build was interrupted; "
                                   f"run `{rebuild}`")
    try:
        manifest = read_json(path, "a family manifest", _MAX_MANIFEST_BYTES)
    except InvalidFileError as err:
        raise FamilyIntegrityError(f"{err}; run `{rebuild}`") from None
    _check_manifest(manifest, path, family, version, rebuild)
    return manifest


def _check_manifest(manifest: object, path: Path, family: str, version: str, rebuild: str) -> None:
    def fail(problem: str) -> FamilyIntegrityError:
        return FamilyIntegrityError(f"{path} {problem}; run `{rebuild}`")

    if not isinstance(manifest, dict):
        raise fail(f"is not a JSON object but {type(manifest).__name__}")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise fail(f"lacks the key(s) {missing}")
    if (manifest["family"], manifest["version"]) != (family, version):
        raise fail(f"describes {manifest['family']!r} version {manifest['version']!r}, not {family!r} "
                   f"version {version!r}")
    files = manifest["files"]
    if not isinstance(files, dict) or set(files) != set(FAMILY_FILES):
        listed = sorted(files) if isinstance(files, dict) else files
        raise fail(f"must list exactly the family's files {list(FAMILY_FILES)}, but lists {listed}")
    bad = [name for name, digest in files.items() if not (isinstance(digest, str) and _SHA256.fullmatch(digest))]
    if bad:
        raise fail(f"records no valid sha256 for {bad}")
    n_archs = manifest["n_archs"]
    if isinstance(n_archs, bool) or not isinstance(n_archs, int) or n_archs < 0:
        raise fail(f"records n_archs = {n_archs!r}, not a row count")


def verify_family(folder: Path, manifest: dict, rebuild: str) -> None:
    """Raise :class:`FamilyIntegrityError` unless every file of a checked manifest has its recorded sha256."""
    for name in FAMILY_FILES:
        expected = manifest["files"][name]
        path = Path(folder) / name
        if not path.is_file():
            raise FamilyIntegrityError(f"{path} is missing; run `{rebuild}`")
        actual = sha256_of(path)
        if actual != expected:
            raise FamilyIntegrityError(
                f"{path} has sha256 {actual} but its manifest records {expected}: the file is truncated "
                f"or altered; run `{rebuild}`"
            )


def read_parquet(path: Path, memory_map: bool = True) -> pa.Table:
    return pq.read_table(path, memory_map=memory_map)


# What pyarrow raises on a damaged Parquet file: ArrowException (ArrowInvalid: a bad footer, ...) and
# OSError (a codec on a damaged data page: "ZSTD decompression failed").
PARQUET_ERRORS = (pa.ArrowException, OSError)


def read_parquet_file(path: Path, what: str, remedy: str, **options) -> pa.Table:
    """The Parquet file ``path`` (a ``what``), or one :class:`~cgbench.errors.InvalidFileError` naming it,
    saying it is damaged and what to do (``remedy``) when its bytes do not decode."""
    try:
        return pq.read_table(path, **options)
    except PARQUET_ERRORS as err:
        if isinstance(err, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise InvalidFileError(f"{path} is not a readable {what}: it is damaged or truncated "
                               f"({type(err).__name__}: {str(err).splitlines()[0]}); {remedy}") from None


# ---------------------------------------------------------------------------------------------
# HDF5 export / import (CSR layout)


def export_hdf5(table: pa.Table, manifest: dict, path: Path,
                splits: dict[str, dict[str, np.ndarray]] | None = None) -> None:
    """One self-describing HDF5 file of a family version.

    - ``/graphs``: the CGs in CSR form (``node_ptr``, ``edge_ptr``, ``op``, ``shape``, ``attr``,
      ``edges``); ``shape``, ``attr`` and ``edges`` name their columns in the attribute ``columns``;
    - ``/vocab/op_names``: the name of every op id;
    - ``/columns/<name>``: every other column (a list column as a group of offsets and values),
      with ``description`` and ``unit`` attributes;
    - ``/splits/<split>/<part>``: row indices of the standard splits, with ``description``;
    - root attributes: ``manifest`` (JSON), ``cgbench`` (JSON: family, version, units, sources,
      licence, citation) and ``schema`` (the Arrow schema, so ``import_hdf5`` restores the table).

    Strings are UTF-8 (h5py hands them back as bytes unless read with ``dataset.asstr()[()]``).
    """
    import h5py

    from .graph.model import ATTR_FIELDS, SHAPE_FIELDS
    from .graph.vocab import CG_FORMAT_VERSION, OPS
    from .metadata import column_docs, family_metadata
    from .splits import SPLIT_DOCS

    graphs = GraphTable.from_arrow(table)
    scalar_columns = [c for c in table.column_names if c not in GRAPH_COLUMNS]
    docs = column_docs(manifest, table.column_names)
    text = h5py.string_dtype("utf-8")
    columns_of = {"shape": SHAPE_FIELDS, "attr": ATTR_FIELDS, "edges": ("src", "dst")}

    def build(f) -> None:
        f.attrs["manifest"] = json.dumps(manifest, sort_keys=True)
        f.attrs["cgbench"] = json.dumps(family_metadata(manifest, table.column_names), sort_keys=True)
        f.attrs["schema"] = table.schema.serialize().to_pybytes().hex()
        f.create_dataset("vocab/op_names", data=np.array(OPS, dtype=object), dtype=text)
        f["vocab"].attrs["cg_format"] = CG_FORMAT_VERSION
        g = f.create_group("graphs")
        for name in ("node_ptr", "edge_ptr", "op", "shape", "attr", "edges"):
            g.create_dataset(name, data=getattr(graphs, name), compression="gzip", compression_opts=4)
            if name in columns_of:
                g[name].attrs["columns"] = np.array(columns_of[name], dtype=object)
        g["op"].attrs["names"] = "/vocab/op_names"
        g["shape"].attrs["unit"] = docs["node_shape"]["unit"]
        cols = f.create_group("columns")
        for name in scalar_columns:
            _write_column(cols, name, table.column(name).combine_chunks())
            cols[name].attrs["description"] = docs[name]["description"]
            cols[name].attrs["unit"] = docs[name]["unit"]
        for split, parts in (splits or {}).items():
            group = f.create_group(f"splits/{split}")
            group.attrs["description"] = SPLIT_DOCS.get(split, "")
            for part, rows in parts.items():
                group.create_dataset(part, data=np.asarray(rows, np.int64))

    # The file is made in memory and then written like any other file: HDF5's own writer crashes the
    # process when the disk fills, and the size is known before the first byte reaches the disk.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
    write_bytes(Path(path), buffer.getvalue())


def _write_column(group, name: str, column: pa.Array) -> None:
    """A column as an HDF5 dataset; a list column as a group of offsets + values (CSR, recursively)."""
    import h5py

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        group.create_dataset(name, data=np.array(column.to_pylist(), dtype=object), dtype=h5py.string_dtype("utf-8"))
    elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        sub = group.create_group(name)
        sub.create_dataset("offsets", data=column.offsets.to_numpy().astype(np.int64))
        sub.attrs["null"] = np.asarray(column.is_null().to_numpy(zero_copy_only=False))
        _write_column(sub, "values", column.values.slice(column.offsets[0].as_py(),
                                                          column.offsets[-1].as_py() - column.offsets[0].as_py()))
    else:
        group.create_dataset(name, data=column.to_numpy(zero_copy_only=False))
        group[name].attrs["null"] = np.asarray(column.is_null().to_numpy(zero_copy_only=False))


def _read_column(node) -> pa.Array:
    import h5py

    if isinstance(node, h5py.Group):
        offsets = node["offsets"][()]
        values = _read_column(node["values"])
        mask = pa.array(node.attrs["null"]) if node.attrs["null"].any() else None
        return pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), values, mask=mask)
    if h5py.check_string_dtype(node.dtype):
        return pa.array(node.asstr()[()].tolist())
    return pa.array(node[()], mask=node.attrs["null"])


def import_hdf5(path: Path) -> tuple[pa.Table, dict]:
    """The exact table and manifest an :func:`export_hdf5` file was written from (one
    :class:`~cgbench.errors.InvalidFileError` naming the file when it is damaged or not such an export)."""
    try:
        return _import_hdf5(path)
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError, pa.ArrowException) as err:
        if isinstance(err, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise InvalidFileError(f"{path} is not a readable cgbench HDF5 export: it is damaged, truncated or another "
                               f"file ({type(err).__name__}: {str(err).splitlines()[0]}); export it again with "
                               "`cgbench export FAMILY --format hdf5`") from None


def _import_hdf5(path: Path) -> tuple[pa.Table, dict]:
    import h5py

    with h5py.File(path, "r") as f:
        manifest = json.loads(f.attrs["manifest"])
        schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(f.attrs["schema"])))
        g = f["graphs"]
        graphs = GraphTable(*(g[name][()] for name in ("node_ptr", "edge_ptr", "op", "shape", "attr", "edges")))
        arrays = graphs.to_arrow_columns()
        for name, node in f["columns"].items():
            arrays[name] = _read_column(node)
    columns = [arrays[field.name].cast(field.type) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema), manifest

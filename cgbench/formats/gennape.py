"""GENNAPE's ``CG_data.zip``: its files found in the zip, its caches unpickled safely, and its
architectures read as converted records (:class:`GennapeRecord`).

GENNAPE (Mills et al., AAAI 2023, github.com/Ascend-Research/GENNAPE, MIT licence) released its
Computation Graphs on Google Drive as ``CG_data.zip``. Its README says to unpack the zip and copy
its ``cache`` and ``data`` folders into the repository, so files are looked up by name anywhere
inside it (its top folder is not documented; macOS resource forks under ``__MACOSX`` are skipped):

- ``gpi_*_comp_graph_cache.pkl``: pickled lists of dicts ``{'compute graph': ComputeGraph, 'acc',
  'flops', 'n_params' (not for NB-201), 'original config'}``.
- ``*_labelled_cg_data.json``: ``{key: {"net_config", "max_perf", "perfs", "cg": <ComputeGraph
  state dict>}}``; GENNAPE's label is ``max_perf / 100``.

The pickled caches refer to GENNAPE's CG classes (``model_src.comp_graph.tf_comp_graph``) and
DARTS' ``Genotype``; they are read with :func:`cgbench.safe_pickle.restricted_load`, those classes
replaced by the inert stand-ins below and only the containers the format needs allowed (NumPy
arrays and scalars, ``OrderedDict``, ``range``). Every CG is converted by
:mod:`cgbench.formats.gennape_cg`; every problem with a file is an
:class:`~cgbench.errors.InvalidFileError` naming the zip and the file inside it. Which family a
record belongs to is the caller's to say (``group``).
"""

from __future__ import annotations

import json
import pickle
import zipfile
import zlib
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from ..errors import InvalidFileError
from ..graph.features import GennapeFeatures
from ..graph.model import ComputationGraph
from ..safe_pickle import UnsafePickleError, restricted_load
from ..userfiles import MAX_FILE_BYTES, check_file, parse_json
from .gennape_cg import GennapeCG, cg_from_fields, check_gennape_features, convert, gennape_node_features

# The key the caller files a record under, given its file's name and its CG (for cgbench, the family:
# GENNAPE's OFA cache holds two search spaces that its CG names tell apart); it may raise InvalidFileError.
Grouping = Callable[[str, GennapeCG], str]

# The largest GENNAPE file (a pickled cache) is far below this; a member that inflates beyond it is refused.
MAX_MEMBER_BYTES = 8 * MAX_FILE_BYTES


class PickledObject:
    """Receives a pickled GENNAPE object's attributes; it has no behaviour a pickle could trigger."""


class PickledComputeGraph(PickledObject):
    pass


class PickledNode(PickledObject):
    pass


class PickledRegularNode(PickledNode):
    pass


class PickledWeightedNode(PickledNode):
    pass


Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

_CG_MODULE = "model_src.comp_graph.tf_comp_graph"
PICKLE_REPLACEMENTS: dict[str, object] = {
    f"{_CG_MODULE}.ComputeGraph": PickledComputeGraph,
    f"{_CG_MODULE}.Node": PickledNode,
    f"{_CG_MODULE}.RegularNode": PickledRegularNode,
    f"{_CG_MODULE}.WeightedNode": PickledWeightedNode,
    # NB-301's 'original config': GENNAPE defines Genotype in model_src/darts/model_darts.py;
    # DARTS' own genotypes.py is where the original NB-301 genotypes were created.
    "model_src.darts.model_darts.Genotype": Genotype,
    "genotypes.Genotype": Genotype,
}
PICKLE_ALLOWED = frozenset({
    "collections.OrderedDict",
    "builtins.range",  # DARTS genotypes write their concat lists as range(2, 6)
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.ndarray", "numpy.dtype",
})


def load_cache(data: bytes, where: str) -> object:
    """A pickled GENNAPE cache; :class:`UnsafePickleError` for a global outside the format, else
    :class:`InvalidFileError` naming ``where`` if the bytes are not a complete pickle."""
    try:
        return restricted_load(data, PICKLE_ALLOWED, PICKLE_REPLACEMENTS)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise InvalidFileError(f"{where} is not a readable pickle (truncated or corrupted?): "
                               f"{type(err).__name__}: {err}") from None


def _members(zf: zipfile.ZipFile, wanted: set[str], path: Path) -> dict[str, zipfile.ZipInfo]:
    found: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = PurePosixPath(info.filename)
        if name.name not in wanted or "__MACOSX" in name.parts or info.is_dir():
            continue
        if name.name in found:
            raise InvalidFileError(f"{path} holds {name.name} twice ({found[name.name].filename} and "
                                   f"{info.filename}); which one is meant?")
        found[name.name] = info
    return found


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    with zf.open(info) as member:
        data = member.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise InvalidFileError(f"{path}: {info.filename} inflates to more than {MAX_MEMBER_BYTES // 2**20} MiB, "
                               "far more than any GENNAPE file")
    return data


def read_zip_files(path: Path, names: Iterable[str]) -> dict[str, bytes]:
    """The contents of the files called ``names`` wherever they sit in the zip ``path`` (those it holds)."""
    path = check_file(path, "GENNAPE's CG_data.zip")
    wanted = set(names)
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(zf, wanted, path)
            if not members:
                raise InvalidFileError(f"{path} holds none of GENNAPE's CG files ({', '.join(sorted(wanted))})")
            return {name: _read_member(zf, info, path) for name, info in members.items()}
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise InvalidFileError(f"{path} is not a readable zip archive (truncated or corrupt download?): {err}") from None


# ---------------------------------------------------------------------------------------------
# GENNAPE's CGs as pickled or saved


def cg_from_pickled(obj: object) -> GennapeCG:
    if not isinstance(obj, PickledComputeGraph):
        raise InvalidFileError(f"'compute graph' must be a GENNAPE ComputeGraph, got {type(obj).__name__}")
    fields = vars(obj)

    def nodes(key: str, kind: type) -> list[dict]:
        found = fields.get(key, [])
        if not all(isinstance(n, kind) for n in found):
            raise InvalidFileError(f"CG {fields.get('name')!r}: {key} must hold only GENNAPE "
                                   f"{kind.__name__.removeprefix('Pickled')}s")
        return [vars(n) for n in found]

    return cg_from_fields(fields, nodes("weighted_nodes", PickledWeightedNode),
                          nodes("regular_nodes", PickledRegularNode))


def cg_from_state_dict(state: Mapping) -> GennapeCG:
    if not isinstance(state, Mapping):
        raise InvalidFileError(f"'cg' must be a GENNAPE CG state dict, got {type(state).__name__}")
    return cg_from_fields(state, state.get("weighted_nodes", []), state.get("regular_nodes", []))


# ---------------------------------------------------------------------------------------------
# Records


@dataclass
class GennapeRecord:
    """One architecture of a GENNAPE file, converted."""

    arch_id: str
    config: str
    name: str
    graph: ComputationGraph
    gennape_index: np.ndarray
    features: GennapeFeatures
    norm: tuple[float, float, float]
    acc: float
    flops: float
    n_params: float
    perfs: list[float] | None = None


def _number(value, what: str) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidFileError(f"{what} must be a number, got {value!r}") from None


def _jsonable(value):
    """GENNAPE's 'original config' (tuples, NumPy arrays, a Genotype, OrderedDicts) as JSON values."""
    if isinstance(value, Genotype):
        return {field: _jsonable(v) for field, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidFileError(f"unexpected {type(value).__name__} in an 'original config'")


def _record(arch_id: str, cg: GennapeCG, config, acc, flops, n_params, perfs=None) -> GennapeRecord:
    graph, gennape_index = convert(cg)
    features = gennape_node_features(cg)
    try:
        check_gennape_features(graph, gennape_index, features, cg.norm)
    except InvalidFileError as err:
        raise InvalidFileError(f"CG {cg.name!r}: {err}") from None
    return GennapeRecord(
        arch_id=arch_id, config=json.dumps(_jsonable(config)), name=cg.name, graph=graph,
        gennape_index=gennape_index, features=features, norm=cg.norm,
        acc=_number(acc, f"{arch_id} acc"), flops=_number(flops, f"{arch_id} flops"),
        n_params=_number(n_params, f"{arch_id} n_params"), perfs=perfs)


# One architecture of a file before conversion: (arch_id, CG, config, acc, flops, n_params, perfs).
Row = tuple[str, GennapeCG, object, object, object, object, "list[float] | None"]


def _cache_rows(where: str, file: str, data: bytes, progress: bool) -> Iterator[Row]:
    """The architectures of a pickled cache ``file`` (``where`` names it in errors)."""
    entries = load_cache(data, where)
    if not isinstance(entries, list):
        raise InvalidFileError(f"{where} must hold a list of dicts, got {type(entries).__name__}")
    for entry in tqdm(entries, desc=file, disable=not progress):
        if not isinstance(entry, Mapping) or "compute graph" not in entry:
            raise InvalidFileError("every entry must be a dict with a 'compute graph'")
        cg = cg_from_pickled(entry["compute graph"])
        yield (cg.name, cg, entry.get("original config"), entry.get("acc"), entry.get("flops"), entry.get("n_params"),
               None)


def _labelled_json_rows(where: str, file: str, data: bytes, progress: bool) -> Iterator[Row]:
    """The architectures of a labelled-CG JSON file (``where`` names it in errors); the label is max_perf / 100."""
    entries = parse_json(data, where)
    if not isinstance(entries, dict):
        raise InvalidFileError(f"{where} must hold a JSON object of architectures")
    for key, entry in tqdm(entries.items(), desc=where.rsplit("/", 1)[-1], disable=not progress):
        if not isinstance(entry, dict) or "cg" not in entry or "max_perf" not in entry:
            raise InvalidFileError(f"architecture {key!r} needs 'cg' and 'max_perf'")
        perfs = entry.get("perfs") or []
        if not isinstance(perfs, list):
            raise InvalidFileError(f"architecture {key!r}: 'perfs' must be a list of numbers")
        yield (str(key), cg_from_state_dict(entry["cg"]), entry.get("net_config"),
               _number(entry["max_perf"], f"{key} max_perf") / 100, None, None,
               [_number(p, f"{key} perfs") for p in perfs])


def read_file(where: str, file: str, data: bytes, group: Grouping,
              progress: bool = False) -> dict[str, list[GennapeRecord]]:
    """The records of GENNAPE's ``file`` (a pickled cache or a labelled-CG JSON file), converted, by ``group``;
    ``where`` names it in errors."""
    rows = (_cache_rows if file.endswith(".pkl") else _labelled_json_rows)(where, file, data, progress)
    records: dict[str, list[GennapeRecord]] = {}
    for arch_id, cg, *fields in rows:
        records.setdefault(group(file, cg), []).append(_record(arch_id, cg, *fields))
    return records


def _read_zipped_file(path: Path, name: str, data: bytes, group: Grouping, progress: bool) -> dict[str, list[GennapeRecord]]:
    """The records of one GENNAPE file of the zip, by group; every error names the zip and the file."""
    where = f"{path}: {name}"
    try:
        records = read_file(where, name, data, group, progress)
    except InvalidFileError as err:
        message = str(err)
        raise InvalidFileError(message if message.startswith(where) else f"{where}: {message}") from None
    if not any(records.values()):
        raise InvalidFileError(f"{where} holds no architectures")
    return records


def read_cg_data(path: Path, files: Iterable[str], group: Grouping,
                 progress: bool = True) -> dict[str, list[GennapeRecord]]:
    """The records of the files called ``files`` that CG_data.zip at ``path`` holds, converted, by ``group``."""
    contents = read_zip_files(Path(path), files)
    records: dict[str, list[GennapeRecord]] = {}
    for name, data in sorted(contents.items()):
        for key, rows in _read_zipped_file(Path(path), name, data, group, progress).items():
            records.setdefault(key, []).extend(rows)
    return records

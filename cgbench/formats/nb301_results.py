"""NAS-Bench-301's result files (one JSON file per training run) and cgbench's table of the imported runs.

A result file (``nb_301_v13`` data) holds the run's ``optimized_hyperparamater_config``, NB-301's
ConfigSpace encoding of the genotype and of the training setup, its ``info`` (``val_accuracy``,
``model_parameters``, ...), ``test_accuracy`` and ``runtime``. In the config, node k (2..5) of the
normal or reduction cell takes the inputs ``inputs_node_<cell>_<k>`` = ``'i_j'`` (node 2 takes 0
and 1), and the op on its input i is ``edge_<cell>_<e>`` with e the edge index of (k, i). Every
problem is an :class:`~cgbench.errors.InvalidFileError` naming the file and the key. What a
genotype means (canonical form, arch_id, network) is the nb301 family's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..errors import InvalidFileError
from ..storage import atomic_write
from ..userfiles import read_json

# NAS-Bench-301's seven ops (DARTS' without ``none``), the values of the config's ``edge_*`` keys;
# in NASLib's order, which its compact NB-301 encoding indexes.
OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
       "dil_conv_5x5")
CONFIG_PREFIX = "NetworkSelectorDatasetInfo:darts:"
# Edge index of (node k's input i) in NB-301's config: node 2's edges are 0-1, node 3's 2-4, ...
_EDGE_OFFSET = {2: 0, 3: 2, 4: 5, 5: 9}
# One result file is a few kilobytes; the cap only keeps a stray huge file from filling memory.
_MAX_RESULT_BYTES = 16 * 2**20

Edge = tuple[str, int]  # (op, input node): inputs 0 and 1 are the cell inputs, 2.. the earlier nodes


@dataclass(frozen=True)
class RunMetrics:
    """What a result file reports of its training run (NaN where it reports nothing)."""

    val_accuracy: float
    test_accuracy: float
    runtime_s: float
    reported_params: float


RUN_FIELDS = ("val_accuracy", "test_accuracy", "runtime_s", "reported_params")


@dataclass(frozen=True)
class RunResult:
    """One training run: its genotype as the config lists it, and its metrics."""

    normal: tuple[Edge, ...]  # 8 (op, input) pairs, two per node, each node's inputs ascending
    reduce: tuple[Edge, ...]
    metrics: RunMetrics


def read_result(path: Path, setup: Mapping[str, object]) -> RunResult:
    """One NB-301 training run; InvalidFileError naming the file and key if it is not one.

    ``setup``: config values every run must have been trained with (NB-301's main training setup).
    """
    where = str(path)
    record = read_json(path, "a NAS-Bench-301 result JSON file", _MAX_RESULT_BYTES)
    config = _require(record, "optimized_hyperparamater_config", where)
    for key, expected in setup.items():
        if _require(config, key, where) != expected:
            raise InvalidFileError(f"{where}: {key} = {config[key]!r}; the nb301 family holds NAS-Bench-301's "
                                   f"main training setup ({key} = {expected})")
    info = _require(record, "info", where)
    if not isinstance(info, list) or not info:
        raise InvalidFileError(f"{where}: 'info' must be a non-empty list")
    val_accuracy = _number(_require(info[0], "val_accuracy", f"{where} info[0]"), "info[0].val_accuracy", where)
    if math.isnan(val_accuracy):
        raise InvalidFileError(f"{where}: info[0].val_accuracy is null")
    normal, reduce = config_cells(config, where)
    return RunResult(normal, reduce, RunMetrics(
        val_accuracy=val_accuracy,
        test_accuracy=_number(record.get("test_accuracy"), "test_accuracy", where),
        runtime_s=_number(record.get("runtime"), "runtime", where),
        reported_params=_number(info[0].get("model_parameters"), "info[0].model_parameters", where),
    ))


def config_cells(config: Mapping, where: str) -> tuple[tuple[Edge, ...], tuple[Edge, ...]]:
    """The normal and reduction cells of an ``optimized_hyperparamater_config``, as (op, input) pairs."""
    cells = []
    for kind in ("normal", "reduce"):
        edges, used = [], set()
        for node, offset in _EDGE_OFFSET.items():
            inputs = (0, 1) if node == 2 else _node_inputs(config, f"{CONFIG_PREFIX}inputs_node_{kind}_{node}",
                                                            node, where)
            for source in inputs:
                key = f"{CONFIG_PREFIX}edge_{kind}_{offset + source}"
                used.add(key)
                op = _require(config, key, where)
                if op not in OPS:
                    raise InvalidFileError(f"{where}: {key} = {op!r} is not a NAS-Bench-301 op "
                                           f"(one of {', '.join(OPS)})")
                edges.append((op, source))
        stray = sorted(k for k in config if k.startswith(f"{CONFIG_PREFIX}edge_{kind}_") and k not in used)
        if stray:
            raise InvalidFileError(f"{where}: {stray[0]} is set but its node does not take that input")
        cells.append(tuple(edges))
    return cells[0], cells[1]


def _node_inputs(config: Mapping, key: str, node: int, where: str) -> tuple[int, int]:
    text = _require(config, key, where)
    parts = str(text).split("_")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InvalidFileError(f"{where}: {key} = {text!r} is not 'i_j'")
    i, j = int(parts[0]), int(parts[1])
    if not 0 <= i < j < node:
        raise InvalidFileError(f"{where}: {key} = {text!r} needs two distinct inputs below {node}")
    return i, j


def _require(record: Mapping, key: str, where: str):
    if not isinstance(record, Mapping) or key not in record:
        raise InvalidFileError(f"{where}: missing key {key!r}")
    return record[key]


def _number(value, key: str, where: str) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidFileError(f"{where}: {key} = {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidFileError(f"{where}: {key} = {value!r} is not a finite number")
    return number


def read_results(folder: Path, setup: Mapping[str, object], progress: bool = True) -> list[RunResult]:
    """Every ``*.json`` under ``folder`` (recursively), in path order; see :func:`read_result`."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file"
        raise NotADirectoryError(f"{folder} {what}; expected a folder of NAS-Bench-301 result JSON files")
    paths = sorted(folder.rglob("*.json"))
    if not paths:
        raise InvalidFileError(f"{folder} holds no *.json files")
    return [read_result(path, setup) for path in tqdm(paths, desc="nb301 results", disable=not progress)]


# ---------------------------------------------------------------------------------------------
# cgbench's table of imported runs: one row per result file, its arch_id and its metrics


def write_imported_runs(path: Path, runs: dict[str, list[RunMetrics]]) -> Path:
    """Store every imported run (one row per result file) at ``path`` atomically, replacing an earlier import."""
    rows = [(arch_id, run) for arch_id, group in runs.items() for run in group]
    table = pa.table({"arch_id": pa.array([a for a, _ in rows], pa.string()),
                      **{name: pa.array([getattr(r, name) for _, r in rows], pa.float64()) for name in RUN_FIELDS}})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return path


def read_imported_runs(path: Path) -> dict[str, list[RunMetrics]]:
    """The runs ``write_imported_runs`` stored, grouped by arch_id; ValueError if the file is not such a table."""
    try:
        table = pq.read_table(path)
    except pa.ArrowException as err:
        raise InvalidFileError(f"{path} is not a readable table of imported NB-301 runs ({err}); run "
                               "`cgbench import nb301 DIR` again") from None
    if set(table.column_names) != {"arch_id", *RUN_FIELDS}:
        raise InvalidFileError(f"{path} has columns {table.column_names}, not those of imported NB-301 runs; run "
                               "`cgbench import nb301 DIR` again")
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in RUN_FIELDS}
    runs: dict[str, list[RunMetrics]] = {}
    for i, arch_id in enumerate(table.column("arch_id").to_pylist()):
        runs.setdefault(arch_id, []).append(RunMetrics(*(float(columns[n][i]) for n in RUN_FIELDS)))
    return runs

"""NAS-Bench-101: cells of up to 7 vertices / 9 edges, the official network, and its labels.

The network follows the official TensorFlow code (google-research/nasbench, ``model_builder.py``
and ``base_ops.py``; Ying et al., ICML 2019): a 3x3 conv-BN-ReLU stem with 128 channels, three
stacks of three cells, a 2x2 max pool between stacks that doubles the channels (128, 256, 512),
global average pooling and a dense layer with bias. Inside a cell, vertex channels come from
NB-101's ``compute_vertex_channels`` (the cell's output channels split across the vertices that
feed the output, remainders to the first ones, other vertices take the max of their successors);
an edge out of the cell input is a 1x1 conv-BN-ReLU projection, interior edges pass the tensor
(sliced by one channel where the split left it one wider), a vertex sums its inputs (interior
ones first, then the projection) and applies its op, the output concatenates its inputs in vertex
order and adds a projection of the cell input if there is an input->output edge. Convs have no
bias; BN has scale and offset, so parameter counts match TensorFlow's trainable variables.

Configs are pruned as NB-101 prunes them (vertices not on an input->output path are dropped) and
then put in NB-101's own canonical form: among all vertex orders that keep the matrix upper
triangular, the one that NB-101's ``generate_graphs`` enumerates first (smallest edge bitmask,
bit ``x + y(y-1)/2`` for edge x->y, then smallest op labelling). That is the matrix NB-101
trained and stores for each graph, so isomorphic cells share one ``arch_id`` and build the very
network that NB-101 trained (channel remainders and concat order depend on vertex order). The
``arch_id`` is the canonical matrix rows and ops, e.g.
``0110000/0001000/.../0000000|input,conv3x3-bn-relu,...,output``; the NB-101 graph hash (its
iterative MD5 over degrees, op labels and neighbour hashes, the key of the official dataset) is
a separate column, ``nb101_hash``.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import time
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn

from ..errors import InvalidFileError
from ..formats.nasbench101 import FINAL_EPOCHS, CellSpec, read_nasbench_tfrecord
from ..formats.naslib_zc import read_zc_nasbench101
from ..importers import ImportedFamily
from ..sources import github_file
from ..storage import GraphTable
from ..userfiles import check_file
from .registry import register_family, register_importer
from .base import FamilySpec, LabelColumn, assemble_table, space_table
from .fragments import Composer, Composition, Value, compose_family, sum_tensors
from .space import SearchSpace

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
# NB-101's ``available_ops`` order: an op's index is its label in the graph hash and enumeration.
ALLOWED_OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3
STACK_CHANNELS = tuple(STEM_CHANNELS * 2 ** s for s in range(NUM_STACKS))


class Cell(NamedTuple):
    """A pruned, canonically ordered NB-101 cell: upper-triangular 0/1 matrix and one op per vertex."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def n_vertices(self) -> int:
        return len(self.ops)

    def edges(self) -> list[tuple[int, int]]:
        n = self.n_vertices
        return [(i, j) for i in range(n) for j in range(i + 1, n) if self.matrix[i][j]]


# ---------------------------------------------------------------------------------------------
# Cells: validation, pruning, canonical order, NB-101's graph hash


def _check_spec(matrix: np.ndarray, ops: list[str]) -> None:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"NAS-Bench-101 matrix must be square, got shape {matrix.shape}")
    if len(ops) != matrix.shape[0]:
        raise ValueError(f"NAS-Bench-101 cell has {matrix.shape[0]} vertices but {len(ops)} ops")
    if not 2 <= len(ops) <= MAX_VERTICES:
        raise ValueError(f"NAS-Bench-101 cells have 2 to {MAX_VERTICES} vertices, got {len(ops)}")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError("NAS-Bench-101 matrix entries must be 0 or 1")
    if np.tril(matrix).any():
        raise ValueError("NAS-Bench-101 matrix must be strictly upper triangular")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"NAS-Bench-101 ops must start with {INPUT!r} and end with {OUTPUT!r}, got {ops}")
    unknown = [op for op in ops[1:-1] if op not in ALLOWED_OPS]
    if unknown:
        raise ValueError(f"unknown NAS-Bench-101 ops {unknown}; allowed: {ALLOWED_OPS}")


def _reachable(matrix: np.ndarray, start: int, forward: bool) -> set[int]:
    adjacency = matrix if forward else matrix.T
    seen, frontier = {start}, [start]
    while frontier:
        for v in np.flatnonzero(adjacency[frontier.pop()]):
            if int(v) not in seen:
                seen.add(int(v))
                frontier.append(int(v))
    return seen


def prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]] | None:
    """NB-101's pruning: keep the vertices on some input->output path; None if there is no such path."""
    n = len(ops)
    kept = sorted(_reachable(matrix, 0, True) & _reachable(matrix, n - 1, False))
    if 0 not in kept or n - 1 not in kept:
        return None
    return matrix[np.ix_(kept, kept)], [ops[v] for v in kept]


def _canonical_order(matrix: np.ndarray, labels: list[int]) -> tuple[int, ...]:
    """The vertex order NB-101's graph enumeration meets first: smallest edge bitmask, then labels."""
    n = len(labels)
    edges = list(zip(*np.nonzero(matrix)))
    best_key, best_order = None, None
    for interior in itertools.permutations(range(1, n - 1)):
        order = (0, *interior, n - 1)
        position = {old: new for new, old in enumerate(order)}
        if any(position[a] >= position[b] for a, b in edges):
            continue
        bits = sum(1 << (position[a] + position[b] * (position[b] - 1) // 2) for a, b in edges)
        key = (bits, tuple(labels[v] for v in interior))
        if best_key is None or key < best_key:
            best_key, best_order = key, order
    return best_order


def make_cell(matrix, ops) -> Cell:
    """The canonical cell of any NB-101 spec (a V x V matrix and V ops); ValueError if out of the space."""
    matrix = np.asarray(matrix, dtype=np.int64)
    ops = list(ops)
    _check_spec(matrix, ops)
    pruned = prune(matrix, ops)
    if pruned is None:
        raise ValueError("NAS-Bench-101 cell has no path from input to output")
    matrix, ops = pruned
    if matrix.sum() > MAX_EDGES:
        raise ValueError(f"NAS-Bench-101 cell has {int(matrix.sum())} edges after pruning (max {MAX_EDGES})")
    labels = [-1] + [ALLOWED_OPS.index(op) for op in ops[1:-1]] + [-2]
    order = list(_canonical_order(matrix, labels))
    matrix = matrix[np.ix_(order, order)]
    return Cell(tuple(tuple(int(v) for v in row) for row in matrix), tuple(ops[v] for v in order))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def nb101_hash(cell: Cell) -> str:
    """NAS-Bench-101's isomorphism-invariant graph hash (the key of its dataset files).

    Each vertex starts from the MD5 of ``str((out_degree, in_degree, label))`` with labels -1 for
    the input, -2 for the output and the op's index otherwise; then, V times, a vertex's hash
    becomes the MD5 of its sorted in-neighbour hashes, '|', its sorted out-neighbour hashes, '|',
    its own hash; the cell's hash is the MD5 of ``str`` of the sorted vertex hashes.
    """
    n = cell.n_vertices
    matrix = cell.matrix
    labels = [-1] + [ALLOWED_OPS.index(op) for op in cell.ops[1:-1]] + [-2]
    hashes = [_md5(str((sum(matrix[v]), sum(row[v] for row in matrix), labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5("".join(sorted(hashes[w] for w in range(n) if matrix[w][v])) + "|"
                 + "".join(sorted(hashes[w] for w in range(n) if matrix[v][w])) + "|" + hashes[v])
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def arch_string(cell: Cell) -> str:
    rows = "/".join("".join(str(v) for v in row) for row in cell.matrix)
    return f"{rows}|{','.join(cell.ops)}"


def parse_arch_string(text: str) -> Cell:
    rows, sep, ops = text.partition("|")
    row_list = rows.split("/")
    if not sep or any(set(r) - {"0", "1"} or len(r) != len(row_list) for r in row_list):
        raise ValueError(f"not a NAS-Bench-101 arch string (rows/of/0s-and-1s|op,op,...): {text!r}")
    cell = make_cell([[int(c) for c in r] for r in row_list], ops.split(","))
    if arch_string(cell) != text:
        raise ValueError(f"{text!r} is not in canonical (pruned, NB-101-ordered) form; it is {arch_string(cell)!r}")
    return cell


def vertex_channels(in_channels: int, out_channels: int, matrix: tuple[tuple[int, ...], ...]) -> list[int]:
    """NB-101's ``compute_vertex_channels``: the output channels of every vertex of a pruned cell."""
    n = len(matrix)
    channels = [in_channels] + [0] * (n - 2) + [out_channels]
    if n == 2:
        return channels
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, remainder = divmod(out_channels, len(feeders))
    for rank, v in enumerate(feeders):
        channels[v] = share + (rank < remainder)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max(channels[d] for d in range(v + 1, n - 1) if matrix[v][d])
    return channels


# ---------------------------------------------------------------------------------------------
# The network


def conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.003), nn.ReLU())


def vertex_op(op: str, channels: int) -> nn.Module:
    if op == CONV3X3:
        return conv_bn_relu(channels, channels, 3)
    if op == CONV1X1:
        return conv_bn_relu(channels, channels, 1)
    if op == MAXPOOL3X3:
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"no module for NAS-Bench-101 op {op!r}")


def _stem() -> nn.Module:
    return conv_bn_relu(3, STEM_CHANNELS, 3)


def _downsample() -> nn.Module:
    return nn.MaxPool2d(2, stride=2)


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class NB101Cell(nn.Module):
    def __init__(self, cell: Cell, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.cell = cell
        n = cell.n_vertices
        self.channels = vertex_channels(in_channels, out_channels, cell.matrix)
        self.projections = nn.ModuleDict({
            str(t): conv_bn_relu(in_channels, self.channels[t], 1) for t in range(1, n) if cell.matrix[0][t]})
        self.ops = nn.ModuleDict({str(t): vertex_op(cell.ops[t], self.channels[t]) for t in range(1, n - 1)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        matrix, n = self.cell.matrix, self.cell.n_vertices
        tensors = [x]
        to_output = []
        for t in range(1, n - 1):
            # Only a vertex that got a +1 remainder channel is wider than its successor: slice it.
            terms = [tensors[s][:, :self.channels[t]] if self.channels[s] > self.channels[t] else tensors[s]
                     for s in range(1, t) if matrix[s][t]]
            if matrix[0][t]:
                terms.append(self.projections[str(t)](x))
            tensors.append(self.ops[str(t)](sum_tensors(terms)))
            if matrix[t][n - 1]:
                to_output.append(tensors[t])
        if not to_output:
            return self.projections[str(n - 1)](x)
        out = to_output[0] if len(to_output) == 1 else torch.cat(to_output, 1)
        if matrix[0][n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    def __init__(self, cell: Cell, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [_stem()]
        in_channels = STEM_CHANNELS
        for stack, channels in enumerate(STACK_CHANNELS):
            if stack:
                layers.append(_downsample())
            for _ in range(CELLS_PER_STACK):
                layers.append(NB101Cell(cell, in_channels, channels))
                in_channels = channels
        layers.append(_head(in_channels, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ---------------------------------------------------------------------------------------------
# The search space


class NB101Space(SearchSpace[Cell]):
    name = "nb101"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def arch_id(self, config: Cell) -> str:
        return arch_string(config)

    def parse(self, arch_id: str) -> Cell:
        return parse_arch_string(arch_id)

    def build(self, config: Cell) -> nn.Module:
        return NB101Network(config, self.num_classes)

    def sample(self, rng: np.random.Generator) -> Cell:
        """NB-101's ``random_spec``: random upper-triangular 0/1 matrix and ops, redrawn until valid."""
        while True:
            matrix = np.triu(rng.integers(0, 2, (MAX_VERTICES, MAX_VERTICES)), 1)
            ops = [INPUT] + [ALLOWED_OPS[i] for i in rng.integers(0, len(ALLOWED_OPS), MAX_VERTICES - 2)] + [OUTPUT]
            pruned = prune(matrix, ops)
            if pruned is not None and pruned[0].sum() <= MAX_EDGES:
                return make_cell(matrix, ops)

    def config_json(self, config: Cell) -> str:
        return json.dumps({"matrix": [list(r) for r in config.matrix], "ops": list(config.ops)})

    def compose(self, config: Cell, composer: Composer) -> Composition:
        x = composer.apply("stem", _stem, composer.input(*self.input_shape[1:]))
        for stack, channels in enumerate(STACK_CHANNELS):
            if stack:
                x = composer.apply("downsample", _downsample, x)
            for _ in range(CELLS_PER_STACK):
                x = composer.block(("cell", config, channels), partial(_compose_cell, config, channels), x)
        head = partial(_head, x.channels, self.num_classes)
        return composer.finish(composer.apply(("head", self.num_classes), head, x))


def _narrowed(value: Value, channels: int) -> Value:
    """A channel slice: capture folds it, so the next op just sees fewer input channels."""
    return value if value.channels == channels else Value(value.nodes, channels, value.height, value.width)


def _compose_cell(cell: Cell, out_channels: int, composer: Composer, x: Value) -> Value:
    matrix, n = cell.matrix, cell.n_vertices
    channels = vertex_channels(x.channels, out_channels, matrix)

    def projection(c: int) -> Value:
        return composer.apply(("projection", c), partial(conv_bn_relu, x.channels, c, 1), x)

    values = [x]
    to_output = []
    for t in range(1, n - 1):
        terms = [_narrowed(values[s], channels[t]) for s in range(1, t) if matrix[s][t]]
        if matrix[0][t]:
            terms.append(projection(channels[t]))
        summed = composer.add(*terms)
        values.append(composer.apply((cell.ops[t], channels[t]), partial(vertex_op, cell.ops[t], channels[t]), summed))
        if matrix[t][n - 1]:
            to_output.append(values[t])
    if not to_output:
        return projection(out_channels)
    out = composer.concat(*to_output)
    return composer.add(out, projection(out_channels)) if matrix[0][n - 1] else out


SPACE = NB101Space()


# ---------------------------------------------------------------------------------------------
# The family of NASLib's 500 labelled cells

_NASLIB_ZC = github_file("naslib-zc-nb101", "automl/NASLib", "22280f711aa782fe9157d1b4e5ce4f83f47ab908",
                         "naslib/data/zc_nasbench101.json",
                         "c34840bc9af68b6ebaa7f052e42c1749a9a737d7243078be2a5548052bc5a0c2", "Apache-2.0")
# NASLib's op ids in zc_nasbench101.json keys.
NASLIB_OPS = {0: INPUT, 1: OUTPUT, 2: MAXPOOL3X3, 3: CONV1X1, 4: CONV3X3}


def from_naslib_key(key: str) -> tuple[np.ndarray, list[str]]:
    """The raw 7x7 matrix and ops of a zc_nasbench101.json key (49 adjacency entries, 7 op ids)."""
    values = ast.literal_eval(key)
    if len(values) != 56:
        raise ValueError(f"NASLib NB-101 key should have 56 entries, got {len(values)}: {key!r}")
    return np.array(values[:49]).reshape(7, 7), [NASLIB_OPS[i] for i in values[49:]]


@register_family
class NB101(FamilySpec):
    name = "nb101"
    version = "1.0"
    description = ("NAS-Bench-101: the 500 cells that NASLib labelled with zero-cost proxies, with their "
                   "108-epoch CIFAR-10 validation accuracy, official network at 32x32.")
    raw_files = (_NASLIB_ZC,)
    labels = (
        LabelColumn("c10_val_acc_108ep", "naslib-zc-nb101", "CIFAR-10",
                    "validation set (NB-101's 10,000 images held out of train; 9,984 evaluated)", 108, "%",
                    "one of NB-101's 3 runs, drawn at random by NB-101's query()", "Apache-2.0",
                    "final validation accuracy after NB-101's 108-epoch training, as stored by NASLib"),
    )
    default_target = "c10_val_acc_108ep"
    space = SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        records = read_zc_nasbench101(raw_paths[_NASLIB_ZC.key])
        cells = [make_cell(*from_naslib_key(key)) for key in records]
        return space_table(
            SPACE, cells, progress,
            labels={"c10_val_acc_108ep": np.array([r["val_accuracy"] for r in records.values()])},
            # NASLib lists isomorphic cells under several keys (each with its own drawn run), so rows
            # can share an arch_id; the key tells them apart.
            extra={"nb101_hash": pa.array([nb101_hash(c) for c in cells], pa.string()),
                   "naslib_key": pa.array(list(records), pa.string())},
        )


# ---------------------------------------------------------------------------------------------
# The official dataset files (nasbench_only108.tfrecord, nasbench_full.tfrecord), imported

RUNS = 3


def spec_cell(spec: CellSpec) -> Cell:
    """The canonical cell of a dataset record's spec; its module hash must equal the hash computed here."""
    try:
        cell = make_cell(spec.matrix, spec.ops)
    except ValueError as err:
        raise InvalidFileError(f"{spec.where}: {err}") from None
    if nb101_hash(cell) != spec.module_hash:
        raise InvalidFileError(f"{spec.where}: NB-101 hash {spec.module_hash} does not match its cell "
                               f"(computed {nb101_hash(cell)})")
    return cell


def compose_cells(cells: list[Cell], progress: bool, chunk: int = 5000) -> tuple[GraphTable, np.ndarray, np.ndarray]:
    """``compose_family`` over many cells with a fresh piece cache per chunk, so memory stays bounded."""
    return compose_family(SPACE, cells, progress, fresh_cache_every=chunk)


_OFFICIAL = "nasbench-101-tfrecord"
_OFFICIAL_RUNS = "NB-101's 3 independent training runs (repeats) of each cell"


def _full_labels() -> tuple[LabelColumn, ...]:
    labels = [
        LabelColumn("c10_val_acc_108ep", _OFFICIAL, "CIFAR-10", "validation set (10,000 held out of train)", 108,
                    "%", f"mean over {_OFFICIAL_RUNS}", "Apache-2.0",
                    "final validation accuracy after 108 epochs, mean of the 3 runs"),
        LabelColumn("c10_test_acc_108ep", _OFFICIAL, "CIFAR-10", "test set", 108, "%",
                    f"mean over {_OFFICIAL_RUNS}", "Apache-2.0",
                    "final test accuracy after 108 epochs, mean of the 3 runs"),
        LabelColumn("train_time_108ep_s", _OFFICIAL, "CIFAR-10", "training", 108, "s",
                    f"mean over {_OFFICIAL_RUNS}", "Apache-2.0",
                    "training time in seconds of the 108-epoch run on NB-101's TPU v2, evaluation excluded"),
    ]
    for run in range(RUNS):
        for part, split in (("val", "validation set"), ("test", "test set")):
            labels.append(LabelColumn(
                f"c10_{part}_acc_108ep_run{run}", _OFFICIAL, "CIFAR-10", split, 108, "%",
                f"run {run} of {_OFFICIAL_RUNS}, in file order", "Apache-2.0",
                f"final {split.split()[0]} accuracy of one 108-epoch run"))
    return tuple(labels)


@register_family
class NB101Full(FamilySpec):
    name = "nb101_full"
    version = "1.0"
    description = ("NAS-Bench-101: every cell of the official dataset file (423,624 in the release), official "
                   "network at 32x32, 108-epoch CIFAR-10 accuracies of its 3 runs; imported from the tfrecord.")
    raw_files = ()
    labels = _full_labels()
    default_target = "c10_val_acc_108ep"
    space = SPACE
    import_command = "cgbench import nb101 PATH/nasbench_only108.tfrecord"

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        path = raw_paths[_OFFICIAL]
        cells_by_hash, runs, _ = read_nasbench_tfrecord(path, spec_cell, progress)
        hashes = sorted(runs)
        if not hashes:
            raise InvalidFileError(f"{path} holds no {FINAL_EPOCHS}-epoch runs")
        incomplete = [h for h in hashes if len(runs[h]) != RUNS]
        if incomplete:
            raise InvalidFileError(f"{path}: {len(incomplete)} cells do not have {RUNS} runs at {FINAL_EPOCHS} "
                                   f"epochs (e.g. {incomplete[0]} has {len(runs[incomplete[0]])})")
        cells = [cells_by_hash[h] for h in hashes]
        graphs, flops, params = compose_cells(cells, progress)

        def per_run(field: str) -> np.ndarray:
            return np.array([[getattr(r, field) for r in runs[h]] for h in hashes], np.float64)

        val, test = 100 * per_run("validation_accuracy"), 100 * per_run("test_accuracy")
        labels = {"c10_val_acc_108ep": val.mean(1), "c10_test_acc_108ep": test.mean(1),
                  "train_time_108ep_s": per_run("training_time").mean(1)}
        for run in range(RUNS):
            labels[f"c10_val_acc_108ep_run{run}"] = val[:, run]
            labels[f"c10_test_acc_108ep_run{run}"] = test[:, run]
        return assemble_table(
            arch_ids=[arch_string(c) for c in cells], configs=[SPACE.config_json(c) for c in cells],
            graphs=graphs, flops=flops, params=params, labels=labels,
            extra={"nb101_hash": pa.array(hashes, pa.string()),
                   "nb101_trainable_parameters": pa.array(per_run("trainable_parameters")[:, 0].astype(np.int64))},
        )


@register_importer("nb101")
def read_tfrecord_family(path: Path, progress: bool = True) -> dict[str, ImportedFamily]:
    """The importer of ``cgbench import nb101``: the nb101_full table of an NB-101 dataset file."""
    path = check_file(path, "NB-101's nasbench_only108.tfrecord")
    spec = NB101Full()
    started = time.perf_counter()
    table = spec.build_table({_OFFICIAL: path}, progress)
    # The official count of each trained network against ours: a check of the network on every cell.
    agreeing = int(np.sum(table.column("params").to_numpy() == table.column("nb101_trainable_parameters").to_numpy()))
    return {spec.name: ImportedFamily(table, {"import_seconds": round(time.perf_counter() - started, 1),
                                              "params_equal_nb101_trainable_parameters": agreeing})}

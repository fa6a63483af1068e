"""NAS-Bench-301: DARTS-space cells, the network NAS-Bench-301 trained, and an importer for its results.

NAS-Bench-301 (Siems et al., 2020) trained ~60k architectures of the DARTS space on CIFAR-10 and
released one JSON result file per training run (the ``nb_301_v13`` data). A config is a DARTS
genotype: a normal and a reduction cell, each with 4 intermediate nodes; node k (k = 2..5 in
DARTS' numbering, inputs 0 and 1 being the two previous cells) sums two ops applied to two
*distinct* earlier nodes. NAS-Bench-301 drops DARTS' ``none`` op, leaving seven.

Canonical arch_id. The two (op, input) pairs of a node are summed, so their order does not change
the network; the arch_id lists them sorted by input index (the inputs are distinct). This is the
order NAS-Bench-301's training code builds them in (Auto-PyTorch's ``get_gene_from_config`` reads
the sorted ``inputs_node`` string), so the canonical genotype is also exactly the trained network.
Format: ``normal=OP~i+OP~j|...(4 nodes);reduce=...`` with i < j.

The network is the one NAS-Bench-301's labels were measured on: Auto-PyTorch's copy of DARTS'
``NetworkCIFAR`` with NAS-Bench-301's fixed training configuration (``data_generation/configs``:
init channels 32, 8 cells, reduction cells at 8//3 = 2 and 2*8//3 = 5, 100 epochs, auxiliary head
only in training). Stem: 3x3 conv (3*32 channels) + BN. Cell: s0 is preprocessed by
FactorizedReduce after a reduction cell and by ReLU-Conv1x1-BN otherwise, s1 by ReLU-Conv1x1-BN;
each node sums its two ops; the output concatenates the 4 intermediate nodes. Ops are DARTS'
official ones: SepConv = two stacked ReLU-depthwise-pointwise-BN halves, DilConv = ReLU-dilated
depthwise (rate 2)-pointwise-BN, pools without BN (count_include_pad=False for avg), skip =
identity, or FactorizedReduce at stride 2. Ops on the cell inputs of a reduction cell have stride 2.
Head: global average pooling + linear. Evaluation mode: no auxiliary head, no drop-path.

GENNAPE's CGs of NB-301 come from a TensorFlow port that differs from this network (spec §2.5 and
§3.6): two separate stem convs with conv-ReLU-BN, node width 48/96/192 because ``C_curr`` is never
reset to 16, a DARTS-20-cell layout, SepConv without the middle ReLU, and a 1x1 conv classifier.
We follow NAS-Bench-301's own network because that is what the accuracies were measured on; a
predictor's input should describe the trained model.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn

from ..formats.naslib import NaslibRecord
from ..formats.naslib_zc import read_zc_nasbench301
from ..formats.nb301_results import (CONFIG_PREFIX, OPS, Edge, RunMetrics, RunResult, read_imported_runs,
                                     read_results, write_imported_runs)
from ..importers import ImportedFamily
from ..sources import cgbench_home, fetch, github_file
from .registry import register_family, register_importer
from .base import FamilySpec, LabelColumn, nullable_int_column, space_table
from .cross_task import CROSS_TASK_FILE, cross_task_columns, cross_task_labels, read_cross_task
from .fragments import Composer, Composition, Value
from .space import SearchSpace

NODES = 4
INIT_CHANNELS = 32
LAYERS = 8
EPOCHS = 100
STEM_MULTIPLIER = 3

Node = tuple[Edge, Edge]
Cell = tuple[Node, Node, Node, Node]


@dataclass(frozen=True)
class Genotype:
    normal: Cell
    reduce: Cell


# ---------------------------------------------------------------------------------------------
# Genotypes


def make_cell(edges: Sequence[Sequence], where: str = "cell") -> Cell:
    """The canonical cell of a DARTS-style list of 8 (op, input) pairs, two per node in order."""
    if len(edges) != 2 * NODES:
        raise ValueError(f"{where}: a DARTS cell has {2 * NODES} (op, input) pairs, got {len(edges)}")
    nodes = []
    for k in range(NODES):
        pair = []
        for op, source in edges[2 * k: 2 * k + 2]:
            if op not in OPS:
                raise ValueError(f"{where}: {op!r} is not a NAS-Bench-301 op (one of {', '.join(OPS)})")
            if not isinstance(source, (int, np.integer)) or not 0 <= source < k + 2:
                raise ValueError(f"{where}: node {k + 2} cannot take input {source!r} (allowed: 0..{k + 1})")
            pair.append((str(op), int(source)))
        if pair[0][1] == pair[1][1]:
            raise ValueError(f"{where}: node {k + 2} takes input {pair[0][1]} twice; its inputs must differ")
        nodes.append(tuple(sorted(pair, key=lambda edge: edge[1])))
    return tuple(nodes)  # type: ignore[return-value]


def make_genotype(normal: Sequence[Sequence], reduce: Sequence[Sequence]) -> Genotype:
    return Genotype(make_cell(normal, "normal cell"), make_cell(reduce, "reduction cell"))


def cell_string(cell: Cell) -> str:
    return "|".join("+".join(f"{op}~{source}" for op, source in node) for node in cell)


def arch_string(genotype: Genotype) -> str:
    canonical = make_genotype(_flat(genotype.normal), _flat(genotype.reduce))
    return f"normal={cell_string(canonical.normal)};reduce={cell_string(canonical.reduce)}"


def parse_arch_string(text: str) -> Genotype:
    parts = text.split(";")
    if len(parts) != 2 or not parts[0].startswith("normal=") or not parts[1].startswith("reduce="):
        raise ValueError(f"not a NAS-Bench-301 arch id (normal=...;reduce=...): {text!r}")
    return make_genotype(_parse_cell(parts[0].removeprefix("normal="), text),
                         _parse_cell(parts[1].removeprefix("reduce="), text))


def _parse_cell(text: str, whole: str) -> list[Edge]:
    edges = []
    for token in text.replace("|", "+").split("+"):
        op, _, source = token.partition("~")
        if not source.isdigit():
            raise ValueError(f"not a NAS-Bench-301 arch id: {token!r} in {whole!r} is not OP~INPUT")
        edges.append((op, int(source)))
    return edges


def _flat(cell: Cell) -> list[Edge]:
    return [edge for node in cell for edge in node]


# ---------------------------------------------------------------------------------------------
# The network: DARTS' evaluation network as NAS-Bench-301 trained it


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out))


class DilConv(nn.Sequential):
    """ReLU, depthwise (dilated) conv, pointwise conv, BN: half of a SepConv when dilation is 1."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class SepConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1), DilConv(c_in, c_out, kernel, 1, padding, 1))


class FactorizedReduce(nn.Module):
    """Halves H and W: two stride-2 1x1 convs, the second shifted by one pixel, concatenated."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        kernel = int(name[-1])
        return SepConv(channels, channels, kernel, stride, kernel // 2)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        kernel = int(name[-1])
        return DilConv(channels, channels, kernel, stride, 2 * (kernel // 2), 2)
    raise ValueError(f"no module for NAS-Bench-301 op {name!r}")


@dataclass(frozen=True)
class CellPlan:
    c_prev_prev: int
    c_prev: int
    channels: int
    reduction: bool
    reduction_prev: bool


def cell_plans(init_channels: int, layers: int) -> list[CellPlan]:
    """Channel widths and reduction flags of each cell, as DARTS' NetworkCIFAR lays them out."""
    c_prev_prev = c_prev = STEM_MULTIPLIER * init_channels
    channels, reduction_prev, plans = init_channels, False, []
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            channels *= 2
        plans.append(CellPlan(c_prev_prev, c_prev, channels, reduction, reduction_prev))
        c_prev_prev, c_prev, reduction_prev = c_prev, NODES * channels, reduction
    return plans


def _preprocess0(plan: CellPlan) -> nn.Module:
    if plan.reduction_prev:
        return FactorizedReduce(plan.c_prev_prev, plan.channels)
    return ReLUConvBN(plan.c_prev_prev, plan.channels, 1, 1, 0)


def _preprocess1(plan: CellPlan) -> nn.Module:
    return ReLUConvBN(plan.c_prev, plan.channels, 1, 1, 0)


def _stride(plan: CellPlan, source: int) -> int:
    return 2 if plan.reduction and source < 2 else 1


class DartsCell(nn.Module):
    def __init__(self, cell: Cell, plan: CellPlan) -> None:
        super().__init__()
        self.preprocess0 = _preprocess0(plan)
        self.preprocess1 = _preprocess1(plan)
        edges = _flat(cell)
        self.ops = nn.ModuleList(make_op(op, plan.channels, _stride(plan, source)) for op, source in edges)
        self.sources = tuple(source for _, source in edges)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(NODES):
            a, b = 2 * k, 2 * k + 1
            states.append(self.ops[a](states[self.sources[a]]) + self.ops[b](states[self.sources[b]]))
        return torch.cat(states[2:], dim=1)


def _stem(channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class NB301Network(nn.Module):
    """DARTS' CIFAR network in evaluation mode; NAS-Bench-301 used 32 channels and 8 cells."""

    def __init__(self, genotype: Genotype, init_channels: int = INIT_CHANNELS, layers: int = LAYERS,
                 num_classes: int = 10) -> None:
        super().__init__()
        plans = cell_plans(init_channels, layers)
        self.stem = _stem(STEM_MULTIPLIER * init_channels)
        self.cells = nn.ModuleList(
            DartsCell(genotype.reduce if plan.reduction else genotype.normal, plan) for plan in plans)
        self.head = _head(NODES * plans[-1].channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)


# ---------------------------------------------------------------------------------------------
# The search space


class NB301Space(SearchSpace[Genotype]):
    name = "nb301"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def __init__(self, init_channels: int = INIT_CHANNELS, layers: int = LAYERS) -> None:
        self.init_channels = init_channels
        self.layers = layers
        self.plans = cell_plans(init_channels, layers)

    def arch_id(self, config: Genotype) -> str:
        return arch_string(config)

    def parse(self, arch_id: str) -> Genotype:
        return parse_arch_string(arch_id)

    def build(self, config: Genotype) -> nn.Module:
        return NB301Network(config, self.init_channels, self.layers, self.num_classes)

    def sample(self, rng: np.random.Generator) -> Genotype:
        """NAS-Bench-301's ConfigSpace distribution: uniform input pair per node, uniform ops."""
        cells = []
        for _ in ("normal", "reduce"):
            edges = []
            for k in range(NODES):
                pairs = list(combinations(range(k + 2), 2))
                inputs = pairs[rng.integers(len(pairs))]
                edges.extend((OPS[rng.integers(len(OPS))], source) for source in inputs)
            cells.append(edges)
        return make_genotype(*cells)

    def config_json(self, config: Genotype) -> str:
        return json.dumps({"normal": [list(e) for e in _flat(config.normal)],
                           "reduce": [list(e) for e in _flat(config.reduce)]})

    def compose(self, config: Genotype, composer: Composer) -> Composition:
        stem_channels = STEM_MULTIPLIER * self.init_channels
        s0 = s1 = composer.apply(("stem", stem_channels), partial(_stem, stem_channels), composer.input(3, 32, 32))
        for plan in self.plans:
            cell = config.reduce if plan.reduction else config.normal
            s0, s1 = s1, self._compose_cell(composer, cell, plan, s0, s1)
        channels = NODES * self.plans[-1].channels
        head = partial(_head, channels, self.num_classes)
        return composer.finish(composer.apply(("head", channels, self.num_classes), head, s1))

    @staticmethod
    def _compose_cell(composer: Composer, cell: Cell, plan: CellPlan, s0: Value, s1: Value) -> Value:
        states = [composer.apply(("pre0", plan.reduction_prev, plan.channels), partial(_preprocess0, plan), s0),
                  composer.apply(("pre1", plan.channels), partial(_preprocess1, plan), s1)]
        for node in cell:
            terms = [composer.apply((op, plan.channels, _stride(plan, source)),
                                    partial(make_op, op, plan.channels, _stride(plan, source)), states[source])
                     for op, source in node]
            states.append(composer.add(*terms))
        return composer.concat(*states[2:])


SPACE = NB301Space()


# ---------------------------------------------------------------------------------------------
# NAS-Bench-301's result files

# NAS-Bench-301's fixed training setup; files trained otherwise would not match this family's CGs.
_TRAINING_SETUP = {
    f"{CONFIG_PREFIX}init_channels": INIT_CHANNELS,
    f"{CONFIG_PREFIX}layers": LAYERS,
    "SimpleLearningrateSchedulerSelector:cosine_annealing:T_max": EPOCHS,
}


def runs_by_arch(results: Iterable[RunResult]) -> dict[str, list[RunMetrics]]:
    """The runs of result files grouped by canonical arch_id, in file order (the reader checked every op and input)."""
    runs: dict[str, list[RunMetrics]] = defaultdict(list)
    for result in results:
        runs[arch_string(make_genotype(result.normal, result.reduce))].append(result.metrics)
    return dict(runs)


# ---------------------------------------------------------------------------------------------
# The family

_SOURCE = "nas-bench-301 (user-supplied)"
_LICENCE = "Apache-2.0"
_RUNS = "one training run per result file (Auto-PyTorch random_seed 1); mean over the files of a genotype"

ZC_FILE = github_file("naslib-zc-nb301", "automl/NASLib", "6639fd1579010457885c641553c55b0c153045aa",
                      "naslib/data/zc_nasbench301.json",
                      "537e9abd6f0b14fdffdfcb3c07b18a037647b5c80808b3b2cf9a51b1b491aba1", "Apache-2.0")
SURROGATE = LabelColumn(
    "c10_val_acc_nb301_surrogate", "naslib-zc-nb301", "CIFAR-10",
    "validation set (NAS-Bench-301's: 10,000 images held out of train)", EPOCHS, "%",
    "none: a surrogate model's prediction, not a training run", "Apache-2.0",
    "NAS-Bench-301's surrogate prediction (its v1.0 XGBoost ensemble, as NASLib's NB-301 API returns it) of the "
    "100-epoch CIFAR-10 validation accuracy, for NAS-Bench-Suite-Zero's 725 cells; not a trained result")
TRAINED = (
    LabelColumn("c10_val_acc_100ep", _SOURCE, "CIFAR-10", "validation set (10,000 images held out of train)",
                EPOCHS, "%", _RUNS, _LICENCE,
                "info[0].val_accuracy: final validation accuracy of NAS-Bench-301's 100-epoch training; NaN until "
                "`cgbench import nb301 DIR` brings NB-301's result files"),
    LabelColumn("c10_test_acc_100ep", _SOURCE, "CIFAR-10", "test set", EPOCHS, "%", _RUNS, _LICENCE,
                "test_accuracy: CIFAR-10 test accuracy after NAS-Bench-301's 100-epoch training (imported)"),
    LabelColumn("train_runtime_s", _SOURCE, "CIFAR-10", "training", EPOCHS, "s", _RUNS, _LICENCE,
                "runtime: wall-clock seconds of the training run (NAS-Bench-301's cluster GPUs; imported)",
                higher_is_better=False),
)


def from_naslib_compact(compact: Sequence) -> Genotype:
    """The genotype of NASLib's compact NB-301 encoding: (normal, reduce), each 8 (input node, op index)
    pairs, two per node, the op index into :data:`OPS` (NASLib's ``convert_compact_to_genotype``)."""
    if len(compact) != 2:
        raise ValueError(f"a NASLib NB-301 architecture is (normal, reduce), got {compact!r}")
    cells = []
    for cell in compact:
        if any(not 0 <= op < len(OPS) for _, op in cell):
            raise ValueError(f"NASLib NB-301 op index out of range in {compact!r}")
        cells.append([(OPS[op], source) for source, op in cell])
    return make_genotype(*cells)


def read_zc_nb301(path: Path) -> dict[str, NaslibRecord]:
    """arch_id -> NAS-Bench-Suite-Zero's record (surrogate val_accuracy, 12 proxy scores) of ``zc_nasbench301.json``."""
    records: dict[str, NaslibRecord] = {}
    for compact, record in read_zc_nasbench301(path):
        arch_id = arch_string(from_naslib_compact(compact))
        if arch_id in records:
            raise ValueError(f"{path}: two entries are the same genotype {arch_id}")
        records[arch_id] = record
    return records


# NB-301's training data is not a public download: `cgbench import nb301 DIR` parses its result files
# once into this side table, outside the family folder, so every later build of the family (and a
# rebuild after a cgbench upgrade) merges the trained labels again without the user's folder.
def imported_runs_path() -> Path:
    return cgbench_home() / "imports" / "nb301" / "runs.parquet"


def _mean_over_runs(runs: dict[str, list[RunMetrics]], arch_ids: list[str], field: str) -> np.ndarray:
    """Per row, the mean of ``field`` over the row's runs (NaN without runs or values)."""
    means = np.full(len(arch_ids), np.nan)
    for i, arch_id in enumerate(arch_ids):
        values = [getattr(r, field) for r in runs.get(arch_id, ())]
        if any(not np.isnan(v) for v in values):
            means[i] = np.nanmean(values)
    return means


@register_family
class NB301(FamilySpec):
    name = "nb301"
    version = "2.0"
    description = ("NAS-Bench-301 (DARTS space, CIFAR-10 32x32, 32 channels, 8 cells): NAS-Bench-Suite-Zero's 725 "
                   "cells with NB-301's surrogate accuracy, 199 cells with cross-task accuracies, and the genotypes "
                   "of NB-301's own training runs once imported (`cgbench import nb301 DIR`).")
    raw_files = (ZC_FILE, CROSS_TASK_FILE)
    labels = (SURROGATE, *TRAINED, *cross_task_labels("NB-301"))
    default_target = SURROGATE.name
    space = SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        surrogate = read_zc_nb301(raw_paths[ZC_FILE.key])
        cross_task = read_cross_task(raw_paths[CROSS_TASK_FILE.key], "nasbench301")
        imported = read_imported_runs(imported_runs_path()) if imported_runs_path().exists() else {}
        cross_ids = {compact: arch_string(from_naslib_compact(compact))
                     for records in cross_task.values() for compact in records}
        arch_ids = list(dict.fromkeys([*surrogate, *cross_ids.values(), *sorted(imported)]))
        row_of = {arch_id: i for i, arch_id in enumerate(arch_ids)}
        labels = {SURROGATE.name: np.array([surrogate[a].val_accuracy if a in surrogate else np.nan for a in arch_ids]),
                  **cross_task_columns(cross_task, lambda compact: row_of[cross_ids[compact]], len(arch_ids))}
        for label, field in zip(TRAINED, ("val_accuracy", "test_accuracy", "runtime_s")):
            labels[label.name] = _mean_over_runs(imported, arch_ids, field)
        # The arch_id space_table writes for each genotype is the key its labels were gathered under.
        return space_table(
            SPACE, [parse_arch_string(a) for a in arch_ids], progress, labels,
            extra={
                "n_runs": pa.array(np.array([len(imported.get(a, ())) for a in arch_ids], np.int32)),
                "c10_val_acc_100ep_std": pa.array(np.array(
                    [np.std([r.val_accuracy for r in imported[a]]) if a in imported else np.nan for a in arch_ids])),
                # NB-301's own count of the training network, auxiliary head included.
                "nb301_reported_params": nullable_int_column(_mean_over_runs(imported, arch_ids, "reported_params")),
            },
        )


@register_importer("nb301")
def read_results_family(path: Path, progress: bool = True) -> dict[str, ImportedFamily]:
    """The importer of ``cgbench import nb301``: nb301's table with the runs of a folder of result files.

    Every result file is read and checked before anything is written; then the runs are kept in
    ``$CGBENCH_HOME/imports/nb301`` (atomically), so that a later rebuild keeps them.
    """
    write_imported_runs(imported_runs_path(), runs_by_arch(read_results(Path(path), _TRAINING_SETUP, progress)))
    spec = NB301()
    raw_paths = {raw.key: fetch(raw, progress) for raw in spec.raw_files}
    return {spec.name: ImportedFamily(spec.build_table(raw_paths, progress), {})}

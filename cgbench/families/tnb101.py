"""TransNAS-Bench-101 (Duan et al., CVPR 2021): its cell-level and macro-level spaces, encoder CGs.

TransNAS-Bench-101 trains one *encoder* per architecture and task, with a task-specific decoder
on top (a linear classifier, a Siamese head for jigsaw, conv/deconv decoders for pixel tasks). The
searched part is the encoder, shared by all seven tasks, so a family's CG is the encoder plus the
object-classification head of TransNAS-Bench-101 (global average pooling, linear layer to 75
classes, ``configs/train_from_scratch/class_object``); input 3x256x256 as in all TransNAS configs.
The task decoders are not part of the CG: labels of other tasks describe the same encoder.

The encoder (``MacroNet`` of yawen-d/TransNASBench, also in NASLib): a stem of a 3x3 stride-2 conv
to 32 channels + BN and a ReLU-conv3x3(stride 2)-BN to 64 channels (256 -> 64 px); then one
residual layer per digit of the macro code, each of two blocks; digit 1 keeps the shape, 2 doubles
the channels, 3 halves the resolution, 4 does both (on the layer's first block).

* Macro space ``64-<code>-basic``: a code of 4-6 digits in 1..4 with 1-3 channel doublings and
  1-4 downsamplings (3,256 codes); blocks are ResNet basic blocks (ReLU-conv-BN twice, plus a
  1x1 conv + BN shortcut where the shape changes).
* Micro space ``64-41414-<a>_<bc>_<def>``: the fixed code 41414 with a 4-node cell as block
  (4^6 = 4,096 cells). Node j sums op(node i) for i < j; digits are the ops on edges
  (0->1), (0->2), (1->2), (0->3), (1->3), (2->3); 0 = zero, 1 = skip (a factorized reduce where the
  shape changes), 2 = ReLU-conv1x1-BN, 3 = ReLU-conv3x3-BN. Edges from node 0 carry the block's
  stride and channel change; node 3 is the cell output.

NASLib's TransNAS-Bench-101 files write a micro cell as the 6-tuple of those digits in the same
order, and a macro skeleton as the tuple of its code digits. Its cross-task zip (``9x_all.zip``)
does not: those cells were built by NASLib's own micro search space, whose op indices are
0 = Identity, 1 = Zero, 2 = ReLU-conv3x3-BN, 3 = ReLU-conv1x1-BN on the edges (0,1), (0,2),
(0,3), (1,2), (1,3), (2,3) (``transbench101/conversions.py``: ``OP_NAMES``, ``EDGE_LIST``), see
:func:`from_naslib_graph_indices`.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Iterator
from functools import partial
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..graph import ZeroOp
from ..sources import github_file
from .registry import register_family
from .base import FamilySpec, LabelColumn, space_table
from .fragments import Composer, Composition, Value, sum_tensors
from .cross_task import CROSS_TASK_FILE, cross_task_columns, cross_task_labels, read_cross_task
from ..formats.naslib import read_naslib_results
from .nb201 import ReLUConvBN
from .space import Config, SearchSpace

BASE_CHANNELS = 64
RESOLUTION = 256
HEAD_CLASSES = 75  # TransNAS-Bench-101's class_object config (a selected subset of Taskonomy's objects)
MICRO_MACRO_CODE = (4, 1, 4, 1, 4)
MICRO_OPS = ("zero", "skip", "conv1x1", "conv3x3")
BLOCKS_PER_LAYER = 2
# Cell edges (source, target) in the order of the arch string's digits.
CELL_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
MicroConfig = tuple[int, int, int, int, int, int]
MacroConfig = tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# Encodings


def micro_arch_string(cell: MicroConfig) -> str:
    a, b, c, d, e, f = cell
    return f"{BASE_CHANNELS}-{''.join(map(str, MICRO_MACRO_CODE))}-{a}_{b}{c}_{d}{e}{f}"


_MICRO_PATTERN = re.compile(rf"{BASE_CHANNELS}-41414-([0-3])_([0-3]{{2}})_([0-3]{{3}})")
_MACRO_PATTERN = re.compile(rf"{BASE_CHANNELS}-([1-4]{{4,6}})-basic")


def parse_micro_arch_string(text: str) -> MicroConfig:
    match = _MICRO_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a TransNAS-Bench-101 micro architecture: {text!r} (expected e.g. '64-41414-3_13_302')")
    return tuple(int(ch) for ch in "".join(match.groups()))  # type: ignore[return-value]


def macro_arch_string(code: MacroConfig) -> str:
    return f"{BASE_CHANNELS}-{''.join(map(str, code))}-basic"


def is_valid_macro_code(code: MacroConfig) -> bool:
    doublings = sum(d in (2, 4) for d in code)
    downsamplings = sum(d in (3, 4) for d in code)
    return 4 <= len(code) <= 6 and all(1 <= d <= 4 for d in code) and 1 <= doublings <= 3 and 1 <= downsamplings <= 4


def parse_macro_arch_string(text: str) -> MacroConfig:
    match = _MACRO_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a TransNAS-Bench-101 macro architecture: {text!r} (expected e.g. '64-41414-basic')")
    code = tuple(int(ch) for ch in match.group(1))
    if not is_valid_macro_code(code):
        raise ValueError(f"{text!r} is outside TransNAS-Bench-101's macro space: it needs 1-3 channel doublings "
                         "(digits 2, 4) and 1-4 downsamplings (digits 3, 4)")
    return code


# NASLib's micro graph: op index -> TransNAS digit, and the TransNAS edge of each tuple position.
_NASLIB_GRAPH_DIGITS = {0: 1, 1: 0, 2: 3, 3: 2}
_NASLIB_GRAPH_EDGE_ORDER = (0, 1, 3, 2, 4, 5)


def from_naslib_graph_indices(indices: tuple[int, ...]) -> MicroConfig:
    """The micro cell that NASLib's micro search space builds from its op indices (the 9x encoding)."""
    cell = [0] * len(CELL_EDGES)
    for position, index in enumerate(indices):
        cell[_NASLIB_GRAPH_EDGE_ORDER[position]] = _NASLIB_GRAPH_DIGITS[index]
    return tuple(cell)  # type: ignore[return-value]


def all_micro_cells() -> Iterator[MicroConfig]:
    return iter(product(range(len(MICRO_OPS)), repeat=len(CELL_EDGES)))  # type: ignore[arg-type]


def all_macro_codes() -> Iterator[MacroConfig]:
    for length in (4, 5, 6):
        yield from (code for code in product((1, 2, 3, 4), repeat=length) if is_valid_macro_code(code))


def layer_plan(code: MacroConfig) -> list[tuple[int, int, int]]:
    """(in channels, out channels, stride) of each block of the encoder."""
    plan, channels = [], BASE_CHANNELS
    for digit in code:
        target = channels * 2 if digit % 2 == 0 else channels
        plan.append((channels, target, 2 if digit > 2 else 1))
        plan += [(target, target, 1)] * (BLOCKS_PER_LAYER - 1)
        channels = target
    return plan


# ---------------------------------------------------------------------------------------------
# The network (its ReLU-conv-BN, padding k // 2 and no conv bias, is NB-201's: imported from there)


class ShapedZero(ZeroOp):
    """TransNAS's ``Zero``: zeros of the edge's output shape (its channels and stride)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.channels = channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return x.new_zeros(n, self.channels, -(-h // self.stride), -(-w // self.stride))


class FactorizedReduce(nn.Module):
    """TransNAS's skip where the shape changes: two offset strided 1x1 convs, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def edge_op(code: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    if code == 0:
        return ShapedZero(c_out, stride)
    if code == 1:
        return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)
    if code in (2, 3):
        return ReLUConvBN(c_in, c_out, 1 if code == 2 else 3, stride)
    raise ValueError(f"no TransNAS-Bench-101 op with code {code!r}")


def _edge_shape(source: int, c_in: int, c_out: int, stride: int) -> tuple[int, int, int]:
    return (c_in, c_out, stride) if source == 0 else (c_out, c_out, 1)


class MicroCell(nn.Module):
    def __init__(self, cell: MicroConfig, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(edge_op(code, *_edge_shape(i, c_in, c_out, stride))
                                   for (i, _), code in zip(CELL_EDGES, cell))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum_tensors([edge(nodes[i]) for edge, (i, jj) in zip(self.edges, CELL_EDGES) if jj == j]))
        return nodes[3]


class BasicBlock(nn.Module):
    """TransNAS's ResNet basic block (pre-activation convs, projection shortcut on a shape change)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


def _stem() -> nn.Module:
    half = BASE_CHANNELS // 2
    return nn.Sequential(nn.Conv2d(3, half, 3, 2, 1, bias=False), nn.BatchNorm2d(half),
                         ReLUConvBN(half, BASE_CHANNELS, 3, 2))


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class TransNASEncoderClassifier(nn.Module):
    """The TransNAS-Bench-101 encoder of ``code`` (micro ``cell`` blocks, or basic blocks) + linear head."""

    def __init__(self, code: MacroConfig, cell: MicroConfig | None, num_classes: int = HEAD_CLASSES) -> None:
        super().__init__()
        plan = layer_plan(code)
        self.stem = _stem()
        self.blocks = nn.Sequential(*(BasicBlock(*shape) if cell is None else MicroCell(cell, *shape)
                                      for shape in plan))
        self.head = _head(plan[-1][1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


# ---------------------------------------------------------------------------------------------
# The search spaces


class _TransNASSpace(SearchSpace[Config]):
    """What both spaces share: a config stands for an encoder, a macro code with micro cells or basic blocks."""

    input_shape = (1, 3, RESOLUTION, RESOLUTION)
    num_classes = HEAD_CLASSES

    @abstractmethod
    def encoder_of(self, config: Config) -> tuple[MacroConfig, MicroConfig | None]:
        """The macro code and the micro cell (None: basic blocks) of ``config``."""

    def build(self, config: Config) -> nn.Module:
        return TransNASEncoderClassifier(*self.encoder_of(config), self.num_classes)

    def config_json(self, config: Config) -> str:
        return json.dumps(list(config))

    def compose(self, config: Config, composer: Composer) -> Composition:
        code, cell = self.encoder_of(config)
        x = composer.apply("stem", _stem, composer.input(3, RESOLUTION, RESOLUTION))
        plan = layer_plan(code)
        for shape in plan:
            if cell is None:
                x = composer.apply(("basic", *shape), partial(BasicBlock, *shape), x)
            else:
                x = composer.block(("cell", cell, *shape), partial(_compose_cell, cell, *shape), x)
        head = partial(_head, plan[-1][1], self.num_classes)
        return composer.finish(composer.apply(("head", plan[-1][1], self.num_classes), head, x))


def _compose_cell(cell: MicroConfig, c_in: int, c_out: int, stride: int, composer: Composer, x: Value) -> Value:
    nodes = [x]
    for j in (1, 2, 3):
        terms = []
        for (i, jj), code in zip(CELL_EDGES, cell):
            if jj == j:
                shape = _edge_shape(i, c_in, c_out, stride)
                terms.append(composer.apply(("edge", code, *shape), partial(edge_op, code, *shape), nodes[i]))
        nodes.append(composer.add(*terms))
    return nodes[3]


class TNB101MicroSpace(_TransNASSpace[MicroConfig]):
    name = "tnb101_micro"

    def arch_id(self, config: MicroConfig) -> str:
        return micro_arch_string(config)

    def parse(self, arch_id: str) -> MicroConfig:
        return parse_micro_arch_string(arch_id)

    def encoder_of(self, config: MicroConfig) -> tuple[MacroConfig, MicroConfig]:
        return MICRO_MACRO_CODE, config

    def sample(self, rng: np.random.Generator) -> MicroConfig:
        return tuple(int(c) for c in rng.integers(0, len(MICRO_OPS), len(CELL_EDGES)))  # type: ignore[return-value]

    def enumerate(self) -> Iterator[MicroConfig]:
        return all_micro_cells()


class TNB101MacroSpace(_TransNASSpace[MacroConfig]):
    name = "tnb101_macro"

    def arch_id(self, config: MacroConfig) -> str:
        return macro_arch_string(config)

    def parse(self, arch_id: str) -> MacroConfig:
        return parse_macro_arch_string(arch_id)

    def encoder_of(self, config: MacroConfig) -> tuple[MacroConfig, None]:
        return config, None

    def sample(self, rng: np.random.Generator) -> MacroConfig:
        """TransNAS/NASLib's sampler: a length, doubling and downsampling counts, then random positions."""
        length = int(rng.integers(4, 7))
        downs = rng.permutation(np.arange(length) < rng.integers(1, 5))
        doubles = rng.permutation(np.arange(length) < rng.integers(1, 4))
        return tuple(int(1 + 2 * down + double) for down, double in zip(downs, doubles))

    def enumerate(self) -> Iterator[MacroConfig]:
        return all_macro_codes()


MICRO_SPACE = TNB101MicroSpace()
MACRO_SPACE = TNB101MacroSpace()


# ---------------------------------------------------------------------------------------------
# The families

_SYNFLOW = github_file("naslib-tnb101", "automl/NASLib", "3a28c7f155018cde8b3245ee1ac0b4dcc62efd73",
                       "run/results/benchmarks/tnb101_classification_synflow.zip",
                       "272e6b7e970ff80cc36ca23757bf746d2b233d041ec3366a85047af9bf958f9e", "Apache-2.0")
_ZEN = github_file("naslib-tnb101", "automl/NASLib", "eba9f98038440ba2f246f6054ebd7ba55ad38b3a",
                   "run/results/benchmarks/tnb101_macro_zen.zip",
                   "c34526c4f37f06205e61efeeb80bce5340dbce555ad558a10d6a897258d0de7b", "Apache-2.0")

# task -> (column, TransNAS metric behind NASLib's "val_accuracy", unit, epochs, what it is)
TASKS = {
    "class_object": ("class_object_valid_top1", "valid_top1", "% (higher is better)", 25,
                     "object classification (75 selected ImageNet classes, soft labels): top-1 accuracy"),
    "class_scene": ("class_scene_valid_top1", "valid_top1", "% (higher is better)", 25,
                    "scene classification (47 selected Places365 classes, soft labels): top-1 accuracy"),
    "jigsaw": ("jigsaw_valid_top1", "valid_top1", "% (higher is better)", 10,
               "jigsaw puzzle (1,000 tile permutations of 3x3 tiles): top-1 accuracy"),
    "room_layout": ("room_layout_valid_neg_l2", "valid_neg_loss", "negative MSE (L2) loss (higher is better)", 25,
                    "room layout regression (9 numbers): negated validation MSE loss"),
    "segmentsemantic": ("segmentsemantic_valid_pixel_acc", "valid_acc", "% (higher is better)", 30,
                        "semantic segmentation (17 classes): pixel accuracy"),
    "normal": ("normal_valid_ssim", "valid_ssim", "SSIM in [0, 1] (higher is better)", 30,
               "surface normal prediction (image translation, pix2pix-style GAN): SSIM to the target"),
    "autoencoder": ("autoencoder_valid_ssim", "valid_ssim", "SSIM in [0, 1] (higher is better)", 30,
                    "autoencoding (image reconstruction, pix2pix-style GAN): SSIM to the input"),
}
MICRO_TASKS = ("class_object", "class_scene", "jigsaw", "room_layout")
MACRO_TASKS = tuple(TASKS)


def _task_labels(tasks: tuple[str, ...], files: str) -> tuple[LabelColumn, ...]:
    return tuple(
        LabelColumn(TASKS[t][0], "naslib-tnb101", "Taskonomy (TransNAS-Bench-101 subset, 'final5k' split)",
                    "validation set", TASKS[t][3], TASKS[t][2],
                    "one stand-alone training per architecture and task (TransNAS-Bench-101)", "Apache-2.0",
                    f"TransNAS-Bench-101 {TASKS[t][4]}; final-epoch {TASKS[t][1]} as stored in NASLib's "
                    f"'val_accuracy' ({files})")
        for t in tasks)


def read_naslib_tasks(path: Path, space: str) -> dict[str, dict[tuple[int, ...], float]]:
    """task -> {NASLib arch tuple: val_accuracy} for ``space`` ('micro' or 'macro') in one NASLib zip."""
    return read_naslib_results(path, f"transbench101_{space}")


def _fill(labels: dict[str, np.ndarray], tasks: dict[str, dict[tuple[int, ...], float]],
          row: dict[tuple[int, ...], int], source: str) -> None:
    for task, records in tasks.items():
        if set(records) != set(row):
            raise ValueError(f"{source}: task {task} does not cover the space's {len(row)} architectures exactly once")
        column = labels[TASKS[task][0]]
        for arch, value in records.items():
            column[row[arch]] = value


@register_family
class TNB101Micro(FamilySpec):
    name = "tnb101_micro"
    version = "1.1"
    description = ("TransNAS-Bench-101 cell-level space: all 4,096 micro cells in the 64-41414 skeleton; CG = "
                   "encoder + linear classification head at 256x256; labels of four Taskonomy tasks, and "
                   "cross-task accuracies of 192 cells.")
    raw_files = (_SYNFLOW, CROSS_TASK_FILE)
    labels = (*_task_labels(MICRO_TASKS, "tnb101_classification_synflow.zip"), *cross_task_labels("TNB-101-micro"))
    default_target = "class_object_valid_top1"
    space = MICRO_SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        configs = list(all_micro_cells())
        row = {cell: i for i, cell in enumerate(configs)}
        tasks = read_naslib_tasks(raw_paths[_SYNFLOW.key], "micro")
        if sorted(tasks) != sorted(MICRO_TASKS):
            raise ValueError(f"{_SYNFLOW.filename}: expected micro tasks {MICRO_TASKS}, found {sorted(tasks)}")
        labels = {label.name: np.full(len(configs), np.nan) for label in self.labels}
        _fill(labels, tasks, row, _SYNFLOW.filename)
        labels.update(cross_task_columns(read_cross_task(raw_paths[CROSS_TASK_FILE.key], "transbench101_micro"),
                                         lambda indices: row[from_naslib_graph_indices(indices)], len(configs)))
        return space_table(MICRO_SPACE, configs, progress, labels)


@register_family
class TNB101Macro(FamilySpec):
    name = "tnb101_macro"
    version = "1.0"
    description = ("TransNAS-Bench-101 macro-level space: all 3,256 skeletons of ResNet basic blocks; CG = "
                   "encoder + linear classification head at 256x256; labels of all seven Taskonomy tasks.")
    raw_files = (_ZEN, _SYNFLOW)
    labels = _task_labels(MACRO_TASKS, "tnb101_macro_zen.zip; the four tasks also in "
                                       "tnb101_classification_synflow.zip agree exactly")
    default_target = "class_object_valid_top1"
    space = MACRO_SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        configs = list(all_macro_codes())
        row = {code: i for i, code in enumerate(configs)}
        zen = read_naslib_tasks(raw_paths[_ZEN.key], "macro")
        if sorted(zen) != sorted(MACRO_TASKS):
            raise ValueError(f"{_ZEN.filename}: expected macro tasks {MACRO_TASKS}, found {sorted(zen)}")
        labels = {label.name: np.full(len(configs), np.nan) for label in self.labels}
        _fill(labels, zen, row, _ZEN.filename)
        synflow = read_naslib_tasks(raw_paths[_SYNFLOW.key], "macro")
        for task, records in synflow.items():
            if records != zen[task]:
                raise ValueError(f"{task}: the macro labels of {_SYNFLOW.filename} and {_ZEN.filename} disagree")
        return space_table(MACRO_SPACE, configs, progress, labels)

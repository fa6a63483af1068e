"""OFA-MobileNetV3: Once-for-All's MobileNetV3 supernet, with DyNAS-T's weight-shared accuracies.

The supernet is ``ofa_mbv3_d234_e346_k357_w1.0`` (``OFAMobileNetV3`` at width 1.0,
``ofa/model_zoo.py``), the one DyNAS-T's ``mbnv3w10`` files evaluated. Sub-network layout
(``get_active_subnet``):

- stem: 3x3/2 conv to 16, BN, h-swish; first block MBConv e=1 k=3 16 -> 16, ReLU, with skip;
- five stages of MBConv with widths 24, 40, 80, 112, 160, strides 2, 2, 2, 1, 2, activations
  ReLU, ReLU, h-swish, h-swish, h-swish and SE in stages 2, 4, 5; elastic depth {2, 3, 4},
  kernel {3, 5, 7} and expand ratio {3, 4, 6} per block;
- head: 1x1 conv to 960, BN, h-swish, global average pooling, 1x1 conv to 1280 (no bias, no BN),
  h-swish, linear 1280 -> 1000 (no dropout: the released net uses ``dropout_rate=0``).

GENNAPE's OFA-MBv3 is the width-1.2 supernet (stem 24, widths 32, 48, 96, 136, 192, head 1152 and
1536); this family uses width 1.0 because that is the supernet DyNAS-T's accuracies come from.

The arch_id lists only active blocks, ``r<res>:k<k>e<e>,...`` per stage separated by ``/``, so the
kernel and expand settings DyNAS-T stores for blocks beyond a stage's depth do not split one
sub-network into several ids.
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch.nn as nn

from ..metrics import kendall, spearman
from ..sources import github_file
from . import register_family
from .base import FamilySpec, LabelColumn, space_table
from .ofa_blocks import ElasticMBConvSpace, MBConv, MBConvSpec, MBConvSubnet, StageSpec, conv_bn_act

STEM_WIDTH = 16
FINAL_EXPAND_WIDTH, FEATURE_MIX_WIDTH = 960, 1280
STAGES = tuple(StageSpec(width, stride, act, se) for width, stride, act, se in (
    (24, 2, "relu", False), (40, 2, "relu", True), (80, 2, "h_swish", False), (112, 1, "h_swish", True),
    (160, 2, "h_swish", True)))


class OFAMobileNetV3Space(ElasticMBConvSpace):
    name = "ofa_mbv3"
    stage_specs = STAGES
    bn_eps = 1e-5
    stem_channels = STEM_WIDTH

    def stem(self) -> nn.Module:
        return nn.Sequential(conv_bn_act(3, STEM_WIDTH, 3, 2, "h_swish"),
                             MBConv(MBConvSpec(STEM_WIDTH, STEM_WIDTH, 3, 1, 1, "relu")))

    def head(self) -> nn.Module:
        return nn.Sequential(conv_bn_act(STAGES[-1].width, FINAL_EXPAND_WIDTH, 1, 1, "h_swish"),
                             nn.AdaptiveAvgPool2d(1), nn.Conv2d(FINAL_EXPAND_WIDTH, FEATURE_MIX_WIDTH, 1, bias=False),
                             nn.Hardswish(), nn.Flatten(), nn.Linear(FEATURE_MIX_WIDTH, self.num_classes))


SPACE = OFAMobileNetV3Space()

# ---------------------------------------------------------------------------------------------
# DyNAS-T's evaluations

_DYNAST_COMMIT = "251cb5e0083077522eb554691f480ba750e63246"
_DYNAST_FILES = {
    "mbnv3w10_evoga_acc.csv": "460efa9d68388f0523248c68996738a4cf1580115299c5223386acefd01c2904",
    "mbnv3w10_evonsga2_acc_macs.csv": "26382008e3311c93cbb1f8de3310ac69a37c650c9692e032c90e04805e523cbe",
    "mbnv3w10_evounsga3_acc_macs_params.csv": "b24f148a72d2f1bb1b3422a2f7f8a1f21e59bf5d47f033c0945840ac5d78384c",
    "mbnv3w10_linasga_acc.csv": "63f986501c47e44f3c7426acbcbf8787662a8aa93683d95461a6f6bb659765f7",
    "mbnv3w10_linasnsga2_acc_macs.csv": "cc49278a179df47e6a8f5906e0bd32a6d2f4d29c0d0424ab0ac14eb4a10f8962",
}
SOURCE_ID = "dynast-ofa-mbv3"
RAW_FILES = tuple(github_file(SOURCE_ID, "IntelLabs/DyNAS-T", _DYNAST_COMMIT, f"notebooks/data/{name}", sha, "Apache-2.0")
                  for name, sha in _DYNAST_FILES.items())
_SUBNET_KEYS = {"wid", "ks", "e", "d", "r"}


@dataclass(frozen=True)
class Evaluation:
    """One CSV row: a sub-network DyNAS-T's search evaluated on the weight-shared supernet."""

    subnet: MBConvSubnet
    top1: float
    macs: int
    params: int
    file: str
    date: str


def parse_subnet_literal(text: str) -> MBConvSubnet:
    """The sub-network of a DyNAS-T ``Sub-network`` cell (a Python dict literal), validated."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"not a DyNAS-T sub-network literal: {text[:80]!r}") from error
    if not isinstance(value, dict) or set(value) != _SUBNET_KEYS:
        raise ValueError(f"DyNAS-T sub-network needs keys {sorted(_SUBNET_KEYS)}: {text[:80]!r}")
    if value["wid"] is not None:
        raise ValueError(f"DyNAS-T sub-network with an elastic width is not OFA-MobileNetV3 w1.0: {text[:80]!r}")
    fields = {key: value[key] for key in ("ks", "e", "d", "r")}
    if not all(isinstance(v, list) and all(isinstance(x, int) for x in v) for v in fields.values()):
        raise ValueError(f"DyNAS-T sub-network fields must be lists of ints: {text[:80]!r}")
    if len(fields["r"]) != 1:
        raise ValueError(f"DyNAS-T sub-network needs one resolution: {text[:80]!r}")
    return SPACE.from_ofa(fields["ks"], fields["e"], fields["d"], fields["r"][0])


def read_evaluations(path: Path) -> list[Evaluation]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    expected = {"Sub-network", "Date", "Model Parameters", "Latency (ms)", "MACs", "Top-1 Acc (%)"}
    if not rows or set(rows[0]) != expected:
        raise ValueError(f"{path.name}: expected DyNAS-T columns {sorted(expected)}")
    return [Evaluation(parse_subnet_literal(row["Sub-network"]), float(row["Top-1 Acc (%)"]), int(row["MACs"]),
                       int(row["Model Parameters"]), path.name, row["Date"]) for row in rows]


@dataclass(frozen=True)
class MergedSubnet:
    subnet: MBConvSubnet
    evaluations: tuple[Evaluation, ...]

    @property
    def top1(self) -> np.ndarray:
        return np.array([e.top1 for e in self.evaluations])


def merge_evaluations(evaluations: Iterable[Evaluation]) -> list[MergedSubnet]:
    """One entry per canonical sub-network, its evaluations in (file, date) order."""
    groups: dict[str, list[Evaluation]] = {}
    for evaluation in evaluations:
        groups.setdefault(SPACE.arch_id(evaluation.subnet), []).append(evaluation)
    merged = []
    for arch_id, group in groups.items():
        if len({(e.macs, e.params) for e in group}) != 1:
            raise ValueError(f"DyNAS-T reports different MACs/params for one sub-network {arch_id}")
        merged.append(MergedSubnet(group[0].subnet, tuple(sorted(group, key=lambda e: (e.file, e.date)))))
    return merged


def duplicate_agreement(merged: list[MergedSubnet], top_fraction: float = 0.1) -> dict[str, float]:
    """Rank agreement between the first two evaluations of every sub-network evaluated twice or more.

    Both evaluate the same weights on the same images, so this is the ceiling that the labels'
    evaluation noise puts on any predictor; the top group is the ``top_fraction`` best by the mean.
    """
    twice = [m for m in merged if len(m.evaluations) >= 2]
    first = np.array([m.top1[0] for m in twice])
    second = np.array([m.top1[1] for m in twice])
    top = np.argsort(-(first + second))[: max(2, int(round(top_fraction * len(twice))))]
    return {"n_pairs": len(twice), "spearman": spearman(first, second), "kendall": kendall(first, second),
            "n_top": len(top), "spearman_top": spearman(first[top], second[top]),
            "kendall_top": kendall(first[top], second[top]),
            "max_abs_diff": float(np.max(np.abs(first - second))), "mean_abs_diff": float(np.mean(np.abs(first - second)))}


TOP1 = LabelColumn(
    "in1k_top1_ws", SOURCE_ID, "ImageNet-1k", "validation set (ILSVRC2012 val)", None, "%",
    "one OFA supernet (ofa_mbv3_d234_e346_k357_w1.0); mean over DyNAS-T's repeated evaluations of the subnet",
    "Apache-2.0",
    "Top-1 of the sub-network with weights inherited from the OFA supernet (weight-shared, no stand-alone "
    "training or fine-tuning; BN statistics re-estimated on a random training subset by OFA's "
    "reset_running_statistics), at 224x224, as DyNAS-T's OFARunner.validate_top1 measured it")


@register_family
class OFAMobileNetV3(FamilySpec):
    name = "ofa_mbv3"
    version = "1.0"
    description = ("Once-for-All MobileNetV3 (w1.0) sub-networks evaluated by DyNAS-T's searches, with "
                   "weight-shared ImageNet top-1 (224x224).")
    raw_files = RAW_FILES
    labels = (TOP1,)
    default_target = "in1k_top1_ws"
    space = SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        evaluations = [e for raw in RAW_FILES for e in read_evaluations(raw_paths[raw.key])]
        merged = merge_evaluations(evaluations)
        subnets = [m.subnet for m in merged]
        top1 = [m.top1 for m in merged]
        return space_table(
            SPACE, subnets, progress,
            labels={TOP1.name: np.array([t.mean() for t in top1])},
            extra={
                "in1k_top1_ws_std": pa.array(np.array([t.std() for t in top1])),
                "in1k_top1_ws_min": pa.array(np.array([t.min() for t in top1])),
                "in1k_top1_ws_max": pa.array(np.array([t.max() for t in top1])),
                "n_evals": pa.array(np.array([len(t) for t in top1], np.int32)),
                "dynast_macs": pa.array(np.array([m.evaluations[0].macs for m in merged], np.int64)),
                "dynast_params": pa.array(np.array([m.evaluations[0].params for m in merged], np.int64)),
                "resolution": pa.array(np.array([s.resolution for s in subnets], np.int32)),
            })

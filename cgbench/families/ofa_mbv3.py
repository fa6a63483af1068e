"""OFA-MobileNetV3: Once-for-All's MobileNetV3 supernet, with DyNAS-T's accuracies and HELP's latencies.

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

Two label sources meet in this family, merged by arch_id: DyNAS-T's weight-shared ImageNet top-1
of the sub-networks its searches evaluated (all at 224x224), and HELP's latencies of 5,000 random
sub-networks (``ofa_archs.pt``: ks, e, d and a resolution of 128..224 each) on four GPUs at batch
1, 32 and 64. A row carries NaN for the labels its source does not give; ``Family.labelled_rows``
gives the rows that carry several (in the files as published no sub-network is in both sources).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch.nn as nn

from ..formats.dynast import read_dynast_csv, subnet_fields
from ..formats.help import read_ofa_archs
from ..metrics import kendall, spearman
from ..sources import github_file
from .registry import register_family
from .base import FamilySpec, LabelColumn, nullable_int_column, space_table
from .latency import help_file, latency_files, read_latency_columns
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
    return SPACE.from_ofa(*subnet_fields(text))


def dynast_evaluations(path: Path) -> list[Evaluation]:
    """The evaluations of one DyNAS-T CSV, each with its sub-network."""
    return [Evaluation(SPACE.from_ofa(row.ks, row.e, row.d, row.r), row.top1, row.macs, row.params, row.file, row.date)
            for row in read_dynast_csv(path)]


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


# ---------------------------------------------------------------------------------------------
# HELP's latencies

HELP_ARCHS = help_file("ofa/ofa_archs.pt", "77787b5c3e208b130282d4e239c1bb56e76fbb8f7d7f374c4fcc63df4970d574")
LATENCY_FILES = latency_files("ofa", {
    "2080ti_1": "fd02a4aa46d7ab468d9214ae20b73cbb58fd8d7a857df98861d83383744f9ca9",
    "2080ti_32": "0a40f72137451914e4296d8911c92429af357556c7caa5aa74803e17b2948eb6",
    "2080ti_64": "6b5b8ae9a25aa5c7df2a96c0e5d6baa91a0566fa935e8fcd709809fbfdee1bd8",
    "titan_rtx_1": "b308b08490eaf5af871bc0c5712a105e23c952ff55c5277abbc90e0ff7acf65a",
    "titan_rtx_32": "418618fe00b90d3495b2b4147689debb302dddcd038126c376b2bc4aef2867cf",
    "titan_rtx_64": "33bb74ee6430fb136ca00c41821842cf511eee5f28080b7745e6216e91d87b42",
    "titan_xp_1": "ab157a674a7ba7ad536a0afba7a791ab49fa5f3dbafa5f9628170b48030c2733",
    "titan_xp_32": "8e362f53dd522e6c26c54c7b4806301d3465947edf0935c9c1479aefee0271b6",
    "titan_xp_64": "9b377dc3de2c4ff12c735331762d7f957aa789a41583693082f33abfc4d6e018",
    "v100_1": "277d012e6c82cf20abee447edadd22da992a921de5e74376970a369466a48907",
    "v100_32": "41643776a003adeb16ec57314b1bd1d5145a12c3616c686161debdb7e45ea9e8",
    "v100_64": "577f48672ed029b11cbb66126ca92d4542f18472e2157965a4ec6852a327dfa2",
})


def read_help_subnets(path: Path) -> list[MBConvSubnet]:
    """HELP's 5,000 sub-networks (``ofa_archs.pt``), in file order: the order of its latency files."""
    return [SPACE.from_ofa(arch["ks"], arch["e"], arch["d"], arch["r"]) for arch in read_ofa_archs(path)]


def _help_latency_rows(help_ids: list[str], row_of: dict[str, int], n_rows: int,
                       raw_paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """Each latency column over the family's rows: HELP's value on its sub-network's row, NaN elsewhere."""
    rows = np.array([row_of[a] for a in help_ids])
    columns = {}
    for name, values in read_latency_columns(LATENCY_FILES, raw_paths, len(help_ids)).items():
        columns[name] = np.full(n_rows, np.nan)
        columns[name][rows] = values
    return columns


@register_family
class OFAMobileNetV3(FamilySpec):
    name = "ofa_mbv3"
    version = "2.0"
    description = ("Once-for-All MobileNetV3 (w1.0) sub-networks: those DyNAS-T's searches evaluated (weight-shared "
                   "ImageNet top-1, 224x224) and HELP's 5,000 (GPU latency at batch 1/32/64, input 128-224).")
    raw_files = (*RAW_FILES, HELP_ARCHS, *(f.raw for f in LATENCY_FILES))
    labels = (TOP1, *(f.label("OFA-MobileNetV3 sub-network at its own input resolution") for f in LATENCY_FILES))
    default_target = "in1k_top1_ws"
    space = SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        evaluations = [e for raw in RAW_FILES for e in dynast_evaluations(raw_paths[raw.key])]
        merged = merge_evaluations(evaluations)
        help_subnets = read_help_subnets(raw_paths[HELP_ARCHS.key])
        help_ids = [SPACE.arch_id(s) for s in help_subnets]
        if len(set(help_ids)) != len(help_ids):
            raise ValueError(f"{HELP_ARCHS.filename}: a sub-network is listed twice")
        subnets = [m.subnet for m in merged]
        row_of = {SPACE.arch_id(s): i for i, s in enumerate(subnets)}
        for arch_id, subnet in zip(help_ids, help_subnets):
            if arch_id not in row_of:
                row_of[arch_id] = len(subnets)
                subnets.append(subnet)
        n_rows, n_dynast = len(subnets), len(merged)

        def dynast(values) -> np.ndarray:
            column = np.full(n_rows, np.nan)
            column[:n_dynast] = values
            return column

        top1 = [m.top1 for m in merged]
        help_index = np.full(n_rows, -1)
        help_index[[row_of[a] for a in help_ids]] = np.arange(len(help_ids))
        return space_table(
            SPACE, subnets, progress,
            labels={TOP1.name: dynast([t.mean() for t in top1]),
                    **_help_latency_rows(help_ids, row_of, n_rows, raw_paths)},
            extra={
                "in1k_top1_ws_std": pa.array(dynast([t.std() for t in top1])),
                "in1k_top1_ws_min": pa.array(dynast([t.min() for t in top1])),
                "in1k_top1_ws_max": pa.array(dynast([t.max() for t in top1])),
                "n_evals": pa.array(np.array([len(t) for t in top1] + [0] * (n_rows - n_dynast), np.int32)),
                "dynast_macs": nullable_int_column(dynast([m.evaluations[0].macs for m in merged])),
                "dynast_params": nullable_int_column(dynast([m.evaluations[0].params for m in merged])),
                "help_index": pa.array(help_index, pa.int32(), mask=help_index < 0),
                "resolution": pa.array(np.array([s.resolution for s in subnets], np.int32)),
            })


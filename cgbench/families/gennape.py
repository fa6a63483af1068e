"""GENNAPE's released CG caches (``CG_data.zip``) as nine cgbench families.

GENNAPE (Mills et al., AAAI 2023, github.com/Ascend-Research/GENNAPE, MIT licence) released its
Computation Graphs on Google Drive as ``CG_data.zip``; each family is the architectures of one of
its files:

- ``gpi_{nb101,nb201c10,nb301,ofa,ofa_resnet}_comp_graph_cache.pkl``: pickled caches.
  OFA-PN and OFA-MBv3 share ``gpi_ofa``; their CG names (``OFA-PN-Net{i}`` / ``OFA-MBV3-Net{i}``)
  tell them apart.
- ``gpi_test_{hiaml,two_path}_cifar10_labelled_cg_data.json`` and ``inception_cifar10_labelled_cg_data.json``:
  labelled CGs; GENNAPE's label is ``max_perf / 100``.

The zip is read and its CGs converted by :mod:`cgbench.formats.gennape` and
:mod:`cgbench.formats.gennape_cg`. This module declares the families and builds their tables:
GENNAPE's own node features (``ComputeGraph.get_gnn_features``, weighted nodes first) are stored
beside the CG in ``gennape_*`` columns together with the node permutation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from ..errors import InvalidFileError
from ..formats.gennape import GennapeRecord, read_cg_data
from ..formats.gennape_cg import GennapeCG
from ..graph.features import GennapeFeatures
from ..importers import ImportedFamily
from ..storage import GraphTable
from .base import FamilySpec, LabelColumn, assemble_table
from .registry import register_family, register_importer

SOURCE_ID = "gennape-cg-data"
IMPORT_COMMAND = "cgbench import gennape PATH/CG_data.zip"
LICENCE = "MIT (GENNAPE repository, (c) 2022 Huawei Technologies; CG_data.zip states no separate licence)"

# ---------------------------------------------------------------------------------------------
# The families' files


@dataclass(frozen=True)
class FamilyInfo:
    family: str
    file: str
    description: str
    dataset: str
    split: str
    epochs: int | None
    seeds: str
    label_description: str
    input_shape: tuple[int, int, int, int]


_UNSTATED_SEEDS = "not stated in the GENNAPE repository"
_OFA_SPLIT = "unknown: the GENNAPE repository does not say how OFA accuracies were measured"
_MAX_PERF_SPLIT = "not stated: max_perf, presumably the best per-epoch accuracy in 'perfs'"
_MAX_PERF_LABEL = "max_perf / 100, as GENNAPE's loader computes it"
FAMILIES: dict[str, FamilyInfo] = {info.family: info for info in (
    FamilyInfo("gennape_nb101", "gpi_nb101_comp_graph_cache.pkl",
               "NAS-Bench-101 cells sampled at random by GENNAPE, as GENNAPE's CGs (CIFAR-10, 32x32).",
               "CIFAR-10", "unknown: the GENNAPE repository does not say which NAS-Bench-101 accuracy it stored",
               None, _UNSTATED_SEEDS,
               "GENNAPE's 'acc' (a fraction); its NAS-Bench-101 source field is not in the repository",
               (1, 3, 32, 32)),
    FamilyInfo("gennape_nb201", "gpi_nb201c10_comp_graph_cache.pkl",
               "The 4,096 NAS-Bench-201 cells without 'none', as GENNAPE's CGs (CIFAR-10, 32x32).",
               "CIFAR-10", "ori-test (CIFAR-10 test set)", None,
               "NAS-Bench-201 API get_metrics(..., 'ori-test') on NB201-v1_1-096897.pth (mean over its seeds)",
               "NAS-Bench-201 ori-test accuracy / 100 (nb201/arch_gen.py); whether the API returned the 200- or "
               "12-epoch result depends on the unpinned nas-bench-201 version (hp='12' is the newer default)",
               (1, 3, 32, 32)),
    FamilyInfo("gennape_nb301", "gpi_nb301_comp_graph_cache.pkl",
               "DARTS (NAS-Bench-301) genotypes sampled by GENNAPE, as GENNAPE's CGs (CIFAR-10, 32x32).",
               "CIFAR-10", "unknown: the GENNAPE repository does not say where the NB-301 accuracy comes from",
               None, _UNSTATED_SEEDS,
               "GENNAPE's 'acc' (a fraction); whether it is NB-301 training data or its surrogate is not stated",
               (1, 3, 32, 32)),
    FamilyInfo("gennape_ofa_pn", "gpi_ofa_comp_graph_cache.pkl",
               "Once-for-All ProxylessNAS subnets sampled by GENNAPE (ImageNet, per-arch resolution up to 224).",
               "ImageNet", _OFA_SPLIT, None, _UNSTATED_SEEDS,
               "GENNAPE's 'acc' (a fraction) for OFA-PN subnets; source not stated",
               (1, 3, 224, 224)),
    FamilyInfo("gennape_ofa_mbv3", "gpi_ofa_comp_graph_cache.pkl",
               "Once-for-All MobileNetV3 subnets sampled by GENNAPE (ImageNet, per-arch resolution up to 224).",
               "ImageNet", _OFA_SPLIT, None, _UNSTATED_SEEDS,
               "GENNAPE's 'acc' (a fraction) for OFA-MBv3 subnets; source not stated",
               (1, 3, 224, 224)),
    FamilyInfo("gennape_ofa_resnet", "gpi_ofa_resnet_comp_graph_cache.pkl",
               "Once-for-All ResNet-50 subnets sampled by GENNAPE (ImageNet, per-arch resolution up to 224).",
               "ImageNet", _OFA_SPLIT, None, _UNSTATED_SEEDS,
               "GENNAPE's 'acc' (a fraction) for OFA-ResNet subnets; source not stated",
               (1, 3, 224, 224)),
    FamilyInfo("gennape_hiaml", "gpi_test_hiaml_cifar10_labelled_cg_data.json",
               "HiAML networks (GENNAPE's CIFAR-10 test family, 32x32) with GENNAPE's own training results.",
               "CIFAR-10", _MAX_PERF_SPLIT, None, _UNSTATED_SEEDS, _MAX_PERF_LABEL, (1, 3, 32, 32)),
    FamilyInfo("gennape_two_path", "gpi_test_two_path_cifar10_labelled_cg_data.json",
               "Two-Path networks (GENNAPE's CIFAR-10 test family, 32x32) with GENNAPE's own training results.",
               "CIFAR-10", _MAX_PERF_SPLIT, None, _UNSTATED_SEEDS, _MAX_PERF_LABEL, (1, 3, 32, 32)),
    FamilyInfo("gennape_inception", "inception_cifar10_labelled_cg_data.json",
               "Inception networks (GENNAPE's CIFAR-10 test family, 32x32) with GENNAPE's own training results.",
               "CIFAR-10", _MAX_PERF_SPLIT, None, _UNSTATED_SEEDS, _MAX_PERF_LABEL, (1, 3, 32, 32)),
)}
_OFA_PREFIXES = {"OFA-PN-": "gennape_ofa_pn", "OFA-MBV3-": "gennape_ofa_mbv3"}


def _family_of(file: str, cg: GennapeCG) -> str:
    """The family of a CG of GENNAPE's ``file``: the file's, but for the OFA cache's two search spaces."""
    if file != FAMILIES["gennape_ofa_pn"].file:
        return next(info.family for info in FAMILIES.values() if info.file == file)
    for prefix, family in _OFA_PREFIXES.items():
        if cg.name.startswith(prefix):
            return family
    raise InvalidFileError(f"CG name {cg.name!r} is neither OFA-PN-Net<i> nor OFA-MBV3-Net<i>")


def read_families(path: Path, families: Iterable[str] | None = None,
                  progress: bool = True) -> dict[str, list[GennapeRecord]]:
    """Every family of ``families`` (default: all) that CG_data.zip at ``path`` holds, converted."""
    families = set(FAMILIES if families is None else families)
    records = read_cg_data(Path(path), {FAMILIES[f].file for f in families}, _family_of, progress)
    return {family: rows for family, rows in records.items() if family in families}


# ---------------------------------------------------------------------------------------------
# Tables


def _nested(values: np.ndarray, sizes: Iterable[int], width: int | None = None) -> pa.Array:
    offsets = pa.array(np.concatenate([[0], np.cumsum(list(sizes))]).astype(np.int32))
    flat = pa.array(values.reshape(-1))
    return pa.ListArray.from_arrays(offsets, pa.FixedSizeListArray.from_arrays(flat, width) if width else flat)


def _nullable(values: list[float]) -> pa.Array:
    values = np.asarray(values, np.float64)
    return pa.array(values, mask=np.isnan(values))


def gennape_columns(records: list[GennapeRecord]) -> dict[str, pa.Array]:
    feats = [r.features for r in records]
    n_weighted = [len(f.weighted_op) for f in feats]
    n_nodes = [len(f.weighted_op) + len(f.regular_op) for f in feats]
    n_edges = [len(f.edges) for f in feats]

    def cat(parts: list[np.ndarray], dtype, width: int | None = None) -> np.ndarray:
        return np.concatenate([np.asarray(p).reshape((-1, width) if width else -1) for p in parts]).astype(dtype)

    edges = cat([f.edges for f in feats], np.int32, 2)
    return {
        "gennape_name": pa.array([r.name for r in records], pa.string()),
        "gennape_node_index": _nested(cat([r.gennape_index for r in records], np.int32), n_nodes),
        "gennape_n_weighted": pa.array(np.array(n_weighted, np.int32)),
        "gennape_op": _nested(cat([np.concatenate([f.weighted_op, f.regular_op]) for f in feats], np.int16), n_nodes),
        "gennape_shape": _nested(cat([np.concatenate([f.weighted_shape, f.regular_shape]) for f in feats],
                                     np.float64, 6), n_nodes, 6),
        "gennape_kernel": _nested(cat([f.weighted_kernel for f in feats], np.int32, 2), n_weighted, 2),
        "gennape_bias": _nested(cat([f.weighted_bias for f in feats], np.int8, 2), n_weighted, 2),
        "gennape_edge_src": _nested(edges[:, 0], n_edges),
        "gennape_edge_dst": _nested(edges[:, 1], n_edges),
        "gennape_norm": pa.FixedSizeListArray.from_arrays(pa.array(np.array([r.norm for r in records]).reshape(-1)), 3),
        "gennape_flops": _nullable([r.flops for r in records]),
        "gennape_n_params": _nullable([r.n_params for r in records]),
    }


def stored_gennape_features(table: pa.Table, row: int) -> GennapeFeatures:
    """GENNAPE's own node features of one row, as the importer stored them (GENNAPE's node order)."""
    def value(column: str) -> np.ndarray:
        return np.asarray(table.column(column)[row].as_py())

    n_weighted = int(table.column("gennape_n_weighted")[row].as_py())
    op, shape = value("gennape_op").astype(np.int64), value("gennape_shape").reshape(-1, 6)
    return GennapeFeatures(
        weighted_op=op[:n_weighted], weighted_shape=shape[:n_weighted],
        weighted_kernel=value("gennape_kernel").reshape(-1, 2).astype(np.int64),
        weighted_bias=value("gennape_bias").reshape(-1, 2).astype(np.int64),
        regular_op=op[n_weighted:], regular_shape=shape[n_weighted:],
        edges=np.stack([value("gennape_edge_src"), value("gennape_edge_dst")], axis=1).reshape(-1, 2).astype(np.int64),
    )


def family_table(records: list[GennapeRecord]) -> pa.Table:
    arch_ids = [r.arch_id for r in records]
    if len(set(arch_ids)) != len(arch_ids):
        duplicate = next(a for a in arch_ids if arch_ids.count(a) > 1)
        raise InvalidFileError(f"architecture id {duplicate!r} occurs twice; GENNAPE's CG names should be unique")
    extra = gennape_columns(records)
    if any(r.perfs is not None for r in records):
        extra["gennape_perfs"] = pa.array([r.perfs for r in records], pa.list_(pa.float64()))
    # GENNAPE's flops/n_params units are not documented (its NB-201 helper even min-max scales FLOPs),
    # so they stay in gennape_* columns and cgbench's counts are marked unknown.
    unknown = np.full(len(records), -1, np.int64)
    return assemble_table(
        arch_ids=arch_ids, configs=[r.config for r in records],
        graphs=GraphTable.from_graphs([r.graph for r in records]), flops=unknown, params=unknown,
        labels={"acc": np.array([r.acc for r in records])}, extra=extra)


# ---------------------------------------------------------------------------------------------
# Families and the importer


class GennapeFamily(FamilySpec):
    """A family read from GENNAPE's CG_data.zip."""

    info: ClassVar[FamilyInfo]
    version = "1.0"
    raw_files = ()
    default_target = "acc"
    import_command = IMPORT_COMMAND

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        records = read_families(raw_paths[SOURCE_ID], [self.name], progress)
        if self.name not in records:
            raise InvalidFileError(f"{raw_paths[SOURCE_ID]} holds no {self.name} architectures ({self.info.file})")
        return family_table(records[self.name])


# GENNAPE's families are CGs of search spaces cgbench builds itself: the same group, so that a
# transfer track never trains on one and scores the other.
_SPACE_GROUPS = {"gennape_ofa_resnet": "ofa_resnet50"}


def _declare(info: FamilyInfo) -> type[GennapeFamily]:
    label = LabelColumn("acc", SOURCE_ID, info.dataset, info.split, info.epochs, "fraction", info.seeds, LICENCE,
                        info.label_description)
    cls = type(f"Gennape_{info.family.removeprefix('gennape_')}", (GennapeFamily,), {
        "name": info.family, "info": info, "description": info.description, "labels": (label,),
        "input_shape": info.input_shape, "space_group": _SPACE_GROUPS.get(info.family, info.family.removeprefix("gennape_")),
        "__module__": __name__,
    })
    return register_family(cls)


FAMILY_SPECS = {family: _declare(info) for family, info in FAMILIES.items()}


@register_importer("gennape")
def read_cg_data_families(path: Path, progress: bool = True) -> dict[str, ImportedFamily]:
    """The importer of ``cgbench import gennape``: every family CG_data.zip holds, converted."""
    return {family: ImportedFamily(family_table(rows), {})
            for family, rows in read_families(Path(path), progress=progress).items()}

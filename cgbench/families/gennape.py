"""GENNAPE's released CG caches (``CG_data.zip``) as nine cgbench families.

GENNAPE (Mills et al., AAAI 2023, github.com/Ascend-Research/GENNAPE, MIT licence) released its
Computation Graphs on Google Drive as ``CG_data.zip``. Its README says to unpack it and copy the
``cache`` and ``data`` folders into the repository, so the files are looked up by name anywhere
inside the zip (the zip's top folder is not documented):

- ``gpi_{nb101,nb201c10,nb301,ofa,ofa_resnet}_comp_graph_cache.pkl``: pickled lists of dicts
  ``{'compute graph': ComputeGraph, 'acc', 'flops', 'n_params' (not for NB-201), 'original config'}``.
  OFA-PN and OFA-MBv3 share ``gpi_ofa``; their CG names (``OFA-PN-Net{i}`` / ``OFA-MBV3-Net{i}``)
  tell them apart.
- ``gpi_test_{hiaml,two_path}_cifar10_labelled_cg_data.json`` and ``inception_cifar10_labelled_cg_data.json``:
  ``{key: {"net_config", "max_perf", "perfs", "cg": <ComputeGraph state dict>}}``; GENNAPE's label
  is ``max_perf / 100``.

The zip and the pickles are read by :mod:`cgbench.formats.gennape` (a restricted unpickler:
GENNAPE's four CG classes become inert stand-ins holding the attributes, and only the containers
the format needs are allowed). Every problem with a file is an
:class:`~cgbench.errors.InvalidFileError` naming the zip and the file inside it.

Conversion keeps GENNAPE's op ids (cgbench ids 0-31 are GENNAPE's) and resolutions, derives the
attributes (kernel, stride, groups, bias) from the weighted nodes' ``[Ci, Co, k1, k2]`` shape,
NHWC strides and ``use_bias``, and reorders the nodes topologically (input first, output last,
ties broken by GENNAPE's GraphDef index in ``str_id``). GENNAPE's own node features
(``ComputeGraph.get_gnn_features``, weighted nodes first) are stored beside the CG in ``gennape_*``
columns together with the node permutation, and every imported CG is checked against
:func:`cgbench.graph.features.gennape_features`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from ..errors import InvalidFileError
from ..graph.features import GENNAPE_MAX_C, GENNAPE_MAX_HW, GennapeFeatures, gennape_features
from ..graph.model import ComputationGraph, InvalidGraphError
from ..graph.vocab import N_GENNAPE_OPS, OP_ID, WEIGHTED_OPS
from ..formats.gennape import (Genotype, PickledComputeGraph, PickledRegularNode, PickledWeightedNode, load_cache,
                               read_zip_files)
from ..importers import ImportedFamily
from ..storage import GraphTable
from ..userfiles import parse_json
from .registry import register_family, register_importer
from .base import FamilySpec, LabelColumn, assemble_table

SOURCE_ID = "gennape-cg-data"
IMPORT_COMMAND = "cgbench import gennape PATH/CG_data.zip"
LICENCE = "MIT (GENNAPE repository, (c) 2022 Huawei Technologies; CG_data.zip states no separate licence)"
_GENNAPE_NORM = (GENNAPE_MAX_HW, GENNAPE_MAX_HW, GENNAPE_MAX_C)

# ---------------------------------------------------------------------------------------------
# GENNAPE's CG, independent of how it was serialised


@dataclass(frozen=True)
class GennapeNode:
    str_id: str
    label: str
    op: int
    resolution: tuple[int, int, int, int, int, int]
    strides: tuple[int, ...] | None
    metadata: Mapping
    # [Ci, Co, k1, k2] for weighted nodes, None for regular ones.
    weight_shape: tuple[int, int, int, int] | None

    @property
    def use_bias(self) -> bool:
        return bool(self.metadata.get("use_bias", False))

    @property
    def graphdef_index(self) -> int:
        """GENNAPE's str_id is ``"<GraphDef index>|<name>"``; its prepended input is ``"/added_input|0"``."""
        prefix = self.str_id.split("|", 1)[0]
        return int(prefix) if prefix.isdigit() else -1


@dataclass(frozen=True)
class GennapeCG:
    name: str
    weighted: tuple[GennapeNode, ...]
    regular: tuple[GennapeNode, ...]
    edge_pairs: np.ndarray  # (m, 2) into weighted + regular, as stored
    # max_derived_H, max_derived_W, max_hidden_size: get_gnn_features divides by these.
    norm: tuple[float, float, float]

    @property
    def nodes(self) -> tuple[GennapeNode, ...]:
        return self.weighted + self.regular


def _int_tuple(values, what: str, length: int | None = None) -> tuple[int, ...]:
    try:
        result = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidFileError(f"{what} must be a list of integers, got {values!r}") from None
    if length is not None and len(result) != length:
        raise InvalidFileError(f"{what} must have {length} entries, got {values!r}")
    return result


def _node(fields: Mapping, weighted: bool, cg_name: str) -> GennapeNode:
    where = f"CG {cg_name!r} node {fields.get('str_id')!r}"
    try:
        op = int(fields["op_type_idx"])
        resolution = fields["resolution"]
        metadata = fields.get("metadata") or {}
        strides = fields.get("strides")
        weight_shape = _int_tuple(fields["shape"], f"{where} shape", 4) if weighted else None
        str_id, label = str(fields["str_id"]), str(fields["label"])
    except KeyError as err:
        raise InvalidFileError(f"{where} lacks the attribute {err.args[0]!r} GENNAPE's nodes have") from None
    if not 0 <= op < N_GENNAPE_OPS:
        raise InvalidFileError(f"{where}: op id {op} is outside GENNAPE's 32-id vocabulary")
    if not isinstance(metadata, Mapping):
        raise InvalidFileError(f"{where}: metadata must be a dict, got {type(metadata).__name__}")
    return GennapeNode(
        str_id=str_id, label=label, op=op, resolution=_int_tuple(resolution, f"{where} resolution", 6),
        strides=None if strides is None else _int_tuple(strides, f"{where} strides"),
        metadata=metadata, weight_shape=weight_shape)


def cg_from_fields(fields: Mapping, weighted: Iterable[Mapping], regular: Iterable[Mapping]) -> GennapeCG:
    """A GENNAPE CG from its attributes (a pickled ComputeGraph's, or a ``get_cg_state_dict``)."""
    name = str(fields.get("name", ""))
    try:
        norm = (float(fields["max_derived_H"]), float(fields["max_derived_W"]), float(fields["max_hidden_size"]))
        edge_pairs = np.array([_int_tuple(p, f"CG {name!r} edge", 2) for p in fields["edge_pairs"]], np.int64)
    except KeyError as err:
        raise InvalidFileError(f"CG {name!r} lacks the attribute {err.args[0]!r} GENNAPE's ComputeGraph has") from None
    except TypeError:
        raise InvalidFileError(f"CG {name!r} has no normalisation constants (max_derived_H/W, "
                               "max_hidden_size)") from None
    return GennapeCG(
        name=name,
        weighted=tuple(_node(n, True, name) for n in weighted),
        regular=tuple(_node(n, False, name) for n in regular),
        edge_pairs=edge_pairs.reshape(-1, 2), norm=norm)


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
# Conversion


def gennape_node_features(cg: GennapeCG) -> GennapeFeatures:
    """Exactly what GENNAPE's ``ComputeGraph.get_gnn_features`` computes (weighted nodes first)."""
    max_h, max_w, max_c = cg.norm
    scale = np.array([max_h, max_h, max_w, max_w, max_c, max_c], np.float64)

    def shapes(nodes: tuple[GennapeNode, ...]) -> np.ndarray:
        return np.array([n.resolution for n in nodes], np.float64).reshape(-1, 6) / scale

    return GennapeFeatures(
        weighted_op=np.array([n.op for n in cg.weighted], np.int64),
        weighted_shape=shapes(cg.weighted),
        weighted_kernel=np.array([n.weight_shape[2:] for n in cg.weighted], np.int64).reshape(-1, 2),
        weighted_bias=np.array([[0, 1] if n.use_bias else [1, 0] for n in cg.weighted], np.int64).reshape(-1, 2),
        regular_op=np.array([n.op for n in cg.regular], np.int64),
        regular_shape=shapes(cg.regular),
        edges=cg.edge_pairs.copy(),
    )


def topological_order(cg: GennapeCG) -> np.ndarray:
    """GENNAPE node indices in a topological order: sources first, the output node last, ties by GraphDef index."""
    nodes = cg.nodes
    n = len(nodes)
    if cg.edge_pairs.size and (cg.edge_pairs.min() < 0 or cg.edge_pairs.max() >= n):
        raise InvalidFileError(f"CG {cg.name!r}: an edge pair points outside its {n} nodes")
    children: list[list[int]] = [[] for _ in range(n)]
    indegree = np.zeros(n, np.int64)
    for src, dst in cg.edge_pairs:
        children[src].append(int(dst))
        indegree[dst] += 1

    def key(i: int) -> tuple[bool, int, int]:
        return (nodes[i].op == OP_ID["output"], nodes[i].graphdef_index, i)

    ready = [key(i) for i in range(n) if indegree[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)[2]
        order.append(i)
        for child in children[i]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, key(child))
    if len(order) != n:
        raise InvalidFileError(f"CG {cg.name!r} has a cycle: it is not a DAG")
    return np.array(order, np.int64)


def _pair_from_nhwc(values: tuple[int, ...] | None, data_format: str) -> tuple[int, int]:
    if values is None:
        return (0, 0)
    if len(values) == 4:
        return (values[2], values[3]) if data_format == "NCHW" else (values[1], values[2])
    if len(values) == 2:
        return (values[0], values[1])
    raise InvalidFileError(f"a stride or window must have 2 or 4 entries, got {values!r}")


def node_attr(node: GennapeNode) -> tuple[int, int, int, int, int, int]:
    """cgbench's (kernel_h, kernel_w, stride_h, stride_w, groups, bias), as capture writes them for torch layers."""
    data_format = str(node.metadata.get("data_format", "NHWC")).upper()
    if node.weight_shape is not None:
        c_in, _, k1, k2 = node.weight_shape
        if node.op == OP_ID["matmul"]:
            return (0, 0, 0, 0, 1, int(node.use_bias))
        stride_h, stride_w = _pair_from_nhwc(node.strides, data_format)
        groups = (c_in or node.resolution[4]) if node.op == OP_ID["depthwise"] else 1
        return (k1, k2, stride_h, stride_w, groups, int(node.use_bias))
    if node.op in (OP_ID["maxpool"], OP_ID["avgpool"]):
        window = node.metadata.get("ksize")
        kernel = _pair_from_nhwc(None if window is None else _int_tuple(window, "ksize"), data_format)
        return (*kernel, *_pair_from_nhwc(node.strides, data_format), 0, 0)
    return (0, 0, 0, 0, 0, 0)


def _check_node_types(cg: GennapeCG) -> None:
    """cgbench calls a node weighted by its op; GENNAPE by its type. They must agree for its feature layout."""
    for nodes, weighted in ((cg.weighted, True), (cg.regular, False)):
        for node in nodes:
            if (node.op in WEIGHTED_OPS) != weighted:
                kind = "weighted" if weighted else "regular"
                raise InvalidFileError(f"CG {cg.name!r}: {kind} node {node.str_id!r} has op id {node.op}; GENNAPE's "
                                       f"weighted nodes are exactly its conv, depthwise and matmul nodes")


def convert(cg: GennapeCG) -> tuple[ComputationGraph, np.ndarray]:
    """The cgbench CG of a GENNAPE CG, and for each of its nodes the node's index in GENNAPE's order."""
    _check_node_types(cg)
    order = topological_order(cg)
    nodes = cg.nodes
    position = np.empty(len(nodes), np.int64)
    position[order] = np.arange(len(nodes))
    edges = position[cg.edge_pairs] if len(cg.edge_pairs) else np.zeros((0, 2), np.int64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    graph = ComputationGraph(
        op=np.array([nodes[i].op for i in order]),
        shape=np.array([nodes[i].resolution for i in order]),
        attr=np.array([node_attr(nodes[i]) for i in order]),
        edges=edges,
    )
    try:
        graph.validate()
    except InvalidGraphError as err:
        raise InvalidFileError(f"CG {cg.name!r} does not make a valid cgbench CG: {err}") from None
    return graph, order


def check_gennape_features(graph: ComputationGraph, gennape_index: np.ndarray, kept: GennapeFeatures,
                           norm: tuple[float, float, float] = _GENNAPE_NORM) -> None:
    """Raise InvalidFileError unless ``gennape_features(graph)`` is ``kept`` up to the node permutation.

    ``gennape_index[i]`` is node i's index in GENNAPE's weighted-first list. The shape floats are
    compared only when the CG was normalised with GENNAPE's fixed constants, as cgbench's are.
    """
    ours = gennape_features(graph)
    weighted = np.flatnonzero(graph.weighted)
    regular = np.flatnonzero(~graph.weighted)
    n_weighted = len(kept.weighted_op)
    if len(weighted) != n_weighted or (gennape_index[weighted] >= n_weighted).any():
        raise InvalidFileError("the weighted nodes differ from GENNAPE's")
    w_rows, r_rows = gennape_index[weighted], gennape_index[regular] - n_weighted
    compared = {
        "op": (np.concatenate([ours.weighted_op, ours.regular_op]),
               np.concatenate([kept.weighted_op[w_rows], kept.regular_op[r_rows]])),
        "kernel": (ours.weighted_kernel, kept.weighted_kernel[w_rows]),
        "bias": (ours.weighted_bias, kept.weighted_bias[w_rows]),
    }
    if tuple(norm) == _GENNAPE_NORM:
        compared["shape"] = (np.concatenate([ours.weighted_shape, ours.regular_shape]),
                             np.concatenate([kept.weighted_shape[w_rows], kept.regular_shape[r_rows]])
                             .astype(np.float32))
    ours_order = np.concatenate([weighted, regular])
    ours_edges = gennape_index[ours_order[ours.edges]] if len(ours.edges) else ours.edges
    compared["edges"] = (np.unique(ours_edges, axis=0), np.unique(kept.edges.reshape(-1, 2), axis=0))
    for what, (a, b) in compared.items():
        if not np.array_equal(a, b):
            raise InvalidFileError(f"gennape_features of the converted CG differ from GENNAPE's in {what}")


# ---------------------------------------------------------------------------------------------
# Reading CG_data.zip


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


def _cache_family(file: str, cg: GennapeCG) -> str:
    if file != FAMILIES["gennape_ofa_pn"].file:
        return next(info.family for info in FAMILIES.values() if info.file == file)
    for prefix, family in _OFA_PREFIXES.items():
        if cg.name.startswith(prefix):
            return family
    raise InvalidFileError(f"{file}: CG name {cg.name!r} is neither OFA-PN-Net<i> nor OFA-MBV3-Net<i>")


def read_cache(where: str, file: str, data: bytes, progress: bool = False) -> dict[str, list[GennapeRecord]]:
    """The records of a pickled cache ``file`` (``where`` names it in errors), by family."""
    entries = load_cache(data, where)
    if not isinstance(entries, list):
        raise InvalidFileError(f"{where} must hold a list of dicts, got {type(entries).__name__}")
    records: dict[str, list[GennapeRecord]] = {}
    for entry in tqdm(entries, desc=file, disable=not progress):
        if not isinstance(entry, Mapping) or "compute graph" not in entry:
            raise InvalidFileError("every entry must be a dict with a 'compute graph'")
        cg = cg_from_pickled(entry["compute graph"])
        records.setdefault(_cache_family(file, cg), []).append(_record(
            cg.name, cg, entry.get("original config"), entry.get("acc"), entry.get("flops"), entry.get("n_params")))
    return records


def read_labelled_json(where: str, data: bytes, progress: bool = False) -> list[GennapeRecord]:
    """The records of a labelled-CG JSON file (``where`` names it in errors)."""
    entries = parse_json(data, where)
    if not isinstance(entries, dict):
        raise InvalidFileError(f"{where} must hold a JSON object of architectures")
    records = []
    for key, entry in tqdm(entries.items(), desc=where.rsplit("/", 1)[-1], disable=not progress):
        if not isinstance(entry, dict) or "cg" not in entry or "max_perf" not in entry:
            raise InvalidFileError(f"architecture {key!r} needs 'cg' and 'max_perf'")
        perfs = entry.get("perfs") or []
        if not isinstance(perfs, list):
            raise InvalidFileError(f"architecture {key!r}: 'perfs' must be a list of numbers")
        records.append(_record(str(key), cg_from_state_dict(entry["cg"]), entry.get("net_config"),
                               _number(entry["max_perf"], f"{key} max_perf") / 100, None, None,
                               [_number(p, f"{key} perfs") for p in perfs]))
    return records


def _read_file(path: Path, name: str, data: bytes, progress: bool) -> dict[str, list[GennapeRecord]]:
    """The records of one GENNAPE file of the zip, by family; every error names the zip and the file."""
    where = f"{path}: {name}"
    try:
        if name.endswith(".pkl"):
            records = read_cache(where, name, data, progress)
        else:
            records = {next(i.family for i in FAMILIES.values() if i.file == name):
                       read_labelled_json(where, data, progress)}
    except InvalidFileError as err:
        message = str(err)
        raise InvalidFileError(message if message.startswith(where) else f"{where}: {message}") from None
    if not any(records.values()):
        raise InvalidFileError(f"{where} holds no architectures")
    return records


def read_cg_data(path: Path, families: Iterable[str] | None = None,
                 progress: bool = True) -> dict[str, list[GennapeRecord]]:
    """Every family of ``families`` (default: all) that CG_data.zip at ``path`` holds, converted."""
    families = set(FAMILIES if families is None else families)
    contents = read_zip_files(Path(path), {FAMILIES[f].file for f in families})
    records: dict[str, list[GennapeRecord]] = {}
    for name, data in sorted(contents.items()):
        for family, rows in _read_file(Path(path), name, data, progress).items():
            records.setdefault(family, []).extend(rows)
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
        records = read_cg_data(raw_paths[SOURCE_ID], [self.name], progress)
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
            for family, rows in read_cg_data(Path(path), progress=progress).items()}

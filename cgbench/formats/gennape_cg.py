"""GENNAPE's Computation Graphs, however they were serialised, and their conversion to cgbench's CG.

A GENNAPE ``ComputeGraph`` (``model_src/comp_graph/tf_comp_graph.py``) holds weighted nodes (conv,
depthwise, matmul; with a ``[Ci, Co, k1, k2]`` weight shape) and regular nodes, each with an op id,
a six-number resolution, NHWC strides and metadata, and ``edge_pairs`` into the weighted-first
node list. :func:`cg_from_fields` builds a :class:`GennapeCG` from those attributes; the readers of
GENNAPE's files (:mod:`cgbench.formats.gennape`) hand it a pickled graph's or a state dict's.

Conversion keeps GENNAPE's op ids (cgbench ids 0-31 are GENNAPE's) and resolutions, derives the
attributes (kernel, stride, groups, bias) from the weighted nodes' ``[Ci, Co, k1, k2]`` shape,
NHWC strides and ``use_bias``, and reorders the nodes topologically (input first, output last,
ties broken by GENNAPE's GraphDef index in ``str_id``). GENNAPE's own node features
(``ComputeGraph.get_gnn_features``, weighted nodes first) are computed beside the CG, and
:func:`check_gennape_features` checks them against :func:`cgbench.graph.features.gennape_features`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidFileError
from ..graph.features import GENNAPE_MAX_C, GENNAPE_MAX_HW, GennapeFeatures, gennape_features
from ..graph.model import ComputationGraph, InvalidGraphError
from ..graph.vocab import N_GENNAPE_OPS, OP_ID, WEIGHTED_OPS

_GENNAPE_NORM = (GENNAPE_MAX_HW, GENNAPE_MAX_HW, GENNAPE_MAX_C)


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

"""Node features: GENNAPE's exactly, and cgbench's default features for learning.

GENNAPE normalises H and W by 256 and C by 512 for every family (its fixed
``_DOMAIN_CONFIGS["classification"]`` constants), orders weighted nodes first, and gives
weighted nodes their kernel as raw ints plus a one-hot bias flag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import ComputationGraph
from .vocab import WEIGHTED_OPS, gennape_op_id

GENNAPE_MAX_HW = 256
GENNAPE_MAX_C = 512
# Column names of ``node_features``; the op id travels separately (for an embedding).
NODE_FEATURE_NAMES = (
    "h_in", "h_out", "w_in", "w_out", "c_in", "c_out",
    "kernel_h", "kernel_w", "stride_h", "stride_w", "bias",
)
_SHAPE_SCALE = np.array([GENNAPE_MAX_HW] * 4 + [GENNAPE_MAX_C] * 2, np.float32)


def normalised_shapes(shape: np.ndarray) -> np.ndarray:
    return shape.astype(np.float32) / _SHAPE_SCALE


def node_features(shape: np.ndarray, attr: np.ndarray) -> np.ndarray:
    """cgbench's default float features: GENNAPE's 6 shape floats, then raw window attributes."""
    return np.concatenate(
        [normalised_shapes(shape), attr[:, :4].astype(np.float32), attr[:, 5:6].astype(np.float32)], axis=1
    )


@dataclass
class GennapeFeatures:
    """One CG in GENNAPE's layout: weighted nodes first, then regular nodes."""

    weighted_op: np.ndarray  # (n_w,) GENNAPE op ids
    weighted_shape: np.ndarray  # (n_w, 6) normalised floats
    weighted_kernel: np.ndarray  # (n_w, 2) raw ints
    weighted_bias: np.ndarray  # (n_w, 2) one-hot: [1, 0] no bias, [0, 1] bias
    regular_op: np.ndarray  # (n_r,)
    regular_shape: np.ndarray  # (n_r, 6)
    edges: np.ndarray  # (m, 2) into the weighted-first node order, sorted


def gennape_features(cg: ComputationGraph) -> GennapeFeatures:
    is_weighted = np.isin(cg.op, list(WEIGHTED_OPS))
    order = np.concatenate([np.flatnonzero(is_weighted), np.flatnonzero(~is_weighted)])
    position = np.empty(cg.n_nodes, np.int64)
    position[order] = np.arange(cg.n_nodes)
    ops = np.array([gennape_op_id(int(o)) for o in cg.op], np.int64)
    shapes = normalised_shapes(cg.shape)
    bias = cg.attr[is_weighted, 5]
    edges = position[cg.edges] if cg.n_edges else np.zeros((0, 2), np.int64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    return GennapeFeatures(
        weighted_op=ops[is_weighted],
        weighted_shape=shapes[is_weighted],
        weighted_kernel=cg.attr[is_weighted, :2].astype(np.int64),
        weighted_bias=np.stack([1 - bias, bias], axis=1).astype(np.int64),
        regular_op=ops[~is_weighted],
        regular_shape=shapes[~is_weighted],
        edges=edges,
    )

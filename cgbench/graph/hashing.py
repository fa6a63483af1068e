"""An isomorphism-invariant canonical hash of a CG, Weisfeiler-Lehman style.

Node colours start from a 64-bit mix of (op, resolution, attributes). Because a CG is a DAG,
refinement runs in topological order instead of in rounds: a node's upward colour mixes its own
colour with the multiset of its producers' upward colours (so it summarises its whole ancestry),
and its downward colour does the same over its consumers. Multisets are summed after mixing,
which is order-free. A graph's hash is a digest of its sorted final node colours.

The work is vectorised over a whole :class:`~cgbench.storage.GraphTable` at once (Kahn's
algorithm, one step per topological level across every graph), so hashing 15k graphs costs a
few hundred numpy calls rather than a Python loop per node.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .arrays import sorted_unique
from .model import ComputationGraph

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SALT = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD6E8FEB86659FD93), np.uint64(0xA0761D6478BD642F))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective, well-spread 64-bit mix (in place on one new array:
    hashing a family mixes millions of colours dozens of times)."""
    y = x >> np.uint64(30)
    y ^= x
    y *= _M1
    y ^= y >> np.uint64(27)
    y *= _M2
    y ^= y >> np.uint64(31)
    return y


def _initial_colours(op: np.ndarray, shape: np.ndarray, attr: np.ndarray) -> np.ndarray:
    columns = np.concatenate([op[:, None].astype(np.int64), shape, attr], axis=1).astype(np.uint64)
    colour = np.zeros(len(op), np.uint64)
    for column in columns.T:
        colour = _mix(colour ^ _mix(column + _SALT[0]))
    return colour


def _propagate(initial: np.ndarray, src: np.ndarray, dst: np.ndarray, salt: np.uint64) -> np.ndarray:
    """colour[v] = mix(initial[v] ^ sum(mix(colour[u] ^ salt) for u -> v)), in topological order."""
    n = len(initial)
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    out_ptr = np.searchsorted(src, np.arange(n + 1))
    pending = np.bincount(dst, minlength=n)
    acc = np.zeros(n, np.uint64)
    colour = np.zeros(n, np.uint64)
    frontier = np.flatnonzero(pending == 0)
    while len(frontier):
        colour[frontier] = _mix(initial[frontier] ^ acc[frontier])
        starts, stops = out_ptr[frontier], out_ptr[frontier + 1]
        counts = stops - starts
        edge_ids = np.repeat(stops - counts.cumsum(), counts) + np.arange(counts.sum())
        targets = dst[edge_ids]
        np.add.at(acc, targets, _mix(colour[src[edge_ids]] ^ salt))
        np.subtract.at(pending, targets, 1)
        # Nodes whose last producer was just coloured; a node fed twice in this step appears twice.
        frontier = sorted_unique(targets[pending[targets] == 0])
    return colour


def node_colours(op: np.ndarray, shape: np.ndarray, attr: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Final colour of every node of one graph or of many concatenated (global node ids)."""
    initial = _initial_colours(op, shape, attr)
    with np.errstate(over="ignore"):
        up = _propagate(initial, edges[:, 0], edges[:, 1], _SALT[1])
        down = _propagate(initial, edges[:, 1], edges[:, 0], _SALT[2])
        return _mix(up ^ (down * _M1))


def _digest(n_nodes: int, n_edges: int, sorted_colours: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.array([n_nodes, n_edges], np.int64).tobytes())
    digest.update(sorted_colours.tobytes())
    return digest.hexdigest()


def canonical_hash(cg: ComputationGraph) -> str:
    """A hex digest equal for isomorphic CGs (same ops, shapes, attributes and wiring)."""
    colours = node_colours(cg.op, cg.shape, cg.attr, cg.edges)
    return _digest(cg.n_nodes, cg.n_edges, np.sort(colours))


def canonical_hashes(node_ptr: np.ndarray, edge_ptr: np.ndarray, op: np.ndarray, shape: np.ndarray,
                     attr: np.ndarray, edges: np.ndarray) -> list[str]:
    """``canonical_hash`` of every graph of a CSR batch (see ``cgbench.storage.GraphTable``)."""
    n_graphs = len(node_ptr) - 1
    edge_graph = np.repeat(np.arange(n_graphs), np.diff(edge_ptr))
    global_edges = edges.astype(np.int64) + node_ptr[:-1][edge_graph, None]
    colours = node_colours(op, shape, attr, global_edges)
    node_graph = np.repeat(np.arange(n_graphs), np.diff(node_ptr))
    colours = colours[np.lexsort((colours, node_graph))]
    return [
        _digest(int(node_ptr[g + 1] - node_ptr[g]), int(edge_ptr[g + 1] - edge_ptr[g]),
                colours[node_ptr[g]:node_ptr[g + 1]])
        for g in range(n_graphs)
    ]

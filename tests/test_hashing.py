import numpy as np
import pytest

from cgbench.families.nb201 import SPACE, parse_arch_string
from cgbench.graph import ComputationGraph, canonical_hash
from cgbench.graph.hashing import canonical_hashes
from cgbench.storage import GraphTable


@pytest.fixture(scope="module")
def composer():
    return SPACE


def _hash(composer, text):
    return canonical_hash(composer.composed(parse_arch_string(text)).graph)


def test_isomorphic_cells_hash_equal(composer):
    # With edge 1->2 absent, nodes 1 and 2 are interchangeable: swap their roles.
    a = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    b = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    assert parse_arch_string(a) != parse_arch_string(b)
    assert _hash(composer, a) == _hash(composer, b)


@pytest.mark.parametrize("other", [
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",  # one op differs
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",  # ops swapped, not wiring
    "|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",  # extra edge
])
def test_different_cells_hash_differently(composer, other):
    base = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    assert _hash(composer, base) != _hash(composer, other)


def _permuted(cg: ComputationGraph, seed: int) -> ComputationGraph:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(cg.n_nodes)  # new position of old node i
    inverse = np.argsort(perm)
    return ComputationGraph(cg.op[inverse], cg.shape[inverse], cg.attr[inverse], perm[cg.edges])


def test_hash_ignores_node_numbering(composer):
    cg = composer.composed(parse_arch_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")).graph
    assert canonical_hash(_permuted(cg, 1)) == canonical_hash(cg)


def test_shape_features_enter_the_hash(composer):
    cg = composer.composed(parse_arch_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")).graph
    shape = cg.shape.copy()
    shape[5, 4] += 1
    assert canonical_hash(ComputationGraph(cg.op, shape, cg.attr, cg.edges)) != canonical_hash(cg)


def test_batched_hashes_match_single_hashes(composer):
    cells = ["|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",
             "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"]
    graphs = [composer.composed(parse_arch_string(c)).graph for c in cells]
    table = GraphTable.from_graphs(graphs)
    batched = canonical_hashes(table.node_ptr, table.edge_ptr, table.op, table.shape, table.attr, table.edges)
    assert batched == [canonical_hash(g) for g in graphs]

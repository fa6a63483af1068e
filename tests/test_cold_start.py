"""Fast, talkative builds: CGs are composed raw and cleaned up in batches (``simplify_many``), which
must give exactly the CGs composed one by one; every build phase is announced."""

import numpy as np
import pytest

from cgbench.families import search_spaces
from cgbench.families.fragments import Composer, FragmentCache, compose_family
from cgbench.families.nb201 import SPACE as NB201
from cgbench.families.nb201 import all_cells
from cgbench.graph import ComputationGraph, InvalidGraphError
from cgbench.graph.compose import RawGraphs, simplify, simplify_many
from cgbench.graph.vocab import OP_ID
from cgbench.storage import GraphTable

SPACES = search_spaces()


@pytest.mark.parametrize("name", sorted(SPACES))
def test_batched_composition_equals_composing_one_by_one(name):
    space = SPACES[name]
    configs = space.sample_unique(4, seed=11)
    table, flops, params = compose_family(type(space)(), configs, progress=False)
    one_by_one = [space.composed(c) for c in configs]
    assert [table.graph(i) for i in range(len(configs))] == [r.graph for r in one_by_one]
    assert flops.tolist() == [r.flops for r in one_by_one] and params.tolist() == [r.params for r in one_by_one]


def test_all_nb201_cells_with_zeros_and_cut_off_cells_batch_like_single_graphs():
    cells = list(all_cells())[::97]  # 162 cells, many with none edges (zero folding, dead code)
    cache = FragmentCache()
    builders = []
    for cell in cells:
        composer = Composer(cache, deferred=True)
        NB201.compose(cell, composer)
        builders.append(composer.builder)
    raw = RawGraphs.of(builders)
    kept, node_ptr, edge_ptr, edges = simplify_many(raw.node_ptr, raw.op, raw.src, raw.dst)
    batched = GraphTable(node_ptr, edge_ptr, raw.op[kept], raw.shape[kept], raw.attr[kept], edges)
    singles = [b.finish() for b in builders]
    assert [batched.graph(i) for i in range(len(cells))] == singles
    assert {"zero"} <= {op for g in singles for op in g.op_counts()}


def _graph(ops, edges):
    n = len(ops)
    shape = np.tile(np.arange(6, dtype=np.int32), (n, 1))
    return np.array([OP_ID[o] for o in ops], np.int16), shape, np.zeros((n, 6), np.int32), np.array(edges, np.int32)


def test_simplify_folds_zeros_merges_add_chains_and_drops_dead_code():
    # 0 input -> 1 conv -> 2 zero; 3 relu(zero) is zero; 4 add(conv, relu-of-zero) is conv alone;
    # 5 mul(conv, zero) is zero; 6 conv2(input); 7 add(conv2, conv) -> 8 add(7, input) merges into one add;
    # 9 relu(input) feeds nothing that reaches the output.
    ops = ["input", "conv", "zero", "relu", "add", "mul", "conv", "add", "add", "relu", "concat", "output"]
    edges = [(0, 1), (1, 2), (2, 3), (1, 4), (3, 4), (1, 5), (2, 5), (0, 6), (6, 7), (4, 7), (7, 8), (0, 8),
             (0, 9), (8, 10), (5, 10), (10, 11)]
    cg = simplify(*_graph(ops, edges), names=None)
    assert cg.op_names() == ["input", "conv", "zero", "conv", "add", "concat", "output"]
    # the n-ary add takes conv2, conv (the add(conv, zero) is conv) and the input; the concat takes the zero
    add, concat = 4, 5
    assert sorted(s for s, t in cg.edges.tolist() if t == add) == [0, 1, 3]
    assert sorted(s for s, t in cg.edges.tolist() if t == concat) == [2, 4]
    assert cg.edges.tolist() == sorted(cg.edges.tolist())


def test_graph_table_validate_names_the_broken_graph():
    good = ComputationGraph(*_graph(["input", "relu", "output"], [(0, 1), (1, 2)]))
    orphan = ComputationGraph(*_graph(["input", "relu", "relu", "output"], [(0, 1), (1, 3)]))
    GraphTable.from_graphs([good, good]).validate()
    with pytest.raises(InvalidGraphError, match=r"graph 1: node 2 \(relu\) has no input"):
        GraphTable.from_graphs([good, orphan]).validate()
    backwards = ComputationGraph(*_graph(["input", "relu", "output"], [(0, 1), (2, 1), (1, 2)]))
    with pytest.raises(InvalidGraphError, match="graph 2: edges must run from a lower"):
        GraphTable.from_graphs([good, good, backwards]).validate()


def test_a_first_build_announces_every_phase(tmp_path, monkeypatch, capfd):
    from cgbench.dataset import load_families
    from cgbench.progress import recorded_phases

    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path))
    with recorded_phases() as phases:
        family = load_families(["nasbench_macro"])["nasbench_macro"]
    err = capfd.readouterr().err
    assert len(family) == 3 ** 8
    for line in ("building nasbench_macro (1 of 1) (first use", "nasbench_macro: fetching 1 raw file(s) ...",
                 "nasbench_macro: reading the raw files and composing the CGs ...", "nasbench_macro: composing CGs",
                 "hashing 6,561 CGs", "nasbench_macro: computing the standard splits ...",
                 "nasbench_macro: writing Parquet files and manifest to"):
        assert line in err, line
    assert [p[0].split(" ")[0] for p in phases][-1] == "building"
    assert all(wall >= 0 and cpu >= 0 for _, wall, cpu in phases)
    load_families(["nasbench_macro"], progress=True)  # built: nothing to announce
    assert "building" not in capfd.readouterr().err

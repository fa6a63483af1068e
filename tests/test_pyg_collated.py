import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from cgbench.pyg import CollatedGraphs

BATCH_KEYS = ("op", "x", "edge_index", "batch", "ptr", "flops", "y")


def _assert_same_batch(ours, reference):
    assert ours.num_graphs == reference.num_graphs
    for key in BATCH_KEYS:
        assert torch.equal(getattr(ours, key), getattr(reference, key)), key


def test_collated_batches_equal_pyg_collation_of_the_same_rows(nb201):
    dataset = nb201.to_pyg()
    rows = np.random.default_rng(0).permutation(len(nb201))[:300]
    reference = Batch.from_data_list([dataset[int(i)] for i in rows])
    _assert_same_batch(dataset.collated(rows).batch(), reference)
    # A selection of a selection, in a new order, is the same as selecting those rows directly.
    order = np.array([299, 0, 150, 7])
    _assert_same_batch(dataset.collated(rows).batch(order), Batch.from_data_list([dataset[int(i)] for i in rows[order]]))


def test_concatenated_sets_batch_like_one_selection(nb201):
    dataset = nb201.to_pyg()
    rows = np.arange(40, 90)
    joined = CollatedGraphs.concat([dataset.collated(rows[:20]), dataset.collated(rows[20:])])
    _assert_same_batch(joined.batch(), dataset.collated(rows).batch())
    assert len(joined) == 50


def test_bad_rows_are_refused_with_the_valid_range(nb201):
    dataset = nb201.to_pyg()
    with pytest.raises(IndexError, match=r"\[0, 15625\)"):
        dataset.collated([0, len(nb201)])
    with pytest.raises(ValueError, match="1-D integer"):
        dataset.collated(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="at least one"):
        CollatedGraphs.concat([])
    assert len(dataset.collated([])) == 0

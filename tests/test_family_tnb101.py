from collections import Counter

import numpy as np
import pytest
import torch

from cgbench.families.cross_task import CROSS_TASK_FILE, read_cross_task
from cgbench.families.tnb101 import (MACRO_SPACE, MICRO_SPACE, MICRO_TASKS, TASKS, _SYNFLOW, _ZEN,
                                     from_naslib_graph_indices, micro_arch_string, read_naslib_tasks)
from cgbench.metrics import spearman
from cgbench.sources import fetch


@pytest.fixture(scope="module")
def micro(cgbench_home):
    from cgbench import load_family

    return load_family("tnb101_micro", progress=False)


@pytest.fixture(scope="module")
def macro(cgbench_home):
    from cgbench import load_family

    return load_family("tnb101_macro", progress=False)


def test_enumerations_are_complete_and_distinct():
    cells = [MICRO_SPACE.arch_id(c) for c in MICRO_SPACE.enumerate()]
    assert len(cells) == len(set(cells)) == 4096
    assert cells[0] == "64-41414-0_00_000" and cells[-1] == "64-41414-3_33_333"
    codes = [MACRO_SPACE.arch_id(c) for c in MACRO_SPACE.enumerate()]
    assert len(codes) == len(set(codes)) == 3256
    assert Counter(len(c) for c in MACRO_SPACE.enumerate()) == {4: 210, 5: 750, 6: 2296}


def test_parse_examples_and_rejections():
    assert MICRO_SPACE.parse("64-41414-3_13_302") == (3, 1, 3, 3, 0, 2)
    assert MACRO_SPACE.parse("64-41414-basic") == (4, 1, 4, 1, 4)
    for bad in ("64-41414-4_00_000", "64-41414-3_33_33", "32-41414-3_33_333", "64-1234-basic"):
        with pytest.raises(ValueError):
            MICRO_SPACE.parse(bad)
    for bad in ("64-1111-basic", "64-2222-basic", "64-3333333-basic", "64-12341234-basic", "64-41414-3_33_333"):
        with pytest.raises(ValueError):
            MACRO_SPACE.parse(bad)
    # four downsamplings are allowed, four doublings are not
    assert MACRO_SPACE.parse("64-3332-basic") == (3, 3, 3, 2)
    with pytest.raises(ValueError, match="1-3 channel doublings"):
        MACRO_SPACE.parse("64-2224-basic")


def test_forward_passes_with_shape_changing_skips_and_zeros():
    for net in (MICRO_SPACE.build(MICRO_SPACE.parse("64-41414-1_01_001")),
                MICRO_SPACE.build(MICRO_SPACE.parse("64-41414-0_23_013")),
                MACRO_SPACE.build(MACRO_SPACE.parse("64-444311-basic"))):
        with torch.no_grad():
            out = net.eval()(torch.randn(2, 3, 128, 128))
        assert out.shape == (2, 75) and torch.isfinite(out).all()


def test_naslib_encoding_covers_each_architecture_exactly_once(cgbench_home):
    micro_tasks = read_naslib_tasks(fetch(_SYNFLOW, progress=False), "micro")
    assert sorted(micro_tasks) == sorted(MICRO_TASKS)
    for records in micro_tasks.values():
        assert set(records) == set(MICRO_SPACE.enumerate())
    macro_tasks = read_naslib_tasks(fetch(_ZEN, progress=False), "macro")
    assert sorted(macro_tasks) == sorted(TASKS)
    for records in macro_tasks.values():
        assert set(records) == set(MACRO_SPACE.enumerate())


def test_macro_tasks_in_both_zips_agree_exactly(cgbench_home):
    zen = read_naslib_tasks(fetch(_ZEN, progress=False), "macro")
    synflow = read_naslib_tasks(fetch(_SYNFLOW, progress=False), "macro")
    assert sorted(synflow) == sorted(MICRO_TASKS)
    for task, records in synflow.items():
        assert records == zen[task]


def _check_labels(family, tasks, n, cross_task=()):
    assert len(family) == n
    assert sorted(family.targets) == sorted([*(TASKS[t][0] for t in tasks), *cross_task])
    for task in tasks:
        values = family.labels(TASKS[task][0])
        assert len(values) == n and not np.isnan(values).any()
        if task == "room_layout":
            assert values.max() < 0
        elif task in ("normal", "autoencoder"):
            assert 0 < values.min() < values.max() < 1
        else:
            assert 0 < values.min() < values.max() < 100


def test_micro_family(micro):
    _check_labels(micro, MICRO_TASKS, 4096, ("svhn_val_acc", "scifar100_val_acc", "ninapro_val_acc"))
    assert micro.default_target == "class_object_valid_top1"
    assert len(set(micro.table.column("wl_hash").to_pylist())) == 1376
    assert len(micro.to_pyg()) == 4096


def test_micro_cells_with_a_cut_off_output_share_one_cg(micro):
    def output_is_zero(cell):
        zero = [False]
        for j in (1, 2, 3):
            edges = [(i, op) for (i, jj), op in zip(((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)), cell) if jj == j]
            zero.append(all(op == 0 or zero[i] for i, op in edges))
        return zero[3]

    cut = np.array([output_is_zero(MICRO_SPACE.parse(a)) for a in micro.arch_ids])
    hashes = np.array(micro.table.column("wl_hash").to_pylist())
    assert cut.sum() > 0
    assert len(set(hashes[cut])) == 1
    assert not set(hashes[cut]) & set(hashes[~cut])


def test_macro_family(macro):
    _check_labels(macro, tuple(TASKS), 3256)
    assert len(set(macro.table.column("wl_hash").to_pylist())) == 3256
    assert len(macro.to_pyg()) == 3256


def test_cross_task_cells_use_naslibs_graph_encoding_not_the_transnas_digits(micro):
    """9x_all.zip's micro tuples are NASLib's op indices (Identity, Zero, conv3x3, conv1x1) on NASLib's
    edge order. Read that way, the parameter counts of NASLib's (smaller) network rank exactly like ours;
    read as TransNAS digits, they do not rank at all."""
    records = read_cross_task(fetch(CROSS_TASK_FILE, progress=False), "transbench101_micro")["svhn"]
    assert len(records) == 192
    params = micro.table.column("params").to_numpy()
    row = {arch_id: i for i, arch_id in enumerate(micro.arch_ids)}
    theirs = [r.scores["params"] for r in records.values()]
    graph = [params[row[micro_arch_string(from_naslib_graph_indices(a))]] for a in records]
    digits = [params[row[micro_arch_string(a)]] for a in records]
    assert spearman(graph, theirs) > 0.999
    assert abs(spearman(digits, theirs)) < 0.2
    for task in ("svhn", "scifar100", "ninapro"):
        labelled = ~np.isnan(micro.labels(f"{task}_val_acc"))
        assert labelled.sum() == 192
    svhn = micro.labels("svhn_val_acc")
    for arch, record in list(records.items())[:20]:
        assert svhn[row[micro_arch_string(from_naslib_graph_indices(arch))]] == record.val_accuracy

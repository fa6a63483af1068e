import numpy as np
import pytest
import torch

from cgbench.families.nasbench_macro import SPACE, trained_arch
from cgbench.metrics import label_agreement

RUNS = ("c10_test_acc_run1", "c10_test_acc_run2", "c10_test_acc_run3")


@pytest.fixture(scope="module")
def macro(cgbench_home):
    from cgbench import load_family

    return load_family("nasbench_macro", progress=False)


def test_enumeration_is_complete_and_distinct():
    ids = [SPACE.arch_id(c) for c in SPACE.enumerate()]
    assert len(ids) == len(set(ids)) == 3 ** 8
    assert ids[0] == "00000000" and ids[-1] == "22222222"


def test_parse_rejects_wrong_strings():
    for bad in ("0120120", "012012012", "01201203", "0120 120"):
        with pytest.raises(ValueError, match="NAS-Bench-Macro"):
            SPACE.parse(bad)


def test_forward_pass_of_the_largest_and_the_smallest_network():
    for arch in ("22222222", "00000000"):
        net = SPACE.build(SPACE.parse(arch)).eval()
        with torch.no_grad():
            out = net(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_trained_arch_moves_later_identities_to_the_stage_end():
    assert trained_arch(SPACE.parse("01002010")) == SPACE.parse("01020010")
    assert trained_arch(SPACE.parse("20001001")) == SPACE.parse("20010010")
    assert trained_arch(SPACE.parse("01020120")) == SPACE.parse("01020120")


def test_family_lists_every_architecture_with_all_labels(macro):
    assert len(macro) == 6561
    assert sorted(macro.arch_ids) == sorted(SPACE.arch_id(c) for c in SPACE.enumerate())
    for name in ("c10_test_acc_mean", "c10_test_acc_std", *RUNS):
        values = macro.labels(name)
        assert len(values) == 6561 and not np.isnan(values).any(), name
    runs = np.stack([macro.labels(r) for r in RUNS])
    assert np.allclose(runs.mean(0), macro.labels("c10_test_acc_mean"))
    assert np.allclose(runs.std(0), macro.labels("c10_test_acc_std"))
    assert 45 < macro.labels().min() < macro.labels().max() < 94


def test_params_equal_and_flops_are_twice_the_benchmarks_multiply_adds(macro):
    t = macro.table
    assert np.array_equal(t.column("params").to_numpy(), t.column("bench_params").to_numpy())
    assert np.array_equal(t.column("flops").to_numpy(), 2 * t.column("bench_flops").to_numpy())


def test_equivalent_strings_share_one_cg_and_one_training(macro):
    trained = np.array(macro.table.column("trained_arch").to_pylist())
    hashes = np.array(macro.table.column("wl_hash").to_pylist())
    assert len(set(trained)) == len(set(hashes)) == 3969
    for arch in np.unique(trained)[:500]:
        rows = trained == arch
        assert len(set(hashes[rows])) == 1
        for run in RUNS:
            assert len(set(macro.labels(run)[rows])) == 1


def test_run_to_run_label_noise_ceiling(macro):
    trained = np.array(macro.table.column("trained_arch").to_pylist())
    once = trained == np.array(macro.arch_ids)
    agreement = label_agreement(macro.labels(RUNS[0])[once], macro.labels(RUNS[1])[once])
    assert agreement["n"] == 3969 and agreement["n_top"] == 397
    assert agreement["spearman"] == pytest.approx(0.9789, abs=0.001)
    assert agreement["kendall"] == pytest.approx(0.8802, abs=0.001)
    assert agreement["spearman_top"] == pytest.approx(0.2017, abs=0.001)
    assert agreement["kendall_top"] == pytest.approx(0.1266, abs=0.001)


def test_pyg_view(macro):
    ds = macro.to_pyg()
    assert len(ds) == 6561

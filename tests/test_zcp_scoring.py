"""Scoring families with proxies: stored side tables, recipe metadata, resume, atomic writes,
unlabelled families, and agreement with NAS-Bench-Suite-Zero's reference scores."""

import argparse
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

import baselines.zcp.scoring as scoring
from baselines.zcp import cli
from baselines.zcp.recipe import ProxyRecipe
from baselines.zcp.reference import agreement_table, reference_scores
from baselines.zcp.scoring import load_scores, proxy_recipe, score_family, scores_path, stored_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def hiaml(cgbench_home):
    from cgbench import load_family

    return load_family("hiaml", progress=False)


def clear_scores(family):
    for path in (family.folder / "proxies").glob("*"):
        path.unlink()


def test_scores_are_stored_with_their_recipe_and_aligned_with_rows(nb201):
    clear_scores(nb201)
    rows = [5, 17, 400]
    overrides = {"batch_size": 4, "seed": 3}
    paths = score_family(nb201, ["params", "grad_norm"], overrides, indices=rows, progress=False)
    recipe = proxy_recipe("grad_norm", overrides)
    assert paths["grad_norm"] == scores_path(nb201, "grad_norm", recipe)
    assert stored_recipe(paths["grad_norm"]) == recipe
    table = pq.read_table(paths["grad_norm"])
    assert table.column_names == ["arch_id", "score", "seconds", "error"]
    assert table.column("error").null_count == len(table), "every network was scored"
    assert json.loads(table.schema.metadata[b"cgbench.zcp"])["proxy"] == "grad_norm"
    assert (table.column("seconds").to_numpy() > 0).all()
    scores = load_scores(nb201, "grad_norm", recipe)
    assert scores.shape == (len(nb201),)
    assert np.isfinite(scores[rows]).all() and np.isnan(np.delete(scores, rows)).all()
    params = load_scores(nb201, "params", proxy_recipe("params", overrides))
    for row in rows:
        net = nb201.spec.space.build(nb201.spec.space.parse(nb201.arch_ids[row]))
        assert params[row] == sum(p.numel() for p in net.parameters())


def test_same_seed_gives_the_same_scores_and_another_seed_other_ones(nb201):
    clear_scores(nb201)
    rows = [3, 9]
    score_family(nb201, ["snip"], {"batch_size": 4}, indices=rows, progress=False)
    first = load_scores(nb201, "snip", proxy_recipe("snip", {"batch_size": 4}))[rows]
    clear_scores(nb201)
    score_family(nb201, ["snip"], {"batch_size": 4}, indices=rows, progress=False)
    again = load_scores(nb201, "snip", proxy_recipe("snip", {"batch_size": 4}))[rows]
    score_family(nb201, ["snip"], {"batch_size": 4, "seed": 1}, indices=rows, progress=False)
    other = load_scores(nb201, "snip", proxy_recipe("snip", {"batch_size": 4, "seed": 1}))[rows]
    np.testing.assert_array_equal(first, again)
    assert (first != other).all()


def count_score_calls(monkeypatch):
    calls = []
    original = scoring.timed_score

    def counted(name, net, batch, recipe):
        calls.append(name)
        return original(name, net, batch, recipe)

    monkeypatch.setattr(scoring, "timed_score", counted)
    return calls


def test_resume_skips_the_architectures_already_scored(nb201, monkeypatch):
    clear_scores(nb201)
    score_family(nb201, ["l2_norm"], indices=[0, 1, 2], progress=False)
    calls = count_score_calls(monkeypatch)
    score_family(nb201, ["l2_norm"], indices=[1, 2, 3, 4], progress=False)
    assert len(calls) == 2
    assert np.isfinite(load_scores(nb201, "l2_norm")[:5]).all()


def test_an_interrupted_run_keeps_what_it_scored(nb201, monkeypatch):
    clear_scores(nb201)
    original = scoring.timed_score
    calls = []

    def interrupted(name, net, batch, recipe):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(name, net, batch, recipe)

    monkeypatch.setattr(scoring, "timed_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_family(nb201, ["params"], indices=[0, 1, 2, 3], progress=False, flush_every=1)
    scores = load_scores(nb201, "params")
    assert np.isfinite(scores[:2]).all() and np.isnan(scores[2:4]).all()


def test_an_interrupted_write_leaves_no_partial_file(nb201, monkeypatch):
    clear_scores(nb201)

    def half_written(table, path):
        with open(path, "wb") as f:
            f.write(b"PAR1 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(scoring.pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        score_family(nb201, ["params"], indices=[0], progress=False)
    assert list((nb201.folder / "proxies").iterdir()) == []


def test_a_misnamed_score_file_is_refused(nb201):
    clear_scores(nb201)
    path = score_family(nb201, ["params"], indices=[0], progress=False)["params"]
    wrong = scores_path(nb201, "params", ProxyRecipe(batch_size=7))
    path.rename(wrong)
    with pytest.raises(ValueError, match="misnamed"):
        load_scores(nb201, "params", ProxyRecipe(batch_size=7))


def test_unlabelled_family_is_scored(hiaml):
    assert hiaml.default_target is None
    score_family(hiaml, ["params", "synflow"], indices=[0, 1], progress=False)
    for proxy in ("params", "synflow"):
        scores = load_scores(hiaml, proxy)
        assert np.isfinite(scores[:2]).all() and np.isnan(scores[2:]).all()


def test_real_data_without_a_dataset_is_a_clear_error(nb201, monkeypatch):
    monkeypatch.delenv(scoring.DATA_ROOT_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="CIFAR-10"):
        score_family(nb201, ["snip"], {"data": "real"}, indices=[0], progress=False)


def test_unknown_recipe_field_and_unknown_proxy_are_clear_errors(nb201):
    with pytest.raises(ValueError, match="batchsize"):
        score_family(nb201, ["snip"], {"batchsize": 4}, indices=[0], progress=False)
    with pytest.raises(KeyError, match="known proxies"):
        score_family(nb201, ["snipp"], indices=[0], progress=False)


def test_reference_cells_map_to_family_rows(nb201):
    reference = reference_scores("nb201", progress=False)
    assert len(reference.arch_ids) == len(set(reference.arch_ids)) == 725
    row = {arch_id: i for i, arch_id in enumerate(nb201.arch_ids)}
    # NASLib's parameter counts (in millions) are exactly the family's, cell by cell: the op-code
    # mapping is right.
    params = nb201.table.column("params").to_numpy()[[row[a] for a in reference.arch_ids]]
    np.testing.assert_allclose(params / 1e6, reference.of("params"), rtol=0, atol=1e-9)


def test_data_independent_proxies_agree_with_nas_bench_suite_zero(nb201):
    clear_scores(nb201)
    table = {a.proxy: a for a in agreement_table("nb201", ["params", "flops", "synflow"], n=40, progress=False)}
    assert all(a.n_cells >= 39 for a in table.values())
    assert table["params"].spearman > 0.99
    assert table["flops"].spearman > 0.99
    assert table["synflow"].spearman > 0.9
    # Against accuracy, ours and the reference's synflow rank the same 40 cells alike.
    assert abs(table["synflow"].ours_vs_accuracy - table["synflow"].reference_vs_accuracy) < 0.1


def test_reference_carries_the_cells_accuracy_and_unscored_proxies_get_only_accuracy(nb201):
    reference = reference_scores("nb201", progress=False)
    row = {arch_id: i for i, arch_id in enumerate(nb201.arch_ids)}
    # val_accuracy in NASLib's file is NB-201's 200-epoch CIFAR-10 validation accuracy, the family's target.
    ours = nb201.labels("c10_valid_acc_200ep")[[row[a] for a in reference.arch_ids]]
    assert np.corrcoef(ours, reference.accuracy)[0, 1] > 0.99
    assert not reference.has("zen")
    (zen,) = agreement_table("nb201", ["zen"], n=5, progress=False)
    assert np.isnan(zen.spearman) and np.isnan(zen.reference_vs_accuracy) and np.isfinite(zen.ours_vs_accuracy)


def test_cli_score_and_list(nb201, capsys):
    clear_scores(nb201)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["zcp", "score", "nb201", "--proxies", "params,l2_norm", "--n", "3"])
    args.func(args)
    out = capsys.readouterr().out
    assert "params: 3 of 15625 rows scored" in out and "l2_norm: 3 of 15625" in out
    args = parser.parse_args(["zcp", "list"])
    args.func(args)
    assert "synflow_bn" in capsys.readouterr().out


@pytest.fixture(scope="module")
def tnb101_micro(cgbench_home):
    from cgbench import load_family

    return load_family("tnb101_micro", progress=False)


def output_ignores_input(cell) -> bool:
    """Whether no path of non-zero ops (code 0 is TransNAS's zero op) joins cell node 0 to node 3."""
    from cgbench.families.tnb101 import CELL_EDGES

    reached = {0}
    for (source, target), code in zip(CELL_EDGES, cell):  # edges are listed in topological order
        if code != 0 and source in reached:
            reached.add(target)
    return 3 not in reached


def test_input_gradient_proxies_score_tnb101_micro_cells_that_ignore_their_input(tnb101_micro):
    # The all-zero cell and a cell whose only non-zero op leads nowhere: the network's output does
    # not depend on its input, so autograd has no input gradient; a live cell for comparison.
    space = tnb101_micro.spec.space
    row = {space.parse(arch_id): i for i, arch_id in enumerate(tnb101_micro.arch_ids)}
    cut, dangling, live = (0, 0, 0, 0, 0, 0), (1, 0, 0, 0, 0, 0), (3, 2, 1, 0, 3, 1)
    assert output_ignores_input(cut) and output_ignores_input(dangling) and not output_ignores_input(live)
    rows = [row[cut], row[dangling], row[live]]
    clear_scores(tnb101_micro)
    overrides = {"batch_size": 4, "data": "random"}
    score_family(tnb101_micro, ["jacob_cov", "epe_nas"], overrides, indices=rows, progress=False)

    n, k = 4, 1e-5
    lowest = -(np.log(n + k) + 1 / (n + k)) - (n - 1) * (np.log(k) + 1 / k)
    jacob_cov = load_scores(tnb101_micro, "jacob_cov", proxy_recipe("jacob_cov", overrides))[rows]
    np.testing.assert_allclose(jacob_cov[:2], lowest, rtol=1e-9)
    assert np.isfinite(jacob_cov[2]) and jacob_cov[2] > lowest

    recipe = proxy_recipe("epe_nas", overrides)
    labels = scoring.recipe_batches(recipe, space, "cpu").targets[0]
    all_correlated = sum(int(count) ** 2 for count in torch.unique(labels, return_counts=True)[1]) * np.log(1 + k)
    epe_nas = load_scores(tnb101_micro, "epe_nas", recipe)[rows]
    np.testing.assert_allclose(epe_nas[:2], all_correlated, rtol=1e-9)
    assert np.isfinite(epe_nas[2])


@pytest.fixture(scope="module")
def nb301(cgbench_home):
    from cgbench import load_family

    return load_family("nb301", progress=False)


def test_nb301_reference_is_the_familys_surrogate_cells(nb301):
    reference = reference_scores("nb301", progress=False)
    assert len(reference.arch_ids) == len(set(reference.arch_ids)) == 725
    row = {arch_id: i for i, arch_id in enumerate(nb301.arch_ids)}
    surrogate = nb301.labels("c10_val_acc_nb301_surrogate")[[row[a] for a in reference.arch_ids]]
    np.testing.assert_array_equal(surrogate, reference.accuracy)
    assert len(reference.scores) == 12 and reference.has("jacob_cov")


@pytest.mark.parametrize("family, n", [("nb201", 199), ("nb301", 199), ("tnb101_micro", 192)])
def test_cross_task_references_map_to_family_rows(family, n, cgbench_home):
    from cgbench import load_family

    rows = {arch_id: i for i, arch_id in enumerate(load_family(family, progress=False).arch_ids)}
    labels = load_family(family, progress=False).labels("ninapro_val_acc")
    reference = reference_scores(family, progress=False, dataset="ninapro")
    assert len(reference.arch_ids) == n and all(a in rows for a in reference.arch_ids)
    np.testing.assert_array_equal(labels[[rows[a] for a in reference.arch_ids]], reference.accuracy)
    assert reference.has("zen") and len(reference.scores) == 13


def test_reference_sets_are_named_by_family_and_dataset():
    with pytest.raises(ValueError, match="no reference scores of 'nb101' on 'svhn'.*tnb101_micro: svhn"):
        reference_scores("nb101", progress=False, dataset="svhn")
    with pytest.raises(ValueError, match="'hiaml'"):
        reference_scores("hiaml", progress=False)


def test_agreement_on_nb301_and_on_a_cross_task_set(nb301, nb201, capsys):
    clear_scores(nb301)
    (params,) = agreement_table("nb301", ["params"], n=20, progress=False)
    # NASLib's NB-301 network is not ours (BN in pools, auxiliary head) but ranks by size alike.
    assert params.n_cells == 20 and params.spearman > 0.99
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["zcp", "agreement", "nb201", "--dataset", "svhn", "--proxies", "params", "--n", "10"])
    args.func(args)
    out = capsys.readouterr().out
    assert "svhn reference" in out and out.splitlines()[-1].split()[:2] == ["params", "10"]

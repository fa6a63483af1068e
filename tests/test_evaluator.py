import numpy as np
import pytest

from cgbench import Evaluator, InvalidPredictionsError


@pytest.fixture(scope="module")
def evaluator(nb201):
    return Evaluator(nb201, split="random")


def test_perfect_predictions_score_one(evaluator):
    result = evaluator.eval(dict(zip(evaluator.arch_ids, evaluator.y_true)))
    assert result["spearman"] == pytest.approx(1.0)
    assert result["kendall_gennape"] == pytest.approx(1.0)
    assert result["mae"] == 0.0
    assert result["n"] == 1563


def test_aligned_array_equals_dict(evaluator):
    pred = evaluator.y_true + np.random.default_rng(0).normal(size=len(evaluator.y_true))
    assert evaluator.eval(pred) == evaluator.eval(dict(zip(evaluator.arch_ids, pred)))


def test_expected_input_format_says_what_to_pass(evaluator):
    text = evaluator.expected_input_format
    assert "1563" in text and "arch_id" in text and "c10_valid_acc_200ep" in text


def _ok(evaluator):
    return dict(zip(evaluator.arch_ids, evaluator.y_true.tolist()))


def test_rejects_missing_ids(evaluator):
    pred = _ok(evaluator)
    pred.pop(evaluator.arch_ids[0])
    with pytest.raises(InvalidPredictionsError, match="1 arch_id.*no prediction"):
        evaluator.eval(pred)


def test_rejects_unknown_ids(evaluator):
    pred = _ok(evaluator)
    pred["|bogus~0|"] = 1.0
    with pytest.raises(InvalidPredictionsError, match="not in nb201 random/test"):
        evaluator.eval(pred)


def test_rejects_nan_and_inf(evaluator):
    for bad in (float("nan"), float("inf")):
        pred = _ok(evaluator)
        pred[evaluator.arch_ids[5]] = bad
        with pytest.raises(InvalidPredictionsError, match="NaN or infinite"):
            evaluator.eval(pred)


def test_rejects_wrong_dtype(evaluator):
    pred = _ok(evaluator)
    pred[evaluator.arch_ids[3]] = "0.9"
    with pytest.raises(InvalidPredictionsError, match="not a real number"):
        evaluator.eval(pred)
    with pytest.raises(InvalidPredictionsError, match="real numbers"):
        evaluator.eval(np.array(["a"] * len(evaluator.arch_ids)))
    with pytest.raises(InvalidPredictionsError, match="real numbers"):
        evaluator.eval(np.ones(len(evaluator.arch_ids), bool))


def test_rejects_wrong_count(evaluator):
    with pytest.raises(InvalidPredictionsError, match="got 10 predictions, expected 1563"):
        evaluator.eval(np.zeros(10))
    with pytest.raises(InvalidPredictionsError, match="1-D"):
        evaluator.eval(np.zeros((1563, 2)))


def test_rejects_duplicated_ids(evaluator):
    ids = list(evaluator.arch_ids)
    ids[1] = ids[0]
    with pytest.raises(InvalidPredictionsError, match="more than once"):
        evaluator.eval({"arch_id": ids, "y_pred": evaluator.y_true.tolist()})


def test_rejects_unreadable_types(evaluator):
    with pytest.raises(InvalidPredictionsError, match="cannot read predictions of type"):
        evaluator.eval(42)


def test_an_architecture_in_several_rows_gets_its_one_prediction_on_each(cgbench_home):
    """NASLib's NB-101 subset lists isomorphic cells under several keys, each with its own run."""
    from cgbench import load_family

    nb101 = load_family("nb101", progress=False)
    ev = Evaluator(nb101, split="random", part="test")
    assert len(set(ev.arch_ids)) < len(ev.arch_ids)
    flops = dict(zip(nb101.arch_ids, nb101.table.column("flops").to_numpy().astype(float)))
    by_id = ev.eval({a: flops[a] for a in set(ev.arch_ids)})
    aligned = ev.eval(np.array([flops[a] for a in ev.arch_ids]))
    assert by_id == aligned and by_id["n"] == len(ev.arch_ids)


def test_an_accuracy_target_reports_no_unlabelled_rows(evaluator):
    assert evaluator.higher_is_better and evaluator.n_unlabelled == 0
    assert "larger means better" in evaluator.expected_input_format


def test_a_latency_target_selects_the_fastest_architectures(nb201):
    ev = Evaluator(nb201, split="random", target="lat_pixel3_ms")
    assert not ev.higher_is_better and not nb201.higher_is_better("lat_pixel3_ms")
    assert ev.n_unlabelled == 0 and len(ev.arch_ids) == 1563
    perfect = ev.eval(ev.y_true)  # the latency itself, in ms
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["mae"] == 0.0
    assert perfect["ndcg@10"] == pytest.approx(1.0) and perfect["top10_overlap"] == 1.0
    assert perfect["precision@10"] == 1.0
    slowest_first = ev.eval(-ev.y_true)
    assert slowest_first["spearman"] == pytest.approx(-1.0) and slowest_first["top10_overlap"] == 0.0
    assert slowest_first["ndcg@10"] < 0.5
    assert "smaller means better" in ev.expected_input_format


def test_a_target_labelling_few_rows_is_scored_on_those_and_says_how_many(nb201):
    test_part = nb201.get_idx_split("random")["test"]
    labelled = ~np.isnan(nb201.labels("svhn_val_acc"))
    ev = Evaluator(nb201, split="random", target="svhn_val_acc")
    assert len(ev.arch_ids) == labelled[test_part].sum() > 0
    assert ev.n_unlabelled == len(test_part) - len(ev.arch_ids)
    assert ev.eval(ev.y_true)["n"] == len(ev.arch_ids)
    text = ev.expected_input_format
    assert f"the {len(ev.arch_ids)} rows" in text and f"{ev.n_unlabelled} rows without it" in text
    assert np.array_equal(ev.indices, nb201.get_idx_split("random", target="svhn_val_acc")["test"])


def test_fewshot_split_of_another_target_is_drawn_from_its_labelled_rows(nb201):
    few = nb201.get_idx_split("fewshot50", target="svhn_val_acc")
    assert len(few["train"]) == 50 and len(few["test"]) == 199 - 50
    assert not np.isnan(nb201.labels("svhn_val_acc")[np.r_[few["train"], few["test"]]]).any()
    # The default target's few-shot split is the stored one.
    stored = nb201.get_idx_split("fewshot50")
    assert np.array_equal(nb201.get_idx_split("fewshot50", target=nb201.default_target)["train"], stored["train"])
    assert len(Evaluator(nb201, split="fewshot50", target="svhn_val_acc").arch_ids) == 149


def test_rows_carrying_several_targets(nb201):
    both = nb201.labelled_rows("c10_valid_acc_200ep", "svhn_val_acc")
    assert len(both) == 199 and len(nb201.labelled_rows("lat_fpga_ms")) == 15625
    with pytest.raises(KeyError, match="no label column"):
        nb201.labelled_rows("lat_nowhere_ms")


def test_every_evaluation_sets_the_score_beside_the_flops_ranking(evaluator, nb201):
    flops = nb201.table.column("flops").to_numpy()[evaluator.indices].astype(float)
    by_flops = evaluator.eval(flops)
    assert by_flops["spearman"] == pytest.approx(by_flops["flops_spearman"])
    assert by_flops["spearman_gain_over_flops"] == pytest.approx(0.0, abs=1e-12)
    assert by_flops["spearman_beyond_flops"] == 0.0
    perfect = evaluator.eval(evaluator.y_true)
    assert 0.6 < perfect["flops_spearman"] < 0.8  # NB-201 CIFAR-10: FLOPs alone rank at about 0.71
    assert perfect["spearman_gain_over_flops"] == pytest.approx(1.0 - perfect["flops_spearman"])
    assert perfect["spearman_beyond_flops"] == pytest.approx(1.0)
    some = evaluator.eval(evaluator.y_true, metrics=["spearman", "spearman_beyond_flops"])
    assert set(some) == {"n", "spearman", "spearman_beyond_flops"}
    with pytest.raises(KeyError, match="unknown metric"):
        evaluator.eval(evaluator.y_true, metrics=["r2"])

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

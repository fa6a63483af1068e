"""Class 6 of the hostile-input issue: the Evaluator meets users where they are.

Besides ``{arch_id: score}`` it takes NumPy arrays, torch tensors and pandas Series; arrays (and
default-indexed Series) follow the order of ``Evaluator.arch_ids``, a Series indexed by arch_id is
matched by its index. Every malformed input is an InvalidPredictionsError.
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from cgbench import Evaluator, InvalidPredictionsError
from cgbench.errors import UnknownNameError


@pytest.fixture(scope="module")
def evaluator(nb201):
    return Evaluator(nb201, split="random")


@pytest.fixture(scope="module")
def scores(evaluator):
    return evaluator.y_true + np.random.default_rng(0).normal(size=len(evaluator.y_true))


@pytest.fixture(scope="module")
def reference(evaluator, scores):
    return evaluator.eval(dict(zip(evaluator.arch_ids, scores)))


def test_numpy_arrays_of_any_real_dtype(evaluator, scores, reference):
    assert evaluator.eval(scores) == reference
    assert evaluator.eval(list(scores)) == reference
    float32 = evaluator.eval(scores.astype(np.float32))
    assert float32["spearman"] == pytest.approx(reference["spearman"], abs=1e-6)
    ranks = evaluator.eval(np.argsort(np.argsort(scores)).astype(np.int64))
    assert ranks["spearman"] == pytest.approx(reference["spearman"])


def test_torch_tensors(evaluator, scores, reference):
    assert evaluator.eval(torch.tensor(scores)) == reference
    trained = torch.tensor(scores, requires_grad=True) * 1.0  # a predictor's output, still in the graph
    assert evaluator.eval(trained) == reference
    assert evaluator.eval(torch.tensor(scores).reshape(-1, 1)[:, 0]) == reference
    with pytest.raises(InvalidPredictionsError, match=r"predictions must be 1-D, got shape \(1563, 1\)"):
        evaluator.eval(torch.tensor(scores).reshape(-1, 1))
    with pytest.raises(InvalidPredictionsError, match="got 3 predictions, expected 1563"):
        evaluator.eval(torch.zeros(3))
    with pytest.raises(InvalidPredictionsError, match="predictions must be real numbers, got dtype bool"):
        evaluator.eval(torch.ones(len(scores), dtype=torch.bool))


def test_pandas_series_by_arch_id_index_or_in_order(evaluator, scores, reference):
    by_id = pd.Series(scores, index=evaluator.arch_ids)
    assert evaluator.eval(by_id.sample(frac=1.0, random_state=0)) == reference  # order does not matter
    assert evaluator.eval(pd.Series(scores)) == reference  # default index: the order of arch_ids
    with pytest.raises(InvalidPredictionsError, match=r"must be indexed by arch_id, or have the default index"):
        evaluator.eval(pd.Series(scores, index=evaluator.indices))
    doubled = pd.concat([by_id, by_id.iloc[:2]])
    with pytest.raises(InvalidPredictionsError, match="2 arch_id.s. appear more than once in the Series index"):
        evaluator.eval(doubled)
    with pytest.raises(InvalidPredictionsError, match="1 arch_id.s. have no prediction"):
        evaluator.eval(by_id.iloc[1:])
    with pytest.raises(InvalidPredictionsError, match="not a real number"):
        evaluator.eval(by_id.astype(str))


@pytest.mark.parametrize("bad, message", [
    ([[1.0, 2.0], [3.0]], "predictions are not a 1-D array of numbers"),
    (["a"] * 1563, "predictions must be real numbers, got dtype <U1"),
    ([1j] * 1563, "predictions must be real numbers, got dtype complex128"),
    ([10**400] * 1563, "predictions must be real numbers, got dtype object"),
    ({"arch_id": "abc", "y_pred": [1.0]}, "'arch_id' and 'y_pred' must be lists"),
    ({"arch_id": [["x"]], "y_pred": [1.0]}, r"arch_ids are strings; got \['x'\] \(list\)"),
    ("scores.csv", "cannot read predictions of type str"),
    (None, "cannot read predictions of type NoneType"),
    (3.5, "cannot read predictions of type float"),
])
def test_malformed_predictions(evaluator, bad, message):
    with pytest.raises(InvalidPredictionsError, match=message):
        evaluator.check(bad)


def test_values_beyond_float_are_refused_as_not_finite(evaluator):
    predictions = dict(zip(evaluator.arch_ids, [0.5] * len(evaluator.arch_ids)))
    predictions[evaluator.arch_ids[3]] = 10**400
    with pytest.raises(InvalidPredictionsError, match="1 prediction.s. are NaN or infinite"):
        evaluator.check(predictions)


def test_unknown_part_and_the_documented_input_format(nb201, evaluator):
    with pytest.raises(UnknownNameError, match="unknown part 'validation' of a split; parts: train, valid, test"):
        Evaluator(nb201, part="validation")
    text = evaluator.expected_input_format
    assert "torch tensor" in text and "pandas Series indexed by arch_id" in text
    assert "in the order of Evaluator.arch_ids" in text


def test_the_evaluation_module_does_not_import_torch():
    code = "import sys, cgbench.evaluation; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]

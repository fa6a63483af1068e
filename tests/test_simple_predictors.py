import numpy as np
import pytest

import baselines.simple  # noqa: F401  (registers flops, params and gin)
from baselines.predictor import TrainingSet
from baselines.predictors import list_predictors, make_predictor
from cgbench.metrics import spearman

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", ["flops", "params"])
def test_rule_predictors_return_the_column(nb201, name):
    predictor = make_predictor(name)
    rows = np.array([5, 0, 123, 15624])
    predictor.fit([TrainingSet(nb201, np.arange(10), nb201.default_target)], seed=0)
    column = np.asarray(nb201.table.column(name).to_numpy(), float)
    np.testing.assert_array_equal(predictor.predict(nb201, rows), column[rows])
    assert predictor.n_parameters == 0
    with pytest.raises(ValueError, match="1-D integer"):
        predictor.predict(nb201, np.array([0.5]))


def test_gin_ranks_held_out_nb201_rows(nb201):
    split = nb201.get_idx_split("random")
    train, test = split["train"][:300], split["test"][:500]
    predictor = make_predictor("gin", device="cpu")
    predictor.fit([TrainingSet(nb201, train, nb201.default_target)], seed=0)
    prediction = predictor.predict(nb201, test)
    assert prediction.shape == (len(test),) and np.isfinite(prediction).all()
    # Measured 0.829 (seed 0) and 0.728 (seed 1) with 300 training rows.
    assert spearman(nb201.labels()[test], prediction) > 0.5
    assert predictor.n_parameters > 0 and {"flops", "params", "gin"} <= set(list_predictors())


def test_gin_is_deterministic_with_a_seed(nb201):
    rows = TrainingSet(nb201, np.arange(64), nb201.default_target)

    def run(seed):
        predictor = make_predictor("gin", device="cpu", epochs=2)
        predictor.fit([rows], seed=seed)
        return predictor.predict(nb201, np.arange(64, 96))

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_gin_errors_are_clear(nb201):
    predictor = make_predictor("gin", device="cpu")
    with pytest.raises(RuntimeError, match="fit"):
        predictor.predict(nb201, np.arange(3))
    with pytest.raises(ValueError, match="at least 2 labelled rows"):
        predictor.fit([TrainingSet(nb201, np.arange(1), nb201.default_target)], seed=0)


def test_gin_fine_tune_starts_from_the_fitted_weights(nb201):
    predictor = make_predictor("gin", device="cpu", epochs=3, fine_tune_epochs=1)
    predictor.fit([TrainingSet(nb201, np.arange(200), nb201.default_target)], seed=0)
    fitted = [p.detach().clone() for p in predictor._model.parameters()]
    test = np.arange(200, 300)
    before = predictor.predict(nb201, test)
    few = nb201.get_idx_split("fewshot50")["train"]
    predictor.fine_tune(TrainingSet(nb201, few, nb201.default_target), seed=0)
    tuned = [p.detach() for p in predictor._model.parameters()]
    # One epoch of 50 rows in batches of 25 is two Adam steps of about lr = 1e-3 per weight: the
    # fine-tuned weights sit next to the fitted ones, far from any fresh initialisation.
    assert max((a - b).abs().max().item() for a, b in zip(tuned, fitted)) < 3e-3
    fresh = make_predictor("gin", device="cpu", epochs=3)
    fresh.fit([TrainingSet(nb201, np.arange(200), nb201.default_target)], seed=1)
    assert max((a - b.detach()).abs().max().item() for a, b in zip(tuned, fresh._model.parameters())) > 0.05
    assert not np.allclose(before, predictor.predict(nb201, test))
    assert not predictor.fine_tune_refits and make_predictor("flops").fine_tune_refits
    with pytest.raises(RuntimeError, match="fit"):
        make_predictor("gin", device="cpu").fine_tune(TrainingSet(nb201, few, nb201.default_target), seed=0)

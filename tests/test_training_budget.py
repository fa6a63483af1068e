"""Training budgets and best-step selection (baselines.training): every learned predictor keeps the step
(or number of trees) whose validation Spearman is best, within its declared maximum, and keeping it is
the same as having trained exactly that long."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.predictor import TrainingSet
from baselines.predictors import make_predictor
from baselines.training import BestStep, Schedule, step_budget, train_steps, validation_spearman

pytestmark = pytest.mark.usefixtures("one_thread")


class Counter(torch.nn.Module):
    """A one-parameter model whose "training step" adds 1 to its weight."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))


def run_counter(scores: list[float], schedule: Schedule, evaluate: bool = True):
    model = Counter()
    position = iter(range(len(scores)))

    def step(_positions):
        with torch.no_grad():
            model.w += 1

    def score():
        return scores[next(position)]

    log = train_steps(step, 4, 2, schedule, torch.Generator().manual_seed(0), evaluate=score if evaluate else None,
                      snapshot=lambda: model.w.item(), restore=lambda w: model.w.data.fill_(w))
    return model.w.item(), log


def test_the_best_validated_step_is_kept_and_restored():
    weight, log = run_counter([0.1, 0.5, 0.3, 0.4], Schedule(max_steps=8, eval_every=2))
    assert log.history == [(2, 0.1), (4, 0.5), (6, 0.3), (8, 0.4)] and log.best_step == 4 and weight == 4
    assert log.steps_taken == 8 and not log.stopped_early
    assert log.as_dict()["best_valid_spearman"] == 0.5


def test_patience_stops_early_and_nan_never_wins():
    weight, log = run_counter([0.2, math.nan, 0.1, 0.9, 1.0], Schedule(max_steps=10, eval_every=2, patience=2))
    assert log.history[:3] == [(2, 0.2), (4, pytest.approx(math.nan, nan_ok=True)), (6, 0.1)]
    assert log.steps_taken == 6 and log.stopped_early and log.best_step == 2 and weight == 2


def test_without_validation_the_whole_budget_is_spent_and_the_last_state_kept():
    weight, log = run_counter([], Schedule(max_steps=5, eval_every=2), evaluate=False)
    assert weight == 5 and log.history == [] and log.best_step is None


def test_budgets_and_schedules_are_checked():
    assert step_budget(300, 64, epochs=10, max_steps=None) == 50
    assert step_budget(300, 64, epochs=10, max_steps=7) == 7
    with pytest.raises(ValueError, match="max_steps must be"):
        step_budget(300, 64, 10, 0)
    with pytest.raises(ValueError, match="eval_every"):
        Schedule(10, eval_every=0)
    with pytest.raises(ValueError, match="patience"):
        Schedule(10, patience=0)
    best = BestStep(Schedule(0))
    assert best.done and best.finish().steps_taken == 0


@pytest.fixture(scope="module")
def rows(nb201):
    split = nb201.get_idx_split("random")
    target = nb201.default_target
    train = TrainingSet(nb201, split["train"][:200], target)
    valid = [TrainingSet(nb201, split["valid"][:100], target)]
    return train, valid, split["test"][:300]


def test_validation_spearman_is_the_mean_over_sets(nb201, rows):
    train, valid, _ = rows
    flops = nb201.table.column("flops").to_numpy().astype(float)
    other = TrainingSet(nb201, train.indices[:50], train.target)
    one = validation_spearman(lambda f, i: flops[i], valid)
    two = validation_spearman(lambda f, i: flops[i], [*valid, other])
    assert -1 <= one <= 1 and two == pytest.approx((one + validation_spearman(lambda f, i: flops[i], [other])) / 2)
    assert math.isnan(validation_spearman(lambda f, i: flops[i], [TrainingSet(nb201, train.indices[:3], train.target)]))


@pytest.mark.parametrize("method, budget, kept_as", [
    ("gin", {"max_steps": 60, "eval_every": 20}, "max_steps"),
    ("gennape", {"pretrain_steps": 5, "max_steps": 60, "eval_every": 20}, "max_steps"),
    ("zc_ranker", {"steps": 60, "eval_every": 20}, "steps"),
])
def test_keeping_the_best_step_equals_training_exactly_that_long(nb201, rows, method, budget, kept_as):
    train, valid, test = rows
    options = {"device": "cpu"} if method != "zc_ranker" else {}
    chosen = make_predictor(method, **options, **budget)
    chosen.fit([train], seed=3, valid=valid)
    log = chosen.step_log
    assert [step for step, _ in log.history] == [20, 40, 60]
    assert log.best_step == max(log.history, key=lambda h: h[1])[0]
    exactly = make_predictor(method, **options, **{**budget, kept_as: log.best_step})
    exactly.fit([train], seed=3)
    np.testing.assert_array_equal(chosen.predict(nb201, test), exactly.predict(nb201, test))


def test_graf_keeps_the_best_number_of_trees(nb201, rows):
    train, valid, test = rows
    chosen = make_predictor("graf", n_estimators=100, eval_every=25)
    chosen.fit([train], seed=0, valid=valid)
    log = chosen.step_log
    assert [rounds for rounds, _ in log.history] == [25, 50, 75, 100] and chosen._boosters[0].rounds == log.best_step
    exactly = make_predictor("graf", n_estimators=log.best_step)
    exactly.fit([train], seed=0)
    np.testing.assert_allclose(chosen.predict(nb201, test), exactly.predict(nb201, test), rtol=1e-12)
    assert chosen.n_parameters == exactly.n_parameters

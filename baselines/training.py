"""How learned predictors spend their training budget: a declared maximum of optimizer steps, and the
step they keep, chosen on Spearman's rho of validation rows.

Every learned predictor's ``fit`` receives validation rows (``valid``: one :class:`TrainingSet` per
training family, never rows it trains on; the protocol draws them, see ``baselines.protocol``).
Training runs for at most ``max_steps`` optimizer steps (or ``epochs`` passes over the rows when no
step budget is given); every ``eval_every`` steps the predictor scores the validation rows and
keeps a copy of its state when their Spearman is the best so far. After ``patience`` evaluations
without a better score it stops early (``patience=None``: it always spends the whole budget). At the
end the best state is restored, so a predictor reports the step the validation rows chose, not the
last one. Without validation rows it keeps its last state.

Validation Spearman is the mean over the validation sets: labels of different families are not on
one scale, so each set is ranked on its own. A budget is declared in steps rather than epochs because
the training sets of the benchmark's tracks differ 20-fold in size (300 capped rows in-family,
21 devices x 300 rows on the device-transfer track): in epochs, a budget that converges on one
track is 20x too long or too short on the other. ``benchmarks/convergence.py`` measured where the
curves flatten.

``StepLog.history`` keeps every (step, validation Spearman), so a benchmark or a user can see the
curve the choice was made on; ``on_evaluation`` (a predictor attribute, None by default) is called
at each evaluation with the step, which is how the convergence study scores test rows along the way.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from cgbench.dataset import Family
from cgbench.metrics import spearman

from .graph_rows import minibatches
from .predictor import TrainingSet

Predict = Callable[[Family, np.ndarray], np.ndarray]
# Fewer labelled validation rows than this in a set say nothing about a ranking: the set is skipped.
MIN_VALID_ROWS = 5


def step_budget(n_rows: int, batch_size: int, epochs: int | None, max_steps: int | None) -> int:
    """Optimizer steps a fit may take: ``max_steps`` when given, else ``epochs`` passes over ``n_rows``."""
    if max_steps is not None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be a positive number of steps, got {max_steps}")
        return max_steps
    if epochs is None or epochs < 0:
        raise ValueError(f"give max_steps, or epochs >= 0; got epochs={epochs}")
    return epochs * math.ceil(n_rows / batch_size)


def validation_spearman(predict: Predict, valid: Sequence[TrainingSet]) -> float:
    """Mean over the validation sets of Spearman's rho between ``predict``'s scores and the labels
    (NaN when no set has ``MIN_VALID_ROWS`` labelled rows)."""
    values, predicted = [], {}
    for part in valid:
        labels = part.labels()
        keep = ~np.isnan(labels)
        if keep.sum() < MIN_VALID_ROWS:
            continue
        rows = np.asarray(part.indices)[keep]
        # Sets of one family's rows under several labels (the source devices of a latency track) are
        # predicted once.
        key = (part.family.name, rows.tobytes())
        if key not in predicted:
            predicted[key] = predict(part.family, rows)
        values.append(spearman(labels[keep], predicted[key]))
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


@dataclass
class StepLog:
    """What a fit did with its budget: validation Spearman per evaluated step, and the step it kept."""

    budget: int
    steps_taken: int = 0
    history: list[tuple[int, float]] = field(default_factory=list)
    best_step: int | None = None
    best_score: float = -math.inf

    @property
    def stopped_early(self) -> bool:
        return self.steps_taken < self.budget

    def as_dict(self) -> dict:
        return {"budget": self.budget, "steps_taken": self.steps_taken, "best_step": self.best_step,
                "best_valid_spearman": None if self.best_step is None else self.best_score,
                "history": [[s, v if math.isfinite(v) else None] for s, v in self.history]}


@dataclass(frozen=True)
class Schedule:
    """A fit's budget and how it is checked: ``eval_every`` steps; stop after ``patience`` evaluations
    without a better validation score (None: never early)."""

    max_steps: int
    eval_every: int = 50
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be a positive number of steps, got {self.eval_every}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be a positive number of evaluations or None, got {self.patience}")


def module_states(modules: Iterable[torch.nn.Module]) -> Callable[[], list[dict]]:
    """A snapshot function: deep copies of the modules' state dicts."""
    modules = list(modules)
    return lambda: [copy.deepcopy(m.state_dict()) for m in modules]


def restore_states(modules: Iterable[torch.nn.Module]) -> Callable[[list[dict]], None]:
    modules = list(modules)

    def restore(states: list[dict]) -> None:
        for module, state in zip(modules, states):
            module.load_state_dict(state)

    return restore


class BestStep:
    """Counts steps against a :class:`Schedule`, scores the state when due, keeps the best one.

    A training loop calls :meth:`after_step` after every optimizer step and stops when it returns True
    (budget spent, or ``patience`` evaluations without improvement), then calls :meth:`finish`, which
    restores the best state and returns the :class:`StepLog`.
    """

    def __init__(self, schedule: Schedule, evaluate: Callable[[], float] | None = None,
                 snapshot: Callable[[], object] | None = None, restore: Callable[[object], None] | None = None,
                 on_evaluation: Callable[[int], None] | None = None) -> None:
        self.schedule, self.evaluate = schedule, evaluate
        self.snapshot, self.restore, self.on_evaluation = snapshot, restore, on_evaluation
        self.log = StepLog(schedule.max_steps)
        self._best_state, self._since_best = None, 0

    @property
    def done(self) -> bool:
        return self.log.steps_taken >= self.schedule.max_steps

    def after_step(self) -> bool:
        """Count one step; score the state when due. True when training should stop."""
        log = self.log
        log.steps_taken += 1
        due = log.steps_taken % self.schedule.eval_every == 0 or self.done
        if self.evaluate is not None and due:
            score = self.evaluate()
            log.history.append((log.steps_taken, score))
            if self.on_evaluation is not None:
                self.on_evaluation(log.steps_taken)
            if math.isfinite(score) and score > log.best_score:
                log.best_step, log.best_score, self._since_best = log.steps_taken, score, 0
                self._best_state = self.snapshot() if self.snapshot is not None else None
            else:
                self._since_best += 1
            if self.schedule.patience is not None and self._since_best >= self.schedule.patience:
                return True
        return self.done

    def finish(self) -> StepLog:
        if self._best_state is not None and self.restore is not None:
            self.restore(self._best_state)
        return self.log


def train_steps(step: Callable[[torch.Tensor], None], n_rows: int, batch_size: int, schedule: Schedule,
                generator: torch.Generator, *, evaluate: Callable[[], float] | None = None,
                snapshot: Callable[[], object] | None = None, restore: Callable[[object], None] | None = None,
                on_evaluation: Callable[[int], None] | None = None, avoid_single: bool = False) -> StepLog:
    """Call ``step(positions)`` on shuffled minibatches of ``n_rows`` rows for up to ``schedule.max_steps``
    steps, validating and keeping the best state as :class:`BestStep` does."""
    if n_rows < 1:
        raise ValueError("training needs at least one row")
    best = BestStep(schedule, evaluate, snapshot, restore, on_evaluation)
    if not best.done:
        for positions in _endless_minibatches(n_rows, batch_size, generator, avoid_single):
            step(positions)
            if best.after_step():
                break
    return best.finish()


def _endless_minibatches(n_rows: int, batch_size: int, generator: torch.Generator,
                         avoid_single: bool) -> Iterator[torch.Tensor]:
    """Epoch after epoch of shuffled minibatches (the caller stops)."""
    while True:
        yield from minibatches(n_rows, batch_size, generator, avoid_single=avoid_single)

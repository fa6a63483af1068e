"""What every performance predictor implements, the registry the benchmark uses, and how a user's own
predictor joins it (``docs/predictor.md`` has the whole contract and a worked example).

A predictor learns from rows of one or more families (their CGs, FLOPs, parameters, labels) and
scores rows of any family, including families it never saw.

**The contract** (:class:`Predictor`):

- class attributes ``name`` (lower-case letters, digits and ``_``: it names the method and its
  submission file), ``description`` (one line for the leaderboard) and ``prediction_scale``:
  ``"target"`` when predictions estimate the target's own values (MAE and MAPE mean something),
  ``"rank"`` when only their order counts;
- ``fit(data, seed, valid=None)``: train from scratch on the union of ``data`` (a list of
  :class:`TrainingSet`, one per training family and label column; ``TrainingSet.labels()`` are the
  labels to train on); ``valid`` are validation rows of the same families, never rows of ``data``,
  to choose a training length on (``baselines.training``); use ``seed`` for every random choice;
- ``predict(family, indices)``: one finite float per row ``indices`` of ``family``, **ordered like
  the target's values**: a larger prediction means a larger target value, whatever the target's
  direction. For an accuracy larger is better; for a latency the prediction is the latency (or a
  score that grows with it), smaller is faster. Families never seen in training must work too;
- ``fine_tune(data, seed)`` (optional): adapt a fitted predictor to a few labelled rows of a new
  family (the few-shot tracks); the default refits on those rows alone;
- ``n_parameters`` (optional property): learned parameters of the fitted model (0 for a rule),
  reported in the submission;
- ``uses_labels`` (optional class attribute, default True): False for a **training-free** method (a
  zero-cost proxy): ``fit`` receives no rows (``fit([], seed)``: only the seed), ``fine_tune`` is never
  called, its runs declare ``trained_on: []`` and are valid on every track, and the leaderboard marks
  its rows "training-free";
- ``cannot_predict(family, target)`` (optional class method): why the method cannot score a family
  (None: it can); the benchmark leaves those runs out and lists them with the reason;
- ``settings()`` (optional class method): the method's own settings in words (a proxy's data recipe),
  shown on the leaderboard instead of the protocol's predictor options; ``provenance`` (optional
  class attribute): for scores published by someone else, whose and where from (the submission's
  protocol becomes ``published``).

Predictor classes are registered by name (``baselines.registry``); ``baselines.predictors`` lists
every predictor module and makes predictors by name. A predictor outside the package joins by
``cgbench benchmark --predictor path/to/file.py:ClassName`` (any worker process imports the file again)
or, for an installed package, an entry point in the ``cgbench.predictors`` group
(``name = "package.module:ClassName"``); ``baselines.predictors.load_predictor`` checks the class
against the contract and registers it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from cgbench.dataset import Family
from cgbench.problems import TrainingSet  # noqa: F401 (what predictors are handed; defined in the core)


class Predictor(ABC):
    """A performance predictor (the module notes state the whole contract).

    >>> class LogFlops(Predictor):
    ...     name, description, prediction_scale = "log_flops", "log FLOPs, no training", "rank"
    ...     def fit(self, data, seed, valid=None): pass
    ...     def predict(self, family, indices): return np.log(family.table.column("flops").to_numpy()[indices])
    """

    name: ClassVar[str]
    description: ClassVar[str]
    # "target": predictions estimate the target's own values (MAE and MAPE mean something);
    # "rank": scores of which only the order counts (rules such as FLOPs, rank-trained models).
    prediction_scale: ClassVar[str] = "target"
    # False: the method reads no label (a zero-cost proxy); the benchmark calls fit([], seed), never fine_tune.
    uses_labels: ClassVar[bool] = True
    # Whose published scores these are (None: computed by this method).
    provenance: ClassVar[str | None] = None

    @abstractmethod
    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        """Train from scratch on the union of ``data`` (one entry per family).

        ``valid``: validation rows (one entry per training family, disjoint from ``data``), to choose
        how long to train on (``baselines.training``); rules and untrained methods ignore them.
        """

    @abstractmethod
    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        """One finite score per row ``indices`` of ``family`` (a 1-D float array), ordered like the target's
        values: larger prediction, larger target value (an accuracy, or a latency: smaller is faster)."""

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        """Adapt a fitted predictor to a few labelled rows of a new family (few-shot track).

        The default refits on those rows only (:attr:`fine_tune_refits` says so); learned
        predictors override it to start from their pretrained state.
        """
        self.fit([data], seed)

    @property
    def fine_tune_refits(self) -> bool:
        """True when :meth:`fine_tune` is the default refit on the few rows alone (rules such as FLOPs,
        or a predictor without a fine-tuning of its own); False when it starts from the fitted state."""
        return type(self).fine_tune is Predictor.fine_tune

    @classmethod
    def cannot_predict(cls, family: Family, target: str) -> str | None:
        """Why this method cannot score ``target`` of ``family`` (None: it can; the default for every family)."""
        return None

    @classmethod
    def settings(cls) -> str | None:
        """The method's own settings in words, shown instead of the protocol's options (None: the protocol's)."""
        return None

    @property
    def n_parameters(self) -> int:
        """Learned parameters of the fitted model (0 for rules such as FLOPs); the submission reports it."""
        return 0

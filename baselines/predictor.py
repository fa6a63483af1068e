"""What every performance predictor implements, and the registry the benchmark protocol uses.

A predictor learns from rows of one or more families (their CGs, FLOPs, parameters, labels) and
scores rows of any family, including families it never saw. Larger predictions mean better
architectures; only rank metrics are comparable across families with different label scales.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from cgbench.dataset import Family
from cgbench.problems import TrainingSet  # noqa: F401 (what predictors are handed; defined in the core)
from cgbench.errors import unknown_name
from cgbench.submission import METHOD_NAME


class Predictor(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    # "target": predictions estimate the target's own values (MAE and MAPE mean something);
    # "rank": scores of which only the order counts (rules such as FLOPs, rank-trained models).
    prediction_scale: ClassVar[str] = "target"

    @abstractmethod
    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        """Train from scratch on the union of ``data`` (one entry per family).

        ``valid``: validation rows (one entry per training family, disjoint from ``data``), to choose
        how long to train on (``baselines.training``); rules and untrained methods ignore them.
        """

    @abstractmethod
    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        """Scores of rows ``indices`` of ``family`` (1-D float array, larger = better)."""

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

    @property
    def n_parameters(self) -> int:
        """Learned parameters (0 for rules such as FLOPs)."""
        return 0


_REGISTRY: dict[str, Callable[..., Predictor]] = {}


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    # The name becomes a submission's method name: the file leaderboard/submissions/<name>.json.gz.
    if not METHOD_NAME.fullmatch(cls.name):
        raise ValueError(f"predictor name {cls.name!r} must be lower-case letters, digits and _ (it names files)")
    if cls.name in _REGISTRY:
        raise ValueError(f"predictor {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _import_predictors() -> None:
    """Import every predictor module; each registers its predictors. A new predictor module is added here."""
    from baselines import ensemble, gennape, graf, simple, zc_ranker  # noqa: F401


def predictor_class(name: str) -> type[Predictor]:
    _import_predictors()
    if name not in _REGISTRY:
        raise unknown_name("predictor", name, _REGISTRY)
    return _REGISTRY[name]


def make_predictor(name: str, **options) -> Predictor:
    return predictor_class(name)(**options)


def list_predictors() -> list[str]:
    _import_predictors()
    return sorted(_REGISTRY)

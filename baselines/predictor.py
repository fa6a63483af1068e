"""What every performance predictor implements, and the registry the benchmark protocol uses.

A predictor learns from rows of one or more families (their CGs, FLOPs, parameters, labels) and
scores rows of any family, including families it never saw. Larger predictions mean better
architectures; only rank metrics are comparable across families with different label scales.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cgbench.dataset import Family


@dataclass(frozen=True)
class TrainingSet:
    """Rows ``indices`` of ``family`` with their labels in column ``target``."""

    family: Family
    indices: np.ndarray
    target: str

    def labels(self) -> np.ndarray:
        return self.family.labels(self.target)[self.indices]


class Predictor(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def fit(self, data: list[TrainingSet], seed: int) -> None:
        """Train from scratch on the union of ``data`` (one entry per family)."""

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
    if cls.name in _REGISTRY:
        raise ValueError(f"predictor {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def make_predictor(name: str, **options) -> Predictor:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown predictor {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    return factory(**options)


def list_predictors() -> list[str]:
    return sorted(_REGISTRY)

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
  reported in the submission.

A predictor outside the package joins by ``cgbench benchmark --predictor path/to/file.py:ClassName``
(any worker process imports the file again) or, for an installed package, an entry point in the
``cgbench.predictors`` group (``name = "package.module:ClassName"``); :func:`load_predictor` checks the
class against the contract and registers it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import ClassVar

import numpy as np

from cgbench.dataset import Family
from cgbench.problems import TrainingSet  # noqa: F401 (what predictors are handed; defined in the core)
from cgbench.errors import InvalidInputError, unknown_name
from cgbench.plugins import import_object
from cgbench.submission import METHOD_NAME


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

    @property
    def n_parameters(self) -> int:
        """Learned parameters of the fitted model (0 for rules such as FLOPs); the submission reports it."""
        return 0


_REGISTRY: dict[str, Callable[..., Predictor]] = {}
PREDICTORS_GROUP = "cgbench.predictors"
SCALES = ("target", "rank")


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    # The name becomes a submission's method name: the file leaderboard/submissions/<name>.json.gz.
    if not METHOD_NAME.fullmatch(cls.name):
        raise ValueError(f"predictor name {cls.name!r} must be lower-case letters, digits and _ (it names files)")
    if cls.name in _REGISTRY:
        raise ValueError(f"predictor {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def contract_problems(cls: object) -> list[str]:
    """Every way ``cls`` is not a usable predictor class (empty: it is one)."""
    if not (isinstance(cls, type) and issubclass(cls, Predictor)):
        return [f"it is {cls!r}, not a subclass of baselines.predictor.Predictor"]
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not METHOD_NAME.fullmatch(name):
        problems.append(f"its name {name!r} must be lower-case letters, digits and _ (it names the method)")
    if not isinstance(getattr(cls, "description", None), str):
        problems.append("it has no description (a class attribute: one line for the leaderboard)")
    if cls.prediction_scale not in SCALES:
        problems.append(f"its prediction_scale {cls.prediction_scale!r} is not one of {SCALES}")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        problems.append(f"it does not implement {', '.join(missing)}")
    return problems


def load_predictor(reference: str) -> type[Predictor]:
    """The user's predictor class named ``path/to/file.py:ClassName`` or ``module:ClassName``, checked
    against the contract and registered (again in every process that loads it)."""
    cls = import_object(reference)
    problems = contract_problems(cls)
    if problems:
        raise InvalidInputError(f"{reference} is not a usable predictor: {'; '.join(problems)}")
    known = _REGISTRY.get(cls.name)
    if known is not None and known is not cls:
        raise InvalidInputError(f"{reference}: the name {cls.name!r} is taken by {known.__module__}."
                                f"{known.__qualname__}; give the class another name")
    _REGISTRY[cls.name] = cls
    return cls


def _import_predictors() -> None:
    """Import every predictor module (each registers its predictors; a new module is added here), then the
    predictors installed packages declare in the ``cgbench.predictors`` entry-point group."""
    from baselines import ensemble, gennape, graf, simple, zc_ranker  # noqa: F401

    for entry in entry_points(group=PREDICTORS_GROUP):
        load_predictor(entry.value)


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

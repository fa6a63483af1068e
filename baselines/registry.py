"""The predictor registry: predictor modules register their classes here by name.

A predictor module imports :func:`register_predictor` from here; ``baselines.predictors`` imports every
predictor module, in one explicit list, and is where predictors are made by name. This module only holds
and checks classes, so a predictor module that needs another by name (``rank_ensemble``'s members) looks
it up here without importing the list.
"""

from __future__ import annotations

from cgbench.errors import InvalidInputError, unknown_name
from cgbench.submission import METHOD_NAME

from .predictor import Predictor

_REGISTRY: dict[str, type[Predictor]] = {}
SCALES = ("target", "rank")


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    # The name becomes a submission's method name: the file leaderboard/submissions/<name>.json.gz.
    if not METHOD_NAME.fullmatch(cls.name):
        raise ValueError(f"predictor name {cls.name!r} must be lower-case letters, digits and _ (it names files)")
    if cls.name in _REGISTRY:
        raise ValueError(f"predictor {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registered(name: str) -> type[Predictor]:
    """The class registered as ``name`` (:class:`~cgbench.errors.UnknownNameError` naming the known ones)."""
    if name not in _REGISTRY:
        raise unknown_name("predictor", name, _REGISTRY)
    return _REGISTRY[name]


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
    if not isinstance(cls.uses_labels, bool):
        problems.append(f"its uses_labels {cls.uses_labels!r} is not True or False")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        problems.append(f"it does not implement {', '.join(missing)}")
    return problems


def register_user_predictor(cls: type[Predictor], where: str) -> type[Predictor]:
    """Register a user's class (again, in every process that loads it), refusing a name that another has."""
    known = _REGISTRY.get(cls.name)
    if known is not None and known is not cls:
        raise InvalidInputError(f"{where}: the name {cls.name!r} is taken by {known.__module__}."
                                f"{known.__qualname__}; give the class another name")
    _REGISTRY[cls.name] = cls
    return cls


def registered_names() -> list[str]:
    return sorted(_REGISTRY)

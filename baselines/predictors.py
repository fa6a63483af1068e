"""Every predictor, by name: the one list of predictor modules, the predictors installed packages declare
(the ``cgbench.predictors`` entry-point group), and a user's predictor from a file.

A new predictor module is added to the imports below; importing it registers its classes
(``baselines.registry``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from cgbench.errors import InvalidInputError
from cgbench.plugins import import_object

from . import device_embedding, ensemble, gennape, graf, simple, zc_ranker  # noqa: F401  (each registers its predictors)
from .zcp import methods as proxy_methods  # noqa: F401  (zcp_<proxy> and suite_zero_<proxy>)
from .predictor import Predictor
from .registry import contract_problems, register_user_predictor, registered, registered_names

PREDICTORS_GROUP = "cgbench.predictors"


def load_predictor(reference: str) -> type[Predictor]:
    """The user's predictor class named ``path/to/file.py:ClassName`` or ``module:ClassName``, checked
    against the contract and registered (again in every process that loads it)."""
    cls = import_object(reference)
    problems = contract_problems(cls)
    if problems:
        raise InvalidInputError(f"{reference} is not a usable predictor: {'; '.join(problems)}")
    return register_user_predictor(cls, reference)


def _installed() -> None:
    """Register the predictors that installed packages declare (a package installed meanwhile counts too)."""
    for entry in entry_points(group=PREDICTORS_GROUP):
        load_predictor(entry.value)


def predictor_class(name: str) -> type[Predictor]:
    _installed()
    return registered(name)


def make_predictor(name: str, **options) -> Predictor:
    return predictor_class(name)(**options)


def list_predictors() -> list[str]:
    _installed()
    return registered_names()

"""Zero-cost proxies as training-free methods of the benchmark: one method per proxy.

- ``zcp_<proxy>`` (every registered proxy): the proxy's score of each evaluated network, computed
  here under the proxy's declared recipe with the run's seed as the recipe seed (the seed of the
  initial weights and of random inputs). Scores go to the family's score tables
  (:mod:`baselines.zcp.scoring`), so a row is scored once per seed and every track that evaluates it
  reads the same score; a benchmark runs these units on the work engine like any other (``--workers``,
  ``--backend submitit``, resumable). A network whose scoring fails is recorded in the score table with
  its error and ranks last.
- ``suite_zero_<proxy>``: NAS-Bench-Suite-Zero's published scores (NASLib's files, Apache-2.0), on the
  families where they cover every architecture; the leaderboard badges them "published scores".

Predictions are the scores' ranks among the evaluated rows (1 = lowest; ties share their mean rank):
-inf (a proxy's "undefined") and failed networks rank below every scored one. Neither kind reads a label
(``uses_labels = False``): runs declare ``trained_on: []``, valid on every track.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

import numpy as np
from scipy.stats import rankdata

from cgbench.dataset import Family

from ..predictor import Predictor
from ..registry import register_predictor
from .proxies import get_proxy, list_proxies
from .recipe import ProxyRecipe
from .reference import published_scores
from .scoring import DATA_ROOT_ENV, cifar10_on_disk, load_scores, proxy_recipe, score_family, takes_cifar10

SUITE_ZERO_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacob_cov", "l2_norm", "nwot", "params",
                      "plain", "snip", "synflow", "zen")
SUITE_ZERO_SOURCE = ("NAS-Bench-Suite-Zero (automl/NASLib: zc_nasbench101.json, nb201_zen.zip, "
                     "tnb101_classification_synflow.zip, tnb101_macro_zen.zip), Apache-2.0; scores of the data "
                     "of the family's default target, as published")


def score_ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks of ``scores`` (1 = lowest, ties averaged), NaN (a failed network) and -inf tied below the rest."""
    values = np.where(np.isnan(scores), -np.inf, scores)
    return rankdata(values, method="average")


def recipe_words(recipe: ProxyRecipe) -> str:
    data = "CIFAR-10 images" if recipe.data == "real" else "seeded N(0, 1) images and uniform labels"
    return (f"{data}, {recipe.n_batches} batch(es) of {recipe.batch_size}, BatchNorm in {recipe.bn_mode} mode, "
            f"{recipe.precision}; recipe seed = run seed (initial weights and inputs)")


class ProxyMethod(Predictor):
    """A proxy computed here, one score per evaluated network and seed (see the module notes)."""

    proxy: ClassVar[str]
    prediction_scale = "rank"
    uses_labels = False

    def __init__(self, device: str = "cpu", progress: bool = False) -> None:
        self.device, self.progress = device, progress
        self.seed: int | None = None

    @classmethod
    def settings(cls) -> str:
        return recipe_words(get_proxy(cls.proxy).recipe)

    @classmethod
    def cannot_predict(cls, family: Family, target: str) -> str | None:
        space = family.spec.space
        if space is None:
            return f"{family.name} is a model zoo without a search space to build networks from"
        if get_proxy(cls.proxy).recipe.data != "real":
            return None
        if not takes_cifar10(space):
            return f"its recipe feeds CIFAR-10 images; {family.name}'s networks take {tuple(space.input_shape[1:])}"
        if not cifar10_on_disk():
            return f"its recipe feeds CIFAR-10 images, and {DATA_ROOT_ENV} names no CIFAR-10 on this machine"
        return None

    def fit(self, data, seed: int, valid=None) -> None:
        self.seed = seed

    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        if self.seed is None:
            raise RuntimeError(f"{self.name}: fit(data=[], seed) sets the recipe seed before predict")
        overrides = {"seed": self.seed}
        score_family(family, [self.proxy], overrides, indices, self.device, progress=self.progress)
        scores = load_scores(family, self.proxy, proxy_recipe(self.proxy, overrides))[np.asarray(indices)]
        return score_ranks(scores)


class PublishedProxyMethod(Predictor):
    """NAS-Bench-Suite-Zero's published scores of one proxy (see the module notes)."""

    proxy: ClassVar[str]
    prediction_scale = "rank"
    uses_labels = False
    provenance = SUITE_ZERO_SOURCE

    @classmethod
    def cannot_predict(cls, family: Family, target: str) -> str | None:
        scores = _published(family.name).get(cls.proxy, {})
        architectures = set(family.arch_ids)
        covered, n = len(architectures & scores.keys()), len(architectures)
        if covered < n:
            return f"NAS-Bench-Suite-Zero published {cls.proxy} scores of {covered} of its {n} architectures"
        return None

    def fit(self, data, seed: int, valid=None) -> None:
        """Published scores: nothing to fit, the same predictions under every seed."""

    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        scores = _published(family.name).get(self.proxy, {})
        arch_ids = [family.arch_ids[int(i)] for i in indices]
        missing = [a for a in arch_ids if a not in scores]
        if missing:
            raise ValueError(f"{self.name}: NAS-Bench-Suite-Zero published no {self.proxy} score of {len(missing)} of "
                             f"the {len(arch_ids)} rows asked for ({family.name}, e.g. {missing[0]!r})")
        return score_ranks(np.array([scores[a] for a in arch_ids], dtype=np.float64))


@cache
def _published(family_name: str) -> dict[str, dict[str, float]]:
    return published_scores(family_name)


def _register(base: type[Predictor], prefix: str, proxy: str, description: str) -> None:
    name = f"{prefix}_{proxy}"
    register_predictor(type(name, (base,), {"name": name, "proxy": proxy, "description": description,
                                            "__module__": __name__, "__doc__": base.__doc__}))


for _proxy in list_proxies():
    _register(ProxyMethod, "zcp", _proxy, f"zero-cost proxy {_proxy}: {get_proxy(_proxy).description}")
for _proxy in SUITE_ZERO_PROXIES:
    _register(PublishedProxyMethod, "suite_zero", _proxy,
              f"NAS-Bench-Suite-Zero's published {_proxy} scores: {get_proxy(_proxy).description}")

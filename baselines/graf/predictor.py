"""The registered ``graf`` predictor: GRAF-style CG features fed to gradient-boosted trees.

Features (``features.py``) exist for any CG, so ``graf`` runs on every family and track. Trees
come from **LightGBM**, chosen over XGBoost and scikit-learn's HistGradientBoosting because it
is a small wheel with only NumPy/SciPy beside it (XGBoost's Linux wheel pulls in NCCL; scikit-
learn is not otherwise needed here), handles missing values natively (FLOPs unknown in imported
GENNAPE families, zero-cost scores not stored for every row), is deterministic with
``deterministic=True`` and one thread, and has ranking objectives with query groups
(``lambdarank``), which is how labels of different families are kept from being compared.

Options (defaults chosen with ``benchmarks/exp_lofo.py``):

- ``labels``: how each training family's labels are put on one scale: ``rank`` (normal scores
  of their ranks within the family) or ``zscore``. One family alone is ranked the same either way.
- ``features``: ``raw`` (as computed), ``family_rank`` (normal scores of each feature's rank
  among *all rows of the row's family*, a label-free transform that turns "3 GFLOPs" into "more
  FLOPs than most networks of this family"; computed from the family's CGs, never its labels), or
  ``both`` (raw and ranked side by side).
- ``objective``: ``regression`` (squared error on the normalised labels) or ``lambdarank``
  (LambdaMART on queries of ``query_size`` random rows of one family, relevance = the label's
  percentile within its family in 31 levels).
- ``proxies``: zero-cost proxy scores to add as features, read from the family's stored score
  tables (``cgbench zcp score``; random-input recipes as ``zc_ranker``); rows without a stored
  score get NaN, which the trees route on their own. Nothing is computed here.

- ``flops_prior``: a fixed starting score of ``flops_prior`` x the normal score of the row's
  FLOPs rank in its family; the trees then learn what to add to "bigger is better" (0: no prior).
- ``monotone_cost`` (default on): constrain the trees to be non-decreasing in FLOPs and
  parameters, the one prior that holds in every labelled family (FLOPs Spearman 0.46-0.94).
  Measured (``benchmarks/exp_lofo.py``, seeds 0-4): NB-101 -> NB-201 zero-shot 0.780 with it
  against 0.765 without; leave-one-family-out NB-101 0.863 against 0.802, TransNAS-Bench macro
  0.401 against 0.195. (``flops_prior=1`` beats FLOPs on TransNAS-Bench macro, 0.782 against
  0.766, but drops NB-101 -> NB-201 to 0.656; ``lambdarank`` was worse everywhere.)

**Number of trees.** ``fit`` boosts ``n_estimators`` rounds and keeps the first ``k`` trees, ``k`` a
multiple of ``eval_every`` (or all), whose validation Spearman is best (``baselines.training``);
without validation rows it keeps them all. ``step_log`` holds the curve.

``fine_tune`` continues boosting from the fitted state: ``fine_tune_rounds`` more trees whose
starting score is the fitted model's output, fitted to the few labelled rows of the new family
(normalised within it); predictions add all ensembles up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cgbench.dataset import Family

from ..normalise import LABEL_NORMALISATIONS, normalise_labels, rank_normal_scores
from ..predictor import Predictor, TrainingSet
from ..registry import register_predictor
from ..training import StepLog, validation_spearman
from .features import FEATURE_NAMES, graf_features

FEATURE_MODES = ("raw", "family_rank", "both")
OBJECTIVES = ("regression", "lambdarank")
RELEVANCE_LEVELS = 31  # LightGBM's default label_gain covers relevance 0..30
PROXY_RECIPE_OVERRIDES = {"data": "random"}

_FAMILY_FEATURES: dict[tuple[str, str], np.ndarray] = {}


@dataclass
class Trees:
    """A LightGBM booster and how many of its rounds the model uses (chosen on validation rows)."""

    booster: object
    rounds: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_iteration=self.rounds)

    @property
    def n_leaves(self) -> int:
        return int(sum(tree["num_leaves"] for tree in self.booster.dump_model(num_iteration=self.rounds)["tree_info"]))


def select_rounds(trees: Trees, score: Callable[[], float], eval_every: int) -> StepLog:
    """Set ``trees.rounds`` to the multiple of ``eval_every`` (or the whole ensemble) that ``score``
    (validation Spearman of the model with ``trees.rounds`` rounds) rates best; returns the curve."""
    total = trees.rounds
    log = StepLog(total, steps_taken=total)
    for rounds in sorted({*range(eval_every, total, eval_every), total}):
        trees.rounds = rounds
        value = score()
        log.history.append((rounds, value))
        if math.isfinite(value) and value > log.best_score:
            log.best_step, log.best_score = rounds, value
    trees.rounds = log.best_step if log.best_step is not None else total
    return log


def family_features(family: Family) -> np.ndarray:
    """GRAF features of every row of ``family`` (cached per family build, i.e. per data sha256)."""
    key = (family.name, family.data_sha256)
    if key not in _FAMILY_FEATURES:
        _FAMILY_FEATURES[key] = graf_features(
            family.graphs, family.table.column("flops").to_numpy(zero_copy_only=False),
            family.table.column("params").to_numpy(zero_copy_only=False))
    return _FAMILY_FEATURES[key]


def proxy_features(family: Family, proxies: tuple[str, ...]) -> np.ndarray:
    """Stored zero-cost scores (rows x proxies) of ``family``; NaN where a row has no score."""
    from ..zcp.scoring import load_scores, proxy_recipe

    columns = [load_scores(family, p, proxy_recipe(p, PROXY_RECIPE_OVERRIDES)) for p in proxies]
    return np.stack(columns, axis=1) if columns else np.zeros((len(family), 0))


def flops_rank_scores(family: Family) -> np.ndarray:
    """Normal scores of each row's FLOPs rank among the rows of ``family`` (0 where FLOPs are unknown).

    Label-free: it reads the family's FLOPs column only, so it exists for a family never trained on.
    """
    flops = family.table.column("flops").to_numpy(zero_copy_only=False).astype(np.float64)
    return np.nan_to_num(rank_normal_scores(np.where(flops < 0, np.nan, flops), keep_nan=True))


def relevance_levels(labels: np.ndarray) -> np.ndarray:
    """Integer relevance 0..30 from the labels' percentile ranks (ties share a level)."""
    from scipy import stats

    percentile = (stats.rankdata(labels) - 0.5) / len(labels)
    return np.minimum((percentile * RELEVANCE_LEVELS).astype(np.int64), RELEVANCE_LEVELS - 1)


@register_predictor
class GrafPredictor(Predictor):
    name = "graf"
    prediction_scale = "rank"  # trained on ranks within each family: only the order of its scores counts
    description = ("GRAF-style CG features (op-group counts, conv/pool path lengths, degrees, width, shapes, "
                   "FLOPs, params) with LightGBM gradient-boosted trees; labels rank-normalised per family")

    def __init__(self, labels: str = "rank", features: str = "both", objective: str = "regression",
                 proxies: tuple[str, ...] = (), n_estimators: int = 400, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_child_samples: int = 20, feature_fraction: float = 0.8,
                 query_size: int = 128, fine_tune_rounds: int = 50, monotone_cost: bool = True,
                 flops_prior: float = 0.0, eval_every: int = 25, threads: int = 1) -> None:
        for value, allowed, what in ((labels, LABEL_NORMALISATIONS, "labels"), (features, FEATURE_MODES, "features"),
                                     (objective, OBJECTIVES, "objective")):
            if value not in allowed:
                raise ValueError(f"unknown {what} option {value!r}; expected one of {allowed}")
        if proxies:
            from ..zcp.proxies import get_proxy

            for proxy in proxies:
                get_proxy(proxy)  # an unknown name fails here, with the list of known proxies
        self.labels, self.features, self.objective = labels, features, objective
        self.proxies = tuple(proxies)
        self.n_estimators, self.fine_tune_rounds, self.query_size = n_estimators, fine_tune_rounds, query_size
        self.monotone_cost, self.flops_prior = monotone_cost, flops_prior
        if eval_every < 1:
            raise ValueError(f"eval_every must be a positive number of rounds, got {eval_every}")
        self.eval_every = eval_every
        self.step_log: StepLog | None = None
        self.params = {"learning_rate": learning_rate, "num_leaves": num_leaves,
                       "min_child_samples": min_child_samples, "feature_fraction": feature_fraction,
                       "num_threads": threads, "deterministic": True, "force_row_wise": True, "verbose": -1}
        self._boosters: list[Trees] = []  # fit's ensemble, then one more per fine_tune; outputs add up

    @property
    def feature_names(self) -> list[str]:
        base = [*FEATURE_NAMES, *(f"zcp_{p}" for p in self.proxies)]
        if self.features == "raw":
            return base
        ranked = [f"{name}_family_rank" for name in base]
        return ranked if self.features == "family_rank" else [*base, *ranked]

    def family_matrix(self, family: Family) -> np.ndarray:
        """The model's input features of every row of ``family`` (rows x :attr:`feature_names`)."""
        raw = np.concatenate([family_features(family), proxy_features(family, self.proxies)], axis=1)
        if self.features == "raw":
            return raw
        ranked = rank_normal_scores(raw, keep_nan=True)
        return ranked if self.features == "family_rank" else np.concatenate([raw, ranked], axis=1)

    def _dataset(self, data: list[TrainingSet], seed: int):
        """LightGBM's training set: features, normalised labels (or relevance levels and query sizes), and
        the starting score of every row (the FLOPs prior plus what boosters fitted before predict)."""
        import lightgbm as lgb

        xs, ys, starts, groups = [], [], [], []
        rng = np.random.default_rng(seed)
        for part in data:
            labels = part.labels()
            keep = ~np.isnan(labels)
            rows, labels = np.asarray(part.indices)[keep], labels[keep]
            if len(rows) < 2:
                continue
            if self.objective == "lambdarank":
                order = rng.permutation(len(rows))  # queries are random groups of one family's rows
                rows, labels = rows[order], relevance_levels(labels[order])
                groups.extend(np.diff(np.r_[np.arange(0, len(rows), self.query_size), len(rows)]))
            else:
                labels = normalise_labels(labels, self.labels)
            x = self.family_matrix(part.family)[rows]
            xs.append(x)
            ys.append(labels)
            starts.append(self._raw_score(part.family, rows, x))
        if not xs:
            raise ValueError("graf needs at least 2 labelled rows of one family to train")
        return lgb.Dataset(np.concatenate(xs), np.concatenate(ys), group=groups or None,
                           init_score=np.concatenate(starts), feature_name=self.feature_names, free_raw_data=False)

    def prior(self, family: Family) -> np.ndarray:
        """``flops_prior`` x the normal score of each row's FLOPs rank in its family (0 without a prior)."""
        if not self.flops_prior:
            return np.zeros(len(family))
        return self.flops_prior * flops_rank_scores(family)

    def _raw_score(self, family: Family, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The prior plus the sum of the fitted boosters' outputs for rows ``rows`` (features ``x``)."""
        return self.prior(family)[rows] + sum((booster.predict(x) for booster in self._boosters), np.zeros(len(rows)))

    def _booster_params(self, objective: str, seed: int) -> dict:
        """LightGBM's parameters for one ensemble (monotone in the cost features when ``monotone_cost``)."""
        params = {**self.params, "objective": objective, "seed": seed}
        if self.monotone_cost:
            params["monotone_constraints"] = [int(n.startswith(("log10_flops", "log10_params")))
                                              for n in self.feature_names]
        return params

    def _train(self, data: list[TrainingSet], seed: int, rounds: int, **overrides) -> Trees:
        import lightgbm as lgb

        params = {**self._booster_params(self.objective, seed), **overrides}
        trees = Trees(lgb.train(params, self._dataset(data, seed), num_boost_round=rounds), rounds)
        self._boosters.append(trees)
        return trees

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        self._boosters = []
        trees = self._train(data, seed, self.n_estimators)
        self.step_log = select_rounds(trees, lambda: validation_spearman(self.predict, valid),
                                      self.eval_every) if valid else None

    @property
    def _fitted(self) -> bool:
        return bool(self._boosters)

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        if not self._fitted:
            raise RuntimeError(f"{self.name}.fine_tune needs a fitted model; call fit first")
        # With 10 or 20 shots the fit's leaf minimum (20 rows) would forbid every split and the
        # fine-tuning trees would only shift all scores by a constant, leaving the ranking unchanged.
        n_labelled = int(np.count_nonzero(~np.isnan(data.labels())))
        leaf_rows = min(self.params["min_child_samples"], max(2, n_labelled // 4))
        self._train([data], seed, self.fine_tune_rounds, min_child_samples=leaf_rows, min_data_in_bin=1)

    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        if not self._fitted:
            raise RuntimeError(f"this {self.name} predictor is not fitted yet; call fit() first")
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
            raise ValueError(f"indices must be a 1-D integer array, got dtype {indices.dtype} and shape {indices.shape}")
        if not indices.size:
            return np.zeros(0)
        return self._raw_score(family, indices, self.family_matrix(family)[indices]).astype(np.float64)

    @property
    def n_parameters(self) -> int:
        """Leaves of the ensemble (each holds one learned value)."""
        return sum(trees.n_leaves for trees in self._boosters)

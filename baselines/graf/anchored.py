"""``graf_anchored``: the FLOPs ranking of the predicted family, plus what GRAF trees learned beyond FLOPs.

The score of row ``x`` of any family ``F`` (seen in training or not) is

    s(x) = z_F(x) + shrinkage * r(x)

- ``z_F(x)``, the **anchor**: the normal score of ``x``'s FLOPs rank among all rows of ``F``
  (label-free: it reads only ``F``'s FLOPs column; rows with unknown FLOPs get 0). Ranking by it
  alone is the FLOPs ranking.
- ``r(x)``, the **residual**: LightGBM trees on GRAF features (``features.py``; optionally stored
  zero-cost scores) fitted, in every training family ``f``, to what ``f``'s FLOPs ranking leaves
  unexplained: the family's normalised labels ``y`` minus their least-squares line on ``z_f``
  (``y - b_f z_f``, ``b_f`` = the correlation of ``y`` and ``z_f``). The trees therefore learn
  only structure beyond FLOPs; how strongly FLOPs rank a family (``b_f``, 0.28 to 0.95 across
  cgbench's labelled families) is not theirs to learn.
- **Family balance**: each training family carries the same total weight (``1 / n_f`` per row),
  because leave-one-family-out generalises over families, not rows; without it NB-201's 5,425
  distinct cells outweigh NB-101's 292 by 19 to 1.
- ``shrinkage``, chosen by an **inner leave-one-family-out** over the training families when
  there are at least ``min_families_to_select`` of them: for each training family ``G``, trees
  fitted on the other training families score ``G``'s rows, and the shrinkage of
  ``shrinkages`` with the largest mean (over ``G``) Spearman correlation between ``G``'s labels
  and ``z_G + shrinkage * r_G`` wins. The model departs from FLOPs only as far as departing helped
  on families it was not fitted to; shrinkage 0 is the FLOPs ranking. With fewer training families
  (one source, as NB-101 -> NB-201 zero-shot) there is nothing to hold out and the shrinkage is
  ``default_shrinkage`` (1: the residual as fitted). ``inner_scores`` keeps the inner table.
  A training "family" is, precisely, one label column of one family: the device-transfer track
  trains on the latency of several devices of NB-201, and its inner folds hold out one device.

``fine_tune`` boosts ``fine_tune_rounds`` more trees from the fitted score on the few labelled rows
of the new family (labels normalised within them); their output adds to the score.

What it measured (``benchmarks/exp_lofo.py``) is in the module docstring of the experiment and
in the quick protocol's leave-one-out table; in short, the inner selection keeps the shrinkage small because what
the trees learn beyond FLOPs on some families (cells with pooling ops: NB-201, NB-101) reverses
on others (OFA-MobileNetV3, TransNAS-Bench macro), so the method stays close to FLOPs where the
training families disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from cgbench.dataset import Family

from ..normalise import normalise_labels
from ..predictor import TrainingSet
from ..registry import register_predictor
from ..training import validation_spearman
from .predictor import GrafPredictor, Trees, flops_rank_scores, select_rounds

DEFAULT_SHRINKAGES = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class ResidualRows:
    """The labelled rows of one training family with what the trees fit there."""

    family: Family
    target: str
    rows: np.ndarray
    labels: np.ndarray  # normalised within the family
    anchor: np.ndarray  # z_f of the rows
    weight: float  # per row: families weigh the same in total (or 1 without balance)

    @property
    def residual(self) -> np.ndarray:
        """Labels minus their least-squares line on the anchor (both have mean ~0 within the family)."""
        if self.anchor.std() == 0:
            return self.labels
        slope = np.corrcoef(self.labels, self.anchor)[0, 1] * self.labels.std() / self.anchor.std()
        return self.labels - slope * self.anchor

    @property
    def source(self) -> str:
        """What an inner fold holds out: a family's label column (device transfer trains on several of one family)."""
        return f"{self.family.name}:{self.target}"


@register_predictor
class AnchoredGrafPredictor(GrafPredictor):
    name = "graf_anchored"
    description = ("the family's FLOPs ranking plus GRAF trees fitted to what FLOPs leave unexplained in each "
                   "training family (families weighed equally), added with a shrinkage chosen by inner "
                   "leave-one-family-out")

    def __init__(self, shrinkages: tuple[float, ...] = DEFAULT_SHRINKAGES, default_shrinkage: float = 1.0,
                 min_families_to_select: int = 3, balance_families: bool = True, **graf_options) -> None:
        for option in ("objective", "flops_prior"):
            if option in graf_options:
                raise ValueError(f"graf_anchored fits squared error to residuals of its own FLOPs anchor; "
                                 f"the graf option {option!r} does not apply")
        super().__init__(**graf_options)
        if not shrinkages or min(shrinkages) < 0:
            raise ValueError(f"shrinkages must be a non-empty list of non-negative numbers, got {shrinkages}")
        if min_families_to_select < 3:
            raise ValueError("selecting the shrinkage by leave-one-family-out needs at least 3 families "
                             "(each fold trains on 2 or more)")
        self.shrinkages, self.default_shrinkage = tuple(float(s) for s in shrinkages), float(default_shrinkage)
        self.min_families_to_select, self.balance_families = min_families_to_select, balance_families
        self.shrinkage: float | None = None
        self.inner_scores: dict[str, list[float]] = {}  # inner held-out "family:target" -> Spearman per shrinkage
        self._residual_booster = None

    # ------------------------------------------------------------------ fitting

    def _residual_rows(self, data: list[TrainingSet]) -> list[ResidualRows]:
        parts = []
        for part in data:
            labels = part.labels()
            keep = ~np.isnan(labels)
            if keep.sum() < 2:
                continue
            rows = np.asarray(part.indices)[keep]
            parts.append(ResidualRows(part.family, part.target, rows, normalise_labels(labels[keep], self.labels),
                                      flops_rank_scores(part.family)[rows],
                                      1.0 / len(rows) if self.balance_families else 1.0))
        if not parts:
            raise ValueError("graf_anchored needs at least 2 labelled rows of one family to train")
        return parts

    def _fit_residual(self, parts: list[ResidualRows], seed: int) -> Trees:
        import lightgbm as lgb

        weights = np.concatenate([np.full(len(p.rows), p.weight) for p in parts])
        dataset = lgb.Dataset(np.concatenate([self.family_matrix(p.family)[p.rows] for p in parts]),
                              np.concatenate([p.residual for p in parts]), weight=weights / weights.mean(),
                              feature_name=self.feature_names, free_raw_data=False)
        booster = lgb.train(self._booster_params("regression", seed), dataset, num_boost_round=self.n_estimators)
        return Trees(booster, self.n_estimators)

    def _select_shrinkage(self, parts: list[ResidualRows], seed: int) -> float:
        """The shrinkage with the best mean Spearman over inner held-out families (``default_shrinkage``
        when there are too few families to hold one out)."""
        self.inner_scores = {}
        if len(parts) < self.min_families_to_select:
            return self.default_shrinkage
        for held_out in parts:
            others = [p for p in parts if p is not held_out]
            residual = self._fit_residual(others, seed).predict(self.family_matrix(held_out.family)[held_out.rows])
            self.inner_scores[held_out.source] = [
                float(stats.spearmanr(held_out.labels, held_out.anchor + s * residual)[0]) for s in self.shrinkages]
        mean = np.mean(list(self.inner_scores.values()), axis=0)
        return self.shrinkages[int(np.argmax(mean))]

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        parts = self._residual_rows(data)
        sources = [p.source for p in parts]
        if len(set(sources)) != len(sources):
            raise ValueError(f"one TrainingSet per family and label column: got {sources}")
        self._boosters = []
        self.shrinkage = self._select_shrinkage(parts, seed)
        self._residual_booster = self._fit_residual(parts, seed)
        self.step_log = select_rounds(self._residual_booster, lambda: validation_spearman(self.predict, valid),
                                      self.eval_every) if valid else None

    @property
    def _fitted(self) -> bool:
        return self._residual_booster is not None

    # ------------------------------------------------------------------ scoring

    def _raw_score(self, family: Family, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Anchor + shrinkage x residual, plus what fine-tuning boosted on top (what ``_train`` starts from)."""
        fitted = flops_rank_scores(family)[rows] + self.shrinkage * self._residual_booster.predict(x)
        return fitted + sum((booster.predict(x) for booster in self._boosters), np.zeros(len(rows)))

    @property
    def n_parameters(self) -> int:
        boosters = [self._residual_booster, *self._boosters] if self._fitted else []
        return sum(trees.n_leaves for trees in boosters)

"""``zc_ranker``: a learned pairwise ranker (RankNet) over zero-cost proxy scores.

Features of an architecture: the scores of ``proxies`` (computed on first use with
``baselines.zcp.scoring.score_family`` for exactly the rows needed, then read back from the
family's stored score tables) plus log FLOPs and log parameters from the family table.

Proxy scores live on scales that differ by orders of magnitude between proxies and between
families (synflow spans ~10^30 on NB-201), so each feature is turned into normal scores of its
ranks *within the rows being fitted or predicted of one family* (a label-free, monotone
transform: it keeps every proxy's own ranking and makes families comparable for zero-shot
transfer). Ties (e.g. NB-101 rows sharing an arch_id) get their average rank.

Model: a small MLP ``f(x)`` trained with RankNet's pairwise logistic loss
``log(1 + exp(-(f(x_i) - f(x_j))))`` over pairs ``y_i > y_j`` drawn within one family (labels of
different families are never compared). ``fit`` keeps the step whose validation Spearman is best
(checked every ``eval_every`` of its ``steps``; ``baselines.training``). ``fine_tune`` continues from
the fitted weights on the pairs of the few labelled rows, with a lower learning rate.

**Default proxies: none.** Measured with ``benchmarks/bench_zcp_cost.py`` on this two-core CPU
(one torch thread, shared machine), building the seeded network and scoring it takes, per network,
0.05-0.2 s for ``params`` (the build alone), 0.06-0.3 s for ``l2_norm``, 0.3-1.7 s for ``flops``,
0.2-5 s for ``meco``, 1-13 s for ``nwot``, 1.3-19 s for ``jacob_cov`` and more for the gradient
proxies (NB-201 cells at the low end, TransNAS-Bench micro and OFA networks at the high end). The
default protocol has ``zc_ranker`` score every row of its five families (the few-shot test part is
the family less its 50 shots), ~29,000 networks, so even ``params`` would take ~40 minutes: no
proxy fits the 10-minute main job, and by default ``zc_ranker`` ranks by log FLOPs and log
parameters alone (a learned, cross-family-normalised cost ranker). ``proxies=FULL_PROXIES`` (or
any list) brings proxies back where their scores are stored or time allows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cgbench.dataset import Family

from .normalise import rank_normal_scores
from .predictor import Predictor, TrainingSet
from .registry import register_predictor
from .training import BestStep, Schedule, StepLog, module_states, restore_states, validation_spearman

DEFAULT_PROXIES: tuple[str, ...] = ()
# The proxies of the paper-scale runs, scored once per family (`cgbench zcp score` or a zcp plan).
FULL_PROXIES = ("synflow", "nwot", "jacob_cov", "snip")
# Random inputs: no dataset needs to be on disk, and ImageNet families score the same way.
RECIPE_OVERRIDES = {"data": "random"}


class ProxyFeatures:
    """Rank-normalised proxy scores and log FLOPs/params of rows of a family (scoring missing rows first)."""

    def __init__(self, proxies: tuple[str, ...], device: str, progress: bool) -> None:
        from .zcp.proxies import list_proxies

        unknown = [p for p in proxies if p not in list_proxies()]
        if unknown:
            raise ValueError(f"unknown proxies {unknown}; known: {', '.join(list_proxies())}")
        self.proxies, self.device, self.progress = proxies, device, progress

    @property
    def names(self) -> list[str]:
        return [*self.proxies, "log_flops", "log_params"]

    def raw(self, family: Family, indices: np.ndarray) -> np.ndarray:
        from .zcp.scoring import load_scores, proxy_recipe, score_family

        columns = []
        if self.proxies:
            score_family(family, list(self.proxies), RECIPE_OVERRIDES, indices=indices, device=self.device,
                         progress=self.progress)
        for proxy in self.proxies:
            columns.append(load_scores(family, proxy, proxy_recipe(proxy, RECIPE_OVERRIDES))[indices])
        for column in ("flops", "params"):
            columns.append(np.log1p(family.table.column(column).to_numpy()[indices].astype(np.float64)))
        return np.stack(columns, axis=1)

    def __call__(self, family: Family, indices: np.ndarray) -> np.ndarray:
        raw = self.raw(family, np.asarray(indices))
        if len(raw) < 2:
            raise ValueError(f"rank features need at least 2 rows of {family.name}, got {len(raw)}")
        return rank_normal_scores(raw)


class RankMLP(nn.Module):
    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


def ordered_pairs(labels: np.ndarray, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` random (better, worse) row pairs with distinct labels (all such pairs if fewer exist)."""
    i, j = np.triu_indices(len(labels), k=1)
    # Oversample: pairs with tied labels are dropped below.
    chosen = rng.permutation(len(i))[:4 * n_pairs]
    i, j = i[chosen], j[chosen]
    differ = labels[i] != labels[j]
    i, j = i[differ], j[differ]
    better = np.where(labels[i] > labels[j], i, j)
    worse = np.where(labels[i] > labels[j], j, i)
    return better[:n_pairs], worse[:n_pairs]


@register_predictor
class ZeroCostRanker(Predictor):
    name = "zc_ranker"
    prediction_scale = "rank"  # trained on ranks within each family: only the order of its scores counts
    description = ("RankNet (pairwise logistic loss, MLP) over rank-normalised zero-cost proxy scores "
                   "(random-input recipes; none by default, see the module notes) plus log FLOPs and log params")

    def __init__(self, proxies: tuple[str, ...] = DEFAULT_PROXIES, hidden: int = 16, steps: int = 300,
                 pairs_per_step: int = 256, lr: float = 1e-2, fine_tune_steps: int = 100, fine_tune_lr: float = 3e-3,
                 eval_every: int = 25, device: str = "cpu", progress: bool = False) -> None:
        self.features = ProxyFeatures(tuple(proxies), device, progress)
        self.eval_every = eval_every
        self.on_evaluation = None  # called with the step at each validation (the convergence study sets it)
        self.step_log: StepLog | None = None
        self.hidden, self.steps, self.pairs_per_step, self.lr = hidden, steps, pairs_per_step, lr
        self.fine_tune_steps, self.fine_tune_lr = fine_tune_steps, fine_tune_lr
        self._model: RankMLP | None = None

    def _labelled(self, data: list[TrainingSet]) -> list[tuple[torch.Tensor, np.ndarray]]:
        """Per family: its features and labels (rows without a label left out)."""
        groups = []
        for part in data:
            labels = part.labels()
            keep = ~np.isnan(labels)
            x = self.features(part.family, np.asarray(part.indices)[keep])
            groups.append((torch.tensor(x, dtype=torch.float32), labels[keep]))
        if not any(len(y) >= 2 for _, y in groups):
            raise ValueError("zc_ranker needs at least 2 labelled rows of one family to form pairs")
        return groups

    def _train(self, groups: list[tuple[torch.Tensor, np.ndarray]], schedule: Schedule, lr: float, seed: int,
               evaluate=None) -> StepLog:
        rng = np.random.default_rng(seed)
        optimizer = torch.optim.Adam(self._model.parameters(), lr=lr)
        usable = [(x, y) for x, y in groups if len(y) >= 2]
        best = BestStep(schedule, evaluate, module_states([self._model]), restore_states([self._model]),
                        self.on_evaluation if evaluate else None)
        while not best.done:
            x, y = usable[best.log.steps_taken % len(usable)]
            better, worse = ordered_pairs(y, self.pairs_per_step, rng)
            if len(better):
                scores = self._model(x)
                loss = nn.functional.softplus(scores[worse] - scores[better]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if best.after_step():
                break
        return best.finish()

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        groups = self._labelled(data)
        torch.manual_seed(seed)
        self._model = RankMLP(len(self.features.names), self.hidden)
        evaluate = (lambda: validation_spearman(self.predict, valid)) if valid else None
        self.step_log = self._train(groups, Schedule(self.steps, self.eval_every), self.lr, seed, evaluate)

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        if self._model is None:
            raise RuntimeError("zc_ranker.fine_tune needs a fitted model; call fit first")
        self._train(self._labelled([data]), Schedule(self.fine_tune_steps), self.fine_tune_lr, seed)

    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("zc_ranker.predict needs a fitted model; call fit first")
        with torch.no_grad():
            x = torch.tensor(self.features(family, np.asarray(indices)), dtype=torch.float32)
            return self._model(x).numpy().astype(np.float64)

    @property
    def n_parameters(self) -> int:
        return 0 if self._model is None else sum(p.numel() for p in self._model.parameters())

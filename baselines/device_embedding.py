"""``device_embedding``: latency on a device never trained on, from its latencies on a few reference
architectures (HELP's hardware embedding, Lee et al. 2021, with boosted trees in place of HELP's
meta-learned network).

A device is described by its log-latencies on a set R of reference architectures, centred and scaled
over R. One LightGBM model maps (an architecture's GRAF features, FLOPs and parameters among them raw
and as ranks within the family, the device's description) to the device's log-latency of the
architecture on the same centred scale, trained on every source device's training rows.

- ``fine_tune`` (the k shots of the held-out device): R is the shots. Each source device is described
  by its latencies on those k architectures (train-part rows of the family's other devices, which the
  device-transfer tracks let a run use: up to k rows per source device beyond the training draw) and
  the model is fitted again; the held-out device is described by its k measured latencies.
- Without shots (k = 0) there is nothing to describe the device by: ``fit``'s model has no description
  and learns the source devices' log-latencies, each centred and scaled over its own training rows
  (a FLOPs-aware cost model of a typical device).

Both models keep the number of trees whose validation Spearman (the source devices' validation rows,
each described like the training rows) is best. Only the order of the predictions counts.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from cgbench.dataset import Family

from .graf.predictor import Trees, family_features, select_rounds
from .normalise import rank_normal_scores
from .predictor import Predictor, TrainingSet
from .registry import register_predictor
from .training import MIN_VALID_ROWS


def log_latency(values: np.ndarray) -> np.ndarray:
    """Natural log of latencies; NaN where a latency is missing or not positive."""
    values = np.asarray(values, np.float64)
    return np.log(np.where(values > 0, values, np.nan))


def centred(values: np.ndarray, over: np.ndarray) -> np.ndarray:
    """``values`` minus the mean of ``over``, divided by its standard deviation (1 when ``over`` is flat)."""
    spread = np.nanstd(over)
    return (values - np.nanmean(over)) / (spread if spread > 0 else 1.0)


_COST_FEATURES: dict[tuple[str, str], np.ndarray] = {}


def cost_features(family: Family) -> np.ndarray:
    """GRAF features of every row, raw and as normal scores of their ranks within the family (cached per
    family build: a fit reads them once per source device and validation set)."""
    key = (family.name, family.data_sha256)
    if key not in _COST_FEATURES:
        raw = family_features(family)
        _COST_FEATURES[key] = np.concatenate([raw, rank_normal_scores(raw, keep_nan=True)], axis=1)
    return _COST_FEATURES[key]


@register_predictor
class DeviceEmbeddingPredictor(Predictor):
    name = "device_embedding"
    prediction_scale = "rank"
    description = ("HELP's hardware embedding with boosted trees: a device is described by its log-latencies on "
                   "the k shot architectures, and one LightGBM model maps (GRAF features with FLOPs, device "
                   "description) to log-latency, trained on the source devices (k = 0: a cost model of a "
                   "typical device)")

    @classmethod
    def cannot_predict(cls, family: Family, target: str) -> str | None:
        # Latency columns name the device they were measured on (as the device-transfer tracks read them).
        if family.label_info(target).get("device"):
            return None
        return f"it predicts a device's latencies; {target} is not one"

    def __init__(self, n_estimators: int = 400, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 20, feature_fraction: float = 0.8, eval_every: int = 25,
                 threads: int = 1) -> None:
        if eval_every < 1:
            raise ValueError(f"eval_every must be a positive number of rounds, got {eval_every}")
        self.n_estimators, self.eval_every = n_estimators, eval_every
        self.params = {"objective": "regression", "learning_rate": learning_rate, "num_leaves": num_leaves,
                       "min_child_samples": min_child_samples, "feature_fraction": feature_fraction,
                       "num_threads": threads, "deterministic": True, "force_row_wise": True, "verbose": -1}
        self.step_log = None
        self._sources: list[TrainingSet] = []
        self._valid: list[TrainingSet] = []
        self._trees: Trees | None = None
        # The reference rows (the shots) and the held-out device's description on them; None before fine_tune.
        self._reference: np.ndarray | None = None
        self._description: np.ndarray | None = None

    def _examples(self, part: TrainingSet, reference: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """One device's rows as (features with the device's description, centred log-latency)."""
        y = log_latency(part.labels())
        keep = ~np.isnan(y)
        rows, y = np.asarray(part.indices)[keep], y[keep]
        x = cost_features(part.family)[rows]
        if reference is None:
            return x, centred(y, y)
        on_reference = log_latency(part.family.labels(part.target)[reference])
        description = np.broadcast_to(centred(on_reference, on_reference), (len(rows), len(reference)))
        return np.concatenate([x, description], axis=1), centred(y, on_reference)

    def _train(self, reference: np.ndarray | None, seed: int) -> None:
        import lightgbm as lgb

        examples = [self._examples(part, reference) for part in self._sources]
        x = np.concatenate([e[0] for e in examples])
        y = np.concatenate([e[1] for e in examples])
        if len(y) < 2:
            raise ValueError("device_embedding needs at least 2 labelled rows of a source device to train")
        booster = lgb.train({**self.params, "seed": seed}, lgb.Dataset(x, y), num_boost_round=self.n_estimators)
        self._trees = Trees(booster, self.n_estimators)
        valid = [self._examples(part, reference) for part in self._valid]
        valid = [(vx, vy) for vx, vy in valid if len(vy) >= MIN_VALID_ROWS]
        if valid:
            self.step_log = select_rounds(self._trees, lambda: float(np.mean(
                [stats.spearmanr(vy, self._trees.predict(vx)).statistic for vx, vy in valid])), self.eval_every)

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        self._sources, self._valid = list(data), list(valid or [])
        self._reference = self._description = None
        self._train(None, seed)

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        if self._trees is None:
            raise RuntimeError("device_embedding.fine_tune needs a fitted model; call fit first")
        shots = log_latency(data.labels())
        keep = ~np.isnan(shots)
        if keep.sum() < 2:
            return  # fewer than two measured shots describe no device: keep the typical-device model
        self._reference = np.asarray(data.indices)[keep]
        self._description = centred(shots[keep], shots[keep])
        self._train(self._reference, seed)

    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        if self._trees is None:
            raise RuntimeError("this device_embedding predictor is not fitted yet; call fit() first")
        x = cost_features(family)[np.asarray(indices)]
        if self._description is not None:
            x = np.concatenate([x, np.broadcast_to(self._description, (len(x), len(self._description)))], axis=1)
        return self._trees.predict(x).astype(np.float64)

    @property
    def n_parameters(self) -> int:
        """Leaves of the ensemble (each holds one learned value)."""
        return 0 if self._trees is None else self._trees.n_leaves

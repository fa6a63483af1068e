"""Label-free and per-family normalisations that make numbers of different families comparable.

Labels of different families are not on one scale (NB-201 CIFAR-10 accuracies span 10-94%,
TransNAS-Bench 21-46%, OFA ImageNet 71-77%), and neither are features such as FLOPs (CIFAR
cells against ImageNet networks). A predictor trained on several families normalises each
family on its own: its labels (:func:`normalise_labels`) and, optionally, its features.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LABEL_NORMALISATIONS = ("rank", "zscore")


def rank_normal_scores(values: np.ndarray, keep_nan: bool = False) -> np.ndarray:
    """Normal quantiles of the average ranks of ``values`` (columns of a 2-D array independently).

    Ties get their average rank. NaN is an error unless ``keep_nan``, which leaves NaN where it is
    and ranks each column's other values among themselves.
    """
    values = np.asarray(values, np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return stats.norm.ppf((stats.rankdata(values, axis=0) - 0.5) / len(values))
    if not keep_nan:
        raise ValueError("feature values contain NaN: an architecture lacks a value")
    columns = values.reshape(len(values), -1)
    out = np.full(columns.shape, np.nan)
    for j in range(columns.shape[1]):
        known = ~np.isnan(columns[:, j])
        if known.any():
            out[known, j] = stats.norm.ppf((stats.rankdata(columns[known, j]) - 0.5) / known.sum())
    return out.reshape(values.shape)


def normalise_labels(labels: np.ndarray, how: str) -> np.ndarray:
    """Labels of one family on a family-free scale: ``rank`` (normal scores of ranks) or ``zscore``."""
    labels = np.asarray(labels, np.float64)
    if how == "rank":
        return rank_normal_scores(labels)
    if how == "zscore":
        std = labels.std()
        if not std > 0:
            raise ValueError(f"cannot z-score {len(labels)} labels that are all equal")
        return (labels - labels.mean()) / std
    raise ValueError(f"unknown label normalisation {how!r}; expected one of {LABEL_NORMALISATIONS}")

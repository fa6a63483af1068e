"""Fuzzy c-means (Bezdek): soft clusters whose memberships weight GENNAPE's predictor heads.

Minimises ``sum_i sum_k u_ik^m ||x_i - c_k||^2`` subject to ``sum_k u_ik = 1`` by alternating
the two closed-form updates

    c_k  = sum_i u_ik^m x_i / sum_i u_ik^m
    u_ik = 1 / sum_j (d_ik / d_ij)^(2 / (m - 1))

until the memberships move less than ``tol``. Centres start from k-means++ seeding so that a
seed fixes the result and well separated blobs are found from the first iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_DISTANCE = 1e-12  # a point sitting on a centre belongs to it alone (up to this floor)


@dataclass(frozen=True)
class FuzzyClusters:
    centers: np.ndarray  # (n_clusters, dim)
    fuzzifier: float  # m > 1; larger m gives softer memberships
    memberships: np.ndarray  # (n_points, n_clusters) of the points the centres were fitted on
    n_iter: int

    def membership(self, x: np.ndarray) -> np.ndarray:
        """Memberships of new points ``x`` (n, dim) in the fitted clusters; rows sum to 1."""
        return fuzzy_memberships(x, self.centers, self.fuzzifier)


def fuzzy_memberships(x: np.ndarray, centers: np.ndarray, fuzzifier: float) -> np.ndarray:
    x, centers = np.asarray(x, np.float64), np.asarray(centers, np.float64)
    if x.ndim != 2 or centers.ndim != 2 or x.shape[1] != centers.shape[1]:
        raise ValueError(f"expected points (n, d) and centres (k, d) of the same d; got {x.shape} and {centers.shape}")
    distance = np.sqrt(((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1))
    distance = np.maximum(distance, _MIN_DISTANCE)
    # u_ik = d_ik^(-2/(m-1)) / sum_j d_ij^(-2/(m-1)), computed in log space to stay finite.
    log_weight = -2.0 / (fuzzifier - 1.0) * np.log(distance)
    log_weight -= log_weight.max(axis=1, keepdims=True)
    weight = np.exp(log_weight)
    return weight / weight.sum(axis=1, keepdims=True)


def _kmeans_plus_plus(x: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, n_clusters):
        d2 = np.min(((x[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        pick = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centers.append(x[pick])
    return np.asarray(centers)


def fuzzy_cmeans(x: np.ndarray, n_clusters: int, fuzzifier: float = 2.0, max_iter: int = 300,
                 tol: float = 1e-6, seed: int = 0) -> FuzzyClusters:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected points as an (n, d) array, got shape {x.shape}")
    if not 1 <= n_clusters <= len(x):
        raise ValueError(f"n_clusters must lie in [1, n_points={len(x)}], got {n_clusters}")
    if fuzzifier <= 1.0:
        raise ValueError(f"the fuzzifier m must be > 1 (m -> 1 is hard k-means), got {fuzzifier}")
    if not np.isfinite(x).all():
        raise ValueError("points contain NaN or infinite values")
    centers = _kmeans_plus_plus(x, n_clusters, np.random.default_rng(seed))
    u = fuzzy_memberships(x, centers, fuzzifier)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        weight = u ** fuzzifier
        centers = (weight.T @ x) / weight.sum(axis=0)[:, None]
        new_u = fuzzy_memberships(x, centers, fuzzifier)
        change = np.abs(new_u - u).max()
        u = new_u
        if change < tol:
            break
    return FuzzyClusters(centers=centers, fuzzifier=fuzzifier, memberships=u, n_iter=n_iter)

"""The metrics harness: every number cgbench reports is computed here.

All functions take ``(y_true, y_pred)`` as equal-length 1-D float arrays; ``y_pred`` is a
prediction of the target itself. Correlations and errors do not depend on the target's direction.
The top-k metrics (``ndcg_at_k``, ``top_k_overlap``, ``precision_at_k``) select the *best*
architectures, so they take ``higher_is_better``: True (the default) for accuracies, False for
costs such as latency, where the best architectures are those with the smallest values.

``ndcg_at_k`` uses GENNAPE's relevance: architectures are ranked best first by prediction and each
contributes a gain of its true value, discounted by 1/log2(rank + 1) and normalised by the gain of
the ideal ordering. For a lower-is-better target the gain of an architecture is the reciprocal of
its true value (for latency: 1/latency, inferences per millisecond), so the fastest architectures
carry the largest gains; the ratio does not depend on the unit. It needs positive true values and
is NaN otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

GENNAPE_KENDALL_MIN_GAP = 1e-4


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(stats.spearmanr(y_true, y_pred).statistic)


def kendall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(stats.kendalltau(y_true, y_pred).statistic)


def kendall_gennape(y_true: np.ndarray, y_pred: np.ndarray, min_gap: float = GENNAPE_KENDALL_MIN_GAP) -> float:
    """Kendall's tau over the pairs whose true values differ by at least ``min_gap``.

    Concordant minus discordant over the counted pairs; a pair with tied predictions counts
    as neither. O(n^2) memory in blocks of rows, fine up to ~10^5 architectures.
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    concordant = counted = 0
    block = max(1, 2_000_000 // max(len(y_true), 1))
    for start in range(0, len(y_true), block):
        dt = y_true[start:start + block, None] - y_true[None, :]
        dp = y_pred[start:start + block, None] - y_pred[None, :]
        upper = np.arange(start, min(start + block, len(y_true)))[:, None] < np.arange(len(y_true))[None, :]
        keep = upper & (np.abs(dt) >= min_gap)
        counted += int(keep.sum())
        concordant += int((np.sign(dt) * np.sign(dp))[keep].sum())
    return concordant / counted if counted else float("nan")


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(stats.pearsonr(y_true, y_pred).statistic)


def _best_first(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Indices of ``values`` from best to worst (ties in index order)."""
    values = np.asarray(values, float)
    return np.argsort(-values if higher_is_better else values, kind="stable")


def ndcg_at_k(y_true: np.ndarray, y_pred: np.ndarray, k: int, higher_is_better: bool = True) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if higher_is_better:
        gain = y_true
    elif np.all(y_true > 0):
        gain = 1.0 / y_true
    else:
        return float("nan")
    discount = 1.0 / np.log2(np.arange(2, min(k, len(y_true)) + 2))
    ranked = gain[_best_first(y_pred, higher_is_better)][:k]
    ideal = np.sort(gain)[::-1][:k]
    best = float(ideal @ discount)
    return float(ranked @ discount) / best if best else float("nan")


def _top_k(values: np.ndarray, k: int, higher_is_better: bool = True) -> set[int]:
    return set(_best_first(values, higher_is_better)[:k].tolist())


def top_k_overlap(y_true: np.ndarray, y_pred: np.ndarray, k: int, higher_is_better: bool = True) -> float:
    """Share of the true top-k that the predicted top-k also holds."""
    return len(_top_k(y_true, k, higher_is_better) & _top_k(y_pred, k, higher_is_better)) / k


def precision_at_k(y_true: np.ndarray, y_pred: np.ndarray, k: int, top_fraction: float = 0.1,
                   higher_is_better: bool = True) -> float:
    """Share of the predicted top-k that is in the true top ``top_fraction`` of all architectures."""
    n_good = max(1, int(round(top_fraction * len(y_true))))
    good = _top_k(y_true, n_good, higher_is_better)
    return len(_top_k(y_pred, k, higher_is_better) & good) / k


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error in %, over the architectures whose true value is not 0."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    nonzero = np.abs(y_true) > 1e-12
    return float(100 * np.mean(np.abs(y_pred[nonzero] - y_true[nonzero]) / np.abs(y_true[nonzero])))


def bootstrap_ci(metric: Callable[..., float], *arrays: np.ndarray, n_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(*arrays)`` over architectures resampled with replacement.

    ``arrays`` are aligned per architecture (``y_true, y_pred`` and, for the beyond-FLOPs metrics,
    the FLOPs): one resample draws the same rows of each.
    """
    arrays = tuple(np.asarray(a, float) for a in arrays)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(arrays[0]), size=(n_resamples, len(arrays[0])))
    values = np.array([metric(*(a[d] for a in arrays)) for d in draws])
    alpha = (1 - confidence) / 2
    return float(np.nanquantile(values, alpha)), float(np.nanquantile(values, 1 - alpha))


def partial_spearman(y_true: np.ndarray, y_pred: np.ndarray, covariate: np.ndarray) -> float:
    """Spearman's rho of ``y_true`` and ``y_pred`` after the ranks of ``covariate`` are accounted for.

    The partial correlation of the three rank vectors, (r_tp - r_tc r_pc) / sqrt((1 - r_tc^2)(1 - r_pc^2))
    with r the Spearman correlations: the rank correlation between what the truth and the prediction
    do *not* share with the covariate. With FLOPs as the covariate (log-FLOPs has the same ranks) it is
    what a predictor knows beyond FLOPs: 0 for a prediction that is a monotone function of FLOPs, by
    definition (it adds nothing; the formula is 0/0 there), positive when its departures from the
    FLOPs ranking follow the truth's, negative when they go against them.
    """
    r_tp, r_tc, r_pc = spearman(y_true, y_pred), spearman(y_true, covariate), spearman(y_pred, covariate)
    if 1 - r_pc ** 2 < 1e-12:
        return 0.0
    return float((r_tp - r_tc * r_pc) / np.sqrt((1 - r_tc ** 2) * (1 - r_pc ** 2)))


def flops_spearman(y_true: np.ndarray, y_pred: np.ndarray, flops: np.ndarray) -> float:
    """Spearman's rho of the FLOPs ranking on the same rows: the trivial baseline a score is set beside."""
    return spearman(y_true, flops)


def spearman_gain_over_flops(y_true: np.ndarray, y_pred: np.ndarray, flops: np.ndarray) -> float:
    """Spearman's rho of the prediction minus that of the FLOPs ranking on the same rows."""
    return spearman(y_true, y_pred) - spearman(y_true, flops)


# Metrics of (y_true, y_pred, flops): every family stores FLOPs, so every evaluation reports them.
BEYOND_FLOPS_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "flops_spearman": flops_spearman,
    "spearman_gain_over_flops": spearman_gain_over_flops,
    "spearman_beyond_flops": partial_spearman,
}


def standard_metrics(ks: tuple[int, ...] = (10, 50),
                     higher_is_better: bool = True) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """The metric set the Evaluator reports, by name; the top-k metrics follow the target's direction."""
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "spearman": spearman, "kendall": kendall, "kendall_gennape": kendall_gennape,
        "pearson": pearson, "mae": mae, "mape": mape,
    }
    best = higher_is_better
    for k in ks:
        metrics[f"ndcg@{k}"] = lambda t, p, k=k: ndcg_at_k(t, p, k, best)
        metrics[f"top{k}_overlap"] = lambda t, p, k=k: top_k_overlap(t, p, k, best)
        metrics[f"precision@{k}"] = lambda t, p, k=k: precision_at_k(t, p, k, higher_is_better=best)
    return metrics


def label_agreement(a: np.ndarray, b: np.ndarray, top_fraction: float = 0.1,
                    higher_is_better: bool = True) -> dict[str, float]:
    """How well two labellings of the same architectures agree: the label-noise ceiling.

    Spearman and Kendall over all architectures labelled by both, and within the top
    ``top_fraction`` of them by the mean rank of the two labellings (ranking by one of them alone
    would select on that labelling's own noise and bias the within-top agreement downwards). The
    top are the best by ``higher_is_better``: the smallest values of a latency.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    mean_rank = stats.rankdata(a) + stats.rankdata(b)
    n_top = max(2, round(top_fraction * len(a)))
    top = _best_first(mean_rank, higher_is_better)[:n_top]
    return {"n": int(len(a)), "spearman": spearman(a, b), "kendall": kendall(a, b),
            "n_top": int(n_top), "spearman_top": spearman(a[top], b[top]), "kendall_top": kendall(a[top], b[top])}

"""What a benchmark run shows: the results table beside the FLOPs ranking, the published anchors
beside our numbers, and plots.

The table has one row per (method, track, family, target): Spearman and Kendall (mean ± std over
seeds), the FLOPs ranking's Spearman on the same rows, the partial Spearman given FLOPs (what the
method knows beyond FLOPs), sizes and seconds per seed. Plots (matplotlib, PNG): one
predicted-vs-true scatter per family (a panel per method and track, first seed) and one bar chart
of Spearman's rho per track with the FLOPs ranking marked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cgbench.tasks import (BEATS_ALPHA, BEATS_MIN_MARGIN, NONE_FREE_NB201, PUBLISHED_ANCHORS, TRACKS, ScoredRun,
                           SeedAggregate, beats_flops, get_track, track_rank)

# method -> its aggregates
Results = Mapping[str, Sequence[SeedAggregate]]


def mean_std(mean: float, std: float | None) -> str:
    if mean is None or math.isnan(mean):
        return "nan"
    return f"{mean:.3f}" if std is None or math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _metric(a: SeedAggregate, key: str) -> str:
    return mean_std(a.mean.get(key, math.nan), a.std.get(key))


def results_table(results: Results) -> str:
    """Method x track x family x target: rank correlations beside the FLOPs ranking on the same rows."""
    header = ("method", "track", "family", "target", "spearman", "kendall", "flops ρ", "beyond flops",
              "seeds", "n_train", "n_test", "s/seed")
    rows = [header]
    for method, aggregates in results.items():
        for a in aggregates:
            rows.append((method, a.track, a.family, a.target, _metric(a, "spearman"), _metric(a, "kendall"),
                         f"{a.mean.get('flops_spearman', math.nan):.3f}", _metric(a, "spearman_beyond_flops"),
                         str(len(a.seeds)), str(a.n_train), str(a.n_test),
                         "" if a.seconds is None else f"{a.seconds:.1f}"))
    body = sorted(rows[1:], key=lambda r: (track_rank(r[1]), r[2], r[3], r[0]))
    rows = [header, *body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# method -> (track, family, target) -> Spearman on GENNAPE's own set, one per seed
SetScores = Mapping[str, Mapping[tuple[str, str, str], Sequence[float]]]


def gennape_set_scores(records: Mapping[str, Sequence[dict]], families: Mapping) -> dict:
    """Per method and GENNAPE-track table, the Spearman of each seed's predictions of GENNAPE's own set
    (``gennape4096`` test cells: what GENNAPE's published NB-201 numbers were measured on)."""
    from cgbench.evaluation import Evaluator
    from cgbench.splits import GENNAPE_SET

    scores: dict = {}
    evaluators: dict = {}
    for method, method_records in records.items():
        for record in method_records:
            if not record.get("gennape_set"):
                continue
            unit = record["unit"]
            key = (unit["track"], unit["family"], unit["target"])
            if key[1:] not in evaluators:
                evaluators[key[1:]] = Evaluator(families[key[1]], GENNAPE_SET, "test", key[2])
            value = evaluators[key[1:]].eval(record["gennape_set"], metrics=["spearman"])["spearman"]
            scores.setdefault(method, {}).setdefault(key, []).append(value)
    return scores


def anchor_lines(results: Results, set_scores: SetScores | None = None) -> list[str]:
    """Each published anchor that some method's result is comparable to, with those results (and, for an
    anchor measured on GENNAPE's NB-201 set, ours on that set); nothing when the run holds no anchor's
    track, family and label."""
    ran = {(a.track, a.family, a.target) for aggregates in results.values() for a in aggregates}
    lines = []
    for anchor in PUBLISHED_ANCHORS:
        key = (anchor.track, anchor.family, anchor.target)  # a run of another label column is not comparable
        if key not in ran:
            continue
        lines.append(f"  {anchor.text} ({anchor.track}, {anchor.family} {anchor.target}): {anchor.spearman:.3f}  "
                     f"[{anchor.source}]")
        if anchor.subset and anchor.subset != NONE_FREE_NB201:
            lines.append(f"      measured on {anchor.subset}")
        for method, aggregates in results.items():
            found = [a for a in aggregates if (a.track, a.family, a.target) == key]
            if not found:
                continue
            a = found[0]
            lines.append(f"      ours, {method}: {_metric(a, 'spearman')} (FLOPs ranking {a.mean['flops_spearman']:.3f}, "
                         f"{a.n_test} test rows)")
            on_set = (set_scores or {}).get(method, {}).get(key)
            if anchor.subset == NONE_FREE_NB201 and on_set:
                std = float(np.std(on_set, ddof=1)) if len(on_set) > 1 else None
                lines.append(f"      ours, {method}, on {anchor.subset}: {mean_std(float(np.mean(on_set)), std)}")
    return ["Published anchors (Spearman) next to ours:", *lines] if lines else []


def goal_lines(results: Results) -> list[str]:
    """Per method, the leave-one-out families where it beats the FLOPs ranking beyond seed noise."""
    lines = []
    for method, aggregates in results.items():
        lofo = [a for a in aggregates if get_track(a.track).sources == "other_spaces"]
        if not lofo:
            continue
        beats = [a.family for a in lofo if beats_flops(a)]
        above = [a.family for a in lofo if a.mean["spearman"] > a.mean["flops_spearman"] and a.family not in beats]
        lines.append(f"  {method}: beats FLOPs on {len(beats)} of {len(lofo)} held-out families "
                     f"({', '.join(beats) or 'none'})" + (f"; above it within noise: {', '.join(above)}" if above else ""))
    header = ("Beyond FLOPs, per method (leave-one-search-space-out; beats = mean Spearman above the FLOPs "
              f"ranking's by more than seed noise, a one-sided t-test at {BEATS_ALPHA:.0%}, and by at least "
              f"{BEATS_MIN_MARGIN}):")
    return [header, *lines] if lines else []


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scatter(runs: Mapping[str, Sequence[ScoredRun]], out: Path) -> list[Path]:
    """One PNG per family: predicted vs true on the evaluated part, a panel per (method, track, target), first seed."""
    plt = _figure()
    out.mkdir(parents=True, exist_ok=True)
    first_seed: dict[str, dict[tuple[str, str, str], ScoredRun]] = {}
    for method, method_runs in runs.items():
        for result in method_runs:
            panels = first_seed.setdefault(result.run.family, {})
            key = (method, result.run.track, result.run.target)
            if key not in panels or result.run.seed < panels[key].run.seed:
                panels[key] = result
    paths = []
    for family, panels in sorted(first_seed.items()):
        keys = sorted(panels, key=lambda k: (k[0], track_rank(k[1]), k[2]))
        columns = min(4, len(keys))
        rows = math.ceil(len(keys) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.6 * rows), squeeze=False)
        for ax, key in zip(axes.flat, keys):
            result = panels[key]
            ax.scatter(result.y_true, result.y_pred, s=4, alpha=0.4, linewidths=0)
            ax.set_title(f"{key[0]}, {key[1]} (seed {result.run.seed})\nSpearman {result.metrics['spearman']:.3f}, "
                         f"n={len(result.y_true)}", fontsize=8)
            ax.set_xlabel(f"true {key[2]}", fontsize=7)
            ax.set_ylabel("predicted", fontsize=7)
        for ax in list(axes.flat)[len(keys):]:
            ax.set_visible(False)
        fig.suptitle(f"{family}: predicted vs true (test part)")
        fig.tight_layout()
        path = out / f"scatter_{family}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_rank_correlation(results: Results, out: Path) -> Path:
    """Grouped bars of Spearman's rho (mean ± std over seeds) per track, with the FLOPs ranking as a black tick."""
    plt = _figure()
    out.mkdir(parents=True, exist_ok=True)
    every = [a for aggregates in results.values() for a in aggregates]
    tracks = [t for t in TRACKS if any(a.track == t for a in every)]
    methods = list(results)
    fig, axes = plt.subplots(len(tracks), 1, figsize=(12, 3.2 * len(tracks)), squeeze=False)
    width = 0.8 / max(1, len(methods))
    for ax, track in zip(axes.flat, tracks):
        columns = sorted({(a.family, a.target) for a in every if a.track == track})
        x = np.arange(len(columns))
        for j, method in enumerate(methods):
            found = {(a.family, a.target): a for a in results[method] if a.track == track}
            means = [found[c].mean["spearman"] if c in found else np.nan for c in columns]
            errors = [found[c].std.get("spearman") or 0.0 if c in found else 0.0 for c in columns]
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, means, width, yerr=errors, capsize=2, label=method)
        flops = [next((a.mean["flops_spearman"] for a in every if (a.track, a.family, a.target) == (track, *c)), np.nan)
                 for c in columns]
        ax.scatter(x, flops, marker="_", s=400, color="black", zorder=3, label="FLOPs ranking")
        ax.set_xticks(x, [f"{f}\n{t}" for f, t in columns], fontsize=7)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylim(-1, 1)
        ax.set_title(TRACKS[track].title, fontsize=10)
        ax.set_ylabel("Spearman's ρ")
    axes.flat[0].legend(fontsize=7, ncol=min(len(methods) + 1, 8))
    fig.tight_layout()
    path = out / "rank_correlation.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""What a benchmark run shows: the results table, the published anchors beside our numbers, plots.

Plots (matplotlib, written as PNG): one predicted-vs-true scatter per family (a panel per
method and track, first seed) and one bar chart of Spearman's rho (mean over seeds, error bars
one std) per track, family and method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from baselines.protocol import TRACKS, Aggregate, Run
from cgbench.metrics import spearman

TRACK_TITLES = {"in_family": "in-family", "zero_shot": "zero-shot", "few_shot": "few-shot (50)"}


def _mean_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "nan"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def results_table(aggregates: Sequence[Aggregate]) -> str:
    """Method x track x family: Spearman and Kendall (mean ± std over seeds), sizes and time per seed."""
    header = ("method", "track", "family", "spearman", "kendall", "seeds", "n_train", "n_test", "s/seed")
    rows = [header]
    for a in sorted(aggregates, key=lambda a: (a.method, TRACKS.index(a.track), a.family)):
        rows.append((a.method, a.track, a.family, _mean_std(a.mean["spearman"], a.std["spearman"]),
                     _mean_std(a.mean["kendall"], a.std["kendall"]), str(len(a.seeds)), str(a.n_train),
                     str(a.n_test), f"{a.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def nb201_none_free(arch_id: str) -> bool:
    """GENNAPE's NB-201 set: the 4,096 = 4^6 cells without a ``none`` edge (the CG-compatible ones)."""
    return "none" not in arch_id


@dataclass(frozen=True)
class Anchor:
    """A published Spearman's rho and the (method, track, family) results of ours that it compares with.

    ``subset`` names the rows the publication scored and selects them by arch_id; our runs are
    then also scored on just the test rows in that subset.
    """

    text: str
    spearman: float
    source: str
    compare_with: tuple[tuple[str, str, str], ...]
    subset: tuple[str, Callable[[str], bool]] | None = None


ANCHORS = (
    Anchor("GENNAPE pretrained on NB-101, zero-shot on NB-201", 0.815,
           "Mills et al., GENNAPE, AAAI-23 (NB-201 CIFAR-10 test accuracy)",
           (("gennape", "zero_shot", "nb201"),), ("the 4,096 none-free cells GENNAPE used", nb201_none_free)),
    Anchor("GENNAPE pretrained on NB-101, fine-tuned on 50 NB-201 cells", 0.910,
           "Mills et al., GENNAPE, AAAI-23 (NB-201 CIFAR-10 test accuracy)",
           (("gennape", "few_shot", "nb201"),), ("the 4,096 none-free cells GENNAPE used", nb201_none_free)),
    Anchor("synflow alone on NB-201 CIFAR-10 (best single zero-cost proxies: low end)", 0.74,
           "Abdelfattah et al. 2021; Krishnakumar et al. 2022 (NAS-Bench-Suite-Zero)",
           (("zc_ranker", "in_family", "nb201"), ("flops", "in_family", "nb201"), ("params", "in_family", "nb201"))),
    Anchor("NASWOT alone on NB-201 CIFAR-10 (best single zero-cost proxies: high end)", 0.79,
           "Mellor et al. 2021; Krishnakumar et al. 2022 (NAS-Bench-Suite-Zero)",
           (("zc_ranker", "in_family", "nb201"),)),
)


def subset_spearman(runs: Sequence[Run], keep: Callable[[str], bool]) -> tuple[float, float, int]:
    """Mean and sample std over ``runs`` (one per seed) of Spearman on the test rows ``keep`` selects; rows per run."""
    values, n_rows = [], 0
    for run in runs:
        rows = np.array([keep(arch_id) for arch_id in run.arch_ids], dtype=bool)
        values.append(spearman(run.y_true[rows], run.y_pred[rows]))
        n_rows = int(rows.sum())
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return float(np.mean(values)), std, n_rows


def anchor_lines(aggregates: Sequence[Aggregate], runs: Sequence[Run] = (),
                 anchors: Sequence[Anchor] = ANCHORS) -> list[str]:
    """Each published anchor with our comparable results (or 'not run' when the run did not cover them)."""
    ours = {(a.method, a.track, a.family): a for a in aggregates}
    lines = ["Published anchors (Spearman) next to ours; our target is each family's default target "
             "(nb201: c10_valid_acc_200ep):"]
    for anchor in anchors:
        lines.append(f"  {anchor.text}: {anchor.spearman:.3f}  [{anchor.source}]")
        for key in anchor.compare_with:
            found = ours.get(key)
            value = "not run" if found is None else _mean_std(found.mean["spearman"], found.std["spearman"])
            lines.append(f"      ours {'/'.join(key)}: {value}")
            members = [r for r in runs if (r.method, r.track, r.family) == key]
            if found is not None and anchor.subset is not None and members:
                mean, std, n_rows = subset_spearman(members, anchor.subset[1])
                lines.append(f"      ours {'/'.join(key)} on {anchor.subset[0]} ({n_rows} test rows): "
                             f"{_mean_std(mean, std)}")
    return lines


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scatter(runs: Sequence[Run], out: Path) -> list[Path]:
    """One PNG per family: predicted vs true on the test part, a panel per (method, track), first seed."""
    plt = _figure()
    out.mkdir(parents=True, exist_ok=True)
    first_seed: dict[str, dict[tuple[str, str], Run]] = {}
    for run in runs:
        panels = first_seed.setdefault(run.family, {})
        key = (run.method, run.track)
        if key not in panels or run.seed < panels[key].seed:
            panels[key] = run
    paths = []
    for family, panels in sorted(first_seed.items()):
        keys = sorted(panels, key=lambda k: (k[0], TRACKS.index(k[1])))
        columns = min(3, len(keys))
        rows = math.ceil(len(keys) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.6 * rows), squeeze=False)
        for ax, key in zip(axes.flat, keys):
            run = panels[key]
            ax.scatter(run.y_true, run.y_pred, s=4, alpha=0.4, linewidths=0)
            ax.set_title(f"{key[0]}, {TRACK_TITLES[key[1]]} (seed {run.seed})\n"
                         f"Spearman {run.metrics['spearman']:.3f}, n={len(run.y_true)}", fontsize=9)
            ax.set_xlabel(f"true {run.target}", fontsize=8)
            ax.set_ylabel("predicted score", fontsize=8)
        for ax in list(axes.flat)[len(keys):]:
            ax.set_visible(False)
        fig.suptitle(f"{family}: predicted vs true (test part)")
        fig.tight_layout()
        path = out / f"scatter_{family}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_rank_correlation(aggregates: Sequence[Aggregate], out: Path) -> Path:
    """Grouped bars of Spearman's rho (mean ± std over seeds): a panel per track, bars per method."""
    plt = _figure()
    out.mkdir(parents=True, exist_ok=True)
    tracks = [t for t in TRACKS if any(a.track == t for a in aggregates)]
    methods = sorted({a.method for a in aggregates})
    fig, axes = plt.subplots(1, len(tracks), figsize=(5.5 * len(tracks), 4), squeeze=False)
    width = 0.8 / len(methods)
    for ax, track in zip(axes.flat, tracks):
        by_key = {(a.method, a.family): a for a in aggregates if a.track == track}
        families = sorted({family for _, family in by_key})
        x = np.arange(len(families))
        for j, method in enumerate(methods):
            found = [by_key.get((method, f)) for f in families]
            means = [a.mean["spearman"] if a else np.nan for a in found]
            errors = [0.0 if a is None or math.isnan(a.std["spearman"]) else a.std["spearman"] for a in found]
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, means, width, yerr=errors, capsize=2, label=method)
        ax.set_xticks(x, families, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylim(-1, 1)
        ax.set_title(TRACK_TITLES[track])
        ax.set_ylabel("Spearman's rho")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path = out / "rank_correlation.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The board at a glance: per track, a methods x (family, target) matrix of mean Spearman with the FLOPs
ranking and the label-noise ceiling beside it, how many tables each method beats FLOPs on beyond seed
noise, its average rank, and a picture (inline SVG: each method's Spearman per table as a point with
its seed spread, FLOPs and the ceiling as ticks). The detail tables of ``render.py`` come after it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from cgbench.tasks import TRACKS, beats_flops

# Categorical colours (Okabe-Ito and Tableau 10), cycled for more methods; no external fonts or scripts.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948", "#B07AA1", "#FF9DA7",
           "#9C755F", "#BAB0AC", "#1B9E77", "#7570B3")


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float | None
    beats: bool


@dataclass(frozen=True)
class TrackOverview:
    """One track: its tables (columns), its methods (rows, best average rank first) and their cells."""

    track: str
    columns: list[tuple[str, str]]  # (family, target)
    methods: list[str]
    cells: dict[str, dict[tuple[str, str], Cell]]
    flops: dict[tuple[str, str], float]
    ceiling: dict[tuple[str, str], float | None]
    ranks: dict[str, float]
    # method -> "training-free" (no labels), "published scores" (another project's), or "" (trained)
    kinds: dict[str, str]

    def name(self, method: str) -> str:
        return f"{method} ({self.kinds[method]})" if self.kinds[method] else method

    def wins(self, method: str) -> tuple[int, int]:
        """(tables it beats FLOPs on beyond seed noise, tables it has)."""
        cells = self.cells[method].values()
        return sum(c.beats for c in cells), len(cells)


def overviews(board) -> list[TrackOverview]:
    """One :class:`TrackOverview` per track of the board, in the task's order."""
    out = []
    for track in TRACKS:
        keys = [key for key in board.tables if key[0] == track]
        if not keys:
            continue
        columns = [(family, target) for _, family, target in keys]
        cells: dict[str, dict[tuple[str, str], Cell]] = {}
        ranks: dict[str, list[int]] = {}
        kinds: dict[str, str] = {}
        for key in keys:
            ordered = sorted(board.tables[key], key=lambda e: -_finite(e.summary.mean.get("spearman")))
            for rank, entry in enumerate(ordered, 1):
                summary = entry.summary
                beats = "flops_spearman" in summary.mean and beats_flops(summary)
                cells.setdefault(entry.method.name, {})[key[1:]] = Cell(
                    summary.mean.get("spearman", math.nan), summary.std.get("spearman"), beats)
                ranks.setdefault(entry.method.name, []).append(rank)
                kinds[entry.method.name] = method_kind(entry)
        mean_rank = {m: sum(r) / len(r) for m, r in ranks.items()}
        out.append(TrackOverview(
            track, columns, sorted(cells, key=lambda m: (mean_rank[m], m)), cells,
            {key[1:]: board.context[key].flops_spearman for key in keys},
            {key[1:]: (board.context[key].noise_ceiling or {}).get("spearman") for key in keys}, mean_rank, kinds))
    return out


def method_kind(entry) -> str:
    """How a row's method relates to labels: trained (""), "training-free", or "published scores"."""
    if entry.method.protocol.name == "published":
        return "published scores"
    return "" if entry.summary.trained_on else "training-free"


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _shade(value: float) -> str:
    """A background for a Spearman value: white at 0, deeper green towards 1, red below 0."""
    if not math.isfinite(value):
        return "#eeeeee"
    strength = min(abs(value), 1.0)
    if value >= 0:
        return f"hsl(140, 55%, {round(97 - 47 * strength)}%)"
    return f"hsl(5, 70%, {round(97 - 35 * strength)}%)"


def _column_title(column: tuple[str, str], targets_differ: bool) -> str:
    family, target = column
    return f"{family}<br><small>{_e(target)}</small>" if targets_differ else _e(family)


def overview_html(item: TrackOverview, colours: dict[str, str]) -> str:
    """The matrix of one track, its picture, and the reading instructions."""
    differ = len({t for _, t in item.columns}) > 1 or len({f for f, _ in item.columns}) < len(item.columns)
    head = "".join(f"<th>{_column_title(c, differ)}</th>" for c in item.columns)
    rows = []
    for method in item.methods:
        cells = []
        for column in item.columns:
            cell = item.cells[method].get(column)
            if cell is None:
                cells.append('<td class="missing">—</td>')
                continue
            mark = " ✓" if cell.beats else ""
            spread = f" ± {cell.std:.3f}" if cell.std is not None else ""
            cells.append(f'<td style="background:{_shade(cell.mean)}" title="{_e(method)}: {cell.mean:.3f}{spread}'
                         f'{"; beats FLOPs beyond seed noise" if cell.beats else ""}">{cell.mean:.3f}{mark}</td>')
        won, had = item.wins(method)
        rows.append(f'<tr data-method="{_e(method)}"><td class="text"><span class="swatch" style="background:'
                    f'{colours[method]}"></span>{_e(item.name(method))}</td>{"".join(cells)}'
                    f'<td class="wins">{won} of {had}</td><td>{item.ranks[method]:.1f}</td></tr>')
    flops = "".join(f"<td>{item.flops[c]:.3f}</td>" for c in item.columns)
    ceiling = "".join(f"<td>{'—' if item.ceiling[c] is None else f'{item.ceiling[c]:.3f}'}</td>" for c in item.columns)
    return (f'<section class="overview-track" data-track="{_e(item.track)}">'
            f'<h3>{_e(TRACKS[item.track].title)}</h3>'
            f'<table class="overview" id="overview-{_e(item.track)}"><thead><tr><th class="text">Method</th>{head}<th>beats FLOPs</th>'
            f'<th>avg rank</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            f'<tfoot><tr class="flops"><td class="text">FLOPs ranking</td>{flops}<td></td><td></td></tr>'
            f'<tr class="ceiling"><td class="text">label-noise ceiling</td>{ceiling}<td></td><td></td></tr>'
            f"</tfoot></table>{overview_svg(item, colours)}</section>")


def overview_svg(item: TrackOverview, colours: dict[str, str], width: int = 1200, height: int = 260) -> str:
    """Each method's mean Spearman per table as a point with its seed spread (± std), the FLOPs ranking
    as a black tick and the label-noise ceiling as a grey dashed tick, on one axis from -1 to 1."""
    left, right, top, bottom = 44, 10, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(value: float) -> float:
        return top + (1 - (max(-1.0, min(1.0, value)) + 1) / 2) * plot_h

    step = plot_w / max(len(item.columns), 1)
    parts = [f'<svg class="overview-plot" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="{_e(TRACKS[item.track].title)}: Spearman per table">']
    for tick in (-1.0, -0.5, 0.0, 0.5, 1.0):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{"#999" if tick == 0 else "#e5e5e5"}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end" font-size="11">{tick:g}</text>')
    spread = step * 0.6 / max(len(item.methods), 1)
    for i, column in enumerate(item.columns):
        centre = left + step * (i + 0.5)
        parts.append(f'<line x1="{centre - step * 0.35:.1f}" x2="{centre + step * 0.35:.1f}" '
                     f'y1="{y(item.flops[column]):.1f}" y2="{y(item.flops[column]):.1f}" stroke="#000" '
                     f'stroke-width="2"><title>FLOPs ranking {item.flops[column]:.3f}</title></line>')
        if item.ceiling[column] is not None:
            parts.append(f'<line x1="{centre - step * 0.35:.1f}" x2="{centre + step * 0.35:.1f}" '
                         f'y1="{y(item.ceiling[column]):.1f}" y2="{y(item.ceiling[column]):.1f}" stroke="#888" '
                         f'stroke-dasharray="4 3"><title>label-noise ceiling {item.ceiling[column]:.3f}</title></line>')
        for j, method in enumerate(item.methods):
            cell = item.cells[method].get(column)
            if cell is None or not math.isfinite(cell.mean):
                continue
            x = centre - step * 0.3 + spread * (j + 0.5)
            if cell.std:
                parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(cell.mean - cell.std):.1f}" '
                             f'y2="{y(cell.mean + cell.std):.1f}" stroke="{colours[method]}"/>')
            parts.append(f'<circle cx="{x:.1f}" cy="{y(cell.mean):.1f}" r="3" fill="{colours[method]}">'
                         f'<title>{_e(method)} on {_e(column[0])}: {cell.mean:.3f}</title></circle>')
        label = column[0] if len({t for _, t in item.columns}) == 1 else f"{column[0]} {column[1].removeprefix('lat_')}"
        parts.append(f'<text x="{centre:.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="10">'
                     f"{_e(label[:22])}</text>")
    parts.append("</svg>")
    return "".join(parts)


def overview_markdown(item: TrackOverview) -> list[str]:
    """The matrix of one track as a Markdown table (✓: beats FLOPs beyond seed noise)."""
    header = ["Method", *(f"{f} {t}" for f, t in item.columns), "beats FLOPs", "avg rank"]
    lines = [f"### {TRACKS[item.track].title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for method in item.methods:
        cells = [f"{c.mean:.3f}{' ✓' if c.beats else ''}" if (c := item.cells[method].get(col)) else "—"
                 for col in item.columns]
        won, had = item.wins(method)
        lines.append("| " + " | ".join([item.name(method), *cells, f"{won} of {had}", f"{item.ranks[method]:.1f}"]) + " |")
    lines.append("| *FLOPs ranking* | " + " | ".join(f"{item.flops[c]:.3f}" for c in item.columns) + " | | |")
    lines.append("| *label-noise ceiling* | " + " | ".join(
        "—" if item.ceiling[c] is None else f"{item.ceiling[c]:.3f}" for c in item.columns) + " | | |")
    return [*lines, ""]


def method_colours(board) -> dict[str, str]:
    """One colour per method, the same in every picture."""
    names = sorted({e.method.name for entries in board.tables.values() for e in entries})
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}

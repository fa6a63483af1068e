"""The leaderboard page: a static HTML file (tables sortable by clicking a header) and a Markdown twin.

Every submission in the submissions folder is validated; an invalid one is left out and listed,
with the reason, on both pages and in the returned report. One table per (track, family, target),
one row per method, metrics aggregated over seeds as mean ± std.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

from cgbench.storage import atomic_write_text

from .submission import SUBMISSION_SUFFIXES, InvalidSubmissionError, MethodInfo, is_submission_file
from .validate import FamilyLoader, SeedSummary, ValidatedSubmission, cached_loader, validate_submission

TRACK_ORDER = ("in_family", "few_shot", "zero_shot")
TRACK_TITLES = {"in_family": "In-family", "few_shot": "Few-shot (50 fine-tune rows)",
                "zero_shot": "Zero-shot (family unseen in training)"}
HTML_FILE, MARKDOWN_FILE = "index.html", "leaderboard.md"


@dataclass(frozen=True)
class MetricColumn:
    key: str
    title: str
    better: str  # "higher" or "lower": the first click on the header sorts best first


METRIC_COLUMNS = (
    MetricColumn("spearman", "Spearman ρ", "higher"),
    MetricColumn("kendall", "Kendall τ", "higher"),
    MetricColumn("kendall_gennape", "Kendall τ (GENNAPE)", "higher"),
    MetricColumn("pearson", "Pearson r", "higher"),
    MetricColumn("ndcg@10", "NDCG@10", "higher"),
    MetricColumn("top10_overlap", "Top-10 overlap", "higher"),
    MetricColumn("precision@10", "Precision@10", "higher"),
    MetricColumn("ndcg@50", "NDCG@50", "higher"),
    MetricColumn("top50_overlap", "Top-50 overlap", "higher"),
    MetricColumn("precision@50", "Precision@50", "higher"),
    MetricColumn("mae", "MAE", "lower"),
    MetricColumn("mape", "MAPE %", "lower"),
)


@dataclass(frozen=True)
class Rejected:
    path: Path
    reason: str


@dataclass(frozen=True)
class Entry:
    """One method's result on one (track, family, target): a row of one table."""

    method: MethodInfo
    summary: SeedSummary


@dataclass(frozen=True)
class Board:
    tables: dict[tuple[str, str, str], list[Entry]]
    accepted: list[Path]
    rejected: list[Rejected]


@dataclass(frozen=True)
class RenderReport:
    html_path: Path
    markdown_path: Path
    accepted: list[Path]
    rejected: list[Rejected]


def collect(submissions_dir: Path, load: FamilyLoader | None = None) -> Board:
    """Validate every ``*.json.gz`` and ``*.json`` in ``submissions_dir``; sort the valid ones into tables."""
    if not Path(submissions_dir).is_dir():
        raise NotADirectoryError(f"submissions folder {submissions_dir} does not exist (expected a folder of "
                                 f"{' / '.join('*' + suffix for suffix in SUBMISSION_SUFFIXES)} files)")
    load = load or cached_loader()
    accepted: list[tuple[Path, ValidatedSubmission]] = []
    rejected: list[Rejected] = []
    owners: dict[str, Path] = {}
    for path in sorted(p for p in Path(submissions_dir).iterdir() if is_submission_file(p)):
        try:
            result = validate_submission(path, load)
        except InvalidSubmissionError as err:
            rejected.append(Rejected(path, str(err)))
            continue
        name = result.submission.method.name
        if name in owners:
            rejected.append(Rejected(path, f"method name {name!r} is already submitted in {owners[name].name}"))
            continue
        owners[name] = path
        accepted.append((path, result))
    tables: dict[tuple[str, str, str], list[Entry]] = {}
    for _, result in accepted:
        for summary in result.summaries():
            key = (summary.track, summary.family, summary.target)
            tables.setdefault(key, []).append(Entry(result.submission.method, summary))
    for entries in tables.values():
        entries.sort(key=lambda e: _descending_key(e.summary.mean.get("spearman", math.nan)))
    ordered = dict(sorted(tables.items(), key=lambda item: (TRACK_ORDER.index(item[0][0]), item[0][1:])))
    return Board(ordered, [p for p, _ in accepted], rejected)


def _descending_key(value: float) -> tuple[bool, float]:
    return (math.isnan(value), -value if not math.isnan(value) else 0.0)


def render_leaderboard(submissions_dir: Path, out_dir: Path, load: FamilyLoader | None = None) -> RenderReport:
    """Write ``index.html`` and ``leaderboard.md`` into ``out_dir`` (atomically) from the submissions."""
    board = collect(submissions_dir, load)
    out_dir = Path(out_dir)
    html_path, markdown_path = out_dir / HTML_FILE, out_dir / MARKDOWN_FILE
    atomic_write_text(html_path, render_html(board))
    atomic_write_text(markdown_path, render_markdown(board))
    return RenderReport(html_path, markdown_path, board.accepted, board.rejected)


# ---------------------------------------------------------------------------------------------
# Cell contents shared by both formats


def training_status(track: str, family: str, trained_on: tuple[str, ...]) -> str:
    """What labels a row's predictor saw, in words (the zero-shot status)."""
    if not trained_on:
        return "training-free (no labels)"
    if track == "in_family":
        return f"trained on {family}"
    others = [name for name in trained_on if name != family]
    if track == "zero_shot":
        return f"zero-shot: trained on {', '.join(others)}"
    words = [f"pretrained on {', '.join(others)}"] if others else []
    if family in trained_on:
        words.append(f"fine-tuned on 50 rows of {family}")
    return "; ".join(words)


def metric_columns(entries: list[Entry]) -> list[MetricColumn]:
    """The metric columns some row of a table has (small families lack the @50 metrics)."""
    present = {k for e in entries for k in e.summary.mean}
    return [c for c in METRIC_COLUMNS if c.key in present]


def mean_std_text(summary: SeedSummary, key: str) -> str:
    mean, std = summary.mean.get(key, math.nan), summary.std.get(key)
    if math.isnan(mean):
        return "n/a"
    return _number(mean) if std is None else f"{_number(mean)} ± {_number(std)}"


def _number(value: float) -> str:
    """Three decimals for scores and small errors; four significant digits for errors in FLOP units."""
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"


def table_title(track: str, family: str, target: str) -> str:
    return f"{TRACK_TITLES[track]} · {family} · target {target}"


def table_id(track: str, family: str, target: str) -> str:
    return "-".join((track, family, target)).replace("@", "at")


# ---------------------------------------------------------------------------------------------
# HTML

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.leaderboard { border-collapse: collapse; margin-bottom: 2em; font-size: 13px; }
table.leaderboard th, table.leaderboard td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
table.leaderboard td { white-space: nowrap; }
table.leaderboard td.text, table.leaderboard th.text { text-align: left; }
table.leaderboard th { background: #f0f0f0; cursor: pointer; user-select: none; }
table.leaderboard th[aria-sort="ascending"]::after { content: " ▲"; }
table.leaderboard th[aria-sort="descending"]::after { content: " ▼"; }
table.leaderboard tbody tr:nth-child(odd) { background: #fafafa; }
.rejected { color: #a00; }
"""

# Sorting by header click. Missing values (n/a) always sort last. A link ending in
# "#click=KEY,KEY,..." clicks those column headers of every table on load (a shareable sorted
# view; the rendering test uses it to drive the click handler in a headless browser).
SORT_SCRIPT = """
(function () {
  function value(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-sort-value");
    if (raw === null) raw = cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    return raw === "" ? NaN : parseFloat(raw);
  }
  function compare(x, y, numeric, sign) {
    if (numeric) {
      if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y);
      return sign * (x - y);
    }
    return sign * (x < y ? -1 : x > y ? 1 : 0);
  }
  function sortBy(th) {
    var table = th.closest("table");
    var numeric = th.getAttribute("data-type") === "number";
    var first = th.getAttribute("data-better") === "higher" ? "descending" : "ascending";
    var direction = th.getAttribute("aria-sort") === first
      ? (first === "ascending" ? "descending" : "ascending") : first;
    var sign = direction === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      return compare(value(a, th.cellIndex, numeric), value(b, th.cellIndex, numeric), numeric, sign);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", direction);
    table.setAttribute("data-sorted-by", th.getAttribute("data-key") + " " + direction);
  }
  document.querySelectorAll("table.leaderboard th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
  var clicks = /^#click=(.+)$/.exec(window.location.hash);
  if (clicks) {
    decodeURIComponent(clicks[1]).split(",").forEach(function (key) {
      document.querySelectorAll('table.leaderboard th[data-key="' + CSS.escape(key) + '"]')
        .forEach(function (th) { th.click(); });
    });
  }
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _sort_value(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def _html_header(key: str, title: str, kind: str, better: str, sorted_by: str | None = None) -> str:
    aria = f' aria-sort="{sorted_by}"' if sorted_by else ""
    css = ' class="text"' if kind == "text" else ""
    return (f'<th data-key="{_e(key)}" data-type="{kind}" data-better="{better}"{css}{aria} '
            f'title="click to sort">{_e(title)}</th>')


def _html_table(key: tuple[str, str, str], entries: list[Entry]) -> str:
    columns = metric_columns(entries)
    headers = [_html_header("method", "Method", "text", "lower")]
    headers += [_html_header(c.key, c.title, "number", c.better, "descending" if c.key == "spearman" else None)
                for c in columns]
    headers += [_html_header("seeds", "Seeds", "number", "higher"),
                _html_header("training", "Training labels", "text", "lower"),
                _html_header("n_parameters", "Parameters", "number", "lower"),
                _html_header("hardware", "Hardware", "text", "lower"),
                _html_header("code", "Code", "text", "lower")]
    rows = []
    for entry in entries:
        method, summary = entry.method, entry.summary
        cells = [f'<td class="text" title="{_e(method.description)}">{_e(method.name)}</td>']
        cells += [f'<td data-sort-value="{_sort_value(summary.mean.get(c.key, math.nan))}">'
                  f'{_e(mean_std_text(summary, c.key))}</td>' for c in columns]
        cells += [f"<td>{len(summary.seeds)}</td>",
                  f'<td class="text">{_e(training_status(summary.track, summary.family, summary.trained_on))}</td>',
                  f'<td data-sort-value="{method.n_parameters}">{method.n_parameters:,}</td>',
                  f'<td class="text">{_e(method.hardware)}</td>',
                  f'<td class="text"><a href="{_e(method.code_url)}">code</a></td>']
        rows.append(f'<tr data-method="{_e(method.name)}">' + "".join(cells) + "</tr>")
    ident = table_id(*key)
    return (f'<h2 id="{_e(ident)}">{_e(table_title(*key))}</h2>\n'
            f'<table class="leaderboard" id="table-{_e(ident)}" data-sorted-by="spearman descending">\n'
            f"<thead><tr>{''.join(headers)}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


def _html_rejected(rejected: list[Rejected]) -> str:
    if not rejected:
        return ""
    items = "".join(f"<li><code>{_e(r.path.name)}</code>: {_e(r.reason.splitlines()[0])}</li>" for r in rejected)
    return (f'<section class="rejected" id="rejected"><h2>Left out: {len(rejected)} invalid submission(s)</h2>'
            f"<ul>{items}</ul></section>")


def render_html(board: Board) -> str:
    contents = "".join(f'<li><a href="#{_e(table_id(*k))}">{_e(table_title(*k))}</a></li>' for k in board.tables)
    tables = "\n".join(_html_table(k, entries) for k, entries in board.tables.items())
    body = (f"<nav><ul>{contents}</ul></nav>\n{tables}" if board.tables
            else '<p id="empty">No valid submissions yet.</p>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cgbench leaderboard</title>
<style>{STYLE}</style>
</head>
<body>
<h1>cgbench leaderboard</h1>
<p>Metrics are recomputed from each submission's predictions on the test part (mean ± sample std over
seeds). Click a column header to sort; click again to reverse.</p>
{body}
{_html_rejected(board.rejected)}
<script>{SORT_SCRIPT}</script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# Markdown


# Markdown passes HTML through and turns [text](address) into links: a cell's text is HTML-escaped
# as index.html escapes it, and the characters that would start a link, a code span or a new cell
# are backslash-escaped.
_MD_ESCAPED = str.maketrans({c: "\\" + c for c in "\\`[]|"})
# Characters that would end a Markdown link address or open HTML inside it, percent-encoded.
_URL_ESCAPED = str.maketrans({c: f"%{ord(c):02X}" for c in " ()|<>\"'`"})


def _md(text: object) -> str:
    """Text for a Markdown table cell: no HTML, no link or code syntax, one line."""
    return html.escape(str(text), quote=False).translate(_MD_ESCAPED).replace("\n", " ").replace("\r", " ")


def _md_url(url: str) -> str:
    return url.translate(_URL_ESCAPED)


def _markdown_table(key: tuple[str, str, str], entries: list[Entry]) -> list[str]:
    columns = metric_columns(entries)
    header = ["Method", *(c.title for c in columns), "Seeds", "Training labels", "Parameters", "Hardware", "Code"]
    lines = [f"## {_md(table_title(*key))}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(columns) + 1) + ["---", "---:", "---", "---"]) + "|"]
    for entry in entries:
        method, summary = entry.method, entry.summary
        cells = [_md(method.name), *(mean_std_text(summary, c.key) for c in columns), str(len(summary.seeds)),
                 _md(training_status(summary.track, summary.family, summary.trained_on)), f"{method.n_parameters:,}",
                 _md(method.hardware), f"[code]({_md_url(method.code_url)})"]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(board: Board) -> str:
    lines = ["# cgbench leaderboard", "",
             "Metrics recomputed from each submission's predictions on the test part; mean ± sample std over seeds.",
             ""]
    if not board.tables:
        lines += ["No valid submissions yet.", ""]
    for key, entries in board.tables.items():
        lines += _markdown_table(key, entries)
    if board.rejected:
        lines += [f"## Left out: {len(board.rejected)} invalid submission(s)", ""]
        lines += [f"- {_md(r.path.name)}: {_md(r.reason.splitlines()[0])}" for r in board.rejected]
        lines.append("")
    return "\n".join(lines)

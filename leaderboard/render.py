"""The leaderboard page: a static HTML file (tables sortable by clicking a header) and a Markdown twin.

Every submission in the submissions folder is validated; an invalid one is left out and listed,
with the reason, on both pages and in the returned report. One table per (track, family, target)
of :mod:`cgbench.tasks`, one row per method, metrics aggregated over seeds as mean ± std.

Each table is read in context: above it the published anchors for that track and family, the
family's label-noise ceiling (``Family.noise_ceiling``), and the FLOPs ranking on the same rows;
every row carries the score beyond FLOPs and the protocol it was run under. Metrics that do not
apply are hidden: MAE and MAPE for rank-only predictions (``method.scale == "rank"``, or a track
trained on ranks), and the @k metrics of a test part with k rows or fewer (the Evaluator leaves
them out). A glossary, the cgbench version and each family's data sha256 close the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cgbench import __version__ as CGBENCH_VERSION
from cgbench.storage import atomic_write_text
from cgbench.submission import SUBMISSION_SUFFIXES, InvalidSubmissionError, MethodInfo, is_submission_file
from cgbench.tasks import TRACKS, Anchor, SeedAggregate, anchors_for, get_track, track_rank

from cgbench.board import SHIPPED_SUBMISSIONS
from .overview import method_colours, overview_html, overview_markdown, overviews
from .validate import FamilyLoader, ValidatedSubmission, cached_loader, validate_submission

HTML_FILE, MARKDOWN_FILE = "index.html", "leaderboard.md"
TableKey = tuple[str, str, str]


@dataclass(frozen=True)
class MetricColumn:
    key: str
    title: str
    better: str  # "higher" or "lower": the first click on the header sorts best first
    meaning: str
    # Whether the metric compares predicted and true values (not only their order).
    needs_target_scale: bool = False


METRIC_COLUMNS = (
    MetricColumn("spearman", "Spearman ρ", "higher", "rank correlation of prediction and truth"),
    MetricColumn("spearman_beyond_flops", "ρ beyond FLOPs", "higher",
                 "partial Spearman given FLOPs: what the prediction knows that the FLOPs ranking does not "
                 "(0 for any monotone function of FLOPs)"),
    MetricColumn("spearman_gain_over_flops", "Δρ vs FLOPs", "higher",
                 "Spearman ρ minus the FLOPs ranking's ρ on the same rows"),
    MetricColumn("kendall", "Kendall τ", "higher", "Kendall's tau-b of prediction and truth"),
    MetricColumn("kendall_gennape", "Kendall τ (GENNAPE)", "higher",
                 "Kendall's tau over the pairs whose true values differ by at least 1e-4 (GENNAPE's variant)"),
    MetricColumn("pearson", "Pearson r", "higher", "linear correlation of prediction and truth"),
    MetricColumn("ndcg@10", "NDCG@10", "higher", "normalised discounted cumulative gain of the predicted top 10"),
    MetricColumn("top10_overlap", "Top-10 overlap", "higher", "share of the true top 10 in the predicted top 10"),
    MetricColumn("precision@10", "Precision@10", "higher",
                 "share of the predicted top 10 in the true top 10% of the rows"),
    MetricColumn("ndcg@50", "NDCG@50", "higher", "as NDCG@10, for the top 50"),
    MetricColumn("top50_overlap", "Top-50 overlap", "higher", "as Top-10 overlap, for the top 50"),
    MetricColumn("precision@50", "Precision@50", "higher", "as Precision@10, for the top 50"),
    MetricColumn("mae", "MAE", "lower", "mean absolute error, in the target's unit", True),
    MetricColumn("mape", "MAPE %", "lower", "mean absolute percentage error", True),
)
# The columns a detail table shows at first; the others fold in (a checkbox unfolds them), so a table fits
# a 1,400-pixel window.
MAIN_METRICS = ("spearman", "spearman_beyond_flops", "spearman_gain_over_flops", "kendall")
GLOSSARY_EXTRA = (
    ("FLOPs ρ", "Spearman ρ of ranking the same rows by FLOPs alone (larger FLOPs = larger value): the "
                "trivial baseline every score is set beside"),
    ("Label-noise ceiling", "agreement of two independent measurements of the target (two trainings); a "
                            "predictor cannot be trusted to rank better than the labels agree with themselves"),
    ("Protocol", "how the method was run: quick (the default: training rows capped, short budgets), reference "
                 "(the same rows, converged budgets), full (paper scale) or custom, with the predictor's settings "
                 "(a zero-cost proxy's data recipe); published: scores another project computed and published, "
                 "taken from its files (the badge names them), scored here like any other"),
    ("Training-free", "the method used no label of any family (a zero-cost proxy): valid on every track; "
                      "compare it with the FLOPs ranking like any other row"),
    ("mean ± std", "over seeds (sample standard deviation); each seed refits the method, or, for a proxy, "
                   "re-initialises the network and redraws random inputs; published scores are one computation"),
)
TRAINING_FREE = "training-free (no labels)"


@dataclass(frozen=True)
class Rejected:
    path: Path
    reason: str


@dataclass(frozen=True)
class Entry:
    """One method's result on one (track, family, target): a row of one table."""

    method: MethodInfo
    summary: SeedAggregate

    def shows(self, column: MetricColumn) -> bool:
        """Whether the column applies to this row (error metrics need predictions on the target's scale)."""
        if column.key not in self.summary.mean:
            return False
        rank_only = self.method.scale == "rank" or get_track(self.summary.track).label_scale == "rank"
        return not (column.needs_target_scale and rank_only)


@dataclass(frozen=True)
class TableContext:
    """What a table is read beside: published anchors, the noise ceiling, the FLOPs ranking, the data version."""

    anchors: list[Anchor]
    noise_ceiling: dict | None
    flops_spearman: float
    n_test: int
    family_version: str
    data_sha256: str


@dataclass(frozen=True)
class Board:
    tables: dict[TableKey, list[Entry]]
    context: dict[TableKey, TableContext]
    accepted: list[Path]
    rejected: list[Rejected]


@dataclass(frozen=True)
class RenderReport:
    html_path: Path
    markdown_path: Path
    accepted: list[Path]
    rejected: list[Rejected]


def collect(submissions_dir: Path, load: FamilyLoader | None = None, added: Sequence[Path] = ()) -> Board:
    """Validate every ``*.json.gz`` and ``*.json`` in ``submissions_dir`` (the shipped folder under the
    shipped leaderboard's rules) and the ``added`` files; sort the valid ones into tables."""
    if not Path(submissions_dir).is_dir():
        raise NotADirectoryError(f"submissions folder {submissions_dir} does not exist (expected a folder of "
                                 f"{' / '.join('*' + suffix for suffix in SUBMISSION_SUFFIXES)} files)")
    for path in added:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--add {path}: no such submission file")
    load = load or cached_loader()
    shipped = Path(submissions_dir).resolve() == SHIPPED_SUBMISSIONS
    accepted: list[tuple[Path, ValidatedSubmission]] = []
    rejected: list[Rejected] = []
    owners: dict[str, Path] = {}
    folder = [(p, shipped) for p in sorted(Path(submissions_dir).iterdir()) if is_submission_file(p)]
    for path, strict in [*folder, *((Path(p), False) for p in added)]:
        try:
            result = validate_submission(path, load, shipped=strict)
        except InvalidSubmissionError as err:
            rejected.append(Rejected(path, str(err)))
            continue
        name = result.submission.method.name
        if name in owners:
            rejected.append(Rejected(path, f"method name {name!r} is already submitted in {owners[name].name}"))
            continue
        owners[name] = path
        accepted.append((path, result))
    tables: dict[TableKey, list[Entry]] = {}
    for _, result in accepted:
        for summary in result.summaries():
            key = (summary.track, summary.family, summary.target)
            tables.setdefault(key, []).append(Entry(result.submission.method, summary))
    for entries in tables.values():
        entries.sort(key=lambda e: _descending_key(e.summary.mean.get("spearman", math.nan)))
    ordered = dict(sorted(tables.items(), key=lambda item: (track_rank(item[0][0]), item[0][1:])))
    context = {key: _context(key, entries, load) for key, entries in ordered.items()}
    return Board(ordered, context, [p for p, _ in accepted], rejected)


def _context(key: TableKey, entries: list[Entry], load: FamilyLoader) -> TableContext:
    track, family_name, target = key
    family = load(family_name)
    return TableContext(anchors=anchors_for(track, family_name, target), noise_ceiling=family.noise_ceiling(target),
                        flops_spearman=entries[0].summary.mean.get("flops_spearman", math.nan),
                        n_test=entries[0].summary.n_test, family_version=family.version,
                        data_sha256=family.data_sha256)


def _descending_key(value: float) -> tuple[bool, float]:
    return (math.isnan(value), -value if not math.isnan(value) else 0.0)


def render_leaderboard(submissions_dir: Path, out_dir: Path, load: FamilyLoader | None = None,
                       added: Sequence[Path] = ()) -> RenderReport:
    """Write ``index.html`` and ``leaderboard.md`` into ``out_dir`` (atomically) from the submissions in
    ``submissions_dir`` and the ``added`` files."""
    board = collect(submissions_dir, load, added)
    out_dir = Path(out_dir)
    html_path, markdown_path = out_dir / HTML_FILE, out_dir / MARKDOWN_FILE
    atomic_write_text(html_path, render_html(board))
    atomic_write_text(markdown_path, render_markdown(board))
    return RenderReport(html_path, markdown_path, board.accepted, board.rejected)


# ---------------------------------------------------------------------------------------------
# Cell contents shared by both formats


def training_status(track: str, family: str, trained_on: tuple[str, ...]) -> str:
    """What labels a row's predictor saw, in words (the zero-shot status); none for a training-free method."""
    if not trained_on:
        return TRAINING_FREE
    definition = get_track(track)
    others = [name for name in trained_on if name != family]
    if not definition.transfer:
        return f"trained on {family}"
    if definition.target_kind == "latency":
        shots = f" and {definition.shots} rows of the held-out device" if definition.shots else ""
        return f"other devices' latency of {family}{shots}"
    words = [f"{'pretrained on' if definition.shots else 'zero-shot: trained on'} {', '.join(others)}"]
    if family in trained_on:
        words.append(f"fine-tuned on {definition.shots} rows of {family}")
    return "; ".join(words)


def metric_columns(entries: list[Entry]) -> list[MetricColumn]:
    """The metric columns that apply to some row of a table."""
    return [c for c in METRIC_COLUMNS if any(e.shows(c) for e in entries)]


def mean_std_text(summary: SeedAggregate, key: str) -> str:
    mean, std = summary.mean.get(key, math.nan), summary.std.get(key)
    if math.isnan(mean):
        return "n/a"
    return _number(mean) if std is None else f"{_number(mean)} ± {_number(std)}"


def cell_text(entry: Entry, column: MetricColumn) -> str:
    return mean_std_text(entry.summary, column.key) if entry.shows(column) else "—"


def _number(value: float) -> str:
    """Three decimals for scores and small errors; four significant digits for errors in FLOP units."""
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"


def table_title(track: str, family: str, target: str) -> str:
    return f"{TRACKS[track].title} · {family} · target {target}"


def table_id(track: str, family: str, target: str) -> str:
    return "-".join((track, family, target)).replace("@", "at")


def context_lines(context: TableContext) -> list[str]:
    """The sentences read beside a table (plain text; each renderer escapes them)."""
    lines = [f"FLOPs ranking on the same {context.n_test} test rows: Spearman ρ {_number(context.flops_spearman)}."]
    ceiling = context.noise_ceiling
    if ceiling is None:
        lines.append("Label-noise ceiling: not measurable (one measurement per architecture).")
    else:
        lines.append(f"Label-noise ceiling ({ceiling['source']}, {ceiling['n']} architectures): Spearman "
                     f"{_number(ceiling['spearman'])}, Kendall {_number(ceiling['kendall'])}; within the best 10%: "
                     f"Spearman {_number(ceiling['spearman_top'])}.")
    for anchor in context.anchors:
        subset = f", on {anchor.subset}" if anchor.subset else ""
        lines.append(f"Published: {anchor.text}: Spearman {anchor.spearman:.3f}{subset} [{anchor.source}].")
    lines.append(f"Data: family version {context.family_version}, data sha256 {context.data_sha256[:16]}.")
    return lines


def glossary() -> list[tuple[str, str]]:
    """Every term a table uses, with its meaning: the metrics, the tracks and the context lines."""
    return ([(c.title, c.meaning) for c in METRIC_COLUMNS] + list(GLOSSARY_EXTRA)
            + [(t.title, t.description) for t in TRACKS.values()])


# ---------------------------------------------------------------------------------------------
# HTML

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1340px; }
table.leaderboard, table.overview { border-collapse: collapse; margin-bottom: 1.2em; font-size: 13px; }
table.leaderboard th, table.leaderboard td, table.overview th, table.overview td {
  border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
table.leaderboard td { white-space: nowrap; }
table.leaderboard td.text, table.leaderboard th.text, table.overview td.text { text-align: left; white-space: normal; }
table.leaderboard td.text { max-width: 240px; }
table.leaderboard th { background: #f0f0f0; cursor: pointer; user-select: none; }
table.leaderboard th[aria-sort="ascending"]::after { content: " ▲"; }
table.leaderboard th[aria-sort="descending"]::after { content: " ▼"; }
table.leaderboard tbody tr:nth-child(odd) { background: #fafafa; }
table.leaderboard:not(.all-columns) .extra { display: none; }
table.overview th { background: #f0f0f0; font-weight: normal; }
table.overview tfoot td { font-style: italic; color: #444; }
.swatch { display: inline-block; width: 9px; height: 9px; margin-right: 5px; border-radius: 50%; }
svg.overview-plot { display: block; max-width: 1200px; margin-bottom: 1.5em; }
#controls { position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #ddd; }
#controls label { margin-right: 1.2em; }
section.detail[hidden] { display: none; }
details#overview > summary { cursor: pointer; } details#overview > summary h2 { display: inline; }
.rejected { color: #a00; }
.context { font-size: 13px; color: #444; margin: 0 0 0.6em 0; padding-left: 1.2em; }
.badge { display: inline-block; padding: 0 4px; border-radius: 3px; background: #e8eef7; font-size: 12px; }
dl.glossary dt { font-weight: bold; } dl.glossary dd { margin: 0 0 0.4em 1.5em; }
"""

# The controls: a detail table is shown when it matches every chosen filter. A link ending in
# "#show=track:KEY,family:KEY,target:KEY,columns:all,overview:closed" sets those controls on load (a
# shareable view; the overview is a <details> a reader folds),
# through the same change events a reader's choice fires; the rendering test drives the handlers that
# way in a headless browser. After layout, <html data-scroll-width> records the page's widest extent.
CONTROL_SCRIPT = """
(function () {
  var selects = Array.prototype.slice.call(document.querySelectorAll("#controls select"));
  var columns = document.getElementById("all-columns");
  function apply() {
    var shown = 0;
    document.querySelectorAll("section.detail").forEach(function (section) {
      var match = selects.every(function (s) {
        return !s.value || section.getAttribute("data-" + s.getAttribute("data-filter")) === s.value;
      });
      section.hidden = !match;
      if (match) shown += 1;
    });
    document.querySelectorAll("table.leaderboard").forEach(function (t) {
      t.classList.toggle("all-columns", columns.checked);
    });
    document.getElementById("shown-count").textContent = shown + " table(s)";
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  if (columns) columns.addEventListener("change", apply);
  var chosen = /^#show=(.+)$/.exec(window.location.hash);
  if (chosen) {
    decodeURIComponent(chosen[1]).split(",").forEach(function (pair) {
      var parts = pair.split(":");
      if (parts[0] === "columns") { columns.checked = parts[1] === "all"; columns.dispatchEvent(new Event("change")); }
      if (parts[0] === "overview") { document.getElementById("overview").open = parts[1] !== "closed"; }
      var select = document.getElementById(parts[0] + "-select");
      if (select) { select.value = parts[1]; select.dispatchEvent(new Event("change")); }
    });
  }
  if (selects.length) apply();
  document.documentElement.setAttribute("data-scroll-width", document.documentElement.scrollWidth);
})();
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


def _html_header(key: str, title: str, kind: str, better: str, sorted_by: str | None = None,
                 extra: bool = False) -> str:
    aria = f' aria-sort="{sorted_by}"' if sorted_by else ""
    classes = " ".join(c for c in ("text" if kind == "text" else "", "extra" if extra else "") if c)
    css = f' class="{classes}"' if classes else ""
    return (f'<th data-key="{_e(key)}" data-type="{kind}" data-better="{better}"{css}{aria} '
            f'title="click to sort">{_e(title)}</th>')


def _folded(key: str) -> str:
    """The class attribute of a cell of a folded column (empty for the main metrics)."""
    return "" if key in MAIN_METRICS else ' class="extra"'


def _html_table(key: TableKey, entries: list[Entry], context: TableContext) -> str:
    columns = metric_columns(entries)
    headers = [_html_header("method", "Method", "text", "lower")]
    headers += [_html_header(c.key, c.title, "number", c.better, "descending" if c.key == "spearman" else None,
                             extra=c.key not in MAIN_METRICS) for c in columns]
    headers += [_html_header("seeds", "Seeds", "number", "higher"),
                _html_header("protocol", "Protocol", "text", "lower"),
                _html_header("training", "Training labels", "text", "lower"),
                _html_header("n_parameters", "Parameters", "number", "lower", extra=True),
                _html_header("hardware", "Hardware", "text", "lower", extra=True),
                _html_header("code", "Code", "text", "lower", extra=True)]
    rows = []
    for entry in entries:
        method, summary = entry.method, entry.summary
        cells = [f'<td class="text" title="{_e(method.description)}">{_e(method.name)}</td>']
        cells += [f'<td{_folded(c.key)} data-sort-value="'
                  f'{_sort_value(summary.mean.get(c.key, math.nan) if entry.shows(c) else math.nan)}">'
                  f'{_e(cell_text(entry, c))}</td>' for c in columns]
        cells += [f"<td>{len(summary.seeds)}</td>",
                  f'<td class="text"><span class="badge">{_e(method.protocol.badge())}</span></td>',
                  f'<td class="text">{_e(training_status(summary.track, summary.family, summary.trained_on))}</td>',
                  f'<td class="extra" data-sort-value="{method.n_parameters}">{method.n_parameters:,}</td>',
                  f'<td class="text extra">{_e(method.hardware)}</td>',
                  f'<td class="text extra"><a href="{_e(method.code_url)}">code</a></td>']
        rows.append(f'<tr data-method="{_e(method.name)}">' + "".join(cells) + "</tr>")
    ident = table_id(*key)
    notes = "".join(f"<li>{_e(line)}</li>" for line in context_lines(context))
    track, family, target = key
    return (f'<section class="detail" data-track="{_e(track)}" data-family="{_e(family)}" data-target="{_e(target)}">'
            f'<h2 id="{_e(ident)}">{_e(table_title(*key))}</h2>\n<ul class="context">{notes}</ul>\n'
            f'<table class="leaderboard" id="table-{_e(ident)}" data-sorted-by="spearman descending">\n'
            f"<thead><tr>{''.join(headers)}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
            "</section>")


def _html_controls(board: Board) -> str:
    """Which detail tables to show: a track, a family and a target, and whether to unfold every column."""
    def options(name: str, values: list[str], label: str) -> str:
        items = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
        return (f'<label>{label} <select id="{name}-select" data-filter="{name}"><option value="">all</option>'
                f"{items}</select></label>")

    keys = list(board.tables)
    tracks = [t for t in TRACKS if any(k[0] == t for k in keys)]
    return ('<div id="controls">' + options("track", tracks, "Track")
            + options("family", sorted({k[1] for k in keys}), "Family")
            + options("target", sorted({k[2] for k in keys}), "Target")
            + '<label><input type="checkbox" id="all-columns"> every metric column</label>'
            + '<span id="shown-count"></span></div>')


def _html_rejected(rejected: list[Rejected]) -> str:
    if not rejected:
        return ""
    items = "".join(f"<li><code>{_e(r.path.name)}</code>: {_e(r.reason.splitlines()[0])}</li>" for r in rejected)
    return (f'<section class="rejected" id="rejected"><h2>Left out: {len(rejected)} invalid submission(s)</h2>'
            f"<ul>{items}</ul></section>")


def render_html(board: Board) -> str:
    tables = "\n".join(_html_table(k, entries, board.context[k]) for k, entries in board.tables.items())
    terms = "".join(f"<dt>{_e(term)}</dt><dd>{_e(meaning)}</dd>" for term, meaning in glossary())
    colours = method_colours(board)
    glance = "".join(overview_html(item, colours) for item in overviews(board))
    body = (f'<details id="overview" open><summary><h2>At a glance</h2></summary><p class="context">Mean Spearman ρ '
            "over seeds per method and table (✓: above the FLOPs ranking by more than seed noise, a one-sided "
            "t-test at 5%); the FLOPs ranking and the label-noise ceiling of the same rows below; avg rank over "
            "the track's tables. In the pictures: each method's mean with its seed spread, FLOPs as a black "
            f"tick, the ceiling dashed.</p>{glance}</details>\n<h2>Tables</h2>{_html_controls(board)}\n{tables}"
            if board.tables else '<p id="empty">No valid submissions yet.</p>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>cgbench leaderboard</title>
<style>{STYLE}</style>
</head>
<body>
<h1>cgbench leaderboard</h1>
<p>Metrics are recomputed from each submission's predictions on the test part (mean ± sample std over
seeds). Choose a track, family and target to see their tables; click a column header to sort, again to
reverse.</p>
{body}
{_html_rejected(board.rejected)}
<section id="glossary"><h2>Glossary</h2><dl class="glossary">{terms}</dl></section>
<footer id="version"><p>cgbench {_e(CGBENCH_VERSION)}; each table names its family's data version and sha256.</p></footer>
<script>{SORT_SCRIPT}{CONTROL_SCRIPT}</script>
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


def _markdown_table(key: TableKey, entries: list[Entry], context: TableContext) -> list[str]:
    columns = metric_columns(entries)
    header = ["Method", *(c.title for c in columns), "Seeds", "Protocol", "Training labels", "Parameters", "Hardware",
              "Code"]
    lines = [f"## {_md(table_title(*key))}", "", *(f"- {_md(line)}" for line in context_lines(context)), "",
             "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(columns) + 1) + ["---", "---", "---:", "---", "---"]) + "|"]
    for entry in entries:
        method, summary = entry.method, entry.summary
        cells = [_md(method.name), *(cell_text(entry, c) for c in columns), str(len(summary.seeds)),
                 _md(method.protocol.badge()), _md(training_status(summary.track, summary.family, summary.trained_on)), f"{method.n_parameters:,}",
                 _md(method.hardware), f"[code]({_md_url(method.code_url)})"]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(board: Board) -> str:
    lines = ["# cgbench leaderboard", "",
             "Metrics recomputed from each submission's predictions on the test part; mean ± sample std over seeds.",
             ""]
    if not board.tables:
        lines += ["No valid submissions yet.", ""]
    else:
        lines += ["## At a glance", "", "Mean Spearman ρ over seeds (✓: above the FLOPs ranking by more than seed "
                  "noise); the FLOPs ranking and the label-noise ceiling of the same rows below.", ""]
        for item in overviews(board):
            lines += overview_markdown(item)
    for key, entries in board.tables.items():
        lines += _markdown_table(key, entries, board.context[key])
    if board.rejected:
        lines += [f"## Left out: {len(board.rejected)} invalid submission(s)", ""]
        lines += [f"- {_md(r.path.name)}: {_md(r.reason.splitlines()[0])}" for r in board.rejected]
        lines.append("")
    lines += ["## Glossary", "", *(f"- **{_md(term)}**: {_md(meaning)}" for term, meaning in glossary()), "",
              f"cgbench {_md(CGBENCH_VERSION)}; each table names its family's data version and sha256.", ""]
    return "\n".join(lines)

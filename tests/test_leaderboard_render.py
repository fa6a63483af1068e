"""The leaderboard page: one table per (track, family, target) from validated submissions, read
beside its context (FLOPs ranking, label-noise ceiling, published anchors, data version), each row
with its protocol badge; error metrics hidden where predictions are ranks; invalid submissions
listed; sorting checked in a real browser."""

import gzip
import json
import math
import re
import shutil
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from cgbench import Evaluator
from cgbench.submission import MethodInfo, ProtocolInfo, write_submission
from cgbench.tasks import NONE_FREE_NB201, Run, SeedAggregate, anchors_for
from leaderboard.render import METRIC_COLUMNS, Entry, render_leaderboard, training_status
from leaderboard.validate import cached_loader, validate_submission

REPO = Path(__file__).resolve().parents[1]
NB101_TARGET, NB201_TARGET, NB201_OTHER_TARGET = "c10_val_acc_108ep", "c10_valid_acc_200ep", "c100_valid_acc_200ep"
IN_FAMILY_TABLE = f"table-in_family-nb101-{NB101_TARGET}"
TABLES = [IN_FAMILY_TABLE, f"table-in_family-nb201-{NB201_OTHER_TARGET}", f"table-in_family-nb201-{NB201_TARGET}",
          f"table-gennape_zero_shot-nb201-{NB201_TARGET}", f"table-gennape_few_shot-nb201-{NB201_TARGET}",
          f"table-lofo_zero_shot-nb201-{NB201_TARGET}"]
# (track, family, target, seeds, trained_on) of every method's runs
RUNS = [("in_family", "nb101", NB101_TARGET, (0, 1, 2), ("nb101",)),
        ("in_family", "nb201", NB201_TARGET, (0,), ("nb201",)),
        ("in_family", "nb201", NB201_OTHER_TARGET, (0,), ("nb201",)),
        ("gennape_zero_shot", "nb201", NB201_TARGET, (0,), ("nb101",)),
        ("gennape_few_shot", "nb201", NB201_TARGET, (0,), ("nb101", "nb201")),
        ("lofo_zero_shot", "nb201", NB201_TARGET, (0,), ("nb101",))]


def scorers(family, target):
    """Method name -> (row indices, seed -> scores): rules with different rank and error behaviour."""
    flops = family.table.column("flops").to_numpy().astype(float)
    params = family.table.column("params").to_numpy().astype(float)
    labels = family.labels(target)
    return {
        "flops": lambda idx, seed: flops[idx],
        "params": lambda idx, seed: params[idx] * (1 + 0.1 * seed),
        "inverted_flops": lambda idx, seed: -flops[idx],
        # best ranks, worst absolute error: the MAE column sorts differently from Spearman
        "shifted_noisy_label": lambda idx, seed: 1e12 + labels[idx] + np.random.default_rng(seed).normal(size=len(idx)),
    }


# Scale and protocol of each method: FLOPs are a ranking (its MAE and MAPE are hidden); the others
# claim the target's scale. Each protocol gives its row a different badge.
METHODS = {
    "flops": ("rank", ProtocolInfo("quick", 300, "no training")),
    "params": ("target", ProtocolInfo("full", None, "")),
    "inverted_flops": ("target", ProtocolInfo("custom", 1000, "200 epochs, lr 1e-3")),
    "shifted_noisy_label": ("target", ProtocolInfo("quick", 300, "")),
}
BADGES = {"flops": "quick protocol, ≤300 training rows per fit, no training", "params": "full protocol, all rows",
          "inverted_flops": "custom protocol, ≤1000 training rows per fit, 200 epochs, lr 1e-3",
          "shifted_noisy_label": "quick protocol, ≤300 training rows per fit"}


def make_runs(families, name):
    runs = []
    for track, family_name, target, seeds, trained_on in RUNS:
        family = families[family_name]
        score = scorers(family, target)[name]
        evaluator = Evaluator(family, split="fewshot50" if track == "gennape_few_shot" else "random", target=target)
        for seed in seeds:
            predictions = dict(zip(evaluator.arch_ids, score(evaluator.indices, seed).tolist()))
            runs.append(Run(track, family_name, target, seed, trained_on, predictions))
    return runs


@pytest.fixture(scope="module")
def load(cgbench_home):
    return cached_loader()


# Three gzip-compressed submissions (the leaderboard's form) and one plain JSON file.
ACCEPTED = ["method0.json.gz", "method1.json.gz", "method2.json.gz", "method3.json"]
REJECTED = ["broken.json", "format1.json", "truncated.json.gz", "z_same_name.json.gz"]


@pytest.fixture(scope="module")
def submissions(load, tmp_path_factory):
    """Four valid submissions; a truncated JSON, a format-1 document, a truncated gzip file and one
    reusing a method name."""
    folder = tmp_path_factory.mktemp("submissions")
    families = {name: load(name) for name in ("nb101", "nb201")}
    for i, (name, file_name) in enumerate(zip(METHODS, ACCEPTED)):
        # Free text that must be escaped on both pages: HTML, a Markdown link, a table-cell separator.
        hardware = "2 CPU <b>cores</b> | [x](javascript:alert(1))" if name == "flops" else "2 CPU cores"
        scale, protocol = METHODS[name]
        method = MethodInfo(name=name, description=f"{name} as the score", code_url=f"https://example.org/{i}",
                            hardware=hardware, n_parameters=10 * i, scale=scale, protocol=protocol)
        write_submission(folder / file_name, method, make_runs(families, name), families.values())
    (folder / "broken.json").write_text((folder / "method3.json").read_text()[:300])
    (folder / "truncated.json.gz").write_bytes((folder / "method0.json.gz").read_bytes()[:300])
    document = json.loads(gzip.decompress((folder / "method1.json.gz").read_bytes()))
    (folder / "z_same_name.json.gz").write_bytes(gzip.compress(json.dumps(document).encode()))
    (folder / "format1.json").write_text(json.dumps({**document, "format": "cgbench-submission-1"}))
    (folder / "README.md").write_text("not a submission")
    return folder


@pytest.fixture(scope="module")
def rendered(submissions, load, tmp_path_factory):
    return render_leaderboard(submissions, tmp_path_factory.mktemp("site"), load)


@pytest.fixture(scope="module")
def validated(submissions, load):
    """Method name -> its submission validated on its own (independently of the renderer)."""
    results = [validate_submission(submissions / name, load) for name in ACCEPTED]
    return {result.submission.method.name: result for result in results}


def summary_of(result, track="in_family", family="nb101", target=NB101_TARGET):
    return next(s for s in result.summaries() if (s.track, s.family, s.target) == (track, family, target))


def means(validated, metric, **table):
    """Method name -> mean of ``metric`` over the seeds of one table's runs (default: in_family nb101)."""
    return {name: summary_of(result, **table).mean[metric] for name, result in validated.items()}


def best_first(values, sign=-1):
    return sorted(values, key=lambda name: sign * values[name])


class _Tables(HTMLParser):
    """Per table (by id): its header keys, its body rows as (method, cell texts) in DOM order, its data-sorted-by."""

    def __init__(self):
        super().__init__()
        self.headers, self.cells, self.sorted_by = {}, {}, {}
        self._table = self._cell = None
        self._skipped = False

    @property
    def rows(self):
        return {table: [method for method, _ in rows] for table, rows in self.cells.items()}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") != "leaderboard":
            self._skipped = True  # the overview's matrices: read by overview tests
        elif tag == "table":
            self._table = attrs["id"]
            self.headers[self._table], self.cells[self._table] = [], []
            self.sorted_by[self._table] = attrs.get("data-sorted-by")
        elif self._skipped:
            return
        elif tag == "th" and self._table and "data-key" in attrs:
            self.headers[self._table].append(attrs["data-key"])
        elif tag == "tr" and "data-method" in attrs:
            self.cells[self._table].append((attrs["data-method"], []))
        elif tag == "td" and self._table:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if self._skipped:
            self._skipped = tag != "table"
        elif tag == "td" and self._cell is not None:
            self.cells[self._table][-1][1].append(self._cell.strip())
            self._cell = None
        elif tag == "table":
            self._table = None


def tables(html):
    parser = _Tables()
    parser.feed(html)
    return parser


def cell(parsed, table, method, key):
    """The text of ``method``'s cell in column ``key`` of ``table``."""
    row = dict(parsed.cells[table])[method]
    return row[parsed.headers[table].index(key)]


def test_invalid_submissions_are_reported_and_left_out(rendered, submissions):
    assert [p.name for p in rendered.accepted] == ACCEPTED
    reasons = {r.path.name: r.reason for r in rendered.rejected}
    assert sorted(reasons) == REJECTED
    assert "not valid JSON" in reasons["broken.json"]
    assert "format is 'cgbench-submission-1'; expected 'cgbench-submission-2'" in reasons["format1.json"]
    assert "truncated.json.gz: truncated gzip file" in reasons["truncated.json.gz"]
    assert "method name 'params' is already submitted in method1.json.gz" in reasons["z_same_name.json.gz"]
    html, markdown = rendered.html_path.read_text(), rendered.markdown_path.read_text()
    for text in (html, markdown):
        assert "Left out: 4 invalid submission(s)" in text and all(name in text for name in REJECTED)
    assert sorted(p.name for p in rendered.html_path.parent.iterdir()) == ["index.html", "leaderboard.md"]
    assert sorted(p.name for p in submissions.iterdir()) == sorted([*ACCEPTED, *REJECTED, "README.md"])


def test_html_has_one_table_per_track_family_and_target_with_rows_by_spearman(rendered, validated):
    html = rendered.html_path.read_text()
    parsed = tables(html)
    assert list(parsed.rows) == TABLES
    for track, family, target, _, _ in RUNS:
        table = f"table-{track}-{family}-{target}"
        spearman = means(validated, "spearman", track=track, family=family, target=target)
        assert parsed.rows[table] == best_first(spearman), table
        assert parsed.sorted_by[table] == "spearman descending"
    # the target is part of the key: the two in-family nb201 tables score the same predictions differently
    c10, c100 = (means(validated, "spearman", family="nb201", target=t) for t in (NB201_TARGET, NB201_OTHER_TARGET))
    assert c10 != c100
    assert f"In-family · nb201 · target {NB201_OTHER_TARGET}" in html
    assert "2 CPU &lt;b&gt;cores&lt;/b&gt;" in html and "<b>" not in html
    spearman = means(validated, "spearman")["shifted_noisy_label"]
    assert re.search(rf"{spearman:.3f} ± \d\.\d{{3}}", html)
    assert cell(parsed, IN_FAMILY_TABLE, "flops", "training") == "trained on nb101"
    assert cell(parsed, TABLES[3], "flops", "training") == "zero-shot: trained on nb101"
    assert cell(parsed, TABLES[4], "flops", "training") == "pretrained on nb101; fine-tuned on 50 rows of nb201"
    assert 'href="https://example.org/3"' in html and "<script>" in html and "<script src" not in html


def test_each_row_carries_its_protocol_badge(rendered):
    parsed = tables(rendered.html_path.read_text())
    for table in TABLES:
        assert {method: cell(parsed, table, method, "protocol") for method in METHODS} == BADGES
    assert '<span class="badge">quick protocol, ≤300 training rows per fit, no training</span>' in \
        rendered.html_path.read_text()
    markdown = rendered.markdown_path.read_text()
    for method, badge in BADGES.items():
        assert markdown.count(f" | {badge} | ") == len(TABLES), method


def test_error_metrics_are_hidden_for_rank_predictions_and_rank_tracks(rendered, validated):
    """MAE and MAPE compare values: shown for methods on the target's scale, "—" (sorting last) for a
    ranking (scale "rank"), and no column at all on a track trained on ranks (leave-one-out)."""
    parsed = tables(rendered.html_path.read_text())
    assert {"mae", "mape", "spearman", "spearman_beyond_flops"} <= set(parsed.headers[IN_FAMILY_TABLE])
    mae = means(validated, "mae")
    assert cell(parsed, IN_FAMILY_TABLE, "flops", "mae") == "—" == cell(parsed, IN_FAMILY_TABLE, "flops", "mape")
    for method in ("params", "inverted_flops", "shifted_noisy_label"):
        shown = cell(parsed, IN_FAMILY_TABLE, method, "mae")
        assert float(shown.split(" ± ")[0]) == pytest.approx(mae[method], rel=1e-3), method
    assert re.search(r'<td class="extra" data-sort-value="">—</td>', rendered.html_path.read_text())
    lofo = f"table-lofo_zero_shot-nb201-{NB201_TARGET}"
    assert "mae" not in parsed.headers[lofo] and "mape" not in parsed.headers[lofo]
    assert "spearman" in parsed.headers[lofo]
    assert all(value != "—" for _, row in parsed.cells[lofo] for value in row)
    # a top-k metric needs more than k test rows: nb101's test part has 50
    assert "ndcg@10" in parsed.headers[IN_FAMILY_TABLE] and "ndcg@50" not in parsed.headers[IN_FAMILY_TABLE]
    assert "ndcg@50" in parsed.headers[TABLES[3]]


def _aggregate(track, **mean):
    return SeedAggregate(track, "nb201", NB201_TARGET, ("nb101",), (0,), 10, mean, dict.fromkeys(mean))


@pytest.mark.parametrize("scale, track, shown", [
    ("target", "in_family", {"spearman", "mae", "mape"}),
    ("rank", "in_family", {"spearman"}),
    ("target", "lofo_zero_shot", {"spearman"}),
    ("target", "gennape_zero_shot", {"spearman", "mae", "mape"}),
])
def test_a_column_applies_by_the_methods_scale_and_the_tracks_labels(scale, track, shown):
    method = MethodInfo("m", "", "https://example.org", "cpu", 0, scale=scale)
    entry = Entry(method, _aggregate(track, spearman=0.5, mae=1.0, mape=2.0))
    assert {c.key for c in METRIC_COLUMNS if entry.shows(c)} == shown


@pytest.mark.parametrize("track, family, trained_on, status", [
    ("in_family", "nb101", ("nb101",), "trained on nb101"),
    ("gennape_zero_shot", "nb201", ("nb101",), "zero-shot: trained on nb101"),
    ("gennape_few_shot", "nb201", ("nb101", "nb201"), "pretrained on nb101; fine-tuned on 50 rows of nb201"),
    ("lofo_zero_shot", "nb201", ("nb101", "nasbench_macro"), "zero-shot: trained on nb101, nasbench_macro"),
    ("device_transfer_k0", "fbnet", ("fbnet",), "other devices' latency of fbnet"),
    ("device_transfer_k20", "nb201", ("nb201",), "other devices' latency of nb201 and 20 rows of the held-out device"),
])
def test_training_labels_in_words(track, family, trained_on, status):
    assert training_status(track, family, trained_on) == status


def test_tables_are_read_beside_flops_noise_ceiling_anchors_and_data_version(rendered, load):
    """The context lines, as a reader sees them: HTML entities and Markdown's backslash escapes undone."""
    html = unescape(rendered.html_path.read_text())
    markdown = re.sub(r"\\(.)", r"\1", unescape(rendered.markdown_path.read_text()))
    nb101, nb201 = load("nb101"), load("nb201")
    evaluator = Evaluator(nb101)
    flops = evaluator.eval(nb101.table.column("flops").to_numpy()[evaluator.indices].astype(float))
    ceilings = [nb101.noise_ceiling(NB101_TARGET), nb201.noise_ceiling(NB201_TARGET)]
    # nb101 lists some cells twice (two runs each); nb201 has two trainings of every cell
    assert [c["n"] for c in ceilings] == [48, 15625]
    lines = [f"FLOPs ranking on the same 50 test rows: Spearman ρ {flops['spearman']:.3f}.",
             f"Data: family version {nb101.version}, data sha256 {nb101.data_sha256[:16]}.",
             f"Data: family version {nb201.version}, data sha256 {nb201.data_sha256[:16]}.",
             *(f"Label-noise ceiling ({c['source']}, {c['n']} architectures): Spearman {c['spearman']:.3f}, Kendall "
               f"{c['kendall']:.3f}; within the best 10%: Spearman {c['spearman_top']:.3f}." for c in ceilings),
             f"Published: GENNAPE pretrained on NB-101, zero-shot on NB-201: Spearman 0.815, on {NONE_FREE_NB201} "
             "[Mills et al.",
             f"Published: GENNAPE pretrained on NB-101, fine-tuned on 50 NB-201 cells: Spearman 0.910, on "
             f"{NONE_FREE_NB201} [Mills et al."]
    lines += [f"Published: {anchor.text}: Spearman {anchor.spearman:.3f}" for table in TABLES[1:]
              for anchor in anchors_for(*table.split("-")[1:4])]
    other_target = html.split(f'id="{TABLES[1][len("table-"):]}"')[1].split("<table")[0]
    assert "Published:" not in other_target  # CIFAR-10 anchors never head the CIFAR-100 table
    for line in lines:
        assert line in html and line in markdown, line
    # the anchors of a track stand above that track's table only
    section = html.split(f'id="{TABLES[3][len("table-"):]}"')[1].split("<table")[0]
    assert "0.815" in section and "0.849" in section and "0.910" not in section


def test_markdown_has_the_same_rows(rendered, validated):
    markdown = rendered.markdown_path.read_text()
    section = markdown.split(f"## In-family · nb101 · target {NB101_TARGET}")[1].split("## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Method")]
    assert [row.split(" | ")[0][2:] for row in rows] == best_first(means(validated, "spearman"))
    assert all(" | 3 | " in row and " | trained on nb101 | " in row and "[code](https://example.org/" in row
               for row in rows)
    assert "| Method | Spearman ρ | ρ beyond FLOPs | Δρ vs FLOPs | Kendall τ |" in markdown
    assert "NDCG@10" in markdown and "MAE" in markdown
    flops_row = next(row for row in rows if row.startswith("| flops |"))
    assert flops_row.count(" — ") == 2  # MAE and MAPE of a ranking


def test_markdown_escapes_what_the_html_page_escapes(rendered):
    markdown = rendered.markdown_path.read_text()
    assert "2 CPU &lt;b&gt;cores&lt;/b&gt; \\| \\[x\\](javascript:alert(1))" in markdown
    assert "<b>" not in markdown and "[x](" not in markdown


def chromium_binary():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is needed to check the leaderboard page: neither `chromium` nor "
                    "`chromium-browser` is on PATH; install it with `apt-get install -y chromium`")
    return binary


def chromium(tmp_path, *args):
    command = [chromium_binary(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-2000:]}"
    return done.stdout


def browser_dom(page, tmp_path, fragment=""):
    return tables(chromium(tmp_path, "--dump-dom", page.as_uri() + fragment))


def test_browser_sorts_by_clicked_header(rendered, validated, tmp_path):
    spearman = means(validated, "spearman")
    # MAE is shown for the methods on the target's scale; FLOPs (a ranking) has none and sorts last either way
    mae = {name: value for name, value in means(validated, "mae").items() if METHODS[name][0] == "target"}
    assert all(math.isfinite(value) for value in mae.values())
    by_spearman = best_first(spearman)
    by_mae = best_first(mae, sign=1)
    assert by_mae != [name for name in by_spearman if name in mae], \
        "the test needs a column whose order differs from the static one"

    static = browser_dom(rendered.html_path, tmp_path)
    assert static.rows[IN_FAMILY_TABLE] == by_spearman
    assert static.sorted_by[IN_FAMILY_TABLE] == "spearman descending"

    one_click = browser_dom(rendered.html_path, tmp_path, "#click=mae")
    assert one_click.rows[IN_FAMILY_TABLE] == [*by_mae, "flops"]  # lower error first
    assert one_click.sorted_by[IN_FAMILY_TABLE] == "mae ascending"

    two_clicks = browser_dom(rendered.html_path, tmp_path, "#click=mae,mae")
    assert two_clicks.rows[IN_FAMILY_TABLE] == [*by_mae[::-1], "flops"]
    assert two_clicks.sorted_by[IN_FAMILY_TABLE] == "mae descending"

    by_name = browser_dom(rendered.html_path, tmp_path, "#click=method")
    assert by_name.rows[IN_FAMILY_TABLE] == sorted(spearman, key=str.lower)

    # every table is sorted by a clicked key it has; one without the column keeps its order
    assert by_name.rows[TABLES[3]] == sorted(spearman, key=str.lower)
    assert one_click.sorted_by[TABLES[-1]] == "spearman descending"
    assert one_click.rows[TABLES[-1]] == static.rows[TABLES[-1]]


def test_browser_screenshot(rendered, tmp_path):
    shot = tmp_path / "leaderboard.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars",
             rendered.html_path.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(shot, artifacts / "leaderboard.png")
    print(f"screenshot: {shot} (copied to {artifacts / 'leaderboard.png'})")


def test_empty_folder_renders_a_page_saying_so(tmp_path):
    with pytest.raises(NotADirectoryError, match="submissions folder .*missing does not exist"):
        render_leaderboard(tmp_path / "missing", tmp_path / "site")
    (tmp_path / "empty").mkdir()
    report = render_leaderboard(tmp_path / "empty", tmp_path / "site")
    assert "No valid submissions yet." in report.html_path.read_text()
    assert "No valid submissions yet." in report.markdown_path.read_text()
    assert report.accepted == [] and report.rejected == []


# ---------------------------------------------------------------------------------------------
# The page at a glance: the overview, the controls, the width, the weight


class _Shown(HTMLParser):
    """Per detail section (track, family, target): whether it is hidden; and the root's data-scroll-width."""

    def __init__(self):
        super().__init__()
        self.sections, self.scroll_width, self.all_columns = {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.scroll_width = int(attrs["data-scroll-width"]) if "data-scroll-width" in attrs else None
        elif tag == "section" and attrs.get("class") == "detail":
            key = (attrs["data-track"], attrs["data-family"], attrs["data-target"])
            self.sections[key] = "hidden" not in attrs
        elif tag == "table" and "leaderboard" in (attrs.get("class") or ""):
            self.all_columns.append("all-columns" in attrs["class"])


def shown(page, tmp_path, fragment="", width=1400):
    parser = _Shown()
    parser.feed(chromium(tmp_path, f"--window-size={width},900", "--dump-dom", page.as_uri() + fragment))
    return parser


def test_the_overview_leads_with_a_matrix_and_a_picture_per_track(rendered, validated):
    page = rendered.html_path.read_text()
    assert page.index('<details id="overview" open>') < page.index('class="detail"'), "the overview comes first"
    for track in ("in_family", "gennape_zero_shot", "gennape_few_shot", "lofo_zero_shot"):
        assert f'id="overview-{track}"' in page
    assert page.count('<svg class="overview-plot"') == 4
    matrix = page[page.index('id="overview-in_family"'):page.index("</table>", page.index('id="overview-in_family"'))]
    assert "FLOPs ranking" in matrix and "label-noise ceiling" in matrix and "beats FLOPs" in matrix
    spearman = means(validated, "spearman")
    assert f'{spearman["params"]:.3f}' in matrix
    rows = re.findall(r'<tr data-method="([a-z_]+)">', matrix)
    assert sorted(rows) == sorted(spearman), "every method has a row of the matrix"
    assert not re.search(r"<script src|<link |@import|url\(http", page), "no external script, style or font"
    markdown = rendered.markdown_path.read_text()
    assert markdown.index("## At a glance") < markdown.index("## In-family · nb101")
    assert "| *FLOPs ranking* |" in markdown


def test_controls_choose_the_tables_shown(rendered, tmp_path):
    everything = shown(rendered.html_path, tmp_path)
    assert len(everything.sections) == len(TABLES) and all(everything.sections.values())
    lofo = shown(rendered.html_path, tmp_path, "#show=track:lofo_zero_shot")
    assert [k for k, visible in lofo.sections.items() if visible] == [("lofo_zero_shot", "nb201", NB201_TARGET)]
    nb201 = shown(rendered.html_path, tmp_path, "#show=track:in_family,family:nb201")
    assert {k for k, visible in nb201.sections.items() if visible} == {
        ("in_family", "nb201", NB201_TARGET), ("in_family", "nb201", NB201_OTHER_TARGET)}
    one_target = shown(rendered.html_path, tmp_path, f"#show=family:nb201,target:{NB201_OTHER_TARGET}")
    assert [k for k, visible in one_target.sections.items() if visible] == [
        ("in_family", "nb201", NB201_OTHER_TARGET)]
    assert not any(everything.all_columns)
    assert all(shown(rendered.html_path, tmp_path, "#show=columns:all").all_columns)


def test_the_page_fits_a_1400_pixel_window(rendered, tmp_path):
    assert shown(rendered.html_path, tmp_path).scroll_width <= 1400
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    for name, fragment in (("overview", ""), ("detail", "#show=track:in_family,family:nb201,overview:closed")):
        shot = tmp_path / f"{name}.png"
        chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1000", "--hide-scrollbars",
                 rendered.html_path.as_uri() + fragment)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        shutil.copyfile(shot, artifacts / f"leaderboard-{name}.png")


def test_twenty_methods_on_every_table_stay_under_two_megabytes():
    """The shipped board's shape (every track of the default families) with 20 methods on each table."""
    from leaderboard.render import Board, TableContext, render_html

    keys = [(t, f, "target_a") for t in ("in_family", "gennape_zero_shot", "gennape_few_shot", "lofo_zero_shot")
            for f in ("nb201", "nb101", "nasbench_macro", "ofa_mbv3", "tnb101_micro", "tnb101_macro", "nb301", "fbnet")]
    keys += [(f"device_transfer_k{k}", "nb201", f"lat_device_{d}_ms") for k in (0, 10, 20) for d in range(6)]
    metrics = [c.key for c in METRIC_COLUMNS]
    tables, context = {}, {}
    for i, key in enumerate(keys):
        entries = []
        for m in range(20):
            method = MethodInfo(name=f"method_{m:02d}", description="a method with a description of some length " * 3,
                                code_url=f"https://example.org/method/{m}", hardware="x86_64 CPU, 2 cores",
                                n_parameters=12345, scale="target",
                                protocol=ProtocolInfo("reference", 300, "eval_every=100, max_steps=3000, patience=10"))
            values = {k: 0.5 + 0.01 * m - 0.001 * i for k in metrics}
            summary = SeedAggregate(*key, trained_on=(key[1],), seeds=(0, 1, 2, 3, 4), n_test=1563,
                                    mean={**values, "flops_spearman": 0.7}, std={k: 0.01 for k in metrics}, n_train=300)
            entries.append(Entry(method, summary))
        tables[key] = entries
        context[key] = TableContext(anchors=[], noise_ceiling=None, flops_spearman=0.7, n_test=1563,
                                    family_version="1.2", data_sha256="ab" * 32)
    page = render_html(Board(tables, context, [], []))
    assert len(page.encode()) < 2 * 2**20, f"{len(page.encode()):,} bytes"

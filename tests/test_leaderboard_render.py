"""The leaderboard page: tables from validated submissions, invalid ones listed, sorting in a real browser."""

import gzip
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from cgbench import Evaluator
from leaderboard import MethodInfo, Run, validate_submission, write_submission
from leaderboard.render import render_leaderboard
from leaderboard.validate import cached_loader

REPO = Path(__file__).resolve().parents[1]
TARGET = "c10_val_acc_108ep"
IN_FAMILY_TABLE = f"table-in_family-nb101-{TARGET}"


def scorers(family):
    """Method name -> (row indices -> scores): rules with different rank and error behaviour."""
    flops = family.table.column("flops").to_numpy().astype(float)
    params = family.table.column("params").to_numpy().astype(float)
    labels = family.labels(TARGET)
    return {
        "flops": lambda idx, seed: flops[idx],
        "params": lambda idx, seed: params[idx] * (1 + 0.1 * seed),
        "inverted_flops": lambda idx, seed: -flops[idx],
        # best ranks, worst absolute error: the MAE column sorts differently from Spearman
        "shifted_noisy_label": lambda idx, seed: 1e12 + labels[idx] + np.random.default_rng(seed).normal(size=len(idx)),
    }


def make_runs(family, score):
    runs = []
    for track, split, seeds, trained_on in (("in_family", "random", (0, 1, 2), ("nb101",)),
                                            ("few_shot", "fewshot50", (0,), ("nb101",)),
                                            ("zero_shot", "random", (0,), ())):
        evaluator = Evaluator(family, split=split)
        for seed in seeds:
            predictions = dict(zip(evaluator.arch_ids, score(evaluator.indices, seed).tolist()))
            runs.append(Run(track, "nb101", split, "test", TARGET, seed, trained_on, predictions))
    return runs


@pytest.fixture(scope="module")
def load(cgbench_home):
    return cached_loader()


# Three gzip-compressed submissions (the leaderboard's form) and one plain JSON file.
ACCEPTED = ["method0.json.gz", "method1.json.gz", "method2.json.gz", "method3.json"]
REJECTED = ["broken.json", "truncated.json.gz", "z_same_name.json.gz"]


@pytest.fixture(scope="module")
def submissions(load, tmp_path_factory):
    """Four valid submissions; a truncated JSON, a truncated gzip file and one reusing a method name."""
    folder = tmp_path_factory.mktemp("submissions")
    nb101 = load("nb101")
    for i, ((name, score), file_name) in enumerate(zip(scorers(nb101).items(), ACCEPTED)):
        # Free text that must be escaped on both pages: HTML, a Markdown link, a table-cell separator.
        hardware = "2 CPU <b>cores</b> | [x](javascript:alert(1))" if name == "flops" else "2 CPU cores"
        method = MethodInfo(name=name, description=f"{name} as the score", code_url=f"https://example.org/{i}",
                            hardware=hardware, n_parameters=10 * i)
        write_submission(folder / file_name, method, make_runs(nb101, score), [nb101])
    (folder / "broken.json").write_text((folder / "method3.json").read_text()[:300])
    (folder / "truncated.json.gz").write_bytes((folder / "method0.json.gz").read_bytes()[:300])
    document = json.loads(gzip.decompress((folder / "method1.json.gz").read_bytes()))
    (folder / "z_same_name.json.gz").write_bytes(gzip.compress(json.dumps(document).encode()))
    (folder / "README.md").write_text("not a submission")
    return folder


@pytest.fixture(scope="module")
def rendered(submissions, load, tmp_path_factory):
    return render_leaderboard(submissions, tmp_path_factory.mktemp("site"), load)


def in_family_means(submissions, load, metric):
    """Method name -> mean of ``metric`` over the in-family seeds, recomputed independently."""
    means = {}
    for path in (submissions / name for name in ACCEPTED):
        result = validate_submission(path, load)
        summary = next(s for s in result.summaries() if s.track == "in_family")
        means[result.submission.method.name] = summary.mean[metric]
    return means


def test_invalid_submissions_are_reported_and_left_out(rendered, submissions):
    assert [p.name for p in rendered.accepted] == ACCEPTED
    reasons = {r.path.name: r.reason for r in rendered.rejected}
    assert sorted(reasons) == REJECTED
    assert "not valid JSON" in reasons["broken.json"]
    assert "truncated.json.gz: truncated gzip file" in reasons["truncated.json.gz"]
    assert "method name 'params' is already submitted in method1.json.gz" in reasons["z_same_name.json.gz"]
    html, markdown = rendered.html_path.read_text(), rendered.markdown_path.read_text()
    for text in (html, markdown):
        assert "Left out: 3 invalid submission(s)" in text and all(name in text for name in REJECTED)
    assert sorted(p.name for p in rendered.html_path.parent.iterdir()) == ["index.html", "leaderboard.md"]


def test_html_has_one_table_per_track_with_rows_by_spearman(rendered, submissions, load):
    html = rendered.html_path.read_text()
    tables = re.findall(r'<table class="leaderboard" id="([^"]+)"', html)
    assert tables == [IN_FAMILY_TABLE, f"table-few_shot-nb101-{TARGET}", f"table-zero_shot-nb101-{TARGET}"]
    means = in_family_means(submissions, load, "spearman")
    by_spearman = sorted(means, key=lambda name: -means[name])
    assert table_rows(html)[IN_FAMILY_TABLE] == by_spearman
    assert "2 CPU &lt;b&gt;cores&lt;/b&gt;" in html and "<b>" not in html
    spearman = means["shifted_noisy_label"]
    assert re.search(rf"{spearman:.3f} ± \d\.\d{{3}}", html)
    assert "training-free (no labels)" in html and "fine-tuned on 50 rows of nb101" in html
    assert 'href="https://example.org/3"' in html and "<script>" in html and "<script src" not in html


def test_markdown_has_the_same_rows(rendered, submissions, load):
    markdown = rendered.markdown_path.read_text()
    section = markdown.split(f"## In-family · nb101 · target {TARGET}")[1].split("## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Method")]
    means = in_family_means(submissions, load, "spearman")
    assert [row.split(" | ")[0][2:] for row in rows] == sorted(means, key=lambda name: -means[name])
    assert all(" | 3 | trained on nb101 | " in row and "[code](https://example.org/" in row for row in rows)
    assert "| Spearman ρ | Kendall τ |" in markdown and "NDCG@10" in markdown and "MAE" in markdown


def test_markdown_escapes_what_the_html_page_escapes(rendered):
    markdown = rendered.markdown_path.read_text()
    assert "2 CPU &lt;b&gt;cores&lt;/b&gt; \\| \\[x\\](javascript:alert(1))" in markdown
    assert "<b>" not in markdown and "[x](" not in markdown


class _RowOrder(HTMLParser):
    """Method names of each table's body rows in DOM order, and each table's data-sorted-by."""

    def __init__(self):
        super().__init__()
        self.rows, self.sorted_by, self._table = {}, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs["id"]
            self.rows[self._table] = []
            self.sorted_by[self._table] = attrs.get("data-sorted-by")
        elif tag == "tr" and "data-method" in attrs:
            self.rows[self._table].append(attrs["data-method"])


def table_rows(html):
    parser = _RowOrder()
    parser.feed(html)
    return parser.rows


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
    parser = _RowOrder()
    parser.feed(chromium(tmp_path, "--dump-dom", page.as_uri() + fragment))
    return parser


def test_browser_sorts_by_clicked_header(rendered, submissions, load, tmp_path):
    spearman = in_family_means(submissions, load, "spearman")
    mae = in_family_means(submissions, load, "mae")
    by_spearman = sorted(spearman, key=lambda name: -spearman[name])
    by_mae = sorted(mae, key=lambda name: mae[name])
    assert by_mae != by_spearman, "the test needs a column whose order differs from the static one"

    static = browser_dom(rendered.html_path, tmp_path)
    assert static.rows[IN_FAMILY_TABLE] == by_spearman
    assert static.sorted_by[IN_FAMILY_TABLE] == "spearman descending"

    one_click = browser_dom(rendered.html_path, tmp_path, "#click=mae")
    assert one_click.rows[IN_FAMILY_TABLE] == by_mae  # lower error first
    assert one_click.sorted_by[IN_FAMILY_TABLE] == "mae ascending"

    two_clicks = browser_dom(rendered.html_path, tmp_path, "#click=mae,mae")
    assert two_clicks.rows[IN_FAMILY_TABLE] == by_mae[::-1]
    assert two_clicks.sorted_by[IN_FAMILY_TABLE] == "mae descending"

    by_name = browser_dom(rendered.html_path, tmp_path, "#click=method")
    assert by_name.rows[IN_FAMILY_TABLE] == sorted(spearman, key=str.lower)


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

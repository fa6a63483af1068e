"""Class 7 of the hostile-input issue: renderers escape, and names that become files are restricted.

``leaderboard.md`` escapes a submission's free text (HTML, Markdown links and code, table-cell
separators) as ``index.html`` does; method and predictor names are ``[a-z0-9_]+`` because they
become file names (``leaderboard/submissions/<name>.json.gz``).
"""

import copy
from pathlib import Path

import pytest

from baselines.predictor import Predictor
from baselines.registry import register_predictor
from cgbench.submission import InvalidSubmissionError, MethodInfo, ProtocolInfo, parse_submission, write_submission
from cgbench.tasks import Run, SeedAggregate
from leaderboard.render import Board, Entry, Rejected, TableContext, render_html, render_markdown

HOSTILE = "<img src=x onerror=alert(1)> | [click](javascript:alert(2)) `code` & more\nsecond line"
KEY = ("in_family", "nb101", "c10_val_acc_108ep")


def board(hardware: str = HOSTILE, reason: str = HOSTILE) -> Board:
    """One row whose free text (description, hardware, protocol settings, code address) and one rejected
    file whose name and reason are hostile."""
    method = MethodInfo(name="flops", description=HOSTILE, code_url="https://example.org/a b(c)<d>",
                        hardware=hardware, n_parameters=0, scale="target",
                        protocol=ProtocolInfo("custom", None, HOSTILE))
    summary = SeedAggregate(*KEY, trained_on=("nb101",), seeds=(0,), n_test=50, mean={"spearman": 0.5, "mae": 1.0},
                            std={"spearman": None, "mae": None})
    context = TableContext(anchors=[], noise_ceiling=None, flops_spearman=0.25, n_test=50, family_version="1.0",
                           data_sha256="ab" * 32)
    return Board({KEY: [Entry(method, summary)]}, {KEY: context}, [Path("flops.json.gz")],
                 [Rejected(Path("<i>evil.json"), reason)])


def test_markdown_escapes_html_links_code_and_cell_separators():
    markdown = render_markdown(board())
    # the detail table's row (the overview's row comes first and holds numbers only)
    row = [line for line in markdown.splitlines() if line.startswith("| flops |")][-1]
    escaped = "&lt;img src=x onerror=alert(1)&gt; \\| \\[click\\](javascript:alert(2)) \\`code\\` &amp; more second line"
    assert f"| {escaped} |" in row  # hardware
    assert f"| custom protocol, all rows, {escaped} |" in row  # the protocol badge
    header = [line for line in markdown.splitlines() if line.startswith("| Method |")][-1]
    assert len(row.split(" | ")) == len(header.split(" | "))  # the hostile text adds no cell
    assert "[code](https://example.org/a%20b%28c%29%3Cd%3E)" in row
    assert "<img" not in markdown and "<i>" not in markdown and "[click](" not in markdown
    assert "- &lt;i&gt;evil.json: &lt;img src=x" in markdown


def test_html_escapes_the_same_text():
    page = render_html(board())
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert "&lt;i&gt;evil.json" in page and "<i>evil" not in page
    assert '<span class="badge">custom protocol, all rows, &lt;img src=x' in page
    assert 'href="https://example.org/a b(c)&lt;d&gt;"' in page


def test_a_table_without_a_noise_ceiling_says_so_on_both_pages():
    for page in (render_html(board()), render_markdown(board())):
        assert "Label-noise ceiling: not measurable (one measurement per architecture)." in page
        assert "FLOPs ranking on the same 50 test rows: Spearman ρ 0.250." in page
        assert "Data: family version 1.0, data sha256 abababababababab." in page


@pytest.mark.parametrize("name", ["Flops", "my method", "../../etc/passwd", "gin.json", "ü", "a-b", ""])
def test_method_names_that_are_not_file_names_are_refused(submission_document, name):
    bad = copy.deepcopy(submission_document)
    bad["method"]["name"] = name
    with pytest.raises(InvalidSubmissionError, match="method.name"):
        parse_submission(bad)
    assert parse_submission(submission_document).method.name == "flops"


def test_the_writer_refuses_them_too(tmp_path):
    method = MethodInfo(name="../flops", description="", code_url="https://example.org", hardware="cpu",
                        n_parameters=0)
    run = Run("in_family", "nb101", "c10_val_acc_108ep", 0, ("nb101",), {"a": 1.0})
    with pytest.raises(InvalidSubmissionError, match="must be lower-case letters, digits and _"):
        write_submission(tmp_path / "x.json.gz", method, [run], {"nb101": {"version": "1.0", "data_sha256": "ab"}})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["My Predictor", "gin/v2", "x.y", "GIN"])
def test_predictor_names_are_restricted(name):
    cls = type("Bad", (Predictor,), {"name": name, "description": "", "fit": lambda self, data, seed: None,
                                     "predict": lambda self, family, indices: None})
    with pytest.raises(ValueError, match=f"predictor name {name!r} must be lower-case letters, digits and _"):
        register_predictor(cls)

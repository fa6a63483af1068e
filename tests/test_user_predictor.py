"""A researcher's own predictor, defined in a folder outside the checkout (docs/predictor.md's worked
example), reaches a validated submission both ways: plugged into `cgbench benchmark` (its workers import
the file again) and through a loop of one's own over cgbench.problems; the two files are identical.
Every way it can go wrong ends in one line naming the run and the cause."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cgbench.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "predictor.md"
FAMILIES = ("nb101", "nasbench_macro")
TRACKS = ("in_family", "gennape_zero_shot", "gennape_few_shot", "lofo_zero_shot")


def example_code() -> str:
    text = DOC.read_text()
    block = text[text.index("<!-- predictor-example -->"):]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


@pytest.fixture(scope="module")
def predictor_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outside")
    path = folder / "my_predictor.py"
    path.write_text(example_code())
    assert not path.resolve().is_relative_to(DOC.parents[1])
    return path


@pytest.fixture(scope="module")
def plugged(cgbench_home, predictor_file, tmp_path_factory):
    """The plug-in way, with two workers (separate processes that import the user's file)."""
    out = tmp_path_factory.mktemp("plugged")
    done = subprocess.run([sys.executable, "-m", "cgbench.cli", "benchmark", "--predictor",
                           f"{predictor_file}:OpCountRidge", "--families", *FAMILIES, "--seeds", "0", "--tracks",
                           *TRACKS, "--workers", "2", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout


def test_the_example_is_short():
    assert len(example_code().strip().splitlines()) < 30


def test_the_plugged_predictor_prints_its_table_then_writes_a_valid_submission(plugged, predictor_file):
    from leaderboard.validate import validate_submission

    out, printed = plugged
    assert "local: 6 pending units in 2 tasks" in printed
    table = printed.index("op_count_ridge  in_family")
    written = printed.index(f"wrote {out / 'submissions' / 'op_count_ridge.json.gz'}")
    assert table < written, "the results table comes first, the submission second"
    validated = validate_submission(out / "submissions" / "op_count_ridge.json.gz")
    method = validated.submission.method
    assert (method.name, method.scale, method.n_parameters) == ("op_count_ridge", "rank", len(_ops()))
    assert method.code_url == str(predictor_file.resolve()) and len(validated.runs) == 6


def _ops():
    from cgbench.graph.vocab import OPS

    return OPS


def test_a_loop_of_ones_own_gives_the_identical_submission(plugged, predictor_file, tmp_path):
    """docs/predictor.md's second way, on the same rows."""
    from baselines.predictors import load_predictor
    from baselines.protocol import Protocol, hardware, load_families, method_info
    from cgbench.problems import problems
    from cgbench.submission import write_problem_submission

    protocol = Protocol(families=FAMILIES, tracks=TRACKS, seeds=(0,))
    families = load_families(protocol, progress=False)
    ridge = load_predictor(f"{predictor_file}:OpCountRidge")
    predictions, sizes = {}, []
    for problem in problems(families, protocol.tracks, protocol.seeds, protocol=protocol):
        model = ridge()
        model.fit(list(problem.train), problem.seed, valid=list(problem.valid))
        if problem.shots is not None:
            model.fine_tune(problem.shots, problem.seed)
        predictions[problem] = model.predict(problem.family, problem.predict_indices)
        sizes.append(model.n_parameters)
    info = method_info(ridge.name, protocol, n_parameters=max(sizes), hardware=hardware("cpu"))
    mine = write_problem_submission(tmp_path / "op_count_ridge.json.gz", info, predictions)
    assert mine.read_bytes() == (plugged[0] / "submissions" / "op_count_ridge.json.gz").read_bytes()


def test_validate_prints_a_table_beside_flops_and_json_on_request(plugged, capsys):
    path = plugged[0] / "submissions" / "op_count_ridge.json.gz"
    main(["leaderboard", "validate", str(path)])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("op_count_ridge (quick protocol") and "6 runs valid" in printed[0]
    assert printed[1].split()[:8] == ["track", "family", "target", "seeds", "spearman", "flops", "beyond", "flops"]
    assert "mae" not in printed[1], "a rank-scale method has no MAE or MAPE"
    assert printed[-1].startswith("beats the FLOPs ranking beyond seed noise on ") and len(printed) == 9
    main(["leaderboard", "validate", str(path), "--json"])
    report = capsys.readouterr().out
    assert '"over_seeds"' in report and '"mae"' not in report


def test_a_local_code_path_is_fine_locally_and_refused_by_the_shipped_board(plugged, cli_error, tmp_path, capsys):
    path = plugged[0] / "submissions" / "op_count_ridge.json.gz"
    line = cli_error("leaderboard", "validate", path, "--shipped")
    assert "method.code_url is the local path" in line and "--code-url https://" in line
    main(["leaderboard", "render", "--add", str(path), "--out", str(tmp_path / "site")])
    printed = capsys.readouterr()
    page = (tmp_path / "site" / "index.html").read_text()
    assert "op_count_ridge" in page and "left out" not in printed.err


@pytest.mark.parametrize("body, cause", [
    ("class Other:\n    pass\n", "defines no 'OpCountRidge'"),
    ("class OpCountRidge:\n    name = 'x'\n", "is not a usable predictor: it is <class"),
    ("from baselines.predictor import Predictor\nclass OpCountRidge(Predictor):\n    name = 'Bad Name'\n"
     "    description = 'd'\n", "its name 'Bad Name' must be lower-case letters"),
    ("from baselines.predictor import Predictor\nclass OpCountRidge(Predictor):\n    name = 'half'\n"
     "    description = 'd'\n    def fit(self, data, seed, valid=None): pass\n", "it does not implement predict"),
    ("import no_such_module\n", "ModuleNotFoundError: No module named 'no_such_module'"),
])
def test_a_predictor_that_is_not_one_is_refused_in_one_line(cgbench_home, tmp_path, cli_error, body, cause):
    path = tmp_path / "bad.py"
    path.write_text(body)
    line = cli_error("benchmark", "--predictor", f"{path}:OpCountRidge", "--out", tmp_path / "out")
    assert cause in line and line.startswith("cgbench benchmark: error: ")


BROKEN = """
import numpy as np
from baselines.predictor import Predictor


class Broken(Predictor):
    name = "broken_{kind}"
    description = "a test double that breaks in one way"
    prediction_scale = "rank"

    def fit(self, data, seed, valid=None):
        if "{kind}" == "fit" and data[0].family.name == "nasbench_macro":
            raise ValueError("singular matrix")

    def predict(self, family, indices):
        scores = family.table.column("flops").to_numpy()[indices].astype(float)
        if family.name != "nasbench_macro":
            return scores
        return {{"short": scores[:-1], "nan": scores * np.nan, "text": ["a"] * len(indices),
                 "fit": scores}}["{kind}"]
"""


@pytest.mark.parametrize("kind, cause", [
    ("short", "broken_short.predict on in_family nasbench_macro c10_test_acc_mean seed 0: shape (656,) for 657 rows"),
    ("nan", "broken_nan.predict on in_family nasbench_macro c10_test_acc_mean seed 0: 657 of 657 are NaN"),
    ("text", "broken_text.predict on in_family nasbench_macro c10_test_acc_mean seed 0: list that are not numbers"),
    ("fit", "ValueError: singular matrix"),
])
def test_a_run_that_fails_is_named_with_its_cause_and_the_others_are_kept(cgbench_home, tmp_path, capsys, kind,
                                                                          cause):
    path = tmp_path / "broken.py"
    path.write_text(BROKEN.format(kind=kind))
    argv = ["benchmark", "--predictor", f"{path}:Broken", "--families", *FAMILIES, "--seeds", "0", "--tracks",
            "in_family", "--no-progress", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match="1 runs failed"):
        main(argv)
    printed = capsys.readouterr().out
    failed = [line for line in printed.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2 and cause in failed[0], printed  # the worker's line, then the summary's
    assert f"broken_{kind} in_family nasbench_macro c10_test_acc_mean seed 0" in failed[0]
    assert "Traceback" not in printed
    done = [line for line in printed.splitlines() if line.startswith("done ")]
    assert len(done) == 1 and "in_family nb101" in done[0], "the other run finished and is kept"


def test_an_installed_package_declares_its_predictor_by_entry_point(cgbench_home, tmp_path, monkeypatch):
    """A distribution on sys.path whose entry_points.txt names a predictor in the cgbench.predictors group."""
    from baselines import predictors, registry

    (tmp_path / "ridge_pkg.py").write_text(example_code())
    info = tmp_path / "ridge_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ridge-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[cgbench.predictors]\nop_count_ridge = ridge_pkg:OpCountRidge\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = {name: cls for name, cls in registry._REGISTRY.items() if name != "op_count_ridge"}
    monkeypatch.setattr(registry, "_REGISTRY", before)  # the registry as it was, after the test
    assert "op_count_ridge" in predictors.list_predictors()
    assert predictors.predictor_class("op_count_ridge").__module__ == "ridge_pkg"

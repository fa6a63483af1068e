"""Class 1 of the hostile-input issue: one error boundary for every subcommand.

A user's mistake (an unknown name, an index out of range, a wrong kind of path, a bad CGBENCH_HOME,
a negative count) ends in one line naming the problem, with the valid choices where there are
some, and exit status 2; ``--debug`` or ``CGBENCH_DEBUG=1`` adds the traceback. A bug in cgbench is
not swallowed by the boundary.
"""

import argparse
import subprocess
import sys

import pytest

from cgbench.cli import build_parser, main


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    from cgbench import load_family

    return load_family("nb101", progress=False)


@pytest.fixture(scope="module")
def predictions_csv(nb101, tmp_path_factory):
    from cgbench import Evaluator

    evaluator = Evaluator(nb101)
    path = tmp_path_factory.mktemp("predictions") / "predictions.csv"
    path.write_text("arch_id,y_pred\n" + "".join(f'"{a}",{y}\n' for a, y in zip(evaluator.arch_ids, evaluator.y_true)))
    return path


def test_out_of_range_indexes(nb101, cli_error):
    assert cli_error("draw", "nb101", "99999") == \
        "cgbench draw: error: nb101 has 500 architectures (rows 0 to 499); index 99999 is out of range"
    assert cli_error("draw", "nb101", "-1").startswith("cgbench draw: error: argument index: must be >= 0, got -1")
    assert "is not an integer" in cli_error("draw", "nb101", "first")


def test_unknown_names_list_the_valid_choices(nb101, predictions_csv, cli_error):
    line = cli_error("info", "nb_nope")
    assert line.startswith("cgbench info: error: unknown family 'nb_nope'; known families: ") and "nb201" in line
    assert cli_error("evaluate", "nb101", predictions_csv, "--target", "nope") == \
        "cgbench evaluate: error: nb101 has no label column 'nope'; it has c10_val_acc_108ep"
    assert cli_error("evaluate", "nb101", predictions_csv, "--split", "nope") == \
        "cgbench evaluate: error: nb101 has no split 'nope'; it has dedup, fewshot50, random"
    assert cli_error("evaluate", "nb101", predictions_csv, "--part", "nope") == \
        "cgbench evaluate: error: unknown part 'nope' of a split; parts: train, valid, test"
    line = cli_error("zcp", "score", "nb101", "--proxies", "synflow,nope")
    assert line.startswith("cgbench zcp score: error: unknown proxy 'nope'; known proxies: ") and "synflow" in line
    line = cli_error("label", "plan", "hiaml", "--n", "2", "--recipe", "nope")
    assert line.startswith("cgbench label plan: error: 'nope' is neither a registered recipe (short12, short36")
    assert "invalid choice: 'tfrecord'" in cli_error("import", "tfrecord", predictions_csv)
    assert "invalid choice: 'nb999'" in cli_error("zcp", "agreement", "nb999")


def test_unknown_method(cli_error, tmp_path):
    line = cli_error("benchmark", "--methods", "flops", "nope", "--out", tmp_path)
    assert line.startswith("cgbench benchmark: error: unknown method 'nope'; known methods: ") and "gin" in line


def test_paths_of_the_wrong_kind(nb101, predictions_csv, cli_error, tmp_path):
    assert cli_error("evaluate", "nb101", tmp_path) == (
        f"cgbench evaluate: error: {tmp_path} is a folder; expected a predictions file (CSV with the header "
        "arch_id,y_pred, or JSON)")
    assert cli_error("evaluate", "nb101", tmp_path / "nope.csv").startswith(
        f"cgbench evaluate: error: {tmp_path / 'nope.csv'} does not exist")
    assert cli_error("import", "nb301", predictions_csv) == (
        f"cgbench import: error: {predictions_csv} is a file; expected a folder of NAS-Bench-301 result JSON files")
    assert cli_error("import", "gennape", tmp_path) == \
        f"cgbench import: error: {tmp_path} is a folder; expected GENNAPE's CG_data.zip"
    assert cli_error("import", "nb101", tmp_path) == \
        f"cgbench import: error: {tmp_path} is a folder; expected NB-101's nasbench_only108.tfrecord"
    assert cli_error("leaderboard", "validate", tmp_path).endswith("a submission file is named *.json.gz "
                                                                   "(gzip-compressed JSON) or *.json")
    assert cli_error("label", "status", predictions_csv) == (
        f"cgbench label status: error: {predictions_csv} is a file; expected a plan folder made by "
        "`cgbench label plan`, `cgbench zcp plan` or `cgbench benchmark`")
    assert cli_error("label", "status", tmp_path).endswith(
        "plan.parquet does not exist: expected a plan folder made by `cgbench label plan`, `cgbench zcp plan` or "
        "`cgbench benchmark`")


def test_negative_and_zero_counts(nb101, predictions_csv, cli_error):
    assert cli_error("evaluate", "nb101", predictions_csv, "--bootstrap", "-5").startswith(
        "cgbench evaluate: error: argument --bootstrap: must be >= 0, got -5")
    assert "argument --k: must be >= 1, got 0" in cli_error("label", "verify", "plan", "--k", "0")
    assert "argument --n: must be >= 1, got -3" in cli_error("label", "plan", "hiaml", "--n", "-3")
    assert "argument --threads: must be >= 1, got 0" in cli_error("benchmark", "--threads", "0")
    assert "argument --train-cap: must be >= 1, got -1" in cli_error("benchmark", "--train-cap", "-1")


def test_invalid_or_unwritable_cgbench_home(monkeypatch, cli_error, tmp_path):
    file = tmp_path / "a-file"
    file.write_text("")
    monkeypatch.setenv("CGBENCH_HOME", str(file))
    assert cli_error("info", "nb101") == \
        f"cgbench info: error: CGBENCH_HOME={file} is a file; it must be a folder (created if missing)"
    monkeypatch.setenv("CGBENCH_HOME", "")
    assert cli_error("build", "nb101") == \
        "cgbench build: error: CGBENCH_HOME is set but empty; unset it or set it to a folder"
    # /sys refuses new folders to every user, root included.
    monkeypatch.setenv("CGBENCH_HOME", "/sys/cgbench-home")
    line = cli_error("build", "nb101")
    assert line.startswith("cgbench build: error: Operation not permitted: /sys/cgbench-home")
    assert line.endswith("(under CGBENCH_HOME=/sys/cgbench-home; point it at a folder you can write)")


def test_debug_flag_and_variable_show_the_traceback(nb101, capsys, monkeypatch):
    for argv in (["--debug", "draw", "nb101", "600"], ["draw", "nb101", "600"]):
        if "--debug" not in argv:
            monkeypatch.setenv("CGBENCH_DEBUG", "1")
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert err.startswith("Traceback (most recent call last):") and "ArchitectureIndexError" in err
        assert err.strip().splitlines()[-1] == \
            "cgbench draw: error: nb101 has 500 architectures (rows 0 to 499); index 600 is out of range"


def test_a_bug_is_not_swallowed_by_the_boundary(monkeypatch):
    import cgbench.cli

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cgbench.cli, "_cmd_families", broken)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        main(["families"])


def _subparsers(parser: argparse.ArgumentParser):
    """Every (sub)command parser below ``parser``, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def test_every_command_has_help_for_every_option_and_an_example():
    parser = build_parser()
    commands = list(_subparsers(parser))
    assert len(commands) >= 20
    for command in commands:
        assert command.epilog and command.epilog.startswith("examples:\n  cgbench "), command.prog
        assert command.description, command.prog
        for action in command._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                assert action.help, f"{command.prog} {action.dest}"
    assert "``" not in parser.format_help() and ":mod:" not in parser.format_help()


def test_the_parser_imports_no_heavy_module():
    code = ("import sys; from cgbench.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'torch_geometric', 'pandas', 'pyarrow', 'datasets', 'numpy', "
            "'scipy', 'submitit', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""Training-free methods on the benchmark: zero-cost proxies computed here (``zcp_<proxy>``) and
NAS-Bench-Suite-Zero's published scores (``suite_zero_<proxy>``) run as methods, declare
``trained_on: []`` (valid on every track), are left out of the families they cannot score with the
reason printed, and reach the leaderboard marked "training-free" (and "published scores")."""

import contextlib
import gzip
import io
import json
import os

import numpy as np
import pytest

from cgbench.tasks import TRACKS, get_track


def test_a_training_free_run_breaks_no_tracks_rule_and_a_trained_one_still_must_follow_it():
    for track in TRACKS:
        assert get_track(track).training_problem("nb201", []) is None, track
    assert get_track("in_family").training_problem("nb201", ["nb101"]) is not None
    assert "nb201" in get_track("lofo_zero_shot").training_problem("nb201", ["gennape_nb201"])


def test_scores_become_ranks_with_failed_and_undefined_networks_tied_last():
    from baselines.zcp.methods import score_ranks

    ranks = score_ranks(np.array([3.0, np.nan, 1.0, -np.inf, 3.0]))
    assert ranks.tolist() == [4.5, 1.5, 3.0, 1.5, 4.5]


@pytest.fixture(scope="module")
def benchmark(cgbench_home, tmp_path_factory):
    """zcp_params (computed here), suite_zero_snip (published) and zcp_epe_nas (needs CIFAR-10, absent)
    on nb101 in_family, seed 0, through ``cgbench benchmark``: its output folder and what it printed."""
    from cgbench.cli import main

    out = tmp_path_factory.mktemp("training-free")
    argv = ["benchmark", "--methods", "zcp_params", "suite_zero_snip", "zcp_epe_nas", "--families", "nb101",
            "--seeds", "0", "--tracks", "in_family", "--no-progress", "--out", str(out)]
    printed = io.StringIO()
    cifar10 = os.environ.pop("CGBENCH_CIFAR10", None)
    try:
        with contextlib.redirect_stdout(printed):
            main(argv)
    finally:
        if cifar10 is not None:
            os.environ["CGBENCH_CIFAR10"] = cifar10
    return out, printed.getvalue()


def _submission(out, method: str) -> dict:
    with gzip.open(out / "submissions" / f"{method}.json.gz", "rt") as file:
        return json.load(file)


def test_a_proxy_runs_as_a_method_with_no_training_rows_and_its_own_recipe(benchmark):
    from cgbench.dataset import load_family
    from leaderboard.validate import validate_submission

    out, printed = benchmark
    assert "not scored by zcp_epe_nas: nb101 c10_val_acc_108ep (its recipe feeds CIFAR-10 images, and CGBENCH_CIFAR10" in printed
    assert "no submission for zcp_epe_nas" in printed
    for method in ("zcp_params", "suite_zero_snip"):
        document = _submission(out, method)
        [run] = document["runs"]
        assert run["trained_on"] == [] and document["method"]["scale"] == "rank"
        validate_submission(out / "submissions" / f"{method}.json.gz")
    params = _submission(out, "zcp_params")["method"]["protocol"]
    assert params["name"] == "quick" and "seeded N(0, 1) images" in params["settings"]
    assert "recipe seed = run seed" in params["settings"]
    published = _submission(out, "suite_zero_snip")["method"]["protocol"]
    assert published["name"] == "published" and published["train_cap"] is None
    assert "NAS-Bench-Suite-Zero" in published["settings"] and "Apache-2.0" in published["settings"]
    # The ranks of zcp_params are those of the networks' parameter counts (a training-free FLOPs-like rule).
    family = load_family("nb101", progress=False)
    run = _submission(out, "zcp_params")["runs"][0]
    rows = [family.arch_ids.index(a) for a in run["predictions"]]
    params_column = family.table.column("params").to_numpy()[rows]
    ranks = np.array(list(run["predictions"].values()))
    assert np.corrcoef(np.argsort(np.argsort(params_column)), ranks)[0, 1] > 0.99


def test_a_proxy_method_reads_the_scores_it_stored_and_scores_nothing_twice(benchmark, monkeypatch):
    from baselines.predictors import make_predictor
    from baselines.zcp import scoring
    from cgbench.dataset import load_family

    def no_scoring(*args, **kwargs):
        raise AssertionError("a stored score was computed again")

    family = load_family("nb101", progress=False)
    test = family.get_idx_split("random")["test"]
    method = make_predictor("zcp_params")
    method.fit([], seed=0)
    first = method.predict(family, test)
    monkeypatch.setattr(scoring, "timed_score", no_scoring)
    assert np.array_equal(method.predict(family, test), first)
    fresh = make_predictor("zcp_params")
    with pytest.raises(RuntimeError, match="sets the recipe seed"):
        fresh.predict(family, test)


def test_published_scores_are_a_method_only_where_they_cover_every_architecture(cgbench_home):
    from baselines.predictors import predictor_class
    from baselines.zcp.reference import published_scores
    from cgbench.dataset import load_family

    nb101, nb201 = load_family("nb101", progress=False), load_family("nb201", progress=False)
    snip = predictor_class("suite_zero_snip")
    assert snip.cannot_predict(nb101, nb101.default_target) is None
    reason = snip.cannot_predict(nb201, nb201.default_target)
    assert reason == "NAS-Bench-Suite-Zero published snip scores of 725 of its 15625 architectures"
    assert predictor_class("suite_zero_zen").cannot_predict(nb201, nb201.default_target) is None
    scores = published_scores("nb101")["snip"]
    assert set(scores) == set(nb101.arch_ids) and all(np.isfinite(list(scores.values())))


def test_the_board_marks_training_free_and_published_rows(benchmark, tmp_path):
    import shutil

    from cgbench.cli import main
    from leaderboard.render import TRAINING_FREE

    out = benchmark[0]
    board = tmp_path / "board"
    board.mkdir()
    for method in ("zcp_params", "suite_zero_snip"):
        shutil.copy(out / "submissions" / f"{method}.json.gz", board)
    main(["leaderboard", "render", "--submissions", str(board), "--out", str(tmp_path / "site"), "--strict"])
    page = (tmp_path / "site" / "index.html").read_text()
    assert TRAINING_FREE in page and "published scores: NAS-Bench-Suite-Zero" in page
    assert "suite_zero_snip (published scores)" in page and "zcp_params (training-free)" in page

"""The task module (cgbench.tasks): tracks and their training rules, the rows transfer tracks train
on, the run record, scoring and aggregation; and that every consumer (the CLI, the submission
parser, the validator, the renderer, the protocol) takes its tracks from ``cgbench.tasks.TRACKS``.
"""

import dataclasses
import statistics

import numpy as np
import pytest

from cgbench import tasks
from cgbench.errors import InvalidInputError, UnknownNameError
from cgbench.evaluation import Evaluator
from cgbench.families import family_spec
from cgbench.submission import InvalidSubmissionError, MethodInfo, ProtocolInfo, parse_submission, write_submission
from cgbench.tasks import (TRACKS, Run, ScoredRun, SeedAggregate, Track, aggregate, anchors_for, beats_flops,
                           deduplicated_rows, family_group, gennape_source, get_track, lofo_sources, percentile_ranks, score_run, shot_rows,
                           track_targets)

NB101_TARGET = "c10_val_acc_108ep"


@pytest.fixture(autouse=True)
def tracks_in_order():
    """TRACKS as it was, in its order, after every test (undoing a delitem puts the key back last)."""
    before = dict(TRACKS)
    yield
    TRACKS.clear()
    TRACKS.update(before)


@pytest.fixture(scope="module")
def nb101(cgbench_home):
    from cgbench import load_family

    return load_family("nb101", progress=False)


# ---------------------------------------------------------------------------------------------
# Tracks and their rules


def test_tracks_in_order_with_their_split_and_scale():
    assert list(TRACKS) == ["in_family", "gennape_zero_shot", "gennape_few_shot", "lofo_zero_shot",
                            "device_transfer_k0", "device_transfer_k10", "device_transfer_k20"]
    assert {name: (t.split, t.part, t.target_kind, t.shots, t.label_scale) for name, t in TRACKS.items()} == {
        "in_family": ("random", "test", "default", 0, "target"),
        "gennape_zero_shot": ("random", "test", "accuracy", 0, "target"),
        "gennape_few_shot": ("fewshot50", "test", "accuracy", 50, "target"),
        "lofo_zero_shot": ("random", "test", "accuracy", 0, "rank"),
        "device_transfer_k0": ("random", "test", "latency", 0, "target"),
        "device_transfer_k10": ("random", "test", "latency", 10, "target"),
        "device_transfer_k20": ("random", "test", "latency", 20, "target"),
    }
    assert [name for name, t in TRACKS.items() if not t.transfer] == ["in_family"]
    assert tasks.DEFAULT_SEEDS == (0, 1, 2, 3, 4)
    with pytest.raises(UnknownNameError, match="unknown track 'zero_shot'; known tracks: .*gennape_zero_shot"):
        get_track("zero_shot")


LEGAL = [
    ("in_family", "nb101", ["nb101"]),
    ("gennape_zero_shot", "nb201", ["nb101"]),
    ("gennape_zero_shot", "nb201", ["nb101_full"]),
    ("gennape_zero_shot", "gennape_nb201", ["nb101"]),
    ("gennape_few_shot", "nasbench_macro", ["nb101", "nasbench_macro"]),
    ("lofo_zero_shot", "nb201", ["nb101", "nasbench_macro", "tnb101_micro"]),
    ("lofo_zero_shot", "nb101", ["gennape_nb201", "ofa_mbv3"]),
    ("lofo_zero_shot", "timm_zoo", ["nb201"]),
    ("device_transfer_k0", "fbnet", ["fbnet"]),
    ("device_transfer_k20", "nb201", ["nb201"]),
    # Training-free (a zero-cost proxy): no label of any family, so no track's rule is broken.
    *((track, "nb201", []) for track in TRACKS),
]

ILLEGAL = [
    ("in_family", "nb101", ["nb201"], r"trains on its own family only: trained_on must be \['nb101'\]"),
    ("in_family", "nb101", ["nb101", "nb201"], "its own family only"),
    ("gennape_zero_shot", "nb201", ["nasbench_macro"],
     r"the GENNAPE tracks train on NAS-Bench-101 \(nb101_full or nb101\), not 'nasbench_macro'"),
    ("gennape_zero_shot", "nb201", ["nb101", "nb201"], "trains on one NAS-Bench-101 family"),
    ("gennape_zero_shot", "nb101_full", ["nb101"], "nb101_full is NAS-Bench-101 itself"),
    ("gennape_zero_shot", "gennape_nb101", ["nb101"], "gennape_nb101 is NAS-Bench-101 itself"),
    ("gennape_few_shot", "nb201", ["nb201", "nb101"], r"trains on \[NAS-Bench-101, 'nb201'\]"),
    ("gennape_few_shot", "nb201", ["nb101"], r"trains on \[NAS-Bench-101, 'nb201'\]"),
    ("gennape_few_shot", "nb201", ["tnb101_micro", "nb201"], "not 'tnb101_micro'"),
    ("lofo_zero_shot", "nb201", ["nb101", "nb201"],
     r"holds out nb201's whole search space \(nb201\), but trained_on names \['nb201'\]"),
    ("lofo_zero_shot", "nb201", ["gennape_nb201"], r"trained_on names \['gennape_nb201'\]"),
    ("lofo_zero_shot", "gennape_nb201", ["nb101", "nb201"], r"trained_on names \['nb201'\]"),
    ("lofo_zero_shot", "nb101", ["nb101_full"], r"trained_on names \['nb101_full'\]"),
    ("lofo_zero_shot", "ofa_resnet50", ["gennape_ofa_resnet"], r"\(ofa_resnet50\), but trained_on names"),
    ("lofo_zero_shot", "timm_zoo", ["torchvision_zoo"], r"\(imagenet_model_zoo\), but trained_on names"),
    ("device_transfer_k10", "nasbench_macro", ["nasbench_macro"],
     "nasbench_macro has no device-transfer task .*: nb201, fbnet, ofa_mbv3"),
    ("device_transfer_k0", "fbnet", ["nb201"], r"trained_on must be \['fbnet'\]"),
    ("device_transfer_k20", "fbnet", ["fbnet", "nb201"], r"trained_on must be \['fbnet'\]"),
    # Training-free runs still score only the families a track scores.
    ("device_transfer_k0", "nasbench_macro", [], "nasbench_macro has no device-transfer task"),
    ("gennape_few_shot", "nb101", [], "nb101 is NAS-Bench-101 itself"),
]


@pytest.mark.parametrize("track, family, trained_on", LEGAL)
def test_a_run_that_follows_its_tracks_rule(track, family, trained_on):
    assert TRACKS[track].training_problem(family, trained_on) is None
    run = Run(track, family, "t", 0, tuple(trained_on), {"a": 1.0})
    assert tasks.training_problem(run) is None
    tasks.check_run(run)


@pytest.mark.parametrize("track, family, trained_on, message", ILLEGAL)
def test_a_run_that_breaks_its_tracks_rule(track, family, trained_on, message):
    run = Run(track, family, "t", 0, tuple(trained_on), {"a": 1.0})
    with pytest.raises(tasks.InvalidRunError, match=f"{track} {family} t seed 0: .*{message}"):
        tasks.check_run(run)


def test_search_space_groups_decide_what_leave_one_out_holds_out():
    assert family_group("gennape_nb201") == family_group("nb201") == "nb201"
    assert family_group("nb101_full") == family_group("gennape_nb101") == "nb101"
    assert family_group("gennape_ofa_resnet") == "ofa_resnet50"
    assert family_group("timm_zoo") == family_group("torchvision_zoo")
    assert family_group("tnb101_micro") != family_group("tnb101_macro")
    pool = ["gennape_nb201", "nb101", "nb201", "nasbench_macro", "nb101_full"]
    assert lofo_sources("nb201", pool) == ["nb101", "nasbench_macro", "nb101_full"]
    assert lofo_sources("gennape_nb201", pool) == ["nb101", "nasbench_macro", "nb101_full"]
    assert lofo_sources("nb101", pool) == ["gennape_nb201", "nb201", "nasbench_macro"]


def test_gennape_source_is_nb101_full_only_when_built():
    assert gennape_source(lambda name: False) == "nb101"
    assert gennape_source(lambda name: name == "nb101_full") == "nb101_full"
    # nb101 itself is built on demand: whether it is built already does not matter
    assert gennape_source(lambda name: name == "nb101") == "nb101"


def test_track_targets_follow_the_target_kind(nb101):
    targets = {name: track_targets(track, nb101) for name, track in TRACKS.items()}
    assert targets == {"in_family": (NB101_TARGET,), "gennape_zero_shot": (NB101_TARGET,),
                       "gennape_few_shot": (NB101_TARGET,), "lofo_zero_shot": (NB101_TARGET,),
                       "device_transfer_k0": (), "device_transfer_k10": (), "device_transfer_k20": ()}
    assert tasks.is_accuracy_target(nb101, NB101_TARGET)
    assert tasks.source_devices(nb101) == ()


# ---------------------------------------------------------------------------------------------
# Training rows


def test_deduplicated_nb101_is_one_row_per_canonical_cg_with_the_mean_label(nb101):
    labels = nb101.labels(NB101_TARGET)
    by_hash: dict[str, list[int]] = {}
    for row, wl_hash in enumerate(nb101.table.column("wl_hash").to_pylist()):
        if not np.isnan(labels[row]):
            by_hash.setdefault(wl_hash, []).append(row)
    dedup = deduplicated_rows(nb101, NB101_TARGET)
    assert (dedup.family, dedup.target) == ("nb101", NB101_TARGET)
    assert len(by_hash) == 292 < len(nb101) == 500  # NASLib's file: 500 cells, 292 distinct CGs
    assert dedup.indices.tolist() == [rows[0] for rows in by_hash.values()]
    np.testing.assert_allclose(dedup.values, [statistics.fmean(labels[rows]) for rows in by_hash.values()],
                               rtol=1e-12)
    biggest = max(by_hash.values(), key=len)
    assert len(biggest) == 55  # one trivial cell, listed 55 times with 55 different runs
    assert np.ptp(labels[biggest]) > 0 and dedup.values[dedup.indices.tolist().index(biggest[0])] == \
        pytest.approx(np.mean(labels[biggest]))


def test_percentile_ranks_hand_computed():
    np.testing.assert_allclose(percentile_ranks(np.array([3.0, 1.0, 2.0, 2.0, 10.0])), [0.75, 0.0, 0.375, 0.375, 1.0])
    np.testing.assert_array_equal(percentile_ranks(np.array([7.0])), [0.5])
    assert percentile_ranks(np.array([])).shape == (0,)


def test_shot_rows_are_k_seeded_rows_of_the_train_part(nb101):
    train = set(nb101.get_idx_split("random")["train"].tolist())
    a, b = shot_rows(nb101, NB101_TARGET, 10, seed=0), shot_rows(nb101, NB101_TARGET, 10, seed=1)
    assert len(a) == len(set(a.tolist())) == 10 and set(a.tolist()) <= train and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, shot_rows(nb101, NB101_TARGET, 10, seed=0))
    assert not np.array_equal(a, b)
    assert shot_rows(nb101, NB101_TARGET, 0, seed=0).shape == (0,)
    with pytest.raises(InvalidInputError, match="nb101 has 400 labelled train rows for c10_val_acc_108ep; 401 shots"):
        shot_rows(nb101, NB101_TARGET, 401, seed=0)


# ---------------------------------------------------------------------------------------------
# Scoring and aggregation


def _flops_run(nb101, track="in_family", seed=0, trained_on=("nb101",)):
    evaluator = Evaluator(nb101, split=TRACKS[track].split)
    flops = nb101.table.column("flops").to_numpy()[evaluator.indices].astype(float)
    return Run(track, "nb101", NB101_TARGET, seed, trained_on, dict(zip(evaluator.arch_ids, flops * (1 + seed)))), \
        evaluator


def test_score_run_is_the_evaluator_of_the_tracks_split_and_part(nb101):
    run, evaluator = _flops_run(nb101)
    scored = score_run(run, nb101)
    assert scored.metrics == evaluator.eval(run.predictions)
    assert scored.arch_ids == evaluator.arch_ids and len(scored.arch_ids) == 50
    np.testing.assert_array_equal(scored.y_true, evaluator.y_true)
    # a FLOPs ranking knows nothing beyond FLOPs
    assert scored.metrics["spearman"] == scored.metrics["flops_spearman"]
    assert scored.metrics["spearman_beyond_flops"] == 0.0 == scored.metrics["spearman_gain_over_flops"]
    # top-k metrics only where the part has more than k rows: nb101's test part has 50
    assert "ndcg@10" in scored.metrics and "ndcg@50" not in scored.metrics
    subset = score_run(run, nb101, metrics=["spearman", "spearman_beyond_flops"])
    assert set(subset.metrics) == {"n", "spearman", "spearman_beyond_flops"}


def test_score_run_checks_the_rule_before_scoring(nb101):
    run, _ = _flops_run(nb101, trained_on=("nb101", "nb201"))
    with pytest.raises(tasks.InvalidRunError, match="in_family nb101 c10_val_acc_108ep seed 0: an in_family run"):
        score_run(run, nb101)
    leaky, _ = _flops_run(nb101, track="gennape_zero_shot", trained_on=("nb101",))
    with pytest.raises(tasks.InvalidRunError, match="nb101 is NAS-Bench-101 itself"):
        score_run(leaky, nb101)


def _scored(track, family, seed, **metrics):
    run = Run(track, family, "t", seed, (family,) if track == "in_family" else ("nb101",), {"a": 0.0}, n_train=10,
              seconds=2.0 + seed)
    return ScoredRun(run, {"n": 2, **metrics}, ["a", "b"], np.zeros(2), np.zeros(2))


def test_aggregate_mean_and_sample_std_over_seeds_in_track_order():
    runs = [_scored("gennape_zero_shot", "nb201", 0, spearman=0.2, kendall=0.1),
            _scored("in_family", "nb101", 0, spearman=0.5, kendall=0.3),
            _scored("in_family", "nb101", 2, spearman=0.9, kendall=0.4),
            _scored("in_family", "nb101", 1, spearman=0.7, kendall=0.5)]
    nb101, nb201 = aggregate(runs)
    assert (nb101.track, nb201.track) == ("in_family", "gennape_zero_shot")
    assert nb101.seeds == (0, 1, 2) and nb101.n_test == 2 and nb101.n_train == 10 and nb101.seconds == 3.0
    assert nb101.mean["spearman"] == pytest.approx(0.7) and nb101.mean["kendall"] == pytest.approx(0.4)
    assert nb101.std["spearman"] == pytest.approx(0.2)  # sample std of 0.5, 0.7, 0.9
    assert "n" not in nb101.mean
    assert nb201.std == {"spearman": None, "kendall": None}
    assert nb201.as_dict()["std"]["spearman"] is None and nb201.as_dict()["trained_on"] == ["nb101"]
    with pytest.raises(tasks.InvalidRunError, match=r"in_family nb101 t has repeated seeds \[0, 0\]"):
        aggregate([_scored("in_family", "nb101", 0, spearman=0.5), _scored("in_family", "nb101", 0, spearman=0.6)])


def test_anchors_are_published_numbers_for_their_track_family_and_target():
    c10 = tasks.NB201_C10
    zero_shot = anchors_for("gennape_zero_shot", "nb201", c10)
    assert [a.spearman for a in zero_shot] == [0.815, 0.849]
    assert zero_shot[0].subset == tasks.NONE_FREE_NB201 and zero_shot[1].subset is None
    assert [a.spearman for a in anchors_for("gennape_few_shot", "nb201", c10)] == [0.910]
    assert anchors_for("lofo_zero_shot", "nb201", c10) == [] == anchors_for("gennape_zero_shot", "nasbench_macro", c10)
    assert anchors_for("in_family", "nb201", "c100_valid_acc_200ep") == []  # another label, another table
    for anchor in tasks.PUBLISHED_ANCHORS:
        assert anchor.target in {label.name for label in family_spec(anchor.family).labels}, anchor
    help_eyeriss = anchors_for("device_transfer_k10", "nb201", "lat_eyeriss_ms")
    assert [a.spearman for a in help_eyeriss] == [0.940, 0.437] and "indices 900-1,899" in help_eyeriss[0].subset
    assert [a.spearman for a in anchors_for("device_transfer_k10", "fbnet", "lat_fpga_ms")] == [0.892]


# ---------------------------------------------------------------------------------------------
# The task module is the only place tracks are defined: change TRACKS, and every consumer follows


def _own_family_only(family, trained_on):
    return None if trained_on == (family,) else f"trains on {family} only"


EXTRA = Track("in_family_50", "In-family from 50 rows", "train on the 50 train rows of the fewshot50 split, score "
              "the rest", "fewshot50", "default", 50, "target", _own_family_only)


@pytest.fixture
def extra_track(monkeypatch):
    monkeypatch.setitem(TRACKS, EXTRA.name, EXTRA)
    return EXTRA


@pytest.fixture
def without_lofo(monkeypatch):
    monkeypatch.delitem(TRACKS, "lofo_zero_shot")


def _document(submission_document, track, split, trained_on=("nb101",)):
    document = {**submission_document, "runs": [dict(submission_document["runs"][0])]}
    document["runs"][0].update(track=track, split=split, trained_on=list(trained_on))
    return document


def test_cli_lists_the_tracks_of_the_task(capsys, extra_track):
    from cgbench.cli import main

    main(["tracks"])
    printed = capsys.readouterr().out
    names = [line.split()[0] for line in printed.splitlines() if not line.startswith(" ")]
    assert names == list(TRACKS) and names[-1] == "in_family_50"
    assert "In-family from 50 rows" in printed
    assert "train on the 50 train rows of the fewshot50 split, score the rest; scores the 'test' part of split " \
           "'fewshot50', default targets" in printed


def test_cli_does_not_list_a_removed_track(capsys, without_lofo):
    from cgbench.cli import main

    main(["tracks"])
    printed = capsys.readouterr().out
    assert "lofo_zero_shot" not in printed and "gennape_zero_shot" in printed


def test_benchmark_cli_takes_its_tracks_from_the_task(extra_track, cgbench_home):
    from baselines.cli import make_protocol
    from cgbench.cli import build_parser

    protocol = make_protocol(build_parser().parse_args(["benchmark", "--methods", "flops"]))
    assert protocol.tracks == tuple(TRACKS) and "in_family_50" in protocol.tracks
    chosen = make_protocol(build_parser().parse_args(["benchmark", "--tracks", "in_family_50"]))
    assert chosen.tracks == ("in_family_50",)


def test_benchmark_cli_refuses_a_removed_track(without_lofo, cgbench_home, tmp_path, cli_error):
    from baselines.protocol import Protocol

    line = cli_error("benchmark", "--methods", "flops", "--tracks", "lofo_zero_shot", "--out", tmp_path)
    assert line.startswith("cgbench benchmark: error: unknown track 'lofo_zero_shot'; known tracks: ")
    assert "lofo_zero_shot" not in line.split("known tracks: ")[1]
    assert "lofo_zero_shot" not in Protocol().tracks
    assert not tmp_path.joinpath("results.txt").exists()


def test_parser_accepts_a_new_track_with_its_split_and_refuses_a_removed_one(submission_document, monkeypatch):
    with pytest.raises(InvalidSubmissionError, match=r"run #0: unknown track 'in_family_50'; expected one of"):
        parse_submission(_document(submission_document, "in_family_50", "fewshot50"))
    monkeypatch.setitem(TRACKS, EXTRA.name, EXTRA)
    run, = parse_submission(_document(submission_document, "in_family_50", "fewshot50")).runs
    assert (run.track, run.split, run.part) == ("in_family_50", "fewshot50", "test")
    with pytest.raises(InvalidSubmissionError, match="split is 'random', but the in_family_50 track is evaluated on "
                                                     "split 'fewshot50'"):
        parse_submission(_document(submission_document, "in_family_50", "random"))
    with pytest.raises(InvalidSubmissionError, match="trains on nb101 only, got trained_on"):
        parse_submission(_document(submission_document, "in_family_50", "fewshot50", ("nb201",)))
    monkeypatch.delitem(TRACKS, "in_family")
    with pytest.raises(InvalidSubmissionError, match=r"run #0: unknown track 'in_family'; expected one of "
                                                     r"\['gennape_zero_shot'"):
        parse_submission(submission_document)


def test_a_new_track_is_validated_on_its_split_and_rendered_with_its_title(extra_track, nb101, tmp_path):
    from leaderboard.render import render_leaderboard
    from leaderboard.validate import validate_submission

    evaluator = Evaluator(nb101, split="fewshot50")
    flops = nb101.table.column("flops").to_numpy()[evaluator.indices].astype(float)
    method = MethodInfo("flops", "FLOPs", "https://example.org", "cpu", 0, "rank", ProtocolInfo("quick", 300, ""))
    folder = tmp_path / "submissions"
    folder.mkdir()
    write_submission(folder / "flops.json.gz", method,
                     [Run("in_family_50", "nb101", NB101_TARGET, 0, ("nb101",), dict(zip(evaluator.arch_ids, flops)))],
                     [nb101])
    scored, = validate_submission(folder / "flops.json.gz").runs
    assert scored.arch_ids == evaluator.arch_ids and scored.metrics["n"] == 450
    page = render_leaderboard(folder, tmp_path / "site").html_path.read_text()
    assert "In-family from 50 rows · nb101 · target c10_val_acc_108ep" in page
    assert 'id="table-in_family_50-nb101-c10_val_acc_108ep"' in page
    assert "<dt>In-family from 50 rows</dt><dd>train on the 50 train rows of the fewshot50 split" in page


def test_renamed_title_and_changed_split_reach_the_renderer_and_the_protocol(nb101, monkeypatch, tmp_path):
    """A track's split is read where runs are trained and scored: in_family moved to fewshot50 trains on
    its 50 train rows and is scored on its 450 test rows."""
    from baselines.protocol import MethodRunner, Protocol
    from baselines.simple import FlopsPredictor
    from leaderboard.render import table_title

    moved = dataclasses.replace(TRACKS["in_family"], split="fewshot50", title="In-family (moved)")
    monkeypatch.setitem(TRACKS, "in_family", moved)
    fits = []

    class Recording(FlopsPredictor):
        def fit(self, data, seed, valid=None):
            fits.append([d.indices for d in data])

    runner = MethodRunner("flops", Protocol(families=("nb101",), seeds=(0,), tracks=("in_family",), train_cap=None),
                          {"nb101": nb101}, factory=lambda name, **options: Recording())
    scored, = runner.runs(progress=False)
    split = nb101.get_idx_split("fewshot50")
    np.testing.assert_array_equal(fits[0][0], split["train"])
    assert scored.run.split == "fewshot50" and scored.metrics["n"] == 450
    assert scored.arch_ids == Evaluator(nb101, split="fewshot50").arch_ids
    assert table_title("in_family", "nb101", NB101_TARGET) == f"In-family (moved) · nb101 · target {NB101_TARGET}"


def _lofo(spearmans, flops):
    values = np.array(spearmans, float)
    return SeedAggregate(track="lofo_zero_shot", family="nb201", target="c10_valid_acc_200ep", trained_on=("nb101",),
                         seeds=tuple(range(len(values))), n_test=100,
                         mean={"spearman": float(values.mean()), "flops_spearman": flops},
                         std={"spearman": float(values.std(ddof=1)) if len(values) > 1 else None,
                              "flops_spearman": 0.0 if len(values) > 1 else None})


def test_beating_flops_takes_more_than_seed_noise_and_a_tie():
    seeds = [0.72, 0.73, 0.71, 0.74, 0.72]  # mean 0.724, sample std 0.0114: t(0.95, 4) x SE = 0.0109
    assert beats_flops(_lofo(seeds, 0.697))  # 0.027 above
    assert not beats_flops(_lofo(seeds, 0.715))  # 0.009 above: inside the noise
    assert not beats_flops(_lofo([0.7111] * 5, 0.7110))  # deterministic, a tie to the fourth decimal
    assert beats_flops(_lofo([0.717] * 5, 0.711)) and beats_flops(_lofo([0.717], 0.711))
    assert not beats_flops(_lofo([0.714], 0.711))


def test_goal_lines_count_only_beats_beyond_noise():
    from baselines.report import goal_lines

    tie = _lofo([0.7111] * 5, 0.7110)
    clear = dataclasses.replace(_lofo([0.80, 0.81, 0.79, 0.80, 0.80], 0.464), family="tnb101_micro")
    lines = goal_lines({"ranker": [tie, clear]})
    assert lines[1] == "  ranker: beats FLOPs on 1 of 2 held-out families (tnb101_micro); above it within noise: nb201"
    assert "one-sided t-test at 5%" in lines[0]

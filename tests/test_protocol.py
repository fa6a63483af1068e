"""The baselines' side of the task: which rows each track's fits train and predict on (baselines.protocol),
the printed report, plots and submissions (baselines.report), and ``cgbench benchmark`` (baselines.cli).

The task itself (tracks, rules, deduplication, shots, scoring, aggregation, anchors) is tested in
tests/test_tasks.py; here it is only used.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import protocol as proto
from baselines.predictor import Predictor, TrainingSet
from baselines.registry import register_predictor
from baselines.report import (anchor_lines, gennape_set_scores, goal_lines, plot_rank_correlation, plot_scatter,
                              results_table)
from cgbench.errors import InvalidInputError, UnknownNameError
from cgbench.problems import VALID_CAP, capped, held_out, predictions_by_arch_id
from cgbench.evaluation import Evaluator
from cgbench.families import family_spec
from cgbench.tasks import (DEFAULT_SEEDS, HELD_OUT_DEVICES, NONE_FREE_NB201, TRACKS, Run,
                           ScoredRun, aggregate, deduplicated_rows, percentile_ranks, shot_rows, source_devices)


@register_predictor
class LogFlopsProbe(Predictor):
    """A tiny real predictor (sign of the FLOPs-label correlation x log FLOPs) that records what it saw."""

    name = "test_log_flops_probe"
    description = "test double: signed log FLOPs; records its training rows"

    def __init__(self) -> None:
        # (family, rows, the labels it was handed) per training set
        self.fitted: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.validated: list[tuple[str, np.ndarray]] = []
        self.tuned: list[tuple[str, str, np.ndarray]] = []
        self.predicted: list[tuple[str, np.ndarray]] = []
        self.sign = 1.0

    @staticmethod
    def _log_flops(family, indices):
        return np.log1p(family.table.column("flops").to_numpy()[indices].astype(float))

    def _learn_sign(self, data: list[TrainingSet]) -> None:
        x = np.concatenate([self._log_flops(d.family, d.indices) for d in data])
        y = np.concatenate([d.labels() for d in data])
        self.sign = 1.0 if np.corrcoef(x, y)[0, 1] >= 0 else -1.0

    def fit(self, data, seed, valid=None):
        self.fitted = [(d.family.name, d.indices.copy(), d.labels().copy()) for d in data]
        self.validated = [(v.family.name, v.indices.copy()) for v in valid or []]
        self._learn_sign(data)

    def fine_tune(self, data, seed):
        self.tuned.append((data.family.name, data.target, data.indices.copy()))
        self._learn_sign([data])

    def predict(self, family, indices):
        self.predicted.append((family.name, indices.copy()))
        return self.sign * self._log_flops(family, indices)


class RecordingFactory:
    def __init__(self):
        self.made: list[LogFlopsProbe] = []

    def __call__(self, name, **options):
        assert name == LogFlopsProbe.name and not options
        self.made.append(LogFlopsProbe())
        return self.made[-1]


def run_probe(families, names, tracks=tuple(TRACKS), seeds=(0, 1), train_cap=300, target=None):
    """Run the probe under a protocol over ``names``; returns the runner, the predictors it made, the runs."""
    protocol = proto.Protocol(families=tuple(names), seeds=seeds, tracks=tuple(tracks), train_cap=train_cap,
                              predictor_options={}, target=target)
    factory = RecordingFactory()
    runner = proto.MethodRunner(LogFlopsProbe.name, protocol, families, factory=factory)
    return runner, factory, runner.runs(progress=False)


@pytest.fixture
def copies(monkeypatch):
    """Every predictor copy the protocol makes (few-shot tracks fine-tune a copy, never the pretrained model)."""
    made = []
    original = proto.copy.deepcopy

    def recording_deepcopy(obj):
        made.append(original(obj))
        return made[-1]

    monkeypatch.setattr(proto.copy, "deepcopy", recording_deepcopy)
    return made


@pytest.fixture(scope="module")
def families(cgbench_home):
    from cgbench import load_family

    return {name: load_family(name, progress=False) for name in ("nb101", "nasbench_macro")}


@pytest.fixture(scope="module")
def nb201_families(families, nb201):
    return {**families, "nb201": nb201}


@pytest.fixture(scope="module")
def fbnet(cgbench_home):
    from cgbench import load_family

    return load_family("fbnet", progress=False)


@pytest.fixture(scope="module")
def tracked(families):
    """Every track on nb101 and nasbench_macro, two seeds."""
    return run_probe(families, ("nb101", "nasbench_macro"))


def _keys(runs):
    return [(r.run.track, r.run.family, r.run.target) for r in runs]


# ---------------------------------------------------------------------------------------------
# The protocol's settings


def test_capped_is_a_seeded_sorted_subset():
    rows = np.arange(10, 1010)
    a, b = capped(rows, 100, 0), capped(rows, 100, 1)
    assert len(a) == 100 and len(set(a)) == 100 and set(a) <= set(rows)
    assert np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, capped(rows, 100, 0))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(capped(rows, 5000, 0), rows)
    np.testing.assert_array_equal(capped(rows, None, 0), rows)


def test_protocol_rejects_bad_settings():
    # the tracks before cgbench.tasks (zero_shot, few_shot) are gone
    with pytest.raises(UnknownNameError, match="unknown track 'zero_shot'; known tracks: .*gennape_zero_shot"):
        proto.Protocol(tracks=("in_family", "zero_shot"))
    with pytest.raises(InvalidInputError, match="distinct"):
        proto.Protocol(seeds=(0, 0))
    with pytest.raises(InvalidInputError, match="train_cap"):
        proto.Protocol(train_cap=0)
    with pytest.raises(InvalidInputError, match="at least one family"):
        proto.Protocol(families=())
    with pytest.raises(InvalidInputError, match="at least one seed"):
        proto.Protocol(seeds=())


def test_quick_and_paper_protocols_and_their_cap_lines():
    quick = proto.Protocol()
    assert (quick.families, quick.seeds, quick.tracks) == (proto.DEFAULT_FAMILIES, DEFAULT_SEEDS, tuple(TRACKS))
    assert quick.train_cap == proto.QUICK_TRAIN_CAP and quick.name == "quick" and quick.target is None
    assert quick.options_for("gin") == proto.QUICK_PREDICTOR_OPTIONS["gin"] and quick.options_for("flops") == {}
    assert quick.settings_text("gin") == "epochs=10" and quick.settings_text("flops") == "its defaults"
    lines = quick.cap_lines(["flops", "gin"])
    assert [line for line in lines if line.startswith("predictor options")] == ["predictor options for gin: epochs=10"]
    assert f"tracks: {', '.join(TRACKS)}" in lines
    assert f"training rows per fit: at most {proto.QUICK_TRAIN_CAP} per (family, target) (a seeded draw)" in lines
    assert "run metrics: all of the Evaluator's except kendall_gennape (O(n^2))" in lines

    paper = proto.Protocol.paper(families=("nb101", "fbnet"), seeds=(0,), tracks=("in_family",), target="lat_fpga_ms")
    assert (paper.families, paper.seeds, paper.tracks, paper.target) == (("nb101", "fbnet"), (0,), ("in_family",),
                                                                         "lat_fpga_ms")
    assert paper.train_cap is None and paper.full and paper.name == "full"
    assert paper.options_for("gennape") == {"paper_scale": True}
    assert "tracks: in_family; in_family target lat_fpga_ms" in paper.cap_lines(["gennape"])
    assert "training rows per fit: all labelled rows" in paper.cap_lines(["gennape"])
    assert "predictor options for gennape: paper_scale=True" in paper.cap_lines(["gennape"])
    assert proto.Protocol.paper(families=("nb101",)).tracks == tuple(TRACKS)


def test_labelled_families_are_those_with_a_default_target_that_can_be_loaded(cgbench_home):
    names = proto.labelled_families()
    assert set(proto.DEFAULT_FAMILIES) <= set(names)
    assert all(family_spec(name).default_target is not None for name in names)
    # imported families are listed only once a user has imported (built) them
    assert "nb101_full" not in names and "gennape_nb201" not in names and "hiaml" not in names


def test_load_families_adds_the_gennape_source_and_refuses_unusable_families(cgbench_home, tmp_path, monkeypatch):
    protocol = proto.Protocol(families=("nasbench_macro",), tracks=("gennape_zero_shot",))
    assert list(proto.load_families(protocol, progress=False)) == ["nasbench_macro", "nb101"]
    assert list(proto.load_families(proto.Protocol(families=("nasbench_macro",), tracks=("in_family",)),
                                    progress=False)) == ["nasbench_macro"]
    with pytest.raises(UnknownNameError, match="no family of the protocol has the label column 'lat_fpga_ms' "
                                               r"\(families: nb101;"):
        proto.load_families(proto.Protocol(families=("nb101",), target="lat_fpga_ms"), progress=False)
    from cgbench.dataset import family_folder
    from cgbench.storage import is_built

    # an empty home of its own: other tests build hiaml in the session's home
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(InvalidInputError, match="hiaml is unlabelled; the benchmark needs labelled families"):
        proto.load_families(proto.Protocol(families=("hiaml",)), progress=False)
    assert not is_built(family_folder(family_spec("hiaml"))), "an unlabelled family is refused before it is built"


def test_predictions_are_one_per_arch_id():
    assert predictions_by_arch_id(["a", "b", "a"], np.array([1.0, 2.0, 1.0])) == {"a": 1.0, "b": 2.0}
    with pytest.raises(ValueError, match="same arch_id 'a' got different scores 1.0 and 3.0"):
        predictions_by_arch_id(["a", "b", "a"], np.array([1.0, 2.0, 3.0]))
    # float32 noise of batched inference is one score (measured: 1.6e-6 relative between two copies) ...
    assert predictions_by_arch_id(["a", "a"], np.array([0.02182792882458523, 0.021827894297317185])) == {
        "a": 0.02182792882458523}
    # ... a difference in the fourth digit is not
    with pytest.raises(ValueError, match="same arch_id 'a'"):
        predictions_by_arch_id(["a", "a"], np.array([0.021828, 0.021829]))


# ---------------------------------------------------------------------------------------------
# What each track's fits train and predict on


def test_run_count_and_tracks(tracked):
    runner, factory, runs = tracked
    # per seed: 2 in-family runs; GENNAPE zero- and few-shot on the one family besides NB-101; leave one
    # search space out on both (each trains on the other); no family of these has HELP latencies
    assert runner.plan.n_runs() == len(runs) == 2 * 6
    # per seed: 2 in-family fits, 1 NB-101 source fit, 2 leave-one-out fits
    assert len(factory.made) == 2 * 5
    assert sorted(set(_keys(runs))) == sorted([
        ("in_family", "nb101", "c10_val_acc_108ep"), ("in_family", "nasbench_macro", "c10_test_acc_mean"),
        ("gennape_zero_shot", "nasbench_macro", "c10_test_acc_mean"),
        ("gennape_few_shot", "nasbench_macro", "c10_test_acc_mean"),
        ("lofo_zero_shot", "nb101", "c10_val_acc_108ep"), ("lofo_zero_shot", "nasbench_macro", "c10_test_acc_mean")])
    assert [r.run.seed for r in runs] == [0] * 6 + [1] * 6
    assert [r.run.track for r in runs[:6]] == ["in_family", "in_family", "gennape_zero_shot", "gennape_few_shot",
                                               "lofo_zero_shot", "lofo_zero_shot"]


def test_in_family_trains_on_capped_train_part_and_tests_on_test_part(families):
    runner, factory, runs = run_probe(families, ("nb101", "nasbench_macro"), tracks=("in_family",))
    assert len(factory.made) == len(runs) == 4
    for scored, predictor in zip(runs, factory.made):
        run = scored.run
        family = families[run.family]
        split = family.get_idx_split("random")
        (name, rows, labels), = predictor.fitted
        assert name == run.family and run.trained_on == (run.family,) and run.target == family.default_target
        assert set(rows) <= set(split["train"]) and len(rows) == run.n_train == min(300, len(split["train"]))
        np.testing.assert_array_equal(labels, family.labels(run.target)[rows])
        (valid_name, valid_rows), = predictor.validated
        assert valid_name == run.family and len(valid_rows) == min(VALID_CAP, len(split["valid"]))
        assert set(valid_rows) <= set(split["valid"])
        evaluator = Evaluator(family, "random", "test")
        assert scored.arch_ids == evaluator.arch_ids and run.split == "random" and run.part == "test"
        assert set(run.predictions) == set(evaluator.arch_ids)
        np.testing.assert_array_equal(predictor.predicted[-1][1], evaluator.indices)
    macro_rows = [p.fitted[0][1] for p in factory.made if p.fitted[0][0] == "nasbench_macro"]
    assert not np.array_equal(*macro_rows), "seeds must draw different capped training rows"


def test_in_family_scores_the_target_asked_for(families, fbnet):
    runner, factory, runs = run_probe({**families, "fbnet": fbnet}, ("nb101", "fbnet"), tracks=("in_family",),
                                      seeds=(0,), train_cap=100, target="lat_fpga_ms")
    # nb101 has no such label: only fbnet is scored
    assert _keys(runs) == [("in_family", "fbnet", "lat_fpga_ms")]
    (name, rows, labels), = factory.made[0].fitted
    assert name == "fbnet" and len(rows) == 100 and set(rows) <= set(fbnet.get_idx_split("random")["train"])
    np.testing.assert_array_equal(labels, fbnet.labels("lat_fpga_ms")[rows])
    assert runs[0].arch_ids == Evaluator(fbnet, "random", "test", target="lat_fpga_ms").arch_ids


def test_gennape_tracks_train_on_deduplicated_nb101_and_few_shot_on_the_50_rows(families, copies):
    runner, factory, runs = run_probe(families, ("nb101", "nasbench_macro"),
                                      tracks=("gennape_zero_shot", "gennape_few_shot"))
    nb101, macro = families["nb101"], families["nasbench_macro"]
    dedup = deduplicated_rows(nb101, nb101.default_target)
    fewshot = macro.get_idx_split("fewshot50")
    assert len(dedup.indices) == 292 < proto.QUICK_TRAIN_CAP and len(fewshot["train"]) == 50
    assert len(factory.made) == 2, "one source fit per seed serves both tracks"
    for model in factory.made:
        (name, rows, labels), = model.fitted
        (valid_name, valid_rows), = model.validated
        assert name == valid_name == "nb101"
        # a quarter of the deduplicated source is held out for validation, the rest trained on
        assert len(valid_rows) == 292 // 4 and len(rows) == 292 - 292 // 4 and not set(rows) & set(valid_rows)
        np.testing.assert_array_equal(np.sort(np.r_[rows, valid_rows]), np.sort(dedup.indices))
        means = dict(zip(dedup.indices, dedup.values))
        np.testing.assert_array_equal(labels, [means[r] for r in rows])  # the mean label over each CG's duplicates
        assert model.tuned == [], "few-shot must fine-tune a copy, not the zero-shot model"
        np.testing.assert_array_equal(model.predicted[0][1], Evaluator(macro, "random", "test").indices)
    assert len(copies) == 2
    for copy in copies:
        (name, target, rows), = copy.tuned
        assert (name, target) == ("nasbench_macro", macro.default_target)
        np.testing.assert_array_equal(rows, fewshot["train"])
    zero = [r.run for r in runs if r.run.track == "gennape_zero_shot"]
    few = [r for r in runs if r.run.track == "gennape_few_shot"]
    assert len(zero) == len(few) == 2
    assert all(r.trained_on == ("nb101",) and r.n_train == 219 and r.split == "random" for r in zero)
    assert all(r.run.trained_on == ("nb101", "nasbench_macro") and r.run.n_train == 269 for r in few)
    for scored in few:
        assert scored.run.split == "fewshot50"
        assert scored.arch_ids == Evaluator(macro, "fewshot50", "test").arch_ids
        assert not set(scored.arch_ids) & {macro.arch_ids[i] for i in fewshot["train"]}


def test_gennape_source_rows_are_capped_by_seed(families):
    runner, factory, runs = run_probe(families, ("nasbench_macro",), tracks=("gennape_few_shot",), seeds=(3,),
                                      train_cap=100)
    nb101 = families["nb101"]
    dedup = deduplicated_rows(nb101, nb101.default_target)
    assert _keys(runs) == [("gennape_few_shot", "nasbench_macro", "c10_test_acc_mean")]
    (name, rows, labels), = factory.made[0].fitted
    (_, valid_rows), = factory.made[0].validated
    assert name == "nb101" and len(rows) == 100 and set(rows) <= set(dedup.indices) - set(valid_rows)
    np.testing.assert_array_equal(labels, dedup.values[np.isin(dedup.indices, rows)])
    assert runs[0].run.n_train == 150


def test_held_out_validation_rows_come_first_and_never_overlap_training():
    pool = np.arange(1000, 2000)
    train, valid = held_out(pool, 300, 100, seed=0)
    assert len(train) == 300 and len(valid) == 100 and not set(train) & set(valid) and set(train) | set(valid) <= set(pool)
    again, valid_again = held_out(pool, 200, 100, seed=0)
    np.testing.assert_array_equal(valid, valid_again)  # the validation draw does not depend on the training cap
    small_train, small_valid = held_out(np.arange(10), None, 100, seed=0)
    assert len(small_valid) == 2 and len(small_train) == 8  # at most a quarter of a small pool
    assert len(held_out(pool, None, 0, seed=0)[1]) == 0


def test_leave_one_out_trains_on_the_other_search_spaces_as_percentile_ranks(families):
    runner, factory, runs = run_probe(families, ("nb101", "nasbench_macro"), tracks=("lofo_zero_shot",), seeds=(0,))
    assert _keys(runs) == [("lofo_zero_shot", "nb101", "c10_val_acc_108ep"),
                           ("lofo_zero_shot", "nasbench_macro", "c10_test_acc_mean")]
    for scored, predictor in zip(runs, factory.made):
        run = scored.run
        source = "nasbench_macro" if run.family == "nb101" else "nb101"
        assert run.trained_on == (source,)
        (name, rows, labels), = predictor.fitted
        (valid_name, valid_rows), = predictor.validated
        family = families[source]
        # labelled rows of the source (its test part too: the held-out family is another), capped, and
        # validation rows held out of the same pool first
        assert name == valid_name == source and len(rows) == run.n_train == 300
        assert len(valid_rows) == min(100, len(family) // 4) and not set(rows) & set(valid_rows)
        np.testing.assert_array_equal(labels, percentile_ranks(family.labels(family.default_target)[rows]))
        assert scored.arch_ids == Evaluator(families[run.family], "random", "test").arch_ids


def test_leave_one_out_needs_another_search_space(families):
    runner, factory, runs = run_probe(families, ("nb101",), tracks=("lofo_zero_shot",))
    assert runner.plan.n_runs() == 0 and runs == [] and factory.made == []


def test_device_transfer_holds_out_helps_devices(fbnet, copies):
    tracks = ("device_transfer_k0", "device_transfer_k10", "device_transfer_k20")
    runner, factory, runs = run_probe({"fbnet": fbnet}, ("fbnet",), tracks=tracks, seeds=(0,), train_cap=50)
    held_out = HELD_OUT_DEVICES["fbnet"]
    sources = source_devices(fbnet)
    assert len(sources) == 24 and not set(sources) & set(held_out)
    assert _keys(runs) == [(track, "fbnet", device) for track in tracks for device in held_out]
    pretrained, = factory.made  # one fit per family and seed serves every held-out device and k
    assert [name for name, _, _ in pretrained.fitted] == ["fbnet"] * len(sources)
    train = set(fbnet.get_idx_split("random")["train"])
    for (_, rows, labels), (_, valid_rows), device in zip(pretrained.fitted, pretrained.validated, sources):
        assert len(rows) == 50 and set(rows) <= train and len(valid_rows) == 100
        assert set(valid_rows) <= train and not set(rows) & set(valid_rows)
        np.testing.assert_array_equal(labels, fbnet.labels(device)[rows])
    assert len(pretrained.validated) == len(sources) and pretrained.tuned == []
    assert [copy.tuned[0][:2] for copy in copies] == [("fbnet", device) for _ in (10, 20) for device in held_out]
    for copy, (k, device) in zip(copies, [(k, device) for k in (10, 20) for device in held_out]):
        np.testing.assert_array_equal(copy.tuned[0][2], shot_rows(fbnet, device, k, seed=0))
    for scored in runs:
        k = TRACKS[scored.run.track].shots
        assert scored.run.trained_on == ("fbnet",) and scored.run.n_train == 24 * 50 + k
        evaluator = Evaluator(fbnet, "random", "test", target=scored.run.target)
        assert scored.arch_ids == evaluator.arch_ids
        np.testing.assert_array_equal(scored.y_true, evaluator.y_true)


def test_metrics_are_the_evaluators(tracked, families):
    _, _, runs = tracked
    for scored in (runs[0], runs[2]):  # in_family nb101; gennape_zero_shot nasbench_macro
        evaluator = Evaluator(families[scored.run.family], scored.run.split, "test")
        assert scored.arch_ids == evaluator.arch_ids
        np.testing.assert_array_equal(scored.y_true, evaluator.y_true)
        expected = evaluator.eval(scored.y_pred)
        assert set(expected) - set(scored.metrics) == set(proto.QUICK_SKIPPED_METRICS)
        for name, value in scored.metrics.items():
            assert value == pytest.approx(expected[name], nan_ok=True), name
        assert scored.metrics["n"] == len(scored.arch_ids)


def test_predict_must_return_one_score_per_row(families):
    class Short(LogFlopsProbe):
        def predict(self, family, indices):
            return super().predict(family, indices)[:-1]

    protocol = proto.Protocol(families=("nb101",), seeds=(0,), tracks=("in_family",), predictor_options={})
    runner = proto.MethodRunner("short", protocol, families, factory=lambda name, **options: Short())
    with pytest.raises(ValueError, match=r"short.predict on in_family nb101 c10_val_acc_108ep seed 0: shape \(49,\) "
                                         r"for 50 rows to predict"):
        runner.runs(progress=False)


# ---------------------------------------------------------------------------------------------
# The report


def test_table_goal_and_anchors(tracked):
    _, _, runs = tracked
    results = {LogFlopsProbe.name: aggregate(runs)}
    table = results_table(results).splitlines()
    assert table[0].split()[:5] == ["method", "track", "family", "target", "spearman"]
    assert "flops ρ" in table[0] and "beyond flops" in table[0]
    body = table[2:]
    assert len(body) == 6 and all(line.startswith(LogFlopsProbe.name) and "±" in line for line in body)
    assert [line.split()[1] for line in body] == ["in_family", "in_family", "gennape_zero_shot", "gennape_few_shot",
                                                  "lofo_zero_shot", "lofo_zero_shot"]
    goal = goal_lines(results)
    assert goal[1].startswith(f"  {LogFlopsProbe.name}: beats FLOPs on ") and "of 2 held-out families" in goal[1]
    # every published anchor is on NB-201, which this run does not hold: no anchor section at all
    assert anchor_lines(results) == []
    in_family = {LogFlopsProbe.name: [a for a in results[LogFlopsProbe.name] if a.track == "in_family"]}
    assert goal_lines(in_family) == [], "no leave-one-out run, no goal section"


def _nb201_scored(track, target, seed, y_pred, arch_ids, y_true):
    metrics = {"n": len(arch_ids), "spearman": 0.5 + seed / 10, "kendall": 0.3, "flops_spearman": 0.6}
    trained_on = ("nb201",) if track == "in_family" else ("nb101",)
    return ScoredRun(Run(track, "nb201", target, seed, trained_on, dict(zip(arch_ids, y_pred))), metrics, arch_ids,
                     y_true, y_pred)


def test_anchors_on_gennapes_set_are_read_beside_ours_on_that_set():
    arch_ids = ["|nor_conv_3x3~0|", "|skip_connect~0|", "|avg_pool_3x3~0|", "|none~0|"]
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    target = family_spec("nb201").default_target
    runs = [_nb201_scored("gennape_zero_shot", target, seed, np.array([1, 2, 3, 4.0]) + seed, arch_ids, y_true)
            for seed in (0, 1)]
    on_set = {"gennape": {("gennape_zero_shot", "nb201", target): [0.8, 0.9]}}
    lines = anchor_lines({"gennape": aggregate(runs)}, on_set)
    assert "      ours, gennape: 0.550 ± 0.071 (FLOPs ranking 0.600, 4 test rows)" in lines
    assert f"      ours, gennape, on {NONE_FREE_NB201}: 0.850 ± 0.071" in lines
    # both zero-shot anchors (GENNAPE's and FLAN's) are set beside our zero-shot result; only GENNAPE's is on its set
    assert sum(line.startswith("      ours, gennape:") for line in lines) == 2
    assert sum(line.startswith("      ours, gennape, on") for line in lines) == 1
    assert not any(", on " in line for line in anchor_lines({"gennape": aggregate(runs)}))


def test_gennape_runs_on_nb201_also_predict_gennapes_own_set(nb201_families, copies):
    from cgbench.splits import GENNAPE_SET

    protocol = proto.Protocol(families=("nb201",), seeds=(0,), tracks=("gennape_zero_shot", "gennape_few_shot"),
                              predictor_options={})
    maker = proto.RunMaker(protocol, nb201_families, factory=RecordingFactory())
    nb201 = nb201_families["nb201"]
    split = nb201.get_idx_split(GENNAPE_SET)
    assert (len(split["train"]), len(split["valid"]), len(split["test"])) == (50, 0, 4046)
    assert all("none" not in nb201.arch_ids[i] for i in np.r_[split["train"], split["test"]])
    zero, few = (maker.make(spec) for spec in maker.coverage.specs(LogFlopsProbe.name))
    for made in (zero, few):
        assert set(made.gennape_set) == {nb201.arch_ids[i] for i in split["test"]}
    tuned_on = [c.tuned[0][2] for c in copies if c.tuned]
    assert any(np.array_equal(rows, split["train"]) for rows in tuned_on), "few-shot tunes on GENNAPE's 50 cells"
    records = {"probe": [{"unit": {"track": m.run.track, "family": "nb201", "target": m.run.target},
                          "gennape_set": m.gennape_set} for m in (zero, few)]}
    scores = gennape_set_scores(records, nb201_families)["probe"]
    assert set(scores) == {("gennape_zero_shot", "nb201", m.run.target) for m in (zero,)} | {
        ("gennape_few_shot", "nb201", few.run.target)}
    assert all(-1 <= v[0] <= 1 for v in scores.values())


def test_anchors_compare_only_the_families_default_target():
    """The anchors are accuracies of NB-201: an in_family run on a latency of nb201 is not one of them."""
    arch_ids, y = ["|nor_conv_3x3~0|", "|skip_connect~0|", "|none~0|"], np.array([1.0, 2.0, 3.0])
    latency = [_nb201_scored("in_family", "lat_pixel2_ms", 0, y, arch_ids, y)]
    accuracy = [_nb201_scored("in_family", family_spec("nb201").default_target, 0, y, arch_ids, y)]
    assert anchor_lines({"flops": aggregate(latency)}) == []
    lines = anchor_lines({"flops": aggregate(latency + accuracy)})
    assert sum(line == "      ours, flops: 0.500 (FLOPs ranking 0.600, 3 test rows)" for line in lines) == 2
    assert sum(line.startswith("  ") and not line.startswith("      ") for line in lines) == 2, \
        "only the two in_family anchors, not the zero- and few-shot ones this run does not hold"


def test_submission_validates_and_scores_match(tracked, families, tmp_path):
    from leaderboard.validate import validate_submission

    runner, _, runs = tracked
    protocol = runner.protocol
    path = proto.write_method_submission(tmp_path / "probe.json.gz", LogFlopsProbe.name, [r.run for r in runs],
                                         families, protocol, n_parameters=0, hardware="cpu")
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["format"] == "cgbench-submission-2"
    assert set(document["families"]) == {"nb101", "nasbench_macro"}
    assert document["method"]["protocol"] == {"name": "quick", "train_cap": 300, "settings": "its defaults"}
    assert document["method"]["scale"] == "target" and document["method"]["n_parameters"] == 0
    assert document["method"]["code_url"].endswith("/blob/main/tests/test_protocol.py")
    assert len(document["runs"]) == len(runs)
    validated = validate_submission(path)
    assert [r.run.key for r in validated.runs] == [r.run.key for r in runs]
    assert [r.run.trained_on for r in validated.runs] == [r.run.trained_on for r in runs]
    for result, scored in zip(validated.runs, runs):
        for name, value in scored.metrics.items():
            assert result.metrics[name] == pytest.approx(value, rel=1e-6, nan_ok=True), (scored.run.label(), name)


def test_code_url_names_the_module_of_the_predictor():
    from baselines.predictors import make_predictor

    flops = type(make_predictor("flops"))
    assert proto.module_path(flops) == "baselines/simple.py"
    assert proto.code_url(flops).endswith("/blob/main/baselines/simple.py")
    assert proto.code_url(flops).startswith("https://")


def test_plots_are_written(tracked, tmp_path):
    import matplotlib.image

    _, _, runs = tracked
    paths = [*plot_scatter({"probe": runs}, tmp_path), plot_rank_correlation({"probe": aggregate(runs)}, tmp_path)]
    assert sorted(p.name for p in paths) == ["rank_correlation.png", "scatter_nasbench_macro.png", "scatter_nb101.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels.std() > 0.05, f"{path.name} looks blank"


# ---------------------------------------------------------------------------------------------
# cgbench benchmark


def test_cli_benchmark_runs_and_prints_the_table(families, tmp_path, capsys):
    from cgbench.cli import main

    out, submissions = tmp_path / "results", tmp_path / "submissions"
    main(["benchmark", "--methods", "flops", "--families", "nb101", "nasbench_macro", "--seeds", "0", "--out",
          str(out), "--submissions", str(submissions), "--no-progress"])
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert "spearman" in header and "kendall" in header and "flops ρ" in header
    rows = [line.split()[:4] for line in lines if line.startswith("flops ")]
    assert rows == [["flops", "in_family", "nasbench_macro", "c10_test_acc_mean"],
                    ["flops", "in_family", "nb101", "c10_val_acc_108ep"],
                    ["flops", "gennape_zero_shot", "nasbench_macro", "c10_test_acc_mean"],
                    ["flops", "gennape_few_shot", "nasbench_macro", "c10_test_acc_mean"],
                    ["flops", "lofo_zero_shot", "nasbench_macro", "c10_test_acc_mean"],
                    ["flops", "lofo_zero_shot", "nb101", "c10_val_acc_108ep"]]
    assert f"at most {proto.QUICK_TRAIN_CAP} per (family, target)" in printed
    # every published anchor is on NB-201, which this run leaves out: none is printed
    assert "Published anchors" not in printed and "0.815" not in printed
    # the FLOPs ranking knows nothing beyond FLOPs
    assert "  flops: beats FLOPs on 0 of 2 held-out families (none)" in lines
    assert "torch threads: 1 per worker" in printed and f"tracks: {', '.join(TRACKS)}" in printed
    assert torch.get_num_threads() == proto.QUICK_TORCH_THREADS
    assert (submissions / "flops.json.gz").exists() and (out / "scatter_nb101.png").exists()
    assert (out / "rank_correlation.png").exists() and (out / "results.txt").read_text().strip() in printed
    result = json.loads((out / "results.json").read_text())
    assert result["methods"] == ["flops"] and list(result["aggregates"]) == ["flops"]
    assert [(a["track"], a["family"]) for a in result["aggregates"]["flops"]] == [
        ("in_family", "nasbench_macro"), ("in_family", "nb101"), ("gennape_zero_shot", "nasbench_macro"),
        ("gennape_few_shot", "nasbench_macro"), ("lofo_zero_shot", "nasbench_macro"), ("lofo_zero_shot", "nb101")]
    assert len(result["runs"]["flops"]) == 6


def test_cli_writes_submissions_where_asked(families, tmp_path, monkeypatch, capsys):
    from baselines import cli
    from cgbench.cli import main

    board = tmp_path / "board"
    monkeypatch.setattr(cli, "SHIPPED_SUBMISSIONS", board)
    argv = ["benchmark", "--methods", "flops", "--families", "nb101", "--seeds", "0", "--tracks", "in_family",
            "--no-progress"]
    main([*argv, "--out", str(tmp_path / "a")])
    assert (tmp_path / "a" / "submissions" / "flops.json.gz").exists() and not board.exists()
    main([*argv, "--out", str(tmp_path / "b"), "--update-leaderboard"])
    assert (board / "flops.json.gz").exists() and not (tmp_path / "b" / "submissions").exists()
    main([*argv, "--out", str(tmp_path / "c"), "--no-submissions"])
    assert (tmp_path / "c" / "results.json").exists() and not (tmp_path / "c" / "submissions").exists()
    capsys.readouterr()


def test_update_leaderboard_writes_the_shipped_folder_from_any_working_directory(tmp_path, monkeypatch):
    import leaderboard
    from baselines import cli

    monkeypatch.chdir(tmp_path)
    shipped = Path(leaderboard.__file__).resolve().parent / "submissions"
    assert cli.SHIPPED_SUBMISSIONS == shipped and (shipped / "flops.json.gz").is_file()


def test_cli_makes_the_protocol_asked_for():
    from baselines.cli import make_protocol
    from cgbench.cli import build_parser

    def protocol(*argv):
        return make_protocol(build_parser().parse_args(["benchmark", *argv]))

    quick = protocol()
    assert (quick.families, quick.seeds, quick.tracks, quick.train_cap, quick.full) == (
        proto.DEFAULT_FAMILIES, DEFAULT_SEEDS, tuple(TRACKS), proto.QUICK_TRAIN_CAP, False)
    # a target alone is scored in-family; with tracks named, those tracks
    assert protocol("--target", "lat_fpga_ms").tracks == ("in_family",)
    assert protocol("--target", "lat_fpga_ms").target == "lat_fpga_ms"
    assert protocol("--target", "lat_fpga_ms", "--tracks", "in_family", "lofo_zero_shot").tracks == (
        "in_family", "lofo_zero_shot")
    assert protocol("--train-cap", "50", "--seeds", "3", "1").train_cap == 50
    assert protocol("--train-cap", "50", "--seeds", "3", "1").seeds == (3, 1)
    full = protocol("--full", "--families", "nb101")
    assert full.full and full.train_cap is None and full.families == ("nb101",)
    reference = protocol("--protocol", "reference", "--seeds", "0")
    assert reference.name == "reference" and reference.train_cap == proto.QUICK_TRAIN_CAP
    assert reference.options_for("gin") == proto.REFERENCE_PREDICTOR_OPTIONS["gin"] and reference.seeds == (0,)


def test_cli_rejects_unknown_method(cgbench_home, tmp_path, cli_error):
    line = cli_error("benchmark", "--methods", "no_such_predictor", "--out", tmp_path)
    assert line.startswith("cgbench benchmark: error: unknown method 'no_such_predictor'; known methods: ")


def test_cli_rejects_a_target_no_family_has(families, tmp_path, cli_error):
    line = cli_error("benchmark", "--methods", "flops", "--families", "nb101", "--target", "lat_fpga_ms", "--out",
                     tmp_path)
    assert line.startswith("cgbench benchmark: error: no family of the protocol has the label column 'lat_fpga_ms'")
    assert not (tmp_path / "results.txt").exists()


# ---------------------------------------------------------------------------------------------
# zc_ranker's parts


def test_rank_normal_scores_keep_order_and_average_ties():
    from baselines.zc_ranker import rank_normal_scores

    x = np.array([[1e30, 3.0], [1e-5, 1.0], [1e10, 1.0]])
    z = rank_normal_scores(x)
    assert list(np.argsort(z[:, 0])) == [1, 2, 0]
    assert z[1, 1] == z[2, 1] < z[0, 1]
    assert z[:, 0].sum() == pytest.approx(0, abs=1e-12)  # untied ranks: symmetric normal quantiles
    with pytest.raises(ValueError, match="NaN"):
        rank_normal_scores(np.array([[1.0], [np.nan]]))


def test_ordered_pairs_put_the_better_row_first():
    from baselines.zc_ranker import ordered_pairs

    labels = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    better, worse = ordered_pairs(labels, 100, np.random.default_rng(0))
    assert len(better) == 9  # 10 pairs, one of them tied
    assert np.all(labels[better] > labels[worse])


def test_zc_ranker_learns_and_scores_missing_rows(families):
    from baselines.predictors import make_predictor
    from baselines.zc_ranker import RECIPE_OVERRIDES
    from baselines.zcp.scoring import proxy_recipe, scores_path

    macro = families["nasbench_macro"]
    split = macro.get_idx_split("random")
    ranker = make_predictor("zc_ranker", proxies=("l2_norm",), steps=50)
    ranker.fit([TrainingSet(macro, split["train"][:40], macro.default_target)], seed=0)
    test = split["test"][:40]
    y_pred = ranker.predict(macro, test)
    assert y_pred.shape == (40,) and np.isfinite(y_pred).all()
    assert scores_path(macro, "l2_norm", proxy_recipe("l2_norm", RECIPE_OVERRIDES)).exists()
    assert ranker.n_parameters == (3 * 16 + 16) + (16 + 1)
    # On 300 rows with its free features (log FLOPs and params) the ranker must rank held-out rows well.
    free = make_predictor("zc_ranker", proxies=(), steps=100)
    free.fit([TrainingSet(macro, split["train"][:300], macro.default_target)], seed=0)
    evaluator = Evaluator(macro, "random", "test")
    assert evaluator.eval(free.predict(macro, evaluator.indices))["spearman"] > 0.3


def test_the_device_goes_to_the_constructors_that_take_it_and_to_no_other():
    """graf_anchored's ``**graf_options`` end in GRAF's constructor, which has no device: the reference
    runs of graf_anchored once failed on every unit with ``unexpected keyword argument 'device'``."""
    from baselines.predictors import make_predictor, predictor_class

    taking = {name for name in ("gin", "gennape", "gennape_notf", "gennape_head", "graf", "graf_anchored",
                                "zc_ranker", "flops") if proto.takes_device(predictor_class(name))}
    assert taking == {"gin", "gennape", "gennape_notf", "gennape_head", "zc_ranker"}
    maker = proto.RunMaker(proto.Protocol.reference(), {}, device="cpu")
    assert maker.new_predictor("graf_anchored").name == "graf_anchored"
    assert make_predictor("gennape_notf", device="cpu").device == torch.device("cpu")

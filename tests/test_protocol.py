"""The benchmark protocol: which rows each track trains and tests on, aggregation, outputs, CLI."""

import json
import math

import numpy as np
import pytest
import torch

from baselines import protocol as proto
from baselines.predictor import Predictor, TrainingSet, register_predictor
from baselines.report import (ANCHORS, anchor_lines, nb201_none_free, plot_rank_correlation, plot_scatter,
                              results_table, subset_spearman)
from cgbench.evaluation import Evaluator


@register_predictor
class LogFlopsProbe(Predictor):
    """A tiny real predictor (sign of the FLOPs-label correlation x log FLOPs) that records what it saw."""

    name = "test_log_flops_probe"
    description = "test double: signed log FLOPs; records its training rows"

    def __init__(self) -> None:
        self.fitted: list[tuple[str, np.ndarray]] = []
        self.validated: list[tuple[str, np.ndarray]] = []
        self.tuned: list[tuple[str, np.ndarray]] = []
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
        self.fitted = [(d.family.name, d.indices.copy()) for d in data]
        self.validated = [(v.family.name, v.indices.copy()) for v in valid or []]
        self._learn_sign(data)

    def fine_tune(self, data, seed):
        self.tuned.append((data.family.name, data.indices.copy()))
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


@pytest.fixture(scope="module")
def families(cgbench_home):
    from cgbench import load_family

    return {name: load_family(name, progress=False) for name in ("nb101", "nasbench_macro")}


@pytest.fixture(scope="module")
def tracked(families):
    protocol = proto.Protocol(families=("nb101", "nasbench_macro"), seeds=(0, 1), train_cap=300,
                              predictor_options={})
    factory = RecordingFactory()
    runner = proto.MethodRunner(LogFlopsProbe.name, protocol, families, factory=factory)
    return runner, factory, runner.runs(progress=False)


def test_capped_is_a_seeded_sorted_subset():
    rows = np.arange(10, 1010)
    a, b = proto.capped(rows, 100, 0), proto.capped(rows, 100, 1)
    assert len(a) == 100 and len(set(a)) == 100 and set(a) <= set(rows)
    assert np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, proto.capped(rows, 100, 0))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(proto.capped(rows, 5000, 0), rows)
    np.testing.assert_array_equal(proto.capped(rows, None, 0), rows)


def test_protocol_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown track"):
        proto.Protocol(tracks=("in_family", "transfer"))
    with pytest.raises(ValueError, match="distinct"):
        proto.Protocol(seeds=(0, 0))
    with pytest.raises(ValueError, match="train_cap"):
        proto.Protocol(train_cap=0)


def test_run_count_and_tracks(tracked):
    runner, factory, runs = tracked
    # per seed: 2 in-family fits + 1 source fit; zero-shot and few-shot on the one non-source family
    assert runner.n_runs() == len(runs) == 2 * (2 + 2)
    assert len(factory.made) == 2 * 3
    assert {(r.track, r.family) for r in runs} == {
        ("in_family", "nb101"), ("in_family", "nasbench_macro"), ("zero_shot", "nasbench_macro"),
        ("few_shot", "nasbench_macro")}


def test_in_family_trains_on_capped_train_part_and_tests_on_test_part(tracked, families):
    runner, factory, runs = tracked
    in_family = [r for r in runs if r.track == "in_family"]
    fits = [p for p in factory.made if p.validated]
    assert len(fits) == len(in_family) == 4
    for run, predictor in zip(in_family, fits):
        family = families[run.family]
        split = family.get_idx_split("random")
        (name, rows), = predictor.fitted
        assert name == run.family and run.trained_on == (run.family,)
        assert set(rows) <= set(split["train"]) and len(rows) == run.n_train == min(300, len(split["train"]))
        assert predictor.validated[0][0] == run.family
        np.testing.assert_array_equal(predictor.validated[0][1], split["valid"])
        evaluator = Evaluator(family, "random", "test")
        assert run.arch_ids == evaluator.arch_ids and run.split == "random" and run.part == "test"
        np.testing.assert_array_equal(predictor.predicted[-1][1], evaluator.indices)
    macro_rows = [p.fitted[0][1] for p in fits if p.fitted[0][0] == "nasbench_macro"]
    assert not np.array_equal(*macro_rows), "seeds must draw different capped training rows"


def test_zero_shot_never_sees_target_labels_and_few_shot_uses_exactly_the_50_rows(tracked, families):
    runner, factory, runs = tracked
    source_models = [p for p in factory.made if not p.validated]
    assert len(source_models) == 2
    macro = families["nasbench_macro"]
    fewshot = macro.get_idx_split("fewshot50")
    for model in source_models:
        assert [name for name, _ in model.fitted] == ["nb101"]
        assert len(model.fitted[0][1]) == 300
        assert model.tuned == [], "few-shot must fine-tune a copy, not the zero-shot model"
        np.testing.assert_array_equal(model.predicted[0][1], Evaluator(macro, "random", "test").indices)
    zero = [r for r in runs if r.track == "zero_shot"]
    few = [r for r in runs if r.track == "few_shot"]
    assert all(r.trained_on == ("nb101",) for r in zero)
    assert all(r.trained_on == ("nb101", "nasbench_macro") and r.n_train == 350 for r in few)
    assert len(fewshot["train"]) == 50
    for run in few:
        assert run.split == "fewshot50"
        assert run.arch_ids == Evaluator(macro, "fewshot50", "test").arch_ids
        assert not set(run.arch_ids) & {macro.arch_ids[i] for i in fewshot["train"]}


def test_few_shot_fine_tunes_on_the_fewshot50_train_rows(families, monkeypatch):
    protocol = proto.Protocol(families=("nasbench_macro",), seeds=(3,), tracks=("few_shot",), train_cap=100,
                              predictor_options={})
    factory = RecordingFactory()
    original_deepcopy = proto.copy.deepcopy
    copies = []

    def recording_deepcopy(obj):
        copies.append(original_deepcopy(obj))
        return copies[-1]

    monkeypatch.setattr(proto.copy, "deepcopy", recording_deepcopy)
    runs = proto.MethodRunner(LogFlopsProbe.name, protocol, families, factory=factory).runs(progress=False)
    assert [r.track for r in runs] == ["few_shot"]
    (name, rows), = copies[0].tuned
    assert name == "nasbench_macro"
    np.testing.assert_array_equal(rows, families["nasbench_macro"].get_idx_split("fewshot50")["train"])
    assert [n for n, _ in copies[0].fitted] == ["nb101"]


def test_metrics_are_the_evaluators(tracked, families):
    _, _, runs = tracked
    run = runs[0]
    evaluator = Evaluator(families[run.family], run.split, "test")
    assert run.arch_ids == evaluator.arch_ids
    np.testing.assert_array_equal(run.y_true, evaluator.y_true)
    expected = evaluator.eval(run.y_pred)
    assert set(expected) - set(run.metrics) == set(proto.QUICK_SKIPPED_METRICS)
    for name, value in run.metrics.items():
        assert value == pytest.approx(expected[name], nan_ok=True), name
    assert run.metrics["n"] == len(run.arch_ids)


def _run(seed, spearman, kendall, track="in_family", family="nb101"):
    return proto.Run(method="m", track=track, family=family, target="t", seed=seed, trained_on=(family,), n_train=10,
                     arch_ids=["a", "b"], y_true=np.zeros(2), y_pred=np.zeros(2),
                     metrics={"spearman": spearman, "kendall": kendall}, seconds=1.0)


def test_aggregate_mean_and_sample_std_over_seeds():
    runs = [_run(0, 0.5, 0.3), _run(1, 0.7, 0.5), _run(2, 0.9, 0.4), _run(0, 0.2, 0.1, family="nb201")]
    by_family = {a.family: a for a in proto.aggregate(runs)}
    nb101 = by_family["nb101"]
    assert nb101.seeds == (0, 1, 2)
    assert nb101.mean["spearman"] == pytest.approx(0.7)
    assert nb101.std["spearman"] == pytest.approx(0.2)  # sample std of 0.5, 0.7, 0.9
    assert nb101.mean["kendall"] == pytest.approx(0.4)
    assert math.isnan(by_family["nb201"].std["spearman"])
    assert by_family["nb201"].as_dict()["std"]["spearman"] is None
    with pytest.raises(ValueError, match="repeated seeds"):
        proto.aggregate([_run(0, 0.5, 0.3), _run(0, 0.6, 0.3)])


def test_table_and_anchors(tracked):
    _, _, runs = tracked
    aggregates = proto.aggregate(runs)
    table = results_table(aggregates)
    assert table.count(LogFlopsProbe.name) == 4 and "±" in table and "spearman" in table.splitlines()[0]
    lines = anchor_lines(aggregates)
    assert any("0.815" in line for line in lines) and any("0.910" in line for line in lines)
    assert sum("not run" in line for line in lines) == sum(len(a.compare_with) for a in ANCHORS)


def test_anchor_subset_scores_only_the_rows_the_publication_used():
    # Four none-free cells ranked perfectly; two cells with a "none" edge ranked backwards.
    arch_ids = ["|nor_conv_3x3~0|", "|skip_connect~0|", "|avg_pool_3x3~0|", "|nor_conv_1x1~0|",
                "|none~0|", "|none~0|+|none~1|"]
    y_true = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    runs = [proto.Run(method="gennape", track="zero_shot", family="nb201", target="t", seed=seed, trained_on=("nb101",),
                      n_train=10, arch_ids=arch_ids, y_true=y_true, y_pred=np.array([1, 2, 3, 4, -1, -2.0]) + seed,
                      metrics={"spearman": 0.0, "kendall": 0.0}, seconds=1.0) for seed in (0, 1)]
    assert subset_spearman(runs, nb201_none_free) == (pytest.approx(1.0), pytest.approx(0.0), 4)
    lines = anchor_lines(proto.aggregate(runs), runs)
    assert any("none-free" in line and "(4 test rows): 1.000 ± 0.000" in line for line in lines)


def test_submission_validates_and_scores_match(tracked, families, tmp_path):
    from leaderboard.validate import validate_submission

    runner, _, runs = tracked
    path = proto.write_method_submission(tmp_path / "probe.json", LogFlopsProbe.name, runner.last_predictor, runs,
                                         families)
    document = json.loads(path.read_text())
    assert set(document["families"]) == {"nb101", "nasbench_macro"}
    assert len(document["runs"]) == len(runs)
    validated = validate_submission(path)
    for result, run in zip(validated.runs, runs):
        assert result.metrics["spearman"] == pytest.approx(run.metrics["spearman"])


def test_plots_are_written(tracked, tmp_path):
    import matplotlib.image

    _, _, runs = tracked
    paths = [*plot_scatter(runs, tmp_path), plot_rank_correlation(proto.aggregate(runs), tmp_path)]
    assert sorted(p.name for p in paths) == ["rank_correlation.png", "scatter_nasbench_macro.png", "scatter_nb101.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels.std() > 0.05, f"{path.name} looks blank"


def test_cli_benchmark_runs_and_prints_the_table(families, tmp_path, capsys):
    from cgbench.cli import main

    out, submissions = tmp_path / "results", tmp_path / "submissions"
    main(["benchmark", "--methods", "flops", "--families", "nb101", "--seeds", "0", "--out", str(out),
          "--submissions", str(submissions), "--no-progress"])
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("method"))
    assert "spearman" in header and "kendall" in header
    assert any(line.startswith("flops") and "in_family" in line and "nb101" in line for line in printed.splitlines())
    assert f"at most {proto.QUICK_TRAIN_CAP}" in printed and "0.815" in printed
    assert "torch threads: 1" in printed and "zc_ranker: opt-in" in printed
    assert torch.get_num_threads() == proto.QUICK_TORCH_THREADS
    assert (submissions / "flops.json.gz").exists() and (out / "scatter_nb101.png").exists()
    result = json.loads((out / "results.json").read_text())
    assert [(a["method"], a["track"], a["family"]) for a in result["aggregates"]] == [("flops", "in_family", "nb101")]


def test_cli_rejects_unknown_method(cgbench_home, tmp_path, cli_error):
    line = cli_error("benchmark", "--methods", "no_such_predictor", "--out", tmp_path)
    assert line.startswith("cgbench benchmark: error: unknown method 'no_such_predictor'; known methods: ")


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
    from baselines.predictor import make_predictor
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

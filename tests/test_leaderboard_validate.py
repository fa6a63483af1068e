"""The submission format (``cgbench.submission``, ``cgbench-submission-2``) and the leaderboard's
validator, on real nb101 and nb201 builds.

A valid submission (FLOPs as predictions) is written with ``write_submission`` as gzip-compressed
JSON; each malformed variant is derived from its JSON and must be rejected with its own message.
The track rules (``cgbench.tasks``) themselves are tested in ``test_tasks.py``; here they are
checked to reach the parser, before any family is loaded.
"""

import copy
import gzip
import json
import re

import numpy as np
import pytest

from cgbench import Evaluator
from cgbench.cli import main
from cgbench.submission import (InvalidSubmissionError, MethodInfo, ProtocolInfo, load_submission, parse_submission,
                                write_submission)
from cgbench.tasks import TRACKS, Run
from leaderboard.validate import cached_loader, validate_submission

METHOD = MethodInfo(name="flops", description="FLOPs of the CG as the score", code_url="https://example.org/flops",
                    hardware="2 CPU cores", n_parameters=0, scale="rank",
                    protocol=ProtocolInfo("quick", 300, "no training"))
NB101_TARGET, NB201_TARGET = "c10_val_acc_108ep", "c10_valid_acc_200ep"
NB201_OTHER_TARGET = "c100_valid_acc_200ep"


@pytest.fixture(scope="module")
def load(cgbench_home):
    return cached_loader()


def flops_predictions(family, track, seed, target=None):
    """FLOPs of the track's test rows, perturbed per seed (seed 0: exact) so that seeds differ."""
    evaluator = Evaluator(family, split=TRACKS[track].split, target=target)
    flops = family.table.column("flops").to_numpy()[evaluator.indices].astype(float)
    noise = np.random.default_rng(seed).normal(scale=0.05 * seed, size=len(flops))
    return {arch_id: float(value) for arch_id, value in zip(evaluator.arch_ids, flops * (1 + noise))}


def flops_run(family, track, seed, trained_on, target):
    return Run(track, family.name, target, seed, trained_on, flops_predictions(family, track, seed, target))


@pytest.fixture(scope="module")
def valid_path(load, tmp_path_factory):
    """Runs #0, #1: in_family nb101 seeds 0, 1; #2: gennape_zero_shot nb201; #3: gennape_few_shot nb201."""
    nb101, nb201 = load("nb101"), load("nb201")
    runs = [flops_run(nb101, "in_family", seed, ("nb101",), NB101_TARGET) for seed in (0, 1)]
    runs.append(flops_run(nb201, "gennape_zero_shot", 0, ("nb101",), NB201_TARGET))
    runs.append(flops_run(nb201, "gennape_few_shot", 0, ("nb101", "nb201"), NB201_TARGET))
    return write_submission(tmp_path_factory.mktemp("submission") / "flops.json.gz", METHOD, runs, [nb101, nb201])


@pytest.fixture(scope="module")
def valid_document(valid_path):
    return json.loads(gzip.decompress(valid_path.read_bytes()))


def test_valid_submission_metrics_equal_evaluator(valid_path, load):
    result = validate_submission(valid_path, load)
    assert [r.run.key for r in result.runs] == [("in_family", "nb101", NB101_TARGET, 0),
                                                ("in_family", "nb101", NB101_TARGET, 1),
                                                ("gennape_zero_shot", "nb201", NB201_TARGET, 0),
                                                ("gennape_few_shot", "nb201", NB201_TARGET, 0)]
    for recomputed in result.runs:
        run = recomputed.run
        evaluator = Evaluator(load(run.family), split=run.split, part=run.part, target=run.target)
        aligned = [run.predictions[a] for a in evaluator.arch_ids]
        assert recomputed.metrics == evaluator.eval(aligned)
        assert recomputed.arch_ids == evaluator.arch_ids
    # nb201's arch_ids are unique, so the Evaluator's own dict input gives the same numbers
    zero_shot, few_shot = result.runs[2:]
    assert zero_shot.metrics == Evaluator(load("nb201"), split="random").eval(zero_shot.run.predictions)
    assert zero_shot.metrics["n"] == 1563 and 0.5 < zero_shot.metrics["spearman"] < 0.9
    assert few_shot.run.split == "fewshot50" and few_shot.metrics["n"] == 15575
    # FLOPs as predictions know nothing beyond FLOPs
    assert zero_shot.metrics["spearman"] == zero_shot.metrics["flops_spearman"]
    assert zero_shot.metrics["spearman_beyond_flops"] == 0.0


def test_seeds_are_aggregated_as_mean_and_sample_std(valid_path, load):
    result = validate_submission(valid_path, load)
    in_family = next(s for s in result.summaries() if s.track == "in_family")
    spearmans = [r.metrics["spearman"] for r in result.runs[:2]]
    assert in_family.seeds == (0, 1) and in_family.target == NB101_TARGET and in_family.n_test == 50
    assert spearmans[0] != spearmans[1]
    assert in_family.mean["spearman"] == pytest.approx(np.mean(spearmans))
    assert in_family.std["spearman"] == pytest.approx(np.std(spearmans, ddof=1))
    few_shot = next(s for s in result.summaries() if s.track == "gennape_few_shot")
    assert few_shot.std["spearman"] is None and few_shot.trained_on == ("nb101", "nb201")


def test_load_round_trips_the_written_submission(valid_path, valid_document):
    submission = load_submission(valid_path)
    assert submission.method == METHOD
    assert submission.method.scale == "rank" and submission.method.protocol == ProtocolInfo("quick", 300, "no training")
    assert valid_document["method"]["protocol"] == {"name": "quick", "train_cap": 300, "settings": "no training"}
    assert [r.predictions for r in submission.runs] == [r["predictions"] for r in valid_document["runs"]]
    assert [(r["track"], r["split"], r["part"]) for r in valid_document["runs"]] == [
        ("in_family", "random", "test"), ("in_family", "random", "test"), ("gennape_zero_shot", "random", "test"),
        ("gennape_few_shot", "fewshot50", "test")]


def test_the_target_is_part_of_a_runs_key(valid_document, load, tmp_path):
    """Two runs that differ only in their target are two runs, scored against each target's labels and
    aggregated apart; the same target twice is a duplicate."""
    nb201 = load("nb201")
    runs = [flops_run(nb201, "in_family", 0, ("nb201",), target) for target in (NB201_TARGET, NB201_OTHER_TARGET)]
    path = write_submission(tmp_path / "flops.json", METHOD, runs, [nb201])
    result = validate_submission(path, load)
    assert [r.run.key for r in result.runs] == [("in_family", "nb201", NB201_TARGET, 0),
                                                ("in_family", "nb201", NB201_OTHER_TARGET, 0)]
    for scored in result.runs:
        evaluator = Evaluator(nb201, target=scored.run.target)
        np.testing.assert_array_equal(scored.y_true, evaluator.y_true)
        assert scored.metrics == evaluator.eval(scored.run.predictions)
    assert result.runs[0].metrics["spearman"] != result.runs[1].metrics["spearman"]
    # aggregated apart, in (track, family, target) order
    assert [(s.target, s.seeds) for s in result.summaries()] == [(NB201_OTHER_TARGET, (0,)), (NB201_TARGET, (0,))]
    document = json.loads(path.read_text())
    document["runs"][1]["target"] = NB201_TARGET
    with pytest.raises(InvalidSubmissionError, match=rf"run #1 \(in_family nb201 {NB201_TARGET} seed 0\) duplicates "
                                                     r"run #0: one run per \(track, family, target, seed\)"):
        parse_submission(document)


def _run(document, index):
    return document["runs"][index]


def _first_arch_id(document, index):
    return next(iter(_run(document, index)["predictions"]))


def _set_score(index, score):
    def mutate(document):
        _run(document, index)["predictions"][_first_arch_id(document, index)] = score
    return mutate


def _duplicate_arch_id_key(document):
    """The JSON text of ``document`` with run #2's first arch_id written twice."""
    predictions = _run(document, 2)["predictions"]
    _run(document, 2)["predictions"] = "@PREDICTIONS@"
    items = [*predictions.items(), next(iter(predictions.items()))]
    body = ", ".join(f"{json.dumps(arch_id)}: {score!r}" for arch_id, score in items)
    return json.dumps(document).replace('"@PREDICTIONS@"', "{" + body + "}")


def _rename_family(document):
    document["families"]["nb999"] = document["families"]["nb201"]
    _run(document, 2)["family"] = "nb999"


def _parent(document, path):
    """document[path[0]]...[path[-2]]: the node that holds path[-1]."""
    node = document
    for key in path[:-1]:
        node = node[key]
    return node


def _set(path, value):
    """Set document[path[0]][path[1]]... to ``value``."""
    def mutate(document):
        _parent(document, path)[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(document):
        del _parent(document, path)[path[-1]]
    return mutate


def _pop_prediction(document):
    del _run(document, 2)["predictions"][_first_arch_id(document, 2)]


def _add_prediction(document):
    _run(document, 2)["predictions"]["|bogus-arch|"] = 0.5


def _duplicate_run(document):
    document["runs"].append(copy.deepcopy(_run(document, 0)))


def _unused_family(document):
    document["families"]["nasbench_macro"] = {"version": "1.0", "data_sha256": "ab" * 32}


def _seeds_disagree_on_trained_on(document):
    """Run #2 moved to leave-one-out (any other search space may be trained on), and a seed 1 of it that
    trained on one more family."""
    _run(document, 2)["track"] = "lofo_zero_shot"
    other = copy.deepcopy(_run(document, 2))
    other.update(seed=1, trained_on=["nb101", "nasbench_macro"])
    document["runs"].append(other)
    _unused_family(document)


def _truncate(document):
    text = json.dumps(document)
    return text[: len(text) // 2]


ZERO_SHOT = rf"run #2 \(gennape_zero_shot nb201 {NB201_TARGET} seed 0\)"
FEW_SHOT = rf"run #3 \(gennape_few_shot nb201 {NB201_TARGET} seed 0\)"
IN_FAMILY = rf"run #0 \(in_family nb101 {NB101_TARGET} seed 0\)"

MALFORMED = [
    # families and targets
    ("unknown family", _rename_family, r"run #2: unknown family 'nb999'; known families: .*nb201"),
    ("unknown family in trained_on", _set(["runs", 2, "trained_on"], ["nb999"]),
     rf"{ZERO_SHOT}: unknown family 'nb999'; known families: "),
    ("unknown target", _set(["runs", 2, "target"], "bogus_acc"),
     r"run #2 \(gennape_zero_shot nb201 bogus_acc seed 0\): unknown target 'bogus_acc' for nb201; its label columns "
     r"are \[.*'c10_valid_acc_200ep'"),
    ("missing target", _delete(["runs", 0, "target"]), r"run #0 is missing key\(s\) \['target'\]"),
    ("empty target", _set(["runs", 0, "target"], " "), r"run #0 target must be a non-empty string"),
    ("stale data_sha256", _set(["families", "nb101", "data_sha256"], "0" * 64),
     r"families\['nb101'\]: data version differs: .*data_sha256 0000000000000000"),
    ("stale version", _set(["families", "nb201", "version"], "0.9"),
     r"families\['nb201'\]: data version differs: the submission was made against version '0.9'"),
    ("family missing from families", _delete(["families", "nb201"]),
     rf"{ZERO_SHOT} uses family 'nb201', which is missing from \"families\""),
    ("unused family", _unused_family, r"families lists \['nasbench_macro'\], which no run predicts or trains on"),
    # predictions
    ("missing arch_id", _pop_prediction,
     rf"{ZERO_SHOT}: 1 arch_id\(s\) have no prediction, e.g. .*; predict exactly the arch_ids of "
     rf"Evaluator\('nb201', 'random', 'test', target='{NB201_TARGET}'\)\.arch_ids"),
    ("extra arch_id", _add_prediction, rf"{ZERO_SHOT}: 1 arch_id\(s\) are not in nb201 random/test.*'\|bogus-arch\|'"),
    ("duplicated arch_id key", _duplicate_arch_id_key,
     rf"{ZERO_SHOT} predictions: arch_id\(s\) \['.*'\] appear more than once"),
    ("NaN score", _set_score(2, float("nan")), rf"{ZERO_SHOT}: prediction for .* is nan; predictions must be finite"),
    ("inf score", _set_score(0, float("inf")), rf"{IN_FAMILY}: prediction for .* is inf"),
    ("string score", _set_score(3, "0.5"),
     rf"{FEW_SHOT}: prediction for .* is '0.5' \(str\); expected a finite number"),
    # the track rules, checked by the parser
    ("GENNAPE run trained on the family it predicts", _set(["runs", 2, "trained_on"], ["nb201"]),
     rf"{ZERO_SHOT}: the GENNAPE tracks train on NAS-Bench-101 \(nb101_full or nb101\), not 'nb201', got trained_on "
     r"\['nb201'\]"),
    ("few-shot sources in the wrong order", _set(["runs", 3, "trained_on"], ["nb201", "nb101"]),
     rf"{FEW_SHOT}: a gennape_few_shot run trains on \[NAS-Bench-101, 'nb201'\]"),
    ("in_family with other training families", _set(["runs", 0, "trained_on"], ["nb101", "nb201"]),
     rf"{IN_FAMILY}: an in_family run trains on its own family only: trained_on must be \['nb101'\]"),
    ("few_shot with split random", _set(["runs", 3, "split"], "random"),
     rf"{FEW_SHOT}: split is 'random', but the gennape_few_shot track is evaluated on split 'fewshot50'"),
    ("part other than test", _set(["runs", 2, "part"], "valid"), rf"{ZERO_SHOT}: part is 'valid'; only the 'test' part "
                                                                 r"is scored"),
    ("format 1 track name", _set(["runs", 0, "track"], "zero_shot"),
     r"run #0: unknown track 'zero_shot'; expected one of \['in_family', 'gennape_zero_shot'"),
    ("duplicated run", _duplicate_run, rf"run #4 \(in_family nb101 {NB101_TARGET} seed 0\) duplicates run #0"),
    ("seeds disagree on trained_on", _seeds_disagree_on_trained_on,
     rf"runs lofo_zero_shot nb201 {NB201_TARGET} seed 0 and lofo_zero_shot nb201 {NB201_TARGET} seed 1 differ in "
     r"trained_on; the seeds of one \(track, family, target\) are averaged"),
    ("string seed", _set(["runs", 1, "seed"], "1"), r"run #1 seed must be an integer, got '1' \(str\)"),
    ("no runs", _set(["runs"], []), r"runs must be a non-empty list"),
    # the document and its method
    ("submitted metrics", _set(["metrics"], {"spearman": 1.0}),
     r"the submission has unknown key\(s\) \['metrics'\] \(scores are never accepted"),
    ("unknown run key", _set(["runs", 1, "score"], 0.9), r"run #1 has unknown key\(s\) \['score'\]"),
    ("format 1 tag", _set(["format"], "cgbench-submission-1"),
     r"format is 'cgbench-submission-1'; expected 'cgbench-submission-2'"),
    ("missing method name", _delete(["method", "name"]), r"method is missing key\(s\) \['name'\]"),
    ("empty method name", _set(["method", "name"], "  "), r"method.name must be a non-empty string"),
    ("negative n_parameters", _set(["method", "n_parameters"], -1), r"method.n_parameters must be >= 0, got -1"),
    ("non-int n_parameters", _set(["method", "n_parameters"], 12.5),
     r"method.n_parameters must be an integer, got 12.5 \(float\)"),
    ("code_url not http", _set(["method", "code_url"], "javascript:alert(1)"),
     r"method.code_url must be an http\(s\) address"),
    ("truncated JSON", _truncate, r"not valid JSON \(truncated or malformed\)"),
    # method.scale
    ("unknown scale", _set(["method", "scale"], "probability"),
     r"method.scale is 'probability'; expected one of \['target', 'rank'\] \(target: predictions estimate"),
    ("missing scale", _delete(["method", "scale"]), r"method is missing key\(s\) \['scale'\]"),
    ("non-string scale", _set(["method", "scale"], 1), r"method.scale must be a string, got 1 \(int\)"),
    # method.protocol
    ("missing protocol", _delete(["method", "protocol"]), r"method is missing key\(s\) \['protocol'\]"),
    ("protocol as a string", _set(["method", "protocol"], "quick"),
     r"method.protocol must be a JSON object, got 'quick' \(str\)"),
    ("unknown protocol name", _set(["method", "protocol", "name"], "paper"),
     r"method.protocol.name is 'paper'; expected one of \['quick', 'reference', 'full', 'custom', 'published'\]"),
    ("zero train_cap", _set(["method", "protocol", "train_cap"], 0), r"method.protocol.train_cap must be >= 1, got 0"),
    ("string train_cap", _set(["method", "protocol", "train_cap"], "300"),
     r"method.protocol.train_cap must be an integer, got '300' \(str\)"),
    ("protocol without settings", _delete(["method", "protocol", "settings"]),
     r"method.protocol is missing key\(s\) \['settings'\]"),
    ("unknown protocol key", _set(["method", "protocol", "epochs"], 200),
     r"method.protocol has unknown key\(s\) \['epochs'\]"),
]


@pytest.mark.parametrize("mutate, message", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_submission_is_rejected_with_its_message(mutate, message, valid_document, load, tmp_path):
    document = copy.deepcopy(valid_document)
    text = mutate(document)
    path = tmp_path / "submission.json"
    path.write_text(text if text is not None else json.dumps(document))
    with pytest.raises(InvalidSubmissionError, match=message):
        validate_submission(path, load)
    assert path.read_text() == (text if text is not None else json.dumps(document))  # the file is left as it was


def _never_loaded(name):
    raise AssertionError(f"{name} was loaded, but the parser should have refused the submission")


@pytest.mark.parametrize("case", ["unknown family", "unknown family in trained_on",
                                  "GENNAPE run trained on the family it predicts", "few_shot with split random",
                                  "unknown scale", "unknown protocol name"])
def test_the_parser_refuses_before_any_family_is_loaded(case, valid_document, tmp_path):
    """Unknown families, track rules, the method's scale and protocol need no family data: they are
    refused when the file is read, by ``load_submission`` and by the validator before it loads a family."""
    mutate, message = next(c[1:] for c in MALFORMED if c[0] == case)
    document = copy.deepcopy(valid_document)
    mutate(document)
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidSubmissionError, match=message):
        load_submission(path)
    with pytest.raises(InvalidSubmissionError, match=message):
        validate_submission(path, _never_loaded)


def test_training_on_an_unlabelled_family_is_refused(valid_document, load, tmp_path):
    """Leave-one-out may train on any other search space, but only on one with labels: two_path has none."""
    two_path = load("two_path")
    assert two_path.targets == []
    document = copy.deepcopy(valid_document)
    _run(document, 2).update(track="lofo_zero_shot", trained_on=["two_path"])
    document["families"]["two_path"] = {"version": two_path.version, "data_sha256": two_path.data_sha256}
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(document))
    parse_submission(document)  # the track's rule allows it; the labels are checked against the build
    with pytest.raises(InvalidSubmissionError, match=rf"run #2 \(lofo_zero_shot nb201 {NB201_TARGET} seed 0\): "
                                                     r"trained_on names 'two_path', which has no labels to train on"):
        validate_submission(path, load)


def test_protocol_badge_says_how_the_method_was_run():
    assert ProtocolInfo("quick", 300, "no training").badge() == \
        "quick protocol, ≤300 training rows per fit, no training"
    assert ProtocolInfo("full", None, "").badge() == "full protocol, all rows"
    assert MethodInfo("m", "", "https://example.org", "cpu", 0).protocol.badge() == "custom protocol, all rows"


def test_writer_refuses_what_the_validator_would_reject(load, tmp_path):
    nb101 = load("nb101")
    predictions = flops_predictions(nb101, "in_family", 0)
    path = tmp_path / "out.json"
    leaky = Run("gennape_zero_shot", "nb101", NB101_TARGET, 0, ("nb101",), predictions)
    with pytest.raises(InvalidSubmissionError, match="nb101 is NAS-Bench-101 itself"):
        write_submission(path, METHOD, [leaky], [nb101])
    nan = Run("in_family", "nb101", NB101_TARGET, 0, ("nb101",),
              {**predictions, next(iter(predictions)): np.float32("nan")})
    with pytest.raises(InvalidSubmissionError, match="is not finite"):
        write_submission(path, METHOD, [nan], [nb101])
    fine = Run("in_family", "nb101", NB101_TARGET, 0, ("nb101",), predictions)
    with pytest.raises(InvalidSubmissionError, match=r"method.scale is 'ranks'; expected one of"):
        write_submission(path, MethodInfo("flops", "", "https://example.org", "cpu", 0, scale="ranks"), [fine], [nb101])
    with pytest.raises(InvalidSubmissionError, match=r"method.protocol.train_cap must be >= 1, got 0"):
        write_submission(path, MethodInfo("flops", "", "https://example.org", "cpu", 0,
                                          protocol=ProtocolInfo("quick", 0, "")), [fine], [nb101])
    assert list(tmp_path.iterdir()) == []


def test_cli_validate_prints_recomputed_metrics(valid_path, load, capsys):
    main(["leaderboard", "validate", str(valid_path)])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("flops (") and [line.split()[:2] for line in table[2:5]] == [
        ["in_family", "nb101"], ["gennape_zero_shot", "nb201"], ["gennape_few_shot", "nb201"]]
    main(["leaderboard", "validate", str(valid_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    expected = validate_submission(valid_path, load)
    assert report["method"] == "flops"
    assert [r["metrics"]["spearman"] for r in report["runs"]] == [r.metrics["spearman"] for r in expected.runs]
    assert [r["target"] for r in report["runs"]] == [NB101_TARGET] * 2 + [NB201_TARGET] * 2
    assert [(s["track"], s["family"], s["target"], s["seeds"]) for s in report["over_seeds"]] == [
        ("in_family", "nb101", NB101_TARGET, [0, 1]), ("gennape_zero_shot", "nb201", NB201_TARGET, [0]),
        ("gennape_few_shot", "nb201", NB201_TARGET, [0])]


def test_cli_validate_exits_with_the_reason(valid_document, tmp_path, cli_error):
    document = copy.deepcopy(valid_document)
    document["format"] = "other"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    assert re.fullmatch(r"cgbench leaderboard validate: error: invalid submission .*bad.json: format is 'other'; "
                        r"expected 'cgbench-submission-2'", cli_error("leaderboard", "validate", path))


def test_gzip_and_plain_json_hold_the_same_submission(valid_path, load, tmp_path):
    submission = load_submission(valid_path)
    plain = write_submission(tmp_path / "flops.json", submission.method, submission.runs, submission.families)
    assert plain.read_bytes() == gzip.decompress(valid_path.read_bytes())
    assert load_submission(plain) == submission
    assert [r.metrics for r in validate_submission(plain, load).runs] == \
        [r.metrics for r in validate_submission(valid_path, load).runs]
    assert valid_path.stat().st_size * 5 < plain.stat().st_size
    again = write_submission(tmp_path / "again.json.gz", submission.method, submission.runs, submission.families)
    assert again.read_bytes() == valid_path.read_bytes()  # no timestamp in the gzip header


def _truncated(data):
    return data[: len(data) // 2]


def _wrong_checksum(data):
    """The gzip trailer is CRC-32 then size; flip the CRC's bits."""
    return data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]


DAMAGED_FILES = [
    ("truncated gzip", "flops.json.gz", _truncated, r"truncated gzip file \(the compressed stream ends early\)"),
    ("wrong checksum", "flops.json.gz", _wrong_checksum, r"corrupted or not a gzip file \(.*incorrect data check"),
    ("plain JSON named .json.gz", "flops.json.gz", gzip.decompress, r"corrupted or not a gzip file"),
    ("gzip named .json", "flops.json", lambda data: data, r"the file is gzip-compressed; name it \*\.json\.gz"),
    ("other suffix", "flops.txt", gzip.decompress, r"a submission file is named \*\.json\.gz .* or \*\.json"),
]


@pytest.mark.parametrize("name, damage, message", [case[1:] for case in DAMAGED_FILES],
                         ids=[case[0] for case in DAMAGED_FILES])
def test_damaged_file_is_a_clear_error_naming_the_file(name, damage, message, valid_path, load, tmp_path,
                                                        cli_error):
    path = tmp_path / name
    path.write_bytes(damage(valid_path.read_bytes()))
    with pytest.raises(InvalidSubmissionError, match=re.escape(str(path)) + ": " + message):
        validate_submission(path, load)
    assert re.search(re.escape(str(path)) + ": " + message, cli_error("leaderboard", "validate", path))


@pytest.fixture(scope="module")
def random_predictions(load):
    """Random float64 predictions, one per arch_id of nb101's random/test part."""
    arch_ids = dict.fromkeys(Evaluator(load("nb101"), split="random").arch_ids)
    return np.random.default_rng(0).normal(0.7, 0.1, len(arch_ids))


def _stored(load, tmp_path, scores):
    """The predictions as written to a plain .json file (in the order of ``scores``), and the file."""
    nb101 = load("nb101")
    arch_ids = list(dict.fromkeys(Evaluator(nb101, split="random").arch_ids))
    assert len(arch_ids) == len(scores)
    run = Run("in_family", "nb101", NB101_TARGET, 0, ("nb101",), dict(zip(arch_ids, scores)))
    path = write_submission(tmp_path / "predictions.json", METHOD, [run], [nb101])
    stored = json.loads(path.read_text())["runs"][0]["predictions"]
    assert list(stored) == sorted(arch_ids), "stored in arch_id order: the same predictions, the same bytes"
    assert load_submission(path).runs[0].predictions == stored
    return np.array([stored[a] for a in arch_ids]), path


def test_predictions_are_stored_at_8_significant_digits(load, tmp_path, random_predictions):
    scores = random_predictions
    values, path = _stored(load, tmp_path, scores)
    np.testing.assert_array_equal(values, [float(f"{score:.8g}") for score in scores])
    assert not np.array_equal(values, scores)
    assert np.max(np.abs(values - scores) / np.abs(scores)) <= 5e-8  # finer than float32's 6e-8
    numbers = re.findall(r'": (-?[0-9.e+-]+)', path.read_text().split('"predictions"')[1])
    assert len(numbers) == len(scores)
    assert max(len(n.split("e")[0].lstrip("-").replace(".", "").strip("0")) for n in numbers) <= 8


@pytest.mark.parametrize("case", ["near tie", "large offset"])
def test_rounding_never_ties_distinct_predictions(case, load, tmp_path, random_predictions):
    scores = random_predictions.copy()
    if case == "near tie":
        scores[1] = scores[0] * (1 + 1e-10)  # equal at 8, 9 and 10 significant digits
    else:
        scores += 1e12  # 8 digits would keep nothing of the fractions
    values, _ = _stored(load, tmp_path, scores)
    assert len(set(values)) == len(set(scores))
    np.testing.assert_array_equal(np.argsort(values, kind="stable"), np.argsort(scores, kind="stable"))
    assert np.max(np.abs(values - scores) / np.abs(scores)) <= 5e-8

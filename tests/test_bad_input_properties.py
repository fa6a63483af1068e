"""Class 8 of the hostile-input issue: property-based tests of the readers of user input (hypothesis).

For arbitrary bytes and arbitrary JSON, the submission parser, the prediction readers and the
Evaluator either return a valid result or raise their own error (InvalidSubmissionError,
InvalidPredictionsError), never anything else. Documents shaped like a submission or like
predictions, with arbitrary values planted anywhere, reach the deeper checks too.
"""

import gzip
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cgbench import Evaluator, InvalidPredictionsError
from cgbench.predictions import read_predictions
from cgbench.families import list_families
from cgbench.submission import (PROTOCOL_NAMES, SCALES, InvalidSubmissionError, Submission, load_submission,
                                parse_submission)
from cgbench.tasks import TRACKS, training_problem

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=30)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@pytest.fixture(scope="module")
def evaluator(cgbench_home):
    from cgbench import load_family

    return Evaluator(load_family("nb101", progress=False))


# ---------------------------------------------------------------------------------------------
# Submissions


def paths(value, prefix=()):
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, (*prefix, i))


def planted(document, path, value):
    """``document`` with the value at ``path`` replaced by ``value``."""
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


def parses_or_refuses(document) -> None:
    try:
        result = parse_submission(document)
    except InvalidSubmissionError:
        return
    assert isinstance(result, Submission)
    assert all(math.isfinite(v) for run in result.runs for v in run.predictions.values())
    assert result.method.scale in SCALES and result.method.protocol.name in PROTOCOL_NAMES
    assert all(training_problem(run) is None for run in result.runs)


@SETTINGS
@given(document=json_values)
def test_arbitrary_json_is_a_submission_or_invalid(document):
    parses_or_refuses(document)


@SETTINGS
@given(data=st.data(), value=json_values)
def test_a_submission_with_any_value_planted_anywhere_is_valid_or_invalid(submission_document, data, value):
    path = data.draw(st.sampled_from(list(paths(submission_document))))
    parses_or_refuses(planted(submission_document, path, value))


family_names = st.sampled_from(list_families()) | st.text(max_size=12)


@SETTINGS
@given(track=st.sampled_from(list(TRACKS)) | st.text(max_size=12), family=family_names,
       trained_on=st.lists(family_names, max_size=4))
def test_a_run_is_accepted_exactly_when_its_track_and_families_are_known_and_its_rule_holds(
        submission_document, track, family, trained_on):
    """Any track, scored family and training families, known or not: the parser accepts the run if and only
    if the names are known and the track's rule (``cgbench.tasks``) allows it, and never fails otherwise."""
    document = json.loads(json.dumps(submission_document))
    split = TRACKS[track].split if track in TRACKS else "random"
    document["runs"][0].update(track=track, family=family, split=split, trained_on=trained_on)
    document["families"] = {name: {"version": "1.0", "data_sha256": "ab"} for name in {family, *trained_on}}
    known = track in TRACKS and set([family, *trained_on]) <= set(list_families())
    lawful = known and len(set(trained_on)) == len(trained_on) and \
        TRACKS[track].training_problem(family, tuple(trained_on)) is None
    try:
        run, = parse_submission(document).runs
    except InvalidSubmissionError:
        assert not lawful
        return
    assert lawful and (run.track, run.family, run.trained_on) == (track, family, tuple(trained_on))


@SETTINGS
@given(raw=st.binary(max_size=2000), gzipped=st.booleans())
def test_arbitrary_bytes_in_a_submission_file(folder, raw, gzipped):
    path = folder / ("method.json.gz" if gzipped else "method.json")
    path.write_bytes(raw)
    try:
        assert isinstance(load_submission(path), Submission)
    except InvalidSubmissionError:
        pass


@SETTINGS
@given(document=json_values)
def test_arbitrary_json_gzipped_in_a_submission_file(folder, document):
    path = folder / "method.json.gz"
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    try:
        load_submission(path)
    except InvalidSubmissionError:
        pass


# ---------------------------------------------------------------------------------------------
# Predictions files and the Evaluator


def evaluated_or_refused(evaluator, predictions) -> None:
    try:
        values = evaluator.check(predictions)
    except InvalidPredictionsError:
        return
    assert values.shape == (len(evaluator.arch_ids),) and np.isfinite(values).all()


def read_and_evaluated_or_refused(evaluator, path) -> None:
    try:
        predictions = read_predictions(path)
    except InvalidPredictionsError:
        return
    evaluated_or_refused(evaluator, predictions)


@SETTINGS
@given(raw=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".json", ".txt"]))
def test_arbitrary_bytes_in_a_predictions_file(folder, evaluator, raw, suffix):
    path = folder / f"predictions{suffix}"
    path.write_bytes(raw)
    read_and_evaluated_or_refused(evaluator, path)


@SETTINGS
@given(data=st.data())
def test_csv_text_with_real_and_arbitrary_rows(folder, evaluator, data):
    ids = st.sampled_from(evaluator.arch_ids) | st.text(max_size=12)
    cell = st.text(max_size=12) | st.floats().map(repr) | st.integers().map(str)
    header = data.draw(st.sampled_from(["arch_id,y_pred", "y_pred,arch_id,extra", "arch_id", "id,score"]))
    rows = data.draw(st.lists(st.tuples(ids, cell, cell), max_size=20))
    text = header + "\n" + "\n".join(",".join(json.dumps(c) if i == 0 else c for i, c in enumerate(row))
                                     for row in rows)
    path = folder / "predictions.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    read_and_evaluated_or_refused(evaluator, path)


@SETTINGS
@given(predictions=json_values)
def test_arbitrary_json_predictions(evaluator, predictions):
    evaluated_or_refused(evaluator, predictions)


@SETTINGS
@given(data=st.data())
def test_predictions_shaped_like_the_format_with_arbitrary_values(evaluator, data):
    ids = evaluator.arch_ids
    value = st.floats() | st.integers() | json_values
    form = data.draw(st.sampled_from(["mapping", "columns", "list"]))
    chosen = data.draw(st.lists(st.sampled_from(ids) | st.text(max_size=8), max_size=len(ids) + 2)
                       | st.just(list(dict.fromkeys(ids))))
    scores = data.draw(st.lists(value, min_size=len(chosen), max_size=len(chosen)))
    if form == "mapping":
        predictions = dict(zip(chosen, scores))
    elif form == "columns":
        predictions = {"arch_id": chosen, "y_pred": data.draw(st.lists(value, max_size=len(chosen) + 1))}
    else:
        predictions = data.draw(st.lists(value, min_size=len(ids) - 1, max_size=len(ids) + 1))
    evaluated_or_refused(evaluator, predictions)


@SETTINGS
@given(array=hnp.arrays(dtype=hnp.scalar_dtypes() | hnp.unicode_string_dtypes(),
                        shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=60)))
def test_arbitrary_numpy_arrays(evaluator, array):
    evaluated_or_refused(evaluator, array)


@SETTINGS
@given(array=hnp.arrays(np.float64, st.integers(0, 80), elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_float_arrays_of_any_length_and_values(evaluator, array):
    assume(len(array) != len(evaluator.arch_ids) or not np.isfinite(array).all())
    with pytest.raises(InvalidPredictionsError):
        evaluator.check(array)

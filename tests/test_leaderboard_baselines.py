"""The baselines' submissions committed in leaderboard/submissions/ stay valid against the families as built now.

A change to a family's data (its sha256) makes these submissions stale; this test then fails and
the baselines must be rerun (`make run`) rather than the board silently dropping them.
"""

from pathlib import Path

import pytest

from baselines.protocol import DEFAULT_FAMILIES, DEFAULT_METHODS, DEFAULT_SEEDS, DEFAULT_SOURCE
from leaderboard.validate import validate_submission

SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"
N_TARGETS = len(DEFAULT_FAMILIES) - 1  # zero-shot and few-shot predict every family but the source


@pytest.mark.parametrize("method", DEFAULT_METHODS)
def test_committed_baseline_submission_validates(cgbench_home, method):
    validated = validate_submission(SUBMISSIONS / f"{method}.json.gz")
    runs = validated.submission.runs
    assert validated.submission.method.name == method
    assert len(runs) == len(DEFAULT_SEEDS) * (len(DEFAULT_FAMILIES) + 2 * N_TARGETS)
    assert {r.seed for r in runs} == set(DEFAULT_SEEDS)
    assert all(r.trained_on == (DEFAULT_SOURCE,) for r in runs if r.track == "zero_shot")
    assert all(-1.0 <= result.metrics["spearman"] <= 1.0 for result in validated.runs)

"""The baselines' submissions shipped in leaderboard/submissions/ are the quick protocol's runs of
``cgbench benchmark --update-leaderboard`` and stay valid against the families as built now.

A change to a family's data (its sha256), to the task's tracks or to the quick protocol makes these
submissions stale; this test then fails and the baselines must be rerun (``cgbench benchmark
--update-leaderboard``) rather than the board silently dropping them or showing another protocol.
"""

from pathlib import Path

import numpy as np
import pytest

from baselines.defaults import DEFAULT_FAMILIES, DEFAULT_METHODS, FULL_METHODS, QUICK_TRAIN_CAP
from cgbench.submission import GZIP_SUFFIX
from cgbench.tasks import DEFAULT_SEEDS, TRACKS, lofo_sources

SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"
SHIPPED = sorted(path.name[:-len(GZIP_SUFFIX)] for path in SUBMISSIONS.glob(f"*{GZIP_SUFFIX}"))


@pytest.fixture(scope="module")
def quick(cgbench_home):
    """The quick protocol, its loaded families, and per (track, family, target) what a run of it trains on."""
    from baselines.protocol import Coverage, Protocol, load_families

    protocol = Protocol()
    families = load_families(protocol, progress=False)
    plan = Coverage(protocol, families)
    expected = {}
    for track in protocol.tracks:
        for family, target in plan.targets(track):
            expected[track, family, target] = {
                "in_family": (family,), "gennape_zero_shot": (plan.gennape_source,),
                "gennape_few_shot": (plan.gennape_source, family),
                "lofo_zero_shot": tuple(lofo_sources(family, plan.accuracy_families)),
            }.get(track, (family,))  # device transfer: the family's own latencies on other devices
    return protocol, families, expected


def test_the_shipped_methods_are_the_default_ones():
    assert set(DEFAULT_METHODS) <= set(SHIPPED) <= set(FULL_METHODS), SHIPPED
    assert sorted(SUBMISSIONS.glob("*.json")) == [], "the shipped submissions are gzip-compressed"


def test_the_quick_protocol_covers_every_track(quick):
    _, families, expected = quick
    assert set(families) == set(DEFAULT_FAMILIES)
    assert {track for track, _, _ in expected} == set(TRACKS)


@pytest.mark.parametrize("method", sorted(set(DEFAULT_METHODS) | set(SHIPPED)))
def test_shipped_baseline_submission_validates_and_covers_the_quick_protocol(quick, method):
    from baselines.predictor import make_predictor
    from leaderboard.validate import cached_loader, validate_submission

    protocol, families, expected = quick
    path = SUBMISSIONS / f"{method}{GZIP_SUFFIX}"
    assert path.exists(), f"{path.name} is missing: run `cgbench benchmark --update-leaderboard`"
    validated = validate_submission(path, load=cached_loader(families.__getitem__))
    submission = validated.submission
    assert submission.method.name == method
    assert submission.method.protocol.name == "quick" and submission.method.protocol.train_cap == QUICK_TRAIN_CAP
    assert submission.method.protocol.settings == protocol.settings_text(method)
    assert submission.method.scale == make_predictor(method, **protocol.options_for(method)).prediction_scale
    assert set(submission.families) == set(DEFAULT_FAMILIES)
    runs = submission.runs
    assert {(r.track, r.family, r.target): r.trained_on for r in runs} == expected
    assert len(runs) == len(expected) * len(DEFAULT_SEEDS)
    seeds: dict[tuple[str, str, str], set[int]] = {}
    for run in runs:
        seeds.setdefault((run.track, run.family, run.target), set()).add(run.seed)
    assert all(found == set(DEFAULT_SEEDS) for found in seeds.values())
    spearman = np.array([result.metrics["spearman"] for result in validated.runs])
    assert np.all((-1.0 <= spearman) & (spearman <= 1.0)), "every run has a finite Spearman's rho"


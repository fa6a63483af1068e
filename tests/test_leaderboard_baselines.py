"""The baselines' submissions shipped in leaderboard/submissions/ are runs of ``cgbench benchmark
--update-leaderboard`` under the quick or the reference protocol, and stay valid against the families
as built now.

A change to a family's data (its sha256), to the task's tracks or to a protocol makes these
submissions stale; this test then fails and the baselines must be rerun (``cgbench benchmark
--update-leaderboard``, with ``--protocol reference`` for the learned methods shipped at converged
budgets) rather than the board silently dropping them or showing another protocol. A submission may
cover fewer tracks than its protocol (GENNAPE's ablations are shipped on the two GENNAPE tracks), but
every track it covers it covers whole: every family, target and seed. A training-free method (a
zero-cost proxy, NAS-Bench-Suite-Zero's published scores) declares ``trained_on: []`` and covers every
family it can score, on every track.
"""

from pathlib import Path

import numpy as np
import pytest

from baselines.defaults import DEFAULT_FAMILIES, DEFAULT_METHODS, FULL_METHODS
from cgbench.submission import GZIP_SUFFIX
from cgbench.tasks import DEFAULT_SEEDS, TRACKS, lofo_sources

SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"
SHIPPED = sorted(path.name[:-len(GZIP_SUFFIX)] for path in SUBMISSIONS.glob(f"*{GZIP_SUFFIX}"))
# The board holds the graph networks and GENNAPE's ablations at converged budgets, beside the rules.
REFERENCE_METHODS = ("gin", "gennape", "gennape_notf", "gennape_head", "graf_anchored", "zc_ranker")
# NAS-Bench-Suite-Zero's published scores where they cover a whole default family (nwot covers none:
# its NB-201 and NB-301 files score 725 cells of each, its NB-101 file has no nwot).
SUITE_ZERO_SHIPPED = {f"suite_zero_{proxy}" for proxy in ("epe_nas", "fisher", "flops", "grad_norm", "grasp",
                                                           "jacob_cov", "l2_norm", "params", "plain", "snip",
                                                           "synflow", "zen")}


@pytest.fixture(scope="module")
def coverage(cgbench_home):
    """The default families loaded, their coverage plan, and per (track, family, target) what a run of the
    protocols trains on."""
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
    return families, plan, expected


def test_the_shipped_methods_are_the_default_ones_the_reference_ones_and_the_training_free_ones():
    from baselines.predictors import predictor_class

    learned = {method for method in SHIPPED if predictor_class(method).uses_labels}
    assert set(DEFAULT_METHODS) <= learned <= set(FULL_METHODS), SHIPPED
    assert set(REFERENCE_METHODS) <= learned and len(learned) >= 8
    assert {method for method in SHIPPED if method.startswith("suite_zero_")} == SUITE_ZERO_SHIPPED
    assert sorted(SUBMISSIONS.glob("*.json")) == [], "the shipped submissions are gzip-compressed"


def test_the_protocol_covers_every_track(coverage):
    families, _, expected = coverage
    assert set(families) == set(DEFAULT_FAMILIES)
    assert {track for track, _, _ in expected} == set(TRACKS)


@pytest.mark.parametrize("method", sorted(set(DEFAULT_METHODS) | set(SHIPPED)))
def test_shipped_baseline_submission_validates_and_covers_its_protocol(coverage, method):
    from baselines.predictors import make_predictor, predictor_class
    from baselines.protocol import Protocol, method_info
    from leaderboard.validate import cached_loader, validate_submission

    families, plan, expected = coverage
    path = SUBMISSIONS / f"{method}{GZIP_SUFFIX}"
    assert path.exists(), f"{path.name} is missing: run `cgbench benchmark --update-leaderboard`"
    validated = validate_submission(path, load=cached_loader(families.__getitem__))
    submission = validated.submission
    protocol = Protocol.reference() if method in REFERENCE_METHODS else Protocol()
    assert submission.method.name == method
    made_now = method_info(method, protocol, n_parameters=0, hardware="")
    assert submission.method.protocol == made_now.protocol
    assert submission.method.scale == make_predictor(method, **protocol.options_for(method)).prediction_scale
    runs = submission.runs
    tracks = {r.track for r in runs}
    # Every (family, target) of a covered track that the method can score (a training-free method: every
    # track; device_embedding: the latency columns only).
    scored = {(spec.track, spec.family, spec.target) for spec in plan.specs(method)
              if spec.track in tracks or not predictor_class(method).uses_labels}
    assert scored, f"{method} scores none of the default families: it should not be shipped"
    covered = {key: expected[key] if predictor_class(method).uses_labels else () for key in scored}
    assert {(r.track, r.family, r.target): r.trained_on for r in runs} == covered
    assert len(runs) == len(covered) * len(DEFAULT_SEEDS)
    seeds: dict[tuple[str, str, str], set[int]] = {}
    for run in runs:
        seeds.setdefault((run.track, run.family, run.target), set()).add(run.seed)
    assert all(found == set(DEFAULT_SEEDS) for found in seeds.values())
    spearman = np.array([result.metrics["spearman"] for result in validated.runs])
    assert np.all((-1.0 <= spearman) & (spearman <= 1.0)), "every run has a finite Spearman's rho"

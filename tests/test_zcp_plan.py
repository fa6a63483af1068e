import json

import numpy as np
import pytest

from baselines.zcp.proxies import get_proxy
from baselines.zcp import scoring
from baselines.zcp.plan import ZcpPlan, collect_zcp, make_zcp_plan
from baselines.zcp.scoring import load_scores, proxy_recipe, recipe_batches, seeded_network
from cgbench.jobs.backends import local
from cgbench.jobs.plan import PLAN_FILE, load_plan
from cgbench.jobs.store import ResultStore, plan_status
from cgbench.jobs.worker import WorkerOptions, run_units
from labeling.plan import TrainingPlan

PROXIES = ["params", "l2_norm"]
OVERRIDES = {"data": "random"}


@pytest.fixture
def plan(nb201, tmp_path):
    return make_zcp_plan("nb201", PROXIES, OVERRIDES, n=6, seed=0, chunk_size=2, folder=tmp_path / "plan")


def test_a_zcp_plan_is_units_of_chunks_times_proxies_and_loads_as_its_kind(plan, tmp_path):
    assert len(plan.units) == 2 * 3 and {u.proxy for u in plan.units} == set(PROXIES)
    assert all(len(u.arch_ids) == 2 for u in plan.units)
    assert len({u.unit_id for u in plan.units}) == len(plan.units)
    loaded = load_plan(plan.folder)
    assert isinstance(loaded, ZcpPlan) and loaded.units == plan.units
    # The same arguments give the same bytes (a no-op); other arguments into the same folder are refused.
    before = (plan.folder / PLAN_FILE).read_bytes()
    make_zcp_plan("nb201", PROXIES, OVERRIDES, n=6, seed=0, chunk_size=2, folder=plan.folder)
    assert (plan.folder / PLAN_FILE).read_bytes() == before
    with pytest.raises(FileExistsError, match="different plan"):
        make_zcp_plan("nb201", PROXIES, OVERRIDES, n=6, seed=1, chunk_size=2, folder=plan.folder)
    with pytest.raises(ValueError, match="not a training plan"):
        TrainingPlan.load(plan.folder)
    with pytest.raises(ValueError, match="chunk_size"):
        make_zcp_plan("nb201", PROXIES, chunk_size=0, folder=tmp_path / "other")


def test_a_killed_run_resumes_without_recomputing_finished_units(plan, monkeypatch):
    scored = []
    real = scoring.timed_score

    def killed_after_three(proxy, net, batch, recipe):
        if len(scored) == 3:
            raise KeyboardInterrupt  # the worker process is killed in the middle of its second unit
        scored.append(proxy)
        return real(proxy, net, batch, recipe)

    monkeypatch.setattr(scoring, "timed_score", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_units(plan, options=WorkerOptions(progress=False))
    store = ResultStore(plan)
    finished = store.finished()
    assert len(finished) == 1 and plan_status(plan).counts()["pending"] == len(plan.units) - 1

    rescored = []

    def counting(proxy, net, batch, recipe):
        rescored.append(proxy)
        return real(proxy, net, batch, recipe)

    monkeypatch.setattr(scoring, "timed_score", counting)
    summary = run_units(plan, options=WorkerOptions(progress=False))
    assert summary.skipped == sorted(finished, key=[u.unit_id for u in plan.units].index)
    assert len(summary.done) == len(plan.units) - 1 and not summary.failed
    assert len(rescored) == 2 * (len(plan.units) - 1)  # only the unfinished units' architectures
    assert run_units(plan, options=WorkerOptions(progress=False)).done == []  # a third run has nothing to do

    report = collect_zcp(plan, progress=False)
    assert report.added == {"params": 6, "l2_norm": 6}
    nb201 = plan._family()
    for proxy in PROXIES:
        recipe = proxy_recipe(proxy, OVERRIDES)
        scores = load_scores(nb201, proxy, recipe)
        assert np.isfinite(scores).sum() >= 6
        arch_id = plan.units[0].arch_ids[0]
        net = seeded_network(nb201.spec.space, arch_id, recipe, "cpu")
        expected = get_proxy(proxy).score(net, recipe_batches(recipe, nb201.spec.space, "cpu"), recipe)
        assert scores[nb201.arch_ids.index(arch_id)] == pytest.approx(expected)
    # Collecting again adds nothing: stored scores are kept.
    assert collect_zcp(plan, progress=False).added == {"params": 0, "l2_norm": 0}


def test_a_network_that_fails_is_recorded_with_its_error_and_the_others_are_scored(nb201, tmp_path, monkeypatch):
    overrides = {**OVERRIDES, "seed": 11}  # score tables of their own: other tests stored seed 0's
    plan = make_zcp_plan("nb201", PROXIES, overrides, n=6, seed=0, chunk_size=2, folder=tmp_path / "plan")
    failing = plan.units[0].arch_ids[1]

    def one_fails(proxy, net, batch, recipe):
        if proxy == "l2_norm" and net.failing:
            raise RuntimeError("out of memory (simulated)")
        return 1.0, 0.0

    real_network = scoring.seeded_network

    def tagged(space, arch_id, recipe, device):
        net = real_network(space, arch_id, recipe, device)
        net.failing = arch_id == failing
        return net

    monkeypatch.setattr(scoring, "timed_score", one_fails)
    monkeypatch.setattr(scoring, "seeded_network", tagged)
    summary = run_units(plan, options=WorkerOptions(progress=False))
    assert len(summary.done) == len(plan.units) and not summary.failed
    collect_zcp(plan, progress=False)
    nb201 = plan._family()
    table = scoring.score_file(nb201, "l2_norm", proxy_recipe("l2_norm", overrides)).read().to_pylist()
    errors = {row["arch_id"]: row["error"] for row in table if row["error"] is not None}
    assert errors == {failing: "RuntimeError: out of memory (simulated)"} and len(table) == 6
    assert np.isnan(load_scores(nb201, "l2_norm", proxy_recipe("l2_norm", overrides))[nb201.arch_ids.index(failing)])


def test_a_unit_that_fails_otherwise_is_recorded_and_the_others_go_on(plan, monkeypatch):
    def broken(proxy, net, batch, recipe):
        if proxy == "l2_norm":
            raise TypeError("a bug in the proxy (simulated)")
        return 1.0, 0.0

    monkeypatch.setattr(scoring, "timed_score", broken)
    summary = run_units(plan, options=WorkerOptions(progress=False))
    assert len(summary.failed) == 3 and len(summary.done) == 3
    status = plan_status(plan)
    assert len(status.failed) == 3
    record = next(iter(status.failed.values()))
    assert record["proxy"] == "l2_norm" and "simulated" in record["message"] and len(record["arch_ids"]) == 2


def test_the_local_backend_runs_a_zcp_plan_in_worker_processes(plan):
    report = local.launch(plan, devices="cpu", wait=True, progress=False)
    assert report.returncodes == (0,) and report.n_units == len(plan.units)
    store = ResultStore(plan)
    assert store.finished() == {u.unit_id for u in plan.units}
    result = store.read(plan.units[0].unit_id)
    assert len(result["scores"]) == 2 and result["recipe"] == proxy_recipe(plan.units[0].proxy, OVERRIDES).as_dict()
    assert json.loads((plan.folder / "plan.json").read_text())["kind"] == "zcp"

"""`cgbench benchmark` as a plan of the work engine: one unit per (method, track, family, target, seed),
the same predictions whatever the worker count, a killed benchmark that resumes with only the missing
runs, runs reused by a later invocation, failures recorded while the other runs go on, and results
that never mix with another build of a family."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from baselines.benchmark import BenchmarkPlan, collect_runs, make_benchmark_plan
from baselines.predictor import Predictor
from baselines.registry import register_predictor
from baselines.protocol import Protocol, load_families
from cgbench.jobs.plan import load_plan
from cgbench.jobs.store import InvalidResultError, ResultStore, plan_status
from cgbench.jobs.worker import WorkerOptions, run_units

FAMILIES = ("nb101", "nasbench_macro")
TRACKS = ("in_family", "gennape_zero_shot", "gennape_few_shot", "lofo_zero_shot")
ARGS = ["--methods", "flops", "gin", "--families", *FAMILIES, "--seeds", "0", "1", "--tracks", *TRACKS,
        "--no-progress", "--no-submissions"]


def cgbench(*argv: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cgbench.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def stored_predictions(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["predictions"] for p in (out / "store" / "results").glob("*.json")}


@pytest.fixture(scope="module")
def serial(cgbench_home, tmp_path_factory):
    """An uninterrupted run in one process: the reference every other way must match bit for bit."""
    out = tmp_path_factory.mktemp("serial")
    done = cgbench("benchmark", *ARGS, "--out", str(out))
    printed = done.communicate(timeout=900)[0]
    assert done.returncode == 0, printed
    return out, printed


def test_every_run_is_a_unit_of_one_plan(serial):
    out, printed = serial
    (folder,) = (out / "plans").iterdir()
    plan = load_plan(folder)
    assert isinstance(plan, BenchmarkPlan) and plan.protocol.seeds == (0, 1)
    # per method and seed: 2 in-family, gennape zero- and few-shot on macro, 2 leave-one-out
    assert len(plan.units) == 2 * 2 * 6 and plan_status(plan).counts()["done"] == 24
    assert {(u.method, u.track, u.family, u.seed) for u in plan.units} == {
        (m, t, f, s) for m in ("flops", "gin") for s in (0, 1) for t, f in (
            ("in_family", "nb101"), ("in_family", "nasbench_macro"), ("gennape_zero_shot", "nasbench_macro"),
            ("gennape_few_shot", "nasbench_macro"), ("lofo_zero_shot", "nb101"), ("lofo_zero_shot", "nasbench_macro"))}
    record = json.loads(next((out / "store" / "results").glob("*.json")).read_text())
    assert record["device"] == "cpu" and record["torch_threads"] == 1 and record["git_revision"]
    assert f"plan {folder}: 24 runs" in printed and "gin     in_family" in printed


def test_two_workers_give_the_serial_predictions(serial, tmp_path):
    done = cgbench("benchmark", *ARGS, "--out", str(tmp_path), "--workers", "2")
    printed = done.communicate(timeout=900)[0]
    assert done.returncode == 0, printed
    assert "local: 24 pending units in 2 tasks" in printed
    assert stored_predictions(tmp_path) == stored_predictions(serial[0])


def test_a_killed_benchmark_resumes_with_only_the_missing_runs(serial, tmp_path):
    results = tmp_path / "store" / "results"
    running = cgbench("benchmark", *ARGS, "--out", str(tmp_path), start_new_session=True)
    deadline = time.monotonic() + 600
    while len(list(results.glob("*.json")) if results.is_dir() else []) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in results.glob("*.json")}
    assert 6 <= len(before) < 24, "killed midway"
    again = cgbench("benchmark", *ARGS, "--out", str(tmp_path), "--workers", "2")
    printed = again.communicate(timeout=900)[0]
    assert again.returncode == 0, printed
    assert f"local: {24 - len(before)} pending units in 2 tasks" in printed
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in results.glob("*.json")}
    assert all(after[name] == kept for name, kept in before.items()), "finished runs are never redone"
    assert stored_predictions(tmp_path) == stored_predictions(serial[0])


def test_a_later_invocation_reuses_the_runs_it_shares(serial, tmp_path, capsys):
    from cgbench.cli import main

    def invoke(*seeds: str) -> list[str]:
        capsys.readouterr()
        main(["benchmark", "--methods", "flops", "--families", *FAMILIES, "--seeds", *seeds, "--tracks", "in_family",
              "--no-progress", "--no-submissions", "--out", str(tmp_path)])
        return [line for line in capsys.readouterr().out.splitlines() if line.startswith("done ")]

    assert len(invoke("0")) == 2
    first = {p.name: p.read_bytes() for p in (tmp_path / "store" / "results").glob("*.json")}
    ran = invoke("0", "1")
    assert len(ran) == 2 and all("seed 1" in line for line in ran), "only the runs of the new seed"
    assert len(list((tmp_path / "plans").iterdir())) == 2 and len(stored_predictions(tmp_path)) == 4
    assert all((tmp_path / "store" / "results" / name).read_bytes() == data for name, data in first.items())
    assert set(stored_predictions(tmp_path)) <= set(stored_predictions(serial[0])), \
        "the same run has the same id in every OUT"


@register_predictor
class FailsOnMacro(Predictor):
    """A test double: the FLOPs rule, except that it cannot predict NAS-Bench-Macro."""

    name = "test_fails_on_macro"
    description = "test double"
    prediction_scale = "rank"

    def fit(self, data, seed, valid=None):
        return None

    def predict(self, family, indices):
        if family.name == "nasbench_macro":
            raise RuntimeError("no predictions for nasbench_macro")
        return family.table.column("flops").to_numpy()[indices].astype(float)


def test_a_failed_run_is_recorded_and_named_and_the_others_go_on(cgbench_home, tmp_path, capsys):
    from cgbench.cli import main

    argv = ["benchmark", "--methods", "flops", FailsOnMacro.name, "--families", *FAMILIES, "--seeds", "0",
            "--tracks", "in_family", "--no-progress", "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match="1 runs failed"):
        main(argv)
    printed = capsys.readouterr().out
    assert f"FAILED {FailsOnMacro.name}: 1 runs, no submission: {FailsOnMacro.name} in_family nasbench_macro" in printed
    assert "RuntimeError: no predictions for nasbench_macro" in printed
    assert (tmp_path / "submissions" / "flops.json.gz").exists()
    assert not (tmp_path / "submissions" / f"{FailsOnMacro.name}.json.gz").exists()
    plan = load_plan(next((tmp_path / "plans").iterdir()))
    (record,) = plan_status(plan).failed.values()
    assert record["method"] == FailsOnMacro.name and record["message"] == "no predictions for nasbench_macro"
    assert plan_status(plan).counts() == {"done": 3, "pending": 0, "in_progress": 0, "failed": 1}


def test_results_never_pass_for_another_unit_or_another_build(cgbench_home, tmp_path):
    protocol = Protocol(families=FAMILIES, seeds=(0,), tracks=("in_family",))
    families = load_families(protocol, progress=False)
    plan = make_benchmark_plan(tmp_path, protocol, ["flops"], families)
    assert make_benchmark_plan(tmp_path, protocol, ["flops"], families).units == plan.units  # same args, same plan
    store = ResultStore(plan)
    first, second = plan.units
    run_units(plan, [first.unit_id], WorkerOptions(progress=False))
    store.result_path(second.unit_id).write_text(store.result_path(first.unit_id).read_text())
    with pytest.raises(InvalidResultError, match="its unit is not the plan's unit"):
        store.read(second.unit_id)
    store.result_path(second.unit_id).unlink()
    rebuilt = replace(plan, family_versions={**plan.family_versions, "nb101": "0" * 64})
    summary = run_units(rebuilt, options=WorkerOptions(progress=False))
    assert summary.failed == [second.unit_id]
    assert "the data of nb101 changed since the plan" in store.failure(second.unit_id)["message"]
    collected = collect_runs(plan)
    assert [u.unit_id for u in collected.missing] == [second.unit_id] and len(collected.runs["flops"]) == 1
    run, record = collected.runs["flops"][0]
    assert run.key == ("in_family", first.family, first.target, 0) and record["n_parameters"] == 0
    assert np.isfinite(list(run.predictions.values())).all()

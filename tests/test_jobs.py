"""The work engine (cgbench.jobs) on its own: plans of function calls, the worker loop, claims shared by
workers of one launch, groups kept whole, failures recorded, resumption, and plan kinds by entry point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cgbench.errors import InvalidInputError
from cgbench.jobs.calls import CallPlan, make_call_plan, reference_of, run_callables
from cgbench.plugins import import_object
from cgbench.jobs.plan import InvalidPlanError, load_plan, plan_kinds, read_plan_file, stable_id
from cgbench.jobs.store import ResultStore, plan_status
from cgbench.jobs.worker import WorkerOptions, claim, grouped, run_units, shard, shard_groups

QUIET = WorkerOptions(progress=False)


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def slow_square(x, marker_folder):
    """Squares, leaving a file per call, slowly enough for a test to kill the worker midway."""
    Path(marker_folder, f"{x}.started").touch()
    time.sleep(0.3)
    return x * x


def test_plan_kinds_are_registered_by_entry_point():
    assert {"train", "zcp", "benchmark", "calls"} <= set(plan_kinds())


def test_a_call_plan_runs_once_and_resumes(tmp_path):
    calls = {f"sq{i}": (square, (i,)) for i in range(5)}
    values = run_callables(calls, tmp_path / "plan", progress=False)
    assert values == {f"sq{i}": i * i for i in range(5)}
    plan = load_plan(tmp_path / "plan")
    assert isinstance(plan, CallPlan) and plan_status(plan).counts()["done"] == 5
    results = {p.name: p.read_bytes() for p in plan.results_dir.iterdir()}
    more = {**calls, "sq9": (square, (9,))}
    with pytest.raises(FileExistsError, match="different plan"):
        run_callables(more, tmp_path / "plan", progress=False)
    assert run_callables(calls, tmp_path / "plan", progress=False) == values  # nothing rerun
    assert {p.name: p.read_bytes() for p in plan.results_dir.iterdir()} == results


def test_a_failing_call_is_recorded_and_the_others_go_on(tmp_path, capsys):
    values = run_callables({f"c{i}": (fail_on_three, (i,)) for i in range(5)}, tmp_path / "plan", progress=False)
    assert values == {"c0": 0, "c1": 1, "c2": 2, "c3": None, "c4": 4}
    assert "failed (see" in capsys.readouterr().out
    plan = load_plan(tmp_path / "plan")
    failed = plan_status(plan).failed
    (record,) = failed.values()
    assert record["error_type"] == "ValueError" and record["message"] == "three is not allowed"


def test_calls_are_found_by_module_or_by_file():
    assert reference_of(stable_id) == "cgbench.jobs.plan:stable_id"
    reference = reference_of(square)
    assert reference.endswith("tests/test_jobs.py:square") and Path(reference.split(":")[0]).is_absolute()
    assert import_object(reference)(4) == 16
    with pytest.raises(InvalidInputError, match="defines no"):
        import_object("cgbench.jobs.plan:no_such_thing")
    with pytest.raises(InvalidInputError, match="is not a file"):
        import_object("/no/such/file.py:f")


def test_an_edited_call_plan_is_refused(tmp_path):
    import pyarrow.parquet as pq

    plan = make_call_plan(tmp_path / "p", {"a": (square, (2,))})
    table, _, file = read_plan_file(plan.folder)
    edited = table.set_column(3, "arguments", __import__("pyarrow").array(["[3]"]))
    pq.write_table(edited.replace_schema_metadata(table.schema.metadata), file)
    with pytest.raises(InvalidPlanError, match="edited after the plan was made"):
        load_plan(tmp_path / "p")


def test_groups_stay_whole_and_shards_balance():
    units = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("c", 5), ("c", 6)]
    assert grouped(units, lambda u: u[0]) == [[("a", 1), ("a", 3)], [("b", 2)], [("c", 4), ("c", 5), ("c", 6)]]

    class Keyed:
        @staticmethod
        def group_key(unit):
            return unit[0]

    parts = shard_groups(Keyed, units, 2)
    assert sorted(map(len, parts)) == [3, 3] and sorted(u for p in parts for u in p) == sorted(units)
    assert all(len({u[0] for u in p} & {u[0] for u in q}) == 0 for p in parts for q in parts if p is not q)
    assert shard(list(range(7)), 3, 1) == [1, 4]


def test_a_claim_goes_to_exactly_one_worker(tmp_path):
    class Keyed:
        @staticmethod
        def group_key(unit):
            return unit

    assert claim(tmp_path, Keyed, ["x"]) and not claim(tmp_path, Keyed, ["x"]) and claim(tmp_path, Keyed, ["y"])


def test_workers_sharing_claims_run_every_unit_once(tmp_path):
    plan = make_call_plan(tmp_path / "p", {f"s{i}": (square, (i,)) for i in range(8)})
    claims = tmp_path / "claims"
    claims.mkdir()
    first = run_units(plan, options=QUIET, claims=claims)
    second = run_units(plan, options=QUIET, claims=claims)
    assert len(first.done) == 8 and second.done == [] and len(second.skipped) == 8


def test_local_workers_share_the_units_of_a_launch(tmp_path):
    from cgbench.jobs.backends import local

    plan = make_call_plan(tmp_path / "p", {f"s{i}": (square, (i,)) for i in range(6)})
    report = local.launch(plan, options=QUIET, workers=2, progress=False)
    assert report.returncodes == (0, 0) and report.n_tasks == 2
    store = ResultStore(plan)
    assert store.finished() == {u.unit_id for u in plan.units}
    logs = "".join(p.read_text() for p in report.log_dir.glob("worker-*.log"))
    published = [line for line in logs.splitlines() if line.startswith("done ")]
    assert len(published) == 6, "each unit ran in exactly one worker"
    assert local.launch(plan, options=QUIET, workers=2, progress=False).n_tasks == 0


def test_a_killed_worker_loses_only_the_unit_in_flight(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    plan = make_call_plan(tmp_path / "p", {f"s{i}": (slow_square, (i, str(markers))) for i in range(6)})
    worker = subprocess.Popen([sys.executable, "-m", "cgbench.jobs.worker", str(plan.folder), "--no-progress"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = ResultStore(plan)
    deadline = time.monotonic() + 120
    while len(store.finished()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    done = store.finished()
    assert 2 <= len(done) < 6 and not list(plan.results_dir.glob("*.tmp"))
    for uid in done:
        assert json.loads(store.result_path(uid).read_text())["value"] == store.read(uid)["value"]
    summary = run_units(plan, options=QUIET)
    assert set(summary.skipped) == done and len(summary.done) == 6 - len(done)
    assert {store.read(u.unit_id)["value"] for u in plan.units} == {i * i for i in range(6)}

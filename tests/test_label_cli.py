"""``cgbench label``: plan, launch on CPU as real processes (killed and relaunched), status, verify, collect.

The launches run ``cgbench label launch PLAN --backend local --devices cpu`` as a subprocess, as a user
would; the other commands go through ``cgbench.cli.main`` in this process (same parser, same entry
point) to spare the interpreter start-ups. Networks are HiAML's, trained for real on CPU under a
recipe file (64 synthetic images, 4 epochs) so a kill lands between checkpoints.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cgbench.cli import main
from cgbench.jobs.backends.local import worker_slots
from cgbench.jobs.store import ResultStore
from cgbench.jobs.worker import shard
from labeling.plan import TrainingPlan
from labeling.recipe import Recipe

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = Recipe(name="tiny_kill", epochs=4, batch_size=32, lr=0.05, precision="fp32", n_train=64)
CGBENCH = str(Path(sys.executable).parent / "cgbench")
CHECKPOINT_WAIT_SECONDS = 240


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny_kill.json"
    path.write_text(json.dumps(RECIPE.as_dict()))
    return path


@pytest.fixture
def restore_hiaml(restore_collected):
    restore_collected("hiaml")


def cgbench(capsys, *args: str) -> str:
    main(["label", *args])
    return capsys.readouterr().out


def launch_command(plan: Path, data_root: Path) -> list[str]:
    return [CGBENCH, "label", "launch", str(plan), "--backend", "local", "--devices", "cpu", "--wait",
            "--data-root", str(data_root)]


def worker_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def launch_and_kill_at_first_checkpoint(folder: Path, data_root: Path) -> str:
    """Start a launch, SIGKILL it and its worker once a unit has checkpointed an epoch; that unit's id."""
    checkpoints = folder / "checkpoints"
    launcher = subprocess.Popen(launch_command(folder, data_root), env=worker_env(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + CHECKPOINT_WAIT_SECONDS
    try:
        while not (found := list(checkpoints.glob("*.pt"))):
            assert launcher.poll() is None, "the launch ended before any unit checkpointed"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
    return found[0].stem


def test_plan_launch_kill_relaunch_status_verify_collect(capsys, tmp_path, data_root, recipe_file, restore_hiaml,
                                                        cli_error):
    from cgbench import load_family

    folder = tmp_path / "plan"
    out = cgbench(capsys, "plan", "hiaml", "--n", "3", "--seed", "5", "--recipe", str(recipe_file),
                  "--out", str(folder))
    assert f"3 units (hiaml, recipe tiny_kill {RECIPE.hash})" in out
    plan = TrainingPlan.load(folder)
    assert "0 done, 3 pending, 0 in progress, 0 failed" in cgbench(capsys, "status", str(folder))

    # Without CIFAR-10 nothing starts: the launch says which command gets it (or fakes it offline).
    line = cli_error("label", "launch", folder, "--backend", "local", "--devices", "cpu", "--wait",
                     "--data-root", tmp_path / "no-cifar-here")
    assert line == (f"cgbench label launch: error: no CIFAR-10 in {tmp_path / 'no-cifar-here' / 'cifar-10-batches-py'}. "
                    f"Run `cgbench label data --download --data-root {tmp_path / 'no-cifar-here'}` (needs internet), "
                    "pass --download here, or rehearse offline on a stand-in: `cgbench label data --synthetic 5000`")
    assert "0 done, 3 pending, 0 in progress, 0 failed" in cgbench(capsys, "status", str(folder))

    killed = launch_and_kill_at_first_checkpoint(folder, data_root)
    store = ResultStore(plan)
    assert not store.done(killed) and plan.checkpoint_path(killed).is_file()
    out = cgbench(capsys, "status", str(folder))
    assert "0 done, 2 pending, 1 in progress, 0 failed" in out and f"in progress: {killed}" in out

    relaunch = subprocess.run(launch_command(folder, data_root), env=worker_env(), capture_output=True, text=True,
                              timeout=600)
    assert relaunch.returncode == 0, relaunch.stdout + relaunch.stderr
    assert "3 pending units in 1 tasks" in relaunch.stdout and "exit codes [0]" in relaunch.stdout
    assert "estimate: about" in relaunch.stdout and "3 pending units on 1 worker(s)" in relaunch.stdout
    assert sorted(p.name for p in plan.results_dir.iterdir()) == sorted(f"{u.unit_id}.json" for u in plan.units)
    assert not list(plan.checkpoints_dir.iterdir()) and not list(plan.failures_dir.iterdir() if plan.failures_dir.exists() else [])
    results = {u.unit_id: store.read(u.unit_id) for u in plan.units}
    assert {uid: r["resumed_from_checkpoint"] for uid, r in results.items()} == {
        u.unit_id: u.unit_id == killed for u in plan.units}
    assert all([e["epoch"] for e in r["train"]["epochs"]] == [1, 2, 3, 4] for r in results.values())
    assert "3 done, 0 pending, 0 in progress, 0 failed" in cgbench(capsys, "status", str(folder))
    assert "nothing to do" in cgbench(capsys, "launch", str(folder), "--devices", "cpu", "--wait",
                                      "--data-root", str(data_root))

    out = cgbench(capsys, "verify", str(folder), "--k", "3", "--data-root", str(data_root))
    report = json.loads((folder / "verify" / "report.json").read_text())
    assert {u["unit_id"] for u in report["units"]} == set(results) and report["max_abs_diff"] == 0.0
    for unit in report["units"]:
        stored = results[unit["unit_id"]]["train"]
        assert (unit["retrained_final"], unit["retrained_best"]) == (stored["final_test_acc"], stored["best_test_acc"])
    assert "mean |diff| 0.0000" in out

    out = cgbench(capsys, "collect", str(folder))
    assert "collected 3 results (3 architectures) into hiaml: c10_tiny_kill_final, c10_tiny_kill_best" in out
    family = load_family("hiaml", progress=False)
    final = family.labels("c10_tiny_kill_final")
    rows = {a: i for i, a in enumerate(family.arch_ids)}
    assert {r["unit"]["arch_id"]: final[rows[r["unit"]["arch_id"]]] for r in results.values()} == {
        r["unit"]["arch_id"]: r["train"]["final_test_acc"] for r in results.values()}
    assert np.isnan(final).sum() == len(family) - 3
    provenance = family.manifest["collected_labels"]["c10_tiny_kill_final"]["provenance"]
    assert provenance["recipe"] == RECIPE.as_dict() and provenance["plans"] == [str(folder)]


def test_cli_refuses_bad_input_with_the_reason(cli_error, tmp_path):
    assert "neither a registered recipe" in cli_error("label", "plan", "hiaml", "--n", "2", "--recipe",
                                                      "no_such_recipe", "--out", tmp_path / "p")
    assert "comma-separated integers" in cli_error("label", "plan", "hiaml", "--n", "2", "--recipe", "tiny_cpu",
                                                   "--train-seeds", "0,x")
    assert "does not exist" in cli_error("label", "status", tmp_path / "nowhere")


def test_local_worker_slots_follow_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert worker_slots("cuda", 1) == [("3", "cuda:0"), ("5", "cuda:0")]
    assert worker_slots("cuda", 2) == [("3", "cuda:0"), ("3", "cuda:0"), ("5", "cuda:0"), ("5", "cuda:0")]
    assert worker_slots("cpu", 1) == [(None, "cpu")]
    assert worker_slots("cpu", workers=3) == [(None, "cpu")] * 3
    with pytest.raises(ValueError, match="per_gpu applies to GPUs"):
        worker_slots("cpu", 2)
    with pytest.raises(ValueError, match="must be >= 1"):
        worker_slots("cpu", workers=0)
    with pytest.raises(ValueError, match="devices must be one of"):
        worker_slots("tpu", 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(RuntimeError, match="no GPU is visible"):
        worker_slots("cuda", 1)


def test_shards_are_round_robin_and_cover_every_unit():
    units = list(range(10))
    parts = [shard(units, 3, i) for i in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(sum(parts, [])) == units
    with pytest.raises(ValueError, match="shard index"):
        shard(units, 3, 3)

"""The submitit backend on a real one-node SLURM cluster: a job array whose tasks are killed or
preempted mid-unit, then relaunched, ends with exactly one result per unit.

One scenario, since every step costs real training time on two cores: a plan of 4 HiAML units
(a 12-epoch recipe on 64 synthetic images written in the official CIFAR-10 format) goes out as an
array of 2 tasks with 2 units each. Once each task has checkpointed its first unit,

- task 0 is cancelled with ``scancel`` (SIGTERM, which submitit ignores, then SIGKILL): its unit
  is left with a checkpoint and no result, and its second unit never starts;
- task 1 gets the USR2 that SLURM sends before a time limit or preemption: submitit calls the
  task's ``checkpoint()`` and requeues it with ``scontrol requeue``; the test lifts SLURM's requeue
  delay (about two minutes) with ``scontrol update StartTime=now``, and the requeued task resumes
  its unit from the checkpoint and finishes both.

A second launch while the array runs is refused. Launching the plan again once both tasks have ended
submits only task 0's two units, and they finish. The store then holds
one result per unit, no partial files, no failure records and no checkpoints.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import replace

import pytest
import submitit

from cgbench.jobs.backends import slurm
from cgbench.jobs.store import ResultStore
from cgbench.jobs.worker import PlanBusyError, WorkerOptions
from labeling.plan import make_plan
from labeling.recipe import get_recipe

pytest_plugins = ["conftest_slurm"]

N_UNITS = 4
EPOCHS = 12
N_TASKS = 2
DEADLINE_S = 240.0


@pytest.fixture(scope="module")
def plan(cgbench_home, tmp_path_factory):
    # Twelve epochs leave eleven after the first checkpoint: several seconds more than a cancelled task
    # runs on before its SIGKILL (srun's grace of up to 4 s, then KillWait = 2 s). With four epochs
    # an unloaded machine finished the unit inside that window.
    recipe = replace(get_recipe("tiny_cpu"), name="slurm_test", epochs=EPOCHS, batch_size=8, n_train=64)
    return make_plan("hiaml", N_UNITS, seed=0, recipe=recipe, folder=tmp_path_factory.mktemp("plan") / "p",
                     progress=False)


def job_record(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, check=True)
    return dict(re.findall(r"(?<!\S)([A-Za-z]+)=(\S*)", out.stdout.splitlines()[0]))


def await_condition(condition, what: str, plan, deadline_s: float = DEADLINE_S) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            logs = "\n".join(f"== {p.name}\n{p.read_text()[-1500:]}" for p in sorted((plan.folder / "slurm").glob(
                "*_log.*")))
            pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}\n{logs}")
        time.sleep(0.1)


def interrupt_once_checkpointed(plan, commands: dict[str, list[str]], first_unit_of: dict[str, str]) -> None:
    """Runs each task's command as soon as the task has checkpointed its first unit (tasks start apart)."""
    waiting = dict(commands)

    def act() -> bool:
        for task, command in list(waiting.items()):
            if plan.checkpoint_path(first_unit_of[task]).exists():
                subprocess.run(command, check=True)
                del waiting[task]
        return not waiting

    await_condition(act, "every task to checkpoint its first unit", plan)


def task_ended(job_id: str) -> bool:
    return job_record(job_id)["JobState"] in {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY",
                                               "NODE_FAIL"}


def sacct_states(array_id: str) -> dict[str, str]:
    out = subprocess.run(["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", array_id],
                         capture_output=True, text=True, check=True).stdout
    header, *rows = out.splitlines()
    assert header == "JobID|State|NodeList"
    return {row.split("|")[0]: row.split("|")[1] for row in rows}


def test_killed_and_preempted_tasks_end_with_exactly_one_result_per_unit(slurm_cluster, plan, data_root):
    store = ResultStore(plan)
    options = WorkerOptions(data_root=str(data_root))
    report = slurm.launch(plan, options=options, array_parallelism=N_TASKS, timeout_min=30, progress=False)
    assert (report.backend, report.n_tasks, report.n_units, len(report.job_ids)) == ("submitit", 2, 4, 2)
    killed_task, preempted_task = report.job_ids
    # A second launch while the array runs is refused, naming the array; it submits nothing.
    with pytest.raises(PlanBusyError, match=rf"array job {killed_task.split('_')[0]} of .* is still queued or "
                                            r"running on the cluster"):
        slurm.launch(plan, options=options, array_parallelism=N_TASKS, timeout_min=30, progress=False)
    first_of = {task: plan.units[index].unit_id for index, task in enumerate(report.job_ids)}
    second_of = {task: plan.units[index + N_TASKS].unit_id for index, task in enumerate(report.job_ids)}

    interrupt_once_checkpointed(plan, {killed_task: ["scancel", killed_task],
                                       preempted_task: ["scancel", "--signal=USR2", preempted_task]}, first_of)

    await_condition(lambda: task_ended(killed_task), f"cancelled task {killed_task} to end", plan)
    assert job_record(killed_task)["JobState"] == "CANCELLED"
    # submitit sees the end of a task that wrote no result only through sacct (the stand-in here).
    killed_job = submitit.SlurmJob(plan.folder / "slurm", killed_task)
    assert killed_job.done(force_check=True) and killed_job.state == "CANCELLED"
    assert slurm.task_returncode(killed_job) == 1
    assert plan.checkpoint_path(first_of[killed_task]).exists()
    assert not store.done(first_of[killed_task]), "the task finished its unit before the kill took effect"
    assert not store.done(second_of[killed_task])

    await_condition(lambda: job_record(preempted_task)["Restarts"] == "1"
                    and job_record(preempted_task)["JobState"] == "PENDING", "the preempted task's requeue", plan)
    assert not store.done(first_of[preempted_task])
    subprocess.run(["scontrol", "update", f"JobId={preempted_task}", "StartTime=now"], check=True)
    await_condition(lambda: task_ended(preempted_task), f"requeued task {preempted_task} to end", plan)
    assert job_record(preempted_task)["JobState"] == "COMPLETED"
    requeued = store.read(first_of[preempted_task])
    assert requeued["resumed_from_checkpoint"] is True
    assert requeued["slurm"]["restart_count"] == "1"
    assert store.done(second_of[preempted_task])
    array_id = killed_task.split("_")[0]
    assert sacct_states(array_id) == {killed_task: "CANCELLED", preempted_task: "COMPLETED"}

    relaunch = slurm.launch(plan, options=options, array_parallelism=N_TASKS, timeout_min=30, wait=True,
                            progress=False)
    assert (relaunch.n_units, relaunch.n_tasks, relaunch.returncodes) == (2, 2, (0, 0))
    assert store.read(first_of[killed_task])["resumed_from_checkpoint"] is True
    assert store.read(second_of[killed_task])["resumed_from_checkpoint"] is False

    assert_one_complete_result_per_unit(plan, store)
    again = slurm.launch(plan, options=options, array_parallelism=N_TASKS, progress=False)
    assert (again.n_tasks, again.n_units, again.job_ids) == (0, 0, ())


def assert_one_complete_result_per_unit(plan, store: ResultStore) -> None:
    results = sorted(p.name for p in plan.results_dir.iterdir())
    assert results == sorted(f"{unit.unit_id}.json" for unit in plan.units)
    for unit in plan.units:
        record = store.read(unit.unit_id)
        assert record["unit"]["arch_id"] == unit.arch_id
        assert [e["epoch"] for e in record["train"]["epochs"]] == list(range(1, EPOCHS + 1))
    assert not plan.failures_dir.exists() or not any(plan.failures_dir.iterdir()), "failure records remain"
    assert not any(plan.checkpoints_dir.iterdir()), "checkpoints remain after every unit finished"


def test_launch_refuses_bad_options(plan, data_root):
    with pytest.raises(ValueError, match="gpus_per_node must be 0"):
        slurm.launch(plan, options=WorkerOptions(data_root=str(data_root)), gpus_per_node=2)
    with pytest.raises(ValueError, match="array_parallelism must be >= 1"):
        slurm.launch(plan, options=WorkerOptions(data_root=str(data_root)), array_parallelism=0)
    with pytest.raises(ValueError, match="units_per_task must be >= 1"):
        slurm.launch(plan, options=WorkerOptions(data_root=str(data_root)), units_per_task=0)


def test_task_count_follows_units_per_task_or_parallelism():
    assert slurm.count_tasks(10, 4, None) == 4
    assert slurm.count_tasks(3, 4, None) == 3
    assert slurm.count_tasks(10, 4, 3) == 4
    assert slurm.count_tasks(10, 2, 5) == 2
    assert slurm.count_tasks(0, 4, None) == 0

"""The ``submitit`` backend: a plan's pending units as one SLURM job array (any plan kind).

Choices:

- submitit (``AutoExecutor(folder=<plan>/slurm, cluster="slurm")`` and ``map_array``) writes the
  sbatch script, pickles each task's call and reads back results and tracebacks; its folder holds
  every task's pickles and logs (``<ARRAY>_<TASK>_0_log.{out,err}``), one folder for all launches.
- Only the units pending at launch are split, whole groups at a time
  (:func:`cgbench.jobs.worker.shard_groups`: units that share work stay together), and each array
  task is handed its own unit ids, fixed at submission. Recomputing the split inside a task
  would change as other tasks finish units, so two tasks could pick the same unit or none would.
- The task (:class:`ShardTask`) is a ``submitit.helpers.Checkpointable``: on preemption or near its
  time limit SLURM sends USR2, submitit calls ``checkpoint()`` (inherited: the same call again) and
  requeues the task with ``scontrol requeue``. Nothing in memory needs saving: the requeued task
  runs :func:`cgbench.jobs.worker.run_units` on the same ids, which skips units that have a result
  and resumes the interrupted one (from its last checkpoint, for kinds that write one). Because every
  run makes progress (at least one unit, or one epoch of a checkpointing unit, must fit in ``timeout_min``), timeouts may requeue a task up to
  :data:`MAX_TIMEOUT_REQUEUES` times, not submitit's default 3. A task that dies without a requeue
  (cancelled, killed, node lost) loses at most the epoch in flight: launching the plan again submits
  a new array for whatever is still pending. Requeued jobs wait for SLURM's requeue delay (about two
  minutes in Slurm 22.05) before they can start again.
- A launch records its array's task ids (``slurm/launched``). A second launch while any of them is
  pending, running or requeued on the cluster is a :class:`~cgbench.jobs.worker.PlanBusyError`
  naming the array (``squeue``/``scancel`` it), not a second array on the same units; two launches
  from one machine at once are serialised by the plan's launch lock.
- One array task runs its units one after another on one device: ``cuda:0`` with
  ``gpus_per_node=1`` (SLURM sets ``CUDA_VISIBLE_DEVICES`` to the allocated GPU), else ``cpu``. More
  GPUs means more array tasks, not more GPUs per task, so ``gpus_per_node`` is 0 or 1. torch uses
  ``SLURM_CPUS_PER_TASK`` threads: by default it would use every core of the node, which tasks share.
- The array has ``units_per_task`` units per task when given, else ``array_parallelism`` tasks (one
  wave, each task as long as it needs, kept alive by requeues); ``array_parallelism`` caps how many
  run at once (``%P`` in the array spec).
- With ``wait`` the launcher polls the cluster (one ``sacct`` for the whole array per poll, not
  submitit's back-off of up to ten minutes) and the store, shows finished units with tqdm, and
  returns a code per task: 0 when the task returned with every unit done, 1 when units failed or
  the task ended without returning (cancelled, killed, timed out too often).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import submitit
from submitit.core.utils import UncompletedJobError
from tqdm import tqdm

from ...errors import InvalidInputError
from ...storage import atomic_write_text
from ..plan import load_plan
from ..store import ResultStore
from ..worker import DEFAULT_OPTIONS, PlanBusyError, WorkerOptions, launched, run_units, shard_groups
from . import LaunchReport

BACKEND = "submitit"
MAX_TIMEOUT_REQUEUES = 20
POLL_SECONDS = 2.0
LAUNCHED_FILE = "launched"
# SLURM states of a task that may still run units (sacct's names; REQUEUED: waiting to start again).
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
                           "REQUEUE_FED", "RESIZING", "SUSPENDED"})


class ShardTask(submitit.helpers.Checkpointable):
    """One array task: run the worker on its unit ids; requeued as is on preemption or timeout."""

    def __init__(self, plan_folder: str, options: WorkerOptions) -> None:
        self.plan_folder = plan_folder
        self.options = options

    def __call__(self, shard_index: int, unit_ids: Sequence[str]) -> dict:
        options = replace(self.options, threads=self.options.threads or _allocated_cpus(), progress=False)
        summary = run_units(load_plan(self.plan_folder), list(unit_ids), options)
        return {"shard": shard_index, "done": summary.done, "failed": summary.failed, "skipped": summary.skipped}


def _allocated_cpus() -> int | None:
    """The task's CPUs: by default torch would use every core of the node, which tasks share."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    return int(cpus) if cpus else None


def task_device(gpus_per_node: int) -> str:
    if gpus_per_node not in (0, 1):
        raise InvalidInputError(f"gpus_per_node must be 0 (CPU) or 1: each array task trains on one GPU, and more GPUs "
                                f"are used through more array tasks; got {gpus_per_node}")
    return "cuda:0" if gpus_per_node else "cpu"


def count_tasks(n_pending: int, array_parallelism: int, units_per_task: int | None) -> int:
    """How many array tasks share ``n_pending`` units."""
    if array_parallelism < 1:
        raise InvalidInputError(f"array_parallelism must be >= 1, got {array_parallelism}")
    if units_per_task is not None and units_per_task < 1:
        raise InvalidInputError(f"units_per_task must be >= 1 or None (one wave of array_parallelism tasks), "
                                f"got {units_per_task}")
    if units_per_task is None:
        return min(n_pending, array_parallelism)
    return math.ceil(n_pending / units_per_task)


def make_executor(plan, *, n_tasks: int, array_parallelism: int, timeout_min: int, partition: str | None,
                  gpus_per_node: int, cpus_per_task: int) -> submitit.AutoExecutor:
    if timeout_min < 1:
        raise InvalidInputError(f"timeout_min must be >= 1 (minutes per task run), got {timeout_min}")
    if cpus_per_task < 1:
        raise InvalidInputError(f"cpus_per_task must be >= 1, got {cpus_per_task}")
    executor = submitit.AutoExecutor(folder=plan.folder / "slurm", cluster="slurm",
                                     slurm_max_num_timeout=MAX_TIMEOUT_REQUEUES)
    parameters = {"name": f"{plan.kind}-{plan.folder.name}", "timeout_min": timeout_min, "cpus_per_task": cpus_per_task,
                  "nodes": 1, "tasks_per_node": 1, "slurm_array_parallelism": min(array_parallelism, n_tasks)}
    if gpus_per_node:
        parameters["gpus_per_node"] = gpus_per_node
    if partition:
        parameters["slurm_partition"] = partition
    executor.update_parameters(**parameters)
    return executor


def launch(plan, *, options: WorkerOptions = DEFAULT_OPTIONS, array_parallelism: int = 4, timeout_min: int = 60,
           partition: str | None = None, gpus_per_node: int = 0, cpus_per_task: int = 1,
           units_per_task: int | None = None, wait: bool = False, progress: bool = True) -> LaunchReport:
    """Submit the plan's pending units as one job array; with ``wait``, block until every task ends."""
    device = task_device(gpus_per_node)
    plan = replace(plan, folder=Path(plan.folder).resolve())
    log_dir = plan.folder / "slurm"
    store = ResultStore(plan)
    pending = store.pending(plan.units)
    n_tasks = count_tasks(len(pending), array_parallelism, units_per_task)
    if not pending:
        return LaunchReport(BACKEND, (), 0, 0, log_dir, () if wait else None)
    shards = [[unit.unit_id for unit in part] for part in shard_groups(plan, pending, n_tasks) if part]
    executor = make_executor(plan, n_tasks=len(shards), array_parallelism=array_parallelism, timeout_min=timeout_min,
                             partition=partition, gpus_per_node=gpus_per_node, cpus_per_task=cpus_per_task)
    data_root = None if options.data_root is None else str(Path(options.data_root).resolve())
    task = ShardTask(str(plan.folder), replace(options, device=device, data_root=data_root))
    with launched(plan):
        refuse_while_active(log_dir)
        jobs = executor.map_array(task, list(range(len(shards))), shards)
        job_ids = tuple(job.job_id for job in jobs)
        atomic_write_text(log_dir / LAUNCHED_FILE, "".join(f"{job_id}\n" for job_id in job_ids))
    if not wait:
        return LaunchReport(BACKEND, job_ids, len(shards), len(pending), log_dir)
    returncodes = wait_for_jobs(jobs, store, {unit.unit_id for unit in pending}, progress)
    return LaunchReport(BACKEND, job_ids, len(shards), len(pending), log_dir, returncodes)


def refuse_while_active(log_dir: Path) -> None:
    """A :class:`PlanBusyError` if a task of the plan's last array may still run units on the cluster."""
    path = log_dir / LAUNCHED_FILE
    if not path.is_file():
        return
    jobs = [submitit.SlurmJob(log_dir, job_id) for job_id in path.read_text().split()]
    if not jobs:
        return
    jobs[0].watcher.update()  # one sacct call answers for every task of the array
    active = [job.job_id for job in jobs if job.state in ACTIVE_STATES]
    if active:
        array = active[0].split("_")[0]
        raise PlanBusyError(f"array job {array} of {log_dir.parent} is still queued or running on the cluster "
                            f"(tasks {', '.join(active)}); wait for it (`squeue -j {array}`) or cancel it "
                            f"(`scancel {array}`), then launch again")


def wait_for_jobs(jobs: Sequence[submitit.Job], store: ResultStore, unit_ids: set[str],
                  progress: bool) -> tuple[int, ...]:
    """Block until every job has ended; show finished units; a code per job (see the module notes)."""
    with tqdm(total=len(unit_ids), desc="units finished", unit="unit", disable=not progress) as bar:
        while True:
            jobs[0].watcher.update()  # one sacct call answers for every job of the array
            ended = all(job.done() for job in jobs)
            bar.update(len(store.finished() & unit_ids) - bar.n)
            if ended:
                break
            time.sleep(POLL_SECONDS)
    return tuple(task_returncode(job) for job in jobs)


def task_returncode(job: submitit.Job) -> int:
    try:
        summary = job.result()
    except UncompletedJobError as error:  # also FailedJobError: the task raised, or ended without a result
        tqdm.write(f"task {job.job_id} ended without finishing ({job.state}): {str(error).splitlines()[0]}")
        return 1
    return 1 if summary["failed"] else 0

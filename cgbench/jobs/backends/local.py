"""The local backend: worker processes on this machine: N on the CPU, or one (or several) per visible GPU.

Choices:

- One process per worker, not threads: each process owns its device (``CUDA_VISIBLE_DEVICES`` set to
  one GPU, device ``cuda:0`` inside; on the CPU, ``threads`` torch threads each), so a crash or a
  CUDA error in one unit cannot take the others down, and nothing is shared but the file system
  (the result store).
- ``devices="cpu"`` runs ``workers`` processes; ``devices="cuda"`` runs ``per_gpu`` processes on
  each GPU (the small HiAML / Two-Path networks use a fraction of a modern GPU each, so several
  concurrent units raise its throughput).
- Every worker is handed all pending units (in a file under ``<logs>/local-<time>/``, with its log
  beside it; long unit lists do not fit a command line) and a shared claims folder: a worker takes
  the next group of units nobody has claimed (:func:`cgbench.jobs.worker.claim`), so a worker that
  drew short units takes more of them and the launch ends when the work does, not when the unluckiest
  fixed share does.
- One launch of a plan at a time on a machine: the launcher takes the plan's launch lock and the workers
  inherit it (:func:`cgbench.jobs.worker.hold_plan`), so a second launch while they run is refused with
  a clear message instead of a second crew duplicating their work.
- With ``wait`` the launcher stays, shows a tqdm bar of finished units (polling the store) and
  returns the exit codes; without it the workers are started in their own sessions and outlive
  the launcher.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from ...errors import CgbenchError, InvalidInputError
from ..store import ResultStore
from ..worker import DEFAULT_OPTIONS, WorkerOptions, launched
from . import LaunchReport

DEVICES = ("cpu", "cuda")
POLL_SECONDS = 1.0


def visible_gpus() -> list[str]:
    """The GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else every GPU torch sees."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() not in ("", "-1")]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


class NoGpuError(CgbenchError, RuntimeError):
    """GPUs were asked for, but none is visible."""


def worker_slots(devices: str, per_gpu: int = 1, workers: int = 1) -> list[tuple[str | None, str]]:
    """(CUDA_VISIBLE_DEVICES value or None, torch device) of every worker process to start."""
    if devices not in DEVICES:
        raise InvalidInputError(f"devices must be one of {DEVICES}, got {devices!r}")
    if per_gpu < 1 or workers < 1:
        raise InvalidInputError(f"per_gpu and workers must be >= 1, got {per_gpu} and {workers}")
    if devices == "cpu":
        if per_gpu != 1:
            raise InvalidInputError("per_gpu applies to GPUs; on the CPU, workers sets how many processes run")
        return [(None, "cpu")] * workers
    gpus = visible_gpus()
    if not gpus:
        raise NoGpuError("devices='cuda' but no GPU is visible (CUDA_VISIBLE_DEVICES / torch.cuda); "
                         "use devices='cpu'")
    return [(gpu, "cuda:0") for gpu in gpus for _ in range(per_gpu)]


def launch(plan, *, options: WorkerOptions = DEFAULT_OPTIONS, devices: str = "cpu", per_gpu: int = 1,
           workers: int = 1, wait: bool = True, progress: bool = True) -> LaunchReport:
    slots = worker_slots(devices, per_gpu, workers)
    store = ResultStore(plan)
    pending = store.pending(plan.units)
    run_dir = plan.logs_dir / f"local-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    if not pending:
        return LaunchReport("local", (), 0, 0, run_dir, () if wait else None)
    with launched(plan) as lock:  # the workers inherit it: it is held while any of them runs
        (run_dir / "claims").mkdir(parents=True)
        units_file = run_dir / "pending.units"
        units_file.write_text("".join(f"{u.unit_id}\n" for u in pending))
        n_tasks = min(len(slots), len(pending))
        processes = [_start(plan, units_file, slots[i], run_dir / f"worker-{i}.log", options, lock,
                            detach=not wait) for i in range(n_tasks)]
    job_ids = tuple(str(p.pid) for p in processes)
    if not wait:
        return LaunchReport("local", job_ids, n_tasks, len(pending), run_dir)
    returncodes = _wait(processes, store, {u.unit_id for u in pending}, progress)
    return LaunchReport("local", job_ids, n_tasks, len(pending), run_dir, returncodes)


def _start(plan, units_file: Path, slot: tuple[str | None, str], log_path: Path, options: WorkerOptions, lock: int,
           detach: bool) -> subprocess.Popen:
    gpu, device = slot
    command = [sys.executable, "-m", "cgbench.jobs.worker", str(plan.folder), "--units-file", str(units_file),
               "--claims", str(units_file.parent / "claims"), *replace(options, device=device).arguments()]
    env = dict(os.environ)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=detach,
                                pass_fds=(lock,))


def _wait(processes: list[subprocess.Popen], store: ResultStore, unit_ids: set[str], progress: bool) -> tuple[int, ...]:
    with tqdm(total=len(unit_ids), desc="units finished", unit="unit", disable=not progress) as bar:
        while any(p.poll() is None for p in processes):
            time.sleep(POLL_SECONDS)
            bar.update(len(store.finished() & unit_ids) - bar.n)
        bar.update(len(store.finished() & unit_ids) - bar.n)
    return tuple(p.returncode for p in processes)

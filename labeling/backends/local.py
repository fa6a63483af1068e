"""The local backend: worker processes on this machine, one per visible GPU (or several), or one on CPU.

Choices:

- One process per worker, not threads: each process owns one GPU (``CUDA_VISIBLE_DEVICES`` set to
  that GPU alone, device ``cuda:0`` inside), so a crash or a CUDA error in one network cannot take
  the others down, and nothing is shared but the file system (the result store).
- ``per_gpu=K`` runs K processes on each GPU: the small HiAML / Two-Path networks use a fraction
  of a modern GPU each, so several concurrent trainings raise the GPU's throughput.
- The pending units (those without a result at launch time) are split round-robin
  (:func:`labeling.worker.shard`) and each process gets its list in a file under
  ``<plan>/logs/local-<time>/``, with its log beside it; long unit lists do not fit a command line.
- With ``wait`` the launcher stays, shows a tqdm bar of finished units (polling the store) and
  returns the exit codes; without it the workers are started in their own sessions and outlive
  the launcher.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from cgbench.errors import CgbenchError, InvalidInputError

from ..plan import Plan
from ..store import ResultStore
from ..worker import shard
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


def worker_slots(devices: str, per_gpu: int) -> list[tuple[str | None, str]]:
    """(CUDA_VISIBLE_DEVICES value or None, torch device) of every worker process to start."""
    if devices not in DEVICES:
        raise InvalidInputError(f"devices must be one of {DEVICES}, got {devices!r}")
    if per_gpu < 1:
        raise InvalidInputError(f"per_gpu must be >= 1, got {per_gpu}")
    if devices == "cpu":
        if per_gpu != 1:
            raise InvalidInputError("per_gpu applies to GPUs; the CPU backend runs one process (torch uses every core)")
        return [(None, "cpu")]
    gpus = visible_gpus()
    if not gpus:
        raise NoGpuError("devices='cuda' but no GPU is visible (CUDA_VISIBLE_DEVICES / torch.cuda); "
                         "use devices='cpu'")
    return [(gpu, "cuda:0") for gpu in gpus for _ in range(per_gpu)]


def launch(plan: Plan, *, data_root: str | Path | None = None, devices: str = "cpu", per_gpu: int = 1,
           wait: bool = True, compile: bool = False, progress: bool = True) -> LaunchReport:
    slots = worker_slots(devices, per_gpu)
    store = ResultStore(plan)
    pending = store.pending(plan.units)
    run_dir = plan.logs_dir / f"local-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    if not pending:
        return LaunchReport("local", (), 0, 0, run_dir, () if wait else None)
    run_dir.mkdir(parents=True)
    n_tasks = min(len(slots), len(pending))
    processes = [_start(plan, shard(pending, n_tasks, i), slots[i], run_dir / f"worker-{i}", data_root, compile,
                        detach=not wait) for i in range(n_tasks)]
    job_ids = tuple(str(p.pid) for p in processes)
    if not wait:
        return LaunchReport("local", job_ids, n_tasks, len(pending), run_dir)
    returncodes = _wait(processes, store, {u.unit_id for u in pending}, progress)
    return LaunchReport("local", job_ids, n_tasks, len(pending), run_dir, returncodes)


def _start(plan: Plan, units, slot: tuple[str | None, str], stem: Path, data_root, compile: bool,
           detach: bool) -> subprocess.Popen:
    gpu, device = slot
    units_file = stem.with_suffix(".units")
    units_file.write_text("".join(f"{u.unit_id}\n" for u in units))
    command = [sys.executable, "-m", "labeling.worker", str(plan.folder), "--units-file", str(units_file),
               "--device", device, "--no-progress"]
    if data_root is not None:
        command += ["--data-root", str(data_root)]
    if compile:
        command.append("--compile")
    env = dict(os.environ)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    with open(stem.with_suffix(".log"), "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=detach)


def _wait(processes: list[subprocess.Popen], store: ResultStore, unit_ids: set[str], progress: bool) -> tuple[int, ...]:
    with tqdm(total=len(unit_ids), desc="units finished", unit="net", disable=not progress) as bar:
        while any(p.poll() is None for p in processes):
            time.sleep(POLL_SECONDS)
            bar.update(len(store.finished() & unit_ids) - bar.n)
        bar.update(len(store.finished() & unit_ids) - bar.n)
    return tuple(p.returncode for p in processes)

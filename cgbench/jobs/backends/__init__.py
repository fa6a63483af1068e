"""Backends that run a plan's pending units: ``local`` (worker processes on this machine) and
``submitit`` (a SLURM job array, :mod:`cgbench.jobs.backends.slurm`).

Every backend has ``launch(plan, *, options, ...) -> LaunchReport``. Backends only hand the pending
units to workers; what is done is decided by the result store, so launching a plan again starts
only what is still missing, and the same units give the same results whatever the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("local", "submitit")


@dataclass(frozen=True)
class LaunchReport:
    """What a launch submitted: the job or process ids, how many tasks over how many pending units."""

    backend: str
    job_ids: tuple[str, ...]
    n_tasks: int
    n_units: int
    log_dir: Path
    # Exit codes of the tasks when the launch waited for them (None: it did not wait).
    returncodes: tuple[int, ...] | None = None

    def summary(self) -> str:
        if self.n_tasks == 0:
            return f"{self.backend}: nothing to do, every unit of the plan has its result"
        text = (f"{self.backend}: {self.n_units} pending units in {self.n_tasks} tasks "
                f"(ids {', '.join(self.job_ids)}); logs in {self.log_dir}")
        if self.returncodes is not None:
            text += f"; exit codes {list(self.returncodes)}"
        return text

"""A real one-node SLURM cluster for the tests that need one (a pytest plugin module).

Test modules load it with ``pytest_plugins = ["conftest_slurm"]`` (``tests/`` is on ``sys.path``
because it has no ``__init__.py``), so the cluster starts only in sessions that run such a module.
The session fixture ``slurm_cluster`` starts munged, slurmctld and slurmd with
``tests/slurm/start_cluster.sh`` in a private temporary folder, puts ``SLURM_CONF`` and
``tests/slurm`` (for the ``sacct`` stand-in that submitit needs) into the environment of the whole
session, and stops exactly those daemons afterwards, whether the tests passed or not. A cluster that
cannot start fails the tests that need it, with the script's message; it never skips them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SLURM_SCRIPTS = Path(__file__).resolve().parent / "slurm"
START_TIMEOUT_S = 300  # the script may first install the Debian packages
STOP_TIMEOUT_S = 120


@dataclass(frozen=True)
class SlurmCluster:
    base: Path
    conf: Path

    @property
    def logs(self) -> Path:
        return self.base / "log"


def _stop(base: Path) -> None:
    subprocess.run([str(SLURM_SCRIPTS / "stop_cluster.sh"), str(base)], timeout=STOP_TIMEOUT_S, check=False)


@pytest.fixture(scope="session")
def slurm_cluster():
    # A short path under the temporary folder: munged's socket path must fit a unix socket name.
    base = Path(tempfile.mkdtemp(prefix="cgbench-slurm-"))
    try:
        started = subprocess.run([str(SLURM_SCRIPTS / "start_cluster.sh"), str(base)], capture_output=True,
                                 text=True, timeout=START_TIMEOUT_S)
        if started.returncode != 0:
            pytest.fail(f"the test SLURM cluster did not start (tests/slurm/start_cluster.sh exit "
                        f"{started.returncode}):\n{started.stderr[-3000:]}", pytrace=False)
        cluster = SlurmCluster(base, Path(started.stdout.strip().splitlines()[-1]))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(cluster.conf))
            patch.setenv("PATH", f"{SLURM_SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}")
            yield cluster
    finally:
        _stop(base)
        shutil.rmtree(base, ignore_errors=True)

"""A new user's path from a fresh checkout to a scored PyG model, timed in one run.

Runs ``docs/first_model.py`` (load NB-201, ``to_pyg()``, a small GIN on 4,000 training graphs,
``Evaluator.eval``) in a fresh interpreter, as a user would:
(a) cold: an empty CGBENCH_HOME (raw files copied from the mirror, NB-201 built, PyG view made),
    one torch thread (``OMP_NUM_THREADS=1``);
(b) warm: the same home again (everything cached), one thread;
(c) warm with torch's default threads: on a shared two-core machine two torch threads spin
    against each other, which (b) against (c) makes visible.
Creating the virtual environment (``make``: pip install) is not included: it needs the network.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_new_user.py``
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "first_model.py"


def run(home: Path, one_thread: bool) -> tuple[float, float | None, float | None]:
    """(wall seconds, NB-201 build seconds if it was built, test Spearman) of one run of the script."""
    env = {**os.environ, "CGBENCH_HOME": str(home)}
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    build = re.search(r"^building nb201 .*: done in ([0-9.]+) s$", done.stderr, re.M)
    metrics = json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"').replace("nan", "NaN"))
    return wall, float(build.group(1)) if build else None, metrics["spearman"]


def main() -> None:
    print(f"load average before: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as home:
        cold, build, rho = run(Path(home), one_thread=True)
        warm, _, rho_warm = run(Path(home), one_thread=True)
        threads, _, rho_threads = run(Path(home), one_thread=False)
    print(f"OMP_NUM_THREADS=1  cold {cold:6.1f} s (of which the NB-201 build {build:.1f} s) | warm {warm:6.1f} s "
          f"-> cold/warm {cold / warm:.1f}x | test Spearman {rho:.3f} (warm {rho_warm:.3f})")
    print(f"default threads    warm {threads:6.1f} s -> {threads / warm:.1f}x the one-thread warm run "
          f"| test Spearman {rho_threads:.3f}")
    print(f"load average after: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    os.environ.setdefault("CGBENCH_MIRROR", str(ROOT.parent / "shared" / "data"))
    main()

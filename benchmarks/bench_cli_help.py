"""How long ``cgbench --help`` takes, next to what an eager parser cost.

The parser imports no heavy module (torch, torch_geometric, pandas, pyarrow, datasets, numpy): each
subcommand imports what it needs when it runs. This script times, in fresh processes (median of
``--repeats`` runs each):

- ``python -c pass``: the interpreter's own start-up, the floor;
- ``cgbench --help`` of this checkout;
- ``python -c "import torch"``: the least an eager parser paid, since building it imported every
  family module and with them torch;
- ``cgbench --help`` of an older commit (``--base``, default ``0045e42``, the last one with the
  eager parser), extracted with ``git archive`` and run with this environment, when git has it.

    python benchmarks/bench_cli_help.py [--repeats 5] [--base REV]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Runs the parser of the package tree on sys.path[0] (an older checkout), entry-point commands included:
# its packages come first on sys.path, so the editable install of this checkout is not used.
OLD_HELP = "import sys; sys.argv = ['cgbench', '--help']; from cgbench.cli import main; main()"


def wall_time(command: list[str], repeats: int, cwd: Path | None = None) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def old_checkout(rev: str, folder: Path) -> Path | None:
    """The package tree of commit ``rev`` under ``folder``; None if git does not have it."""
    archive = folder / "old.tar"
    result = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), rev,
                             "cgbench", "baselines", "labeling", "leaderboard"], capture_output=True)
    if result.returncode != 0:
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    return folder / "tree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (default: %(default)s)")
    parser.add_argument("--base", default="0045e42", help="commit with the eager parser (default: %(default)s)")
    args = parser.parse_args()
    cgbench = str(Path(sys.executable).parent / "cgbench")
    rows = [("python -c pass (interpreter start-up)", wall_time([sys.executable, "-c", "pass"], args.repeats)),
            ("cgbench --help (this checkout)", wall_time([cgbench, "--help"], args.repeats)),
            ('python -c "import torch"', wall_time([sys.executable, "-c", "import torch"], args.repeats))]
    with tempfile.TemporaryDirectory() as tmp:
        tree = old_checkout(args.base, Path(tmp))
        if tree is not None:
            rows.append((f"cgbench --help at {args.base} (eager parser)",
                         wall_time([sys.executable, "-c", OLD_HELP], args.repeats, cwd=tree)))
    ours = rows[1][1]
    print(f"median of {args.repeats} fresh processes each")
    for name, seconds in rows:
        print(f"{name:48s} {seconds:6.2f} s   {seconds / ours:5.1f} x cgbench --help")


if __name__ == "__main__":
    main()

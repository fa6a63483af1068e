"""Full disks and interrupted writes, on real size-limited file systems (tmpfs mounted by the test) and
with SIGKILL at random moments: a build, an export, a plan, a result and a submission that run out of
space end in one line saying where and how far they got, leave no half-written file under a final name,
and leave the previous good state readable."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cgbench.storage import DiskFullError, atomic_write_text


@pytest.fixture
def small_disk():
    """Mount a tmpfs of the size asked for (root can: the suite's CI runs as root); unmount it after."""
    mounts = []

    def mount(size_kib: int) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="cgbench-small-disk-"))
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"could not mount a tmpfs (the disk-fault tests need root): {done.stderr}", pytrace=False)
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def fill(folder: Path, leave_bytes: int = 0) -> None:
    """Take every free byte of the file system of ``folder`` but ``leave_bytes``."""
    free = shutil.disk_usage(folder).free - leave_bytes
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(free - 4096, 0))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


def cgbench(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CGBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "cgbench.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=600)


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file(small_disk):
    disk = small_disk(256)
    atomic_write_text(disk / "notes.txt", "the old text")
    fill(disk, leave_bytes=8192)
    with pytest.raises(DiskFullError) as failure:
        atomic_write_text(disk / "notes.txt", "x" * 200_000)
    message = str(failure.value)
    assert f"no space left on the disk that holds {disk}: writing notes.txt stopped after " in message
    assert "bytes free there" in message and "Nothing was replaced" in message
    assert (disk / "notes.txt").read_text() == "the old text" and leftovers(disk) == []


def test_a_build_on_a_full_disk_says_where_and_a_rebuild_keeps_the_old_build(cgbench_home, small_disk):
    from cgbench import load_family

    tight = small_disk(1400)  # the raw file (1.2 MB) fits, the built family does not
    failed = cgbench(tight, "build", "nasbench_macro")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert line.startswith("cgbench build: error: no space left on the disk that holds ") and str(tight) in line
    assert leftovers(tight) == [] and not list(tight.rglob("manifest.json"))

    roomy = small_disk(8192)
    built = load_family("nasbench_macro", progress=False).folder
    shutil.copytree(built.parent.parent.parent / "raw" / "nasbench-macro", roomy / "raw" / "nasbench-macro")
    shutil.copytree(built, roomy / "families" / "nasbench_macro" / built.name, ignore=shutil.ignore_patterns("pyg"))
    fill(roomy, leave_bytes=100_000)
    failed = cgbench(roomy, "build", "nasbench_macro", "--force")
    assert failed.returncode == 2 and "no space left on the disk that holds" in failed.stderr.splitlines()[-1]
    readable = cgbench(roomy, "info", "nasbench_macro")
    assert readable.returncode == 0 and "6561 architectures" in readable.stdout, readable.stderr
    assert leftovers(roomy) == []


def test_an_export_a_plan_a_result_and_a_submission_on_a_full_disk(cgbench_home, small_disk, tmp_path):
    from cgbench import load_family
    from cgbench.jobs.calls import make_call_plan
    from cgbench.jobs.store import ResultStore
    from cgbench.submission import MethodInfo, write_submission
    from cgbench.tasks import Run

    family = load_family("nasbench_macro", progress=False)
    disk = small_disk(512)
    plan = make_call_plan(disk / "plan", {"a": (shutil.disk_usage, (str(disk),))})
    fill(disk, leave_bytes=20_000)
    with pytest.raises(DiskFullError, match="writing macro.h5 stopped after"):
        family.to_hdf5(disk / "macro.h5")
    assert not (disk / "macro.h5").exists()
    with pytest.raises(DiskFullError, match="writing plan.parquet stopped after"):
        make_call_plan(disk / "other-plan", {f"c{i}": (shutil.disk_usage, (str(i),)) for i in range(3000)})
    store = ResultStore(plan)
    with pytest.raises(DiskFullError, match=f"writing {plan.units[0].unit_id}.json stopped after"):
        store.write(plan.units[0].unit_id, {"unit": {}, "value": "x" * 100_000})
    assert store.finished() == set() and leftovers(disk) == []
    method = MethodInfo("flops", "FLOPs", "https://example.org", "cpu", 0, scale="rank")
    evaluator_rows = family.get_idx_split("random")["test"]
    flops = family.table.column("flops").to_numpy()[evaluator_rows]
    ids = [family.arch_ids[i] for i in evaluator_rows]
    run = Run("in_family", "nasbench_macro", family.default_target, 0, ("nasbench_macro",), dict(zip(ids, flops)))
    kept = write_submission(tmp_path / "flops.json", method, [run], [family])
    shutil.copy(kept, disk / "flops.json")
    (disk / "filler").unlink()
    fill(disk, leave_bytes=1000)
    with pytest.raises(DiskFullError, match="writing flops.json stopped after"):
        write_submission(disk / "flops.json", method, [run, *(Run(run.track, run.family, run.target, s,
                         run.trained_on, run.predictions) for s in range(1, 4))], [family])
    assert (disk / "flops.json").read_bytes() == kept.read_bytes(), "the previous submission is as it was"


def test_a_build_killed_at_random_moments_leaves_a_readable_family(cgbench_home, tmp_path):
    from cgbench import load_family

    built = load_family("nasbench_macro", progress=False).folder
    home = tmp_path / "home"
    shutil.copytree(built.parent.parent.parent / "raw" / "nasbench-macro", home / "raw" / "nasbench-macro")
    shutil.copytree(built, home / "families" / "nasbench_macro" / built.name, ignore=shutil.ignore_patterns("pyg"))
    folder = home / "families" / "nasbench_macro" / built.name
    moments = random.Random(0)
    for _ in range(4):
        env = {**os.environ, "CGBENCH_HOME": str(home)}
        build = subprocess.Popen([sys.executable, "-m", "cgbench.cli", "build", "nasbench_macro", "--force"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                 start_new_session=True)
        time.sleep(moments.uniform(1.0, 8.0))
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        if (folder / "manifest.json").exists():  # the old build, or the new one whole: never a mix
            info = cgbench(home, "info", "nasbench_macro")
            assert info.returncode == 0, info.stderr
    readable = cgbench(home, "info", "nasbench_macro")  # an unfinished swap (no manifest) is built again
    assert readable.returncode == 0 and "6561 architectures" in readable.stdout, readable.stderr
    assert leftovers(folder) == [], "the next write removed what killed writers left"

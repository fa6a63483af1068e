"""Two processes at once, for real: two loads (builds) of one family into one CGBENCH_HOME, a forced
rebuild while another process reads, two launches of one plan, two benchmarks into one output folder.
Each either waits for the other or fails with a clear message; nothing is corrupted or duplicated."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cgbench.jobs.calls import make_call_plan
from cgbench.jobs.store import ResultStore

LOAD = ("import sys, time; from cgbench import load_family; t = time.time(); f = load_family('nasbench_macro', "
        "progress=False); print(len(f), f.data_sha256, round(time.time() - t, 1))")


def python(code: str, home: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "CGBENCH_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, **popen)


def cgbench(home: Path, *argv: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "CGBENCH_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "cgbench.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **popen)


def slow_square(x, marker):
    Path(marker).touch()
    time.sleep(4.0)  # long enough for a second launch to start while the first runs
    return x * x


def test_two_first_loads_of_a_family_build_it_once(cgbench_home, tmp_path):
    home = tmp_path / "home"
    loads = [python(LOAD, home) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in loads]
    assert [p.returncode for p in loads] == [0, 0], [err for _, err in outputs]
    (n1, sha1, _), (n2, sha2, _) = (out.split() for out, _ in outputs)
    assert n1 == n2 == "6561" and sha1 == sha2
    builds = sum(err.count("building nasbench_macro") for _, err in outputs)
    assert builds == 0 or builds == 1, "the second waited for the first and read its build"
    folder = next((home / "families" / "nasbench_macro").iterdir())
    assert sorted(p.name for p in folder.glob("*.parquet")) == ["data.parquet", "splits.parquet"]
    assert not list(folder.glob(".*.tmp"))


def test_a_forced_rebuild_while_another_process_reads(cgbench_home, tmp_path):
    from cgbench import load_family

    built = load_family("nasbench_macro", progress=False).folder
    home = tmp_path / "home"
    shutil.copytree(built.parent.parent.parent / "raw" / "nasbench-macro", home / "raw" / "nasbench-macro")
    shutil.copytree(built, home / "families" / "nasbench_macro" / built.name, ignore=shutil.ignore_patterns("pyg"))
    rebuild = cgbench(home, "build", "nasbench_macro", "--force")
    reads = []
    while rebuild.poll() is None:
        reads.append(python(LOAD, home).communicate(timeout=600))
    assert rebuild.returncode == 0, rebuild.stderr.read()
    assert reads and all(out.split()[:2] == ["6561", load_family("nasbench_macro", progress=False).data_sha256]
                         for out, _ in reads), reads


def test_two_processes_open_a_pyg_view_whose_cache_must_be_made_again(cgbench_home, tmp_path):
    """Two workers of one benchmark once both found a PyG cache without its sha256 (an older cgbench's):
    one deleted it while the other read it, and a unit failed on FileNotFoundError. Now one makes it
    again while the other waits, and both read the same graphs."""
    from cgbench import load_family

    family = load_family("nasbench_macro", progress=False)
    family.to_pyg()
    home = tmp_path / "home"
    shutil.copytree(family.folder, home / "families" / "nasbench_macro" / family.folder.name)
    [checksum] = (home / "families").glob("nasbench_macro/*/pyg/processed/*.pt.sha256")
    checksum.unlink()
    code = ("from cgbench import load_family; view = load_family('nasbench_macro', progress=False).to_pyg(); "
            "print(len(view), int(view.collated().op.sum()))")
    opens = [python(code, home) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in opens]
    assert [p.returncode for p in opens] == [0, 0], [err for _, err in outputs]
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].split()[0] == "6561"
    assert sum(err.count("making it again") for _, err in outputs) == 1, outputs
    assert checksum.is_file()


def test_two_launches_of_one_plan(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    plan = make_call_plan(tmp_path / "plan", {f"s{i}": (slow_square, (i, str(markers / f"{i}"))) for i in range(6)})
    launch = [sys.executable, "-c", "import sys; from cgbench.jobs.backends import local; from cgbench.jobs.plan "
              "import load_plan; from cgbench.jobs.worker import WorkerOptions; r = local.launch(load_plan(sys.argv[1]),"
              " options=WorkerOptions(progress=False), workers=2, progress=False); print(r.summary())", str(plan.folder)]
    first = subprocess.Popen(launch, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list(markers.iterdir()):
        time.sleep(0.05)
    second = subprocess.run(launch, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "another launch of" in second.stderr and "is running on this machine" in \
        second.stderr, second.stderr[-2000:]
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "exit codes [0, 0]" in out, err
    store = ResultStore(plan)
    assert len(store.finished()) == 6 and len(list(markers.iterdir())) == 6, "each unit ran once"
    third = subprocess.run(launch, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "nothing to do" in third.stdout


def test_two_benchmarks_into_one_output_folder(cgbench_home, tmp_path):
    # gin at its reference budget: tens of seconds a run, so the second starts while the first runs
    argv = ("benchmark", "--methods", "flops", "gin", "--protocol", "reference", "--families", "nasbench_macro",
            "--seeds", "0", "1", "--tracks", "in_family", "--no-progress", "--no-submissions", "--out",
            str(tmp_path / "out"))
    home = Path(os.environ["CGBENCH_HOME"])
    first = cgbench(home, *argv)
    store = tmp_path / "out" / "store"
    while not (store / ".launch.lock").exists() and first.poll() is None:
        time.sleep(0.05)
    second = cgbench(home, *argv)
    _, second_err = second.communicate(timeout=600)
    first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 2 and "another launch of" in second_err.strip().splitlines()[-1]
    results = [json.loads(p.read_text()) for p in (store / "results").glob("*.json")]
    assert len(results) == 4 and len({r["unit"]["unit_id"] for r in results}) == 4

"""`cgbench benchmark --backend submitit` on the test suite's real one-node SLURM cluster: the runs go out
as a job array (runs that share a fit in one task), and the predictions are those of a serial run."""

from __future__ import annotations

import json

from cgbench.cli import main

pytest_plugins = ["conftest_slurm"]

ARGS = ["benchmark", "--methods", "flops", "gin", "--families", "nb101", "nasbench_macro", "--seeds", "0",
        "--tracks", "in_family", "gennape_zero_shot", "gennape_few_shot", "--no-progress", "--no-submissions"]


def predictions(out) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["predictions"] for p in (out / "store" / "results").glob("*.json")}


def test_a_benchmark_on_slurm_gives_the_serial_predictions(slurm_cluster, cgbench_home, tmp_path, capsys):
    main([*ARGS, "--out", str(tmp_path / "serial")])
    capsys.readouterr()
    main([*ARGS, "--out", str(tmp_path / "slurm"), "--backend", "submitit", "--array-parallelism", "2",
          "--timeout-min", "20"])
    printed = capsys.readouterr().out
    assert "submitit: 8 pending units in 2 tasks" in printed and "exit codes [0, 0]" in printed
    slurm_runs = predictions(tmp_path / "slurm")
    assert len(slurm_runs) == 8 and slurm_runs == predictions(tmp_path / "serial")
    records = [json.loads(p.read_text()) for p in (tmp_path / "slurm" / "store" / "results").glob("*.json")]
    assert all(r["slurm"] and r["slurm"]["array_job_id"] for r in records), "every run ran in the job array"
    # the GENNAPE runs of one method share one fit: they ran in the same task
    gennape = {r["slurm"]["array_task_id"] for r in records if r["unit"]["method"] == "gin"
               and r["unit"]["track"].startswith("gennape")}
    assert len(gennape) == 1
    main([*ARGS, "--out", str(tmp_path / "slurm"), "--backend", "submitit"])
    assert "submitit: nothing to do" in capsys.readouterr().out

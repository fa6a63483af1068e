"""Damaged files anywhere: bytes flipped in the middle of a file, or the file cut short. Every file the
project reads either ends in one error naming it and what to do (a plan, a family's data, collected
labels, a score table, a result, a submission, an HDF5 export), or, for a derived cache (PyG's tensors),
is made again from its source with a line saying so."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

FLIPPED = b"\xa5" * 256


def double(x: float) -> float:
    return 2 * x


def flip_middle(path: Path) -> None:
    """Overwrite bytes in the middle of the file (its data pages, not its header or footer)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + len(FLIPPED)] = FLIPPED[: len(data) - middle]
    path.write_bytes(bytes(data))


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.fixture
def home(cgbench_home, tmp_path, monkeypatch):
    """A private CGBENCH_HOME holding a copy of the nasbench_macro build (damage stays in this test)."""
    from cgbench import load_family

    built = load_family("nasbench_macro", progress=False).folder
    home = tmp_path / "home"
    shutil.copytree(built, home / "families" / "nasbench_macro" / built.name, ignore=shutil.ignore_patterns("pyg"))
    monkeypatch.setenv("CGBENCH_HOME", str(home))
    return home


@pytest.mark.parametrize("damage", [flip_middle, cut_short])
def test_a_damaged_plan_names_its_file(home, tmp_path, cli_error, damage):
    from cgbench.jobs.calls import make_call_plan

    plan = make_call_plan(tmp_path / "plan", {f"c{i}": (double, (float(i),)) for i in range(200)})
    damage(plan.folder / "plan.parquet")
    line = cli_error("label", "status", plan.folder)
    assert f"{plan.folder / 'plan.parquet'} is not a readable Parquet plan: it is damaged" in line
    assert "make it again into a new folder" in line


@pytest.mark.parametrize("name", ["data.parquet", "splits.parquet"])
def test_a_damaged_family_file_names_it_and_the_rebuild(home, cli_error, name):
    folder = next((home / "families" / "nasbench_macro").iterdir())
    flip_middle(folder / name)
    line = cli_error("info", "nasbench_macro")
    assert f"{folder / name} has sha256" in line and "cgbench build nasbench_macro --force" in line


def test_a_damaged_pyg_cache_is_made_again_and_says_so(home, capsys):
    from cgbench import load_family

    family = load_family("nasbench_macro", progress=False)
    first = family.to_pyg()
    path = Path(first.processed_paths[0])
    expected = first.collated(np.arange(10)).op.clone()
    flip_middle(path)
    capsys.readouterr()
    again = load_family("nasbench_macro", progress=False).to_pyg()
    said = capsys.readouterr().err
    assert f"the PyG cache {path} cannot be read" in said and "making it again from nasbench_macro" in said
    assert (again.collated(np.arange(10)).op == expected).all(), "the rebuilt cache holds the family's graphs"


def test_a_damaged_collected_label_set_names_it(home, cli_error):
    from cgbench import load_family
    from cgbench.collected import collected_folder, write_collected
    from cgbench.families.base import LabelColumn

    family = load_family("nasbench_macro", progress=False)
    column = LabelColumn("c10_test_acc_rerun", "rerun", "CIFAR-10", "test", 1, "%", "1", "CC0",
                         "a collected set for the test")
    write_collected("nasbench_macro", column, family.arch_ids[:400], np.linspace(50, 90, 400), np.ones(400),
                    np.zeros(400), {"test": True})
    path = next(collected_folder("nasbench_macro").glob("*.parquet"))
    flip_middle(path)
    line = cli_error("info", "nasbench_macro")
    assert f"{path} is not a readable collected label set: it is damaged" in line
    assert "cgbench label collect PLAN" in line


def test_damaged_results_and_submissions_name_their_file(home, tmp_path, cli_error):
    from cgbench.jobs.calls import make_call_plan
    from cgbench.jobs.store import InvalidResultError, ResultStore
    from cgbench.jobs.worker import WorkerOptions, run_units

    plan = make_call_plan(tmp_path / "plan", {"a": (double, (4.0,))})
    run_units(plan, options=WorkerOptions(progress=False))
    result = ResultStore(plan).result_path(plan.units[0].unit_id)
    cut_short(result)
    with pytest.raises(InvalidResultError, match=str(result)):
        ResultStore(plan).read(plan.units[0].unit_id)
    submission = tmp_path / "mine.json.gz"
    submission.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    line = cli_error("leaderboard", "validate", submission)
    assert str(submission) in line and "Traceback" not in line


@pytest.mark.parametrize("damage", [flip_middle, cut_short])
def test_a_damaged_hdf5_export_names_it(home, tmp_path, damage):
    from cgbench import load_family
    from cgbench.errors import InvalidFileError
    from cgbench.storage import import_hdf5

    path = load_family("nasbench_macro", progress=False).to_hdf5(tmp_path / "macro.h5")
    table, manifest = import_hdf5(path)
    assert table.num_rows == 6561 and manifest["family"] == "nasbench_macro"
    damage(path)
    with pytest.raises(InvalidFileError, match="is not a readable cgbench HDF5 export"):
        import_hdf5(path)


def test_a_damaged_score_table_names_it(home, tmp_path):
    from baselines.zcp.scoring import load_scores, proxy_recipe, score_family, scores_path
    from cgbench import load_family
    from cgbench.errors import InvalidFileError

    family = load_family("nasbench_macro", progress=False)
    recipe = proxy_recipe("params", {"data": "random"})
    score_family(family, ["params"], {"data": "random"}, indices=np.arange(300), progress=False)
    path = scores_path(family, "params", recipe)
    flip_middle(path)
    with pytest.raises(InvalidFileError, match="is not a readable score file: it is damaged.*delete it and score again"):
        load_scores(family, "params", recipe)

"""Offline-first labelling: ``cgbench label data --download | --check | --synthetic N``, launches that
say which command gets the data, a per-unit time estimate, and synthetic labels marked everywhere."""

import json

import numpy as np
import pytest

from cgbench.cli import main
from cgbench.jobs.store import ResultStore
from cgbench.jobs.worker import WorkerOptions, run_units
from labeling.cifar10 import SYNTHETIC_MARKER, load_cifar10, write_synthetic_cifar10
from labeling.collect import collect
from labeling.estimate import estimate_unit_seconds
from labeling.plan import make_plan
from labeling.recipe import Recipe

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = Recipe(name="tiny_synth", epochs=1, batch_size=16, lr=0.05, precision="fp32", n_train=32)


def label(capsys, *args: str) -> str:
    main(["label", *args])
    return capsys.readouterr().out


def test_synthetic_data_is_written_in_the_official_format_and_marked(capsys, tmp_path, cli_error):
    out = label(capsys, "data", "--synthetic", "300", "--data-root", str(tmp_path), "--seed", "3")
    assert "SYNTHETIC CIFAR-10 stand-in" in out and "rehearsal" in out
    assert "a SYNTHETIC stand-in" in out and "marker SYNTHETIC.json: seed 3, 300 training + 100 test images" in out
    data = load_cifar10(tmp_path)
    assert (len(data.train), len(data.test)) == (300, 100) and data.train.images.shape[1:] == (3, 32, 32)
    assert data.synthetic["synthetic"] is True and data.synthetic["seed"] == 3
    assert data.describe()["synthetic"] == data.synthetic
    assert "readable, not official (md5 differs)" in label(capsys, "data", "--check", "--data-root", str(tmp_path))
    assert cli_error("label", "data", "--synthetic", "2", "--data-root", tmp_path / "small") == (
        "cgbench label data: error: a synthetic set needs at least 5 training images (one per batch file), got 2")
    assert "argument --synthetic: must be >= 1, got 0" in cli_error("label", "data", "--synthetic", "0")


def check_fails(capsys, root) -> tuple[str, str]:
    """``cgbench label data --check`` of a folder without a complete CIFAR-10: (what it printed, its error line)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["label", "data", "--check", "--data-root", str(root)])
    printed = capsys.readouterr()
    assert exit_info.value.code == 2 and "Traceback" not in printed.err
    return printed.out, printed.err.strip().splitlines()[-1]


def test_check_of_an_incomplete_folder_says_what_to_run(capsys, tmp_path, data_root):
    out, line = check_fails(capsys, tmp_path)
    assert out.count("missing") == 6
    assert line == (f"cgbench label data: error: {tmp_path} has no complete CIFAR-10; run `cgbench label data "
                    "--download` (needs internet) or `cgbench label data --synthetic 5000` (an offline stand-in)")
    out, line = check_fails(capsys, data_root)  # the tests' 2-file set is no CIFAR-10
    assert "no complete CIFAR-10" in line
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "32 images" in lines["data_batch_1"] and "not official" in lines["data_batch_1"]
    assert lines["data_batch_3"].endswith("missing")


def test_a_failed_download_says_how_to_go_on(capsys, tmp_path, monkeypatch, cli_error):
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # nothing listens there
    line = cli_error("label", "data", "--download", "--data-root", tmp_path)
    assert line.startswith("cgbench label data: error: could not download CIFAR-10") and "--synthetic 5000" in line
    plan = make_plan("nasbench_macro", 1, 0, RECIPE, tmp_path / "plan", progress=False)
    assert cli_error("label", "launch", plan.folder, "--devices", "cpu", "--download", "--data-root",
                     tmp_path).startswith("cgbench label launch: error: could not download CIFAR-10")
    assert "0 done, 1 pending" in label(capsys, "status", str(plan.folder))


@pytest.fixture
def restore_nasbench_macro(restore_collected):
    restore_collected("nasbench_macro")


def test_rehearsal_labels_are_marked_synthetic_in_results_columns_and_descriptions(tmp_path, restore_nasbench_macro):
    from cgbench import load_family
    from cgbench.metadata import column_docs

    root = tmp_path / "data"
    write_synthetic_cifar10(root, 64, 32, seed=1)
    plan = make_plan("nasbench_macro", 2, 0, RECIPE, tmp_path / "plan", progress=False)
    probe = estimate_unit_seconds(plan, load_cifar10(root), "cpu")
    assert probe.seconds_per_unit > 0 and "1-step" not in probe.basis and "probe" in probe.basis
    assert run_units(plan, options=WorkerOptions(data_root=str(root), progress=False)).failed == []
    store = ResultStore(plan)
    results = [store.read(u.unit_id) for u in plan.units]
    assert all(r["data"]["synthetic"]["seed"] == 1 and r["data"]["n_train_images"] == 64 for r in results)
    measured = estimate_unit_seconds(plan, load_cifar10(root), "cpu")
    assert measured.basis.startswith("median of 2 finished") and measured.seconds_per_unit == pytest.approx(
        float(np.median([r["train"]["wall_seconds"] for r in results])))

    report = collect([plan], progress=False)
    assert report.columns == ("synthetic_c10_tiny_synth_final", "synthetic_c10_tiny_synth_best")
    family = load_family("nasbench_macro", progress=False)
    info = family.label_info("synthetic_c10_tiny_synth_final")
    assert info["dataset"].startswith("SYNTHETIC") and info["description"].startswith("SYNTHETIC REHEARSAL LABEL")
    assert info["source_id"] == "cgbench-synthetic" and "not a measurement on CIFAR-10" in info["licence"]
    assert family.manifest["collected_labels"]["synthetic_c10_tiny_synth_final"]["provenance"]["synthetic_data"]["seed"] == 1
    assert "SYNTHETIC" in column_docs(family.manifest, family.table.column_names)["synthetic_c10_tiny_synth_best"]["description"]
    field = family.table.schema.field("synthetic_c10_tiny_synth_final")
    assert b"SYNTHETIC REHEARSAL LABEL" in field.metadata[b"description"]


def test_synthetic_and_real_results_are_never_collected_together(tmp_path, data_root, restore_nasbench_macro):
    root = tmp_path / "data"
    write_synthetic_cifar10(root, 64, 32, seed=1)
    plan = make_plan("nasbench_macro", 2, 1, RECIPE, tmp_path / "plan", progress=False)
    first, second = plan.units
    run_units(plan, [first.unit_id], options=WorkerOptions(data_root=str(root), progress=False))
    run_units(plan, [second.unit_id], options=WorkerOptions(data_root=str(data_root), progress=False))
    with pytest.raises(ValueError, match="1 of 2 results were trained on a synthetic stand-in"):
        collect([plan], progress=False)
    assert json.loads((root / "cifar-10-batches-py" / SYNTHETIC_MARKER).read_text())["n_test"] == 32

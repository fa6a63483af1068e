"""Labelling plans, the result store, the worker's failure handling, and collected labels in a family.

Networks are HiAML's, trained for real on CPU under a tiny recipe (64 synthetic images, 2 epochs)
read from files in the official CIFAR-10 format, so every result comes from the real worker.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from cgbench.jobs.store import STALE_TMP_SECONDS, ResultExistsError, ResultStore, plan_status
from cgbench.jobs.worker import WorkerOptions, run_units
from labeling.plan import PLAN_FILE, TrainingPlan, make_plan, unit_id
from labeling.recipe import Recipe

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = Recipe(name="tiny_test", epochs=2, batch_size=32, lr=0.05, precision="fp32", n_train=64)


@pytest.fixture(scope="module")
def hiaml_built(cgbench_home):
    from cgbench.dataset import build_family

    build_family("hiaml", progress=False)


def test_unit_id_is_the_documented_hash():
    expected = hashlib.sha256(b"hiaml|a22-z-src1-t31|0123456789abcdef|3").hexdigest()[:16]
    assert unit_id("hiaml", "a22-z-src1-t31", "0123456789abcdef", 3) == expected


def test_same_arguments_give_a_byte_identical_plan(tmp_path, hiaml_built):
    from cgbench import load_family

    a = make_plan("hiaml", 20, 7, RECIPE, tmp_path / "a", train_seeds=(0, 1), progress=False)
    b = make_plan("hiaml", 20, 7, RECIPE, tmp_path / "b", train_seeds=(0, 1), progress=False)
    assert (tmp_path / "a" / PLAN_FILE).read_bytes() == (tmp_path / "b" / PLAN_FILE).read_bytes()
    assert a.units == b.units and len(a.units) == 40 and len({u.unit_id for u in a.units}) == 40
    arch_ids = [u.arch_id for u in a.units[::2]]
    assert len(set(arch_ids)) == 20 and set(arch_ids) <= set(load_family("hiaml", progress=False).arch_ids)
    assert [u.seed for u in a.units[:4]] == [0, 1, 0, 1]
    assert all(u.unit_id == unit_id("hiaml", u.arch_id, RECIPE.hash, u.seed) for u in a.units)

    loaded = TrainingPlan.load(tmp_path / "a" / PLAN_FILE)
    assert (loaded.units, loaded.recipe, loaded.family, loaded.sample_seed) == (a.units, RECIPE, "hiaml", 7)
    assert loaded.created and json.loads((tmp_path / "a" / "plan.json").read_text())["n_units"] == 40

    other_seed = make_plan("hiaml", 20, 8, RECIPE, tmp_path / "c", train_seeds=(0, 1), progress=False)
    assert {u.arch_id for u in other_seed.units} != set(arch_ids)
    other_recipe = Recipe(**{**RECIPE.as_dict(), "epochs": 3})
    relabelled = make_plan("hiaml", 20, 7, other_recipe, tmp_path / "d", train_seeds=(0, 1), progress=False)
    assert [u.arch_id for u in relabelled.units] == [u.arch_id for u in a.units]
    assert not {u.unit_id for u in relabelled.units} & {u.unit_id for u in a.units}


def test_an_existing_plan_is_kept_or_refused(tmp_path, hiaml_built):
    make_plan("hiaml", 5, 0, RECIPE, tmp_path / "p", progress=False)
    before = (tmp_path / "p" / PLAN_FILE).stat().st_mtime_ns
    again = make_plan("hiaml", 5, 0, RECIPE, tmp_path / "p", progress=False)
    assert len(again.units) == 5 and (tmp_path / "p" / PLAN_FILE).stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="different plan"):
        make_plan("hiaml", 5, 1, RECIPE, tmp_path / "p", progress=False)
    with pytest.raises(ValueError, match="between 1 and"):
        make_plan("hiaml", 0, 0, RECIPE, tmp_path / "q", progress=False)
    with pytest.raises(ValueError, match="train_seeds"):
        make_plan("hiaml", 5, 0, RECIPE, tmp_path / "q", train_seeds=(1, 1), progress=False)
    with pytest.raises(ValueError, match="no search space"):
        make_plan("torchvision_zoo", 5, 0, RECIPE, tmp_path / "q", progress=False)
    with pytest.raises(FileNotFoundError, match="cgbench label plan"):
        TrainingPlan.load(tmp_path / "nowhere")


def test_a_plan_whose_recipe_was_altered_is_refused(tmp_path, hiaml_built):
    make_plan("hiaml", 3, 0, RECIPE, tmp_path / "p", progress=False)
    table = pq.read_table(tmp_path / "p" / PLAN_FILE)
    meta = dict(table.schema.metadata)
    meta[b"cgbench.plan.recipe"] = json.dumps({**RECIPE.as_dict(), "lr": 0.5}).encode()
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "p" / PLAN_FILE)
    with pytest.raises(ValueError, match="recipe definition changed"):
        TrainingPlan.load(tmp_path / "p")


@pytest.fixture
def plan(tmp_path, hiaml_built):
    return make_plan("hiaml", 2, 0, RECIPE, tmp_path / "plan", progress=False)


def result_of(plan, unit, accuracy: float) -> dict:
    """A result record of ``unit`` as the worker writes it (the store checks results against their plan)."""
    return {"unit": {"unit_id": unit.unit_id, "family": unit.family, "arch_id": unit.arch_id, "seed": unit.seed},
            "recipe": {"name": plan.recipe.name, "hash": plan.recipe.hash},
            "train": {"final_test_acc": accuracy, "best_test_acc": accuracy, "device": "cpu"},
            "cifar10_sha256": {"test_batch": "0" * 64}, "git_revision": "test"}


def test_a_unit_gets_exactly_one_result(plan):
    store = ResultStore(plan)
    uid = plan.units[0].unit_id
    assert not store.done(uid) and store.pending(plan.units) == list(plan.units)
    store.write(uid, result_of(plan, plan.units[0], 1.0))
    with pytest.raises(ResultExistsError, match="exactly one"):
        store.write(uid, result_of(plan, plan.units[0], 2.0))
    assert store.read(uid) == result_of(plan, plan.units[0], 1.0) and store.pending(plan.units) == [plan.units[1]]
    assert sorted(p.name for p in plan.results_dir.iterdir()) == [f"{uid}.json"]


CRASH_BEFORE_PUBLISHING = """
import json, os, signal, sys
import cgbench.jobs.store as store_module
from labeling.plan import TrainingPlan
store = store_module.ResultStore(TrainingPlan.load(sys.argv[1]))
store_module.os.link = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
store.write(sys.argv[2], json.loads(sys.argv[3]))
"""


def test_a_crash_between_writing_and_publishing_leaves_no_result(plan):
    unit = plan.units[0]
    uid = unit.unit_id
    crashed = subprocess.run([sys.executable, "-c", CRASH_BEFORE_PUBLISHING, str(plan.folder), uid,
                              json.dumps(result_of(plan, unit, 50.0))])
    assert crashed.returncode == -signal.SIGKILL
    leftovers = list(plan.results_dir.glob(".*.tmp"))
    assert len(leftovers) == 1 and json.loads(leftovers[0].read_text()) == result_of(plan, unit, 50.0)
    store = ResultStore(plan)
    assert not store.done(uid) and store.finished() == set() and store.pending(plan.units) == list(plan.units)
    assert leftovers[0].exists(), "a young temporary file may be another worker's write in progress"
    os.utime(leftovers[0], (time.time() - STALE_TMP_SECONDS - 1,) * 2)
    assert ResultStore(plan).clean_partial() == [] and not leftovers[0].exists()  # opening the store cleaned it
    store.write(uid, result_of(plan, unit, 51.0))
    assert store.read(uid) == result_of(plan, unit, 51.0)


def test_a_truncated_leftover_is_ignored(plan):
    uid = plan.units[1].unit_id
    store = ResultStore(plan)
    partial = plan.results_dir / f".{uid}.json.abc.tmp"
    partial.write_text('{"train": {"final_te')
    assert not store.done(uid) and uid not in store.finished() and partial.exists()
    assert store.clean_partial(older_than=0) == [partial]


def test_the_worker_records_failures_continues_and_reruns_only_what_is_missing(plan, data_root, monkeypatch):
    import labeling.unit as worker

    broken, fine = plan.units
    build = worker.build_network

    def build_or_fail(unit):
        if unit.unit_id == broken.unit_id:
            raise ValueError(f"cannot build {unit.arch_id}")
        return build(unit)

    monkeypatch.setattr(worker, "build_network", build_or_fail)
    first = run_units(plan, options=WorkerOptions(data_root=str(data_root), progress=False))
    assert (first.done, first.failed, first.skipped) == ([fine.unit_id], [broken.unit_id], [])
    status = plan_status(plan)
    assert status.done == [fine.unit_id] and list(status.failed) == [broken.unit_id]
    record = status.failed[broken.unit_id]
    assert (record["error_type"], record["message"], record["attempts"]) == (
        "ValueError", f"cannot build {broken.arch_id}", 1)
    assert "build_or_fail" in record["traceback"] and record["hostname"]

    result_file = ResultStore(plan).result_path(fine.unit_id)
    result_bytes = result_file.read_bytes()
    second = run_units(plan, options=WorkerOptions(data_root=str(data_root), progress=False))
    assert (second.done, second.failed, second.skipped) == ([], [broken.unit_id], [fine.unit_id])
    assert plan_status(plan).failed[broken.unit_id]["attempts"] == 2
    assert result_file.read_bytes() == result_bytes

    monkeypatch.setattr(worker, "build_network", build)
    third = run_units(plan, options=WorkerOptions(data_root=str(data_root), progress=False))
    assert (third.done, third.failed, third.skipped) == ([broken.unit_id], [], [fine.unit_id])
    status = plan_status(plan)
    assert sorted(status.done) == sorted(u.unit_id for u in plan.units) and not status.failed
    assert not list(plan.failures_dir.iterdir()) and not list(plan.checkpoints_dir.iterdir())

    result = ResultStore(plan).read(broken.unit_id)
    assert result["unit"] == {"unit_id": broken.unit_id, "family": "hiaml", "arch_id": broken.arch_id, "seed": 0}
    assert result["recipe"] == {"name": "tiny_test", "hash": RECIPE.hash}
    assert len(result["train"]["epochs"]) == 2 and result["train"]["device"] == "cpu"
    assert result["resumed_from_checkpoint"] is False and result["git_revision"] and result["hostname"]


def test_a_missing_data_root_fails_every_unit_with_the_reason(plan, tmp_path):
    summary = run_units(plan, options=WorkerOptions(data_root=str(tmp_path / "no-such-folder"), progress=False))
    assert sorted(summary.failed) == sorted(u.unit_id for u in plan.units) and not summary.done
    status = plan_status(plan)
    assert status.counts() == {"done": 0, "pending": 0, "in_progress": 0, "failed": 2}
    assert all(r["error_type"] == "MissingDataError" and "no-such-folder" in r["message"]
               and "cgbench label data --download" in r["message"] for r in status.failed.values())


def test_status_counts_a_newer_checkpoint_as_in_progress(plan):
    first, second = plan.units
    plan.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    ResultStore(plan).record_failure(first, RuntimeError("preempted"))
    failure = plan.failures_dir / f"{first.unit_id}.json"
    os.utime(failure, (time.time() - 60,) * 2)
    plan.checkpoint_path(first.unit_id).write_bytes(b"checkpoint of a retry")
    status = plan_status(plan)
    assert list(status.in_progress) == [first.unit_id] and status.pending == [second.unit_id]
    os.utime(plan.checkpoint_path(first.unit_id), (time.time() - 120,) * 2)
    assert list(plan_status(plan).failed) == [first.unit_id]


@pytest.fixture
def restore_hiaml(hiaml_built):
    """Collected sets are removed afterwards, so other tests see the family as it was built."""
    from cgbench.collected import collected_folder
    from cgbench.dataset import load_family

    yield load_family("hiaml", progress=False)
    for path in collected_folder("hiaml").glob("*.parquet"):
        path.unlink()
    load_family("hiaml", progress=False)


def test_collected_labels_join_the_family_and_leave_it_when_deleted(tmp_path, data_root, restore_hiaml):
    from cgbench import load_family
    from cgbench.collected import collected_folder, read_collected
    from labeling.collect import LICENCE, collect

    plan = make_plan("hiaml", 2, 3, RECIPE, tmp_path / "plan", train_seeds=(0, 1), progress=False)
    assert len(run_units(plan, options=WorkerOptions(data_root=str(data_root), progress=False)).done) == 4
    results = [ResultStore(plan).read(u.unit_id) for u in plan.units]
    report = collect([plan], progress=False)
    assert report.columns == ("c10_tiny_test_final", "c10_tiny_test_best") and report.n_results == 4

    family = load_family("hiaml", progress=False)
    assert family.data_sha256 != restore_hiaml.data_sha256 and family.default_target is None
    final, best = family.labels("c10_tiny_test_final"), family.labels("c10_tiny_test_best")
    rows = {a: i for i, a in enumerate(family.arch_ids)}
    for arch_id in {u.arch_id for u in plan.units}:
        finals = [r["train"]["final_test_acc"] for r in results if r["unit"]["arch_id"] == arch_id]
        bests = [r["train"]["best_test_acc"] for r in results if r["unit"]["arch_id"] == arch_id]
        assert final[rows[arch_id]] == pytest.approx(np.mean(finals), abs=1e-12)
        assert best[rows[arch_id]] == pytest.approx(np.mean(bests), abs=1e-12)
    assert np.isnan(final).sum() == len(family) - 2

    meta = family.manifest["labels"]["c10_tiny_test_final"]
    assert (meta["source_id"], meta["dataset"], meta["unit"], meta["epochs"], meta["licence"]) == (
        "cgbench", "CIFAR-10", "%", 2, LICENCE)
    assert "64 training images" in meta["split"] and "[0, 1]" in meta["seeds"] and RECIPE.hash in meta["description"]
    provenance = family.manifest["collected_labels"]["c10_tiny_test_final"]["provenance"]
    assert provenance["recipe_hash"] == RECIPE.hash and provenance["plans"] == [str(plan.folder)]
    stored = {s.column.name: s for s in read_collected("hiaml")}["c10_tiny_test_final"]
    assert list(stored.n_seeds) == [2, 2] and np.all(stored.std >= 0)

    edited = Recipe(**{**RECIPE.as_dict(), "lr": 0.02})
    other = make_plan("hiaml", 1, 3, edited, tmp_path / "other", progress=False)
    moved = other.units[0]
    ResultStore(other).write(moved.unit_id, results[0] | {
        "unit": {**results[0]["unit"], "unit_id": moved.unit_id, "arch_id": moved.arch_id, "seed": moved.seed},
        "recipe": {**results[0]["recipe"], "hash": edited.hash}})
    with pytest.raises(FileExistsError, match="another name"):
        collect([other], progress=False)
    with pytest.raises(ValueError, match="share family and recipe"):
        collect([plan, other], progress=False)

    (collected_folder("hiaml") / "c10_tiny_test_best.parquet").unlink()
    family = load_family("hiaml", progress=False)
    assert family.targets == ["c10_tiny_test_final"] and "c10_tiny_test_best" not in family.table.column_names
    (collected_folder("hiaml") / "c10_tiny_test_final.parquet").unlink()
    family = load_family("hiaml", progress=False)
    assert family.targets == [] and "collected_labels" not in family.manifest
    assert family.table.equals(restore_hiaml.table) and family.manifest["n_archs"] == len(restore_hiaml)
    assert family.data_sha256 == restore_hiaml.data_sha256, "submissions made before the collect validate again"

"""Class 5 of the hostile-input issue: labelling results are checked against their plan.

Two HiAML units are trained for real (2 epochs on 64 synthetic images in the official CIFAR-10
file format); each test then damages a copy of that plan. ``collect`` refuses results that do not
belong to their unit (another architecture, another recipe, a NaN accuracy, ``{}``, garbage) and
names the files; ``Plan.load`` recomputes unit ids, so an edited plan is refused; every result
records the sha256 of the CIFAR-10 files it read, and the collected labels carry it.
"""

import hashlib
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cgbench.jobs.store import InvalidResultError, ResultStore
from cgbench.jobs.worker import WorkerOptions, run_units
from labeling.collect import collect
from labeling.plan import PLAN_FILE, InvalidPlanError, TrainingPlan, make_plan
from labeling.recipe import Recipe

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = Recipe(name="tiny_hostile", epochs=2, batch_size=32, lr=0.05, precision="fp32", n_train=64)


@pytest.fixture(scope="module")
def trained(cgbench_home, data_root, tmp_path_factory):
    """A plan of two HiAML units, both trained."""
    from cgbench.dataset import build_family

    build_family("hiaml", progress=False)
    plan = make_plan("hiaml", 2, 11, RECIPE, tmp_path_factory.mktemp("plans") / "plan", progress=False)
    assert len(run_units(plan, options=WorkerOptions(data_root=str(data_root), progress=False)).done) == 2
    return plan


@pytest.fixture
def plan(trained, tmp_path):
    """A copy of the trained plan that a test may damage."""
    shutil.copytree(trained.folder, tmp_path / "plan")
    return TrainingPlan.load(tmp_path / "plan")


@pytest.fixture
def private_home(cgbench_home, tmp_path, monkeypatch):
    """A CGBENCH_HOME holding a copy of the hiaml build: collected labels do not reach other tests."""
    from cgbench import load_family

    home = tmp_path / "home"
    shutil.copytree(load_family("hiaml", progress=False).folder, home / "families" / "hiaml" / "1.0")
    monkeypatch.setenv("CGBENCH_HOME", str(home))
    return home


def result_path(plan, i: int):
    return ResultStore(plan).result_path(plan.units[i].unit_id)


def rewrite(plan, i: int, change) -> None:
    path = result_path(plan, i)
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_every_result_records_the_cifar10_files_it_read_and_collect_carries_them(plan, data_root, private_home):
    from cgbench import load_family

    expected = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                for path in (data_root / "cifar-10-batches-py").iterdir()}
    assert sorted(expected) == ["data_batch_1", "data_batch_2", "test_batch"]
    for unit in plan.units:
        assert ResultStore(plan).read(unit.unit_id)["cifar10_sha256"] == expected
    report = collect([plan], progress=False)
    family = load_family("hiaml", progress=False)
    for column in report.columns:
        assert family.manifest["collected_labels"][column]["provenance"]["cifar10_sha256"] == [expected]


@pytest.mark.parametrize("change, message", [
    (lambda r: r["unit"].update(arch_id="a11-z-src1-t11"), r"unit.arch_id is 'a11-z-src1-t11', but the plan's unit "
                                                           r"has '[^']+'"),
    (lambda r: r["unit"].update(seed=3), "unit.seed is 3, but the plan's unit has 0"),
    (lambda r: r["recipe"].update(hash="0" * 16), "recipe.hash is '0000000000000000', but the plan's recipe is "),
    (lambda r: r["train"].update(final_test_acc=float("nan")), r"train.final_test_acc is nan, not an accuracy"),
    (lambda r: r["train"].update(best_test_acc=250.0), r"train.best_test_acc is 250.0, not an accuracy in \[0, 100\]"),
    (lambda r: r["train"].update(final_test_acc="92"), "train.final_test_acc is '92', not an accuracy"),
    (lambda r: r.pop("cifar10_sha256"), "its 'cifar10_sha256' is missing or not an object"),
    (lambda r: r.update(cifar10_sha256={}), "cifar10_sha256 does not record the sha256"),
    (lambda r: r.clear(), "its 'unit' is missing or not an object; its 'recipe' is missing"),
])
def test_collect_refuses_a_result_that_does_not_match_its_plan(plan, private_home, change, message):
    rewrite(plan, 1, change)
    with pytest.raises(InvalidResultError, match=f"1 result file\\(s\\) do not match their plan, nothing was "
                                                 f"collected: {result_path(plan, 1)}: {message}"):
        collect([plan], progress=False)
    assert not (private_home / "collected").exists()


@pytest.mark.parametrize("content, message", [
    (b"garbage", r"not valid JSON \(truncated or malformed\)"),
    (b"\x00\x01\x02", r"is binary \(it holds NUL bytes\)"),
    (b"[1, 2]", "it holds list, not a result object"),
    (b"[" * 300 + b"]" * 300, "JSON nested 300 levels deep"),
])
def test_collect_names_unreadable_result_files(plan, private_home, content, message):
    result_path(plan, 0).write_bytes(content)
    with pytest.raises(InvalidResultError, match=f"{result_path(plan, 0)}.*{message}"):
        collect([plan], progress=False)


def test_several_bad_files_are_all_counted_and_the_cli_says_it_in_one_line(plan, private_home, cli_error):
    rewrite(plan, 0, lambda r: r["train"].update(final_test_acc=float("inf")))
    result_path(plan, 1).write_text("{}")
    line = cli_error("label", "collect", plan.folder)
    assert line.startswith("cgbench label collect: error: 2 result file(s) do not match their plan, nothing was "
                           "collected: ")
    assert f"{result_path(plan, 0)}: train.final_test_acc is inf, not an accuracy" in line
    assert f"{result_path(plan, 1)}: its 'unit' is missing" in line


def _rewrite_plan(plan, edit, keep_metadata: bool = True) -> None:
    """Rewrite the plan file with ``edit`` applied to its table (its metadata kept, unless told otherwise)."""
    file = plan.folder / PLAN_FILE
    table = pq.read_table(file)
    edited = edit(table)
    pq.write_table(edited.replace_schema_metadata(table.schema.metadata) if keep_metadata else edited, file)


def test_a_plan_whose_rows_were_edited_is_refused(plan, cli_error):
    other = make_plan("hiaml", 1, 99, RECIPE, plan.folder.parent / "other", progress=False).units[0].arch_id
    _rewrite_plan(plan, lambda t: t.set_column(2, "arch_id", pa.array([other] + t.column("arch_id").to_pylist()[1:])))
    with pytest.raises(InvalidPlanError, match=f"row 0 \\(unit {plan.units[0].unit_id}\\) was edited after the plan "
                                               f"was made: its arch_id '{other}' and seed 0 give unit id "):
        TrainingPlan.load(plan.folder)
    assert "was edited after the plan was made" in cli_error("label", "status", plan.folder)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.set_column(3, "seed", pa.array([5, 0], pa.int64())), r"row 0 \(unit [0-9a-f]+\) was edited"),
    (lambda t: t.set_column(1, "family", pa.array(["inception", "hiaml"])), "row 0 names family 'inception'"),
    (lambda t: t.drop_columns(["seed"]), r"lacks the column\(s\) \['seed'\]"),
    (lambda t: pa.concat_tables([t, t.slice(0, 1)]), "lists a unit more than once"),
])
def test_plan_edits_are_detected(plan, edit, message):
    _rewrite_plan(plan, edit)
    with pytest.raises(InvalidPlanError, match=message):
        TrainingPlan.load(plan.folder)


def test_a_plan_without_its_metadata_is_refused(plan):
    _rewrite_plan(plan, lambda t: t.replace_schema_metadata(None), keep_metadata=False)
    with pytest.raises(InvalidPlanError, match="is not a cgbench plan: it has no plan metadata"):
        TrainingPlan.load(plan.folder)


def test_a_corrupted_plan_file_gives_a_clean_error(plan, cli_error):
    file = plan.folder / PLAN_FILE
    file.write_bytes(file.read_bytes()[:200])
    with pytest.raises(InvalidPlanError, match=f"{file} is not a readable Parquet plan"):
        TrainingPlan.load(plan.folder)
    assert cli_error("label", "collect", plan.folder).startswith(
        f"cgbench label collect: error: {file} is not a readable Parquet plan")
    file.write_bytes(b"")
    with pytest.raises(InvalidPlanError, match="is not a readable Parquet plan"):
        TrainingPlan.load(plan.folder)


def test_a_corrupted_plan_summary_or_failure_record_gives_a_clean_error(plan, cli_error):
    (plan.folder / "plan.json").write_text('{"created": ')
    assert "plan.json: not valid JSON" in cli_error("label", "status", plan.folder)
    (plan.folder / "plan.json").write_text('{"created": "2024-01-01T00:00:00+00:00"}')
    unit = plan.units[0]
    result_path(plan, 0).unlink()
    failure = ResultStore(plan).failure_path(unit.unit_id)
    failure.write_text('{"unit_id": "x"}')
    line = cli_error("label", "status", plan.folder)
    assert line.endswith(f"{failure} is not a failure record (it lacks ['error_type', 'message', "
                         "'attempts', 'hostname', 'time']); delete it to retry the unit")

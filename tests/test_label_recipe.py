import json
import subprocess
import sys
from dataclasses import fields, replace

import pytest

from labeling.recipe import Recipe, get_recipe, list_recipes, resolve_recipe


def test_registered_recipes():
    assert list_recipes() == ["short12", "short36", "standard", "tiny_cpu"]
    standard = get_recipe("standard")
    assert (standard.epochs, standard.batch_size, standard.lr, standard.momentum, standard.nesterov,
            standard.weight_decay, standard.schedule, standard.augmentation, standard.precision,
            standard.label_smoothing, standard.n_train) == (200, 256, 0.1, 0.9, True, 5e-4, "cosine",
                                                            "crop_flip", "bf16", 0.0, None)
    assert get_recipe("short12") == replace(standard, name="short12", epochs=12)
    assert get_recipe("short36") == replace(standard, name="short36", epochs=36)
    tiny = get_recipe("tiny_cpu")
    assert (tiny.epochs, tiny.batch_size, tiny.lr, tiny.precision, tiny.n_train) == (2, 32, 0.05, "fp32", 256)
    assert len({get_recipe(n).hash for n in list_recipes()}) == 4


def test_unknown_recipe_lists_known_names():
    with pytest.raises(ValueError, match="unknown recipe 'nope'.*short12, short36, standard, tiny_cpu"):
        get_recipe("nope")


def test_hash_is_stable_across_processes_and_field_order():
    recipe = get_recipe("standard")
    code = "from labeling.recipe import get_recipe; print(get_recipe('standard').hash)"
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other_process.stdout.strip() == recipe.hash
    assert len(recipe.hash) == 16 and int(recipe.hash, 16) >= 0
    reordered = dict(reversed(list(recipe.as_dict().items())))
    assert Recipe.from_dict(reordered).hash == recipe.hash
    # lr written as 1 or 1.0 in a JSON file is the same recipe
    assert Recipe.from_dict({**recipe.as_dict(), "lr": 1}).hash == replace(recipe, lr=1.0).hash


@pytest.mark.parametrize("field, value", [
    ("name", "other"), ("epochs", 201), ("batch_size", 128), ("lr", 0.2), ("momentum", 0.8),
    ("nesterov", False), ("weight_decay", 1e-4), ("warmup_epochs", 1.0), ("label_smoothing", 0.1),
    ("augmentation", "none"), ("precision", "fp32"), ("n_train", 1000),
])
def test_hash_changes_with_every_field(field, value):
    recipe = get_recipe("standard")
    assert replace(recipe, **{field: value}).hash != recipe.hash


def test_every_field_is_covered_by_the_hash_test():
    # optimizer and schedule have a single allowed value each, so they cannot change
    tested = {"name", "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "warmup_epochs",
              "label_smoothing", "augmentation", "precision", "n_train", "optimizer", "schedule"}
    assert {f.name for f in fields(Recipe)} == tested


def test_from_dict_is_strict():
    good = get_recipe("short12").as_dict()
    assert Recipe.from_dict(good) == get_recipe("short12")
    with pytest.raises(ValueError, match=r"unknown \['lr_peak'\], missing none"):
        Recipe.from_dict({**good, "lr_peak": 0.1})
    without_epochs = {k: v for k, v in good.items() if k != "epochs"}
    with pytest.raises(ValueError, match=r"unknown none, missing \['epochs'\]"):
        Recipe.from_dict(without_epochs)
    with pytest.raises(ValueError, match="JSON object"):
        Recipe.from_dict([1, 2])


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be an int >= 1"),
    ("epochs", 2.5, "epochs must be an int >= 1"),
    ("batch_size", True, "batch_size must be an int >= 1"),
    ("optimizer", "adam", "optimizer must be one of"),
    ("lr", -0.1, "lr must be a number > 0"),
    ("lr", float("nan"), "lr must be a number > 0"),
    ("lr", "0.1", "lr must be a number > 0"),
    ("momentum", 1.0, r"momentum must be a number in \[0, 1\)"),
    ("nesterov", "yes", "nesterov must be true or false"),
    ("weight_decay", -1.0, "weight_decay must be a number >= 0"),
    ("schedule", "step", "schedule must be one of"),
    ("warmup_epochs", 12.0, r"warmup_epochs must be a number in \[0, epochs\)"),
    ("label_smoothing", 1.0, r"label_smoothing must be a number in \[0, 1\)"),
    ("augmentation", "autoaugment", "augmentation must be one of"),
    ("precision", "fp16", "precision must be one of"),
    ("n_train", 0, "n_train must be null or an int >= 1"),
])
def test_bad_values_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        Recipe.from_dict({**get_recipe("short12").as_dict(), field: value})


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov needs momentum > 0"):
        replace(get_recipe("short12"), momentum=0.0)


def test_resolve_recipe_by_name_and_json_file(tmp_path):
    assert resolve_recipe("tiny_cpu") == get_recipe("tiny_cpu")
    custom = replace(get_recipe("short12"), name="my_run", epochs=5, warmup_epochs=1.0)
    path = tmp_path / "my_run.json"
    path.write_text(json.dumps(custom.as_dict(), indent=2))
    loaded = resolve_recipe(str(path))
    assert loaded == custom and loaded.hash == custom.hash
    assert resolve_recipe(path) == custom


def test_resolve_recipe_errors(tmp_path):
    with pytest.raises(ValueError, match="neither a registered recipe .* nor an existing JSON recipe file"):
        resolve_recipe(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_recipe(str(broken))
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"name": "x", "epochs": 3}))
    with pytest.raises(ValueError, match="missing"):
        resolve_recipe(str(partial))

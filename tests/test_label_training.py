import json
import os
import pickle
import pickletools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from cgbench.families import family_spec
from labeling.cifar10 import (
    CIFAR10_FOLDER,
    Cifar10,
    Cifar10FormatError,
    ImageSet,
    load_cifar10,
    synthetic_cifar10,
    write_cifar10_batches,
)
from labeling.gpu_loader import CIFAR10_MEAN, CIFAR10_STD, PAD, GpuBatches
from labeling.recipe import get_recipe
from labeling.train import CheckpointError, CosineSchedule, train_network

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synthetic():
    train, test = synthetic_cifar10(n_train=512, n_test=200, seed=0)
    return Cifar10(train=train, test=test, folder=Path("synthetic"))


def small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(4),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.1),  # draws from the global RNG, so resuming must restore it
        nn.Linear(32, 10),
    )


def without_timing(result) -> dict:
    d = result.as_dict()
    for key in ("wall_seconds", "images_per_second"):
        d.pop(key)
    for record in d["epochs"]:
        record.pop("seconds")
    return d


# ---------------------------------------------------------------- CIFAR-10 files

def test_official_format_round_trip(tmp_path):
    train, test = synthetic_cifar10(n_train=50, n_test=20, seed=1)
    folder = write_cifar10_batches(tmp_path, train, test, n_train_batches=5)
    assert folder == tmp_path / CIFAR10_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    loaded = load_cifar10(tmp_path)
    assert torch.equal(loaded.train.images, train.images) and torch.equal(loaded.train.labels, train.labels)
    assert torch.equal(loaded.test.images, test.images) and torch.equal(loaded.test.labels, test.labels)
    assert loaded.folder == folder
    # download=True must not fetch anything when every batch is there
    assert torch.equal(load_cifar10(tmp_path, download=True).test.images, test.images)


def test_written_files_have_the_official_python2_layout(tmp_path):
    train, test = synthetic_cifar10(n_train=10, n_test=10, seed=2)
    folder = write_cifar10_batches(tmp_path, train, test, n_train_batches=1)
    raw = (folder / "test_batch").read_bytes()
    opcodes = {op.name for op, _, _ in pickletools.genops(raw)}
    assert raw[:2] == b"\x80\x02" and "BINSTRING" in opcodes and "SHORT_BINSTRING" in opcodes
    assert not opcodes & {"BINBYTES", "SHORT_BINBYTES"}
    # The reader the CIFAR-10 page gives for its Python 2 files reads ours the same way.
    with open(folder / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert set(batch) == {b"data", b"labels", b"batch_label", b"filenames"}
    assert np.array_equal(batch[b"data"], test.images.reshape(10, 3072).numpy())
    assert batch[b"labels"] == test.labels.tolist()


def test_missing_folder_and_missing_test_batch(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 folder .*download=True"):
        load_cifar10(tmp_path)
    train, test = synthetic_cifar10(n_train=10, n_test=10, seed=2)
    folder = write_cifar10_batches(tmp_path, train, test, n_train_batches=1)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="no test_batch"):
        load_cifar10(tmp_path)


def test_truncated_batch_is_refused(tmp_path):
    train, test = synthetic_cifar10(n_train=20, n_test=10, seed=3)
    folder = write_cifar10_batches(tmp_path, train, test, n_train_batches=2)
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(Cifar10FormatError, match="data_batch_2.*truncated or corrupted"):
        load_cifar10(tmp_path)


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_hostile_pickle_is_refused_without_running_it(tmp_path):
    train, test = synthetic_cifar10(n_train=10, n_test=10, seed=4)
    folder = write_cifar10_batches(tmp_path, train, test, n_train_batches=1)
    marker = tmp_path / "pwned"
    hostile = {b"data": _RunsCommand(f"touch {marker}"), b"labels": []}
    (folder / "data_batch_1").write_bytes(pickle.dumps(hostile, protocol=3))
    with pytest.raises(Cifar10FormatError, match="hostile or foreign pickle: refusing to unpickle .(posix|os).system"):
        load_cifar10(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((4, 3000), np.uint8), b"labels": [0] * 4}, r"uint8 array \(N, 3072\), got uint8 \(4, 3000\)"),
    ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "got float32"),
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "list of 4 ints .* got 3 labels"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels must lie in 0..9"),
    ({b"pixels": np.zeros((2, 3072), np.uint8)}, "expected a dict with b'data' and b'labels'"),
])
def test_wrong_contents_are_refused(tmp_path, batch, message):
    train, test = synthetic_cifar10(n_train=10, n_test=10, seed=5)
    folder = write_cifar10_batches(tmp_path, train, test, n_train_batches=1)
    # Python 3 pickles (bytes opcodes, numpy 2 globals) are read too, so the shape checks are reached.
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=3))
    with pytest.raises(Cifar10FormatError, match=message):
        load_cifar10(tmp_path)


def test_image_set_validates_shapes():
    with pytest.raises(ValueError, match=r"uint8 \(N, 3, 32, 32\)"):
        ImageSet(torch.zeros(2, 3, 28, 28, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels must be int64"):
        ImageSet(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


def test_synthetic_images_are_deterministic():
    a, _ = synthetic_cifar10(n_train=30, n_test=5, seed=7)
    b, _ = synthetic_cifar10(n_train=30, n_test=5, seed=7)
    c, _ = synthetic_cifar10(n_train=30, n_test=5, seed=8)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


# ---------------------------------------------------------------- device batches

def _window_of(padded: torch.Tensor, crop: torch.Tensor) -> tuple[int, int, bool] | None:
    for dy in range(2 * PAD + 1):
        for dx in range(2 * PAD + 1):
            window = padded[:, dy:dy + 32, dx:dx + 32]
            if torch.equal(crop, window):
                return dy, dx, False
            if torch.equal(crop, window.flip(-1)):
                return dy, dx, True
    return None


def test_crops_are_windows_of_the_padded_image_and_flips_are_mirrors():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    batches = GpuBatches(images, torch.arange(64), 64, "crop_flip", "cpu", seed=0)
    crops = batches.crop_flip(images, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(images, (PAD, PAD, PAD, PAD))
    found = [_window_of(padded[i], crops[i]) for i in range(64)]
    assert all(f is not None for f in found)
    flips = [f[2] for f in found]
    assert 10 < sum(flips) < 54  # both kinds, roughly half each
    assert len({f[:2] for f in found}) > 20  # many different offsets


def test_batches_are_normalised_augmented_images_of_their_labels():
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(CIFAR10_MEAN).view(3, 1, 1), torch.tensor(CIFAR10_STD).view(3, 1, 1)
    padded = torch.nn.functional.pad(images, (PAD, PAD, PAD, PAD))
    for x, y in GpuBatches(images, torch.arange(40), 8, "crop_flip", "cpu", seed=3):
        pixels = ((x * std + mean) * 255).round().to(torch.uint8)
        assert all(_window_of(padded[int(i)], p) is not None for i, p in zip(y, pixels, strict=True))
    plain = GpuBatches(images, torch.arange(40), 8, "none", "cpu", seed=3, shuffle=False, drop_last=False)
    x, y = next(iter(plain))
    assert torch.equal(y, torch.arange(8))
    assert torch.allclose(x, (images[:8].float() / 255 - mean) / std)


def test_an_epoch_visits_every_image_once_and_is_seeded():
    labels = torch.arange(100)
    images = torch.zeros(100, 3, 32, 32, dtype=torch.uint8)
    complete = GpuBatches(images, labels, 32, "crop_flip", "cpu", seed=0, drop_last=False)
    assert torch.equal(torch.cat([y for _, y in complete]).sort().values, labels)
    dropping = GpuBatches(images, labels, 32, "crop_flip", "cpu", seed=0)
    assert len(dropping) == 3
    epoch0 = torch.cat([y for _, y in dropping])
    epoch1 = torch.cat([y for _, y in dropping])
    assert len(epoch0) == 96 and len(set(epoch0.tolist())) == 96
    assert not torch.equal(epoch0, epoch1)
    again = GpuBatches(images, labels, 32, "crop_flip", "cpu", seed=0)
    again.set_epoch(1)
    assert torch.equal(torch.cat([y for _, y in again]), epoch1)
    other_seed = GpuBatches(images, labels, 32, "crop_flip", "cpu", seed=1)
    assert not torch.equal(torch.cat([y for _, y in other_seed]), epoch0)


def test_channels_last_and_bad_arguments():
    images = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    x, _ = next(iter(GpuBatches(images, torch.arange(8), 4, "none", "cpu", seed=0, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    with pytest.raises(ValueError, match="augmentation must be one of"):
        GpuBatches(images, torch.arange(8), 4, "cutout", "cpu", seed=0)
    with pytest.raises(ValueError, match="batch_size 16 exceeds the 8 images"):
        GpuBatches(images, torch.arange(8), 16, "none", "cpu", seed=0)
    with pytest.raises(ValueError, match="images must be uint8"):
        GpuBatches(images.float(), torch.arange(8), 4, "none", "cpu", seed=0)


# ---------------------------------------------------------------- training

def test_schedule_warms_up_then_anneals_to_zero():
    recipe = replace(get_recipe("tiny_cpu"), epochs=10, lr=0.1, warmup_epochs=2.0)
    schedule = CosineSchedule(recipe, steps_per_epoch=5)
    lrs = [schedule.lr(step) for step in range(50)]
    assert lrs[:10] == pytest.approx([0.01 * (i + 1) for i in range(10)])
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert lrs[10] == pytest.approx(0.1) and lrs[-1] < 0.001


def test_training_learns_and_reports_its_setting(synthetic):
    recipe = replace(get_recipe("tiny_cpu"), epochs=4, n_train=512, label_smoothing=0.1, warmup_epochs=0.5)
    seen = []
    result = train_network(small_net(), synthetic, recipe, seed=0, progress=False, on_epoch=seen.append)
    assert [r.epoch for r in result.epochs] == [1, 2, 3, 4] and seen == result.epochs
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    assert result.final_test_acc > 50  # chance is 10%
    assert result.best_test_acc == max(r.test_acc for r in result.epochs)
    assert result.epochs[result.best_epoch - 1].test_acc == result.best_test_acc
    assert result.device == "cpu" and result.torch_version == torch.__version__ and result.cuda_version is None
    assert result.images_per_second > 0 and result.wall_seconds > 0
    assert json.loads(json.dumps(result.as_dict()))["epochs"][0]["epoch"] == 1


def test_bf16_autocast_trains_on_cpu(synthetic):
    recipe = replace(get_recipe("tiny_cpu"), epochs=3, n_train=512, precision="bf16")
    result = train_network(small_net(), synthetic, recipe, seed=0, progress=False)
    assert result.final_test_acc > 30


def test_seed_not_caller_rng_decides_the_result(synthetic):
    recipe = get_recipe("tiny_cpu")
    torch.manual_seed(123)
    first = train_network(small_net(), synthetic, recipe, seed=5, progress=False)
    torch.manual_seed(456)
    second = train_network(small_net(), synthetic, recipe, seed=5, progress=False)
    other = train_network(small_net(), synthetic, recipe, seed=6, progress=False)
    assert without_timing(first) == without_timing(second)
    assert without_timing(first) != without_timing(other)


class _Interrupt(Exception):
    pass


def _stop_after_first_epoch(record):
    if record.epoch == 1:
        raise _Interrupt


def test_resume_from_checkpoint_equals_uninterrupted_run(synthetic, tmp_path):
    recipe = replace(get_recipe("tiny_cpu"), epochs=3, n_train=256)
    straight_model = small_net()
    straight = train_network(straight_model, synthetic, recipe, seed=1, progress=False,
                             checkpoint_path=tmp_path / "straight.pt")
    checkpoint = tmp_path / "resumed.pt"
    with pytest.raises(_Interrupt):
        train_network(small_net(), synthetic, recipe, seed=1, progress=False, checkpoint_path=checkpoint,
                      on_epoch=_stop_after_first_epoch)
    assert torch.load(checkpoint, weights_only=True)["epochs_done"] == 1
    torch.manual_seed(999)  # the resumed process's own RNG state must not matter
    resumed_model = small_net()
    resumed_epochs = []
    resumed = train_network(resumed_model, synthetic, recipe, seed=1, progress=False, checkpoint_path=checkpoint,
                            on_epoch=resumed_epochs.append)
    assert [r.epoch for r in resumed_epochs] == [2, 3]
    assert without_timing(resumed) == without_timing(straight)
    for (name, a), (_, b) in zip(straight_model.state_dict().items(), resumed_model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupted_or_foreign_checkpoint_is_refused(synthetic, tmp_path):
    recipe = replace(get_recipe("tiny_cpu"), epochs=1, n_train=64)
    checkpoint = tmp_path / "unit.pt"
    train_network(small_net(), synthetic, recipe, seed=0, progress=False, checkpoint_path=checkpoint)
    with pytest.raises(CheckpointError, match="belongs to recipe .* seed 0, not to recipe tiny_cpu .* seed 1"):
        train_network(small_net(), synthetic, recipe, seed=1, progress=False, checkpoint_path=checkpoint)
    with pytest.raises(CheckpointError, match="does not fit this network"):
        train_network(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)), synthetic, recipe, seed=0, progress=False,
                      checkpoint_path=checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="unreadable .* delete it to train from the start"):
        train_network(small_net(), synthetic, recipe, seed=0, progress=False, checkpoint_path=checkpoint)
    checkpoint.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="unreadable"):
        train_network(small_net(), synthetic, recipe, seed=0, progress=False, checkpoint_path=checkpoint)


def test_bad_training_setups_are_refused(synthetic):
    with pytest.raises(ValueError, match="first 1000 training images, but the data set has only 512"):
        train_network(small_net(), synthetic, replace(get_recipe("tiny_cpu"), n_train=1000), seed=0, progress=False)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x.mean(dim=(2, 3)).repeat(1, 4)[:, :10] * self.scale

    with pytest.raises(ValueError, match=r"modules \[''\] own parameters but have no reset_parameters"):
        train_network(Scaled(), synthetic, get_recipe("tiny_cpu"), seed=0, progress=False)


def test_a_hiaml_network_trains(synthetic):
    space = family_spec("hiaml").space
    model = space.build(space.parse("z-a22-src1-t31"))
    small = Cifar10(train=synthetic.train, test=synthetic.test.first(32), folder=synthetic.folder)
    recipe = replace(get_recipe("tiny_cpu"), epochs=1, n_train=64)
    result = train_network(model, small, recipe, seed=0, progress=False)
    assert len(result.epochs) == 1 and 0 <= result.final_test_acc <= 100
    assert np.isfinite(result.epochs[0].train_loss)

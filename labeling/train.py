"""Train one network on CIFAR-10 under a :class:`~labeling.recipe.Recipe`: the label-making loop.

Choices and why:

- Reproducible from ``(network, recipe, seed)``: the parameters are re-initialised under
  ``torch.manual_seed(seed)`` (every module's own ``reset_parameters``), batches come from
  :class:`~labeling.gpu_loader.GpuBatches` seeded per epoch, and the learning rate is a pure function
  of the step. A network whose parameters are not all owned by modules with ``reset_parameters`` is
  refused, since its initialisation would not follow the seed.
- Optimiser: SGD (momentum, Nesterov, weight decay on every parameter, as NB-201). Learning rate set
  every step: linear warmup over ``warmup_epochs`` then cosine from the peak to 0 at the last step.
- Mixed precision: ``torch.autocast(device_type, dtype=torch.bfloat16)`` around the forward pass and
  loss when ``recipe.precision == "bf16"`` (fp32 weights, gradients and optimiser state; bf16 needs no
  loss scaling). On CUDA the network and batches are ``channels_last`` (tensor-core convolutions).
  ``compile=True`` wraps the network in ``torch.compile``.
- Every epoch ends with an evaluation of the full test set (eval mode, no augmentation, accuracy in
  %) and, if ``checkpoint_path`` is given, an atomic checkpoint (``cgbench.storage.atomic_write``: tmp file, fsync,
  ``os.replace``, fsync of the folder): network, optimiser, step, RNG states, epoch records, time so
  far. If the checkpoint exists when training starts, training resumes after its last epoch; because
  batches, learning rate and RNG depend only on the saved state, the result equals an uninterrupted
  run's (bitwise on CPU in fp32, tested). Checkpoints are read with ``torch.load(weights_only=True)``
  (no arbitrary unpickling) and must name the same recipe hash and seed.
- Timing: ``images_per_second`` counts training images over training time only (evaluation and
  checkpointing excluded), synchronising the GPU at epoch boundaries, summed across resumptions.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from cgbench.storage import atomic_write

from .cifar10 import Cifar10, ImageSet
from .gpu_loader import GpuBatches
from .recipe import Recipe

CHECKPOINT_FORMAT = 1
EVAL_BATCH_SIZE = 1000


class CheckpointError(ValueError):
    """A training checkpoint is unreadable or belongs to a different unit of work."""


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's training images
    train_acc: float  # % of the epoch's (augmented) training images classified right
    test_acc: float  # % of the full test set, after the epoch
    lr: float  # learning rate of the epoch's last step
    seconds: float  # wall time of the epoch, evaluation included


@dataclass
class TrainResult:
    final_test_acc: float
    best_test_acc: float
    best_epoch: int
    epochs: list[EpochRecord]
    wall_seconds: float
    images_per_second: float
    device: str
    torch_version: str
    cuda_version: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def train_network(model: nn.Module, data: Cifar10, recipe: Recipe, seed: int, *, device: str = "cpu",
                  compile: bool = False, checkpoint_path: Path | None = None, progress: bool = True,
                  on_epoch: Callable[[EpochRecord], None] | None = None) -> TrainResult:
    """Train ``model`` (re-initialised from ``seed``) on ``data`` by ``recipe``; see the module docstring."""
    device = torch.device(device)
    channels_last = device.type == "cuda"
    train_set = _training_images(data, recipe)
    train_batches = GpuBatches(train_set.images, train_set.labels, recipe.batch_size, recipe.augmentation,
                               device, seed, channels_last)
    test_batches = GpuBatches(data.test.images, data.test.labels, EVAL_BATCH_SIZE, "none", device, seed,
                              channels_last, shuffle=False, drop_last=False)
    schedule = CosineSchedule(recipe, steps_per_epoch=len(train_batches))

    _initialise(model, seed)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, recipe)
    state = _TrainingState()
    if checkpoint_path is not None:
        _remove_partial_checkpoints(Path(checkpoint_path))
        if Path(checkpoint_path).exists():
            state = _resume(Path(checkpoint_path), model, optimizer, recipe, seed, device)
    network = torch.compile(model) if compile else model
    autocast = autocast_for(recipe, device)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    epochs = tqdm(range(state.epochs_done, recipe.epochs), initial=state.epochs_done, total=recipe.epochs,
                  desc=f"train {recipe.name} seed {seed}", disable=not progress, leave=False)
    for epoch in epochs:
        epoch_start = time.perf_counter()
        train_batches.set_epoch(epoch)
        loss, accuracy, state.step = train_epoch(network, train_batches, optimizer, schedule, criterion,
                                                  autocast, state.step)
        _synchronise(device)
        train_seconds = time.perf_counter() - epoch_start
        test_acc = evaluate(network, test_batches, autocast)
        record = EpochRecord(epoch + 1, loss, accuracy, test_acc, schedule.lr(state.step - 1),
                             time.perf_counter() - epoch_start)
        state.add_epoch(record, train_seconds, len(train_batches) * recipe.batch_size)
        if checkpoint_path is not None:
            _save_checkpoint(Path(checkpoint_path), model, optimizer, recipe, seed, state, device)
        epochs.set_postfix(test_acc=f"{test_acc:.2f}")
        if on_epoch is not None:
            on_epoch(record)
    return state.result(device)


class CosineSchedule:
    """Per-step learning rate: linear warmup to ``recipe.lr``, then cosine to 0 at the last step."""

    def __init__(self, recipe: Recipe, steps_per_epoch: int) -> None:
        self.peak = recipe.lr
        self.total = recipe.epochs * steps_per_epoch
        self.warmup = round(recipe.warmup_epochs * steps_per_epoch)

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.peak * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(network: nn.Module, batches: GpuBatches, autocast=nullcontext) -> float:
    """Top-1 accuracy in % over every image of ``batches`` (eval mode, restored to train mode after)."""
    network.eval()
    correct = torch.zeros((), dtype=torch.int64, device=batches.device)
    for x, y in batches:
        with autocast():
            correct += (network(x).argmax(dim=1) == y).sum()
    network.train()
    return 100.0 * correct.item() / len(batches.images)


@dataclass
class _TrainingState:
    epochs_done: int = 0
    step: int = 0
    records: list[EpochRecord] | None = None
    train_seconds: float = 0.0
    train_images: int = 0
    wall_seconds: float = 0.0

    def add_epoch(self, record: EpochRecord, train_seconds: float, train_images: int) -> None:
        self.records = [*(self.records or []), record]
        self.epochs_done = record.epoch
        self.train_seconds += train_seconds
        self.train_images += train_images
        self.wall_seconds += record.seconds

    def result(self, device: torch.device) -> TrainResult:
        records = self.records or []
        best = max(records, key=lambda r: r.test_acc)  # first epoch among equals
        return TrainResult(
            final_test_acc=records[-1].test_acc, best_test_acc=best.test_acc, best_epoch=best.epoch,
            epochs=records, wall_seconds=self.wall_seconds,
            images_per_second=self.train_images / self.train_seconds if self.train_seconds > 0 else 0.0,
            device=torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
            torch_version=torch.__version__,
            cuda_version=torch.version.cuda if device.type == "cuda" else None,
        )


def _training_images(data: Cifar10, recipe: Recipe) -> ImageSet:
    if recipe.n_train is None:
        return data.train
    if recipe.n_train > len(data.train):
        raise ValueError(f"recipe {recipe.name!r} asks for the first {recipe.n_train} training images, "
                         f"but the data set has only {len(data.train)}")
    return data.train.first(recipe.n_train)


def _initialise(model: nn.Module, seed: int) -> None:
    uncovered = [name for name, module in model.named_modules()
                 if list(module.parameters(recurse=False)) and not hasattr(module, "reset_parameters")]
    if uncovered:
        raise ValueError(f"cannot re-initialise the network from the seed: modules {uncovered[:5]} own "
                         f"parameters but have no reset_parameters()")
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """The recipe's SGD over every parameter (the learning rate is then set per step by the schedule)."""
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


def autocast_for(recipe: Recipe, device: torch.device):
    """A factory of the autocast context the recipe's precision asks for (a no-op for fp32)."""
    if recipe.precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext


def train_epoch(network: nn.Module, batches: GpuBatches, optimizer: torch.optim.Optimizer, schedule: CosineSchedule,
                criterion: nn.Module, autocast, step: int) -> tuple[float, float, int]:
    """One pass over ``batches`` from global step ``step``: (mean loss, accuracy %, next step)."""
    network.train()
    loss_sum = torch.zeros((), device=batches.device)
    correct = torch.zeros((), dtype=torch.int64, device=batches.device)
    for x, y in batches:
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr(step)
        with autocast():
            logits = network(x)
            loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # Summed on the device: a .item() per step would stall the GPU pipeline.
        loss_sum += loss.detach().float() * len(y)
        correct += (logits.detach().argmax(dim=1) == y).sum()
        step += 1
    n = len(batches) * batches.batch_size
    return loss_sum.item() / n, 100.0 * correct.item() / n, step


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _save_checkpoint(path: Path, model, optimizer, recipe: Recipe, seed: int, state: _TrainingState,
                     device: torch.device) -> None:
    payload = {
        "format": CHECKPOINT_FORMAT, "recipe_hash": recipe.hash, "seed": seed,
        "epochs_done": state.epochs_done, "step": state.step,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": _rng_state(device),
        "records": [asdict(r) for r in state.records or []],
        "train_seconds": state.train_seconds, "train_images": state.train_images,
        "wall_seconds": state.wall_seconds,
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def _remove_partial_checkpoints(path: Path) -> None:
    """Delete tmp files a killed run left while writing ``path`` (the checkpoint itself is never partial)."""
    for partial in path.parent.glob(f".{path.name}.*.tmp"):
        partial.unlink(missing_ok=True)


def _resume(path: Path, model, optimizer, recipe: Recipe, seed: int, device: torch.device) -> _TrainingState:
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(error).__name__}: {error}); "
                              f"delete it to train from the start") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a cgbench labeling checkpoint of format {CHECKPOINT_FORMAT}")
    if (payload["recipe_hash"], payload["seed"]) != (recipe.hash, seed):
        raise CheckpointError(
            f"checkpoint {path} belongs to recipe {payload['recipe_hash']} seed {payload['seed']}, "
            f"not to recipe {recipe.name} ({recipe.hash}) seed {seed}"
        )
    try:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"checkpoint {path} does not fit this network: {error}") from error
    torch.set_rng_state(payload["rng"]["cpu"].cpu())
    if "cuda" in payload["rng"]:
        torch.cuda.set_rng_state(payload["rng"]["cuda"].cpu(), device)
    return _TrainingState(
        epochs_done=payload["epochs_done"], step=payload["step"],
        records=[EpochRecord(**r) for r in payload["records"]], train_seconds=payload["train_seconds"],
        train_images=payload["train_images"], wall_seconds=payload["wall_seconds"],
    )

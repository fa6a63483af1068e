"""How long one unit of a plan will take, said before a launch.

From the plan's own finished units when there are some (the median wall time of their training),
otherwise from a probe: the first pending network trained for a few steps on the launch device
through the same :func:`~labeling.train.train_epoch` and :func:`~labeling.train.evaluate` the
workers run, scaled to the recipe's epochs, steps per epoch and test-set size. The probe ignores
start-up (building the network, moving data to the device), so short units take a little longer.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn as nn

from cgbench.jobs.store import ResultStore

from .cifar10 import Cifar10, ImageSet
from .gpu_loader import GpuBatches
from .plan import TrainingPlan, TrainingUnit
from .unit import build_network
from .train import EVAL_BATCH_SIZE, CosineSchedule, _initialise, _training_images, autocast_for, evaluate, make_optimizer, train_epoch

PROBE_STEPS = 3


@dataclass(frozen=True)
class Estimate:
    seconds_per_unit: float
    basis: str  # how it was obtained

    def line(self, n_units: int, n_workers: int) -> str:
        total = self.seconds_per_unit * n_units / max(1, n_workers)
        return (f"estimate: about {_duration(self.seconds_per_unit)} per unit ({self.basis}); {n_units} pending "
                f"units on {n_workers} worker(s): about {_duration(total)}")


def estimate_unit_seconds(plan: TrainingPlan, data: Cifar10, device: str) -> Estimate:
    """The time one unit of ``plan`` takes on ``device``: from finished units, else from a probe."""
    store = ResultStore(plan)
    finished = sorted(store.finished() & set(plan.units_by_id))
    if finished:
        seconds = [store.read(uid)["train"]["wall_seconds"] for uid in finished[:50]]
        return Estimate(statistics.median(seconds), f"median of {len(seconds)} finished unit(s) of this plan")
    unit = store.pending(plan.units)[0]
    return Estimate(probe_seconds(unit, data, plan, device),
                    f"{PROBE_STEPS}-step probe of {unit.arch_id} on {device}, scaled to {plan.recipe.epochs} epochs")


def probe_seconds(unit: TrainingUnit, data: Cifar10, plan: TrainingPlan, device: str) -> float:
    """Seconds for the whole recipe, from timing a few training steps and one evaluation batch of ``unit``."""

    recipe, device = plan.recipe, torch.device(device)
    model = build_network(unit)
    _initialise(model, unit.seed)
    model.to(device)
    train = _training_images(data, recipe)
    steps_per_epoch = len(train) // recipe.batch_size
    probe = train.first(min(len(train), (PROBE_STEPS + 1) * recipe.batch_size))
    autocast = autocast_for(recipe, device)
    optimizer, schedule = make_optimizer(model, recipe), CosineSchedule(recipe, steps_per_epoch)
    warmup = GpuBatches(probe.images[:recipe.batch_size], probe.labels[:recipe.batch_size], recipe.batch_size,
                        recipe.augmentation, device, unit.seed)
    train_epoch(model, warmup, optimizer, schedule, nn.CrossEntropyLoss(), autocast, 0)  # first-call overheads
    timed = GpuBatches(probe.images, probe.labels, recipe.batch_size, recipe.augmentation, device, unit.seed)
    step_seconds = _timed(lambda: train_epoch(model, timed, optimizer, schedule, nn.CrossEntropyLoss(), autocast, 0),
                          device) / len(timed)
    batch = min(EVAL_BATCH_SIZE, len(data.test))
    test = ImageSet(data.test.images[:batch], data.test.labels[:batch])
    eval_seconds = _timed(lambda: evaluate(model, GpuBatches(test.images, test.labels, batch, "none", device,
                                                             unit.seed, shuffle=False, drop_last=False), autocast),
                          device) * len(data.test) / batch
    return recipe.epochs * (steps_per_epoch * step_seconds + eval_seconds)


def _timed(fn, device: torch.device) -> float:
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""What a training unit does: build the unit's network and train it under the plan's recipe.

The worker loop, the result store and the backends are the work engine's (:mod:`cgbench.jobs`); a
training plan (:class:`labeling.plan.TrainingPlan`) loads CIFAR-10 once per worker and calls
:func:`train_unit` for each unit. ``train_network`` initialises the network from the unit's seed and
checkpoints every epoch to ``<plan>/checkpoints/<unit_id>.pt``, so a unit cut off resumes from its last
epoch the next time any worker picks it up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cgbench.jobs.store import now_iso, run_context

if TYPE_CHECKING:
    from .plan import TrainingPlan, TrainingUnit


def build_network(unit: TrainingUnit):
    """The unit's network (``train_network`` re-initialises its parameters from the unit's seed)."""
    from cgbench.families import family_spec

    space = family_spec(unit.family).space
    return space.build(space.parse(unit.arch_id))


def train_unit(plan: TrainingPlan, unit: TrainingUnit, data, device: str, checkpoint_path: Path,
               compile: bool = False, progress: bool = True) -> dict:
    """Train one unit (resuming from ``checkpoint_path`` if it exists) and return its result record."""
    from .train import train_network

    started = now_iso()
    resumed = checkpoint_path.is_file()
    model = build_network(unit)
    result = train_network(model, data, plan.recipe, unit.seed, device=device, compile=compile,
                           checkpoint_path=checkpoint_path, progress=progress)
    return {
        "unit": {"unit_id": unit.unit_id, "family": unit.family, "arch_id": unit.arch_id, "seed": unit.seed},
        "recipe": {"name": plan.recipe.name, "hash": plan.recipe.hash},
        "train": result.as_dict(), "data": data.describe(), "cifar10_sha256": dict(data.sha256),
        "resumed_from_checkpoint": resumed, "device_requested": device,
        "started": started, "finished": now_iso(), **run_context(),
    }

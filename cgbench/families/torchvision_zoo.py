"""torchvision_zoo: every ImageNet-1k classification weight of torchvision, one row per weight.

For each classification builder (``torchvision.models.list_models(module=torchvision.models)``)
and each of its weight enums (``get_model_weights``), the row holds the CG of the architecture
built without weights, at the weight's evaluation crop size (from its transforms), batch 1, and
the weight's own metadata: ImageNet-1k acc@1 and acc@5, GFLOPS and num_params. Nothing is
downloaded: the metadata ships inside torchvision. Our FLOPs (torch's counter, 2 per
multiply-add) and parameter count sit alongside torchvision's numbers. Weights that share
architecture and crop size share one capture (cached per model like ``timm_zoo``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from importlib.metadata import version as installed_version

import pyarrow as pa
import torch.nn as nn

from .registry import register_family
from .base import FamilySpec
from .timm_zoo import ZooCapture, cached_capture, capture_rows, zoo_labels, zoo_table

_DATASET = "ImageNet-1K"


@dataclass(frozen=True)
class TorchvisionWeight:
    builder: str
    weight: str  # e.g. ResNet50_Weights.IMAGENET1K_V2
    crop_size: int
    acc1: float
    acc5: float
    gflops: float
    num_params: int

    @property
    def capture_key(self) -> str:
        return f"{self.builder}@{self.crop_size}"


def classification_weights() -> list[TorchvisionWeight]:
    """Every ImageNet-1k classification weight that torchvision's metadata describes."""
    import torchvision  # here, not at the top: importing torchvision takes seconds (torch._dynamo)

    weights = []
    for builder in torchvision.models.list_models(module=torchvision.models):
        for weight in torchvision.models.get_model_weights(builder):
            metrics = weight.meta["_metrics"][_DATASET]
            crop = weight.transforms().crop_size
            weights.append(TorchvisionWeight(
                builder, f"{type(weight).__name__}.{weight.name}", int(crop[0]), float(metrics["acc@1"]),
                float(metrics["acc@5"]), float(weight.meta["_ops"]), int(weight.meta["num_params"])))
    return weights


def build_torchvision(builder: str, crop_size: int) -> nn.Module:
    """The architecture without weights; ViTs take their input size, as torchvision sets it from the weight."""
    import torchvision

    function = torchvision.models.get_model_builder(builder)
    kwargs = dict(_BUILD_KWARGS.get(builder, {}))
    if "image_size" in _builder_kwargs(function):
        kwargs["image_size"] = crop_size
    return function(weights=None, **kwargs)


# torchvision drops GoogLeNet's auxiliary heads after loading its weights (num_params counts without).
_BUILD_KWARGS = {"googlenet": {"aux_logits": False}}


def _builder_kwargs(function) -> set[str]:
    """Keyword arguments the builder forwards to its model class (ViT's image_size)."""
    import torchvision

    model_class = {"vit": torchvision.models.VisionTransformer}.get(function.__name__.split("_")[0])
    return set(inspect.signature(model_class).parameters) if model_class is not None else set()


def capture_torchvision(weight: TorchvisionWeight) -> ZooCapture:
    """Capture (cached) at the weight's evaluation crop size."""
    return cached_capture("torchvision", weight.capture_key, partial(build_torchvision, weight.builder, weight.crop_size),
                          (1, 3, weight.crop_size, weight.crop_size))


@register_family
class TorchvisionZoo(FamilySpec):
    # Both zoos hold many of the same models (resnet50, ...): one group, a model counts once.
    space_group = "imagenet_model_zoo"
    name = "torchvision_zoo"
    version = "1.0"
    description = ("torchvision model zoo: every ImageNet-1k classification weight of torchvision "
                   f"{installed_version('torchvision').split('+')[0]}, CG at the weight's evaluation crop size, batch 1.")
    raw_files = ()
    labels = zoo_labels("imagenet", "torchvision-weights-metadata", "BSD-3-Clause",
                        "torchvision's published (weight metadata)")
    default_target = "imagenet_top1"
    # Nominal: each row is captured at its weight's crop size (column crop_size).
    input_shape = (1, 3, 224, 224)

    def __init__(self, builders: Sequence[str] | None = None) -> None:
        """``builders``: build only these architectures (a subset); None builds every weight."""
        self.builders = None if builders is None else tuple(builders)

    def select(self, weights: list[TorchvisionWeight]) -> list[TorchvisionWeight]:
        if self.builders is None:
            return weights
        missing = sorted(set(self.builders) - {w.builder for w in weights})
        if missing:
            raise ValueError(f"not torchvision classification builders with weights: {missing}")
        return [w for w in weights if w.builder in self.builders]

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        return self.build(raw_paths, progress)[0]

    def build(self, raw_paths: dict[str, Path], progress: bool = True) -> tuple[pa.Table, dict]:
        """The table, and the models that could not be captured (``failures`` in the manifest)."""
        weights = self.select(classification_weights())
        rows, captures, failures = capture_rows("torchvision", weights, capture_torchvision, progress)
        table = zoo_table(
            arch_ids=[w.weight for w in rows],
            configs=[{"builder": w.builder, "weight": w.weight, "crop_size": w.crop_size} for w in rows],
            captures=captures, top1=[w.acc1 for w in rows], top5=[w.acc5 for w in rows],
            extra={
                "builder": pa.array([w.builder for w in rows], pa.string()),
                "crop_size": pa.array([w.crop_size for w in rows], pa.int32()),
                "torchvision_gflops": pa.array([w.gflops for w in rows], pa.float64()),
                "torchvision_num_params": pa.array([w.num_params for w in rows], pa.int64()),
            },
        )
        return table, {"failures": failures}

    def manifest(self) -> dict:
        return {**super().manifest(), "subset": list(self.builders) if self.builders else None}

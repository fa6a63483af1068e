"""NAS-Bench-Macro: all 3^8 = 6,561 macro architectures of Su et al. (CVPR 2021), CIFAR-10.

The network is NAS-Bench-Macro's own (xiusu/NAS-Bench-Macro, ``train/model.py``): a 3x3 conv
(32 channels) + BN + ReLU stem; three stages of 2, 3 and 3 searchable layers whose first layer
doubles the channels (32 -> 64 -> 128 -> 256) at stride 2 (32x32 -> 16 -> 8 -> 4); a 1x1 conv to
1280 channels + BN + ReLU, global average pooling and a linear classifier. Each layer is one of

* ``0`` identity: nothing, or a 1x1 conv (stride 2) + BN where the layer changes shape;
* ``1`` MB3_K3: MobileNetV2 inverted residual, expansion 3, depthwise kernel 3;
* ``2`` MB6_K5: MobileNetV2 inverted residual, expansion 6, depthwise kernel 5;

with ReLU activations and a residual add where input and output shapes agree.

NAS-Bench-Macro trained only one network per *trained architecture*: inside a stage, identity
layers after the first are moved to the stage's end (``get_real_arch``), which builds the same
network, and every one of the 6,561 strings carries that network's results. The CGs agree: an
identity layer leaves no node, so the 6,561 architectures are 3,969 distinct CGs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn

from ..sources import github_file
from .registry import register_family
from .base import FamilySpec, LabelColumn, space_table
from .fragments import Composer, Composition
from .space import SearchSpace

N_LAYERS = 8
STAGES = (2, 3, 3)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
CHOICES = ("identity", "mb3_k3", "mb6_k5")
# (expansion ratio, depthwise kernel) of the two inverted-residual choices.
INVERTED_RESIDUAL = {1: (3, 3), 2: (6, 5)}
Config = tuple[int, ...]


def arch_string(config: Config) -> str:
    return "".join(str(c) for c in config)


def parse_arch_string(text: str) -> Config:
    if len(text) != N_LAYERS or any(ch not in "012" for ch in text):
        raise ValueError(f"not a NAS-Bench-Macro architecture: {text!r} (expected {N_LAYERS} digits of 0/1/2)")
    return tuple(int(ch) for ch in text)


def trained_arch(config: Config) -> Config:
    """The architecture NAS-Bench-Macro actually trained for ``config``: later identities moved to stage end."""
    result: list[int] = []
    layers = list(config)
    for depth in STAGES:
        stage, layers = layers[:depth], layers[depth:]
        rest = [c for c in stage[1:] if c != 0]
        result += [stage[0], *rest, *[0] * (depth - 1 - len(rest))]
    return tuple(result)


def layer_plan() -> list[tuple[int, int, int]]:
    """(in channels, out channels, stride) of each searchable layer."""
    plan, channels = [], STEM_CHANNELS
    for depth in STAGES:
        plan.append((channels, channels * 2, 2))
        channels *= 2
        plan += [(channels, channels, 1)] * (depth - 1)
    return plan


# ---------------------------------------------------------------------------------------------
# The network


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.use_shortcut = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x if self.use_shortcut else self.conv(x)


def layer_module(choice: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    if choice == 0:
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
    expansion, kernel = INVERTED_RESIDUAL[choice]
    return InvertedResidual(c_in, c_out, stride, expansion, kernel)


def _stem() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, STEM_CHANNELS, 3, padding=1, bias=False), nn.BatchNorm2d(STEM_CHANNELS), nn.ReLU())


def _head(num_classes: int) -> nn.Module:
    c = STEM_CHANNELS * 2 ** len(STAGES)
    return nn.Sequential(nn.Conv2d(c, HEAD_CHANNELS, 1, bias=False), nn.BatchNorm2d(HEAD_CHANNELS), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(HEAD_CHANNELS, num_classes))


class MacroNetwork(nn.Module):
    def __init__(self, config: Config, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _stem()
        self.features = nn.Sequential(*(layer_module(c, *shape) for c, shape in zip(config, layer_plan())))
        self.head = _head(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.stem(x)))


# ---------------------------------------------------------------------------------------------
# The search space


class NasBenchMacroSpace(SearchSpace[Config]):
    name = "nasbench_macro"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def arch_id(self, config: Config) -> str:
        return arch_string(config)

    def parse(self, arch_id: str) -> Config:
        return parse_arch_string(arch_id)

    def build(self, config: Config) -> nn.Module:
        return MacroNetwork(config, self.num_classes)

    def sample(self, rng: np.random.Generator) -> Config:
        return tuple(int(c) for c in rng.integers(0, len(CHOICES), N_LAYERS))

    def enumerate(self) -> Iterator[Config]:
        return iter(product(range(len(CHOICES)), repeat=N_LAYERS))

    def compose(self, config: Config, composer: Composer) -> Composition:
        x = composer.apply("stem", _stem, composer.input(3, 32, 32))
        for choice, shape in zip(config, layer_plan()):
            x = composer.apply(("layer", choice, *shape), partial(layer_module, choice, *shape), x)
        return composer.finish(composer.apply(("head", self.num_classes), partial(_head, self.num_classes), x))


SPACE = NasBenchMacroSpace()


# ---------------------------------------------------------------------------------------------
# The family

_BENCH = github_file("nasbench-macro", "xiusu/NAS-Bench-Macro", "61a2bfc2ca0dce04d0997e6cf498047c27d6acf2",
                     "data/nas-bench-macro_cifar10.json",
                     "686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297", "Apache-2.0")
_TRAINING = ("50 epochs, SGD lr 0.1 momentum 0.9 wd 5e-4, cosine schedule, batch 256, standard augmentation; "
             "the value is the best test accuracy over the 50 epochs")
RUN_SEEDS = (0, 1, 2)


def _labels() -> tuple[LabelColumn, ...]:
    common = dict(source_id="nasbench-macro", dataset="CIFAR-10", split="test set (10,000 images)", epochs=50,
                  licence="Apache-2.0")
    labels = [
        LabelColumn("c10_test_acc_mean", unit="%", seeds="mean of 3 stand-alone runs (seeds 0, 1, 2)",
                    description=f"NAS-Bench-Macro mean_acc: {_TRAINING}", **common),
        LabelColumn("c10_test_acc_std", unit="% (population std, ddof=0)", seeds="3 runs (seeds 0, 1, 2)",
                    description="NAS-Bench-Macro std: spread of the three runs' test accuracies", **common),
    ]
    labels += [LabelColumn(f"c10_test_acc_run{i + 1}", unit="%", seeds=f"run {i + 1} of 3 (torch seed {seed})",
                           description=f"NAS-Bench-Macro test_acc[{i}]: {_TRAINING}", **common)
               for i, seed in enumerate(RUN_SEEDS)]
    return tuple(labels)


@register_family
class NasBenchMacro(FamilySpec):
    name = "nasbench_macro"
    version = "1.0"
    description = ("NAS-Bench-Macro: all 6,561 = 3^8 MobileNetV2-style macro architectures (8 layers, identity / "
                   "MB3_K3 / MB6_K5), 3 stand-alone CIFAR-10 trainings each, 32x32 input.")
    raw_files = (_BENCH,)
    labels = _labels()
    default_target = "c10_test_acc_mean"
    space = SPACE
    # Two of the three trainings of every network (the mean target averages three: a little less noisy).
    repeat_labels = {"c10_test_acc_mean": ("c10_test_acc_run1", "c10_test_acc_run2")}

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        records = json.loads(raw_paths[_BENCH.key].read_text())
        configs = list(SPACE.enumerate())
        ids = [arch_string(c) for c in configs]
        if sorted(records) != sorted(ids):
            raise ValueError("nas-bench-macro_cifar10.json does not list each of the 3^8 architectures once")
        rows = [records[i] for i in ids]
        if any(len(r["test_acc"]) != len(RUN_SEEDS) for r in rows):
            raise ValueError("nas-bench-macro_cifar10.json: every architecture must have 3 test accuracies")
        runs = np.array([r["test_acc"] for r in rows], np.float64)
        labels = {"c10_test_acc_mean": np.array([r["mean_acc"] for r in rows], np.float64),
                  "c10_test_acc_std": np.array([r["std"] for r in rows], np.float64)}
        labels.update({f"c10_test_acc_run{i + 1}": runs[:, i] for i in range(len(RUN_SEEDS))})
        return space_table(
            SPACE, configs, progress, labels,
            extra={
                "trained_arch": pa.array([arch_string(trained_arch(c)) for c in configs], pa.string()),
                "bench_params": pa.array([r["params"] for r in rows], pa.int64()),
                "bench_flops": pa.array([r["flops"] for r in rows], pa.int64()),
            },
        )

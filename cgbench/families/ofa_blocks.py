"""Building blocks shared by the Once-for-All families (Cai et al., ICLR 2020); registers nothing.

The modules here are the *sub-networks* OFA extracts with ``get_active_subnet`` (the networks its
accuracies were measured on), written with plain torch modules:

- ``make_divisible`` is OFA's (TensorFlow MobileNet's) channel rounding to multiples of 8.
- OFA's ``Hswish``/``Hsigmoid`` compute ``x * relu6(x + 3) / 6`` and ``relu6(x + 3) / 6``, exactly
  ``nn.Hardswish``/``nn.Hardsigmoid``; OFA's global pooling ``x.mean(3).mean(2)`` is
  ``nn.AdaptiveAvgPool2d(1)``. Using the torch modules gives one CG node for each.
- ``MBConv`` is OFA's ``MBConvLayer`` inside a ``ResidualBlock``: [1x1 expand, BN, act unless the
  expand ratio is 1], depthwise k/s, BN, act, [SE], 1x1 project, BN; plus the input when the
  stride is 1 and the channels match. A sub-network's middle width is
  ``make_divisible(round(c_in * e), 8)`` and its SE width ``make_divisible(mid // 4, 8)``.
- ``Bottleneck`` is OFA's ``ResNetBottleneckBlock`` (``downsample_mode="avgpool_conv"``): the
  shortcut is the identity when the stride is 1 and the channels match, otherwise
  AvgPool(s, s, ceil) -> 1x1 conv -> BN, including the 1x1 average pool at stride 1.

The released OFA networks are built with ``dropout_rate=0`` (``ofa/model_zoo.py``), so no head
here has a dropout.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn

from .base import UnlabelledFamily, space_table
from .fragments import Composer, Composition
from .space import SearchSpace

CHANNEL_DIVISOR = 8
# OFA trains with images of 128..224 pixels in steps of 4 (``--image_size 128,132,...,224``).
RESOLUTIONS = tuple(range(128, 225, 4))
DEFAULT_RESOLUTION = 224
# The resolutions OFA measured its own accuracy-predictor dataset at (``ofa/nas/accuracy_predictor/
# acc_dataset.py``); the sampled families draw from these, which also keeps the number of distinct
# (piece, input size) captures, and so the build time, six times lower than all 25 resolutions.
PREDICTOR_RESOLUTIONS = (128, 160, 192, 224)


def make_divisible(value: float, divisor: int = CHANNEL_DIVISOR) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def activation(name: str) -> nn.Module:
    makers: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "relu6": nn.ReLU6, "h_swish": nn.Hardswish}
    if name not in makers:
        raise ValueError(f"no OFA activation {name!r}")
    return makers[name]()


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int, act: str | None,
                groups: int = 1, bn_eps: float = 1e-5) -> nn.Sequential:
    """OFA's ``ConvLayer`` (weight -> BN -> act, no bias, 'same' padding)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out, eps=bn_eps)]
    if act is not None:
        layers.append(activation(act))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """OFA's ``SEModule``: mean -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> h-sigmoid -> scale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = make_divisible(channels // 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(), nn.Conv2d(mid, channels, 1), nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


@dataclass(frozen=True)
class MBConvSpec:
    c_in: int
    c_out: int
    kernel: int
    stride: int
    expand: int
    act: str
    se: bool = False
    bn_eps: float = 1e-5

    @property
    def mid(self) -> int:
        """The middle width of the sub-network (OFA's ``active_middle_channel``)."""
        return self.c_in if self.expand == 1 else make_divisible(round(self.c_in * self.expand))

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


class MBConv(nn.Module):
    def __init__(self, spec: MBConvSpec) -> None:
        super().__init__()
        self.residual = spec.residual
        layers: list[nn.Module] = []
        if spec.expand != 1:
            layers.append(conv_bn_act(spec.c_in, spec.mid, 1, 1, spec.act, bn_eps=spec.bn_eps))
        layers.append(conv_bn_act(spec.mid, spec.mid, spec.kernel, spec.stride, spec.act, groups=spec.mid,
                                  bn_eps=spec.bn_eps))
        if spec.se:
            layers.append(SqueezeExcite(spec.mid))
        layers.append(conv_bn_act(spec.mid, spec.c_out, 1, 1, None, bn_eps=spec.bn_eps))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x if self.residual else self.body(x)


class ResidualConv(nn.Module):
    """OFA-ResNet's optional middle stem layer: ``x + ConvLayer(x)`` (3x3, BN, ReLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = conv_bn_act(channels, channels, 3, 1, "relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, mid: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(c_in, mid, 1, 1, "relu"), conv_bn_act(mid, mid, 3, stride, "relu"),
                                  conv_bn_act(mid, c_out, 1, 1, None))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.AvgPool2d(stride, stride, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


# ---------------------------------------------------------------------------------------------
# The elastic MBConv spaces (OFA-MobileNetV3, OFA-ProxylessNAS)

KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)

Block = tuple[int, int]  # (kernel size, expand ratio) of one active block


@dataclass(frozen=True)
class MBConvSubnet:
    """An OFA MBConv sub-network: the (kernel, expand) of each *active* block, per stage.

    Blocks beyond a stage's depth are not part of the config at all, so two OFA settings that
    differ only there are the same config (and the same arch_id).
    """

    stages: tuple[tuple[Block, ...], ...]
    resolution: int = DEFAULT_RESOLUTION

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(stage) for stage in self.stages)


@dataclass(frozen=True)
class StageSpec:
    width: int
    stride: int
    act: str
    se: bool
    depths: tuple[int, ...] = DEPTHS


_BLOCK = re.compile(r"k(\d+)e(\d+)")
_ARCH = re.compile(r"r(\d+):(.+)")


class MBConvSubnetCodec:
    """Canonical strings, validation, OFA-dict conversion and sampling of ``MBConvSubnet``."""

    def __init__(self, stages: Sequence[StageSpec], space_name: str) -> None:
        self.stages = tuple(stages)
        self.space_name = space_name
        self.max_blocks = sum(max(stage.depths) for stage in self.stages)

    def validate(self, subnet: MBConvSubnet) -> MBConvSubnet:
        if subnet.resolution not in RESOLUTIONS:
            raise ValueError(f"{self.space_name}: resolution {subnet.resolution} is not one of 128, 132, ..., 224")
        if len(subnet.stages) != len(self.stages):
            raise ValueError(f"{self.space_name}: {len(subnet.stages)} stages, expected {len(self.stages)}")
        for i, (blocks, spec) in enumerate(zip(subnet.stages, self.stages)):
            if len(blocks) not in spec.depths:
                raise ValueError(f"{self.space_name}: stage {i} has depth {len(blocks)}, allowed {spec.depths}")
            for kernel, expand in blocks:
                if kernel not in KERNELS or expand not in EXPANDS:
                    raise ValueError(f"{self.space_name}: block k={kernel} e={expand} is not in k{KERNELS} e{EXPANDS}")
        return subnet

    def arch_id(self, subnet: MBConvSubnet) -> str:
        body = "/".join(",".join(f"k{k}e{e}" for k, e in stage) for stage in subnet.stages)
        return f"r{subnet.resolution}:{body}"

    def parse(self, arch_id: str) -> MBConvSubnet:
        match = _ARCH.fullmatch(arch_id)
        if match is None:
            raise ValueError(f"not a {self.space_name} arch_id (r<res>:k<k>e<e>,.../...): {arch_id!r}")
        stages = []
        for stage in match.group(2).split("/"):
            blocks = [_BLOCK.fullmatch(token) for token in stage.split(",")]
            if any(b is None for b in blocks):
                raise ValueError(f"not a {self.space_name} arch_id: bad block in {stage!r}")
            stages.append(tuple((int(b.group(1)), int(b.group(2))) for b in blocks))
        return self.validate(MBConvSubnet(tuple(stages), int(match.group(1))))

    def from_ofa(self, ks: Sequence[int], e: Sequence[int], d: Sequence[int], r: int = DEFAULT_RESOLUTION) -> MBConvSubnet:
        """The sub-network OFA's ``set_active_subnet(ks, e, d)`` activates, at resolution ``r``."""
        if len(ks) != self.max_blocks or len(e) != self.max_blocks:
            raise ValueError(f"{self.space_name}: ks and e need {self.max_blocks} entries, got {len(ks)} and {len(e)}")
        if len(d) not in (len(self.stages), sum(len(s.depths) > 1 for s in self.stages)):
            raise ValueError(f"{self.space_name}: d needs one entry per elastic stage, got {len(d)}")
        stages, first = [], 0
        for i, spec in enumerate(self.stages):
            # OFA clips a stage's depth to its block count (a fixed one-block stage stays one block).
            depth = min(max(spec.depths), int(d[i])) if i < len(d) else max(spec.depths)
            stages.append(tuple((int(k), int(x)) for k, x in zip(ks[first:first + depth], e[first:first + depth])))
            first += max(spec.depths)
        return self.validate(MBConvSubnet(tuple(stages), int(r)))

    def sample(self, rng: np.random.Generator, resolutions: Sequence[int]) -> MBConvSubnet:
        """OFA's ``sample_active_subnet``: uniform k and e for every block slot, uniform depths."""
        kernels = rng.choice(KERNELS, self.max_blocks)
        expands = rng.choice(EXPANDS, self.max_blocks)
        depths = [int(rng.choice(spec.depths)) for spec in self.stages]
        resolution = int(rng.choice(resolutions))
        return self.from_ofa(kernels.tolist(), expands.tolist(), depths, resolution)

    def block_specs(self, subnet: MBConvSubnet, c_in: int, bn_eps: float) -> list[MBConvSpec]:
        specs = []
        for spec, blocks in zip(self.stages, subnet.stages):
            for j, (kernel, expand) in enumerate(blocks):
                specs.append(MBConvSpec(c_in, spec.width, kernel, spec.stride if j == 0 else 1, expand, spec.act,
                                        spec.se, bn_eps))
                c_in = spec.width
        return specs

    def config_json(self, subnet: MBConvSubnet) -> str:
        return json.dumps({"ks": [[k for k, _ in s] for s in subnet.stages],
                           "e": [[e for _, e in s] for s in subnet.stages],
                           "d": list(subnet.depths), "r": subnet.resolution})


class ElasticMBConvSpace(SearchSpace[MBConvSubnet]):
    """An OFA MBConv supernet's sub-networks: a fixed stem, elastic stages of ``MBConv``, a fixed head.

    ``sample`` is OFA's ``sample_active_subnet`` at the resolutions given to the constructor
    (default: 224 only, the space's ``input_shape``); the families pass OFA's 128..224 to draw the
    resolution too. ``input_shape_of`` is the input a config's own CG is composed at.
    """

    input_shape = (1, 3, DEFAULT_RESOLUTION, DEFAULT_RESOLUTION)
    num_classes = 1000
    stage_specs: ClassVar[tuple[StageSpec, ...]]
    bn_eps: ClassVar[float]
    # Output channels of ``stem()``, the first elastic block's input.
    stem_channels: ClassVar[int]

    def __init__(self, resolutions: Sequence[int] = (DEFAULT_RESOLUTION,)) -> None:
        if not set(resolutions) <= set(RESOLUTIONS):
            raise ValueError(f"{self.name}: resolutions must come from 128, 132, ..., 224, got {resolutions}")
        self.resolutions = tuple(resolutions)
        self.codec = MBConvSubnetCodec(self.stage_specs, self.name)

    @abstractmethod
    def stem(self) -> nn.Module:
        """The first conv and the fixed first block."""

    @abstractmethod
    def head(self) -> nn.Module:
        """Everything after the last elastic block, down to the logits."""

    def arch_id(self, config: MBConvSubnet) -> str:
        return self.codec.arch_id(config)

    def parse(self, arch_id: str) -> MBConvSubnet:
        return self.codec.parse(arch_id)

    def from_ofa(self, ks: Sequence[int], e: Sequence[int], d: Sequence[int],
                 r: int = DEFAULT_RESOLUTION) -> MBConvSubnet:
        return self.codec.from_ofa(ks, e, d, r)

    def sample(self, rng: np.random.Generator) -> MBConvSubnet:
        return self.codec.sample(rng, self.resolutions)

    def config_json(self, config: MBConvSubnet) -> str:
        return self.codec.config_json(config)

    def input_shape_of(self, config: MBConvSubnet) -> tuple[int, int, int, int]:
        return (1, 3, config.resolution, config.resolution)

    def blocks(self, config: MBConvSubnet) -> list[MBConvSpec]:
        return self.codec.block_specs(self.codec.validate(config), self.stem_channels, self.bn_eps)

    def build(self, config: MBConvSubnet) -> nn.Module:
        return nn.Sequential(self.stem(), *(MBConv(spec) for spec in self.blocks(config)), self.head())

    def compose(self, config: MBConvSubnet, composer: Composer) -> Composition:
        x = composer.apply("stem", self.stem, composer.input(3, config.resolution, config.resolution))
        for spec in self.blocks(config):
            x = composer.apply(spec, partial(MBConv, spec), x)
        return composer.finish(composer.apply("head", self.head, x))


# Both OFA families: this many distinct sub-networks, drawn with this seed.
OFA_SAMPLES, OFA_SEED = 10_000, 0


class OFASampledFamily(UnlabelledFamily):
    """``OFA_SAMPLES`` distinct sub-networks of ``sampling_space`` (the family's space over every resolution of
    ``PREDICTOR_RESOLUTIONS``) drawn with ``OFA_SEED``: unlabelled, each at its own resolution."""

    sampling_space: ClassVar[SearchSpace]

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        configs = self.sampling_space.sample_unique(OFA_SAMPLES, OFA_SEED)
        return space_table(self.sampling_space, configs, progress,
                           extra={"resolution": pa.array(np.array([c.resolution for c in configs], np.int32))})

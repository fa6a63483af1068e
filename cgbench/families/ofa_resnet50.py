"""OFA-ResNet-50: sub-networks of Once-for-All's ResNet-50 supernet, unlabelled samples.

The supernet is OFA's released ``ofa_resnet50`` (``OFAResNets`` with depth {0, 1, 2}, expand
ratio {0.2, 0.25, 0.35}, width multiplier {0.65, 0.8, 1.0}; ``ofa/model_zoo.py``). A sub-network
(``get_active_subnet``) is:

- stem: 3x3/2 conv to C0 in {24, 24, 32} (by ``w[0]``), BN, ReLU; if ``d[0] == 2`` a residual
  ``x + conv3x3-BN-ReLU(x)`` at C0 (OFA skips it otherwise); 3x3 conv to C1 in {40, 48, 64}
  (by ``w[1]``), BN, ReLU; 3x3/2 max pool;
- four stages of ``2, 2, 4, 2`` + ``d[1..4]`` bottlenecks (at most 4, 4, 6, 4), strides 1, 2, 2, 2,
  widths {168, 208, 256}, {336, 408, 512}, {664, 816, 1024}, {1328, 1640, 2048} by ``w[2..5]``;
  block ``i`` (global index over the 18 slots) has middle width ``make_divisible(round(C * e[i]), 8)``;
- head: global average pooling, linear -> 1000 (no dropout).

GENNAPE's OFA-ResNet-50 is this supernet too (its config is ``{"d": 5, "e": 18, "w": 6}``).
``d[0]`` takes OFA's sampled values 0 or 2 only (any value below 2 skips the residual stem layer
in OFA, so 1 builds the same network as 0 and is written as 0).

The arch_id is ``r<res>:stem=<full|skip>,w<i>,w<j>:<stage>/<stage>/...`` where a stage is
``w<k>:e,e,...`` listing the expand ratios of its *active* blocks only. The family holds 10,000
distinct sub-networks drawn with seed 0 by OFA's uniform ``sample_active_subnet`` with a uniform
resolution from 128, 160, 192, 224 (the resolutions of OFA's own accuracy-predictor dataset; the
arch_id accepts all of 128..224, step 4); each CG is composed at its own resolution. No labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch.nn as nn

from .registry import register_family
from .fragments import Composer, Composition
from .ofa_blocks import (DEFAULT_RESOLUTION, PREDICTOR_RESOLUTIONS, RESOLUTIONS, Bottleneck, ResidualConv,
                         conv_bn_act, make_divisible, OFASampledFamily)
from .space import SearchSpace

WIDTH_MULTS = (0.65, 0.8, 1.0)
EXPANDS = (0.2, 0.25, 0.35)
DEPTHS = (0, 1, 2)
STEM_DEPTHS = (0, 2)
BASE_DEPTHS = (2, 2, 4, 2)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_WIDTHS = tuple(make_divisible(64 * m) for m in WIDTH_MULTS)
STEM_MID_WIDTHS = tuple(make_divisible(c // 2) for c in STEM_WIDTHS)
STAGE_WIDTHS = tuple(tuple(make_divisible(base * m) for m in WIDTH_MULTS) for base in (256, 512, 1024, 2048))
MAX_BLOCKS = sum(BASE_DEPTHS) + len(BASE_DEPTHS) * max(DEPTHS)


@dataclass(frozen=True)
class ResNetStage:
    width: int  # index into the stage's widths
    expands: tuple[float, ...]  # one per active block


@dataclass(frozen=True)
class ResNetSubnet:
    stem_full: bool  # OFA d[0] == 2: the residual middle stem layer is active
    stem_widths: tuple[int, int]  # OFA w[0], w[1]
    stages: tuple[ResNetStage, ...]
    resolution: int = DEFAULT_RESOLUTION


_STAGE = re.compile(r"w(\d):([0-9.,]+)")
_ARCH = re.compile(r"r(\d+):stem=(full|skip),w(\d),w(\d):(.+)")


class OFAResNet50Space(SearchSpace[ResNetSubnet]):
    name = "ofa_resnet50"
    input_shape = (1, 3, DEFAULT_RESOLUTION, DEFAULT_RESOLUTION)
    num_classes = 1000

    def __init__(self, resolutions: Sequence[int] = (DEFAULT_RESOLUTION,)) -> None:
        if not set(resolutions) <= set(RESOLUTIONS):
            raise ValueError(f"ofa_resnet50: resolutions must come from 128, 132, ..., 224, got {resolutions}")
        self.resolutions = tuple(resolutions)

    # -- configs ---------------------------------------------------------------------------------

    def validate(self, subnet: ResNetSubnet) -> ResNetSubnet:
        if subnet.resolution not in RESOLUTIONS:
            raise ValueError(f"ofa_resnet50: resolution {subnet.resolution} is not one of 128, 132, ..., 224")
        if any(w not in range(len(WIDTH_MULTS)) for w in subnet.stem_widths) or len(subnet.stem_widths) != 2:
            raise ValueError(f"ofa_resnet50: stem width indices must be two of 0, 1, 2: {subnet.stem_widths}")
        if len(subnet.stages) != len(BASE_DEPTHS):
            raise ValueError(f"ofa_resnet50: {len(subnet.stages)} stages, expected {len(BASE_DEPTHS)}")
        for i, (stage, base) in enumerate(zip(subnet.stages, BASE_DEPTHS)):
            if stage.width not in range(len(WIDTH_MULTS)):
                raise ValueError(f"ofa_resnet50: stage {i} width index {stage.width} is not 0, 1 or 2")
            if len(stage.expands) - base not in DEPTHS:
                raise ValueError(f"ofa_resnet50: stage {i} has {len(stage.expands)} blocks, allowed {base}..{base + 2}")
            if any(e not in EXPANDS for e in stage.expands):
                raise ValueError(f"ofa_resnet50: stage {i} expand ratios {stage.expands} not in {EXPANDS}")
        return subnet

    def arch_id(self, config: ResNetSubnet) -> str:
        stages = "/".join(f"w{s.width}:" + ",".join(str(e) for e in s.expands) for s in config.stages)
        stem = "full" if config.stem_full else "skip"
        return f"r{config.resolution}:stem={stem},w{config.stem_widths[0]},w{config.stem_widths[1]}:{stages}"

    def parse(self, arch_id: str) -> ResNetSubnet:
        match = _ARCH.fullmatch(arch_id)
        if match is None:
            raise ValueError(f"not an ofa_resnet50 arch_id (r<res>:stem=full|skip,w<i>,w<j>:w<k>:e,.../...): {arch_id!r}")
        stages = []
        for text in match.group(5).split("/"):
            stage = _STAGE.fullmatch(text)
            if stage is None:
                raise ValueError(f"not an ofa_resnet50 stage (w<k>:e,e,...): {text!r}")
            try:
                expands = tuple(float(e) for e in stage.group(2).split(","))
            except ValueError as error:
                raise ValueError(f"not an ofa_resnet50 stage: bad expand ratio in {text!r}") from error
            stages.append(ResNetStage(int(stage.group(1)), expands))
        return self.validate(ResNetSubnet(match.group(2) == "full", (int(match.group(3)), int(match.group(4))),
                                          tuple(stages), int(match.group(1))))

    def from_ofa(self, d: Sequence[int], e: Sequence[float], w: Sequence[int], r: int = DEFAULT_RESOLUTION) -> ResNetSubnet:
        """The sub-network OFA's ``set_active_subnet(d, e, w)`` activates, at resolution ``r``."""
        if len(d) != 1 + len(BASE_DEPTHS) or len(e) != MAX_BLOCKS or len(w) != 2 + len(BASE_DEPTHS):
            raise ValueError(f"ofa_resnet50: d, e, w need 5, {MAX_BLOCKS}, 6 entries, got {len(d)}, {len(e)}, {len(w)}")
        if any(x not in DEPTHS for x in d):
            raise ValueError(f"ofa_resnet50: depths must be 0, 1 or 2: {list(d)}")
        stages, first = [], 0
        for i, base in enumerate(BASE_DEPTHS):
            stages.append(ResNetStage(int(w[2 + i]), tuple(float(x) for x in e[first:first + base + d[1 + i]])))
            first += base + max(DEPTHS)
        return self.validate(ResNetSubnet(d[0] == max(DEPTHS), (int(w[0]), int(w[1])), tuple(stages), int(r)))

    def sample(self, rng: np.random.Generator) -> ResNetSubnet:
        """OFA's ``sample_active_subnet``: e per block slot, d[0] in {0, 2}, d[1..4] and w uniform."""
        expands = rng.choice(EXPANDS, MAX_BLOCKS).tolist()
        depths = [int(rng.choice(STEM_DEPTHS))] + rng.choice(DEPTHS, len(BASE_DEPTHS)).tolist()
        widths = rng.choice(len(WIDTH_MULTS), 2 + len(BASE_DEPTHS)).tolist()
        return self.from_ofa(depths, expands, widths, int(rng.choice(self.resolutions)))

    def config_json(self, config: ResNetSubnet) -> str:
        return json.dumps({"d": [2 if config.stem_full else 0] + [len(s.expands) - b for s, b in zip(config.stages, BASE_DEPTHS)],
                           "e": [list(s.expands) for s in config.stages],
                           "w": list(config.stem_widths) + [s.width for s in config.stages], "r": config.resolution})

    def input_shape_of(self, config: ResNetSubnet) -> tuple[int, int, int, int]:
        return (1, 3, config.resolution, config.resolution)

    # -- the network -----------------------------------------------------------------------------

    @staticmethod
    def stem(stem_full: bool, mid_width: int, width: int) -> nn.Module:
        layers = [conv_bn_act(3, mid_width, 3, 2, "relu")]
        if stem_full:
            layers.append(ResidualConv(mid_width))
        layers += [conv_bn_act(mid_width, width, 3, 1, "relu"), nn.MaxPool2d(3, 2, 1)]
        return nn.Sequential(*layers)

    def head(self, width: int) -> nn.Module:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, self.num_classes))

    def pieces(self, config: ResNetSubnet) -> list[tuple[tuple, partial]]:
        """(key, maker) of every piece in order: stem, bottlenecks, head."""
        config = self.validate(config)
        mid_width, width = STEM_MID_WIDTHS[config.stem_widths[0]], STEM_WIDTHS[config.stem_widths[1]]
        pieces = [(("stem", config.stem_full, mid_width, width), partial(self.stem, config.stem_full, mid_width, width))]
        c_in = width
        for stage, widths, stride in zip(config.stages, STAGE_WIDTHS, STAGE_STRIDES):
            c_out = widths[stage.width]
            for j, expand in enumerate(stage.expands):
                args = (c_in, c_out, make_divisible(round(c_out * expand)), stride if j == 0 else 1)
                pieces.append((("bottleneck", *args), partial(Bottleneck, *args)))
                c_in = c_out
        pieces.append((("head", c_in), partial(self.head, c_in)))
        return pieces

    def build(self, config: ResNetSubnet) -> nn.Module:
        return nn.Sequential(*(make() for _, make in self.pieces(config)))

    def compose(self, config: ResNetSubnet, composer: Composer) -> Composition:
        x = composer.input(3, config.resolution, config.resolution)
        for key, make in self.pieces(config):
            x = composer.apply(key, make, x)
        return composer.finish(x)


SPACE = OFAResNet50Space()
MULTI_RESOLUTION_SPACE = OFAResNet50Space(PREDICTOR_RESOLUTIONS)


@register_family
class OFAResNet50(OFASampledFamily):
    name = "ofa_resnet50"
    version = "1.0"
    description = ("Once-for-All ResNet-50 sub-networks: 10,000 uniform samples (seed 0) with input resolutions "
                   "128, 160, 192, 224, unlabelled; FLOPs and parameters only.")
    space = SPACE
    sampling_space = MULTI_RESOLUTION_SPACE

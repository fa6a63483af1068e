"""HiAML: GENNAPE's CIFAR-10 space of 14 hand-picked residual blocks, 4 stages, all 14^4 = 38,416 networks.

The network follows GENNAPE's TensorFlow builder (``hiaml_two_path/networks_tf.py`` and
``operations_tf.py``), because that is the version GENNAPE turned into CGs:

- stem: Conv 3x3/2 (64, no bias) -> BN -> ReLU, so 32x32 becomes 16x16x64;
- 4 stages x 2 blocks; stage ``i`` uses block ``config[i]`` for both of its blocks; stages 1 and 3
  (0-based) reduce: their first block has stride 2 and doubles the channels (64, 128, 128, 256);
- head: global average pooling -> Linear(256 -> 10, bias). No dropout, no post-conv.

GENNAPE's PyTorch twin (``operations.py``) differs from the TF version: its Conv-BN-ReLU units use
ReLU6 where TF uses ReLU. We follow TF (ReLU in every "CBR", ReLU6 only inside the inception-style
``IS`` unit), since the CG must be the one GENNAPE built. Batch norm uses TF's eps 1e-3 and
momentum 0.9 (torch momentum 0.1). Convolutions pad symmetrically by k // 2; TF's 'same' pads a
stride-2 convolution asymmetrically, which changes no shape, so the CG and counts are the same.

Each block is one captured piece keyed by (block, C_in, C_out, stride), so the 38,416 CGs are
spliced from 52 pieces plus stem and head.

CG differences from GENNAPE's HiAML CGs (checked in ``tests/test_family_hiaml.py`` against the
counts GENNAPE's builder gives, GENNAPE_CG_AND_FAMILIES.md section 1.10): the node types, weighted
nodes and the head (input, mean, matmul with its bias merged, output) are the same; the one
difference is that cgbench writes a sum of three tensors as one n-ary ``add``
(``simplify`` merges add chains, like TF's AddN), where TF's ``a + b + c`` gives two AddV2 nodes.
Blocks r30 and t31 end in ``ReLU(P4(x) + o2 + o3)``, so each of their blocks has one node and one
edge fewer than in GENNAPE's CG; every other block has the same counts.

Canonical ``arch_id``: the four block names without GENNAPE's ``hiaml_`` prefix, stage 0 first,
joined by ``-``, e.g. ``a22-z-src1-t31``. The table's ``config`` column holds GENNAPE's
``net_config`` (``["hiaml_a22", "hiaml_z", "hiaml_src1", "hiaml_t31"]``).
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

from .registry import register_family
from .base import UnlabelledFamily, space_table
from .fragments import Composer, Composition
from .space import SearchSpace

# GENNAPE's HIAML_OPS order, without the "hiaml_" prefix.
BLOCK_NAMES = ("z", "a22", "b23", "j30", "g30", "r30", "l20", "t20", "t31", "src0", "src1", "src3", "src7", "src8")
GENNAPE_PREFIX = "hiaml_"
N_STAGES = 4
BLOCKS_PER_STAGE = 2
STEM_CHANNELS = 64
REDUCTION_STAGES = (1, 3)
# TF BatchNormalization(momentum=0.9, epsilon=1e-3); torch's momentum is 1 - TF's.
BN_EPS = 1e-3
BN_MOMENTUM = 0.1
Config = tuple[str, str, str, str]


# ---------------------------------------------------------------------------------------------
# Units shared with Two-Path


def conv_bn(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int,
            activation: type[nn.Module] | None) -> nn.Sequential:
    """Conv (no bias) -> BN [-> activation]: GENNAPE's ``AugmentedConv2D``."""
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, (kh, kw), stride, (kh // 2, kw // 2), bias=False),
                               nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def inception_s(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    """GENNAPE's ``InceptionS``: Conv 1xk (stride in both dims) -> BN -> ReLU6 -> Conv kx1 -> BN -> ReLU6."""
    return nn.Sequential(conv_bn(c_in, c_out, (1, kernel), stride, nn.ReLU6),
                         conv_bn(c_out, c_out, (kernel, 1), 1, nn.ReLU6))


# ---------------------------------------------------------------------------------------------
# The 14 blocks (GENNAPE_CG_AND_FAMILIES.md section 2.1; CBR = Conv-BN-ReLU, CB = Conv-BN)


def _cbr(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return conv_bn(c_in, c_out, kernel, stride, nn.ReLU)


def _cb(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return conv_bn(c_in, c_out, kernel, stride, None)


def _is(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return inception_s(c_in, c_out, 3, stride)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module:
    """The shortcut: CB 1x1/s where the shape changes, the input itself otherwise."""
    return _cb(c_in, c_out, 1, stride) if stride == 2 or c_in != c_out else nn.Identity()


class HiAMLBlock(nn.Module):
    """A block maps (C_in, H, W) to (C_out, H/stride, W/stride) and ends in a plain ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()


class BlockA22(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = _cbr(c_in, c_out, 3, stride), _cbr(c_out, c_out, 1), _cb(c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(x)
        return self.relu(o1 + self.conv3(self.conv2(o1)))


class BlockZ(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.is2 = _cbr(c_in, c_out, 3, stride), _is(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(x)
        return self.relu(o1 + self.is2(o1))


class BlockB23(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.is1, self.is2 = _is(c_in, c_out, stride), _is(c_out, c_out)
        self.proj = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.proj(x)
        return self.relu(shortcut + self.is2(self.is1(x)))


class BlockJ30(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.is2 = _cbr(c_in, c_out, 3, stride), _is(c_out, c_out)
        self.proj = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.proj(x)
        return self.relu(shortcut + self.is2(self.conv1(x)))


class BlockG30(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.is1, self.is2, self.conv3 = _is(c_in, c_out, stride), _is(c_out, c_out), _cb(c_out, c_out, 1)
        self.proj = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.proj(x)
        o1 = self.is1(x)
        return self.relu(o1 + self.conv3(self.is2(shortcut + o1)))


class BlockR30(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.is1, self.conv2, self.is3 = _is(c_in, c_out, stride), _cb(c_out, c_out, 1), _is(c_out, c_out)
        self.proj2, self.proj4 = _projection(c_in, c_out, stride), _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut2, shortcut4 = self.proj2(x), self.proj4(x)
        o1 = self.is1(x)
        o2 = self.conv2(shortcut2 + o1)
        o3 = self.is3(o1)
        return self.relu(shortcut4 + o2 + o3)


class BlockL20(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _cbr(c_in, c_out, 3, stride), _cb(c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)))


class BlockT20(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.is2 = _cb(c_in, c_out, 1, stride), _is(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv1(x) + self.is2(x))


class BlockT31(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.is1, self.conv2, self.is3 = _is(c_in, c_out, stride), _cbr(c_out, c_out, 1), _is(c_out, c_out)
        self.proj3, self.proj4 = _projection(c_in, c_out, stride), _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut3, shortcut4 = self.proj3(x), self.proj4(x)
        o2 = self.conv2(self.is1(x))
        o3 = self.is3(shortcut3 + o2)
        return self.relu(shortcut4 + o2 + o3)


class BlockSrc0(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = _cbr(c_in, c_out, 1, stride), _cbr(c_out, c_out, 3), _cb(c_out, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        return self.relu(y + self.conv3(self.conv2(y)))


class BlockSrc1(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _cbr(c_in, c_out, 1, stride), _cbr(c_in, c_in, 3)
        self.conv3 = _cb(c_in, c_out, 3, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv1(x)
        return self.relu(shortcut + self.conv3(self.conv2(x)))


class BlockSrc3(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _cb(c_in, c_out, 1, stride), _cbr(c_in, c_in, 1)
        self.conv3, self.conv4 = _cbr(c_in, c_out, 3, stride), _cb(c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv1(x)
        return self.relu(shortcut + self.conv4(self.conv3(self.conv2(x))))


class BlockSrc7(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.is2, self.is3 = _cb(c_in, c_out, 1, stride), _is(c_out, c_out), _is(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        return self.relu(y + self.is3(self.is2(y)))


class BlockSrc8(HiAMLBlock):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.is2, self.conv3 = _cb(c_in, c_out, 1, stride), _is(c_out, c_out), _cb(c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        return self.relu(y + self.conv3(self.is2(y)))


BLOCKS: dict[str, type[HiAMLBlock]] = {
    "z": BlockZ, "a22": BlockA22, "b23": BlockB23, "j30": BlockJ30, "g30": BlockG30, "r30": BlockR30,
    "l20": BlockL20, "t20": BlockT20, "t31": BlockT31, "src0": BlockSrc0, "src1": BlockSrc1,
    "src3": BlockSrc3, "src7": BlockSrc7, "src8": BlockSrc8,
}


# ---------------------------------------------------------------------------------------------
# The network


def block_plan(config: Config) -> list[tuple[str, int, int, int]]:
    """(block name, C_in, C_out, stride) of the 8 blocks, in order."""
    plan, channels = [], STEM_CHANNELS
    for stage, name in enumerate(config):
        for index in range(BLOCKS_PER_STAGE):
            reduces = stage in REDUCTION_STAGES and index == 0
            c_out = 2 * channels if reduces else channels
            plan.append((name, channels, c_out, 2 if reduces else 1))
            channels = c_out
    return plan


def _stem() -> nn.Module:
    return _cbr(3, STEM_CHANNELS, 3, 2)


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class HiAMLNetwork(nn.Module):
    def __init__(self, config: Config, num_classes: int = 10) -> None:
        super().__init__()
        plan = block_plan(config)
        self.stem = _stem()
        self.blocks = nn.Sequential(*(BLOCKS[name](c_in, c_out, stride) for name, c_in, c_out, stride in plan))
        self.head = _head(plan[-1][2], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


# ---------------------------------------------------------------------------------------------
# The search space


class HiAMLSpace(SearchSpace[Config]):
    name = "hiaml"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def arch_id(self, config: Config) -> str:
        return "-".join(config)

    def parse(self, arch_id: str) -> Config:
        names = arch_id.split("-")
        if len(names) != N_STAGES:
            raise ValueError(f"a HiAML arch_id names {N_STAGES} blocks joined by '-', got {arch_id!r}")
        unknown = [n for n in names if n not in BLOCKS]
        if unknown:
            raise ValueError(f"unknown HiAML block(s) {unknown} in {arch_id!r}; blocks are {', '.join(BLOCK_NAMES)}")
        return tuple(names)  # type: ignore[return-value]

    def build(self, config: Config) -> nn.Module:
        return HiAMLNetwork(config, self.num_classes)

    def sample(self, rng: np.random.Generator) -> Config:
        return tuple(BLOCK_NAMES[i] for i in rng.integers(0, len(BLOCK_NAMES), N_STAGES))  # type: ignore[return-value]

    def enumerate(self) -> Iterator[Config]:
        return iter(product(BLOCK_NAMES, repeat=N_STAGES))  # type: ignore[arg-type]

    def config_json(self, config: Config) -> str:
        return json.dumps([GENNAPE_PREFIX + name for name in config])

    def compose(self, config: Config, composer: Composer) -> Composition:
        x = composer.apply("stem", _stem, composer.input(3, 32, 32))
        for name, c_in, c_out, stride in block_plan(config):
            x = composer.apply((name, c_in, c_out, stride), partial(BLOCKS[name], c_in, c_out, stride), x)
        head = partial(_head, x.channels, self.num_classes)
        return composer.finish(composer.apply(("head", x.channels, self.num_classes), head, x))


SPACE = HiAMLSpace()


# ---------------------------------------------------------------------------------------------
# The family


@register_family
class HiAML(UnlabelledFamily):
    name = "hiaml"
    version = "1.0"
    description = ("HiAML (GENNAPE): all 14^4 = 38,416 networks of 4 stages x 2 blocks drawn from 14 residual "
                   "blocks, CIFAR-10 input (32x32); unlabelled, waiting for cgbench's own training.")
    space = SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        return space_table(SPACE, list(SPACE.enumerate()), progress)

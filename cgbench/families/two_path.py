"""Two-Path: GENNAPE's CIFAR-10 space of two independent chains of single-path blocks; 10,000 seeded samples.

The network follows GENNAPE's TensorFlow builder (``hiaml_two_path/networks_tf.py``,
``blocks_tf.py``, ``operations_tf.py``), the version GENNAPE turned into CGs:

- stem: CBR6 3x3/1 -> 32, CBR6 3x3/2 -> 32 (CBR6 = Conv (no bias) -> BN -> ReLU6), 16x16x32;
- two paths, both fed by the stem output. Each path has L in {2, 3, 4} blocks, exactly 2 of
  which reduce (stride 2, channels doubled), so both end at 4x4x128;
- head: concat(path 1, path 2) = 256 -> CBR6 3x3 -> 512 -> global average pooling ->
  Dropout(p=0) (an ``identity`` node, as in GENNAPE's CGs) -> Linear(512 -> 10, bias).

A block is a list of 1-3 ops. The first op of type conv takes the block's stride and maps
C_in -> C_out; every other op maps C -> C at stride 1 (a supp op before the first conv works at
C_in). A block with stride 1 adds its input to its output (C_in = C_out there).

Conv ops: ``conv3x3``, ``conv5x5`` (CBR6); ``double3x3`` (CBR6 3x3/s C_in -> C_in, CBR6 3x3 ->
C_out); ``bottleneck-r2-k3``, ``bottleneck-r4-k3``, ``bottleneck-e2-k3`` (CB kxk/s to C_in/2, C_in/4
or 2 C_in, then CB kxk -> C_out); ``inception_s3x3``, ``inception_s5x5`` (Conv 1xk/s -> BN -> ReLU6
-> Conv kx1 -> BN -> ReLU6). Supp ops: ``conv1x1`` (CBR6), ``bottleneck-r2-k1``,
``bottleneck-e2-k1``, ``avgpool3x3``, ``maxpool3x3`` (pool 3x3/1 'same' -> BN).

Where GENNAPE's PyTorch twin differs we follow TF, because the CG must be GENNAPE's: the
bottleneck has no activation (torch adds ReLU6 after each conv), and the 'same' average pool
excludes the padding from the mean (Keras) where torch's default includes it. Batch norm uses TF's
eps 1e-3 and momentum 0.9 (torch momentum 0.1). Convolutions pad symmetrically by k // 2; TF's
'same' pads a stride-2 convolution asymmetrically, which changes no shape.

Sampling (GENNAPE's ``sample_two_path_net_config``), per path: L uniform in {2, 3, 4}; per block
the number of ops uniform in {1, 2, 3}; the first op a uniform conv op; each further op a uniform
supp op with probability 5/13 while the block has no supp op yet, a uniform conv op otherwise;
the op list shuffled; the 2 reduction blocks a uniform 2-subset of the L positions. There are
1,624 distinct blocks and about 1.7e27 ordered pairs of paths, so the space is never enumerated.

Canonical ``arch_id``: the two paths joined by ``|``; a path is its blocks joined by ``,``; a
block is its ops in order joined by ``+``, then ``/s2`` for a reduction block or ``/s1``, e.g.
``conv3x3/s2,maxpool3x3+double3x3/s1,inception_s5x5/s2|bottleneck-e2-k3/s2,conv5x5+conv1x1/s2``.
The table's ``config`` column holds GENNAPE's ``TwoPathNetConfig`` fields as JSON.

CGs are spliced from pieces: each op is captured once per (op, C_in, C_out, stride, input size)
and each distinct block is composed once from its ops, so 10,000 networks build in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn as nn

from .registry import register_family
from .base import SampledFamily
from .fragments import Composer, Composition, Value
from .hiaml import BN_EPS, BN_MOMENTUM, conv_bn, inception_s
from .space import SearchSpace

CONV_OPS = ("conv3x3", "double3x3", "conv5x5", "bottleneck-r2-k3", "bottleneck-r4-k3", "bottleneck-e2-k3",
            "inception_s3x3", "inception_s5x5")
SUPP_OPS = ("conv1x1", "bottleneck-r2-k1", "bottleneck-e2-k1", "avgpool3x3", "maxpool3x3")
SUPP_PROBABILITY = len(SUPP_OPS) / (len(CONV_OPS) + len(SUPP_OPS))
MIN_OPS, MAX_OPS = 1, 3
MIN_BLOCKS, MAX_BLOCKS = 2, 4
REDUCTIONS_PER_PATH = 2
STEM_CHANNELS = 32
HEAD_CHANNELS = 512
FAMILY_SIZE = 10_000
FAMILY_SEED = 0

Block = tuple[str, ...]


@dataclass(frozen=True)
class PathConfig:
    blocks: tuple[Block, ...]
    reductions: tuple[int, ...]  # sorted indices of the stride-2 blocks


@dataclass(frozen=True)
class TwoPathConfig:
    path1: PathConfig
    path2: PathConfig


# ---------------------------------------------------------------------------------------------
# Ops


def _conv(kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    return conv_bn(c_in, c_out, kernel, stride, nn.ReLU6)


def _double(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Sequential(conv_bn(c_in, c_in, 3, stride, nn.ReLU6), conv_bn(c_in, c_out, 3, 1, nn.ReLU6))


def _bottleneck(hidden: Callable[[int], int], kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    c_hidden = hidden(c_in)
    return nn.Sequential(conv_bn(c_in, c_hidden, kernel, stride, None), conv_bn(c_hidden, c_out, kernel, 1, None))


def _reduce(ratio: int, c: int) -> int:
    return max(1, c // ratio)


def _expand(ratio: int, c: int) -> int:
    return c * ratio


def _pool(pool: type[nn.Module], c_in: int, c_out: int, stride: int) -> nn.Module:
    if c_in != c_out or stride != 1:
        raise ValueError(f"a Two-Path pool op keeps channels and stride 1, got {c_in}->{c_out} at stride {stride}")
    window = nn.AvgPool2d(3, 1, 1, count_include_pad=False) if pool is nn.AvgPool2d else nn.MaxPool2d(3, 1, 1)
    return nn.Sequential(window, nn.BatchNorm2d(c_in, eps=BN_EPS, momentum=BN_MOMENTUM))


_OP_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "conv3x3": partial(_conv, 3),
    "conv5x5": partial(_conv, 5),
    "conv1x1": partial(_conv, 1),
    "double3x3": _double,
    "bottleneck-r2-k3": partial(_bottleneck, partial(_reduce, 2), 3),
    "bottleneck-r4-k3": partial(_bottleneck, partial(_reduce, 4), 3),
    "bottleneck-e2-k3": partial(_bottleneck, partial(_expand, 2), 3),
    "bottleneck-r2-k1": partial(_bottleneck, partial(_reduce, 2), 1),
    "bottleneck-e2-k1": partial(_bottleneck, partial(_expand, 2), 1),
    "inception_s3x3": lambda c_in, c_out, stride: inception_s(c_in, c_out, 3, stride),
    "inception_s5x5": lambda c_in, c_out, stride: inception_s(c_in, c_out, 5, stride),
    "avgpool3x3": partial(_pool, nn.AvgPool2d),
    "maxpool3x3": partial(_pool, nn.MaxPool2d),
}


def make_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    return _OP_BUILDERS[name](c_in, c_out, stride)


# ---------------------------------------------------------------------------------------------
# Blocks, paths and the network


def op_plan(ops: Block, c_in: int, c_out: int, stride: int) -> list[tuple[str, int, int, int]]:
    """(op, C_in, C_out, stride) of each op: the first conv op reduces and changes channels."""
    plan, channels, first_conv = [], c_in, True
    for op in ops:
        if first_conv and op in CONV_OPS:
            plan.append((op, channels, c_out, stride))
            channels, first_conv = c_out, False
        else:
            plan.append((op, channels, channels, 1))
    return plan


def block_plan(path: PathConfig) -> list[tuple[Block, int, int, int]]:
    """(ops, C_in, C_out, stride) of each block of a path."""
    plan, channels = [], STEM_CHANNELS
    for index, ops in enumerate(path.blocks):
        reduces = index in path.reductions
        c_out = 2 * channels if reduces else channels
        plan.append((ops, channels, c_out, 2 if reduces else 1))
        channels = c_out
    return plan


class SinglePathBlock(nn.Module):
    def __init__(self, ops: Block, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.Sequential(*(make_op(*step) for step in op_plan(ops, c_in, c_out, stride)))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ops(x)
        return out + x if self.residual else out


def _stem() -> nn.Module:
    return nn.Sequential(conv_bn(3, STEM_CHANNELS, 3, 1, nn.ReLU6), conv_bn(STEM_CHANNELS, STEM_CHANNELS, 3, 2, nn.ReLU6))


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Sequential(conv_bn(channels, HEAD_CHANNELS, 3, 1, nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.0), nn.Linear(HEAD_CHANNELS, num_classes))


class TwoPathNetwork(nn.Module):
    def __init__(self, config: TwoPathConfig, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _stem()
        self.path1 = nn.Sequential(*(SinglePathBlock(*step) for step in block_plan(config.path1)))
        self.path2 = nn.Sequential(*(SinglePathBlock(*step) for step in block_plan(config.path2)))
        channels = block_plan(config.path1)[-1][2] + block_plan(config.path2)[-1][2]
        self.head = _head(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.head(torch.cat([self.path1(x), self.path2(x)], dim=1))


# ---------------------------------------------------------------------------------------------
# Canonical strings


def _path_string(path: PathConfig) -> str:
    return ",".join("+".join(ops) + ("/s2" if i in path.reductions else "/s1") for i, ops in enumerate(path.blocks))


def _parse_block(text: str, whole: str) -> tuple[Block, bool]:
    body, _, stride = text.rpartition("/")
    if stride not in ("s1", "s2"):
        raise ValueError(f"Two-Path block {text!r} in {whole!r} must end in /s1 or /s2")
    ops = tuple(body.split("+"))
    unknown = [op for op in ops if op not in _OP_BUILDERS]
    if unknown:
        raise ValueError(f"unknown Two-Path op(s) {unknown} in {whole!r}")
    if not MIN_OPS <= len(ops) <= MAX_OPS:
        raise ValueError(f"a Two-Path block has {MIN_OPS}-{MAX_OPS} ops, got {len(ops)} in {whole!r}")
    if not any(op in CONV_OPS for op in ops) or sum(op in SUPP_OPS for op in ops) > 1:
        raise ValueError(f"a Two-Path block has at least one conv op and at most one supp op: {text!r} in {whole!r}")
    return ops, stride == "s2"


def _parse_path(text: str, whole: str) -> PathConfig:
    blocks = [_parse_block(part, whole) for part in text.split(",")]
    if not MIN_BLOCKS <= len(blocks) <= MAX_BLOCKS:
        raise ValueError(f"a Two-Path path has {MIN_BLOCKS}-{MAX_BLOCKS} blocks, got {len(blocks)} in {whole!r}")
    reductions = tuple(i for i, (_, reduces) in enumerate(blocks) if reduces)
    if len(reductions) != REDUCTIONS_PER_PATH:
        raise ValueError(f"a Two-Path path has exactly {REDUCTIONS_PER_PATH} /s2 blocks, got {len(reductions)} "
                         f"in {whole!r}")
    return PathConfig(tuple(ops for ops, _ in blocks), reductions)


# ---------------------------------------------------------------------------------------------
# The search space


class TwoPathSpace(SearchSpace[TwoPathConfig]):
    name = "two_path"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def arch_id(self, config: TwoPathConfig) -> str:
        return f"{_path_string(config.path1)}|{_path_string(config.path2)}"

    def parse(self, arch_id: str) -> TwoPathConfig:
        paths = arch_id.split("|")
        if len(paths) != 2:
            raise ValueError(f"a Two-Path arch_id is two paths joined by '|', got {arch_id!r}")
        return TwoPathConfig(_parse_path(paths[0], arch_id), _parse_path(paths[1], arch_id))

    def build(self, config: TwoPathConfig) -> nn.Module:
        return TwoPathNetwork(config, self.num_classes)

    def sample(self, rng: np.random.Generator) -> TwoPathConfig:
        return TwoPathConfig(self._sample_path(rng), self._sample_path(rng))

    @staticmethod
    def _sample_path(rng: np.random.Generator) -> PathConfig:
        length = int(rng.integers(MIN_BLOCKS, MAX_BLOCKS + 1))
        blocks = tuple(TwoPathSpace._sample_block(rng) for _ in range(length))
        reductions = tuple(sorted(int(i) for i in rng.choice(length, REDUCTIONS_PER_PATH, replace=False)))
        return PathConfig(blocks, reductions)

    @staticmethod
    def _sample_block(rng: np.random.Generator) -> Block:
        n_ops = int(rng.integers(MIN_OPS, MAX_OPS + 1))
        ops = [CONV_OPS[rng.integers(len(CONV_OPS))]]
        has_supp = False
        for _ in range(n_ops - 1):
            if not has_supp and rng.random() < SUPP_PROBABILITY:
                ops.append(SUPP_OPS[rng.integers(len(SUPP_OPS))])
                has_supp = True
            else:
                ops.append(CONV_OPS[rng.integers(len(CONV_OPS))])
        return tuple(ops[i] for i in rng.permutation(n_ops))

    def config_json(self, config: TwoPathConfig) -> str:
        return json.dumps({
            "path1": [list(ops) for ops in config.path1.blocks], "path1_reduce_inds": list(config.path1.reductions),
            "path2": [list(ops) for ops in config.path2.blocks], "path2_reduce_inds": list(config.path2.reductions),
        })

    def compose(self, config: TwoPathConfig, composer: Composer) -> Composition:
        stem = composer.apply("stem", _stem, composer.input(3, 32, 32))
        ends = []
        for path in (config.path1, config.path2):
            x = stem
            for ops, c_in, c_out, stride in block_plan(path):
                x = composer.block(("block", ops, c_in, c_out, stride),
                                   partial(self._compose_block, ops, c_in, c_out, stride), x)
            ends.append(x)
        x = composer.concat(*ends)
        return composer.finish(composer.apply(("head", x.channels, self.num_classes),
                                              partial(_head, x.channels, self.num_classes), x))

    @staticmethod
    def _compose_block(ops: Block, c_in: int, c_out: int, stride: int, composer: Composer, x: Value) -> Value:
        y = x
        for step in op_plan(ops, c_in, c_out, stride):
            y = composer.apply(("op", *step), partial(make_op, *step), y)
        return composer.add(y, x) if stride == 1 and c_in == c_out else y


SPACE = TwoPathSpace()


# ---------------------------------------------------------------------------------------------
# The family


@register_family
class TwoPath(SampledFamily):
    name = "two_path"
    version = "1.0"
    description = (f"Two-Path (GENNAPE): {FAMILY_SIZE:,} distinct networks drawn with GENNAPE's sampler (seed "
                   f"{FAMILY_SEED}), two chains of 2-4 single-path blocks, CIFAR-10 input (32x32); unlabelled, "
                   "waiting for cgbench's own training.")
    sample_size = FAMILY_SIZE
    sample_seed = FAMILY_SEED
    space = SPACE


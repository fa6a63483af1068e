"""Inception: GENNAPE's CIFAR-10 space of multi-path inception-style blocks; 10,000 seeded samples.

The network follows GENNAPE's TensorFlow builder (``search_space/inception/network_tf.py``,
``block_tf.py``, ``operations_tf.py``), the version GENNAPE turned into CGs:

- stem: Conv 3x3/1 -> 32 (bias) -> BN -> ReLU6;
- 4 stages with C_out 32, 64, 128, 256; stages 1-3 reduce (their first block has stride 2), so
  the feature map goes 32 -> 16 -> 8 -> 4. A stage has 2-6 blocks, all built from the stage's
  one block config;
- head: Conv 3x3 -> 512 (bias) -> BN -> ReLU6 -> global average pooling -> Dropout(p=0) (an
  ``identity`` node, as in GENNAPE's CGs) -> Linear(512 -> 10, bias).

A block has 1-4 parallel paths, each reading the whole block input. Path output channels: with
3 paths ``[2c, c, c + r]`` (c = C_out // 4, r the remainder), otherwise an equal split with the
remainder on the last path; shuffled by the sampler, then each clamped to at least 16. The paths
are concatenated in order; where their channels do not sum to C_out a ``C_proj`` (Conv 1x1 with
bias -> BN) maps to C_out. A block with stride 1 and C_in = C_out adds its input.

A path is a list of ops. The "C-change-capable" ops are the conv ops plus ``conv1x1`` and
``double1x1``. The first C-change-capable op maps to the path's internal width C_internal, the
first conv op carries the block stride, the last C-change-capable op maps to the path's output
width; an op holding several roles does all of them, every other op keeps its channels at
stride 1. Conv ops: ``conv3x3``, ``conv5x5`` (Conv -> BN -> ReLU6); ``depthwise3x3``,
``depthwise5x5`` (a bias-free, BN-free 1x1 conv where C_in != C_out, then depthwise kxk/s ->
BN -> ReLU6); ``inception_s3x3``, ``inception_s5x5`` (Conv 1xk with stride (1, s) -> BN ->
ReLU6 -> Conv kx1 with stride (s, 1) -> BN -> ReLU6: the stride is split over the two convs);
``inception_p3x3``, ``inception_p5x5`` (two branches, Conv 1xk -> BN to C_out // 2 and Conv
kx1 -> BN to the rest, concatenated -> ReLU6; at stride 2 each branch is two convs, 1xk(1,2) ->
kx1(2,1) and kx1(2,1) -> 1xk(1,2), each followed by BN). Supp ops: ``conv1x1`` (CBR6),
``double1x1`` (two CBR6 1x1, the first maps C_in -> C_out), ``avgpool3x3``, ``maxpool3x3``
(pool 3x3/1 'same' -> BN). Every conv has a bias except the depthwise op's input projection.

Where GENNAPE's PyTorch twin differs we follow TF, because the CG must be GENNAPE's: the stride-2
``inception_p`` applies ReLU6 once after the concat (torch also applies it to each branch, which
computes the same values but adds nodes); the 'same' average pool excludes the padding from the
mean (Keras; torch's default includes it); batch norm uses TF's eps 1e-3 and momentum 0.99
(torch momentum 0.01; GENNAPE's torch uses torch's defaults). Convolutions pad symmetrically by
k // 2; TF's 'same' pads a stride-2 convolution asymmetrically, which changes no shape.

Sampling (GENNAPE's ``sample_net_config``), per stage: n_blocks uniform in {2..6}; then one block:
n_paths uniform in {1..4}; ops per block at most {1: 3, 2: 4, 3: 8, 4: 10} and per path at least
{1: 1, 2: 1, 3: 2, 4: 2}; path i draws its op count uniformly from [min, budget left - min x paths
after it]; its first op is a uniform conv op, each further op a uniform supp op with probability
4/12 while the path has none, a uniform conv op otherwise; the op list is shuffled; a path with
two or more C-change-capable ops draws reduce2 / no_change / expand2 with probabilities
0.3 / 0.6 / 0.1 for C_internal = max(C_io // 2, 16) / C_io / 2 C_io, other paths keep C_io.

Canonical ``arch_id``: the 4 stages joined by ``;``. A stage is ``{n_blocks}*`` then its paths
joined by ``|``; a path is its ops joined by ``+``, then ``/{C_internal}/{C_out}``, e.g.
``3*conv3x3+maxpool3x3/32/32;2*inception_p5x5/16/16|depthwise3x3+conv1x1/32/16|conv5x5/16/16;...``.
Path order is kept: it sets the concat order, so it changes the network and the CG (GENNAPE's
``str(config)`` sorts the paths, so its dedup treats reordered paths as one architecture). Two
sampled configs whose C_internal choices give the same widths (reduce2 of 16 is 16) have one
arch_id. The table's ``config`` column holds GENNAPE's ``NetConfig.state_dict()`` as JSON.

CGs are spliced from cached pieces: each op is captured once per (op, C_in, C_out, stride, input
size) (841 captures for the 10,000-network family) and each path is composed once from its ops
per (ops, widths, C_in, stride, input size); a network splices its blocks' paths, concats,
``C_proj`` pieces and residual adds directly. Caching whole blocks as well was measured slower
(about 2.3x on 3,000 networks): blocks are almost never shared between networks, so composing
each distinct block costs one more ``simplify`` than the few path splices it saves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn as nn

from .registry import register_family
from .base import SampledFamily
from .fragments import Composer, Composition, Value
from .space import SearchSpace

CONV_OPS = ("conv3x3", "inception_s3x3", "inception_p3x3", "depthwise3x3",
            "conv5x5", "depthwise5x5", "inception_s5x5", "inception_p5x5")
SUPP_OPS = ("conv1x1", "avgpool3x3", "maxpool3x3", "double1x1")
C_CHANGE_SUPP_OPS = ("conv1x1", "double1x1")
SUPP_PROBABILITY = len(SUPP_OPS) / (len(CONV_OPS) + len(SUPP_OPS))
C_CHANGES = (("reduce2", 0.3), ("no_change", 0.6), ("expand2", 0.1))
_C_CHANGE_CDF = np.cumsum([p for _, p in C_CHANGES])[:-1]
MAX_OPS_PER_BLOCK = {1: 3, 2: 4, 3: 8, 4: 10}
MIN_OPS_PER_PATH = {1: 1, 2: 1, 3: 2, 4: 2}
MIN_CHANNELS = 16
STEM_CHANNELS = 32
STAGE_CHANNELS = (32, 64, 128, 256)
REDUCTION_STAGES = (1, 2, 3)
MIN_BLOCKS, MAX_BLOCKS = 2, 6
HEAD_CHANNELS = 512
# TF BatchNormalization(momentum=0.99, epsilon=1e-3); torch's momentum is 1 - TF's.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
FAMILY_SIZE = 10_000
FAMILY_SEED = 0


@dataclass(frozen=True)
class PathConfig:
    ops: tuple[str, ...]
    c_internal: int
    c_out: int


@dataclass(frozen=True)
class BlockConfig:
    paths: tuple[PathConfig, ...]


@dataclass(frozen=True)
class StageConfig:
    n_blocks: int
    block: BlockConfig


@dataclass(frozen=True)
class InceptionConfig:
    stages: tuple[StageConfig, ...]


# ---------------------------------------------------------------------------------------------
# Ops


def conv_bn(c_in: int, c_out: int, kernel: tuple[int, int], stride: tuple[int, int], relu6: bool,
            bias: bool = True) -> nn.Sequential:
    """GENNAPE's ``AugmentedConv2D``: Conv -> BN [-> ReLU6]."""
    padding = (kernel[0] // 2, kernel[1] // 2)
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias),
                               nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


def _square(k: int) -> tuple[int, int]:
    return (k, k)


def _conv(kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    return conv_bn(c_in, c_out, _square(kernel), _square(stride), relu6=True)


def _double1x1(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Sequential(conv_bn(c_in, c_out, (1, 1), (1, 1), relu6=True),
                         conv_bn(c_out, c_out, (1, 1), _square(stride), relu6=True))


def _depthwise(kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 1, bias=False)] if c_in != c_out else []
    layers += [nn.Conv2d(c_out, c_out, kernel, stride, kernel // 2, groups=c_out, bias=True),
               nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM), nn.ReLU6()]
    return nn.Sequential(*layers)


def _inception_s(kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Sequential(conv_bn(c_in, c_out, (1, kernel), (1, stride), relu6=True),
                         conv_bn(c_out, c_out, (kernel, 1), (stride, 1), relu6=True))


class InceptionP(nn.Module):
    """Two factorised branches (1xk and kx1 first), concatenated, then one ReLU6 (TF)."""

    def __init__(self, kernel: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        c_first, c_second = c_out // 2, c_out - c_out // 2
        wide, tall = (1, kernel), (kernel, 1)
        if stride == 1:
            self.branch1 = conv_bn(c_in, c_first, wide, (1, 1), relu6=False)
            self.branch2 = conv_bn(c_in, c_second, tall, (1, 1), relu6=False)
        else:
            self.branch1 = nn.Sequential(conv_bn(c_in, c_first, wide, (1, stride), relu6=False),
                                         conv_bn(c_first, c_first, tall, (stride, 1), relu6=False))
            self.branch2 = nn.Sequential(conv_bn(c_in, c_second, tall, (stride, 1), relu6=False),
                                         conv_bn(c_second, c_second, wide, (1, stride), relu6=False))
        self.relu6 = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu6(torch.cat([self.branch1(x), self.branch2(x)], dim=1))


def _pool(pool: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    if c_in != c_out or stride != 1:
        raise ValueError(f"an Inception pool op keeps channels at stride 1, got {c_in}->{c_out} at stride {stride}")
    window = nn.AvgPool2d(3, 1, 1, count_include_pad=False) if pool == "avg" else nn.MaxPool2d(3, 1, 1)
    return nn.Sequential(window, nn.BatchNorm2d(c_in, eps=BN_EPS, momentum=BN_MOMENTUM))


_OP_BUILDERS = {
    "conv3x3": partial(_conv, 3),
    "conv5x5": partial(_conv, 5),
    "conv1x1": partial(_conv, 1),
    "double1x1": _double1x1,
    "depthwise3x3": partial(_depthwise, 3),
    "depthwise5x5": partial(_depthwise, 5),
    "inception_s3x3": partial(_inception_s, 3),
    "inception_s5x5": partial(_inception_s, 5),
    "inception_p3x3": partial(InceptionP, 3),
    "inception_p5x5": partial(InceptionP, 5),
    "avgpool3x3": partial(_pool, "avg"),
    "maxpool3x3": partial(_pool, "max"),
}


def make_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    return _OP_BUILDERS[name](c_in, c_out, stride)


# ---------------------------------------------------------------------------------------------
# Block rules


def can_change_channels(op: str) -> bool:
    return op in CONV_OPS or op in C_CHANGE_SUPP_OPS


def path_channel_split(c_out: int, n_paths: int) -> list[int]:
    """GENNAPE's per-path output widths before shuffling and clamping."""
    if n_paths == 3:
        c = c_out // 4
        return [2 * c, c, c + c_out - 4 * c]
    c = c_out // n_paths
    return [c] * (n_paths - 1) + [c + c_out - n_paths * c]


def internal_width_choices(ops: tuple[str, ...], c_io: int) -> tuple[int, ...]:
    """The C_internal values a path may have: reduce2 / no_change / expand2, or C_io alone."""
    if sum(can_change_channels(op) for op in ops) < 2:
        return (c_io,)
    return (max(c_io // 2, MIN_CHANNELS), c_io, max(2 * c_io, MIN_CHANNELS))


def path_plan(ops: tuple[str, ...], c_in: int, c_internal: int, c_out: int,
              stride: int) -> list[tuple[str, int, int, int]]:
    """(op, C_in, C_out, stride) of each op of a path, by the channel and stride roles."""
    changers = [i for i, op in enumerate(ops) if can_change_channels(op)]
    first_change, last_change = changers[0], changers[-1]
    first_conv = next(i for i, op in enumerate(ops) if op in CONV_OPS)
    plan, channels = [], c_in
    for i, op in enumerate(ops):
        target = c_internal if i == first_change else c_out if i == last_change else channels
        plan.append((op, channels, target, stride if i == first_conv else 1))
        channels = target
    return plan


def stage_plan(config: InceptionConfig) -> list[tuple[BlockConfig, int, int, int]]:
    """(block, C_in, C_out, stride) of every block of the network, in order."""
    plan, channels = [], STEM_CHANNELS
    for index, (stage, c_out) in enumerate(zip(config.stages, STAGE_CHANNELS)):
        for b in range(stage.n_blocks):
            stride = 2 if b == 0 and index in REDUCTION_STAGES else 1
            plan.append((stage.block, channels, c_out, stride))
            channels = c_out
    return plan


def has_residual(c_in: int, c_out: int, stride: int) -> bool:
    return stride == 1 and c_in == c_out


# ---------------------------------------------------------------------------------------------
# The network


class InceptionBlock(nn.Module):
    def __init__(self, block: BlockConfig, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(*(make_op(*step) for step in path_plan(p.ops, c_in, p.c_internal, p.c_out, stride)))
            for p in block.paths)
        concat_channels = sum(p.c_out for p in block.paths)
        self.c_proj = (conv_bn(concat_channels, c_out, (1, 1), (1, 1), relu6=False)
                       if concat_channels != c_out else None)
        self.residual = has_residual(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [path(x) for path in self.paths]
        out = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
        if self.c_proj is not None:
            out = self.c_proj(out)
        return out + x if self.residual else out


def _stem() -> nn.Module:
    return conv_bn(3, STEM_CHANNELS, (3, 3), (1, 1), relu6=True)


def _head(channels: int, num_classes: int) -> nn.Module:
    return nn.Sequential(conv_bn(channels, HEAD_CHANNELS, (3, 3), (1, 1), relu6=True), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.0), nn.Linear(HEAD_CHANNELS, num_classes))


class InceptionNetwork(nn.Module):
    def __init__(self, config: InceptionConfig, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _stem()
        self.blocks = nn.Sequential(*(InceptionBlock(*step) for step in stage_plan(config)))
        self.head = _head(STAGE_CHANNELS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


# ---------------------------------------------------------------------------------------------
# Canonical strings


def _stage_string(stage: StageConfig) -> str:
    paths = "|".join(f"{'+'.join(p.ops)}/{p.c_internal}/{p.c_out}" for p in stage.block.paths)
    return f"{stage.n_blocks}*{paths}"


def _parse_int(text: str, what: str, whole: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{what} must be a positive integer, got {text!r} in {whole!r}")
    return int(text)


def _parse_path(text: str, whole: str) -> PathConfig:
    parts = text.split("/")
    if len(parts) != 3:
        raise ValueError(f"an Inception path is 'op+op/C_internal/C_out', got {text!r} in {whole!r}")
    ops = tuple(parts[0].split("+"))
    unknown = [op for op in ops if op not in _OP_BUILDERS]
    if unknown:
        raise ValueError(f"unknown Inception op(s) {unknown} in {whole!r}")
    if not any(op in CONV_OPS for op in ops) or sum(op in SUPP_OPS for op in ops) > 1:
        raise ValueError(f"an Inception path has at least one conv op and at most one supp op: {text!r}")
    c_internal = _parse_int(parts[1], "C_internal", whole)
    c_out = _parse_int(parts[2], "C_out", whole)
    if c_internal not in internal_width_choices(ops, c_out):
        raise ValueError(f"C_internal {c_internal} of path {text!r} is not one of "
                         f"{internal_width_choices(ops, c_out)} in {whole!r}")
    return PathConfig(ops, c_internal, c_out)


def _parse_stage(text: str, c_out: int, whole: str) -> StageConfig:
    count, star, body = text.partition("*")
    if not star:
        raise ValueError(f"an Inception stage is 'n_blocks*paths', got {text!r} in {whole!r}")
    n_blocks = _parse_int(count, "n_blocks", whole)
    if not MIN_BLOCKS <= n_blocks <= MAX_BLOCKS:
        raise ValueError(f"a stage has {MIN_BLOCKS}-{MAX_BLOCKS} blocks, got {n_blocks} in {whole!r}")
    paths = tuple(_parse_path(part, whole) for part in body.split("|"))
    n_paths = len(paths)
    if n_paths not in MAX_OPS_PER_BLOCK:
        raise ValueError(f"a block has 1-4 paths, got {n_paths} in {whole!r}")
    lengths = [len(p.ops) for p in paths]
    if min(lengths) < MIN_OPS_PER_PATH[n_paths] or sum(lengths) > MAX_OPS_PER_BLOCK[n_paths]:
        raise ValueError(f"a {n_paths}-path block has at most {MAX_OPS_PER_BLOCK[n_paths]} ops and at least "
                         f"{MIN_OPS_PER_PATH[n_paths]} per path, got {lengths} in {whole!r}")
    expected = sorted(max(c, MIN_CHANNELS) for c in path_channel_split(c_out, n_paths))
    if sorted(p.c_out for p in paths) != expected:
        raise ValueError(f"the paths of a {n_paths}-path block at C_out {c_out} have widths {expected} in some "
                         f"order, got {[p.c_out for p in paths]} in {whole!r}")
    return StageConfig(n_blocks, BlockConfig(paths))


# ---------------------------------------------------------------------------------------------
# The search space


class InceptionSpace(SearchSpace[InceptionConfig]):
    name = "inception"
    input_shape = (1, 3, 32, 32)
    num_classes = 10

    def arch_id(self, config: InceptionConfig) -> str:
        return ";".join(_stage_string(stage) for stage in config.stages)

    def parse(self, arch_id: str) -> InceptionConfig:
        stages = arch_id.split(";")
        if len(stages) != len(STAGE_CHANNELS):
            raise ValueError(f"an Inception arch_id is {len(STAGE_CHANNELS)} stages joined by ';', got {arch_id!r}")
        return InceptionConfig(tuple(_parse_stage(text, c_out, arch_id)
                                     for text, c_out in zip(stages, STAGE_CHANNELS)))

    def build(self, config: InceptionConfig) -> nn.Module:
        return InceptionNetwork(config, self.num_classes)

    def sample(self, rng: np.random.Generator) -> InceptionConfig:
        stages = []
        for c_out in STAGE_CHANNELS:
            n_blocks = int(rng.integers(MIN_BLOCKS, MAX_BLOCKS + 1))
            stages.append(StageConfig(n_blocks, self._sample_block(rng, c_out)))
        return InceptionConfig(tuple(stages))

    @staticmethod
    def _sample_block(rng: np.random.Generator, c_out: int) -> BlockConfig:
        n_paths = int(rng.integers(1, 5))
        budget, least = MAX_OPS_PER_BLOCK[n_paths], MIN_OPS_PER_PATH[n_paths]
        widths = [path_channel_split(c_out, n_paths)[i] for i in rng.permutation(n_paths)]
        paths, used = [], 0
        for index, width in enumerate(widths):
            most = budget - used - least * (n_paths - index - 1)
            n_ops = int(rng.integers(least, most + 1))
            paths.append(InceptionSpace._sample_path(rng, n_ops, max(width, MIN_CHANNELS)))
            used += n_ops
        return BlockConfig(tuple(paths))

    @staticmethod
    def _sample_path(rng: np.random.Generator, n_ops: int, c_io: int) -> PathConfig:
        ops = [CONV_OPS[rng.integers(len(CONV_OPS))]]
        has_supp = False
        for _ in range(n_ops - 1):
            if not has_supp and rng.random() < SUPP_PROBABILITY:
                ops.append(SUPP_OPS[rng.integers(len(SUPP_OPS))])
                has_supp = True
            else:
                ops.append(CONV_OPS[rng.integers(len(CONV_OPS))])
        shuffled = tuple(ops[i] for i in rng.permutation(n_ops))
        choices = internal_width_choices(shuffled, c_io)
        if len(choices) == 1:
            return PathConfig(shuffled, c_io, c_io)
        pick = int(np.searchsorted(_C_CHANGE_CDF, rng.random(), side="right"))
        return PathConfig(shuffled, choices[pick], c_io)

    def config_json(self, config: InceptionConfig) -> str:
        stages, channels = [], STEM_CHANNELS
        for index, (stage, c_out) in enumerate(zip(config.stages, STAGE_CHANNELS)):
            paths = [{"ops": list(p.ops), "op_types": ["conv" if op in CONV_OPS else "supp" for op in p.ops],
                      "C_internal": p.c_internal, "C_out": p.c_out} for p in stage.block.paths]
            stages.append({"block": {"paths": paths}, "n_blocks": stage.n_blocks, "C_in": channels, "C_out": c_out,
                           "stride": 2 if index in REDUCTION_STAGES else 1})
            channels = c_out
        return json.dumps({"stages": stages})

    def compose(self, config: InceptionConfig, composer: Composer) -> Composition:
        x = composer.apply("stem", _stem, composer.input(3, 32, 32))
        for block, c_in, c_out, stride in stage_plan(config):
            x = self._compose_block(block, c_in, c_out, stride, composer, x)
        head = partial(_head, x.channels, self.num_classes)
        return composer.finish(composer.apply(("head", x.channels, self.num_classes), head, x))

    @staticmethod
    def _compose_block(block: BlockConfig, c_in: int, c_out: int, stride: int, composer: Composer,
                       x: Value) -> Value:
        outs = [composer.block(("path", p, c_in, stride), partial(InceptionSpace._compose_path, p, c_in, stride), x)
                for p in block.paths]
        y = composer.concat(*outs)
        if y.channels != c_out:
            y = composer.apply(("c_proj", y.channels, c_out),
                               partial(conv_bn, y.channels, c_out, (1, 1), (1, 1), False), y)
        return composer.add(y, x) if has_residual(c_in, c_out, stride) else y

    @staticmethod
    def _compose_path(path: PathConfig, c_in: int, stride: int, composer: Composer, x: Value) -> Value:
        for step in path_plan(path.ops, c_in, path.c_internal, path.c_out, stride):
            x = composer.apply(("op", *step), partial(make_op, *step), x)
        return x


SPACE = InceptionSpace()


# ---------------------------------------------------------------------------------------------
# The family


@register_family
class Inception(SampledFamily):
    name = "inception"
    version = "1.0"
    description = (f"Inception (GENNAPE): {FAMILY_SIZE:,} distinct networks drawn with GENNAPE's sampler (seed "
                   f"{FAMILY_SEED}), 4 stages of 2-6 repeated multi-path blocks, CIFAR-10 input (32x32); "
                   "unlabelled, waiting for cgbench's own training.")
    sample_size = FAMILY_SIZE
    sample_seed = FAMILY_SEED
    space = SPACE


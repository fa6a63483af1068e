"""FBNet's space as HW-NAS-Bench defines it (CIFAR-100 setting), with HELP's 5,000 networks and latencies.

The space (Wu et al., FBNet, CVPR 2019; HW-NAS-Bench, Li et al., ICLR 2021) is a fixed macro
network with 22 searchable layers. Facts taken from HW-NAS-Bench's code (GATECH-EIC/HW-NAS-Bench,
``hw_nas_bench_api/fbnet_models/model_infer.py`` and ``hw_nas_bench_api/hw_nas_bench_api.py``):

- stages of 1, 4, 4, 4, 4, 4, 1 layers with output widths 16, 24, 32, 64, 112, 184, 352; the
  first layer of a stage takes the stage's stride and width change, the others keep the shape;
  strides 1, 1, 2, 2, 1, 2, 1 in the CIFAR setting (ImageNet's are 1, 2, 2, 2, 1, 2, 1);
- stem: 3x3 conv (stride 1 for CIFAR, padding 1, no bias) to 16 channels, BN, ReLU;
- head: 1x1 conv to 1504 channels (1984 for ImageNet), BN, ReLU, global average pooling,
  linear to the classes (100 for CIFAR-100);
- each layer is one of 9 candidates, in this index order: k3_e1, k3_e1_g2, k3_e3, k3_e6, k5_e1,
  k5_e1_g2, k5_e3, k5_e6, skip. A ``k<k>_e<e>[_g<g>]`` block (``ConvBlock``) is a 1x1 conv
  C_in -> e*C_in with g groups, BN, ReLU, [channel shuffle of g groups when g > 1], a depthwise
  k x k conv with the layer's stride (padding k // 2), BN, ReLU, a 1x1 conv e*C_in -> C_out with g
  groups, BN, plus the input when the stride is 1 and C_in == C_out. Even at e = 1 the first 1x1
  conv is there. ``skip`` is the identity where the layer keeps the shape, otherwise a 1x1 conv
  with the stride (no bias), BN, ReLU. No conv has a bias.

HW-NAS-Bench's channel shuffle is a view-permute-view; here it is ``nn.ChannelShuffle`` (the same
permutation), so the CG keeps it as a ``channel_shuffle`` node instead of folding the reshapes away.

Canonical arch_id: within a stage, the layers after the first all keep the shape, so an identity
``skip`` there is no layer at all and its position does not change the network. A config lists
those identity skips last in their stage (``canonical``); the arch_id is the 22 op names joined
by ``-``. :meth:`FBNetSpace.from_indices` takes HW-NAS-Bench's ``op_idx_list``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn

from ..formats.help import read_fbnet_archs
from .registry import register_family
from .base import FamilySpec, space_table
from .fragments import Composer, Composition
from .latency import help_file, latency_files, read_latency_columns
from .space import SearchSpace

OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
SKIP = "skip"
STAGE_LAYERS = (1, 4, 4, 4, 4, 4, 1)
STAGE_WIDTHS = (16, 24, 32, 64, 112, 184, 352)
CIFAR_STRIDES = (1, 1, 2, 2, 1, 2, 1)
STEM_WIDTH = 16
HEAD_WIDTH = 1504
NUM_CLASSES = 100
RESOLUTION = 32
N_LAYERS = sum(STAGE_LAYERS)

Config = tuple[str, ...]  # the op name of each of the 22 layers, canonical


@dataclass(frozen=True)
class Layer:
    c_in: int
    c_out: int
    stride: int

    @property
    def keeps_shape(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


def _layers() -> tuple[Layer, ...]:
    layers, c_in = [], STEM_WIDTH
    for n, width, stride in zip(STAGE_LAYERS, STAGE_WIDTHS, CIFAR_STRIDES):
        layers.append(Layer(c_in, width, stride))
        layers.extend(Layer(width, width, 1) for _ in range(n - 1))
        c_in = width
    return tuple(layers)


LAYERS = _layers()


@dataclass(frozen=True)
class Block:
    kernel: int
    expand: int
    groups: int


def block_of(op: str) -> Block:
    """The kernel, expansion and groups of a ``k<k>_e<e>[_g<g>]`` op name."""
    parts = op.split("_")
    groups = int(parts[2][1:]) if len(parts) == 3 else 1
    return Block(int(parts[0][1:]), int(parts[1][1:]), groups)


# ---------------------------------------------------------------------------------------------
# Configs


def canonical(ops: tuple[str, ...] | list[str]) -> Config:
    """``ops`` with each stage's identity skips (layers after its first) moved to the stage's end."""
    ops = tuple(ops)
    if len(ops) != N_LAYERS or any(op not in OPS for op in ops):
        raise ValueError(f"an FBNet config is {N_LAYERS} op names from {OPS}, got {ops!r}")
    result, first = [], 0
    for n in STAGE_LAYERS:
        tail = ops[first + 1:first + n]
        result += [ops[first], *(op for op in tail if op != SKIP), *(SKIP for op in tail if op == SKIP)]
        first += n
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# The network


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]


class FBNetBlock(nn.Module):
    """HW-NAS-Bench's ``ConvBlock``: grouped 1x1 expand, [shuffle], depthwise k x k, grouped 1x1 project."""

    def __init__(self, block: Block, layer: Layer) -> None:
        super().__init__()
        mid = layer.c_in * block.expand
        expand = [*_conv_bn(layer.c_in, mid, 1, groups=block.groups), nn.ReLU()]
        if block.groups > 1:
            expand.append(nn.ChannelShuffle(block.groups))
        self.body = nn.Sequential(*expand, *_conv_bn(mid, mid, block.kernel, layer.stride, groups=mid), nn.ReLU(),
                                  *_conv_bn(mid, layer.c_out, 1, groups=block.groups))
        self.residual = layer.keeps_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x if self.residual else self.body(x)


def layer_module(op: str, layer: Layer) -> nn.Module:
    if op == SKIP and layer.keeps_shape:
        return nn.Identity()
    if op == SKIP:
        return nn.Sequential(*_conv_bn(layer.c_in, layer.c_out, 1, layer.stride), nn.ReLU())
    return FBNetBlock(block_of(op), layer)


def _stem() -> nn.Module:
    return nn.Sequential(*_conv_bn(3, STEM_WIDTH, 3), nn.ReLU())


def _head(num_classes: int) -> nn.Module:
    return nn.Sequential(*_conv_bn(STAGE_WIDTHS[-1], HEAD_WIDTH, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(HEAD_WIDTH, num_classes))


# ---------------------------------------------------------------------------------------------
# The search space


class FBNetSpace(SearchSpace[Config]):
    name = "fbnet"
    input_shape = (1, 3, RESOLUTION, RESOLUTION)
    num_classes = NUM_CLASSES

    def arch_id(self, config: Config) -> str:
        return "-".join(canonical(config))

    def parse(self, arch_id: str) -> Config:
        config = canonical(arch_id.split("-"))
        if "-".join(config) != arch_id:
            raise ValueError(f"{arch_id!r} is not canonical (identity skips last in each stage); "
                             f"the same network is {'-'.join(config)!r}")
        return config

    def from_indices(self, op_idx_list: list[int] | tuple[int, ...]) -> Config:
        """The config of HW-NAS-Bench's ``op_idx_list`` (22 indices into :data:`OPS`)."""
        if len(op_idx_list) != N_LAYERS or any(type(i) is not int or not 0 <= i < len(OPS) for i in op_idx_list):
            raise ValueError(f"an FBNet op_idx_list is {N_LAYERS} ints in 0..{len(OPS) - 1}, got {op_idx_list!r}")
        return canonical([OPS[i] for i in op_idx_list])

    def build(self, config: Config) -> nn.Module:
        return nn.Sequential(_stem(), *(layer_module(op, layer) for op, layer in zip(config, LAYERS)),
                             _head(self.num_classes))

    def sample(self, rng: np.random.Generator) -> Config:
        """HW-NAS-Bench's space sampled uniformly: each layer's op uniform over the 9 candidates."""
        return canonical([OPS[i] for i in rng.integers(0, len(OPS), N_LAYERS)])

    def config_json(self, config: Config) -> str:
        return json.dumps(list(config))

    def compose(self, config: Config, composer: Composer) -> Composition:
        x = composer.apply("stem", _stem, composer.input(3, RESOLUTION, RESOLUTION))
        for op, layer in zip(config, LAYERS):
            if not (op == SKIP and layer.keeps_shape):
                x = composer.apply((op, layer), partial(layer_module, op, layer), x)
        head = partial(_head, self.num_classes)
        return composer.finish(composer.apply(("head", self.num_classes), head, x))


SPACE = FBNetSpace()


# ---------------------------------------------------------------------------------------------
# HELP's FBNet data

ARCH_FILE = help_file("fbnet/arch.pt", "ba5e1e45bb4134afd07b44ae8e69bf2576051935682368fd9c51cbde059c7fdc")
METAINFO = help_file("fbnet/metainfo.pt", "2d612b214ba2e446ec3f0b7e4f56a5f683ab2370dd09fc120d2e66ad78c2107b")
LATENCY_FILES = latency_files("fbnet", {
    "1080ti_1": "e8dc124d658407e6e8f2cc0642162bae3ce2b56c8dee44b4bc629f2ac8ca4c28",
    "1080ti_32": "74c5c9801b4e6b7d0cb2fdd3c2d953fc9eea7569da9b9dbb5438c2c2b8687b85",
    "1080ti_64": "ec8e443e814c739df4d7153bf1902b64b987e1e158bc780fa3579d4e481ba462",
    "2080ti_1": "bc8ef435a048c8c44d5ab0b5636c9366bded86fcade1fd79c1bea2e0558e4fd7",
    "2080ti_32": "35ade96b5e88c60f9a176909b7dfe8033830f983a212b89379e557c1c98f93c1",
    "2080ti_64": "038c6438091fecb536c5e1fc70da13cbb2d99b4ef7ba44a7c545d2b141ec7654",
    "essential_ph_1": "0855ddb3f4fbb17e0dea2ed252a1aac3c720590ec13c2b3c946d50dcc3a7915d",
    "eyeriss": "eaf78708634cdada3fa52971a91fa851c41a3a3edc213c7d5dd3dc81ad205e7f",
    "fpga": "f1f0542554cf205f93593814d9e5012df90139043c1b878a24d36d66b0a5adaf",
    "gold_6226": "77a15ae6276ba8e5343fb3d2b9e7dd995629b0cca92af282d12619002745560c",
    "gold_6240": "b3f7f9e419b67d2f5b2d6392f4968ea9a7a23f3078a4a8c882016ab72921dc3f",
    "pixel2": "da0b0da71fc6195232a92d0cf2c23a4176756c8fbb600c74b3cc99d6c2e69d88",
    "pixel3": "ccd89872782b2c4f4c7b163e65983cffb7a14782b3a03f2837ccf5083f00ebd8",
    "raspi4": "51a9da87b02efb1a6ebd42e312c324abdaac0e75dbfc84825dff92b0804a44af",
    "samsung_a50": "378f93b6a278598470d354073d983ffaa0e80f72884b5370da3bb70b6a8e0f1d",
    "samsung_s7": "82660d5aa1839480d57c4b0188de510583f43f9c4b808eb5094a03280e8fe7eb",
    "silver_4114": "908e18175a31ec455f63292025bba736ad1e52831950c15e472ce1670048ce94",
    "silver_4210r": "e1732f783606639d40cb3ac40903e05c8dc06797be024c0643e8d14e7e270de5",
    "titan_rtx_1": "d13dc078b2a0e4c9d984f29d48f26f5659cddd2d2f83f753a5b1c3f7999af337",
    "titan_rtx_32": "3607673cd6a40a8290678b85d88d27c67429e8366394965c5f0d0fd649cf6f22",
    "titan_rtx_64": "066bd14333eb53ce2076c290bdb8944db4919444a77813158580ff3bfa57901f",
    "titanx_1": "2ab7914e5effece2a2e9c1f5f73826adc0e6c371a63802e91234a65936eb3068",
    "titanx_32": "667e020f5d3977d347d0969c6e67362892ec5e0b483c10791f5de25eb1c196b4",
    "titanx_64": "f2d09f8de4d6efbc6c504c3812eacbc9717bf813d1fcc55cae6ce5de405d2277",
    "titanxp_1": "a4da9d78c7f3f39640051bcf3d843f26447254d50cab3beabdbab64e07fe27dd",
    "titanxp_32": "fb059a030b7c0f9c80357122d81e3c336c50ddbbab82eae8e1a0d0435fe92208",
    "titanxp_64": "6571f75d29bdbde84c1973b4e9d8e7a7205eae03d06299d1a5390b3c2939a888",
})


@register_family
class FBNet(FamilySpec):
    name = "fbnet"
    version = "1.0"
    description = ("FBNet space (HW-NAS-Bench, CIFAR-100 setting, 32x32): HELP's 5,000 sampled networks with "
                   "latency on 18 devices (GPUs at batch 1/32/64, CPUs, phones, Raspberry Pi 4, Eyeriss, FPGA).")
    raw_files = (ARCH_FILE, METAINFO, *(f.raw for f in LATENCY_FILES))
    labels = tuple(f.label("FBNet CIFAR-100 network (3x32x32)") for f in LATENCY_FILES)
    default_target = "lat_pixel3_ms"
    space = SPACE

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        archs = read_fbnet_archs(raw_paths[ARCH_FILE.key], raw_paths[METAINFO.key], OPS, NUM_CLASSES)
        configs = [SPACE.from_indices(ops) for ops in archs]
        if len({SPACE.arch_id(c) for c in configs}) != len(configs):
            raise ValueError(f"{ARCH_FILE.filename}: two architectures build the same network")
        return space_table(SPACE, configs, progress, read_latency_columns(LATENCY_FILES, raw_paths, len(archs)),
                           extra={"help_index": pa.array(np.arange(len(archs), dtype=np.int32)),
                                  "hwnasbench_op_idx": pa.array([json.dumps(ops) for ops in archs], pa.string())})

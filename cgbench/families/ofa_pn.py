"""OFA-ProxylessNAS: sub-networks of Once-for-All's ProxylessNAS supernet, unlabelled samples.

The supernet is the one OFA released, ``ofa_proxyless_d234_e346_k357_w1.3`` (``OFAProxylessNASNets``
at width 1.3, ``ofa/model_zoo.py``); GENNAPE's OFA-PN uses the same width. Channels are
``make_divisible(base * 1.3, 8)`` of ProxylessNAS' base widths:

- stem: 3x3/2 conv to 40, BN, ReLU6; first block MBConv e=1 k=3 40 -> 24, no skip;
- six stages of MBConv (ReLU6, no SE) with widths 32, 56, 104, 128, 248, 416 and strides
  2, 2, 2, 1, 2, 1; the first five have elastic depth {2, 3, 4}, the last is one block; every
  block has elastic kernel {3, 5, 7} and expand ratio {3, 4, 6};
- head: 1x1 conv to 1664, BN, ReLU6, global average pooling, linear 1664 -> 1000 (no dropout:
  the released net uses ``dropout_rate=0``). BN eps 1e-3 as in OFA.

The arch_id lists only active blocks, ``r<res>:k<k>e<e>,...`` per stage separated by ``/``.
The family holds 10,000 distinct sub-networks drawn with seed 0 by OFA's uniform
``sample_active_subnet`` with a uniform input resolution from 128, 160, 192, 224 (the resolutions
OFA's own accuracy-predictor dataset used); each CG is composed at its own resolution. The
arch_id accepts every OFA training resolution (128..224, step 4). There are no labels: OFA publishes no per-subnet accuracies.
"""

from __future__ import annotations


import torch.nn as nn

from .registry import register_family
from .ofa_blocks import (PREDICTOR_RESOLUTIONS, ElasticMBConvSpace, MBConv, MBConvSpec, StageSpec, conv_bn_act,
                         OFASampledFamily)

WIDTH_MULT = 1.3
BN_EPS = 1e-3
STEM_WIDTH, FIRST_BLOCK_WIDTH, FEATURE_MIX_WIDTH = 40, 24, 1664
STAGES = tuple(StageSpec(width, stride, "relu6", False, depths) for width, stride, depths in (
    (32, 2, (2, 3, 4)), (56, 2, (2, 3, 4)), (104, 2, (2, 3, 4)), (128, 1, (2, 3, 4)), (248, 2, (2, 3, 4)),
    (416, 1, (1,))))


class OFAProxylessSpace(ElasticMBConvSpace):
    name = "ofa_pn"
    stage_specs = STAGES
    bn_eps = BN_EPS
    stem_channels = FIRST_BLOCK_WIDTH

    def stem(self) -> nn.Module:
        return nn.Sequential(conv_bn_act(3, STEM_WIDTH, 3, 2, "relu6", bn_eps=BN_EPS),
                             MBConv(MBConvSpec(STEM_WIDTH, FIRST_BLOCK_WIDTH, 3, 1, 1, "relu6", bn_eps=BN_EPS)))

    def head(self) -> nn.Module:
        return nn.Sequential(conv_bn_act(STAGES[-1].width, FEATURE_MIX_WIDTH, 1, 1, "relu6", bn_eps=BN_EPS),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(FEATURE_MIX_WIDTH, self.num_classes))


SPACE = OFAProxylessSpace()
MULTI_RESOLUTION_SPACE = OFAProxylessSpace(PREDICTOR_RESOLUTIONS)


@register_family
class OFAProxyless(OFASampledFamily):
    name = "ofa_pn"
    version = "1.0"
    description = ("Once-for-All ProxylessNAS (w1.3) sub-networks: 10,000 uniform samples (seed 0) with "
                   "input resolutions 128, 160, 192, 224, unlabelled; FLOPs and parameters only.")
    space = SPACE
    sampling_space = MULTI_RESOLUTION_SPACE

"""GENNAPE's Inception space: block rules on concrete configs, the TF op definitions, the family."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from cgbench.families.inception import (FAMILY_SIZE, SPACE, BlockConfig, InceptionBlock, PathConfig, make_op,
                                        path_channel_split, path_plan, stage_plan)
from cgbench.graph.vocab import OP_ID

# A network whose 4 stages exercise 1-, 2-, 3- and 4-path blocks.
EXAMPLE = ("2*conv3x3/32/32;"
           "3*inception_p5x5+maxpool3x3/32/32|depthwise3x3+conv1x1/16/32;"
           "2*conv1x1+inception_s3x3+conv5x5/64/64|avgpool3x3+depthwise5x5/32/32|inception_p3x3+double1x1/32/32;"
           "4*conv5x5+conv3x3/64/64|inception_s5x5+maxpool3x3/64/64|depthwise3x3+conv3x3/32/64"
           "|double1x1+inception_p3x3/64/64")


@pytest.fixture(scope="module")
def inception(cgbench_home):
    from cgbench import load_family

    return load_family("inception", progress=False)


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_forward_pass_of_sampled_networks():
    for config in SPACE.sample_unique(3, seed=11):
        net = SPACE.build(config).eval()
        with torch.no_grad():
            out = net(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_example_round_trips_and_runs():
    config = SPACE.parse(EXAMPLE)
    assert SPACE.arch_id(config) == EXAMPLE
    assert [len(s.block.paths) for s in config.stages] == [1, 2, 3, 4]
    with torch.no_grad():
        assert SPACE.build(config).eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_path_widths_split_three_ways_and_clamp_at_16():
    assert path_channel_split(128, 3) == [64, 32, 32]
    assert path_channel_split(70, 3) == [34, 17, 19]
    assert path_channel_split(70, 4) == [17, 17, 17, 19]
    assert path_channel_split(32, 3) == [16, 8, 8]
    # At C_out 32 three paths are clamped to 16 each: 48 channels, so C_proj maps 48 -> 32.
    block = BlockConfig((PathConfig(("conv3x3", "maxpool3x3"), 16, 16),) * 3)
    clamped = "2*" + "|".join(["conv3x3+maxpool3x3/16/16"] * 3) + ";" + EXAMPLE.split(";", 1)[1]
    assert SPACE.parse(clamped).stages[0].block == block
    with pytest.raises(ValueError, match="widths"):
        SPACE.parse(clamped.replace("/16/16|", "/8/8|", 2))
    module = InceptionBlock(block, 32, 32, 1)
    assert module.c_proj is not None and module.c_proj[0].in_channels == 48
    assert module(torch.randn(1, 32, 8, 8)).shape == (1, 32, 8, 8)


def test_c_proj_exactly_when_the_path_widths_do_not_sum_to_c_out():
    three_way = BlockConfig((PathConfig(("conv3x3",), 32, 32), PathConfig(("conv5x5",), 64, 64),
                             PathConfig(("depthwise3x3",), 32, 32)))
    assert InceptionBlock(three_way, 64, 128, 2).c_proj is None
    four_way = BlockConfig((PathConfig(("conv3x3",), 16, 16),) * 4)
    projected = InceptionBlock(four_way, 32, 32, 1).c_proj
    assert projected is not None and projected[0].in_channels == 64 and projected[0].bias is not None


def test_residual_exactly_when_stride_1_and_channels_kept():
    block = BlockConfig((PathConfig(("conv3x3",), 64, 64),))
    assert InceptionBlock(block, 64, 64, 1).residual
    assert not InceptionBlock(block, 32, 64, 2).residual
    assert not InceptionBlock(block, 32, 64, 1).residual
    # Every block but the first of stages 1-3 adds its input; the ops themselves have no adds.
    config = SPACE.parse(EXAMPLE)
    residual_blocks = sum(stride == 1 and c_in == c_out for _, c_in, c_out, stride in stage_plan(config))
    assert residual_blocks == 2 + 2 + 1 + 3
    graph = SPACE.composed(config).graph
    assert int((graph.op == OP_ID["add"]).sum()) == residual_blocks


def test_channel_and_stride_roles_within_a_path():
    # The pool before any C-change-capable op keeps C_in; conv1x1 (supp) changes C but never strides.
    assert path_plan(("avgpool3x3", "conv1x1", "conv3x3", "conv5x5"), 32, 16, 64, 2) == [
        ("avgpool3x3", 32, 32, 1), ("conv1x1", 32, 16, 1), ("conv3x3", 16, 16, 2), ("conv5x5", 16, 64, 1)]
    # The first conv op is also the last C-change-capable op: it strides and maps to C_out.
    assert path_plan(("conv1x1", "depthwise5x5"), 64, 32, 16, 2) == [
        ("conv1x1", 64, 32, 1), ("depthwise5x5", 32, 16, 2)]
    # One op holds every role.
    assert path_plan(("maxpool3x3", "conv3x3"), 32, 16, 16, 2) == [("maxpool3x3", 32, 32, 1), ("conv3x3", 32, 16, 2)]
    # Only one C-change-capable op, so C_internal must equal the path width.
    with pytest.raises(ValueError, match="C_internal"):
        SPACE.parse(EXAMPLE.replace("2*conv3x3/32/32", "2*conv3x3/16/32"))


def test_inception_s_splits_its_stride_over_the_two_convs():
    first, second = _convs(make_op("inception_s5x5", 16, 32, 2))
    assert (first.kernel_size, first.stride) == ((1, 5), (1, 2))
    assert (second.kernel_size, second.stride) == ((5, 1), (2, 1))
    assert make_op("inception_s5x5", 16, 32, 2)(torch.randn(1, 16, 8, 8)).shape == (1, 32, 4, 4)


def test_inception_p_branches_and_its_stride_2_variant():
    plain = _convs(make_op("inception_p3x3", 16, 33, 1))
    assert [(c.kernel_size, c.out_channels) for c in plain] == [((1, 3), 16), ((3, 1), 17)]
    strided = _convs(make_op("inception_p3x3", 16, 32, 2))
    assert [(c.kernel_size, c.stride) for c in strided] == [((1, 3), (1, 2)), ((3, 1), (2, 1)),
                                                             ((3, 1), (2, 1)), ((1, 3), (1, 2))]
    out = make_op("inception_p3x3", 16, 32, 2)(torch.randn(1, 16, 8, 8))
    assert out.shape == (1, 32, 4, 4) and (out >= 0).all() and (out <= 6).all()


def test_biases_everywhere_but_the_depthwise_input_projection():
    projection, depthwise = _convs(make_op("depthwise3x3", 16, 32, 2))
    assert projection.kernel_size == (1, 1) and projection.bias is None
    assert depthwise.groups == 32 and depthwise.stride == (2, 2) and depthwise.bias is not None
    assert len(_convs(make_op("depthwise3x3", 32, 32, 1))) == 1
    net = SPACE.build(SPACE.parse(EXAMPLE))
    unbiased = [c for c in _convs(net) if c.bias is None]
    assert unbiased and all(c.kernel_size == (1, 1) and c.out_channels != c.in_channels for c in unbiased)


def test_parse_rejects_configs_outside_the_space():
    head, rest = EXAMPLE.split(";", 1)
    for bad in ("7*" + head[2:] + ";" + rest,  # too many blocks
                "2*conv3x3+conv1x1+maxpool3x3/32/32;" + rest,  # two supp ops in a path
                "2*maxpool3x3/32/32;" + rest,  # no conv op
                "2*conv3x3+conv3x3+conv3x3+conv3x3/32/32;" + rest,  # over the 1-path budget of 3 ops
                "2*conv3x3+bogus/32/32;" + rest,
                "2*conv3x3/32/x;" + rest,
                head):
        with pytest.raises(ValueError):
            SPACE.parse(bad)


def test_config_json_is_gennape_state_dict():
    state = json.loads(SPACE.config_json(SPACE.parse(EXAMPLE)))
    assert [s["stride"] for s in state["stages"]] == [1, 2, 2, 2]
    assert [(s["C_in"], s["C_out"]) for s in state["stages"]] == [(32, 32), (32, 64), (64, 128), (128, 256)]
    assert state["stages"][1]["block"]["paths"][1] == {
        "ops": ["depthwise3x3", "conv1x1"], "op_types": ["conv", "supp"], "C_internal": 16, "C_out": 32}


def test_sampler_follows_the_block_budgets():
    for config in SPACE.sample_unique(300, seed=2):
        for stage in config.stages:
            lengths = [len(p.ops) for p in stage.block.paths]
            assert sum(lengths) <= {1: 3, 2: 4, 3: 8, 4: 10}[len(lengths)]


def test_family(inception):
    assert len(inception) == FAMILY_SIZE
    ids = inception.arch_ids
    assert len(set(ids)) == FAMILY_SIZE
    assert ids == [SPACE.arch_id(c) for c in SPACE.sample_unique(FAMILY_SIZE, 0)]
    assert all(SPACE.arch_id(SPACE.parse(i)) == i for i in ids[:500])
    assert inception.targets == [] and inception.default_target is None
    table = inception.to_pandas()
    assert (table["flops"] > 0).all() and (table["params"] > 0).all()
    assert len(inception.to_pyg()) == FAMILY_SIZE


def test_family_splits(inception):
    random, dedup = inception.get_idx_split("random"), inception.get_idx_split("dedup")
    assert sum(len(v) for v in random.values()) == FAMILY_SIZE
    n_distinct = len(set(inception.to_pandas()["wl_hash"]))
    assert sum(len(v) for v in dedup.values()) == n_distinct
    assert np.isin(np.concatenate(list(dedup.values())), np.arange(FAMILY_SIZE)).all()

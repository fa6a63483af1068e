from collections import Counter
from itertools import product
from math import comb

import numpy as np
import pytest
import torch

from cgbench.families.two_path import (CONV_OPS, FAMILY_SEED, FAMILY_SIZE, SPACE, SUPP_OPS, SinglePathBlock,
                                       TwoPathNetwork, op_plan)
from cgbench.graph import from_module

EXAMPLE = "conv3x3/s2,maxpool3x3+double3x3/s1,inception_s5x5/s2|bottleneck-e2-k3/s2,conv5x5+conv1x1/s2"


def test_forward_pass_gives_logits_and_both_paths_end_at_4x4x128():
    net = TwoPathNetwork(SPACE.parse(EXAMPLE)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        stem = net.stem(x)
        ends = net.path1(stem), net.path2(stem)
        logits = net(x)
    assert stem.shape == (2, 32, 16, 16)
    assert all(end.shape == (2, 128, 4, 4) for end in ends)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_first_conv_op_takes_stride_and_channels_even_after_a_supp_op():
    assert op_plan(("avgpool3x3", "conv3x3", "double3x3"), 32, 64, 2) == [
        ("avgpool3x3", 32, 32, 1), ("conv3x3", 32, 64, 2), ("double3x3", 64, 64, 1)]


def test_avgpool_excludes_padding_as_keras_same_does():
    block = SinglePathBlock(("avgpool3x3", "conv3x3"), 8, 8, 1).eval()
    pool = block.ops[0][0]
    ones = torch.ones(1, 8, 5, 5)
    assert torch.equal(pool(ones), ones)  # including the zero padding would shrink the border


def test_bottleneck_has_no_activation_as_in_tf():
    ops = SPACE.composed(SPACE.parse("bottleneck-r2-k3/s2,bottleneck-r4-k3/s2|bottleneck-e2-k3/s2,"
                                     "bottleneck-r2-k3/s2")).graph.op_counts()
    # Only the stem (2) and head (1) convs have ReLU6.
    assert ops["relu6"] == 3 and ops["conv"] == 2 + 8 + 1


def test_residual_only_at_stride_one():
    graph = SPACE.composed(SPACE.parse(EXAMPLE)).graph
    assert graph.op_counts()["add"] == 1  # the one /s1 block
    assert graph.op_counts()["identity"] == 1  # Dropout(p=0), as in GENNAPE's CGs


def test_parse_rejects_bad_ids():
    assert SPACE.arch_id(SPACE.parse(EXAMPLE)) == EXAMPLE
    bad = [
        EXAMPLE.split("|")[0],  # one path
        EXAMPLE.replace("inception_s5x5/s2", "inception_s5x5/s1"),  # one reduction
        EXAMPLE.replace("conv3x3/s2", "conv3x3/s3"),
        EXAMPLE.replace("conv3x3/s2", "maxpool3x3/s2"),  # no conv op
        EXAMPLE.replace("conv3x3/s2", "conv1x1+maxpool3x3+conv3x3/s2"),  # two supp ops
        EXAMPLE.replace("conv3x3/s2", "conv3x3+conv3x3+conv3x3+conv3x3/s2"),  # four ops
        EXAMPLE.replace("conv3x3/s2", "conv7x7/s2"),
        "conv3x3/s2,conv3x3/s2,conv3x3/s1,conv3x3/s1,conv3x3/s1|" + EXAMPLE.split("|")[1],  # five blocks
    ]
    for text in bad:
        with pytest.raises(ValueError):
            SPACE.parse(text)


def test_sampler_follows_gennape_distribution():
    rng = np.random.default_rng(11)
    paths = [p for _ in range(4000) for p in (lambda c: (c.path1, c.path2))(SPACE.sample(rng))]
    blocks = [ops for p in paths for ops in p.blocks]
    lengths = Counter(len(p.blocks) for p in paths)
    sizes = Counter(len(ops) for ops in blocks)
    assert all(abs(lengths[n] / len(paths) - 1 / 3) < 0.02 for n in (2, 3, 4))
    assert all(abs(sizes[n] / len(blocks) - 1 / 3) < 0.02 for n in (1, 2, 3))
    assert all(len(p.reductions) == 2 for p in paths)
    # Two ops: a supp op with probability 5/13. Three ops: 1 - (8/13)^2.
    for n, expected in ((2, 5 / 13), (3, 1 - (8 / 13) ** 2)):
        with_supp = [any(op in SUPP_OPS for op in ops) for ops in blocks if len(ops) == n]
        assert abs(np.mean(with_supp) - expected) < 0.03
    # Shuffled: the supp op is first in half of the two-op blocks that have one.
    two = [ops for ops in blocks if len(ops) == 2 and any(op in SUPP_OPS for op in ops)]
    assert abs(np.mean([ops[0] in SUPP_OPS for ops in two]) - 0.5) < 0.05


def test_parser_accepts_exactly_gennapes_1624_blocks():
    ops = CONV_OPS + SUPP_OPS
    accepted = 0
    for n in (1, 2, 3):
        for block in product(ops, repeat=n):
            try:
                SPACE.parse(f"{'+'.join(block)}/s2,conv3x3/s2|conv3x3/s2,conv3x3/s2")
            except ValueError:
                continue
            accepted += 1
    assert accepted == 1624  # 8 + 144 + 1,472
    one_path = sum(comb(n, 2) * accepted ** n for n in (2, 3, 4))
    assert 1.6e27 < one_path ** 2 < 1.8e27


@pytest.fixture(scope="module")
def two_path(cgbench_home):
    from cgbench import load_family

    return load_family("two_path", progress=False)


def test_family_is_the_seeded_distinct_samples(two_path):
    assert len(two_path) == FAMILY_SIZE == 10000
    assert len(set(two_path.arch_ids)) == 10000
    expected = [SPACE.arch_id(c) for c in SPACE.sample_unique(FAMILY_SIZE, FAMILY_SEED)]
    assert two_path.arch_ids == expected
    assert len(set(two_path.table.column("wl_hash").to_pylist())) == 10000


def test_family_is_unlabelled(two_path):
    assert two_path.targets == [] and two_path.default_target is None
    with pytest.raises(KeyError, match="unlabelled"):
        two_path.labels()


def test_family_rows_equal_the_built_networks(two_path):
    row = 123
    config = SPACE.parse(two_path.arch_ids[row])
    with torch.device("meta"):
        net = SPACE.build(config)
    assert two_path.graph(row) == from_module(net, SPACE.input_shape)
    assert two_path.table.column("params").to_numpy()[row] == sum(p.numel() for p in net.parameters())
    flops, params = two_path.table.column("flops").to_numpy(), two_path.table.column("params").to_numpy()
    assert 5e7 < flops.min() < flops.max() < 3e8 and 1e6 < params.min() < params.max() < 6e6


def test_family_splits_and_pyg(two_path):
    assert set(two_path.splits) == {"random", "dedup"}
    assert [len(two_path.get_idx_split("random")[p]) for p in ("train", "valid", "test")] == [8000, 1000, 1000]
    dataset = two_path.to_pyg()
    assert len(dataset) == 10000
    assert torch.isnan(dataset[0].y).all()

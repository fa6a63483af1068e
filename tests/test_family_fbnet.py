"""FBNet (HW-NAS-Bench's CIFAR-100 setting): the network, canonical ids, HELP's 5,000 networks and latencies."""

import json

import numpy as np
import pytest
import torch

from cgbench import Evaluator, load_family
from cgbench.cli import main
from cgbench.families.fbnet import LAYERS, NUM_CLASSES, OPS, SPACE, FBNetBlock, Layer, block_of, canonical
from cgbench.formats.help import read_fbnet_archs
from cgbench.graph import count_flops, count_params
from cgbench.graph.vocab import OP_ID
from cgbench.metrics import spearman
from conftest import MIRROR as SHARED_DATA

HELP = SHARED_DATA / "help-latency" / "fbnet"
ALL_SKIP = ("skip",) * 22


@pytest.fixture(scope="module")
def fbnet(cgbench_home):
    return load_family("fbnet", progress=False)


def test_layer_plan_is_hw_nas_benchs_cifar_setting():
    assert len(LAYERS) == 22
    assert [layer.c_out for layer in LAYERS if not layer.keeps_shape] == [24, 32, 64, 112, 184, 352]
    assert [layer.stride for layer in LAYERS].count(2) == 3  # stages 3, 4 and 6 halve 32 -> 4 px
    assert LAYERS[0] == Layer(16, 16, 1) and LAYERS[-1] == Layer(184, 352, 1)


def test_the_all_skip_network_counts_by_hand():
    """Stem, the six shape-changing skips (1x1 conv + BN + ReLU) and the head; every identity skip is no layer."""
    # (c_in, c_out, output pixels per side) of each shape-changing skip
    projections = [(16, 24, 32), (24, 32, 16), (32, 64, 8), (64, 112, 8), (112, 184, 4), (184, 352, 4)]
    params = (3 * 16 * 9 + 2 * 16) + sum(ci * co + 2 * co for ci, co, _ in projections) \
        + (352 * 1504 + 2 * 1504) + (1504 * 100 + 100)
    flops = 2 * (32 * 32 * 3 * 16 * 9 + sum(px * px * ci * co for ci, co, px in projections)
                 + 4 * 4 * 352 * 1504 + 1504 * 100)
    composed = SPACE.composed(ALL_SKIP)
    assert (composed.params, composed.flops) == (params, flops)
    with torch.device("meta"):
        net = SPACE.build(ALL_SKIP)
    assert count_params(net) == params and count_flops(net, SPACE.input_shape) == flops


def test_a_grouped_block_groups_both_pointwise_convs_and_shuffles():
    block = FBNetBlock(block_of("k3_e1_g2"), Layer(16, 24, 1))
    # 1x1 16 -> 16 in 2 groups, BN, depthwise 3x3, BN, 1x1 16 -> 24 in 2 groups, BN; no residual (16 != 24).
    assert count_params(block) == (16 * 8 + 32) + (16 * 9 + 32) + (8 * 24 + 48)
    assert not block.residual and isinstance(block.body[3], torch.nn.ChannelShuffle)
    x = torch.randn(2, 16, 8, 8)
    assert block(x).shape == (2, 24, 8, 8)
    same = FBNetBlock(block_of("k5_e6"), Layer(24, 24, 1))
    assert same.residual and same.body[3].kernel_size == (5, 5) and same.body[3].out_channels == 144
    graph = SPACE.composed(canonical(("k3_e1_g2",) + ("skip",) * 21)).graph
    assert (graph.op == OP_ID["channel_shuffle"]).sum() == 1


def test_identity_skips_inside_a_stage_do_not_change_the_network():
    ops = list(SPACE.sample(np.random.default_rng(3)))
    ops[1:5] = ["skip", "k5_e3", "skip", "k3_e6"]  # stage 2: first layer, then an identity skip
    config = canonical(ops)
    assert config[1:5] == ("skip", "k5_e3", "k3_e6", "skip")  # the first layer changes the shape: it stays
    moved = list(ops)
    moved[2:5] = ["k5_e3", "k3_e6", "skip"]
    assert SPACE.arch_id(canonical(moved)) == SPACE.arch_id(config)
    assert SPACE.composed(canonical(moved)).graph == SPACE.composed(config).graph
    with pytest.raises(ValueError, match="not canonical"):
        SPACE.parse("-".join(ops))
    assert SPACE.parse(SPACE.arch_id(config)) == config


def test_op_indices_follow_hw_nas_benchs_order():
    assert OPS.index("k3_e1_g2") == 1 and OPS.index("k5_e6") == 7 and OPS.index("skip") == 8
    assert SPACE.from_indices([8] * 22) == ALL_SKIP
    for bad in ([9] * 22, [0] * 21, [True] * 22):
        with pytest.raises(ValueError, match="op_idx_list"):
            SPACE.from_indices(bad)


def test_helps_architecture_files_agree():
    archs = read_fbnet_archs(HELP / "arch.pt", HELP / "metainfo.pt", OPS, NUM_CLASSES)
    assert len(archs) == 5000 and len({tuple(a) for a in archs}) == 5000
    with pytest.raises(ValueError, match="CIFAR-100"):
        read_fbnet_archs(HELP / "arch.pt", HELP / "arch.pt", OPS, NUM_CLASSES)


def test_family_rows_are_helps_networks_in_file_order(fbnet):
    assert len(fbnet) == 5000 == len(set(fbnet.arch_ids))
    assert fbnet.table.column("help_index").to_pylist() == list(range(5000))
    archs = read_fbnet_archs(HELP / "arch.pt", HELP / "metainfo.pt", OPS, NUM_CLASSES)
    stored = fbnet.table.column("hwnasbench_op_idx").to_pylist()
    for i in range(0, 5000, 499):
        assert json.loads(stored[i]) == archs[i]
        assert fbnet.arch_ids[i] == SPACE.arch_id(SPACE.from_indices(archs[i]))
        assert fbnet.graph(i) == SPACE.composed(SPACE.parse(fbnet.arch_ids[i])).graph


def test_latency_columns(fbnet):
    assert fbnet.default_target == "lat_pixel3_ms"
    assert len(fbnet.targets) == 27 and all(name.startswith("lat_") for name in fbnet.targets)
    meta = fbnet.manifest["labels"]
    assert meta["lat_titanxp_bs64_ms"]["batch_size"] == 64 and meta["lat_titanxp_bs64_ms"]["device_kind"] == "GPU"
    for name in fbnet.targets:
        values = fbnet.labels(name)
        assert not np.isnan(values).any() and values.min() > 0 and meta[name]["higher_is_better"] is False
    first = {name: fbnet.labels(name)[0] for name in ("lat_1080ti_bs1_ms", "lat_pixel2_ms", "lat_eyeriss_ms")}
    assert first == pytest.approx({"lat_1080ti_bs1_ms": 10.615349732488394, "lat_pixel2_ms": 28,
                                   "lat_eyeriss_ms": 5.229984})


def test_flops_explain_accelerator_latency_but_not_gpu_latency_at_batch_1(fbnet):
    flops = fbnet.table.column("flops").to_numpy()
    assert spearman(flops, fbnet.labels("lat_fpga_ms")) > 0.95
    assert spearman(flops, fbnet.labels("lat_titanrtx_bs1_ms")) < 0.4
    evaluator = Evaluator(fbnet, target="lat_pixel3_ms")
    by_flops = evaluator.eval(flops[evaluator.indices].astype(float))
    assert by_flops["spearman"] > 0.9 and by_flops["n"] == 500


def test_info_shows_each_latency_column_with_its_device_and_source(fbnet, capsys):
    main(["info", "fbnet"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("    lat_")}
    assert len(lines) == 27
    pixel3 = "Google Pixel 3 (phone), batch not stated, lower is better, source help-latency (MIT)"
    assert pixel3 in lines["lat_pixel3_ms"]
    assert "ms (whole milliseconds: ties)" in lines["lat_samsungs7_ms"]

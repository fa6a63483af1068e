"""Once-for-All families: OFA-MobileNetV3 (DyNAS-T labels), OFA-ProxylessNAS and OFA-ResNet-50."""

import csv
from dataclasses import replace

import numpy as np
import pytest
import torch

from cgbench import load_family
from cgbench.families import ofa_mbv3, ofa_pn, ofa_resnet50
from cgbench.families.ofa_blocks import OFA_SAMPLES, PREDICTOR_RESOLUTIONS, RESOLUTIONS
from cgbench.graph import count_flops, count_params, from_module
from conftest import MIRROR as SHARED_DATA

MIRROR = SHARED_DATA / ofa_mbv3.SOURCE_ID
NEXT_KERNEL, NEXT_EXPAND = {3: 5, 5: 7, 7: 3}, {3: 4, 4: 6, 6: 3}
MULTI_RESOLUTION = {"ofa_mbv3": ofa_mbv3.OFAMobileNetV3Space(RESOLUTIONS),
                    "ofa_pn": ofa_pn.MULTI_RESOLUTION_SPACE, "ofa_resnet50": ofa_resnet50.MULTI_RESOLUTION_SPACE}
# timm's results-imagenet.csv lists resnet50d at 25.58M parameters; OFA's ResNet50D is the
# sub-network with the full stem, depths 3, 4, 6, 3, expand 0.25 and width 1.0.
RESNET50D_PARAMS_M = 25.58
DYNAST_ROWS, DYNAST_DISTINCT_LITERALS = 2373, 2223
HELP_SUBNETS = 5000
HELP_OFA = SHARED_DATA / "help-latency" / "ofa"


@pytest.mark.parametrize("name", sorted(MULTI_RESOLUTION))
def test_forward_pass_at_a_small_resolution(name):
    space = MULTI_RESOLUTION[name]
    config = replace(space.sample(np.random.default_rng(5)), resolution=128)
    net = space.build(config).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 128, 128))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(MULTI_RESOLUTION))
def test_composition_at_the_configs_own_resolution_equals_capture(name):
    space = MULTI_RESOLUTION[name]
    configs = [c for c in space.sample_unique(12, seed=11) if c.resolution != 224][:2]
    assert len(configs) == 2
    for config in configs:
        shape = space.input_shape_of(config)
        with torch.device("meta"):
            net = space.build(config)
        composed = space.composed(config)
        assert composed.graph == from_module(net, shape), space.arch_id(config)
        assert composed.flops == count_flops(net, shape)
        assert composed.params == count_params(net)


# ---------------------------------------------------------------------------------------------
# Canonical arch_ids


def test_mbconv_arch_id_ignores_blocks_beyond_each_stages_depth():
    space = ofa_mbv3.SPACE
    rng = np.random.default_rng(0)
    ks, e = rng.choice((3, 5, 7), 20).tolist(), rng.choice((3, 4, 6), 20).tolist()
    depths = [2, 3, 4, 2, 3]
    other_ks, other_e = list(ks), list(e)
    for stage, depth in enumerate(depths):
        for slot in range(stage * 4 + depth, stage * 4 + 4):  # inactive slots only
            other_ks[slot], other_e[slot] = NEXT_KERNEL[other_ks[slot]], NEXT_EXPAND[other_e[slot]]
    same = space.arch_id(space.from_ofa(ks, e, depths)), space.arch_id(space.from_ofa(other_ks, other_e, depths))
    assert same[0] == same[1]
    changed = list(ks)
    changed[4] = NEXT_KERNEL[changed[4]]  # the first block of stage 2 is always active
    assert space.arch_id(space.from_ofa(changed, e, depths)) != same[0]
    assert space.arch_id(space.from_ofa(ks, e, depths, 192)) != same[0]


def test_proxyless_last_stage_is_one_block_whatever_its_depth_setting():
    space = ofa_pn.SPACE
    ks, e = [3] * 21, [4] * 21
    six = space.from_ofa(ks, e, [2, 3, 4, 2, 3, 4])
    assert six == space.from_ofa(ks, e, [2, 3, 4, 2, 3, 1]) == space.from_ofa(ks, e, [2, 3, 4, 2, 3])
    assert six.depths == (2, 3, 4, 2, 3, 1)


def test_resnet_arch_id_ignores_inactive_blocks_and_stem_depth_one():
    space = ofa_resnet50.SPACE
    e = [0.2, 0.25, 0.35] * 6
    d, w = [2, 0, 1, 2, 0], [0, 1, 2, 0, 1, 2]
    other = list(e)
    other[2], other[3] = 0.35 if e[2] != 0.35 else 0.2, 0.2 if e[3] != 0.2 else 0.25  # stage 1 slots 3, 4: inactive at d=0
    assert space.arch_id(space.from_ofa(d, e, w)) == space.arch_id(space.from_ofa(d, other, w))
    assert space.from_ofa([1, 0, 1, 2, 0], e, w) == space.from_ofa([0, 0, 1, 2, 0], e, w)
    assert space.arch_id(space.from_ofa([0, 0, 1, 2, 0], e, w)) != space.arch_id(space.from_ofa(d, e, w))
    flipped = list(e)
    flipped[0] = 0.35
    assert space.arch_id(space.from_ofa(d, flipped, w)) != space.arch_id(space.from_ofa(d, e, w))


@pytest.mark.parametrize("text", [
    "r224:k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4", "r224:k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k9e4,k3e4",
    "r225:k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4", "r224:k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4",
    "r224:k3e5,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4/k3e4,k3e4"])
def test_mbv3_parse_rejects_invalid_subnets(text):
    with pytest.raises(ValueError):
        ofa_mbv3.SPACE.parse(text)


@pytest.mark.parametrize("text", [
    "r224:stem=full,w0,w3:w0:0.2,0.2/w0:0.2,0.2/w0:0.2,0.2,0.2,0.2/w0:0.2,0.2",
    "r224:stem=full,w0,w0:w0:0.2/w0:0.2,0.2/w0:0.2,0.2,0.2,0.2/w0:0.2,0.2",
    "r224:stem=full,w0,w0:w0:0.3,0.2/w0:0.2,0.2/w0:0.2,0.2,0.2,0.2/w0:0.2,0.2",
    "r224:stem=half,w0,w0:w0:0.2,0.2/w0:0.2,0.2/w0:0.2,0.2,0.2,0.2/w0:0.2,0.2"])
def test_resnet_parse_rejects_invalid_subnets(text):
    with pytest.raises(ValueError):
        ofa_resnet50.SPACE.parse(text)


def test_from_ofa_rejects_wrong_lengths():
    with pytest.raises(ValueError):
        ofa_mbv3.SPACE.from_ofa([3] * 19, [4] * 19, [2] * 5)
    with pytest.raises(ValueError):
        ofa_resnet50.SPACE.from_ofa([2] * 5, [0.25] * 17, [2] * 6)


@pytest.mark.parametrize("text", ["__import__('os')", "[1, 2]", "{'ks': [3], 'e': [3], 'd': [2], 'r': [224]}",
                                  "{'wid': 1, 'ks': [3]*20, 'e': [3]*20, 'd': [2]*5, 'r': [224]}"])
def test_dynast_literal_parser_rejects_bad_cells(text):
    with pytest.raises(ValueError):
        ofa_mbv3.parse_subnet_literal(text)


# ---------------------------------------------------------------------------------------------
# Published sizes


def test_resnet50d_subnet_has_resnet50d_parameter_count():
    space = ofa_resnet50.SPACE
    subnet = space.from_ofa([2, 1, 2, 2, 1], [0.25] * 18, [2] * 6)
    assert [len(s.expands) for s in subnet.stages] == [3, 4, 6, 3]
    with torch.device("meta"):
        params = count_params(space.build(subnet))
    assert round(params / 1e6, 2) == RESNET50D_PARAMS_M


def test_mbv3_params_and_macs_equal_dynast_on_sampled_rows():
    rows = [row for path in sorted(MIRROR.glob("*.csv")) for row in csv.DictReader(open(path, newline=""))]
    for row in rows[::157]:
        composed = ofa_mbv3.SPACE.composed(ofa_mbv3.parse_subnet_literal(row["Sub-network"]))
        assert composed.params == int(row["Model Parameters"])
        assert composed.flops == 2 * int(row["MACs"])


# ---------------------------------------------------------------------------------------------
# The families


@pytest.fixture(scope="module")
def mbv3(cgbench_home):
    return load_family("ofa_mbv3", progress=False)


def test_mbv3_family_merges_duplicate_evaluations(mbv3):
    rows = mbv3.labelled_rows("in1k_top1_ws")
    table = mbv3.table.take(rows)
    n_evals = table.column("n_evals").to_numpy()
    assert n_evals.sum() == DYNAST_ROWS
    # Some distinct DyNAS-T literals differ only in inactive blocks: fewer rows than literals.
    assert len(rows) < DYNAST_DISTINCT_LITERALS
    assert len(set(mbv3.arch_ids)) == len(mbv3)
    top1, low, high = (table.column(c).to_numpy() for c in ("in1k_top1_ws", "in1k_top1_ws_min", "in1k_top1_ws_max"))
    assert np.all(low <= top1) and np.all(top1 <= high) and np.all((high > low) <= (n_evals > 1))
    assert 60 < top1.min() < top1.max() < 82


def test_mbv3_family_flops_and_params_equal_dynast(mbv3):
    table = mbv3.table.take(mbv3.labelled_rows("in1k_top1_ws"))
    assert np.array_equal(table.column("flops").to_numpy(), 2 * table.column("dynast_macs").to_numpy())
    assert np.array_equal(table.column("params").to_numpy(), table.column("dynast_params").to_numpy())


def test_mbv3_family_holds_helps_subnets_with_their_latencies(mbv3):
    latency = mbv3.labelled_rows("lat_v100_bs1_ms")
    assert len(latency) == HELP_SUBNETS and len(mbv3) == len(mbv3.labelled_rows("in1k_top1_ws")) + HELP_SUBNETS
    lat_names = [n for n in mbv3.targets if n.startswith("lat_")]
    assert len(lat_names) == 12 and all(np.array_equal(mbv3.labelled_rows(n), latency) for n in lat_names)
    help_index = mbv3.table.column("help_index").to_numpy(zero_copy_only=False)
    assert sorted(help_index[latency].astype(int)) == list(range(HELP_SUBNETS))
    # As published, the two sources share no sub-network: no row carries both labels.
    assert len(mbv3.labelled_rows("in1k_top1_ws", "lat_v100_bs1_ms")) == 0
    assert np.isnan(mbv3.table.column("dynast_macs").to_numpy(zero_copy_only=False)[latency].astype(float)).all()
    subnets = ofa_mbv3.read_help_subnets(HELP_OFA / "ofa_archs.pt")
    first = latency[np.argsort(help_index[latency])][0]
    assert mbv3.arch_ids[first] == ofa_mbv3.SPACE.arch_id(subnets[0])
    assert mbv3.labels("lat_2080ti_bs1_ms")[first] == pytest.approx(12.081937789916992)


def test_mbv3_rows_carry_each_subnets_own_resolution(mbv3):
    resolution = mbv3.table.column("resolution").to_numpy()
    latency = mbv3.labelled_rows("lat_v100_bs1_ms")
    assert set(resolution[latency]) == set(RESOLUTIONS)
    assert set(resolution[mbv3.labelled_rows("in1k_top1_ws")]) == {224}
    for row in latency[:: len(latency) // 3][:3]:
        config = ofa_mbv3.SPACE.parse(mbv3.arch_ids[row])
        graph = mbv3.graph(int(row))
        assert graph.shape[0][0] == resolution[row] == config.resolution  # the input node's H
        with torch.device("meta"):
            net = ofa_mbv3.SPACE.build(config)
        assert mbv3.table.column("flops")[int(row)].as_py() == count_flops(net, ofa_mbv3.SPACE.input_shape_of(config))


def test_mbv3_latency_targets_are_evaluated_on_helps_rows(mbv3):
    from cgbench import Evaluator

    evaluator = Evaluator(mbv3, split="random", target="lat_titanrtx_bs64_ms")
    test_part = mbv3.get_idx_split("random")["test"]
    assert len(evaluator.arch_ids) + evaluator.n_unlabelled == len(test_part)
    assert not evaluator.higher_is_better and len(evaluator.arch_ids) > 400
    flops = mbv3.table.column("flops").to_numpy()[evaluator.indices].astype(float)
    assert evaluator.eval(flops)["spearman"] > 0.5
    few = mbv3.get_idx_split("fewshot50", target="lat_titanrtx_bs64_ms")
    assert len(few["train"]) == 50 and len(few["test"]) == HELP_SUBNETS - 50


def test_mbv3_family_loads_as_pyg(mbv3):
    dataset = mbv3.to_pyg()
    assert len(dataset) == len(mbv3)
    assert np.isclose(float(dataset[0].y), mbv3.labels()[0])


def test_duplicate_evaluations_agree_closely(mbv3):
    evaluations = [e for raw in ofa_mbv3.RAW_FILES for e in ofa_mbv3.dynast_evaluations(MIRROR / raw.filename)]
    agreement = ofa_mbv3.duplicate_agreement(ofa_mbv3.merge_evaluations(evaluations))
    assert agreement["n_pairs"] == int((mbv3.table.column("n_evals").to_numpy() > 1).sum())
    assert 0.9 < agreement["spearman"] < 1 and agreement["max_abs_diff"] > 0


@pytest.mark.parametrize("name, module", [("ofa_pn", ofa_pn), ("ofa_resnet50", ofa_resnet50)])
def test_unlabelled_families_build_and_load(cgbench_home, name, module):
    family = load_family(name, progress=False)
    assert len(family) == OFA_SAMPLES == len(set(family.arch_ids))
    assert family.default_target is None
    resolutions = family.table.column("resolution").to_numpy()
    assert set(resolutions) == set(PREDICTOR_RESOLUTIONS)
    assert np.all(family.table.column("flops").to_numpy() > 0)
    first = module.SPACE.parse(family.arch_ids[0])
    assert module.SPACE.composed(first).params == family.table.column("params")[0].as_py()

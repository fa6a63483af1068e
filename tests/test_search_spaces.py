"""What every search space must satisfy, checked on seeded samples of each registered space.

The composed CG (pieces captured once, spliced) must equal ``from_module`` of the whole built
network, and composed FLOPs / parameters must equal torch's counter on the whole network: this is
what makes the fast family builds trustworthy.
"""

import numpy as np
import pytest
import torch

from cgbench.families import search_spaces
from cgbench.graph import count_flops, count_params, from_module

SPACES = search_spaces()
N_CHECKED = 3


@pytest.fixture(params=sorted(SPACES), scope="module")
def space(request):
    return SPACES[request.param]


def test_arch_id_round_trips(space):
    for config in space.sample_unique(5, seed=1):
        text = space.arch_id(config)
        assert space.arch_id(space.parse(text)) == text


def test_sampler_is_deterministic(space):
    ids = [space.arch_id(c) for c in space.sample_unique(5, seed=3)]
    assert ids == [space.arch_id(c) for c in space.sample_unique(5, seed=3)]
    assert ids != [space.arch_id(c) for c in space.sample_unique(5, seed=4)]


def test_parse_rejects_garbage(space):
    with pytest.raises(ValueError):
        space.parse("not an architecture")


def test_forward_pass_gives_logits(space):
    config = space.sample(np.random.default_rng(0))
    net = space.build(config).eval()
    with torch.no_grad():
        out = net(torch.randn(*space.input_shape))
    assert out.shape == (space.input_shape[0], space.num_classes)
    assert torch.isfinite(out).all()


def test_composed_cg_flops_params_equal_whole_network_capture(space):
    for config in space.sample_unique(N_CHECKED, seed=7):
        with torch.device("meta"):
            net = space.build(config)
        composed = space.composed(config)
        assert composed.graph == from_module(net, space.input_shape), space.arch_id(config)
        assert composed.flops == count_flops(net, space.input_shape)
        assert composed.params == count_params(net)


def test_enumeration_is_distinct_where_it_exists(space):
    configs = space.enumerate()
    if configs is None:
        assert space.name not in ("nb201", "hiaml", "nasbench_macro", "tnb101_micro", "tnb101_macro")
        return
    first = [space.arch_id(c) for _, c in zip(range(200), configs)]
    assert len(set(first)) == len(first)


def test_the_latency_spaces_are_among_the_checked():
    # The families/__init__ registry must import every family module, fbnet included.
    assert {"fbnet", "nb201", "nb301", "ofa_mbv3", "tnb101_micro"} <= set(SPACES)

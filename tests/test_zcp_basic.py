"""Each proxy of baselines.zcp on a small NB-201 network: finite, deterministic, sign conventions,
the network left as it was found, device handling."""

import math

import pytest
import torch

from baselines.zcp.proxies import get_proxy
from baselines.zcp.recipe import random_batches
from cgbench.families.nb201 import SPACE, arch_string
from cgbench.graph import count_flops

pytestmark = pytest.mark.usefixtures("one_thread")

PROXIES = ("params", "flops", "l2_norm", "plain", "grad_norm", "snip", "grasp", "fisher", "synflow", "synflow_bn",
           "jacob_cov", "nwot")
CELL = ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "skip_connect")
ALL_CONV = ("nor_conv_3x3",) * 6
ALL_POOL = ("avg_pool_3x3",) * 6
# Small CIFAR-like batches keep each proxy to a fraction of a second on two shared cores.
IMAGE = (3, 16, 16)


def small_recipe(name):
    recipe = get_proxy(name).recipe
    return recipe.with_(batch_size=min(recipe.batch_size, 6))


def run_proxy(name, cell=CELL, image=IMAGE, seed=0, device="cpu"):
    recipe = small_recipe(name).with_(seed=seed)
    torch.manual_seed(seed)
    net = SPACE.build(cell).to(device=device, dtype=recipe.dtype)
    batch = random_batches(recipe, image, 10, device)
    return get_proxy(name).score(net, batch, recipe)


@pytest.mark.parametrize("name", PROXIES)
def test_proxy_is_finite_and_deterministic(name):
    first, second = run_proxy(name), run_proxy(name)
    assert math.isfinite(first)
    assert first == second


@pytest.mark.parametrize("name", ("plain", "grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "nwot"))
def test_proxy_reads_the_initial_weights(name):
    assert run_proxy(name, seed=0) != run_proxy(name, seed=1)


@pytest.mark.parametrize("name", PROXIES)
def test_proxy_leaves_the_network_as_it_found_it(name):
    recipe = small_recipe(name)
    torch.manual_seed(0)
    net = SPACE.build(CELL).to(recipe.dtype).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    get_proxy(name).score(net, random_batches(recipe, IMAGE, 10), recipe)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not net.training
    assert all(p.grad is None and p.requires_grad for p in net.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks and "forward" not in vars(m) for m in net.modules())


@pytest.mark.parametrize("name", ("params", "flops", "l2_norm", "synflow"))
def test_conv_heavier_cell_scores_higher(name):
    assert run_proxy(name, cell=ALL_CONV) > run_proxy(name, cell=CELL) > run_proxy(name, cell=ALL_POOL)


def test_params_and_flops_match_the_cgbench_counters():
    torch.manual_seed(0)
    net = SPACE.build(CELL)
    assert run_proxy("params") == sum(p.numel() for p in net.parameters())
    assert run_proxy("flops") == count_flops(net, (1, *IMAGE))


def test_synflow_is_float64_beyond_the_float32_range():
    # The all-conv cell at CIFAR resolution has a synaptic flow near e^115 (NAS-Bench-Suite-Zero's
    # largest NB-201 value); float32 overflows above e^88.7.
    value = run_proxy("synflow", cell=ALL_CONV, image=(3, 32, 32))
    assert math.log(torch.finfo(torch.float32).max) < value < math.inf


def test_synflow_with_batchnorm_differs_from_batchnorm_free():
    assert run_proxy("synflow") != run_proxy("synflow_bn")


def test_cut_off_cell_scores_worst_where_the_score_is_undefined():
    cut = arch_string(("nor_conv_3x3", "none", "none", "none", "none", "none"))
    cell = SPACE.parse(cut)
    assert run_proxy("synflow", cell=cell) == -math.inf
    # Its input gradients are all zero: jacob_cov scores the all-ones correlation of identical rows,
    # eigenvalues (N, 0, ..., 0), the lowest score it gives for N images.
    n, k = small_recipe("jacob_cov").batch_size, 1e-5
    lowest = -(math.log(n + k) + 1 / (n + k)) - (n - 1) * (math.log(k) + 1 / k)
    assert run_proxy("jacob_cov", cell=cell) == pytest.approx(lowest, rel=1e-9)
    assert lowest < run_proxy("jacob_cov", cell=ALL_POOL) < run_proxy("jacob_cov")


def test_jacob_cov_of_a_network_linear_in_its_input_is_its_constant_network_value():
    # Identical non-constant gradient rows correlate 1: the value a cut-off network is given.
    recipe = small_recipe("jacob_cov")
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 10))
    cut = SPACE.build(SPACE.parse(arch_string(("none",) * 6)))
    batch = random_batches(recipe, IMAGE, 10)
    assert get_proxy("jacob_cov").score(linear, batch, recipe) == get_proxy("jacob_cov").score(cut, batch, recipe)


@pytest.mark.parametrize("name", ("params", "grad_norm", "synflow", "nwot", "fisher"))
def test_proxies_follow_the_device_of_the_batch(name):
    assert run_proxy(name, device=torch.device("cpu")) == run_proxy(name, device="cpu")


def test_nwot_without_relu_modules_is_a_clear_error():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(10))
    recipe = small_recipe("nwot")
    with pytest.raises(ValueError, match="nwot needs ReLU-family modules .*Sequential has none"):
        get_proxy("nwot").score(net, random_batches(recipe, IMAGE, 10), recipe)

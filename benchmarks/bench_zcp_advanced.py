"""Seconds per architecture of epe_nas, zen, zico, meco and swap on CPU, against naive versions.

The naive versions below are written the way the proxies' official repositories write them
(deep copy of the network, in-place re-initialisation, ``.backward()`` into ``.grad``, per-module
hooks doing numpy/``torch.linalg.eig`` work one layer at a time, ``np.corrcoef`` per class,
``torch.unique(dim=0)`` on the (neurons, samples) sign matrix). They draw the same Gaussian
weights and noise as the package's versions, so both give the same scores (the tests check it);
the benchmark prints both timings, their ratio and the largest relative score difference.

Both run single-threaded (``torch.set_num_threads(1)``): two threads on a shared two-core
machine spin against each other and make timings meaningless.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/bench_zcp_advanced.py --n 10``
"""

from __future__ import annotations

import argparse
import copy
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.zcp.proxies import get_proxy
from baselines.zcp.recipe import ProxyBatch, ProxyRecipe, random_batches
from baselines.zcp.swap import ACTIVATIONS
from baselines.zcp.zen import MIXUP_GAMMA
from cgbench.families import hiaml, nb201

PROXIES = ("epe_nas", "zen", "zico", "meco", "swap")


# ---------------------------------------------------------------------------------------------
# Naive versions, after the official code


def naive_gaussian_init(net: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.data = torch.randn(m.weight.shape, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.reset_running_stats()


def naive_epe_nas(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    net = copy.deepcopy(net)
    net.train()
    jacobs, labels = [], []
    for inputs, targets in zip(batch.inputs, batch.targets):
        net.zero_grad()
        x = inputs.clone().requires_grad_(True)
        y = net(x)
        y.backward(torch.ones_like(y))
        jacobs.append(x.grad.detach().reshape(len(x), -1).cpu().numpy())
        labels.append(targets.cpu().numpy())
    jacob, label = np.concatenate(jacobs), np.concatenate(labels)
    n_classes = y.shape[-1]
    per_class: dict = {}
    for i, c in enumerate(label):
        per_class[c] = np.vstack((per_class[c], jacob[i])) if c in per_class else jacob[i]
    scores = {}
    for c, rows in per_class.items():
        corrs = np.corrcoef(rows)
        s = np.sum(np.log(np.abs(corrs) + 1e-5))
        if n_classes > 100:
            s /= np.atleast_2d(corrs).shape[0]
        scores[c] = s
    if n_classes <= 100:
        return float(sum(abs(s) for s in scores.values()))
    return float(sum(abs(a - b) for a in scores.values() for b in scores.values()) / len(scores))


def naive_zen(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    net = copy.deepcopy(net)
    net.train()
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    seen = []
    for pool in pools:
        pool.register_forward_hook(lambda m, i, o: seen.append(i[0]) if o.shape[-2:] == (1, 1) else None)
    results = []
    with torch.no_grad():
        for i, x in enumerate(batch.inputs):
            generator = torch.Generator().manual_seed(recipe.seed + i)
            naive_gaussian_init(net, generator)
            noise = torch.randn(x.shape, generator=generator)
            net(x)
            output = seen[-1]
            net(x + MIXUP_GAMMA * noise)
            mixed = seen[-1]
            nas_score = torch.mean(torch.sum(torch.abs(output - mixed), dim=[1, 2, 3]))
            log_bn = 0.0
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    log_bn += torch.log(torch.sqrt(torch.mean(m.running_var)))
            results.append(float(torch.log(nas_score) + log_bn))
    return float(np.mean(results))


def naive_zico(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    net = copy.deepcopy(net)
    net.train()
    grad_dict: dict[str, list] = defaultdict(list)
    for inputs, targets in zip(batch.inputs, batch.targets):
        net.zero_grad()
        F.cross_entropy(net(inputs), targets).backward()
        for name, mod in net.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.weight.grad is not None:
                grad_dict[name].append(mod.weight.grad.data.cpu().reshape(-1).numpy())
    total = 0.0
    for grads in grad_dict.values():
        grads = np.array(grads)
        std = np.std(grads, axis=0)
        nonzero = np.nonzero(std)[0]
        mean_abs = np.mean(np.abs(grads), axis=0)
        tmpsum = np.sum(mean_abs[nonzero] / std[nonzero])
        if tmpsum != 0:
            total += np.log(tmpsum)
    return float(total)


def naive_meco(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    net = copy.deepcopy(net)
    net.train()
    results = []

    def hook(module, data_input, data_output):
        fea = data_output[0].detach()
        fea = fea.reshape(fea.shape[0], -1)
        corr = torch.corrcoef(fea)
        corr[torch.isnan(corr)] = 0
        corr[torch.isinf(corr)] = 0
        results.append(torch.min(torch.real(torch.linalg.eig(corr)[0])))

    for module in net.modules():
        module.register_forward_hook(hook)
    per_batch = []
    with torch.no_grad():
        for x in batch.inputs:
            results.clear()
            net(x)
            values = torch.tensor(results)
            per_batch.append(float(values[~torch.isnan(values)].sum()))
    return float(np.mean(per_batch))


def naive_swap(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    net = copy.deepcopy(net)
    net.train()
    features = []
    for module in net.modules():
        if isinstance(module, ACTIVATIONS):
            module.register_forward_hook(lambda m, i, o: features.append(o.detach()) if i[0].dim() == 4 else None)
    counts = []
    with torch.no_grad():
        for i, x in enumerate(batch.inputs):
            naive_gaussian_init(net, torch.Generator().manual_seed(recipe.seed + i))
            features.clear()
            net(x)
            activations = torch.sign(torch.cat([f.reshape(len(x), -1) for f in features], 1))
            counts.append(torch.unique(activations.T, dim=0).size(0))
    return float(np.mean(counts))


NAIVE = {"epe_nas": naive_epe_nas, "zen": naive_zen, "zico": naive_zico, "meco": naive_meco, "swap": naive_swap}


# ---------------------------------------------------------------------------------------------
# Timing


def networks(space, n: int, seed: int) -> list[nn.Module]:
    configs = space.sample_unique(n, seed)
    nets = []
    for i, config in enumerate(configs):
        torch.manual_seed(seed + i)
        nets.append(space.build(config))
    return nets


def bench_recipe(proxy: str, max_batches: int) -> ProxyRecipe:
    recipe = get_proxy(proxy).recipe
    return recipe.with_(data="random", n_batches=min(recipe.n_batches, max_batches))


def time_proxy(proxy: str, nets: list[nn.Module], recipe: ProxyRecipe, input_shape, num_classes: int):
    batch = random_batches(recipe, input_shape, num_classes)
    fast_s = naive_s = 0.0
    worst = 0.0
    for net in nets:
        start = time.perf_counter()
        fast = get_proxy(proxy).score(net, batch, recipe)
        fast_s += time.perf_counter() - start
        start = time.perf_counter()
        naive = NAIVE[proxy](net, batch, recipe)
        naive_s += time.perf_counter() - start
        worst = max(worst, abs(fast - naive) / max(abs(naive), 1e-12))
    return fast_s / len(nets), naive_s / len(nets), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="architectures per space")
    parser.add_argument("--max-batches", type=int, default=4,
                        help="cap on each recipe's batches (zen/swap declare 32 repeats)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spaces = {"nb201": nb201.SPACE, "hiaml": hiaml.SPACE}
    print(f"{'space':6} {'proxy':8} {'recipe':>10} {'ours s/arch':>12} {'naive s/arch':>13} {'speed-up':>9} "
          f"{'max rel diff':>13}")
    for space_name, space in spaces.items():
        nets = networks(space, args.n, args.seed)
        for proxy in PROXIES:
            recipe = bench_recipe(proxy, args.max_batches)
            fast, naive, worst = time_proxy(proxy, nets, recipe, space.input_shape[1:], space.num_classes)
            print(f"{space_name:6} {proxy:8} {recipe.batch_size:>5}x{recipe.n_batches:<4} {fast:12.3f} {naive:13.3f} "
                  f"{naive / fast:8.2f}x {worst:13.2e}")


if __name__ == "__main__":
    main()

"""Seconds per architecture of each zero-cost proxy of baselines.zcp, next to a straightforward
implementation of the same proxy in the style of the original repositories (NASLib /
zero-cost-nas): a deep copy of the network per proxy, monkey-patched forwards and module hooks,
``.backward()`` into ``.grad``, per-layer Python loops with a host sync per layer, NumPy for the
matrix work. Both run on the same networks (same seed) and the same batch; the benchmark also
prints the largest relative difference between the two scores, which should be ~0.

    .venv/bin/python benchmarks/bench_zcp_basic.py --n 10 --spaces nb201,hiaml
"""

from __future__ import annotations

import argparse
import copy
import math
import time
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from baselines.zcp.proxies import get_proxy
from baselines.zcp.recipe import random_batches
from cgbench.families import family_spec

PROXIES = ("params", "flops", "l2_norm", "plain", "grad_norm", "snip", "grasp", "fisher", "synflow", "synflow_bn",
           "jacob_cov", "nwot")


def _layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _per_layer_sum(net, metric, grad_of=lambda m: m.weight):
    """Sum of ``metric(layer)`` over Conv2d/Linear layers whose ``grad_of(layer)`` has a gradient
    (NASLib scores the others zero); one host sync per layer, as the original code does."""
    return sum(float(metric(layer)) for layer in _layers(net) if grad_of(layer).grad is not None)


def _backward(net, x, y):
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()


def naive_params(net, x, y):
    return float(sum(p.numel() for p in copy.deepcopy(net).parameters()))


def naive_flops(net, x, y):
    net = copy.deepcopy(net).eval()
    counted = []

    def conv_hook(m, args, out):
        counted.append(2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    def linear_hook(m, args, out):
        counted.append(2 * out.numel() * m.in_features)

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        net(torch.zeros_like(x[:1]))
    return float(sum(counted))


def naive_l2_norm(net, x, y):
    return sum(m.weight.norm().item() for m in _layers(net))


def naive_plain(net, x, y):
    net = copy.deepcopy(net)
    _backward(net, x, y)
    return _per_layer_sum(net, lambda m: (m.weight.grad * m.weight).sum().item())


def naive_grad_norm(net, x, y):
    net = copy.deepcopy(net)
    _backward(net, x, y)
    return _per_layer_sum(net, lambda m: m.weight.grad.norm().item())


def naive_snip(net, x, y):
    net = copy.deepcopy(net)
    for m in _layers(net):
        m.weight_mask = nn.Parameter(torch.ones_like(m.weight))
        m.weight.requires_grad = False
        if isinstance(m, nn.Conv2d):
            m.forward = types.MethodType(lambda s, t: s._conv_forward(t, s.weight * s.weight_mask, s.bias), m)
        else:
            m.forward = types.MethodType(lambda s, t: F.linear(t, s.weight * s.weight_mask, s.bias), m)
    _backward(net, x, y)
    return _per_layer_sum(net, lambda m: m.weight_mask.grad.abs().sum().item(), lambda m: m.weight_mask)


def naive_grasp(net, x, y):
    net = copy.deepcopy(net)
    weights = [m.weight for m in _layers(net)]
    net.zero_grad()
    grad_w = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    grad_f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True, allow_unused=True)
    z = 0
    for gw, gf in zip(grad_w, grad_f):
        if gw is not None:
            z += (gw.data * gf).sum()
    z.backward()
    return _per_layer_sum(net, lambda m: (-m.weight.data * m.weight.grad).sum().item())


def naive_fisher(net, x, y):
    net = copy.deepcopy(net)
    for m in _layers(net):
        m.fisher, m.dummy = None, nn.Identity()
        base = m.forward

        def forward(s, t, base=base):
            s.act = s.dummy(base(t))
            return s.act

        def hook(module, grad_input, grad_output, layer=m):
            act, grad = layer.act.detach(), grad_output[0].detach()
            g = (act * grad).sum(list(range(2, act.dim()))) if act.dim() > 2 else act * grad
            value = 0.5 * g.pow(2).mean(0)
            layer.fisher = value if layer.fisher is None else layer.fisher + value

        m.forward = types.MethodType(forward, m)
        m.dummy.register_full_backward_hook(hook)
    _backward(net, x, y)
    return sum(m.fisher.abs().sum().item() * m.weight[0].numel() for m in _layers(net) if m.fisher is not None)


def _naive_synflow(net, x, keep_bn):
    net = copy.deepcopy(net).double()
    if not keep_bn:
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.forward = types.MethodType(lambda s, t: t, m)
    with torch.no_grad():
        for value in net.state_dict().values():
            value.abs_()
    net.zero_grad()
    net(torch.ones_like(x[:1], dtype=torch.float64)).sum().backward()
    flow = _per_layer_sum(net, lambda m: (m.weight * m.weight.grad).abs().sum().item())
    return math.log(flow) if flow > 0 else -math.inf


def naive_synflow(net, x, y):
    return _naive_synflow(net, x, keep_bn=False)


def naive_synflow_bn(net, x, y):
    return _naive_synflow(net, x, keep_bn=True)


def naive_jacob_cov(net, x, y):
    net = copy.deepcopy(net)
    x = x.clone().requires_grad_(True)
    net.zero_grad()
    out = net(x)
    out.backward(torch.ones_like(out))
    jacob = x.grad.detach().reshape(len(x), -1).cpu().numpy()
    v, _ = np.linalg.eig(np.corrcoef(jacob))
    return float(-np.sum(np.log(v.real + 1e-5) + 1.0 / (v.real + 1e-5)))


def naive_nwot(net, x, y):
    net = copy.deepcopy(net)
    kernel = np.zeros((len(x), len(x)))

    def hook(module, args, out):
        nonlocal kernel
        codes = (args[0].view(len(x), -1) > 0).float()
        kernel = kernel + (codes @ codes.t()).cpu().numpy() + ((1.0 - codes) @ (1.0 - codes.t())).cpu().numpy()

    for m in net.modules():
        if isinstance(m, (nn.ReLU, nn.ReLU6, nn.LeakyReLU)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(x)
    return float(np.linalg.slogdet(kernel)[1])


NAIVE = {name: globals()[f"naive_{name}"] for name in PROXIES}


def timed(func):
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def bench_space(space_name: str, n: int, batch_size: int | None, seed: int) -> None:
    space = family_spec(space_name).space
    arch_ids = [space.arch_id(c) for c in space.sample_unique(n, seed)]
    print(f"\n{space_name}: {n} architectures, input {tuple(space.input_shape[1:])}, CPU, "
          f"{torch.get_num_threads()} threads")
    print(f"{'proxy':11s} {'ours s/arch':>12s} {'naive s/arch':>13s} {'naive/ours':>11s} {'max rel diff':>13s}")
    for proxy_name in PROXIES:
        proxy = get_proxy(proxy_name)
        recipe = proxy.recipe.with_(batch_size=min(proxy.recipe.batch_size, batch_size or proxy.recipe.batch_size))
        batch = random_batches(recipe, tuple(space.input_shape[1:]), space.num_classes)
        ours_s, naive_s, worst = [], [], 0.0
        for arch_id in arch_ids:
            torch.manual_seed(recipe.seed)
            net = space.build(space.parse(arch_id)).to(recipe.dtype)
            ours, seconds = timed(lambda: proxy.score(net, batch, recipe))
            ours_s.append(seconds)
            net.train(recipe.bn_mode == "train")
            naive, seconds = timed(lambda: NAIVE[proxy_name](net, torch.cat(batch.inputs), torch.cat(batch.targets)))
            naive_s.append(seconds)
            if math.isfinite(ours) or ours != naive:
                worst = max(worst, abs(ours - naive) / max(abs(naive), 1e-12))
        mean_ours, mean_naive = float(np.mean(ours_s)), float(np.mean(naive_s))
        print(f"{proxy_name:11s} {mean_ours:12.4f} {mean_naive:13.4f} {mean_naive / mean_ours:11.2f} {worst:13.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="architectures per space")
    parser.add_argument("--spaces", default="nb201,hiaml")
    parser.add_argument("--batch-size", type=int, help="cap every recipe's batch size (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for space_name in args.spaces.split(","):
        bench_space(space_name, args.n, args.batch_size, args.seed)


if __name__ == "__main__":
    main()

"""synflow (Tanaka et al., NeurIPS 2020; as a NAS proxy by Abdelfattah et al.): synaptic flow.

All parameters and buffers are replaced by their absolute values in float64, an all-ones input
of one image goes through the network, and the score is the sum of |w * d sum(output) / d w|
over Conv2d/Linear weights; the stored score is its natural log (as NAS-Bench-Suite-Zero stores
it; -inf when no flow reaches the output). ``synflow`` disables BatchNorm (the layers pass their
input through, as in the paper and NASLib's ``synflow``); ``synflow_bn`` keeps train-mode
BatchNorm (NASLib's ``synflow_bn``).

The network itself is never touched: the absolute float64 copies are passed with
``torch.func.functional_call``; BatchNorm is bypassed by an instance-level ``forward`` that is
deleted again afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from .registry import register_proxy
from .common import network_state_kept, weight_names
from .recipe import ProxyBatch, ProxyRecipe

SYNFLOW_RECIPE = ProxyRecipe(batch_size=1, precision="float64")


def _pass_through(x: torch.Tensor) -> torch.Tensor:
    return x


@contextmanager
def batchnorm_disabled(net: nn.Module) -> Iterator[None]:
    layers = [m for m in net.modules() if isinstance(m, _BatchNorm)]
    for layer in layers:
        layer.forward = _pass_through
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def synaptic_flow(net: nn.Module, image_shape: tuple[int, ...], device: torch.device) -> float:
    """sum |w * d sum(f(1)) / d w| over Conv2d/Linear weights of the |.|-float64 network."""
    absolute = {name: p.detach().to(torch.float64).abs().requires_grad_() for name, p in net.named_parameters()}
    absolute.update({name: b.detach().to(torch.float64).abs() if b.is_floating_point() else b.clone()
                     for name, b in net.named_buffers()})
    ones = torch.ones((1, *image_shape), dtype=torch.float64, device=device)
    output = functional_call(net, absolute, (ones,))
    weights = [absolute[name] for name in weight_names(net)]
    grads = torch.autograd.grad(output.sum(), weights, allow_unused=True)
    flows = [(w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None]
    return float(torch.stack(flows).sum()) if flows else 0.0


def _log(flow: float) -> float:
    return math.log(flow) if flow > 0 else -math.inf


@register_proxy("synflow", SYNFLOW_RECIPE, "log synaptic flow, float64, BatchNorm disabled")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe), batchnorm_disabled(net):
        return _log(synaptic_flow(net, tuple(batch.inputs[0].shape[1:]), batch.inputs[0].device))


@register_proxy("synflow_bn", SYNFLOW_RECIPE, "log synaptic flow, float64, train-mode BatchNorm kept")
def score_bn(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        return _log(synaptic_flow(net, tuple(batch.inputs[0].shape[1:]), batch.inputs[0].device))

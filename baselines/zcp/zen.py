"""Zen-score (Lin et al., ICCV 2021, "Zen-NAS"): expressivity of a Gaussian network.

Per repeat, as ``compute_zen_score.py`` of idstcv/ZenNAS: every Conv2d/Linear weight is drawn from
N(0, 1) (biases 0), BatchNorm/GroupNorm affine weights are 1 and biases 0; the pre-global-pooling
feature maps f of an input x and of a perturbed input x + 0.01 * eps (eps ~ N(0, 1)) give

    score = log(mean_n sum_chw |f(x) - f(x + 0.01 eps)|) + sum_BN2d log sqrt(mean(running_var))

with BatchNorm in train mode, so each BN's running variance has taken in both forward passes
(momentum update from a fresh 1, as in a freshly built network). Repeats are averaged. Our repeat
is one batch of the recipe: its inputs are x (Gaussian under the default random recipe, which is
what Zen-NAS draws itself); the weights, then eps, of repeat i are drawn from seed ``recipe.seed + i``.
ZenNAS's own setting is 32 repeats of batch 16 (its ``--batch_size``/``--repeat_times`` defaults).

The pre-pooling feature is the input of the last ``nn.AdaptiveAvgPool2d`` call of the forward pass
whose output is 1x1 (the head's global pool: squeeze-excitation pools run earlier); a network
without one is rejected.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from .registry import register_proxy
from .common import gaussian_state, hooks, network_state_kept, state_name
from .recipe import ProxyBatch, ProxyRecipe

MIXUP_GAMMA = 1e-2


def pre_pooling_features(net: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The input of the network's global average pooling for input ``x``."""
    seen: list[torch.Tensor] = []

    def keep_global_pool_input(module, inputs, output):
        if output.dim() == 4 and output.shape[-2:] == (1, 1):
            seen.append(inputs[0])

    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    with hooks(pools, keep_global_pool_input):
        functional_call(net, state, (x,))
    if not seen:
        raise ValueError(f"zen needs the network's global average pooling as an nn.AdaptiveAvgPool2d module "
                         f"with a 1x1 output; {type(net).__name__} has none")
    return seen[-1]


def log_bn_scaling(net: nn.Module, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """sum over BatchNorm2d layers of log sqrt(mean(running_var)); layers without running stats add 0."""
    total = torch.zeros((), dtype=torch.float64)
    for prefix, module in net.named_modules():
        if isinstance(module, nn.BatchNorm2d) and module.track_running_stats:
            running_var = state[state_name(prefix, "running_var")]
            total += 0.5 * torch.log(running_var.mean()).double().cpu()
    return total


def zen_repeat(net: nn.Module, x: torch.Tensor, recipe: ProxyRecipe, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    state = gaussian_state(net, recipe.dtype, generator)
    noise = torch.randn(x.shape, generator=generator, dtype=recipe.dtype).to(x.device)
    features = pre_pooling_features(net, state, x)
    perturbed = pre_pooling_features(net, state, x + MIXUP_GAMMA * noise)
    expressivity = (features - perturbed).abs().sum(dim=(1, 2, 3)).mean()
    return float(torch.log(expressivity).double().cpu() + log_bn_scaling(net, state))


@register_proxy("zen", ProxyRecipe(batch_size=16, n_batches=32, data="random"),
                "Zen-NAS: log of the Gaussian network's pre-pooling response to a small input perturbation "
                "plus the BN variance rescaling, averaged over Gaussian re-initialisations")
@torch.no_grad()
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    with network_state_kept(net, recipe):
        repeats = [zen_repeat(net, x.to(recipe.dtype), recipe, recipe.seed + i) for i, x in enumerate(batch.inputs)]
    return float(sum(repeats) / len(repeats))

"""params: the number of parameters (all of them, as NAS-Bench-Suite-Zero counts them)."""

from __future__ import annotations

from torch import nn

from cgbench.graph import count_params

from .registry import register_proxy
from .common import SHAPE_ONLY_RECIPE
from .recipe import ProxyBatch, ProxyRecipe


@register_proxy("params", SHAPE_ONLY_RECIPE, "number of parameters (larger = better)")
def score(net: nn.Module, batch: ProxyBatch, recipe: ProxyRecipe) -> float:
    return float(count_params(net))

"""The proxy registry: each proxy module registers its score function here by name, with its default
:class:`ProxyRecipe` and a description. ``baselines.zcp.proxies`` imports every proxy module and looks
proxies up by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cgbench.errors import unknown_name

if TYPE_CHECKING:
    from torch import nn

    from .recipe import ProxyBatch, ProxyRecipe

ProxyFunction = Callable[["nn.Module", "ProxyBatch", "ProxyRecipe"], float]


@dataclass(frozen=True)
class Proxy:
    name: str
    score: ProxyFunction
    recipe: ProxyRecipe
    # Proxies that need no data (params, flops) or no gradients still share one calling convention.
    description: str


_REGISTRY: dict[str, Proxy] = {}


def register_proxy(name: str, recipe: ProxyRecipe, description: str) -> Callable[[ProxyFunction], ProxyFunction]:
    def register(func: ProxyFunction) -> ProxyFunction:
        if name in _REGISTRY:
            raise ValueError(f"proxy {name!r} is registered twice")
        _REGISTRY[name] = Proxy(name, func, recipe, description)
        return func
    return register


def registered(name: str) -> Proxy:
    if name not in _REGISTRY:
        raise unknown_name("proxy", name, _REGISTRY, "proxies")
    return _REGISTRY[name]


def registered_names() -> list[str]:
    return sorted(_REGISTRY)

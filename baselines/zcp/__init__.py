"""Zero-cost proxies: one module per proxy, registered by name, scored under a declared recipe.

A proxy is a function ``score(net, batch, recipe) -> float`` (larger = predicted better). Its
module registers it with :func:`register_proxy` together with its default :class:`ProxyRecipe`.
``baselines.zcp.scoring`` runs proxies over a family and stores the scores with their recipe.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .recipe import ProxyBatch, ProxyRecipe

ProxyFunction = Callable[[nn.Module, ProxyBatch, ProxyRecipe], float]


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


def get_proxy(name: str) -> Proxy:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown proxy {name!r}; known proxies: {', '.join(sorted(_REGISTRY))}") from None


def list_proxies() -> list[str]:
    return sorted(_REGISTRY)


def _register_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _INFRASTRUCTURE:
            importlib.import_module(f"{__name__}.{module.name}")


_INFRASTRUCTURE = {"recipe", "scoring", "reference", "common", "cli", "plan"}
_register_all()

__all__ = ["Proxy", "ProxyBatch", "ProxyRecipe", "get_proxy", "list_proxies", "register_proxy"]

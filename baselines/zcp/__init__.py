"""Zero-cost proxies: one module per proxy, registered by name, scored under a declared recipe.

A proxy is a function ``score(net, batch, recipe) -> float`` (larger = predicted better). Its
module registers it with :func:`register_proxy` together with its default :class:`ProxyRecipe`.
``baselines.zcp.scoring`` runs proxies over a family and stores the scores with their recipe.

The proxy modules are imported explicitly by :func:`_import_proxies` the first time the registry
is read, not when this package is imported: ``cgbench zcp`` registers its command (``cgbench
--help``) without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cgbench.errors import unknown_name
from cgbench.lazy import lazy_exports

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


def _import_proxies() -> None:
    """Import every proxy module; each registers its proxy. A new proxy module is added here."""
    from . import (epe_nas, fisher, flops, grad_norm, grasp, jacob_cov, l2_norm, meco, nwot,  # noqa: F401
                   params, plain, snip, swap, synflow, zen, zico)


def get_proxy(name: str) -> Proxy:
    _import_proxies()
    if name not in _REGISTRY:
        raise unknown_name("proxy", name, _REGISTRY, "proxies")
    return _REGISTRY[name]


def list_proxies() -> list[str]:
    _import_proxies()
    return sorted(_REGISTRY)


# The recipe types import torch: imported when first asked for.
__getattr__ = lazy_exports(__name__, dict.fromkeys(("ProxyBatch", "ProxyRecipe"), "baselines.zcp.recipe"))


__all__ = ["Proxy", "ProxyBatch", "ProxyRecipe", "get_proxy", "list_proxies", "register_proxy"]

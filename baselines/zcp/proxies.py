"""Every zero-cost proxy, by name: the one list of proxy modules (a new one is added here; importing it
registers its proxy in ``baselines.zcp.registry``)."""

from __future__ import annotations

from . import (epe_nas, fisher, flops, grad_norm, grasp, jacob_cov, l2_norm, meco, nwot,  # noqa: F401
               params, plain, snip, swap, synflow, zen, zico)
from .registry import Proxy, registered, registered_names


def get_proxy(name: str) -> Proxy:
    return registered(name)


def list_proxies() -> list[str]:
    return registered_names()

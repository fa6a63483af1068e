"""The family registry: one module per family, registered by name, created by one function.

Every family module is imported explicitly at the end of this file (as timm's model registry
does); importing a module registers its families. A new family module is added to that list.
"""

from __future__ import annotations

from ..errors import unknown_name
from .base import FamilySpec, LabelColumn
from .space import SearchSpace

_REGISTRY: dict[str, type[FamilySpec]] = {}


def register_family(cls: type[FamilySpec]) -> type[FamilySpec]:
    if cls.name in _REGISTRY:
        raise ValueError(f"family {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def family_spec(name: str) -> FamilySpec:
    """A new spec of the registered family ``name``; :class:`~cgbench.errors.UnknownNameError` otherwise."""
    if name not in _REGISTRY:
        raise unknown_name("family", name, _REGISTRY, "families")
    return _REGISTRY[name]()


def list_families() -> list[str]:
    """The names of every registered family (``cgbench families`` lists them with their labels and sources)."""
    return sorted(_REGISTRY)


def search_spaces() -> dict[str, SearchSpace]:
    """Every distinct search space behind a registered family, by space name."""
    spaces: dict[str, SearchSpace] = {}
    for cls in _REGISTRY.values():
        if cls.space is not None:
            spaces.setdefault(cls.space.name, cls.space)
    return spaces


from . import (  # noqa: E402, F401  (each module registers its families)
    fbnet,
    gennape,
    hiaml,
    inception,
    nasbench_macro,
    nb101,
    nb201,
    nb301,
    ofa_mbv3,
    ofa_pn,
    ofa_resnet50,
    timm_zoo,
    tnb101,
    torchvision_zoo,
    two_path,
)

__all__ = ["FamilySpec", "LabelColumn", "SearchSpace", "family_spec", "list_families", "register_family",
           "search_spaces"]

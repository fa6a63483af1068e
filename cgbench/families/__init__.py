"""The family registry: one module per family, registered by name, created by one function."""

from __future__ import annotations

from .base import FamilySpec, LabelColumn

_REGISTRY: dict[str, type[FamilySpec]] = {}


def register_family(cls: type[FamilySpec]) -> type[FamilySpec]:
    if cls.name in _REGISTRY:
        raise ValueError(f"family {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def family_spec(name: str) -> FamilySpec:
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise KeyError(f"unknown family {name!r}; known families: {', '.join(sorted(_REGISTRY))}") from None


def list_families() -> list[str]:
    return sorted(_REGISTRY)


from . import nb201  # noqa: E402  (registers itself)

__all__ = ["FamilySpec", "LabelColumn", "family_spec", "list_families", "register_family", "nb201"]

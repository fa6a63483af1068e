"""The family registry: one module per family, registered by name, created by one function."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base import FamilySpec, LabelColumn
from .space import SearchSpace

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
    """The names of every registered family (``cgbench families`` lists them with their labels and sources)."""
    return sorted(_REGISTRY)


# Importers turn files a user brings (non-public or too large to ship) into built families.
# An importer takes (path, progress) and returns the names of the families it wrote.
Importer = Callable[[Path, bool], list[str]]
_IMPORTERS: dict[str, tuple[Importer, str]] = {}


def register_importer(name: str, help: str) -> Callable[[Importer], Importer]:
    def register(func: Importer) -> Importer:
        if name in _IMPORTERS:
            raise ValueError(f"importer {name!r} is registered twice")
        _IMPORTERS[name] = (func, help)
        return func
    return register


def importers() -> dict[str, tuple[Importer, str]]:
    return dict(_IMPORTERS)


def search_spaces() -> dict[str, SearchSpace]:
    """Every distinct search space behind a registered family, by space name."""
    spaces: dict[str, SearchSpace] = {}
    for cls in _REGISTRY.values():
        if cls.space is not None:
            spaces.setdefault(cls.space.name, cls.space)
    return spaces


def _register_all() -> None:
    """Import every family module of this package; each registers its families on import."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name not in _INFRASTRUCTURE:
            importlib.import_module(f"{__name__}.{module.name}")


_INFRASTRUCTURE = {"base", "space", "fragments"}
_register_all()

__all__ = ["FamilySpec", "LabelColumn", "SearchSpace", "family_spec", "importers", "list_families",
           "register_family", "register_importer", "search_spaces"]

"""The family registry: family modules register their specs here by name; ``family_spec`` creates one.

Every family module imports :func:`register_family` (and :func:`register_importer`, for the families
built from files users bring) from this module (never from its package), and
``cgbench/families/__init__.py`` imports every family module, in one explicit list, as timm's model
registry does. Importing anything of ``cgbench.families`` therefore registers every family first.
"""

from __future__ import annotations

from ..errors import unknown_name
from ..importers import IMPORT_KINDS, Reader
from .base import FamilySpec
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


_IMPORTERS: dict[str, Reader] = {}


def register_importer(kind: str):
    """Register the decorated function as the reader of ``cgbench import KIND`` (declared in ``cgbench.importers``)."""
    if kind not in IMPORT_KINDS:
        raise ValueError(f"import kind {kind!r} is not declared in cgbench.importers.IMPORT_KINDS")

    def register(read: Reader) -> Reader:
        if kind in _IMPORTERS:
            raise ValueError(f"import kind {kind!r} is registered twice")
        _IMPORTERS[kind] = read
        return read

    return register


def importer(kind: str) -> Reader:
    """The reader of import kind ``kind``."""
    if kind not in _IMPORTERS:
        raise unknown_name("import kind", kind, IMPORT_KINDS)
    return _IMPORTERS[kind]

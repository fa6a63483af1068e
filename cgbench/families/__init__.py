"""Every benchmark family: one module per family, registered by name (``registry.py``), created by one
function (:func:`family_spec`).

The list of family modules below is the one place a new family module is added; importing a module
registers its families.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each module registers its families)
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
from .base import FamilySpec, LabelColumn
from .registry import family_spec, importer, list_families, register_family, search_spaces
from .space import SearchSpace

__all__ = ["FamilySpec", "LabelColumn", "SearchSpace", "family_spec", "importer", "list_families",
           "register_family", "search_spaces"]

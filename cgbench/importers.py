"""Importers: files users bring (not public downloads, or too large to ship), read into families.

An importer is a function ``read(path, progress) -> {family name: ImportedFamily}`` in the module
of the family (or families) it reads. It checks and converts everything and writes nothing, so a
bad file leaves no family half-imported; :func:`cgbench.dataset.import_families` stores the
tables. The registry below names each importer's module instead of importing it, so listing the
kinds (``cgbench import --help``) loads no family code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import unknown_name

if TYPE_CHECKING:
    import pyarrow as pa


class ImportedFamily(NamedTuple):
    """A family's table as an importer read it, and manifest entries about the import."""

    table: pa.Table
    manifest: dict


Reader = Callable[[Path, bool], dict[str, ImportedFamily]]


@dataclass(frozen=True)
class Importer:
    module: str
    function: str
    help: str

    def load(self) -> Reader:
        return getattr(importlib.import_module(self.module), self.function)


IMPORTERS: dict[str, Importer] = {
    "gennape": Importer("cgbench.families.gennape", "read_cg_data_families",
                        "GENNAPE's released CG_data.zip (NB-101/201/301, OFA-PN/MBv3/ResNet, HiAML, Inception, "
                        "Two-Path)"),
    "nb101": Importer("cgbench.families.nb101", "read_tfrecord_family",
                      "NAS-Bench-101's official nasbench_only108.tfrecord or nasbench_full.tfrecord (108-epoch "
                      "runs are used)"),
    "nb301": Importer("cgbench.families.nb301", "read_results_family",
                      "a folder of NAS-Bench-301 per-architecture result JSON files (nb_301_v13 ...)"),
}


def importer(kind: str) -> Importer:
    if kind not in IMPORTERS:
        raise unknown_name("import kind", kind, IMPORTERS)
    return IMPORTERS[kind]

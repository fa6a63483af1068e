"""Importers: files users bring (not public downloads, or too large to ship), read into families.

An importer is a function ``read(path, progress) -> {family name: ImportedFamily}`` in the module
of the family (or families) it reads, registered there with
``cgbench.families.registry.register_importer(kind)`` like the families themselves. It checks and
converts everything and writes nothing, so a bad file leaves no family half-imported;
:func:`cgbench.dataset.import_families` stores the tables. The kinds and their help are declared
here, so listing them (``cgbench import --help``) loads no family code; registering a reader for an
undeclared kind is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa


class ImportedFamily(NamedTuple):
    """A family's table as an importer read it, and manifest entries about the import."""

    table: pa.Table
    manifest: dict


Reader = Callable[[Path, bool], dict[str, ImportedFamily]]

IMPORT_KINDS: dict[str, str] = {
    "gennape": "GENNAPE's released CG_data.zip (NB-101/201/301, OFA-PN/MBv3/ResNet, HiAML, Inception, Two-Path)",
    "nb101": "NAS-Bench-101's official nasbench_only108.tfrecord or nasbench_full.tfrecord (108-epoch runs are "
             "used)",
    "nb301": "a folder of NAS-Bench-301 per-architecture result JSON files (nb_301_v13 ...)",
}

"""NASLib's zero-cost proxy files of NAS-Bench-Suite-Zero (``naslib/data/zc_nasbench101.json``, ``zc_nasbench301.json``).

Each maps a dataset to ``{architecture key: {<proxy>: {"score", "time"}, ..., "val_accuracy"}}``.
A key is NASLib's encoding of the architecture as a Python literal: for NB-101 the 49 entries of
the 7x7 adjacency matrix then 7 op ids, for NB-301 the compact genotype (normal, reduce), each a
list of (input node, op index) pairs. Each family maps the keys to its arch_ids.
"""

from __future__ import annotations

import json
from pathlib import Path

from .naslib import Arch, NaslibRecord, parse_arch


def read_zc_nasbench101(path: Path) -> dict[str, dict]:
    """NASLib's records of ``zc_nasbench101.json`` (CIFAR-10), by raw key."""
    return json.loads(path.read_text())["nasbench101"]["cifar10"]


def read_zc_nasbench301(path: Path) -> list[tuple[Arch, NaslibRecord]]:
    """Every entry of ``zc_nasbench301.json``: its compact architecture and its record (surrogate
    val_accuracy, proxy scores), in file order; ValueError if the file is not NB-301's."""
    data = json.loads(Path(path).read_text())
    if set(data) != {"cifar10"}:
        raise ValueError(f"{path}: expected NAS-Bench-Suite-Zero's NB-301 file (one key, 'cifar10'), "
                         f"found {sorted(data)}")
    return [(parse_arch(key), NaslibRecord(float(entry["val_accuracy"]), {
        proxy: float(value["score"]) for proxy, value in entry.items() if isinstance(value, dict)}))
        for key, entry in data["cifar10"].items()]

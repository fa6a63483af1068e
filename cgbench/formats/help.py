"""HELP's data files (``HayeonLee/HELP``, MIT), read as plain values after their sha256 matched.

- ``data/<space>/latency/<device>.pt``: a list of latencies in milliseconds, one per architecture
  in the space's own order (Python floats; four phone files hold whole milliseconds as ints).
- ``data/fbnet/arch.pt`` with ``metainfo.pt``: HW-NAS-Bench's FBNet ``op_idx_list`` of each network;
  the metainfo repeats every list with its op names and states the dataset.
- ``data/nasbench201/str_arch2idx.pt``: NB-201 cell string -> its NB-201 index.
- ``data/ofa/ofa_archs.pt``: OFA sub-networks as ``{"ks", "e", "d", "r"}`` (each resolution pickled
  as a NumPy int64 scalar, so exactly that allow-list is used).

What the architectures mean (their networks and arch_ids) and which label column a file becomes is
the families' business (``cgbench.families.latency``, ``fbnet``, ``ofa_mbv3``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .torch_file import NUMPY_INT64_SCALARS, load_torch_file

_OFA_KEYS = {"ks", "e", "d", "r"}


def read_latencies(path: Path, n: int, whole_ms: bool) -> np.ndarray:
    """The ``n`` latencies of a HELP file as float64; ValueError naming the file if it holds anything else."""
    values = load_torch_file(path)
    if not isinstance(values, list) or len(values) != n:
        found = f"a list of {len(values)}" if isinstance(values, list) else type(values).__name__
        raise ValueError(f"{path}: expected a list of {n} latencies, found {found}")
    expected = int if whole_ms else float
    wrong = [v for v in values if type(v) is not expected]
    if wrong:
        raise ValueError(f"{path}: expected Python {expected.__name__}s, found {type(wrong[0]).__name__} {wrong[0]!r}")
    array = np.asarray(values, np.float64)
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{path}: latencies must be positive and finite")
    return array


def read_fbnet_archs(arch_path: Path, metainfo_path: Path, op_names: Sequence[str],
                     num_classes: int) -> list[list[int]]:
    """HELP's ``op_idx_list`` of each FBNet network (``arch.pt``), checked against ``metainfo.pt``: the
    CIFAR-100 setting with ``num_classes`` classes, the same lists, and their ops named ``op_names[i]``."""
    archs = load_torch_file(arch_path)
    meta = load_torch_file(metainfo_path)
    if not isinstance(meta, dict) or (meta.get("dataset"), meta.get("num_classes")) != ("cifar100", num_classes):
        raise ValueError(f"{metainfo_path}: expected HW-NAS-Bench's CIFAR-100 FBNet setting (dataset 'cifar100', "
                         f"{num_classes} classes)")
    listed = meta.get("arch")
    if not isinstance(archs, list) or not isinstance(listed, list) or len(listed) != len(archs):
        raise ValueError(f"{arch_path} and {metainfo_path} must list the same architectures")
    for i, (ops, entry) in enumerate(zip(archs, listed)):
        if entry.get("op_idx_list") != ops or entry.get("arch_str") != [op_names[j] for j in ops]:
            raise ValueError(f"{metainfo_path}: architecture {i} differs from {arch_path.name}'s {ops}")
    return archs


def read_ofa_archs(path: Path) -> list[dict]:
    """HELP's OFA sub-networks (``ofa_archs.pt``) in file order, the order of its latency files: each
    ``{"ks": [...], "e": [...], "d": [...], "r": int}`` as the file gives it."""
    data = load_torch_file(path, NUMPY_INT64_SCALARS)
    if not isinstance(data, dict) or (data.get("dataset"), data.get("num_classes")) != ("imagenet", 1000):
        raise ValueError(f"{path}: expected HELP's OFA sub-networks (dataset 'imagenet', 1000 classes)")
    archs = []
    for i, arch in enumerate(data.get("arch") or ()):
        if not isinstance(arch, dict) or set(arch) != _OFA_KEYS:
            raise ValueError(f"{path}: sub-network {i} needs keys {sorted(_OFA_KEYS)}")
        if not isinstance(arch["r"], (int, np.integer)):
            raise ValueError(f"{path}: sub-network {i} has resolution {arch['r']!r}, not an integer")
        archs.append({**arch, "r": int(arch["r"])})
    return archs


def read_nb201_index(path: Path) -> dict[str, int]:
    """HELP's map from an NB-201 cell string to the cell's NB-201 index (``str_arch2idx.pt``)."""
    mapping = load_torch_file(path)
    if not isinstance(mapping, dict):
        raise ValueError(f"{path}: expected a dict arch string -> NB-201 index, found {type(mapping).__name__}")
    return mapping

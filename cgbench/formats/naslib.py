"""NASLib's result zips (``run/results/benchmarks/*.zip``): labels and zero-cost scores.

A zip holds ``<proxy>/benchmark--<benchmark>--<dataset>--<start>.json`` files, each a list of
records ``{"idx", "arch": "<tuple literal>", <proxy>: {"score", "time"}, "val_accuracy"}``. A
zip may hold one proxy folder (``nb201_zen.zip``) or many (``9x_all.zip``: 13 proxies, the same
architectures in every folder). Architectures are NASLib's own encodings (a tuple of op codes, or
for NB-301 a pair of cells of (input, op) pairs); each family maps them to its arch_ids.
"""

from __future__ import annotations

import ast
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

Arch = tuple  # a NASLib architecture literal, lists turned into tuples so it can be a key


@dataclass
class NaslibRecord:
    """One architecture of one dataset: its benchmark ``val_accuracy`` and its proxies' scores."""

    val_accuracy: float
    scores: dict[str, float] = field(default_factory=dict)


def parse_arch(text: str) -> Arch:
    """The architecture literal of a record or a NASLib JSON key, as nested tuples."""
    return _as_tuple(ast.literal_eval(text))


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def read_naslib_records(path: Path, benchmark: str) -> dict[str, dict[Arch, NaslibRecord]]:
    """dataset (or task) -> {architecture: record} of ``benchmark`` in a NASLib results zip.

    Every proxy folder must list an architecture's ``val_accuracy`` identically and no folder may
    list an architecture twice; ValueError naming the zip otherwise.
    """
    found: dict[str, dict[Arch, NaslibRecord]] = {}
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            if not member.endswith(".json"):
                continue
            _, member_benchmark, dataset, _ = member.rsplit("/", 1)[-1].split("--")
            if member_benchmark != benchmark:
                continue
            proxy = member.split("/")[0]
            records = found.setdefault(dataset, {})
            for entry in json.loads(zf.read(member)):
                arch = parse_arch(entry["arch"])
                value = float(entry["val_accuracy"])
                record = records.setdefault(arch, NaslibRecord(value))
                if proxy in record.scores:
                    raise ValueError(f"{path.name}: {benchmark} arch {arch} appears twice in {member}")
                if record.val_accuracy != value:
                    raise ValueError(f"{path.name}: {benchmark} arch {arch} has val_accuracy {record.val_accuracy} "
                                     f"and {value} in different proxy folders ({dataset})")
                record.scores[proxy] = float(entry[proxy]["score"])
    return found


def read_naslib_results(path: Path, benchmark: str) -> dict[str, dict[Arch, float]]:
    """dataset (or task) -> {architecture: val_accuracy} of ``benchmark`` in a NASLib results zip."""
    return {dataset: {arch: record.val_accuracy for arch, record in records.items()}
            for dataset, records in read_naslib_records(path, benchmark).items()}

"""DyNAS-T's evaluation CSVs (``IntelLabs/DyNAS-T``, ``notebooks/data/*.csv``, Apache-2.0), read as plain rows.

Each row is one sub-network a search evaluated on a weight-shared OFA supernet: the columns
``Sub-network`` (a Python dict literal ``{"wid", "ks", "e", "d", "r"}``), ``Date``,
``Model Parameters``, ``Latency (ms)``, ``MACs`` and ``Top-1 Acc (%)``. The literal is read with
``ast.literal_eval`` (no code runs) and checked; what the sub-network is, is the ofa_mbv3 family's
business.
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from pathlib import Path

_SUBNET_KEYS = {"wid", "ks", "e", "d", "r"}
_COLUMNS = {"Sub-network", "Date", "Model Parameters", "Latency (ms)", "MACs", "Top-1 Acc (%)"}


@dataclass(frozen=True)
class DynastRow:
    """One CSV row: the sub-network's kernel, expand and depth lists and its resolution, and what was measured."""

    ks: list[int]
    e: list[int]
    d: list[int]
    r: int
    top1: float
    macs: int
    params: int
    file: str
    date: str


def subnet_fields(text: str) -> tuple[list[int], list[int], list[int], int]:
    """(ks, e, d, r) of a ``Sub-network`` cell: a fixed-width (``wid`` None) sub-network with one resolution."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"not a DyNAS-T sub-network literal: {text[:80]!r}") from error
    if not isinstance(value, dict) or set(value) != _SUBNET_KEYS:
        raise ValueError(f"DyNAS-T sub-network needs keys {sorted(_SUBNET_KEYS)}: {text[:80]!r}")
    if value["wid"] is not None:
        raise ValueError(f"DyNAS-T sub-network with an elastic width is not OFA-MobileNetV3 w1.0: {text[:80]!r}")
    fields = [value[key] for key in ("ks", "e", "d", "r")]
    if not all(isinstance(v, list) and all(isinstance(x, int) for x in v) for v in fields):
        raise ValueError(f"DyNAS-T sub-network fields must be lists of ints: {text[:80]!r}")
    if len(value["r"]) != 1:
        raise ValueError(f"DyNAS-T sub-network needs one resolution: {text[:80]!r}")
    return value["ks"], value["e"], value["d"], value["r"][0]


def read_dynast_csv(path: Path) -> list[DynastRow]:
    """Every row of one DyNAS-T CSV; ValueError naming the file if its columns are not DyNAS-T's."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) != _COLUMNS:
        raise ValueError(f"{path.name}: expected DyNAS-T columns {sorted(_COLUMNS)}")
    return [DynastRow(*subnet_fields(row["Sub-network"]), float(row["Top-1 Acc (%)"]), int(row["MACs"]),
                      int(row["Model Parameters"]), path.name, row["Date"]) for row in rows]

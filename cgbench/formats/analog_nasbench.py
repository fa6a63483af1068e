"""analog-nasbench's ``data.anb`` (IBM's AnalogNAS-Bench, PyPI ``analog-nasbench``), read as plain dicts.

The file pickles a dict from NASLib's NB-201 op-code tuple to an ``analognasbench.data.Architecture``
record whose drift fields are ``DriftMeasurement`` records; both classes only set attributes. It is
read with :func:`cgbench.safe_pickle.restricted_load`, the two classes replaced by an inert
stand-in, so no code of the file runs. Which label column each attribute becomes is the nb201
family's business.
"""

from __future__ import annotations

from pathlib import Path

from ..safe_pickle import restricted_load


class _Record:
    """Stand-in for analog-nasbench's plain record classes: the pickle only sets attributes."""


def read_analog_nasbench(path: Path) -> dict[tuple, dict[str, object]]:
    """NASLib op-code tuple -> the record's attributes (a drift measurement as its own attribute dict)."""
    records = restricted_load(path.read_bytes(), replacements={
        "analognasbench.data.Architecture": _Record, "analognasbench.data.DriftMeasurement": _Record})
    return {codes: {name: vars(value) if isinstance(value, _Record) else value for name, value in vars(record).items()}
            for codes, record in records.items()}

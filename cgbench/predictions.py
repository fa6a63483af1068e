"""Reading a predictions file for ``cgbench evaluate``: a CSV ``arch_id,y_pred`` or a JSON file.

The file is read within :data:`cgbench.userfiles.MAX_FILE_BYTES` and must be UTF-8 text (UTF-16
and binary files are named as such). A JSON file holds any input the
:class:`~cgbench.evaluation.Evaluator` takes: ``{arch_id: score}``, the columns
``{"arch_id": [...], "y_pred": [...]}``, or a list in the order of ``Evaluator.arch_ids``; the
Evaluator checks it. A CSV file has a header with the columns ``arch_id`` and ``y_pred`` (others
are ignored) and one row per architecture; a row without a ``y_pred`` value, or with one that is
not a number, is refused with its line number.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .errors import InvalidFileError
from .evaluation import InvalidPredictionsError
from .userfiles import parse_json, read_text

WHAT = "a predictions file (CSV with the header arch_id,y_pred, or JSON)"


def read_predictions(path: Path) -> dict | list:
    """The predictions in ``path`` (``.json``: its JSON value; anything else: CSV columns)."""
    path = Path(path)
    try:
        text = read_text(path, WHAT)
        if path.suffix.lower() == ".json":
            return parse_json(text, str(path))
    except InvalidFileError as err:
        raise InvalidPredictionsError(str(err)) from None
    return _read_csv(text, path)


def _read_csv(text: str, path: Path) -> dict:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or "arch_id" not in header or "y_pred" not in header:
            raise InvalidPredictionsError(f"{path}: a CSV of predictions needs the header arch_id,y_pred; "
                                          f"got {','.join(header or [])[:80]!r}")
        id_column, score_column = header.index("arch_id"), header.index("y_pred")
        arch_ids, scores = [], []
        for row in reader:
            if not row:
                continue  # a blank line
            line = reader.line_num
            if len(row) != len(header):
                raise InvalidPredictionsError(f"{path} line {line}: {len(row)} field(s), but the header has "
                                              f"{len(header)}; every row needs its arch_id and y_pred")
            arch_ids.append(row[id_column])
            scores.append(_score(row[score_column], row[id_column], path, line))
    except csv.Error as err:
        raise InvalidPredictionsError(f"{path} line {reader.line_num}: not valid CSV ({err})") from None
    return {"arch_id": arch_ids, "y_pred": scores}


def _score(text: str, arch_id: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidPredictionsError(f"{path} line {line}: y_pred {text[:40]!r} of {arch_id[:60]!r} is not a "
                                      "number") from None
    if not math.isfinite(value):
        raise InvalidPredictionsError(f"{path} line {line}: y_pred of {arch_id[:60]!r} is {text!r}; predictions "
                                      "must be finite")
    return value

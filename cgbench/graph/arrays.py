"""Array helpers shared by the vectorised graph passes (hashing, simplify)."""

from __future__ import annotations

import numpy as np


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` for integer arrays by sort and compare: numpy 2's hash-based
    ``np.unique`` is about 10x slower on the ~10k-element frontiers the graph passes take."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]

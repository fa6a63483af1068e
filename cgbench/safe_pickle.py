"""A restricted unpickler: only the classes a file format needs, nothing else.

Raw NAS-benchmark files are often pickles, and a pickle can run arbitrary code on load. Every
pickle cgbench reads goes through :func:`restricted_load` with an explicit allow-list, after
its sha256 has been checked; anything outside the list is refused with the offending name.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Iterable, Mapping

from .errors import CgbenchError


class UnsafePickleError(CgbenchError, pickle.UnpicklingError):
    """The pickle asked for a global that the format's allow-list does not contain."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: frozenset[str], replacements: Mapping[str, object]) -> None:
        super().__init__(file)
        self._allowed = allowed
        self._replacements = replacements

    def find_class(self, module: str, name: str):
        qualified = f"{module}.{name}"
        if qualified in self._replacements:
            return self._replacements[qualified]
        if qualified in self._allowed:
            return getattr(importlib.import_module(module), name)
        raise UnsafePickleError(
            f"refusing to unpickle {qualified!r}: it is not one of the classes this file format "
            f"needs ({', '.join(sorted([*self._allowed, *self._replacements]))})"
        )


def restricted_load(data: bytes, allowed: Iterable[str] = (),
                    replacements: Mapping[str, object] | None = None):
    """Unpickle ``data`` resolving only ``allowed`` globals ("module.name") and ``replacements``.

    ``replacements`` maps a global to a stand-in (for classes of packages cgbench does not
    install, such as ``analognasbench.data.Architecture``).
    """
    return _RestrictedUnpickler(io.BytesIO(data), frozenset(allowed), dict(replacements or {})).load()


# The globals a pandas DataFrame pickle (pandas >= 1.x, numpy 1.x or 2.x) refers to.
PANDAS_FRAME_GLOBALS = frozenset({
    "pandas.core.frame.DataFrame", "pandas.core.internals.managers.BlockManager",
    "pandas.core.indexes.base._new_Index", "pandas.core.indexes.base.Index",
    "pandas.core.indexes.range.RangeIndex", "pandas._libs.internals._unpickle_block",
    "pandas.core.internals.blocks.new_block", "builtins.slice",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.ndarray", "numpy.dtype", "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
})

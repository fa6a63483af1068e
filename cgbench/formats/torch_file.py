"""PyTorch ``.pt`` files (``torch.save`` zip pickles), read without running what they might contain.

A ``.pt`` file is a pickle, and a pickle can name any global to call on load. Every ``.pt`` file
cgbench reads goes through :func:`load_torch_file`, after its sha256 has been checked, with
``torch.load(weights_only=True)``: torch's own restricted unpickler, which builds only tensors,
containers and primitive values. A format that also needs a few more classes names exactly those
(``allowed_globals``, e.g. :data:`NUMPY_INT64_SCALARS`) and nothing else; they are allowed only
for the duration of that one call. Anything else is refused with :class:`UnsafeTorchFileError`
naming the file and the global it asked for. ``weights_only=False`` is never used.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

try:  # numpy >= 2 moved the module; pickles still name the old path
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import scalar as _numpy_scalar


class UnsafeTorchFileError(pickle.UnpicklingError):
    """A ``.pt`` file asked for a global outside torch's safe set and the format's allow-list."""


# NumPy int64 scalars, as ``torch.save`` pickles ``np.int64(204)``: the scalar constructor (named by
# its numpy-1 path in the pickle), ``numpy.dtype`` and the int64 dtype's class. Nothing that can
# build another type: a float64 scalar, for instance, needs its own dtype class and is refused.
NUMPY_INT64_SCALARS: tuple = ((_numpy_scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64)))


def load_torch_file(path: Path, allowed_globals: Sequence = ()):
    """The object in the ``.pt`` file ``path``, loaded with ``weights_only=True`` on the CPU.

    ``allowed_globals`` are the extra classes/functions the format needs (as accepted by
    ``torch.serialization.safe_globals``); the default allows none.
    """
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeTorchFileError(
            f"{path}: refused to load: {_reason(err)} (only tensors, plain containers and the classes this "
            "format needs are allowed)") from None


# Lines of torch's message that are advice for torch users, not the reason.
_BOILERPLATE = ("Weights only load failed", "Check the documentation", "Please file an issue")


def _reason(err: pickle.UnpicklingError) -> str:
    """The line of torch's refusal that names the offending global or class."""
    text = str(err).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith(_BOILERPLATE)]
    return (specific or lines or ["no reason given"])[0]

"""Capturing a module as a CG with the method asked for: torch.fx (``capture``), torch.export
(``capture_export``), or fx with export as the fallback.

Both capture modules share the op mapping of ``capture``; this module is the one that knows them
both, so neither imports the other at call time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.fx as fx
import torch.nn as nn

from .capture import UnknownOpError, fx_module
from .capture_export import export_module
from .model import ComputationGraph

CAPTURE_METHODS = ("fx", "export", "auto")
# When method='auto' falls back to export: torch.fx cannot trace the model (control flow or
# iteration on a traced value: TraceError; a traced value where Python needs an int: TypeError),
# or the fx graph holds a torch function with no mapping (export sees it as mappable ATen ops).
FX_TRACE_ERRORS: tuple[type[Exception], ...] = (fx.proxy.TraceError, TypeError, UnknownOpError)


def from_module(model: nn.Module, input_shape: Sequence[int], unknown_ops: str = "error",
                method: str = "fx") -> ComputationGraph:
    """Capture ``model`` as a CG for an input of ``input_shape`` (N, C, H, W).

    ``unknown_ops='error'`` (default) raises :class:`UnknownOpError` naming the op and its module
    path; ``'oov'`` maps unknown ops to the ``<oov>`` id instead. ``method='fx'`` (default)
    traces with torch.fx; ``'export'`` captures through torch.export (``capture_export``), which
    also handles models that branch on shapes; ``'auto'`` uses fx and falls back to export
    when fx cannot trace the model or meets a function it has no mapping for (``FX_TRACE_ERRORS``).
    """
    if unknown_ops not in ("error", "oov"):
        raise ValueError(f"unknown_ops must be 'error' or 'oov', got {unknown_ops!r}")
    if method not in CAPTURE_METHODS:
        raise ValueError(f"method must be one of {CAPTURE_METHODS}, got {method!r}")
    if method == "fx":
        return fx_module(model, input_shape, unknown_ops)
    if method == "export":
        return export_module(model, input_shape, unknown_ops)
    try:
        return fx_module(model, input_shape, unknown_ops)
    except FX_TRACE_ERRORS:
        return export_module(model, input_shape, unknown_ops)

"""Capturing a module as a CG with the method asked for: torch.fx (``capture``), torch.export
(``capture_export``), or fx with export as the fallback (``method="auto"``, the default).

Both capture modules share the op mapping of ``capture``; this module is the one that knows them
both, so neither imports the other.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence

import torch.nn as nn

from .capture import CaptureReport, FxTraceError, UnknownOpError, fx_module
from .model import ComputationGraph

CAPTURE_METHODS = ("fx", "export", "auto")
# When method='auto' falls back to export: torch.fx cannot trace the model (control flow on a
# traced value, a traced value where Python needs an int), or the fx graph holds a torch function
# with no mapping (export sees it as mappable ATen ops).
FX_TRACE_ERRORS: tuple[type[Exception], ...] = (FxTraceError, UnknownOpError)


def capture_report(model: nn.Module, input_shape: Sequence[int], unknown_ops: str = "error",
                   method: str = "auto") -> CaptureReport:
    """Capture ``model`` as a CG for an input of ``input_shape`` (N, C, H, W), with a report.

    ``method="auto"`` (default) traces with torch.fx and, when fx cannot trace the model or meets
    a function it has no mapping for, captures through torch.export (``capture_export``), which
    follows branches on shapes; ``"fx"`` and ``"export"`` use one of them only. Unknown ops raise
    :class:`UnknownOpError` (``unknown_ops="error"``, default) or become ``<oov>`` nodes
    (``"oov"``, listed in the report). Other failures raise a :class:`~cgbench.graph.capture.CaptureError`
    that says what to do. Build the model under ``torch.device("meta")`` to capture without
    allocating weights.
    """
    if unknown_ops not in ("error", "oov"):
        raise ValueError(f"unknown_ops must be 'error' or 'oov', got {unknown_ops!r}")
    if method not in CAPTURE_METHODS:
        raise ValueError(f"method must be one of {CAPTURE_METHODS}, got {method!r}")
    with _quiet():
        if method != "export":
            try:
                return fx_module(model, input_shape, unknown_ops)
            except FX_TRACE_ERRORS as fx_error:
                if method == "fx":
                    raise
                why = getattr(fx_error, "brief", str(fx_error).splitlines()[0])
        # Imported here: the torch.export path takes seconds to import, and most captures never need it.
        from .capture_export import export_module

        report = export_module(model, input_shape, unknown_ops)
        if method == "export":
            return report
    report.fx_failure = why
    return report


def from_module(model: nn.Module, input_shape: Sequence[int], unknown_ops: str = "error",
                method: str = "auto") -> ComputationGraph:
    """The CG of ``model`` for an input of ``input_shape`` (N, C, H, W): :func:`capture_report`'s graph.

    >>> with torch.device("meta"):                  # no weights are allocated
    ...     model = torchvision.models.resnet18()
    >>> from_module(model, (1, 3, 224, 224))
    ComputationGraph(n_nodes=71, n_edges=78, ops={...})
    """
    return capture_report(model, input_shape, unknown_ops, method).graph


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep torch's own tracebacks, graph dumps and log lines from a failed trace off the screen:
    the :class:`~cgbench.graph.capture.CaptureError` raised instead says what happened and what to do."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield

"""Computation graphs: the data model, capture from PyTorch, hashing, features, drawing."""

from .capture import (CaptureError, CaptureReport, ControlFlowError, FxTraceError, ModelRunError, UnknownOpError,
                      ZeroOp, register_op)
from .capturing import capture_report, from_module
from .compose import GraphBuilder
from .counting import count_flops, count_params
from .hashing import canonical_hash
from .model import ATTR_FIELDS, SHAPE_FIELDS, ComputationGraph, InvalidGraphError
from .vocab import CG_FORMAT_VERSION, OP_ID, OPS

__all__ = [
    "ATTR_FIELDS", "CG_FORMAT_VERSION", "CaptureError", "CaptureReport", "ComputationGraph", "ControlFlowError",
    "FxTraceError", "GraphBuilder", "InvalidGraphError", "ModelRunError", "OPS", "OP_ID", "SHAPE_FIELDS",
    "UnknownOpError", "ZeroOp", "canonical_hash", "capture_report", "count_flops", "count_params", "from_module",
    "register_op",
]

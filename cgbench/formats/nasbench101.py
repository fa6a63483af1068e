"""NAS-Bench-101's dataset files (``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord``), read without TensorFlow.

Each TFRecord record is the JSON list ``[module_hash, epochs, raw_adjacency, raw_operations,
base64 ModelMetrics]`` (google-research/nasbench, ``api.py``); ``ModelMetrics`` and its
``EvaluationData`` are the protobuf messages of ``model_metrics.proto``, decoded here from the
wire format with the field numbers of that file. Every problem is an
:class:`~cgbench.errors.InvalidFileError` naming the file and the byte offset of the record.
:func:`read_nasbench_tfrecord` gathers a file into one cell spec (matrix and op names, as written)
per module hash and the final runs of each. What the cells mean (pruning, canonical form, the
graph hash) is the nb101 family's business.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
from tqdm.auto import tqdm

from ..errors import InvalidFileError
from .tfrecord import ProtobufError, as_double, as_int32, as_message, as_string, decode_fields, read_records


@dataclass(frozen=True)
class Evaluation:
    """NB-101's ``EvaluationData`` message (field numbers from ``model_metrics.proto``)."""

    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass(frozen=True)
class ModelMetrics:
    """NB-101's ``ModelMetrics`` message."""

    evaluation_data: tuple[Evaluation, ...]
    trainable_parameters: int
    total_time: float


_EVALUATION_DOUBLES = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy",
                       5: "test_accuracy"}


def decode_evaluation(data: bytes) -> Evaluation:
    fields: dict[str, float | str] = {}
    for number, _, value in decode_fields(data):
        if number in _EVALUATION_DOUBLES:
            fields[_EVALUATION_DOUBLES[number]] = as_double(value, number)
        elif number == 6:
            fields["checkpoint_path"] = as_string(value, number)
    return Evaluation(**fields)


def decode_model_metrics(data: bytes) -> ModelMetrics:
    evaluations, parameters, total_time = [], 0, 0.0
    for number, _, value in decode_fields(data):
        if number == 1:
            evaluations.append(decode_evaluation(as_message(value, number)))
        elif number == 2:
            parameters = as_int32(value, number)
        elif number == 3:
            total_time = as_double(value, number)
    return ModelMetrics(tuple(evaluations), parameters, total_time)


@dataclass(frozen=True)
class NasbenchRecord:
    """One training run of one cell, as the file stores it."""

    offset: int  # byte offset of the record in the file
    module_hash: str
    epochs: int
    raw_adjacency: str  # the V x V matrix, row by row, as '0'/'1' characters
    raw_operations: str  # comma-separated op names, input first and output last
    metrics: ModelMetrics

    def where(self, path: Path) -> str:
        return f"{path}: record at byte {self.offset}"


def read_nasbench_records(path: Path) -> Iterator[NasbenchRecord]:
    """Every record of an NB-101 dataset file, both CRCs checked, fields type-checked."""
    path = Path(path)
    empty = True
    for offset, data in read_records(path):
        empty = False
        yield _decode_record(data, f"{path}: record at byte {offset}", offset)
    if empty:
        raise InvalidFileError(f"{path} holds no records (an empty file); expected NB-101's nasbench_only108.tfrecord")


def _decode_record(data: bytes, where: str, offset: int) -> NasbenchRecord:
    try:
        fields = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidFileError(f"{where} is not NB-101's JSON list: {err}") from None
    if not isinstance(fields, list) or len(fields) != 5:
        raise InvalidFileError(f"{where} should be a JSON list of 5 fields, got {str(fields)[:80]}")
    module_hash, epochs, adjacency, operations, metrics = fields
    if not all(isinstance(v, str) for v in (module_hash, adjacency, operations, metrics)) \
            or isinstance(epochs, bool) or not isinstance(epochs, int):
        raise InvalidFileError(f"{where} should hold [hash, epochs, adjacency, operations, metrics] as "
                               f"[str, int, str, str, str], got {str(fields)[:80]}")
    try:
        decoded = decode_model_metrics(base64.b64decode(metrics, validate=True))
    except (binascii.Error, ProtobufError, UnicodeDecodeError) as err:
        raise InvalidFileError(f"{where}: its ModelMetrics field is not a base64 protobuf message: {err}") from None
    return NasbenchRecord(offset, module_hash, epochs, adjacency, operations, decoded)


# ---------------------------------------------------------------------------------------------
# A whole file: one cell spec per module hash and its final runs

FINAL_EPOCHS = 108  # NB-101's longest training budget; its final accuracies are the labels
T = TypeVar("T")


class CellSpec(NamedTuple):
    """The cell of a record as the file writes it (unpruned, in the file's vertex order)."""

    module_hash: str
    matrix: np.ndarray  # V x V, 0/1
    ops: list[str]  # V op names, input first and output last
    where: str  # the file and the byte offset of the record


@dataclass(frozen=True)
class Run:
    """One training run's evaluation at :data:`FINAL_EPOCHS` and the model's parameter count."""

    validation_accuracy: float
    test_accuracy: float
    training_time: float
    trainable_parameters: int


def read_nasbench_tfrecord(path: Path, cell_of: Callable[[CellSpec], T] | None = None,
                           progress: bool = True) -> tuple[dict[str, T], dict[str, list[Run]], int]:
    """Cells by module hash, their :data:`FINAL_EPOCHS`-epoch runs, and the number of other-epoch records skipped.

    A hash's cell is its first record's :class:`CellSpec`, passed through ``cell_of`` (when given)
    as the record is read, so that its errors come in file order too.
    """
    cells: dict[str, T] = {}
    runs: dict[str, list[Run]] = defaultdict(list)
    skipped = 0
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc="nb101 tfrecord", disable=not progress) as bar:
        for record in read_nasbench_records(path):
            bar.update(record.offset - bar.n)
            where = record.where(path)
            if record.module_hash not in cells:
                spec = _cell_spec(record, where)
                cells[record.module_hash] = spec if cell_of is None else cell_of(spec)
            if record.epochs != FINAL_EPOCHS:
                skipped += 1
                continue
            runs[record.module_hash].append(_final_run(record.metrics, where))
        bar.update(size - bar.n)
    return cells, runs, skipped


def _cell_spec(record: NasbenchRecord, where: str) -> CellSpec:
    adjacency = record.raw_adjacency
    dim = int(round(len(adjacency) ** 0.5))
    if dim * dim != len(adjacency) or set(adjacency) - {"0", "1"}:
        raise InvalidFileError(f"{where}: adjacency {adjacency!r} is not a square 0/1 matrix")
    matrix = np.array([int(c) for c in adjacency]).reshape(dim, dim)
    return CellSpec(record.module_hash, matrix, record.raw_operations.split(","), where)


def _final_run(metrics: ModelMetrics, where: str) -> Run:
    if not metrics.evaluation_data or metrics.evaluation_data[-1].current_epoch != FINAL_EPOCHS:
        raise InvalidFileError(f"{where}: its last evaluation is not at epoch {FINAL_EPOCHS}")
    final = metrics.evaluation_data[-1]
    return Run(final.validation_accuracy, final.test_accuracy, final.training_time, metrics.trainable_parameters)

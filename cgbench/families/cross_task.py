"""NAS-Bench-Suite's cross-task labels (NASLib's ``9x_all.zip``): svhn, scifar100, ninapro. Registers nothing.

NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks) added nine
search-space/task pairs: about 200 architectures each of NB-201, NB-301 and
TransNAS-Bench-101-micro, trained on three tasks of NAS-Bench-360 (Tu et al., 2022): SVHN
(digits, 32x32), Spherical CIFAR-100 (CIFAR-100 projected onto a sphere, 60x60) and NinaPro DB5
(hand gestures from EMG signals, a 16x52 single-channel "image"). The zip holds, per pair, the
same architectures in 13 proxy folders, each record with the task's ``val_accuracy`` (%) and one
zero-cost score. The networks trained there are NASLib's versions of each space adapted to the
task's input and classes; a family's CG stays its own CIFAR/Taskonomy network, so these labels
describe the same cell (or encoder) in another network, as TransNAS-Bench-101's task labels do.

Each family maps NASLib's architecture encoding to its own arch_ids (``row_of``); cells that are
not rows of the family are an error, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..sources import github_file
from .base import LabelColumn
from ..formats.naslib import Arch, NaslibRecord, read_naslib_records

SOURCE_ID = "naslib-9x"
CROSS_TASK_FILE = github_file(SOURCE_ID, "automl/NASLib", "8359327a8c5e46f684c8d7f34d99a6c6dbcd9097",
                              "run/results/benchmarks/9x_all.zip",
                              "17afb91c43dbf2d429ad79c57fbb5838f390a980648731753eb90da81bb2de62", "Apache-2.0")
# task -> what it is (NAS-Bench-360's tasks; NASLib's dataset names)
TASKS = {
    "svhn": "SVHN (street-view house numbers, 10 classes, 32x32 RGB)",
    "scifar100": "Spherical CIFAR-100 (CIFAR-100 images projected onto a sphere, 100 classes, 60x60)",
    "ninapro": "NinaPro DB5 (hand-gesture classification from EMG signals, 18 classes, 16x52 single-channel)",
}


def column_name(task: str) -> str:
    return f"{task}_val_acc"


def cross_task_labels(space: str) -> tuple[LabelColumn, ...]:
    """The three label columns of a family whose cells ``space`` (e.g. 'NB-201') NASLib trained on the tasks."""
    return tuple(
        LabelColumn(column_name(task), SOURCE_ID, meaning, "validation set (NASLib's split of the task)", None, "%",
                    "one training run per architecture and task (NAS-Bench-Suite-Zero)", "Apache-2.0",
                    f"NAS-Bench-Suite-Zero's cross-task label: validation accuracy of the {space} architecture in "
                    f"NASLib's network for {task}, trained on it (NASLib's 'val_accuracy'); NaN for the "
                    "architectures it did not train")
        for task, meaning in TASKS.items())


def read_cross_task(path: Path, benchmark: str) -> dict[str, dict[Arch, NaslibRecord]]:
    """task -> {NASLib architecture: record} of one benchmark (nasbench201, nasbench301, transbench101_micro)."""
    records = read_naslib_records(path, benchmark)
    if sorted(records) != sorted(TASKS):
        raise ValueError(f"{path.name}: {benchmark} has tasks {sorted(records)}, expected {sorted(TASKS)}")
    return records


def cross_task_columns(tasks: dict[str, dict[Arch, NaslibRecord]], row_of: Callable[[Arch], int],
                       n_rows: int) -> dict[str, np.ndarray]:
    """The three label columns over a family's ``n_rows`` rows (``tasks`` from :func:`read_cross_task`),
    NaN where NASLib did not train a cell; ``row_of`` maps NASLib's architecture to the family's row."""
    columns = {}
    for task, records in tasks.items():
        column = np.full(n_rows, np.nan)
        for arch, record in records.items():
            column[row_of(arch)] = record.val_accuracy
        columns[column_name(task)] = column
    return columns

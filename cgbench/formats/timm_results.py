"""timm's ImageNet results table (``results/results-imagenet.csv`` of huggingface/pytorch-image-models, Apache-2.0).

One row per evaluated model tag and image size: ``model`` (``architecture.tag``), ``img_size``,
``top1``, ``top5`` and ``param_count`` (millions, thousands separated by commas), among others.
Which networks the timm_zoo family captures from these rows is the family's business.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TimmResult:
    model: str  # architecture.tag
    architecture: str
    tag: str
    img_size: int
    top1: float
    top5: float
    param_count_m: float

    @property
    def row_id(self) -> str:
        """A tag evaluated at two sizes (train and test resolution) gives two rows."""
        return f"{self.model}@{self.img_size}"

    @property
    def capture_key(self) -> str:
        return f"{self.architecture}@{self.img_size}"


def read_timm_results(path: Path) -> list[TimmResult]:
    """Every row of timm's results table; ValueError if a tag appears twice at one image size."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    results = []
    for row in rows:
        architecture, _, tag = row["model"].partition(".")
        results.append(TimmResult(row["model"], architecture, tag, int(row["img_size"]), float(row["top1"]),
                                  float(row["top5"]), float(row["param_count"].replace(",", ""))))
    if len({r.row_id for r in results}) != len(results):
        raise ValueError(f"{path} lists a model tag twice at the same image size")
    return results

"""timm_zoo: every ImageNet-1k result of timm's results-imagenet.csv, one row per model tag.

Each row of timm's table (``architecture.tag``, e.g. ``resnet50.a1_in1k``) is a trained model
with its ImageNet-1k validation top-1/top-5 at its evaluation image size. The row's CG is the
architecture built by timm 1.0.31 without weights (under ``torch.device("meta")``; on CPU and
then moved to meta when meta construction fails), batch 1, at that image size. Rows that share
architecture and image size share one capture. Capture is ``from_module(method="auto")``: torch.fx,
falling back to torch.export when fx cannot trace the model or map one of its functions.

Capturing ~1,000 architectures takes tens of minutes on two cores, so every capture (or its
failure, with the reason) is cached atomically per architecture and image size under
``$CGBENCH_HOME/zoo-captures/``: an interrupted build resumes where it stopped. Failures carry
the ``CAPTURE_CODE_VERSION`` that recorded them, and a rebuild under a newer one retries them.
A family instance made with ``TimmZoo(architectures=[...])`` builds only those architectures
through the same code path (the tests use it; the manifest records the subset).
"""

from __future__ import annotations

import json
import time
import traceback
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import pyarrow as pa
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..formats.timm_results import TimmResult, read_timm_results
from ..graph import capture_report, count_flops, count_params
from ..graph.model import ComputationGraph
from ..sources import cgbench_home, github_file
from ..storage import GraphTable, atomic_write, atomic_write_text
from .registry import register_family
from .base import FamilySpec, LabelColumn, assemble_table

# Bump when capture changes in a way that changes cached graphs: old cache entries are ignored.
CAPTURE_CACHE_VERSION = "1"
# Bump when capture learns to handle more models (a new op mapping, a fix) without changing the
# graphs it already captured: failures recorded under an older capture code are retried, while
# successful captures stay cached.
CAPTURE_CODE_VERSION = "2"

# ---------------------------------------------------------------------------------------------
# Capturing one model, cached


@dataclass
class ZooCapture:
    """One architecture at one input size: its CG, FLOPs and parameters, or why it failed."""

    key: str
    graph: ComputationGraph | None
    flops: int
    params: int
    method: str  # "fx", "export", or "" on failure
    seconds: float
    failure_stage: str = ""  # "build" or "capture"
    failure: str = ""
    # The capture code that produced this record (read when the record is made).
    capture_code: str = field(default_factory=lambda: CAPTURE_CODE_VERSION)

    @property
    def ok(self) -> bool:
        return self.graph is not None


def capture_cache_dir(zoo: str) -> Path:
    return cgbench_home() / "zoo-captures" / f"{zoo}-v{CAPTURE_CACHE_VERSION}"


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build without allocating weights; some constructors copy tensors at init and need CPU."""
    try:
        with torch.device("meta"):
            return build().eval()
    except (RuntimeError, NotImplementedError):
        return build().to("meta").eval()


def _capture_method(model: nn.Module, input_shape: Sequence[int]) -> tuple[ComputationGraph, str]:
    report = capture_report(model, input_shape, method="auto")
    return report.graph, report.method


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"


# What building or capturing a zoo model may raise; anything else is a bug and propagates.
_ZOO_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, NotImplementedError, KeyError,
               AttributeError, IndexError)


def capture_model(key: str, build: Callable[[], nn.Module], input_shape: Sequence[int]) -> ZooCapture:
    """Build and capture one model (uncached); failures are returned with their reason."""
    start = time.perf_counter()
    try:
        model = _on_meta(build)
    except _ZOO_ERRORS as err:
        return ZooCapture(key, None, 0, 0, "", time.perf_counter() - start, "build", _reason(err))
    try:
        graph, method = _capture_method(model, input_shape)
        flops = count_flops(model, input_shape)
    except _ZOO_ERRORS as err:
        detail = "".join(traceback.format_exception_only(err)).strip().splitlines()[-1][:300]
        return ZooCapture(key, None, 0, 0, "", time.perf_counter() - start, "capture", detail)
    return ZooCapture(key, graph, flops, count_params(model), method, time.perf_counter() - start)


def cached_capture(zoo: str, key: str, build: Callable[[], nn.Module], input_shape: Sequence[int]) -> ZooCapture:
    """``capture_model`` through the per-model cache file ``<zoo cache>/<key>.npz`` (atomic).

    A cached failure from an older ``CAPTURE_CODE_VERSION`` is captured again, and so is a cache file
    that cannot be read (truncated, altered): it is a cache, so capturing again is the repair."""
    path = capture_cache_dir(zoo) / f"{key}.npz"
    if path.exists():
        try:
            cached = _read_capture(path, key)
        except _UNREADABLE_CACHE:
            cached = None
        if cached is not None and (cached.ok or cached.capture_code == CAPTURE_CODE_VERSION):
            return cached
    record = capture_model(key, build, input_shape)
    _write_capture(path, record)
    return record


def _write_capture(path: Path, record: ZooCapture) -> None:
    info = {"flops": record.flops, "params": record.params, "method": record.method, "seconds": record.seconds,
            "failure_stage": record.failure_stage, "failure": record.failure, "capture_code": record.capture_code}
    graph = record.graph
    arrays = {"op": graph.op, "shape": graph.shape, "attr": graph.attr, "edges": graph.edges} if graph else {}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, info=np.array(json.dumps(info)), **arrays)

    atomic_write(path, write)


# What numpy, zipfile and json raise on a truncated or altered .npz cache file (InvalidGraphError is a ValueError).
_UNREADABLE_CACHE = (ValueError, KeyError, EOFError, zipfile.BadZipFile)


def _read_capture(path: Path, key: str) -> ZooCapture:
    with np.load(path, allow_pickle=False) as data:
        info = json.loads(str(data["info"]))
        graph = None
        if "op" in data:
            graph = ComputationGraph(data["op"], data["shape"], data["attr"], data["edges"]).validate()
    # Records written before capture codes were recorded have none: their failures are retried.
    return ZooCapture(key, graph, info["flops"], info["params"], info["method"], info["seconds"],
                      info["failure_stage"], info["failure"], info.get("capture_code", ""))


def write_failures(zoo: str, captures: dict[str, ZooCapture]) -> list[dict]:
    """The failures table: kept in the manifest and as ``failures.json`` next to the cache."""
    failures = [{"key": c.key, "stage": c.failure_stage, "reason": c.failure}
                for c in captures.values() if not c.ok]
    atomic_write_text(capture_cache_dir(zoo) / "failures.json", json.dumps(failures, indent=1))
    return failures


class ZooRow(Protocol):
    """A zoo table row: rows with the same ``capture_key`` (architecture and input size) share a capture."""

    @property
    def capture_key(self) -> str: ...


Row = TypeVar("Row", bound=ZooRow)


def capture_rows(zoo: str, rows: Sequence[Row], capture: Callable[[Row], ZooCapture],
                 progress: bool) -> tuple[list[Row], list[ZooCapture], list[dict]]:
    """Capture each ``capture_key`` once, from its first row: (rows whose capture succeeded, their
    captures, the failures table that ``write_failures`` stored)."""
    firsts = {r.capture_key: r for r in reversed(rows)}
    captures: dict[str, ZooCapture] = {}
    bar = tqdm(firsts.values(), total=len(firsts), desc=f"{zoo}_zoo captures", disable=not progress)
    for row in bar:
        bar.set_postfix_str(row.capture_key[:40])
        captures[row.capture_key] = capture(row)
    failures = write_failures(zoo, captures)
    kept = [r for r in rows if captures[r.capture_key].ok]
    return kept, [captures[r.capture_key] for r in kept], failures


def zoo_table(arch_ids: list[str], configs: list[dict], captures: list[ZooCapture], top1: list[float],
              top5: list[float], extra: dict[str, pa.Array]) -> pa.Table:
    """A zoo's table: one row per captured model, labelled with the zoo's ImageNet top-1/top-5."""
    return assemble_table(
        arch_ids=arch_ids, configs=[json.dumps(c) for c in configs],
        graphs=GraphTable.from_graphs([c.graph for c in captures]),
        flops=np.array([c.flops for c in captures]), params=np.array([c.params for c in captures]),
        labels={"imagenet_top1": np.array(top1), "imagenet_top5": np.array(top5)},
        extra={**extra, "capture_method": pa.array([c.method for c in captures], pa.string())},
    )


def zoo_labels(prefix: str, source_id: str, licence: str, where: str) -> tuple[LabelColumn, ...]:
    return tuple(
        LabelColumn(f"{prefix}_{k}", source_id, "ImageNet-1k", "validation set (50,000 images)", None, "%",
                    "one training per tag", licence,
                    f"{where} top-{k[-1]} accuracy of the trained model at its evaluation size; each tag has "
                    "its own training recipe (epochs, data, distillation, pre-training vary)")
        for k in ("top1", "top5"))


# ---------------------------------------------------------------------------------------------
# timm's results table


RESULTS = github_file("timm-results", "huggingface/pytorch-image-models", "aa4b5850c1543fa488abf260f18390eda46cf85d",
                      "results/results-imagenet.csv",
                      "30972bf7c7ab451bbd4480ec6116b13d0a84441c57bbc946896fd312264acfcd", "Apache-2.0")


def build_timm(architecture: str, img_size: int | None = None) -> nn.Module:
    import timm

    kwargs = {"img_size": img_size} if img_size is not None else {}
    return timm.create_model(architecture, pretrained=False, **kwargs)


def capture_timm(result: TimmResult) -> ZooCapture:
    """Capture at the evaluation size; models with a fixed input size are rebuilt for it."""
    shape = (1, 3, result.img_size, result.img_size)
    record = cached_capture("timm", result.capture_key, lambda: build_timm(result.architecture), shape)
    if record.ok:
        return record
    key = f"{result.capture_key}+img_size"
    resized = cached_capture("timm", key, lambda: build_timm(result.architecture, result.img_size), shape)
    if resized.ok:
        return resized
    return record


def timm_modules() -> dict[str, str]:
    """Architecture -> the timm model module that defines it (``resnet``, ``vision_transformer``)."""
    import timm

    return {arch: module for module in timm.list_modules() for arch in timm.list_models(module=module)}


@register_family
class TimmZoo(FamilySpec):
    # Both zoos hold many of the same models (resnet50, ...): one group, a model counts once.
    space_group = "imagenet_model_zoo"
    name = "timm_zoo"
    version = "1.0"
    description = ("timm model zoo: every model tag of timm's ImageNet-1k results table (results-imagenet.csv), "
                   "CG of its architecture (timm 1.0.31) at its evaluation image size, batch 1.")
    raw_files = (RESULTS,)
    # ~1,200 captures, tens of minutes on two cores: built on request (`cgbench build timm_zoo`).
    in_main_job = False
    labels = zoo_labels("imagenet", "timm-results", "Apache-2.0", "timm's reported ImageNet-1k validation")
    default_target = "imagenet_top1"
    # Nominal: each row is captured at its own evaluation size (column img_size).
    input_shape = (1, 3, 224, 224)

    def __init__(self, architectures: Sequence[str] | None = None) -> None:
        """``architectures``: build only these (a subset for tests); None builds the whole table."""
        self.architectures = None if architectures is None else tuple(architectures)

    def select(self, results: list[TimmResult]) -> list[TimmResult]:
        if self.architectures is None:
            return results
        known = {r.architecture for r in results}
        missing = sorted(set(self.architectures) - known)
        if missing:
            raise ValueError(f"architectures not in timm's results table: {missing}")
        return [r for r in results if r.architecture in self.architectures]

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        return self.build(raw_paths, progress)[0]

    def build(self, raw_paths: dict[str, Path], progress: bool = True) -> tuple[pa.Table, dict]:
        """The table, and the models that could not be captured (``failures`` in the manifest)."""
        results = self.select(read_timm_results(raw_paths[RESULTS.key]))
        rows, captures, failures = capture_rows("timm", results, capture_timm, progress)
        table = zoo_table(
            arch_ids=[r.row_id for r in rows],
            configs=[{"architecture": r.architecture, "tag": r.tag, "img_size": r.img_size} for r in rows],
            captures=captures, top1=[r.top1 for r in rows], top5=[r.top5 for r in rows],
            extra={
                "architecture": pa.array([r.architecture for r in rows], pa.string()),
                "tag": pa.array([r.tag for r in rows], pa.string()),
                "img_size": pa.array([r.img_size for r in rows], pa.int32()),
                "timm_param_count_m": pa.array([r.param_count_m for r in rows], pa.float64()),
            },
        )
        return table, {"failures": failures}

    def manifest(self) -> dict:
        return {**super().manifest(), "subset": list(self.architectures) if self.architectures else None}

"""What a family declares: its raw sources, its label columns, and how to build its table."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from ..graph.hashing import canonical_hashes
from ..progress import phase
from ..sources import RawFile
from ..storage import GraphTable
from .fragments import compose_family
from .space import SearchSpace


DEVICE_KINDS = ("GPU", "CPU", "phone", "embedded", "accelerator")


@dataclass(frozen=True)
class LabelColumn:
    """A label column and everything a user needs to know to trust it.

    ``higher_is_better`` is the target's direction: accuracies are higher-is-better, latencies
    lower-is-better; the Evaluator's top-k metrics select the best architectures by it. A measured
    cost (latency) also names the ``device`` it was measured on, the device's kind (one of
    :data:`DEVICE_KINDS`) and the ``batch_size`` of a measured forward pass (None where the source
    does not state it).
    """

    name: str
    source_id: str
    dataset: str
    split: str
    epochs: int | None
    unit: str
    seeds: str
    licence: str
    description: str
    higher_is_better: bool = True
    device: str | None = None
    device_kind: str | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.device_kind is not None and self.device_kind not in DEVICE_KINDS:
            raise ValueError(f"{self.name}: device kind {self.device_kind!r} is not one of {DEVICE_KINDS}")

    def as_manifest(self) -> dict:
        return asdict(self)


class FamilySpec(ABC):
    """A benchmark family: registered by name, built into a table of CGs and labels."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    raw_files: ClassVar[tuple[RawFile, ...]]
    labels: ClassVar[tuple[LabelColumn, ...]]
    # None for an unlabelled family (architectures waiting for labels).
    default_target: ClassVar[str | None]
    # The input of every network (N, C, H, W); a search-space family takes its space's.
    input_shape: ClassVar[tuple[int, int, int, int]]
    # The search space the architectures come from; None for model zoos.
    space: ClassVar[SearchSpace | None] = None
    # For families built from files a user brings: the command that builds them.
    import_command: ClassVar[str | None] = None
    # False for a family whose full build takes too long for the main job (`cgbench run`).
    in_main_job: ClassVar[bool] = True
    # The search space the architectures come from, when it is not ``space`` (imported GENNAPE
    # caches of a space cgbench also builds, model zoos that share models). The transfer tracks hold
    # out a whole group: ``nb201`` and ``gennape_nb201`` are one search space.
    space_group: ClassVar[str | None] = None
    # Targets with two independent measurements of the same quantity among the labels (two trainings):
    # target -> (label a, label b). Their agreement is the label-noise ceiling a predictor is read against.
    repeat_labels: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # A search-space family feeds its networks the space's input; it need not say it twice.
        if "input_shape" not in cls.__dict__ and getattr(cls, "space", None) is not None:
            cls.input_shape = cls.space.input_shape

    @classmethod
    def group(cls) -> str:
        """The search space (or zoo) the family's architectures come from: what a transfer track holds out."""
        return cls.space_group or (cls.space.name if cls.space is not None else cls.name)

    @abstractmethod
    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        """One row per architecture: arch_id, config, graph columns, flops, params, wl_hash, labels."""

    def build(self, raw_paths: dict[str, Path], progress: bool = True) -> tuple[pa.Table, dict]:
        """The table and what the build found besides it (manifest entries, e.g. a zoo's capture failures)."""
        return self.build_table(raw_paths, progress), {}

    def extra_splits(self, table: pa.Table) -> dict[str, dict[str, np.ndarray]]:
        """Splits of this family besides the standard ones (``cgbench.splits``), computed at build time."""
        return {}

    def manifest(self) -> dict:
        return {
            "family": self.name, "version": self.version, "description": self.description,
            "sources": [raw.as_manifest() for raw in self.raw_files],
            "labels": {label.name: label.as_manifest() for label in self.labels},
            "default_target": self.default_target, "input_shape": list(self.input_shape),
            "search_space": self.space.name if self.space is not None else None,
        }


class UnlabelledFamily(FamilySpec, ABC):
    """Networks of a search space that have no labels yet (``cgbench label`` trains them): no raw files."""

    raw_files = ()
    labels = ()
    default_target = None


class SampledFamily(UnlabelledFamily, ABC):
    """``sample_size`` distinct networks of ``space``, drawn with ``sample_seed`` (for spaces too large to enumerate)."""

    sample_size: ClassVar[int]
    sample_seed: ClassVar[int]

    def build_table(self, raw_paths: dict[str, Path], progress: bool = True) -> pa.Table:
        return space_table(self.space, self.space.sample_unique(self.sample_size, self.sample_seed), progress)


def assemble_table(arch_ids: list[str], configs: list[str], graphs: GraphTable, flops: np.ndarray,
                   params: np.ndarray, labels: dict[str, np.ndarray],
                   extra: dict[str, pa.Array] | None = None) -> pa.Table:
    """The canonical column layout every family's table follows."""
    with phase(f"hashing {len(graphs):,} CGs (canonical hash)"):
        hashes = canonical_hashes(graphs.node_ptr, graphs.edge_ptr, graphs.op, graphs.shape, graphs.attr, graphs.edges)
    columns: dict[str, pa.Array] = {
        "arch_id": pa.array(arch_ids, pa.string()),
        "config": pa.array(configs, pa.string()),
        **graphs.to_arrow_columns(),
        "n_nodes": pa.array(np.diff(graphs.node_ptr).astype(np.int32)),
        "n_edges": pa.array(np.diff(graphs.edge_ptr).astype(np.int32)),
        "wl_hash": pa.array(hashes, pa.string()),
        "flops": pa.array(np.asarray(flops, np.int64)),
        "params": pa.array(np.asarray(params, np.int64)),
        **(extra or {}),
    }
    for name, values in labels.items():
        values = np.asarray(values, np.float64)
        columns[name] = pa.array(values, mask=np.isnan(values))
    return pa.table(columns)


def nullable_int_column(values) -> pa.Array:
    """An int64 column of float ``values`` (exact integers) with NaN as null."""
    values = np.asarray(values, np.float64)
    return pa.array(np.nan_to_num(values).astype(np.int64), mask=np.isnan(values))


def space_table(space: SearchSpace, configs: Sequence, progress: bool = True,
                labels: dict[str, np.ndarray] | None = None, extra: dict[str, pa.Array] | None = None) -> pa.Table:
    """The table of ``configs`` of ``space``: its arch_ids and config JSON, CGs, FLOPs and params composed."""
    graphs, flops, params = compose_family(space, configs, progress)
    return assemble_table(
        arch_ids=[space.arch_id(c) for c in configs], configs=[space.config_json(c) for c in configs],
        graphs=graphs, flops=flops, params=params, labels=labels or {}, extra=extra,
    )

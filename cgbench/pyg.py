"""The PyTorch Geometric view of a family: an ``InMemoryDataset`` built straight from CSR.

Processing never creates one ``Data`` object per graph unless a ``pre_transform`` asks for it:
the stored CSR arrays already are PyG's collated layout (concatenated nodes and edges with
per-graph slices), so they are turned into tensors and saved once. Later loads memory-map
that file.

Per graph: ``op`` (long, node op ids: names in ``dataset.op_names``), ``x`` (float, columns named
by ``dataset.feature_names``), ``edge_index`` (producer -> consumer), ``y`` (the target in
``dataset.target_unit``, NaN where missing or unlabelled; what it is: ``dataset.target_info``),
``flops``, ``params`` and ``idx`` (the row in the family).

:meth:`CGDataset.collated` hands out rows in that layout (:class:`CollatedGraphs`), and
:meth:`CollatedGraphs.batch` turns any selection of them into a PyG ``Batch`` (with ``y``) with a
few tensor gathers. Predictors that score tens of thousands of CGs use it instead of
``DataLoader`` over ``dataset[i]``, which builds and re-collates one ``Data`` object per graph in
Python (``benchmarks/bench_graph_batches.py`` measures both)::

    graphs = dataset.collated(split["train"])       # once
    for rows in torch.randperm(len(graphs)).split(256):
        batch = graphs.batch(rows)                  # op, x, edge_index, batch, ptr, flops, y
        loss = F.mse_loss(model(batch), batch.y)
"""

from __future__ import annotations

import hashlib
import pickle
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch, Data, InMemoryDataset

from .graph.features import NODE_FEATURE_NAMES, node_features
from .graph.vocab import CG_FORMAT_VERSION, OPS
from .sources import sha256_of
from .storage import atomic_write, atomic_write_text, making


class CGDataset(InMemoryDataset):
    """The CGs of a family as a PyG ``InMemoryDataset``, with the family's metadata.

    ``op_names[i]`` names op id ``i`` (``data.op``), ``feature_names[j]`` names column ``j`` of
    ``data.x``; ``target`` is the label column in ``data.y``, ``target_unit`` its unit and
    ``target_info`` everything else about it (dataset, split, epochs, seeds, source, licence).
    ``num_classes`` is 1: the target is one real number per graph (a regression), not a class.
    """

    op_names: tuple[str, ...] = OPS
    feature_names: tuple[str, ...] = NODE_FEATURE_NAMES
    cg_format: str = CG_FORMAT_VERSION

    def __init__(self, family, target: str | None = None, transform=None, pre_transform=None) -> None:
        self.family = family
        self.target = target or family.default_target
        if self.target is not None:
            family.labels(self.target)  # an unknown target fails here, with the family's list
        root = Path(family.folder) / "pyg"
        # Worker processes of one benchmark open the same view at once; one makes it, the others wait.
        with making(root):
            super().__init__(str(root), transform, pre_transform, log=False)
            self.load(self.processed_paths[0])

    @property
    def target_info(self) -> dict | None:
        """The label column's record (unit, dataset, split, epochs, seeds, source, licence); None if unlabelled."""
        return self.family.label_info(self.target) if self.target is not None else None

    @property
    def target_unit(self) -> str | None:
        """The unit of ``y`` ("%" for accuracies); None if unlabelled."""
        return self.target_info["unit"] if self.target is not None else None

    @property
    def num_classes(self) -> int:
        """1 for a labelled family: one real-valued target per graph (PyG would count distinct y values)."""
        return 1 if self.target is not None else 0

    def __repr__(self) -> str:
        target = f"{self.target!r} [{self.target_unit}]" if self.target is not None else "None (unlabelled)"
        return (f"CGDataset({self.family.name} v{self.family.version}, {len(self)} graphs, y={target}, "
                f"x={len(self.feature_names)} features, {len(self.op_names)} op ids)")

    @property
    def raw_file_names(self) -> list[str]:
        """None: the family folder holds the data (PyG's raw-file hook)."""
        return []

    @property
    def processed_file_names(self) -> list[str]:
        """The processed tensors' file, keyed by the family build, the target and the pre-transform."""
        key = f"{self.family.data_sha256}|{self.target}|{self.pre_transform!r}"
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", self.target or "unlabelled")
        return [f"{tag}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"]

    def download(self) -> None:
        """Nothing to download: ``load_family`` fetched and built the family (PyG's download hook)."""
        return None

    def _collated(self) -> tuple[Data, dict[str, torch.Tensor]]:
        graphs = self.family.graphs
        n = len(graphs)
        node_ptr = torch.from_numpy(graphs.node_ptr)
        edge_ptr = torch.from_numpy(graphs.edge_ptr)
        data = Data(
            op=torch.from_numpy(graphs.op.astype(np.int64)),
            x=torch.from_numpy(node_features(graphs.shape, graphs.attr)),
            edge_index=torch.from_numpy(graphs.edges.T.astype(np.int64)).contiguous(),
            y=torch.from_numpy(self._targets()),
            flops=torch.from_numpy(self.family.table.column("flops").to_numpy().copy()),
            params=torch.from_numpy(self.family.table.column("params").to_numpy().copy()),
            idx=torch.arange(n),
        )
        per_graph = torch.arange(n + 1)
        slices = {"op": node_ptr, "x": node_ptr, "edge_index": edge_ptr, "y": per_graph,
                  "flops": per_graph, "params": per_graph, "idx": per_graph}
        data.num_nodes = int(node_ptr[-1])
        return data, slices

    def _targets(self) -> np.ndarray:
        """The target column; all NaN for an unlabelled family (architectures awaiting labels)."""
        if self.target is None:
            return np.full(len(self.family), np.nan, np.float32)
        return self.family.labels(self.target).astype(np.float32)

    def process(self) -> None:
        """Turn the family's CSR arrays into PyG's collated tensors and save them (once per build and target).

        The file holds plain tensors only (the data's dict and the slices), written atomically, so
        :meth:`load` reads it with ``torch.load(weights_only=True)``: a cache file is never unpickled."""
        data, slices = self._collated()
        if self.pre_transform is not None:
            self._data, self.slices, self._data_list = data, slices, None
            data, slices = self.collate([self.pre_transform(self.get(i)) for i in range(len(self))])
        else:
            del data.num_nodes
        path = Path(self.processed_paths[0])
        atomic_write(path, lambda tmp: torch.save((data.to_dict(), slices), tmp))
        atomic_write_text(_checksum_path(path), sha256_of(path))

    def load(self, path: str, data_cls=Data) -> None:
        """Memory-map the processed tensors (no per-graph objects are made) after checking their sha256. A
        cache that cannot be read (damaged, or written by an older cgbench) is made again from the
        family, and says so."""
        try:
            out = _read_cache(Path(path))
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
            print(f"the PyG cache {path} cannot be read ({type(error).__name__}: {str(error).splitlines()[0]}); "
                  f"making it again from {self.family.name}", file=sys.stderr)
            Path(path).unlink(missing_ok=True)
            self.process()
            out = _read_cache(Path(path))
        data, self.slices = out[0], out[1]
        self._data = data_cls.from_dict(data)

    def collated(self, indices: np.ndarray | Sequence[int] | None = None) -> CollatedGraphs:
        """Rows ``indices`` (all rows when None) in the collated layout, ready for :meth:`CollatedGraphs.batch`."""
        data = self._data
        everything = CollatedGraphs(op=data.op, x=data.x, edge_index=data.edge_index, node_ptr=self.slices["op"],
                                    edge_ptr=self.slices["edge_index"], flops=data.flops, y=data.y)
        return everything if indices is None else everything.select(_row_positions(indices, len(self)))


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_cache(path: Path):
    """The processed tensors of ``path``, once its bytes match the sha256 written beside it."""
    if not _checksum_path(path).is_file():
        raise ValueError("no sha256 was written with it (an older cgbench wrote it)")
    expected, actual = _checksum_path(path).read_text().strip(), sha256_of(path)
    if actual != expected:
        raise ValueError(f"its sha256 {actual[:16]}... is not the {expected[:16]}... written with it")
    return torch.load(path, mmap=True, weights_only=True)


def _row_positions(indices, n_rows: int) -> torch.Tensor:
    positions = np.asarray(indices)
    if positions.ndim != 1 or (positions.size and not np.issubdtype(positions.dtype, np.integer)):
        raise ValueError(f"indices must be a 1-D integer array, got dtype {positions.dtype} and shape {positions.shape}")
    if positions.size and (positions.min() < 0 or positions.max() >= n_rows):
        raise IndexError(f"there are {n_rows} rows, so indices must lie in [0, {n_rows}); "
                         f"got values from {positions.min()} to {positions.max()}")
    return torch.as_tensor(positions.astype(np.int64))


def _gather_ranges(ptr: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The element indices of slices ``positions`` of ``ptr``, concatenated, and the new slice pointer."""
    starts = ptr[positions]
    counts = ptr[positions + 1] - starts
    new_ptr = torch.zeros(len(positions) + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=new_ptr[1:])
    total = int(new_ptr[-1])
    shift = torch.repeat_interleave(starts - new_ptr[:-1], counts, output_size=total)
    return torch.arange(total) + shift, new_ptr


@dataclass(frozen=True)
class CollatedGraphs:
    """CGs in PyG's collated layout: concatenated nodes, per-graph-local edges, and slice pointers.

    Get one from :meth:`CGDataset.collated`; :meth:`select` and :meth:`concat` make others and
    :meth:`batch` turns any of them into a PyG ``Batch``. ``y`` is the dataset's target per graph
    (in ``CGDataset.target_unit``; NaN where missing).
    """

    op: torch.Tensor  # (N,) long
    x: torch.Tensor  # (N, F) float
    edge_index: torch.Tensor  # (2, E) long, node indices local to each graph
    node_ptr: torch.Tensor  # (G + 1,) long
    edge_ptr: torch.Tensor  # (G + 1,) long
    flops: torch.Tensor  # (G,)
    y: torch.Tensor  # (G,) float, the target

    def __len__(self) -> int:
        return len(self.node_ptr) - 1

    def select(self, positions: torch.Tensor | np.ndarray | Sequence[int]) -> CollatedGraphs:
        """The graphs at ``positions``, in that order, as a new collated set."""
        positions = _row_positions(positions, len(self))
        nodes, node_ptr = _gather_ranges(self.node_ptr, positions)
        edges, edge_ptr = _gather_ranges(self.edge_ptr, positions)
        return CollatedGraphs(op=self.op[nodes], x=self.x[nodes], edge_index=self.edge_index[:, edges],
                              node_ptr=node_ptr, edge_ptr=edge_ptr, flops=self.flops[positions], y=self.y[positions])

    @staticmethod
    def concat(parts: Sequence[CollatedGraphs]) -> CollatedGraphs:
        """The graphs of ``parts``, one set after the other."""
        if not parts:
            raise ValueError("concat needs at least one collated set")

        def joined_ptr(ptrs: list[torch.Tensor]) -> torch.Tensor:
            offsets = torch.tensor([0, *(int(p[-1]) for p in ptrs)]).cumsum(0)
            return torch.cat([ptrs[0][:1], *(p[1:] + offsets[i] for i, p in enumerate(ptrs))])

        return CollatedGraphs(op=torch.cat([p.op for p in parts]), x=torch.cat([p.x for p in parts]),
                              edge_index=torch.cat([p.edge_index for p in parts], dim=1),
                              node_ptr=joined_ptr([p.node_ptr for p in parts]),
                              edge_ptr=joined_ptr([p.edge_ptr for p in parts]),
                              flops=torch.cat([p.flops for p in parts]), y=torch.cat([p.y for p in parts]))

    def batch(self, positions: torch.Tensor | np.ndarray | Sequence[int] | None = None) -> Batch:
        """A PyG ``Batch`` (``op``, ``x``, ``edge_index``, ``batch``, ``ptr``, ``flops``, ``y``) of the graphs at ``positions``."""
        graphs = self if positions is None else self.select(positions)
        node_counts = graphs.node_ptr.diff()
        edge_offsets = torch.repeat_interleave(graphs.node_ptr[:-1], graphs.edge_ptr.diff(),
                                               output_size=graphs.edge_index.shape[1])
        return Batch(op=graphs.op, x=graphs.x, edge_index=graphs.edge_index + edge_offsets,
                     batch=torch.repeat_interleave(torch.arange(len(graphs)), node_counts, output_size=len(graphs.op)),
                     ptr=graphs.node_ptr, flops=graphs.flops, y=graphs.y)

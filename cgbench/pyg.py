"""The PyTorch Geometric view of a family: an ``InMemoryDataset`` built straight from CSR.

Processing never creates one ``Data`` object per graph unless a ``pre_transform`` asks for it:
the stored CSR arrays already are PyG's collated layout (concatenated nodes and edges with
per-graph slices), so they are turned into tensors and saved once. Later loads memory-map
that file.

Per graph: ``op`` (long, node op ids), ``x`` (float, ``cgbench.graph.features.NODE_FEATURE_NAMES``),
``edge_index`` (producer -> consumer), ``y`` (the target, NaN where missing or unlabelled), ``flops``,
``params`` and ``idx`` (the row in the family).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from .graph.features import node_features


class CGDataset(InMemoryDataset):
    def __init__(self, family, target: str | None = None, transform=None, pre_transform=None) -> None:
        self.family = family
        self.target = target or family.default_target
        if self.target is not None:
            family.labels(self.target)  # an unknown target fails here, with the family's list
        super().__init__(str(Path(family.folder) / "pyg"), transform, pre_transform, log=False)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> list[str]:
        return []

    @property
    def processed_file_names(self) -> list[str]:
        key = f"{self.family.data_sha256}|{self.target}|{self.pre_transform!r}"
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", self.target or "unlabelled")
        return [f"{tag}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"]

    def download(self) -> None:  # the family folder holds the data already
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
        data, slices = self._collated()
        if self.pre_transform is not None:
            self._data, self.slices, self._data_list = data, slices, None
            self.save([self.pre_transform(self.get(i)) for i in range(len(self))], self.processed_paths[0])
            return
        del data.num_nodes
        torch.save((data.to_dict(), slices, Data), self.processed_paths[0])

    def load(self, path: str, data_cls=Data) -> None:
        out = torch.load(path, mmap=True, weights_only=False)
        data, self.slices = out[0], out[1]
        self._data = data_cls.from_dict(data) if isinstance(data, dict) else data

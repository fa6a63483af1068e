"""Simple reference predictors: the FLOPs and parameter-count rules, and a plain GIN regressor.

``flops`` and ``params`` score an architecture by its column in the family table (larger
networks ranked higher); they learn nothing. ``gin`` is a plain graph isomorphism network on
the CGs with cgbench's default node features (an op embedding plus
``cgbench.graph.features.NODE_FEATURE_NAMES``), mean pooling (CG sizes range from a handful
to thousands of nodes across families, and sum pooling would rank by size) and MSE on
standardised targets. Its op embedding is :class:`baselines.op_embedding.OpEmbedding`: an op the
training CGs never showed is represented by its op group and window (trained), not a random row.

``gin``'s ``fine_tune`` (few-shot track) continues from the fitted weights: the target
standardisation is refitted on the new rows, and the whole network is trained on them for
``fine_tune_epochs`` epochs at ``fine_tune_lr`` in batches of ``fine_tune_batch_size``
(defaults 100, 1e-3, 25: GENNAPE's fine-tuning length, at the learning rate that moves a model
in a few hundred steps; a refit from scratch on 50 rows gets about ten steps in the quick protocol).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINConv, global_mean_pool
from tqdm.auto import tqdm

from cgbench.dataset import Family
from cgbench.graph.features import NODE_FEATURE_NAMES

from .graph_rows import INFERENCE_BATCH, family_graphs, labelled_graphs, minibatches
from .op_embedding import OpEmbedding
from .predictor import Predictor, TrainingSet, register_predictor


class _ColumnRule(Predictor):
    """Predicts a column of the family table; ``fit`` has nothing to learn."""

    column: str
    prediction_scale = "rank"  # a rule: only the order of its scores counts

    def fit(self, data: list[TrainingSet], seed: int) -> None:
        return None

    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"indices must be a 1-D integer array, got dtype {indices.dtype} and shape {indices.shape}")
        values = np.asarray(family.table.column(self.column).to_numpy(zero_copy_only=False), np.float64)
        return values[indices]


@register_predictor
class FlopsPredictor(_ColumnRule):
    name = "flops"
    description = "FLOPs of the network (more compute ranked higher); no training"
    column = "flops"


@register_predictor
class ParamsPredictor(_ColumnRule):
    name = "params"
    description = "parameter count of the network (larger ranked higher); no training"
    column = "params"


class GINRegressor(nn.Module):
    def __init__(self, hidden: int = 32, n_layers: int = 4) -> None:
        super().__init__()
        self.op = OpEmbedding(hidden)
        self.features = nn.Linear(len(NODE_FEATURE_NAMES), hidden)
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)), train_eps=True)
            for _ in range(n_layers)
        )
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, batch: Batch) -> torch.Tensor:
        h = self.op(batch.op, batch.x) + self.features(batch.x)
        for conv in self.convs:
            h = F.relu(conv(h, batch.edge_index))
        return self.readout(global_mean_pool(h, batch.batch, size=batch.num_graphs)).squeeze(1)


@register_predictor
class GINPredictor(Predictor):
    name = "gin"
    description = "plain GIN regressor on CGs (op embedding + default node features, mean pooling, MSE)"

    def __init__(self, hidden: int = 32, n_layers: int = 4, epochs: int = 20, lr: float = 1e-3,
                 batch_size: int = 64, fine_tune_epochs: int = 100, fine_tune_lr: float = 1e-3,
                 fine_tune_batch_size: int = 25, device: str | torch.device | None = None,
                 progress: bool = False) -> None:
        self.hidden, self.n_layers = hidden, n_layers
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.fine_tune_epochs, self.fine_tune_lr = fine_tune_epochs, fine_tune_lr
        self.fine_tune_batch_size = fine_tune_batch_size
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.progress = progress
        self._model: GINRegressor | None = None
        self._mean = self._std = 0.0

    def fit(self, data: list[TrainingSet], seed: int) -> None:
        torch.manual_seed(seed)
        self._model = GINRegressor(self.hidden, self.n_layers).to(self.device)
        self._train(data, seed, self.epochs, self.lr, self.batch_size)

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        if self._model is None:
            raise RuntimeError("GIN fine_tune needs a fitted model; call fit() first")
        self._train([data], seed, self.fine_tune_epochs, self.fine_tune_lr, self.fine_tune_batch_size)

    def _train(self, data: list[TrainingSet], seed: int, epochs: int, lr: float, batch_size: int) -> None:
        """Standardise the labels of ``data`` and train the current model on them (MSE, Adam)."""
        graphs, labels = labelled_graphs(data, minimum=2, who="GIN")
        if not labels.std() > 0:
            raise ValueError(f"GIN needs labelled rows with different labels; all {len(labels)} are {labels[0]}")
        self._mean, self._std = float(labels.mean()), float(labels.std())
        targets = torch.tensor((labels - self._mean) / self._std, dtype=torch.float32)
        self._model.op.mark_seen(graphs.op)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self._model.parameters(), lr=lr)
        self._model.train()
        for _ in tqdm(range(epochs), desc="GIN", disable=not self.progress):
            for positions in minibatches(len(graphs), batch_size, generator):
                loss = F.mse_loss(self._model(graphs.batch(positions).to(self.device)),
                                  targets[positions].to(self.device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    @torch.no_grad()
    def predict(self, family: Family, indices: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("this GIN predictor is not fitted yet; call fit() first")
        self._model.eval()
        graphs = family_graphs(family, indices)
        out = [self._model(graphs.batch(positions).to(self.device)).cpu()
               for positions in minibatches(len(graphs), INFERENCE_BATCH)]
        standardised = torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)
        return standardised * self._std + self._mean

    @property
    def n_parameters(self) -> int:
        return 0 if self._model is None else sum(p.numel() for p in self._model.parameters())

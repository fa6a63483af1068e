"""Simple reference predictors: the FLOPs and parameter-count rules, and a plain GIN regressor.

``flops`` and ``params`` score an architecture by its column in the family table (larger
networks ranked higher); they learn nothing. ``gin`` is a plain graph isomorphism network on
the CGs with cgbench's default node features (an op embedding plus
``cgbench.graph.features.NODE_FEATURE_NAMES``), mean pooling (CG sizes range from a handful
to thousands of nodes across families, and sum pooling would rank by size) and MSE on
standardised targets. Its op embedding is :class:`baselines.op_embedding.OpEmbedding`: an op the
training CGs never showed is represented by its op group and window (trained), not a random row.

``gin`` trains for at most ``max_steps`` Adam steps (or ``epochs`` passes when no step budget is
given) and keeps the step whose validation Spearman is best (``baselines.training``).

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
from cgbench.pyg import CollatedGraphs

from .graph_rows import INFERENCE_BATCH, family_graphs, labelled_graphs, minibatches
from .op_embedding import OpEmbedding
from .predictor import Predictor, TrainingSet
from .registry import register_predictor
from .training import Schedule, StepLog, module_states, restore_states, step_budget, train_steps, validation_spearman


class _ColumnRule(Predictor):
    """Predicts a column of the family table; ``fit`` has nothing to learn."""

    column: str
    prediction_scale = "rank"  # a rule: only the order of its scores counts

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
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
    description = ("plain GIN regressor on CGs (op embedding + default node features, mean pooling, MSE); "
                   "keeps the training step with the best validation Spearman")

    def __init__(self, hidden: int = 32, n_layers: int = 4, epochs: int | None = 20, max_steps: int | None = None,
                 lr: float = 1e-3, batch_size: int = 64, eval_every: int = 50, patience: int | None = None,
                 fine_tune_epochs: int = 100, fine_tune_lr: float = 1e-3, fine_tune_batch_size: int = 25,
                 device: str | torch.device | None = None, progress: bool = False) -> None:
        self.hidden, self.n_layers = hidden, n_layers
        self.epochs, self.max_steps, self.lr, self.batch_size = epochs, max_steps, lr, batch_size
        self.eval_every, self.patience = eval_every, patience
        self.fine_tune_epochs, self.fine_tune_lr = fine_tune_epochs, fine_tune_lr
        self.fine_tune_batch_size = fine_tune_batch_size
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.progress = progress
        self.on_evaluation = None  # called with the step at each validation (the convergence study sets it)
        self.step_log: StepLog | None = None
        self._model: GINRegressor | None = None
        self._mean = self._std = 0.0

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        torch.manual_seed(seed)
        self._model = GINRegressor(self.hidden, self.n_layers).to(self.device)
        graphs, targets = self._standardised(data)
        schedule = Schedule(step_budget(len(graphs), self.batch_size, self.epochs, self.max_steps), self.eval_every,
                            self.patience)
        evaluate = (lambda: validation_spearman(self.predict, valid)) if valid else None
        self.step_log = self._train(graphs, targets, seed, schedule, self.lr, self.batch_size, evaluate)

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        if self._model is None:
            raise RuntimeError("GIN fine_tune needs a fitted model; call fit() first")
        graphs, targets = self._standardised([data])
        schedule = Schedule(step_budget(len(graphs), self.fine_tune_batch_size, self.fine_tune_epochs, None))
        self._train(graphs, targets, seed, schedule, self.fine_tune_lr, self.fine_tune_batch_size, None)

    def _standardised(self, data: list[TrainingSet]) -> tuple[CollatedGraphs, torch.Tensor]:
        """The labelled rows of ``data`` and their labels standardised (the standardisation is kept)."""
        graphs, labels = labelled_graphs(data, minimum=2, who="GIN")
        if not labels.std() > 0:
            raise ValueError(f"GIN needs labelled rows with different labels; all {len(labels)} are {labels[0]}")
        self._mean, self._std = float(labels.mean()), float(labels.std())
        self._model.op.mark_seen(graphs.op)
        return graphs, torch.tensor((labels - self._mean) / self._std, dtype=torch.float32)

    def _train(self, graphs: CollatedGraphs, targets: torch.Tensor, seed: int, schedule: Schedule, lr: float,
               batch_size: int, evaluate) -> StepLog:
        """Train the current model with MSE and Adam, keeping the best-validated step when ``evaluate`` is given."""
        torch.manual_seed(seed)
        optimizer = torch.optim.Adam(self._model.parameters(), lr=lr)

        def step(positions: torch.Tensor) -> None:
            self._model.train()
            loss = F.mse_loss(self._model(graphs.batch(positions).to(self.device)), targets[positions].to(self.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        with tqdm(total=schedule.max_steps, desc="GIN steps", disable=not self.progress) as bar:
            return train_steps(lambda p: (step(p), bar.update()), len(graphs), batch_size, schedule,
                               torch.Generator().manual_seed(seed), evaluate=evaluate,
                               snapshot=module_states([self._model]), restore=restore_states([self._model]),
                               on_evaluation=self.on_evaluation)

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

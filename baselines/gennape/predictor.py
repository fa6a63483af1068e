"""The registered ``gennape`` predictor: contrastive encoder, fuzzy clusters, weighted MLP heads.

Pipeline of :meth:`GennapePredictor.fit` (GENNAPE, Mills et al., AAAI-23):

1. **Encoder.** GENNAPE's node embedding + 6 x GraphConv(32, 32) with tanh + mean pooling
   (``encoder.py``), pretrained with NT-Xent over resolution views of the training CGs
   (``pretrain.py``).
2. **Fuzzy clusters.** Fuzzy c-means (``fuzzy.py``) on the L2-normalised embeddings of the
   pretrained encoder (normalised because NT-Xent shapes the cosine geometry). A frozen copy of
   that encoder plus the centres give every CG, seen or unseen, its memberships ``u``.
3. **Heads.** ``n_clusters`` MLPs; the prediction is ``sum_k u_k * head_k(embedding)``. The
   heads and the (pretrained) encoder are trained together with MSE on the transformed target;
   memberships stay fixed (frozen clustering encoder) so that each head keeps its region of
   architecture space while the regression encoder adapts. Adam, gradient clipping at 5
   (GENNAPE's demo).
4. **Target transform (FLOPs).** GENNAPE's authors divide accuracy by a log-FLOPs factor and
   standardise: ``t = (acc / (log10(G + 1) + 1) - mu) / sigma``, ``mu, sigma`` over the
   training rows. Its inverse, ``(p * sigma + mu) * (log10(G + 1) + 1)``, turns head outputs
   back into accuracies, so rankings reflect both the network and its FLOPs. The transform is
   scale-free in the accuracy: accuracy in % or as a fraction gives the same ``t``.

   **Units of G.** The public code with this transform is AIO-P's (GENNAPE's successor, same
   pipeline; the GENNAPE repository has no target transform, see
   ``../shared/docs/GENNAPE_CG_AND_FAMILIES.md`` 1.9): ``MultiTaskNormalizer`` with
   ``tar_norm=stand_flops`` computes ``np.log10(flops + 1) + 1`` on the FLOPs its data manager
   hands over, which ``check_flops`` converts to giga-units (values above 1e6 are divided by
   1e9), and its own counter (``tf_comp_graph_flops_counter``, called with ``div=1e9``) counts a
   multiply-add once. cgbench's ``flops`` count a multiply-add twice (torch's counter), so
   ``G = flops / 2e9``, giga multiply-adds: the unit the factor was designed on. (The factor is
   not scale-free: with ``flops / 1e9`` it would be a little larger for every network.)

   ``flops_transform=False`` (registered as ``gennape_notf``) standardises the accuracy alone,
   ``t = (acc - mu) / sigma``. The transform is what breaks zero-shot transfer (measured):
   on NB-101 the transformed target has Spearman -0.90 to -0.93 with FLOPs on each seed's training
   rows, so the heads learn "bigger is worse", and the factor spans 1.02-1.74 there but only
   1.003-1.086 on NB-201, so inverting it on NB-201 cannot undo that: the heads' part of a
   prediction varies 2-3 times as much as the factor's (``benchmarks/gennape_zero_shot_diagnosis.py``). ``gennape_head`` reports the heads' own output ``p`` (before the
   inverse), so the share of a ranking that the FLOPs factor contributes is visible.

**Zero-shot uses no statistic of the scored family's labels.** The target transform's mean and
spread come from the training rows, and a zero-shot prediction inverts the transform fitted there.
One public re-implementation does otherwise: AIO-P's cross-family runner
(Ascend-Research/AIO-P, ``run_gpi_acc_predictor.py``) fits the normaliser of a family it has no
fine-tuning rows for on that family's *test* labels (``norm_data = fine_tune_data if size > 0 else
foreign_test_data``) and inverts its predictions with it. Under the FLOPs transform that changes
the ranking, not only the scale (``(p * sigma + mu) * factor`` orders rows by ``mu / sigma`` as well),
so its zero-shot numbers are not comparable to cgbench's.

**Training length.** The supervised stage runs for at most ``max_steps`` Adam steps (or ``epochs``
passes) and keeps the step whose validation Spearman is best (``baselines.training``); contrastive
pretraining has no labels to validate on and runs its ``pretrain_steps`` (or ``pretrain_epochs``).

Fine-tuning (few-shot track) starts from the fitted state: the standardisation is refitted
on the new rows (as the authors' normaliser is for each test family), the clusters are kept,
and encoder plus heads are trained with Adam lr 1e-4 and MSE (GENNAPE: batch 1, 100 epochs).

Choices the paper leaves open, made here: the contrastive loss, views and temperature (see
``pretrain.py``); 4 clusters (enough for distinct regions, few enough that each head sees
hundreds of CGs at 1-2k training rows); fuzzifier m = 2 (Bezdek's usual value); heads
Linear(32, 32)-ReLU-Linear(32, 32)-ReLU-Linear(32, 1); training the encoder jointly with the
heads; rows with a missing label are skipped.

CPU-friendly defaults: 3 contrastive and 15 supervised epochs at lr 2e-3 in batches of 64 (on
1,000 nb201 rows: held-out Spearman 0.87, against 0.88 with 5 + 25 epochs at lr 1e-3), and
fine-tuning for 100 epochs at lr 1e-3 in batches of 25 (GENNAPE's lr 1e-4 suits its
5,000 batch-1 steps; in 100-200 batch-25 steps it barely moves the model: measured 50-shot
NB-201 Spearman 0.25 at 1e-4 against 0.85 at 1e-3, 3,000 test rows, seed 0). ``paper_scale=True`` uses
GENNAPE's settings instead: 40 epochs of each at lr 1e-4 with batch 32, fine-tuning in batch 1.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from cgbench.dataset import Family
from cgbench.pyg import CollatedGraphs

from ..graph_rows import INFERENCE_BATCH, family_graphs, labelled_graphs, minibatches
from ..predictor import Predictor, TrainingSet
from ..registry import register_predictor
from ..training import Schedule, StepLog, module_states, restore_states, step_budget, train_steps, validation_spearman
from .encoder import EMBED_SIZE, KGNNEncoder
from .fuzzy import FuzzyClusters, fuzzy_cmeans
from .pretrain import pretrain_contrastive

GRADIENT_CLIP = 5.0
# GENNAPE's FLOPs factor takes giga multiply-adds; cgbench's flops count 2 per multiply-add.
FLOPS_PER_GIGA_MAC = 2e9


@dataclass(frozen=True)
class FlopsTargetTransform:
    """``t = (acc / (log10(GMACs + 1) + 1) - mean) / std`` and its inverse; ``use_flops=False``
    standardises the accuracy alone."""

    mean: float
    std: float
    use_flops: bool = True

    @staticmethod
    def flops_factor(flops: np.ndarray) -> np.ndarray:
        """``log10(G + 1) + 1`` with ``G`` in giga multiply-adds (cgbench counts 2 FLOPs per multiply-add)."""
        flops = np.asarray(flops, np.float64)
        if (flops < 0).any() or not np.isfinite(flops).all():
            raise ValueError("FLOPs must be finite and non-negative")
        return np.log10(flops / FLOPS_PER_GIGA_MAC + 1) + 1

    def _factor(self, flops: np.ndarray) -> np.ndarray:
        return self.flops_factor(flops) if self.use_flops else np.ones(np.shape(flops))

    @classmethod
    def fit(cls, accuracy: np.ndarray, flops: np.ndarray, use_flops: bool = True) -> FlopsTargetTransform:
        quotient = np.asarray(accuracy, np.float64) / cls(0.0, 1.0, use_flops)._factor(flops)
        std = float(quotient.std())
        if not std > 0:
            raise ValueError(f"cannot standardise {len(quotient)} labels that are all equal after the FLOPs quotient")
        return cls(float(quotient.mean()), std, use_flops)

    def forward(self, accuracy: np.ndarray, flops: np.ndarray) -> np.ndarray:
        return (np.asarray(accuracy, np.float64) / self._factor(flops) - self.mean) / self.std

    def inverse(self, transformed: np.ndarray, flops: np.ndarray) -> np.ndarray:
        return (np.asarray(transformed, np.float64) * self.std + self.mean) * self._factor(flops)


class MembershipEnsemble(nn.Module):
    """One MLP head per fuzzy cluster; the output is their membership-weighted sum."""

    def __init__(self, n_heads: int, size: int = EMBED_SIZE, hidden: int = EMBED_SIZE) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 1))
            for _ in range(n_heads)
        )

    def forward(self, embedding: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
        per_head = torch.cat([head(embedding) for head in self.heads], dim=1)
        return (per_head * membership).sum(dim=1)


@dataclass(frozen=True)
class GennapeSettings:
    """Budgets: ``max_steps`` / ``pretrain_steps`` when given, else ``epochs`` / ``pretrain_epochs`` passes.
    The supervised stage keeps the step with the best validation Spearman, checked every ``eval_every``
    steps and stopped after ``patience`` checks without improvement (None: never early)."""

    pretrain_epochs: int
    epochs: int
    lr: float
    batch_size: int
    fine_tune_epochs: int
    fine_tune_lr: float
    fine_tune_batch_size: int
    pretrain_steps: int | None = None
    max_steps: int | None = None
    eval_every: int = 50
    patience: int | None = None

    @classmethod
    def for_scale(cls, paper_scale: bool) -> GennapeSettings:
        if paper_scale:
            return cls(pretrain_epochs=40, epochs=40, lr=1e-4, batch_size=32,
                       fine_tune_epochs=100, fine_tune_lr=1e-4, fine_tune_batch_size=1)
        return cls(pretrain_epochs=3, epochs=15, lr=2e-3, batch_size=64,
                   fine_tune_epochs=100, fine_tune_lr=1e-3, fine_tune_batch_size=25)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@register_predictor
class GennapePredictor(Predictor):
    name = "gennape"
    description = ("GENNAPE (AAAI-23): k-GNN CG encoder pretrained contrastively, fuzzy c-means clusters, "
                   "membership-weighted MLP heads, FLOPs-based target transform")

    def __init__(self, paper_scale: bool = False, flops_transform: bool = True, n_clusters: int = 4,
                 fuzzifier: float = 2.0, n_layers: int = 6, temperature: float = 0.2,
                 device: str | torch.device | None = None, progress: bool = False, **overrides) -> None:
        settings = GennapeSettings.for_scale(paper_scale)
        unknown = set(overrides) - set(settings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown GENNAPE option(s) {sorted(unknown)}; "
                            f"known: {sorted(settings.__dataclass_fields__)}")
        self.settings = GennapeSettings(**{**settings.__dict__, **overrides})
        if n_clusters < 1:
            raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
        self.n_clusters, self.fuzzifier = n_clusters, fuzzifier
        self.flops_transform = flops_transform
        self.n_layers, self.temperature = n_layers, temperature
        self.device = torch.device(device) if device is not None else _default_device()
        self.progress = progress
        self.pretrain_losses: list[float] = []
        # Wall-clock seconds per optimizer step of the last run of each stage (benchmarks read these).
        self.seconds_per_step: dict[str, float] = {}
        self.on_evaluation = None  # called with the step at each validation (the convergence study sets it)
        self.step_log: StepLog | None = None
        self._encoder: KGNNEncoder | None = None
        self._cluster_encoder: KGNNEncoder | None = None
        self._clusters: FuzzyClusters | None = None
        self._heads: MembershipEnsemble | None = None
        self._transform: FlopsTargetTransform | None = None

    # ---- fitting -------------------------------------------------------------------------

    def fit(self, data: list[TrainingSet], seed: int, valid: list[TrainingSet] | None = None) -> None:
        if not data:
            raise ValueError("fit needs at least one TrainingSet")
        graphs, labels = labelled_graphs(data, minimum=2, who="GENNAPE")
        torch.manual_seed(seed)
        encoder = KGNNEncoder(EMBED_SIZE, self.n_layers).to(self.device)
        encoder.embed.mark_seen(graphs.op)
        settings = self.settings
        start = time.perf_counter()
        steps = step_budget(len(graphs), settings.batch_size, settings.pretrain_epochs, settings.pretrain_steps)
        self.pretrain_losses = pretrain_contrastive(
            encoder, graphs, steps=steps, batch_size=settings.batch_size, lr=settings.lr,
            temperature=self.temperature, seed=seed, device=self.device, progress=self.progress)
        self.seconds_per_step["contrastive"] = (time.perf_counter() - start) / max(steps, 1)
        self._cluster_encoder = copy.deepcopy(encoder).eval().requires_grad_(False)
        embeddings = self._embeddings(self._cluster_encoder, graphs)
        self._clusters = fuzzy_cmeans(embeddings, min(self.n_clusters, len(graphs)), self.fuzzifier, seed=seed)
        self._encoder = encoder
        self._heads = MembershipEnsemble(self._clusters.centers.shape[0]).to(self.device)
        self._transform = FlopsTargetTransform.fit(labels, graphs.flops.numpy(), self.flops_transform)
        schedule = Schedule(step_budget(len(graphs), settings.batch_size, settings.epochs, settings.max_steps),
                            settings.eval_every, settings.patience)
        evaluate = (lambda: validation_spearman(self.predict, valid)) if valid else None
        self.step_log = self._train(graphs, labels, schedule, settings.lr, settings.batch_size, seed,
                                    stage="supervised", evaluate=evaluate)

    def fine_tune(self, data: TrainingSet, seed: int) -> None:
        self._require_fitted()
        graphs, labels = labelled_graphs([data], minimum=2, who="GENNAPE")
        self._transform = FlopsTargetTransform.fit(labels, graphs.flops.numpy(), self.flops_transform)
        self._encoder.embed.mark_seen(graphs.op)
        settings = self.settings
        schedule = Schedule(step_budget(len(graphs), settings.fine_tune_batch_size, settings.fine_tune_epochs, None))
        self._train(graphs, labels, schedule, settings.fine_tune_lr, settings.fine_tune_batch_size, seed,
                    stage="fine_tune")

    def _train(self, graphs: CollatedGraphs, labels: np.ndarray, schedule: Schedule, lr: float, batch_size: int,
               seed: int, stage: str, evaluate=None) -> StepLog:
        targets = torch.tensor(self._transform.forward(labels, graphs.flops.numpy()), dtype=torch.float32)
        memberships = torch.tensor(self._clusters.membership(self._embeddings(self._cluster_encoder, graphs)),
                                   dtype=torch.float32)
        torch.manual_seed(seed)
        parameters = [*self._encoder.parameters(), *self._heads.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=lr)

        def step(positions: torch.Tensor) -> None:
            self._encoder.train()
            self._heads.train()
            batch = graphs.batch(positions).to(self.device)
            prediction = self._heads(self._encoder(batch), memberships[positions].to(self.device))
            loss = F.mse_loss(prediction, targets[positions].to(self.device))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, GRADIENT_CLIP)
            optimizer.step()
            bar.update()

        modules = (self._encoder, self._heads)
        start = time.perf_counter()
        with tqdm(total=schedule.max_steps, desc=f"GENNAPE {stage}", disable=not self.progress) as bar:
            log = train_steps(step, len(graphs), batch_size, schedule, torch.Generator().manual_seed(seed),
                              evaluate=evaluate, snapshot=module_states(modules), restore=restore_states(modules),
                              on_evaluation=self.on_evaluation if evaluate else None)
        self.seconds_per_step[stage] = (time.perf_counter() - start) / max(log.steps_taken, 1)
        return log

    # ---- inference -----------------------------------------------------------------------

    @torch.no_grad()
    def _embeddings(self, encoder: KGNNEncoder, graphs: CollatedGraphs) -> np.ndarray:
        """L2-normalised embeddings, the space the fuzzy clusters live in."""
        encoder.eval()
        out = [F.normalize(encoder(graphs.batch(positions).to(self.device)), dim=1).cpu()
               for positions in minibatches(len(graphs), INFERENCE_BATCH)]
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, encoder.size))

    @torch.no_grad()
    def _transformed_predictions(self, graphs: CollatedGraphs) -> np.ndarray:
        memberships = torch.tensor(self._clusters.membership(self._embeddings(self._cluster_encoder, graphs)),
                                   dtype=torch.float32)
        self._encoder.eval()
        self._heads.eval()
        out = [self._heads(self._encoder(graphs.batch(positions).to(self.device)),
                           memberships[positions].to(self.device)).cpu()
               for positions in minibatches(len(graphs), INFERENCE_BATCH)]
        return torch.cat(out).numpy().astype(np.float64)

    def predict(self, family: Family, indices: np.ndarray, head_only: bool = False) -> np.ndarray:
        """Predicted accuracies of rows ``indices``; ``head_only``: the heads' standardised output
        before the target transform is inverted (for ``gennape`` that leaves the FLOPs factor out)."""
        self._require_fitted()
        graphs = family_graphs(family, indices)
        if not len(graphs):
            return np.zeros(0)
        head = self._transformed_predictions(graphs)
        return head if head_only else self._transform.inverse(head, graphs.flops.numpy())

    def memberships(self, family: Family, indices: np.ndarray) -> np.ndarray:
        """Fuzzy memberships (rows, n_clusters) of rows ``indices``: how much each head counts."""
        self._require_fitted()
        return self._clusters.membership(self._embeddings(self._cluster_encoder, family_graphs(family, indices)))

    def _require_fitted(self) -> None:
        if self._encoder is None:
            raise RuntimeError("this GENNAPE predictor is not fitted yet; call fit() first")

    @property
    def n_parameters(self) -> int:
        if self._encoder is None:
            return 0
        modules = (self._encoder, self._cluster_encoder, self._heads)
        return sum(p.numel() for m in modules for p in m.parameters()) + self._clusters.centers.size


@register_predictor
class GennapeNoTransformPredictor(GennapePredictor):
    name = "gennape_notf"
    description = ("GENNAPE without the FLOPs target transform: the heads regress the standardised accuracy "
                   "(encoder, clusters and heads as gennape)")

    def __init__(self, **options) -> None:
        super().__init__(flops_transform=False, **options)


@register_predictor
class GennapeHeadPredictor(GennapePredictor):
    name = "gennape_head"
    description = ("gennape's supervised heads alone: their output before the FLOPs transform is inverted, "
                   "so the FLOPs factor's share of gennape's ranking is visible")

    def predict(self, family: Family, indices: np.ndarray, head_only: bool = True) -> np.ndarray:
        return super().predict(family, indices, head_only=head_only)

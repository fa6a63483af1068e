"""GENNAPE (Mills et al., AAAI-23): a generalised performance predictor over computation graphs.

``encoder`` (node embedding + k-GNN), ``pretrain`` (contrastive pretraining), ``fuzzy`` (fuzzy
c-means) and ``predictor`` (heads, ensemble, FLOPs target transform, the registered
``gennape`` predictor).
"""

from .fuzzy import FuzzyClusters, fuzzy_cmeans
from .predictor import FlopsTargetTransform, GennapePredictor

__all__ = ["FlopsTargetTransform", "FuzzyClusters", "GennapePredictor", "fuzzy_cmeans"]

"""GENNAPE (Mills et al., AAAI-23): a generalised performance predictor over computation graphs.

``encoder`` (node embedding + k-GNN), ``pretrain`` (contrastive pretraining), ``fuzzy`` (fuzzy
c-means) and ``predictor`` (heads, ensemble, FLOPs target transform, the registered
``gennape``, ``gennape_notf`` and ``gennape_head`` predictors).
"""

from .fuzzy import FuzzyClusters, fuzzy_cmeans
from .predictor import (FlopsTargetTransform, GennapeHeadPredictor, GennapeNoTransformPredictor,
                        GennapePredictor)

__all__ = ["FlopsTargetTransform", "FuzzyClusters", "GennapeHeadPredictor", "GennapeNoTransformPredictor",
           "GennapePredictor", "fuzzy_cmeans"]

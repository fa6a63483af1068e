"""GRAF-style baseline (Kadlecová et al., ICML 2024): CG graph features and gradient-boosted trees.

``features`` computes the features for many CGs at once; ``predictor`` registers ``graf``;
``anchored`` registers ``graf_anchored`` (the FLOPs ranking plus a residual shrunk by inner
leave-one-family-out).
"""

from .anchored import AnchoredGrafPredictor
from .features import FEATURE_NAMES, graf_features
from .predictor import GrafPredictor

__all__ = ["FEATURE_NAMES", "AnchoredGrafPredictor", "GrafPredictor", "graf_features"]

"""GRAF-style baseline (Kadlecová et al., ICML 2024): CG graph features and gradient-boosted trees.

``features`` computes the features for many CGs at once; ``predictor`` registers ``graf``.
"""

from .features import FEATURE_NAMES, graf_features
from .predictor import GrafPredictor

__all__ = ["FEATURE_NAMES", "GrafPredictor", "graf_features"]

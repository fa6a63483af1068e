"""cgbench: neural-architecture performance prediction on unified computation graphs.

The names below are imported on first use (PEP 562), so ``import cgbench`` (and the ``cgbench``
command's parser) loads neither torch nor pyarrow until a family or the Evaluator is needed.
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "Evaluator": "cgbench.evaluation", "InvalidPredictionsError": "cgbench.evaluation",
    "Family": "cgbench.dataset", "build_family": "cgbench.dataset", "load_family": "cgbench.dataset",
    "list_families": "cgbench.families",
}

__all__ = ["Evaluator", "Family", "InvalidPredictionsError", "__version__", "build_family", "list_families",
           "load_family"]


__getattr__ = lazy_exports(__name__, _LAZY)

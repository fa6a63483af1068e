"""cgbench: neural-architecture performance prediction on unified computation graphs."""

__version__ = "0.1.0"

from .dataset import Family, build_family, load_family  # noqa: E402
from .evaluation import Evaluator, InvalidPredictionsError  # noqa: E402
from .families import list_families  # noqa: E402

__all__ = ["Evaluator", "Family", "InvalidPredictionsError", "__version__", "build_family", "list_families",
           "load_family"]

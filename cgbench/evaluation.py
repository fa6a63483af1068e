"""The Evaluator: one strict entry point from predictions to metrics, OGB style.

Predictions come as a dict ``{arch_id: score}``, the columns ``{"arch_id": [...], "y_pred":
[...]}``, a pandas Series indexed by arch_id, or an array in the order of ``Evaluator.arch_ids``:
a list, a NumPy array, a torch tensor (on any device; torch is not imported for this), or a pandas
Series with the default index 0..n-1. Anything else, or anything malformed, is an
:class:`InvalidPredictionsError` that says what was expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import InvalidInputError, UnknownNameError
from .metrics import BEYOND_FLOPS_METRICS, bootstrap_ci, standard_metrics
from .splits import PARTS


class InvalidPredictionsError(InvalidInputError):
    """Predictions that do not match what ``Evaluator.expected_input_format`` asks for."""


def _examples(values: Sequence) -> str:
    """Up to three of ``values``, each shortened: a message stays one readable line."""
    return "[" + ", ".join(repr(v)[:60] for v in values[:3]) + "]"


def _is_torch_tensor(value: object) -> bool:
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _is_pandas_series(value: object) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and type(value).__name__ == "Series"


class Evaluator:
    """Scores predictions for one family, split and part against a label column, OGB style.

    ``family`` is a name or a loaded :class:`~cgbench.dataset.Family`; ``split`` one of its stored
    splits, ``part`` "train", "valid" or "test", ``target`` any label column of the family (default:
    the family's default target). Rows of the part that the target does not label (a family whose
    targets cover different rows, e.g. accuracy on some subnets and latency on others) are left out:
    ``arch_ids`` and ``indices`` (rows of the family) list the scored ones, ``n_unlabelled`` counts
    those left out, and ``expected_input_format`` says what :meth:`eval` takes. The top-k metrics
    select the best architectures in the target's direction (``higher_is_better``: False for
    latency); predictions are always of the target itself.

    >>> evaluator = Evaluator("nb201", split="random", part="test")
    >>> rows = evaluator.indices                            # the family rows it scores
    >>> scores = evaluator.family.table.column("params").to_numpy()[rows]  # any predictor's scores
    >>> evaluator.eval(scores)["spearman"]
    """

    def __init__(self, family, split: str = "random", part: str = "test", target: str | None = None,
                 ks: tuple[int, ...] = (10, 50)) -> None:
        if isinstance(family, str):
            from .dataset import load_family

            family = load_family(family)
        self.family = family
        self.split, self.part = split, part
        self.target = target or family.default_target
        if part not in PARTS:
            raise UnknownNameError(f"unknown part {part!r} of a split; parts: {', '.join(PARTS)}")
        self.higher_is_better = family.higher_is_better(self.target)
        idx = family.split_parts(split, self.target)[part]
        labels = family.labels(self.target)[idx]
        keep = ~np.isnan(labels)
        self.n_unlabelled = int(len(idx) - keep.sum())
        if not keep.any():
            raise InvalidInputError(f"no row of {family.name} {split}/{part} carries target {self.target!r} "
                             f"({len(idx)} rows, none labelled); targets of {family.name}: {family.targets}")
        self.indices = idx[keep]
        self.y_true = labels[keep]
        all_ids = family.arch_ids
        self.arch_ids = [all_ids[i] for i in self.indices]
        # A family may list one architecture in several rows (NASLib's NB-101 keys isomorphic
        # cells separately, each with its own run): one prediction per arch_id scores all its rows.
        self._rows: dict[str, list[int]] = {}
        for i, a in enumerate(self.arch_ids):
            self._rows.setdefault(a, []).append(i)
        # A top-k metric of a part with k rows or fewer says nothing (every row is in the top k): left out.
        self.metrics = standard_metrics(tuple(k for k in ks if k < len(self.y_true)), self.higher_is_better)
        self.flops = np.asarray(family.table.column("flops").to_numpy(), np.float64)[self.indices]

    def __repr__(self) -> str:
        return (f"Evaluator({self.family.name!r}, split={self.split!r}, part={self.part!r}, target={self.target!r}, "
                f"n={len(self.arch_ids)}, metrics={list(self.metrics)})")

    @property
    def expected_input_format(self) -> str:
        """What :meth:`eval` accepts, in words, with this evaluator's sizes and target."""
        n, n_ids = len(self.arch_ids), len(self._rows)
        direction = ("larger means better" if self.higher_is_better else
                     "smaller means better (the top-k metrics pick the architectures with the smallest predictions)")
        return (
            f"==== Expected input format of Evaluator for {self.family.name} "
            f"(split {self.split!r}, part {self.part!r}, target {self.target!r})\n"
            f"Evaluated rows: the {n} rows of {self.split}/{self.part} that carry {self.target} "
            f"({self.n_unlabelled} rows without it are left out).\n"
            f"One of: a dict {{arch_id: predicted score}} with exactly the {n_ids} distinct arch_ids of "
            "Evaluator.arch_ids (each once, no others); the columns {'arch_id': [...], 'y_pred': [...]} "
            "or a pandas Series indexed by arch_id, with the same ids, none repeated; or a 1-D list, NumPy "
            f"array, torch tensor or default-indexed pandas Series of length {n} in the order of "
            "Evaluator.arch_ids (one entry per row; an architecture listed in several rows "
            f"is scored on each). Scores must be finite real numbers, predictions of {self.target} itself "
            f"(Spearman, Kendall, MAE and MAPE compare them with it); {direction}."
        )

    def _from_columns(self, arch_ids, scores) -> np.ndarray:
        if not isinstance(arch_ids, (Sequence, np.ndarray)) or not isinstance(scores, (Sequence, np.ndarray)) \
                or isinstance(arch_ids, (str, bytes)) or isinstance(scores, (str, bytes)):
            raise InvalidPredictionsError(
                f"'arch_id' and 'y_pred' must be lists, got {type(arch_ids).__name__} and {type(scores).__name__}\n"
                f"{self.expected_input_format}")
        arch_ids, scores = list(arch_ids), list(scores)
        not_strings = [a for a in arch_ids if not isinstance(a, str)]
        if not_strings:
            raise InvalidPredictionsError(
                f"arch_ids are strings; got {not_strings[0]!r} ({type(not_strings[0]).__name__})\n"
                f"{self.expected_input_format}")
        if len(arch_ids) != len(scores):
            raise InvalidPredictionsError(
                f"'arch_id' has {len(arch_ids)} entries but 'y_pred' has {len(scores)}\n{self.expected_input_format}")
        seen: set = set()
        duplicated = [a for a in arch_ids if a in seen or seen.add(a)]
        if duplicated:
            raise InvalidPredictionsError(
                f"{len(duplicated)} arch_id(s) appear more than once, e.g. {_examples(duplicated)}\n"
                f"{self.expected_input_format}")
        return self._from_mapping(dict(zip(arch_ids, scores)))

    def _from_mapping(self, predictions: Mapping) -> np.ndarray:
        if set(predictions) == {"arch_id", "y_pred"}:
            return self._from_columns(predictions["arch_id"], predictions["y_pred"])
        unknown = [a for a in predictions if a not in self._rows]
        if unknown:
            raise InvalidPredictionsError(
                f"{len(unknown)} arch_id(s) are not in {self.family.name} {self.split}/{self.part}, "
                f"e.g. {_examples(unknown)}\n{self.expected_input_format}")
        missing = [a for a in self._rows if a not in predictions]
        if missing:
            raise InvalidPredictionsError(
                f"{len(missing)} arch_id(s) have no prediction, e.g. {_examples(missing)}\n"
                f"{self.expected_input_format}")
        values = np.empty(len(self.arch_ids))
        for arch_id, score in predictions.items():
            values[self._rows[arch_id]] = self._number(score, arch_id)
        return values

    def _from_sequence(self, predictions) -> np.ndarray:
        try:
            array = np.asarray(predictions)
        except (ValueError, TypeError, OverflowError) as err:  # ragged nesting, values numpy cannot hold
            raise InvalidPredictionsError(f"predictions are not a 1-D array of numbers ({err})\n"
                                          f"{self.expected_input_format}") from None
        if array.ndim != 1:
            raise InvalidPredictionsError(f"predictions must be 1-D, got shape {array.shape}\n{self.expected_input_format}")
        if len(array) != len(self.arch_ids):
            raise InvalidPredictionsError(
                f"got {len(array)} predictions, expected {len(self.arch_ids)}\n{self.expected_input_format}")
        if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise InvalidPredictionsError(
                f"predictions must be real numbers, got dtype {array.dtype}\n{self.expected_input_format}")
        return array.astype(np.float64)

    def _number(self, score, arch_id: str) -> float:
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise InvalidPredictionsError(
                f"prediction for {arch_id!r} is {str(score)[:60]!r} ({type(score).__name__}), not a real number")
        try:
            return float(score)
        except OverflowError:
            return math.inf  # an integer beyond float's range: refused with the other non-finite values

    def _from_series(self, series) -> np.ndarray:
        """A Series indexed by arch_id is matched by its index; one with the default index 0..n-1 by position."""
        index = series.index
        if len(index) and all(isinstance(label, str) for label in index):
            if index.has_duplicates:
                duplicated = list(index[index.duplicated()])
                raise InvalidPredictionsError(f"{len(duplicated)} arch_id(s) appear more than once in the Series "
                                              f"index, e.g. {_examples(duplicated)}\n{self.expected_input_format}")
            return self._from_mapping(dict(zip(index, series.tolist())))
        if list(index) != list(range(len(series))):
            raise InvalidPredictionsError(
                "a pandas Series must be indexed by arch_id, or have the default index 0..n-1 and follow the order "
                f"of Evaluator.arch_ids; this one has the index {_examples(list(index))}... "
                f"(use .reset_index(drop=True) or index it by arch_id)\n{self.expected_input_format}")
        return self._from_sequence(series.to_numpy())

    def check(self, predictions) -> np.ndarray:
        """The predictions as a float array aligned with ``arch_ids``, or a clear error."""
        if _is_torch_tensor(predictions):
            predictions = predictions.detach().cpu().numpy()
        if _is_pandas_series(predictions):
            values = self._from_series(predictions)
        elif isinstance(predictions, Mapping):
            values = self._from_mapping(predictions)
        elif isinstance(predictions, (Sequence, np.ndarray)) and not isinstance(predictions, (str, bytes)):
            values = self._from_sequence(predictions)
        else:
            raise InvalidPredictionsError(
                f"cannot read predictions of type {type(predictions).__name__}\n{self.expected_input_format}")
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            examples = [self.arch_ids[i] for i in bad[:3]]
            raise InvalidPredictionsError(f"{len(bad)} prediction(s) are NaN or infinite, e.g. for "
                                          f"{_examples(examples)}\n{self.expected_input_format}")
        return values

    @property
    def metric_names(self) -> list[str]:
        """Every metric ``eval`` reports, in order (``n`` aside)."""
        return [*self.metrics, *BEYOND_FLOPS_METRICS]

    def eval(self, predictions, bootstrap: int = 0, metrics: Sequence[str] | None = None) -> dict[str, float]:
        """``n`` (the rows scored: those of the part that carry the target; ``self.n_unlabelled`` says
        how many were left out) and every metric (or those named in ``metrics``), with
        ``_ci_low``/``_ci_high`` if ``bootstrap`` > 0 resamples are asked for.

        ``predictions`` are of the target itself: a dict ``{arch_id: score}`` (the ids of
        ``arch_ids``), the columns ``{"arch_id": [...], "y_pred": [...]}``, a pandas Series, or a 1-D
        array or tensor aligned with ``arch_ids`` (:attr:`expected_input_format`); anything else raises
        :class:`InvalidPredictionsError` saying what is wrong and what was expected.

        Besides the rank and error metrics it reports the FLOPs ranking on the same rows
        (``flops_spearman``), the difference to it (``spearman_gain_over_flops``) and the partial
        Spearman given FLOPs (``spearman_beyond_flops``, :func:`cgbench.metrics.partial_spearman`):
        how much the prediction knows beyond FLOPs.
        """
        names = self.metric_names if metrics is None else list(metrics)
        unknown = [name for name in names if name not in self.metric_names]
        if unknown:
            raise UnknownNameError(f"unknown metric(s) {unknown}; the Evaluator reports {', '.join(self.metric_names)}")
        y_pred = self.check(predictions)
        result: dict[str, float] = {"n": len(y_pred)}
        for name in names:
            metric, arrays = ((self.metrics[name], (self.y_true, y_pred)) if name in self.metrics else
                              (BEYOND_FLOPS_METRICS[name], (self.y_true, y_pred, self.flops)))
            result[name] = metric(*arrays)
            if bootstrap:
                low, high = bootstrap_ci(metric, *arrays, n_resamples=bootstrap)
                result[f"{name}_ci_low"], result[f"{name}_ci_high"] = low, high
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else float("nan")) for k, v in result.items()}

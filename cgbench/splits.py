"""The standard splits, computed once at build time and stored with the family.

- ``random``: 80/10/10 over all architectures (seed 0).
- ``fewshot50``: GENNAPE's test-family protocol: sort by the default target (descending), permute
  with the seed, the first 50 are the fine-tuning set (``train``), the rest ``test``. Only labelled
  families have it. Its ``valid`` part is empty by design: the protocol gives a predictor exactly
  50 labelled architectures and scores it on every other one, so a fixed validation part would
  either shrink the 50 or take rows from the test set (and change every published number on it).
  A predictor that wants validation (early stopping, model selection) holds out part of the 50
  itself, as GENNAPE's fine-tuning does.
- ``dedup``: one representative (the first row) per canonical-hash class, then 80/10/10 over the
  representatives, so no two isomorphic architectures sit on both sides of a split.

A family may add splits of its own (``FamilySpec.extra_splits``): NB-201 stores ``gennape4096``,
GENNAPE's evaluation set (the 4,096 cells without a ``none`` edge) under the ``fewshot50`` rule, so
GENNAPE's published NB-201 numbers can be set beside ours on the same cells.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SPLIT_SEED = 0
FEWSHOT_SIZE = 50
PARTS = ("train", "valid", "test")
SPLIT_NAMES = ("random", "fewshot50", "dedup")
# NB-201's own split (FamilySpec.extra_splits): GENNAPE's evaluation set.
GENNAPE_SET = "gennape4096"
# What each split is, for the files and views that carry the splits (HDF5, Hugging Face, ``cgbench info``).
SPLIT_DOCS = {
    "random": "80/10/10 over all architectures (seed 0)",
    "fewshot50": "GENNAPE's few-shot protocol: 50 fine-tuning architectures (train), every other one test; "
                 "valid is empty by design (hold out part of the 50 if you need validation)",
    "dedup": "80/10/10 over one representative per canonical-hash class (no isomorphic pair across parts)",
    "gennape4096": "GENNAPE's NB-201 set, the 4,096 cells without a 'none' edge, under the fewshot50 rule: 50 "
                   "fine-tuning cells (train), the other 4,046 test",
}


def _ratio_split(indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(indices)
    n_train, n_valid = int(0.8 * len(order)), int(0.1 * len(order))
    return {"train": np.sort(order[:n_train]), "valid": np.sort(order[n_train:n_train + n_valid]),
            "test": np.sort(order[n_train + n_valid:])}


def random_split(n: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    return _ratio_split(np.arange(n), seed)


def fewshot_split(target: np.ndarray, size: int = FEWSHOT_SIZE, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    labelled = np.flatnonzero(~np.isnan(target))
    by_target = labelled[np.argsort(-target[labelled], kind="stable")]
    shuffled = by_target[np.random.RandomState(seed).permutation(len(by_target))]
    return {"train": np.sort(shuffled[:size]), "valid": np.zeros(0, np.int64), "test": np.sort(shuffled[size:])}


def subset_fewshot_split(target: np.ndarray, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The ``fewshot50`` rule over the rows ``keep`` (a boolean mask) only."""
    return fewshot_split(np.where(keep, target, np.nan))


def dedup_split(hashes: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    _, first = np.unique(hashes, return_index=True)
    return _ratio_split(np.sort(first), seed)


def standard_splits(target: np.ndarray | None, hashes: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """All standard splits; an unlabelled family (``target`` None) has no few-shot split."""
    splits = {"random": random_split(len(hashes)), "dedup": dedup_split(hashes)}
    if target is not None:
        splits["fewshot50"] = fewshot_split(target)
    return splits


def splits_to_table(splits: dict[str, dict[str, np.ndarray]]) -> pa.Table:
    rows = [(name, part, idx) for name, parts in splits.items() for part, idx in parts.items()]
    return pa.table({
        "split": pa.array([name for name, part, idx in rows for _ in idx], pa.string()),
        "part": pa.array([part for name, part, idx in rows for _ in idx], pa.string()),
        "idx": pa.array(np.concatenate([idx for *_, idx in rows]).astype(np.int64) if rows else [], pa.int64()),
    })


def splits_from_table(table: pa.Table) -> dict[str, dict[str, np.ndarray]]:
    split = np.asarray(table.column("split").to_pylist(), dtype=object)
    part = np.asarray(table.column("part").to_pylist(), dtype=object)
    idx = table.column("idx").to_numpy()
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in dict.fromkeys(split.tolist()):
        out[name] = {p: idx[(split == name) & (part == p)] for p in PARTS}
    return out

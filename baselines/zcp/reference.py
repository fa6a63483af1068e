"""NAS-Bench-Suite-Zero's precomputed proxy scores, and how well ours agree with them.

NASLib publishes zero-cost proxy scores for 725 NB-201 cells (``zc_nasbench201.json``, per
dataset, each ``{"score", "time"}``; cells keyed by NASLib's op-code tuple, see
``cgbench.families.nb201.from_naslib_tuple``), for the 500 NB-101 cells of the nb101 family
(``zc_nasbench101.json``, plain numbers; keys are NASLib's 7x7 matrix + op ids, mapped to our
arch_id exactly as the family does), for 725 NB-301 cells (``zc_nasbench301.json``; NASLib's
compact genotype, ``cgbench.families.nb301.from_naslib_compact``) and, on the cross-task datasets
svhn, scifar100 and ninapro, for ~200 cells each of NB-201, NB-301 and TransNAS-Bench-101-micro
(``9x_all.zip``, 13 proxies; ``cgbench.families.cross_task``). Reference sets are named by
(family, dataset): :data:`REFERENCE_DATASETS`. :func:`agreement_table` scores the same cells with our
proxies and reports, per proxy, the Spearman rank correlation with the reference and, for both
our scores and the reference's, with the cells' CIFAR-10 validation accuracy stored in the same
file (how well the proxy predicts; the published single-proxy numbers are of this kind). Proxies
the reference never scored (zen, zico, meco, swap) get only the accuracy column.

The reference scored real batches of its dataset (the cross-task sets: NASLib's networks for
those tasks, with their own input sizes and classes); ours are seeded random batches at the
family's input unless a recipe says ``data="real"`` and CIFAR-10 is on disk. Data-independent
proxies (params, flops, l2_norm,
synflow) should agree almost perfectly; data-dependent ones less so, and initial weights differ
(different seeds), which moves per-architecture scores of every proxy that reads weights.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy.stats import spearmanr

from cgbench.errors import InvalidInputError
from cgbench.dataset import load_family
from cgbench.families import family_spec
from cgbench.families import nb101 as nb101_module
from cgbench.families import nb201 as nb201_module
from cgbench.families import nb301 as nb301_module
from cgbench.families import tnb101 as tnb101_module
from cgbench.families.cross_task import CROSS_TASK_FILE, TASKS, read_cross_task
from cgbench.formats.naslib import read_naslib_records
from cgbench.formats.naslib_zc import read_zc_nasbench101
from cgbench.sources import fetch, github_file

from .proxies import list_proxies
from .scoring import load_scores, score_family

NB201_REFERENCE = github_file("naslib-zc-nb201", "automl/NASLib", "6639fd1579010457885c641553c55b0c153045aa",
                              "naslib/data/zc_nasbench201.json",
                              "5dcbbcd56812a9f62164a376bc7df4082ab3af612082b6d26a845930e6eb8641", "Apache-2.0")
# Our proxy name -> NASLib's key, where they differ.
REFERENCE_KEYS = {"jacob_cov": "jacov"}
# The cross-task zip's benchmark name of each family, and NASLib's encoding -> our arch_id.
_CROSS_TASK = {
    "nb201": ("nasbench201", lambda codes: nb201_module.arch_string(nb201_module.from_naslib_tuple(codes))),
    "nb301": ("nasbench301", lambda compact: nb301_module.arch_string(nb301_module.from_naslib_compact(compact))),
    "tnb101_micro": ("transbench101_micro", lambda indices: tnb101_module.micro_arch_string(
        tnb101_module.from_naslib_graph_indices(indices))),
}
# family -> the datasets NAS-Bench-Suite-Zero scored its cells on.
REFERENCE_DATASETS = {"nb201": ("cifar10", *TASKS), "nb101": ("cifar10",), "nb301": ("cifar10", *TASKS),
                      "tnb101_micro": tuple(TASKS)}
REFERENCE_FAMILIES = tuple(REFERENCE_DATASETS)


@dataclass(frozen=True)
class ReferenceScores:
    """One reference record per entry: our arch_id and NASLib's score of each proxy (NaN if absent)."""

    arch_ids: list[str]
    scores: dict[str, np.ndarray]
    accuracy: np.ndarray  # the file's val_accuracy (%), per entry

    def has(self, proxy: str) -> bool:
        return REFERENCE_KEYS.get(proxy, proxy) in self.scores

    def of(self, proxy: str) -> np.ndarray:
        key = REFERENCE_KEYS.get(proxy, proxy)
        if key not in self.scores:
            raise KeyError(f"the reference has no scores of {proxy!r} (key {key!r}); it has {sorted(self.scores)}")
        return self.scores[key]


def _score_columns(records: list[dict], value) -> dict[str, np.ndarray]:
    names = sorted({k for r in records for k in r} - {"idx", "arch", "val_accuracy"})
    return {name: np.array([value(r[name]) if name in r else math.nan for r in records], dtype=np.float64)
            for name in names}


def nb201_reference(path: Path, dataset: str = "cifar10") -> ReferenceScores:
    data = json.loads(path.read_text())
    if dataset not in data:
        raise KeyError(f"{path.name} has datasets {sorted(data)}, not {dataset!r}")
    records = data[dataset]
    arch_ids = [nb201_module.arch_string(nb201_module.from_naslib_tuple(ast.literal_eval(key))) for key in records]
    return ReferenceScores(arch_ids, _score_columns(list(records.values()), lambda entry: entry["score"]),
                           _accuracy(records.values()))


def nb101_reference(path: Path) -> ReferenceScores:
    records = read_zc_nasbench101(path)
    space = nb101_module.SPACE
    arch_ids = [space.arch_id(nb101_module.make_cell(*nb101_module.from_naslib_key(key))) for key in records]
    return ReferenceScores(arch_ids, _score_columns(list(records.values()), float), _accuracy(records.values()))


def nb301_reference(path: Path) -> ReferenceScores:
    records = nb301_module.read_zc_nb301(path)
    return _from_records(list(records), list(records.values()))


def cross_task_reference(path: Path, family_name: str, task: str) -> ReferenceScores:
    benchmark, arch_id_of = _CROSS_TASK[family_name]
    records = read_cross_task(path, benchmark)[task]
    return _from_records([arch_id_of(arch) for arch in records], list(records.values()))


def _from_records(arch_ids: list[str], records: list) -> ReferenceScores:
    """Reference scores of ``cgbench.formats.naslib.NaslibRecord`` entries."""
    names = sorted({proxy for record in records for proxy in record.scores})
    scores = {name: np.array([r.scores.get(name, math.nan) for r in records], dtype=np.float64) for name in names}
    return ReferenceScores(arch_ids, scores, np.array([r.val_accuracy for r in records], dtype=np.float64))


def _accuracy(records) -> np.ndarray:
    return np.array([float(r.get("val_accuracy", math.nan)) for r in records], dtype=np.float64)


def reference_scores(family_name: str, progress: bool = True, dataset: str = "cifar10") -> ReferenceScores:
    """NAS-Bench-Suite-Zero's proxy scores of ``family_name`` on ``dataset`` (see :data:`REFERENCE_DATASETS`)."""
    if dataset not in REFERENCE_DATASETS.get(family_name, ()):
        known = "; ".join(f"{name}: {', '.join(sets)}" for name, sets in REFERENCE_DATASETS.items())
        raise InvalidInputError(f"NAS-Bench-Suite-Zero has no reference scores of {family_name!r} on {dataset!r} ({known})")
    if dataset in TASKS:
        return cross_task_reference(fetch(CROSS_TASK_FILE, progress), family_name, dataset)
    if family_name == "nb201":
        return nb201_reference(fetch(NB201_REFERENCE, progress))
    if family_name == "nb301":
        return nb301_reference(fetch(nb301_module.ZC_FILE, progress))
    (raw,) = family_spec("nb101").raw_files
    return nb101_reference(fetch(raw, progress))


# ---------------------------------------------------------------------------------------------
# Published scores as methods (baselines.zcp.methods)

# family -> (raw file name, NASLib benchmark, dataset or task, NASLib proxy folders): the result zips
# whose published scores cover every architecture of the family, on the data of its default target.
_WHOLE_SPACE_ZIPS = {
    "nb201": (("nb201_zen.zip", "nasbench201", "cifar10"),),
    "tnb101_micro": (("tnb101_classification_synflow.zip", "transbench101_micro", "class_object"),),
    "tnb101_macro": (("tnb101_macro_zen.zip", "transbench101_macro", "class_object"),
                     ("tnb101_classification_synflow.zip", "transbench101_macro", "class_object")),
}


def published_scores(family_name: str, progress: bool = False) -> dict[str, dict[str, float]]:
    """Every NAS-Bench-Suite-Zero score published for ``family_name`` on the data of its default target:
    our proxy name -> {arch_id: score} (empty for a family it never scored). NASLib lists some NB-101 cells under several keys (isomorphic
    matrices, one arch_id); their published scores differ by initialisation, so an arch_id gets their mean."""
    found: dict[str, dict[str, list[float]]] = {}

    def add(arch_ids: list[str], scores: dict[str, np.ndarray]) -> None:
        for key, values in scores.items():
            column = found.setdefault(_OUR_NAMES.get(key, key), {})
            for arch_id, value in zip(arch_ids, values):
                if not math.isnan(value):
                    column.setdefault(arch_id, []).append(float(value))

    if "cifar10" in REFERENCE_DATASETS.get(family_name, ()):
        reference = reference_scores(family_name, progress)
        add(reference.arch_ids, reference.scores)
    for filename, benchmark, dataset in _WHOLE_SPACE_ZIPS.get(family_name, ()):
        records = read_naslib_records(fetch(_raw_file(family_name, filename), progress), benchmark)[dataset]
        arch_ids = [_arch_id(family_name, arch) for arch in records]
        names = sorted({name for record in records.values() for name in record.scores})
        add(arch_ids, {name: np.array([r.scores.get(name, math.nan) for r in records.values()]) for name in names})
    return {proxy: {arch_id: float(np.mean(values)) for arch_id, values in column.items()}
            for proxy, column in found.items()}


_OUR_NAMES = {naslib: ours for ours, naslib in REFERENCE_KEYS.items()}


def _raw_file(family_name: str, filename: str):
    (raw,) = [r for r in family_spec(family_name).raw_files if r.filename == filename]
    return raw


def _arch_id(family_name: str, arch) -> str:
    if family_name == "nb201":
        return nb201_module.arch_string(nb201_module.from_naslib_tuple(arch))
    return family_spec(family_name).space.arch_id(arch)


@dataclass(frozen=True)
class Agreement:
    proxy: str
    n_cells: int
    spearman: float  # ours vs the reference's scores (NaN where the reference has none)
    seconds_per_arch: float
    ours_vs_accuracy: float
    reference_vs_accuracy: float


def agreement_table(family_name: str, proxies: list[str] | None = None, n: int | None = None, seed: int = 0,
                    device: str = "cpu", progress: bool = True, dataset: str = "cifar10") -> list[Agreement]:
    """Spearman between our scores (scored here if not yet stored) and the reference on ``dataset``, per proxy.

    ``proxies=None`` takes every registered proxy that the reference scored. ``n`` restricts to a
    seeded random subset of the reference cells. Pairs where either score is
    missing (NaN) are left out; -inf (a proxy's "undefined, worst") ranks below everything, as
    NASLib's -1e8 does.
    """
    reference = reference_scores(family_name, progress, dataset)
    family = load_family(family_name, progress=progress)
    if proxies is None:
        proxies = [p for p in list_proxies() if REFERENCE_KEYS.get(p, p) in reference.scores]
    row_of = {}
    for row, arch_id in enumerate(family.arch_ids):
        row_of.setdefault(arch_id, row)
    missing = [a for a in reference.arch_ids if a not in row_of]
    if missing:
        raise ValueError(f"{len(missing)} reference cells are not rows of {family_name}, e.g. {missing[0]!r}")
    entries = np.arange(len(reference.arch_ids))
    if n is not None:
        entries = np.sort(np.random.default_rng(seed).permutation(entries)[:n])
    rows = np.array([row_of[reference.arch_ids[e]] for e in entries])
    accuracy = reference.accuracy[entries]
    table = []
    for proxy in proxies:
        theirs = reference.of(proxy)[entries] if reference.has(proxy) else np.full(len(entries), math.nan)
        paths = score_family(family, [proxy], indices=rows, device=device, progress=progress)
        ours = load_scores(family, proxy)[rows]
        table.append(Agreement(proxy, int((~np.isnan(ours)).sum()), _spearman(ours, theirs), _mean_seconds(paths[proxy]),
                               _spearman(ours, accuracy), _spearman(theirs, accuracy)))
    return table


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman over the pairs where neither value is missing (NaN when fewer than 3 remain)."""
    both = ~np.isnan(a) & ~np.isnan(b)
    return float(spearmanr(a[both], b[both]).statistic) if both.sum() >= 3 else math.nan


def _mean_seconds(path: Path) -> float:
    return float(np.mean(pq.read_table(path, columns=["seconds"]).column("seconds").to_numpy()))


def format_agreement(family_name: str, table: list[Agreement], dataset: str = "cifar10") -> str:
    lines = [f"agreement with NAS-Bench-Suite-Zero on {family_name} ({dataset} reference, Spearman); "
             f"the last two columns: ours and the reference's scores vs the cells' {dataset} validation accuracy",
             f"{'proxy':12s} {'cells':>5s} {'vs ref':>7s} {'s/arch':>8s} {'ours~acc':>8s} {'ref~acc':>8s}"]
    lines += [f"{a.proxy:12s} {a.n_cells:5d} {a.spearman:7.3f} {a.seconds_per_arch:8.3f} {a.ours_vs_accuracy:8.3f} "
              f"{a.reference_vs_accuracy:8.3f}" for a in table]
    return "\n".join(lines)

"""Why GENNAPE's zero-shot scores are low and unstable: its FLOPs target transform, taken apart.

``gennape`` (baselines/gennape/predictor.py) trains its heads on ``t = (acc / fac - mu) / sigma``, with the
FLOPs factor ``fac = log10(flops / 2e9 + 1) + 1`` and ``mu, sigma`` over the training rows, and predicts
``(p * sigma + mu) * fac`` from the heads' output ``p``. On the ``gennape_zero_shot`` track (trained on
NB-101, scoring every other accuracy family) this script rebuilds each seed's ``mu, sigma`` from its
training rows, recovers ``p`` from gennape's stored predictions (checked against ``gennape_head``, which
reports ``p``, wherever both kept the same step), splits the log of each prediction into the heads' part
``A = log(p * sigma + mu)`` and the factor's part ``B = log(fac)``, and sets gennape beside ``gennape_notf``
(no FLOPs factor) and ``gin``. It reads stored predictions only: nothing is trained.

Tables: (1) each family's FLOPs, factor and accuracy spread; (2) each seed's transform on its NB-101
training rows; (3) each scored part and seed taken apart; (4) the means across families; (5) NB-201's
disconnected cells (no input-to-output path but ``none`` edges: 10 % accuracy, tiny FLOPs).

The result store is a reference-protocol benchmark's:

    cgbench benchmark --protocol reference --methods gennape gennape_head gennape_notf gin \\
        --tracks gennape_zero_shot --out DIR
    CGBENCH_MIRROR=... .venv/bin/python benchmarks/gennape_zero_shot_diagnosis.py --store DIR/store/results
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from baselines.gennape.predictor import FLOPS_PER_GIGA_MAC, FlopsTargetTransform
from baselines.protocol import Protocol
from cgbench import Family, load_family
from cgbench.families.nb201 import EDGES, parse_arch_string
from cgbench.metrics import spearman
from cgbench.problems import gennape_source_of, problem
from cgbench.tasks import percentile_ranks

TRACK = "gennape_zero_shot"
METHODS = ("gennape", "gennape_head", "gennape_notf", "gin")
TEST_PART, GENNAPE_SET = "predictions", "gennape_set"  # the record fields of the two scored parts


def load_store(folder: Path) -> dict[tuple[str, str, int], dict]:
    """The zero-shot records of METHODS in ``folder``, by (method, family, seed)."""
    records: dict[tuple[str, str, int], dict] = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        unit = record["unit"]
        if unit["track"] != TRACK or unit["method"] not in METHODS:
            continue
        key = (unit["method"], unit["family"], unit["seed"])
        if key in records:
            raise SystemExit(f"{folder} holds two results of {key}")
        records[key] = record
    if not records:
        raise SystemExit(f"{folder} holds no {TRACK} result of {', '.join(METHODS)}")
    return records


def flops_of(family: Family) -> np.ndarray:
    return np.asarray(family.table.column("flops").to_pylist(), np.float64)


def signed(value: float) -> str:
    return f"{value:+.3f}"


def mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):+.3f}±{np.std(values, ddof=1):.3f}"


@dataclass(frozen=True)
class ScoredPart:
    """The labelled rows of one family that the zero-shot runs scored; ``field``: their record field."""

    name: str
    family: str
    field: str
    arch_ids: list[str]
    labels: np.ndarray
    flops: np.ndarray

    @property
    def factor(self) -> np.ndarray:
        return FlopsTargetTransform.flops_factor(self.flops)

    def predictions(self, record: dict) -> np.ndarray:
        return np.array([record[self.field][arch_id] for arch_id in self.arch_ids])


def scored_part(family: Family, target: str, field: str, arch_ids: list[str]) -> ScoredPart:
    position = {arch_id: i for i, arch_id in enumerate(family.table.column("arch_id").to_pylist())}
    rows = np.array([position[arch_id] for arch_id in arch_ids])
    labels = family.labels(target)[rows]
    labelled = ~np.isnan(labels)
    name = family.name if field == TEST_PART else f"{family.name} {field}"
    return ScoredPart(name, family.name, field, [a for a, keep in zip(arch_ids, labelled) if keep], labels[labelled],
                      flops_of(family)[rows][labelled])


def scored_parts(records: dict, families: dict[str, Family], names: list[str], seed: int) -> list[ScoredPart]:
    """The test part of each family ``names``, and GENNAPE's set where the runs scored it (rows of ``seed``'s runs)."""
    runs = [records["gennape", name, seed] for name in names]
    return [scored_part(families[run["unit"]["family"]], run["unit"]["target"], field, list(run[field]))
            for run in runs for field in (TEST_PART, GENNAPE_SET) if run[field]]


def print_family_spreads(families: dict[str, Family], targets: dict[str, str]) -> None:
    print("== 1. per family, all labelled rows: GMACs (flops/2e9), FLOPs factor fac = log10(GMACs+1)+1, accuracy "
          "spread (CV = sd/mean), and how acc/fac ranks against accuracy and FLOPs ==")
    print("family         | GMACs          | fac         | CV fac | CV acc | rho(acc,F) | rho(acc/fac,acc) | "
          "rho(acc/fac,F)")
    for name, target in targets.items():
        labels, flops = families[name].labels(target), flops_of(families[name])
        labelled = ~np.isnan(labels)
        acc, flops = labels[labelled], flops[labelled]
        fac = FlopsTargetTransform.flops_factor(flops)
        gmacs = f"{flops.min() / FLOPS_PER_GIGA_MAC:.4f}-{flops.max() / FLOPS_PER_GIGA_MAC:.3f}"
        print(f"{name:14s} | {gmacs:14s} | {fac.min():.3f}-{fac.max():.3f} | "
              f"{fac.std() / fac.mean():.3f}  | {acc.std() / acc.mean():.3f}  | {signed(spearman(acc, flops))}     | "
              f"{signed(spearman(acc / fac, acc))}           | {signed(spearman(acc / fac, flops))}")


def training_rows(families: dict[str, Family], record: dict) -> tuple[str, np.ndarray, np.ndarray]:
    """The source, accuracies and FLOPs of the labelled rows that the stored run ``record`` trained on, rebuilt."""
    unit = record["unit"]
    train = problem(TRACK, unit["family"], unit["target"], unit["seed"], families, Protocol.reference()).train[0]
    if [train.family.name] != record["trained_on"] or len(train.indices) != record["n_train"]:
        raise SystemExit(f"seed {unit['seed']}: the rebuilt training rows are not those of the stored run")
    acc, flops = train.labels(), flops_of(train.family)[train.indices]
    labelled = ~np.isnan(acc)
    return train.family.name, acc[labelled], flops[labelled]


def source_transforms(families: dict[str, Family], records: dict, seeds: list[int],
                      scored: str) -> dict[int, FlopsTargetTransform]:
    """Each seed's transform, refitted on its training rows (those of the run scoring ``scored``); prints how
    t ranks there."""
    print(f"\n== 2. per seed: the transform t = (acc/fac - mu)/sigma refitted on the {TRACK} training rows, and how "
          "t ranks against FLOPs and accuracy there ==")
    print("seed | source  n_train | mu      sigma  mu/sigma | rho(t,F) rho(t,acc) rho(acc,F)")
    transforms = {}
    for seed in seeds:
        source, acc, flops = training_rows(families, records["gennape", scored, seed])
        transform = transforms[seed] = FlopsTargetTransform.fit(acc, flops)
        t = transform.forward(acc, flops)
        print(f"{seed}    | {source:7s} {len(acc):7d} | {transform.mean:.4f} {transform.std:.4f} "
              f"{transform.mean / transform.std:5.1f}    | {signed(spearman(t, flops))}   "
              f"{signed(spearman(t, acc))}    {signed(spearman(acc, flops))}")
    return transforms


def heads_part(prediction: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """A = log(p * sigma + mu) = log(pred / fac): the heads' part of log(pred)."""
    return np.log(prediction / factor)


def head_check(p: np.ndarray, gennape: dict, head: dict, part: ScoredPart) -> str:
    step, head_step = gennape["step_log"]["best_step"], head["step_log"]["best_step"]
    if step != head_step:
        return f"head kept {head_step}"
    return f"max|p-head| {np.abs(p - part.predictions(head)).max():.1e}"


def print_decomposition(part: ScoredPart, records: dict, transforms: dict[int, FlopsTargetTransform]) -> None:
    print(f"\n-- {part.name} ({len(part.labels)} rows): per seed, gennape's score, its heads' output p, the spread of "
          "A and B in log(pred) = A + B, and which of them the prediction follows --")
    print("seed | rho(pred,y) | rho(p,y) rho(p,F) | sd A   sd B   B/A  | rho(pred,A) rho(pred,B) | kept step | "
          "p vs gennape_head")
    log_factor = np.log(part.factor)
    for seed, transform in transforms.items():
        gennape, head = records["gennape", part.family, seed], records["gennape_head", part.family, seed]
        prediction = part.predictions(gennape)
        p = transform.forward(prediction, part.flops)  # the heads' output behind the prediction
        heads = heads_part(prediction, part.factor)
        print(f"{seed}    | {signed(spearman(prediction, part.labels))}      | {signed(spearman(p, part.labels))}   "
              f"{signed(spearman(p, part.flops))}   | {heads.std():.4f} {log_factor.std():.4f} "
              f"{log_factor.std() / heads.std():4.2f} | {signed(spearman(prediction, heads))}      "
              f"{signed(spearman(prediction, log_factor))}      | {gennape['step_log']['best_step']:9d} | "
              f"{head_check(p, gennape, head, part)}")


def print_cross_family(parts: list[ScoredPart], records: dict, transforms: dict[int, FlopsTargetTransform]) -> None:
    print("\n== 4. across families: sd of B = log(fac) against the mean over seeds of sd A = log(p*sigma+mu), the "
          "FLOPs ranking's rho, and each method's rho with the label (mean±sd over seeds; head p = gennape's p) ==")
    print("part                     | sd B   sd A   B/A  | FLOPs  | gennape      | head p       | gennape_notf | gin")
    for part in parts:
        log_factor = np.log(part.factor)
        sd_heads, scores = [], {"gennape": [], "head p": [], "gennape_notf": [], "gin": []}
        for seed, transform in transforms.items():
            prediction = part.predictions(records["gennape", part.family, seed])
            sd_heads.append(heads_part(prediction, part.factor).std())
            scores["gennape"].append(spearman(part.labels, prediction))
            scores["head p"].append(spearman(part.labels, transform.forward(prediction, part.flops)))
            for method in ("gennape_notf", "gin"):
                scores[method].append(spearman(part.labels, part.predictions(records[method, part.family, seed])))
        print(f"{part.name:24s} | {log_factor.std():.4f} {np.mean(sd_heads):.4f} "
              f"{log_factor.std() / np.mean(sd_heads):4.2f} | {signed(spearman(part.labels, part.flops))} | "
              + " | ".join(mean_sd(values) for values in scores.values()))


def disconnected(arch_id: str) -> bool:
    """Whether an NB-201 cell has no input-to-output path but through ``none`` edges (its output is constant)."""
    reached = {0}
    for (source, target), op in zip(EDGES, parse_arch_string(arch_id)):
        if op != "none" and source in reached:
            reached.add(target)
    return 3 not in reached


def print_disconnected(part: ScoredPart, records: dict, seeds: list[int]) -> None:
    cut = np.array([disconnected(arch_id) for arch_id in part.arch_ids])
    accuracies = ", ".join(f"{a:g}" for a in np.unique(part.labels[cut]))
    print(f"\n== 5. {part.name} test part: {cut.sum()} of {len(cut)} cells disconnected (accuracy {accuracies}; the "
          f"others {part.labels[~cut].min():.1f}-{part.labels[~cut].max():.1f}); their mean percentile rank "
          "(1 = predicted best) and rho with them dropped ==")
    print(f"FLOPs   | rank {percentile_ranks(part.flops)[cut].mean():.2f} | rho all "
          f"{signed(spearman(part.flops, part.labels))} | rho without "
          f"{signed(spearman(part.flops[~cut], part.labels[~cut]))}")
    for seed in seeds:
        prediction = part.predictions(records["gennape", part.family, seed])
        print(f"seed {seed}  | rank {percentile_ranks(prediction)[cut].mean():.2f} | rho all "
              f"{signed(spearman(prediction, part.labels))} | rho without "
              f"{signed(spearman(prediction[~cut], part.labels[~cut]))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a reference benchmark's DIR/store/results")
    args = parser.parse_args()
    records = load_store(args.store)
    seeds = sorted({seed for method, _, seed in records if method == "gennape"})
    scored = sorted({name for method, name, _ in records if method == "gennape"})
    source = load_family(gennape_source_of())
    families = {source.name: source} | {name: load_family(name) for name in scored}
    targets = {source.name: source.default_target} | {name: records["gennape", name, seeds[0]]["unit"]["target"]
                                                      for name in scored}
    print(f"{TRACK} diagnosis of {args.store}: seeds {seeds}\n")
    print_family_spreads(families, targets)
    parts = scored_parts(records, families, scored, seeds[0])
    transforms = source_transforms(families, records, seeds, scored[0])
    print("\n== 3. gennape taken apart: pred = (p*sigma + mu) * fac, A = log(p*sigma + mu), B = log(fac) ==")
    for part in parts:
        print_decomposition(part, records, transforms)
    print_cross_family(parts, records, transforms)
    nb201 = [part for part in parts if part.name == "nb201"]
    if nb201:
        print_disconnected(nb201[0], records, seeds)


if __name__ == "__main__":
    main()

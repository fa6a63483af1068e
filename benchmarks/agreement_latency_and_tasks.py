"""Where two label sources meet: the agreement figures of DATASHEET.md for latency and cross-task labels.

1. Latency between GPUs (same batch size) and between batch sizes (same GPU), per family:
   ``cgbench.metrics.label_agreement`` (Spearman, Kendall, and both within the fastest 10% by
   the mean rank of the two measurements).
2. Latency vs FLOPs (and parameters, and the CG's node count) per device: how much of the latency
   ranking FLOPs already explain, the baseline a latency predictor must beat. Spearman and Kendall
   over all rows, and the share of the 10% fastest networks that the 10% smallest-FLOPs networks
   recover.
3. CIFAR-10 accuracy vs svhn / scifar100 / ninapro on the cells both label, and the tasks against
   each other.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/agreement_latency_and_tasks.py``
(builds nb201, fbnet, ofa_mbv3, nb301 and tnb101_micro on first use).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from cgbench import load_family
from cgbench.metrics import kendall, label_agreement, spearman, top_k_overlap

LATENCY_FAMILIES = ("nb201", "fbnet", "ofa_mbv3")
TASKS = ("svhn", "scifar100", "ninapro")
# family -> its CIFAR-10 accuracy column (None: the family has no CIFAR-10 label on the cross-task cells)
CIFAR10 = {"nb201": "c10_valid_acc_200ep", "nb301": "c10_val_acc_nb301_surrogate", "tnb101_micro": None}


def latency_columns(family) -> dict[str, dict]:
    return {name: meta for name, meta in family.manifest["labels"].items() if name.startswith("lat_")}


def agreement_row(title: str, a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> str:
    r = label_agreement(a, b, higher_is_better=higher_is_better)
    return (f"| {title} | {r['n']:,} | {r['spearman']:.3f} | {r['kendall']:.3f} | "
            f"{r['spearman_top']:.3f} | {r['kendall_top']:.3f} |")


def latency_agreement(family) -> list[str]:
    columns = latency_columns(family)
    gpus: dict[str, dict[int, str]] = {}
    for name, meta in columns.items():
        if meta["device_kind"] == "GPU":
            gpus.setdefault(meta["device"], {})[meta["batch_size"]] = name
    rows = [f"\n{family.name}: latency between GPUs and between batch sizes (top = fastest 10%)",
            "| pair | n | Spearman | Kendall | Spearman top 10% | Kendall top 10% |", "|---|---|---|---|---|---|"]
    batches = sorted({b for by_batch in gpus.values() for b in by_batch})
    for batch in batches:
        for (gpu_a, a), (gpu_b, b) in combinations(sorted((g, c[batch]) for g, c in gpus.items() if batch in c), 2):
            rows.append(agreement_row(f"{gpu_a} vs {gpu_b}, batch {batch}", family.labels(a), family.labels(b), False))
    for gpu, by_batch in sorted(gpus.items()):
        for low, high in combinations(sorted(by_batch), 2):
            rows.append(agreement_row(f"{gpu}: batch {low} vs {high}", family.labels(by_batch[low]),
                                      family.labels(by_batch[high]), False))
    return rows


def flops_explain(family) -> list[str]:
    flops = family.table.column("flops").to_numpy().astype(float)
    params = family.table.column("params").to_numpy().astype(float)
    nodes = family.table.column("n_nodes").to_numpy().astype(float)
    rows = [f"\n{family.name}: how much of each device's latency FLOPs (and parameters, CG nodes) explain",
            "| column | device | n | Spearman FLOPs | Kendall FLOPs | fastest 10% found by FLOPs | Spearman params "
            "| Spearman CG nodes |", "|---|---|---|---|---|---|---|---|"]
    for name, meta in latency_columns(family).items():
        latency = family.labels(name)
        labelled = ~np.isnan(latency)
        lat, fl = latency[labelled], flops[labelled]
        k = max(1, round(0.1 * len(lat)))
        rows.append(f"| {name} | {meta['device']} | {len(lat):,} | {spearman(fl, lat):.3f} | {kendall(fl, lat):.3f} | "
                    f"{top_k_overlap(lat, fl, k, higher_is_better=False):.3f} | {spearman(params[labelled], lat):.3f} "
                    f"| {spearman(nodes[labelled], lat):.3f} |")
    return rows


def task_agreement(family) -> list[str]:
    rows = [f"\n{family.name}: accuracy on the cross-task cells (top = best 10% by mean rank)",
            "| pair | n | Spearman | Kendall | Spearman top 10% | Kendall top 10% |", "|---|---|---|---|---|---|"]
    reference = CIFAR10[family.name]
    if reference is not None:
        shared = len(family.labelled_rows(reference, f"{TASKS[0]}_val_acc"))
        if shared < 3:
            rows.append(f"| {reference} vs the tasks | {shared} shared cells: not measurable | | | | |")
        else:
            for task in TASKS:
                rows.append(agreement_row(f"{reference} vs {task}_val_acc", family.labels(reference),
                                          family.labels(f"{task}_val_acc"), True))
    for a, b in combinations(TASKS, 2):
        rows.append(agreement_row(f"{a} vs {b}", family.labels(f"{a}_val_acc"), family.labels(f"{b}_val_acc"), True))
    return rows


def main() -> None:
    for name in LATENCY_FAMILIES:
        family = load_family(name)
        print("\n".join(latency_agreement(family) + flops_explain(family)))
    for name in CIFAR10:
        print("\n".join(task_agreement(load_family(name))))


if __name__ == "__main__":
    main()

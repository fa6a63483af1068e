"""Convergence study: validation and test Spearman against training steps, for the learned predictors.

Why: a learned predictor compared at a budget that has not converged loses for want of steps, not
for want of a good idea. This study fits each method with a long budget and no early stopping on the
rows the benchmark gives it (``baselines.protocol.RunMaker.training``: at most 300 training rows per
family, at most 100 validation rows), scoring the validation rows and the test part every
``--eval-every`` steps; the reference protocol's budgets (``REFERENCE_PREDICTOR_OPTIONS``) are read
off its curves.

Settings: in-family NB-201, NB-101, NAS-Bench-Macro and OFA-MobileNetV3, and leave-one-search-space-
out zero-shot NB-201 (trained on the other search spaces). Methods: ``gin``, ``gennape``,
``gennape_notf`` (``gennape_head`` is ``gennape``'s training read before the inverse transform, so its
curve comes from the same fits), and the cheap learned rankers ``graf`` (steps = boosting rounds)
and ``zc_ranker``.

Every (method, setting, seed) is a unit of the work engine (``cgbench.jobs``): results go to
``OUT/store``, a killed study resumes where it stopped, ``--workers`` spreads the units over
processes. Output: ``OUT/convergence.json`` (every curve), ``OUT/convergence.png`` (mean over seeds,
validation solid, test dashed, one panel per setting and method) and a table of where each mean
validation curve comes within 0.005 of its maximum.

Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python benchmarks/convergence.py --out results/convergence``
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

SETTINGS = (("in_family", "nb201"), ("in_family", "nb101"), ("in_family", "nasbench_macro"),
            ("in_family", "ofa_mbv3"), ("lofo_zero_shot", "nb201"))
GRAPH_METHODS = ("gin", "gennape", "gennape_notf")
CHEAP_METHODS = ("graf", "zc_ranker")
# The families a leave-one-out fit on NB-201 trains on: the benchmark's default accuracy families.
LOFO_POOL = ("nb201", "nb101", "nasbench_macro", "ofa_mbv3", "tnb101_micro", "tnb101_macro", "nb301")
FLAT_WITHIN = 0.005


def budget_options(method: str, max_steps: int, eval_every: int) -> dict:
    """The method's options for one long fit without early stopping."""
    if method == "graf":
        return {"n_estimators": max_steps, "eval_every": eval_every}
    if method == "zc_ranker":
        return {"steps": max_steps, "eval_every": eval_every}
    options = {"max_steps": max_steps, "eval_every": eval_every, "patience": None, "device": "cpu"}
    return {**options, "pretrain_steps": 300} if method.startswith("gennape") else options


def curve(method: str, track: str, family: str, seed: int, max_steps: int, eval_every: int) -> dict:
    """Fit ``method`` once on the rows of (track, family, seed); validation and test Spearman per evaluated step."""
    import torch

    from baselines.predictors import make_predictor
    from baselines.protocol import Protocol, RunMaker, RunSpec
    from baselines.training import validation_spearman
    from cgbench.dataset import load_families
    from cgbench.metrics import spearman

    torch.set_num_threads(1)
    names = LOFO_POOL if track == "lofo_zero_shot" else (family,)
    families = load_families(list(names), progress=False)
    maker = RunMaker(Protocol(families=names, seeds=(seed,), tracks=(track,)), families)
    spec = RunSpec(method, track, family, families[family].default_target, seed)
    training, evaluator = maker.training(spec), maker.evaluator(spec)
    predictor = make_predictor(method, **budget_options(method, max_steps, eval_every))
    test: dict[str, list] = {"test": [], "head_valid": [], "head_test": []}

    def score_test(step: int) -> None:
        test["test"].append(evaluator.eval(predictor.predict(families[family], evaluator.indices),
                                           metrics=["spearman"])["spearman"])
        if method == "gennape":  # gennape_head: the same fit, read before the inverse transform
            def head(f, rows):
                return predictor.predict(f, rows, head_only=True)

            test["head_valid"].append(validation_spearman(head, training.valid))
            test["head_test"].append(spearman(evaluator.y_true, head(families[family], evaluator.indices)))

    predictor.on_evaluation = score_test
    started = time.perf_counter()
    predictor.fit(training.data, seed, valid=training.valid)
    if method == "graf":  # trees are scored after boosting, at every eval_every rounds
        rounds = [step for step, _ in predictor.step_log.history]
        for trees_used in rounds:
            predictor._boosters[0].rounds = trees_used
            score_test(trees_used)
    steps = [step for step, _ in predictor.step_log.history]
    return {"method": method, "track": track, "family": family, "seed": seed, "steps": steps,
            "valid": [v for _, v in predictor.step_log.history], **{k: v for k, v in test.items() if v},
            "n_train": training.n_train, "n_valid": training.n_valid, "n_test": len(evaluator.indices),
            "seconds": time.perf_counter() - started}


def flat_step(steps: list[int], values: np.ndarray) -> int:
    """The first step whose value is within FLAT_WITHIN of the curve's maximum."""
    return int(steps[int(np.argmax(values >= np.nanmax(values) - FLAT_WITHIN))])


def mean_curves(results: list[dict]) -> dict[tuple[str, str, str], dict]:
    """Per (method, track, family): steps and the mean over seeds of each curve (gennape_head split out)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["method"], r["track"], r["family"]), []).append(r)
        if "head_valid" in r:
            head = {**r, "method": "gennape_head", "valid": r["head_valid"], "test": r["head_test"]}
            groups.setdefault(("gennape_head", r["track"], r["family"]), []).append(head)
    out = {}
    for key, members in groups.items():
        n = min(len(m["steps"]) for m in members)
        out[key] = {"steps": members[0]["steps"][:n], "seeds": len(members),
                    "valid": np.nanmean([m["valid"][:n] for m in members], axis=0),
                    "test": np.nanmean([m["test"][:n] for m in members], axis=0),
                    "seconds": float(np.mean([m["seconds"] for m in members]))}
    return out


def table(curves: dict) -> str:
    header = f"{'method':13} {'setting':28} {'seeds':>5} {'flat at':>8} {'best valid':>10} {'test there':>10} " \
             f"{'test at end':>11} {'s/fit':>6}"
    lines = [header, "-" * len(header)]
    for (method, track, family), c in sorted(curves.items()):
        step = flat_step(c["steps"], c["valid"])
        at = c["steps"].index(step)
        lines.append(f"{method:13} {track + ' ' + family:28} {c['seeds']:>5} {step:>8} {np.nanmax(c['valid']):>10.3f} "
                     f"{c['test'][at]:>10.3f} {c['test'][-1]:>11.3f} {c['seconds']:>6.0f}")
    return "\n".join(lines)


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({m for m, _, _ in curves})
    settings = [s for s in SETTINGS if any((m, *s) in curves for m in methods)]
    fig, axes = plt.subplots(len(methods), len(settings), figsize=(3.4 * len(settings), 2.6 * len(methods)),
                             squeeze=False, sharey=True)
    for i, method in enumerate(methods):
        for j, setting in enumerate(settings):
            ax = axes[i, j]
            c = curves.get((method, *setting))
            if c is None:
                ax.set_visible(False)
                continue
            ax.plot(c["steps"], c["valid"], label="validation")
            ax.plot(c["steps"], c["test"], "--", label="test")
            ax.axvline(flat_step(c["steps"], c["valid"]), color="grey", linewidth=0.7)
            ax.set_title(f"{method}: {setting[0]} {setting[1]}", fontsize=8)
            ax.set_ylim(-1.0, 1.0)
            ax.tick_params(labelsize=7)
            if i == len(methods) - 1:
                ax.set_xlabel("steps (graf: trees)", fontsize=7)
            if j == 0:
                ax.set_ylabel("Spearman", fontsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Mean over seeds of Spearman against training steps; grey: within 0.005 of the best validation")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/convergence"))
    parser.add_argument("--methods", nargs="+", default=[*GRAPH_METHODS, *CHEAP_METHODS])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from cgbench.jobs.calls import run_callables

    tasks = {f"{m}-{t}-{f}-s{seed}": (curve, (m, t, f, seed, args.max_steps if m in GRAPH_METHODS else 1000,
                                              args.eval_every if m in GRAPH_METHODS else 25))
             for m in args.methods for t, f in SETTINGS for seed in args.seeds}
    results = run_callables(tasks, args.out / "store", workers=args.workers)
    curves = mean_curves([r for r in results.values() if r is not None])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "convergence.json").write_text(json.dumps(
        [r for r in results.values() if r is not None], indent=1, default=lambda v: None if not math.isfinite(v) else v))
    plot(curves, args.out / "convergence.png")
    print(table(curves))
    print(f"wrote {args.out / 'convergence.json'} and {args.out / 'convergence.png'}")


if __name__ == "__main__":
    main()

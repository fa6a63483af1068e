"""``cgbench benchmark``: run the benchmark protocol for some predictors, print and save the results.

Registered as a ``cgbench`` subcommand through the ``cgbench.commands`` entry-point group. The
parser shows the protocol's defaults from ``baselines.defaults``; the protocol, the predictors
and torch are imported when the command runs, so ``cgbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from baselines import defaults
from cgbench.cli import examples, non_negative_int, positive_int
from cgbench.errors import unknown_name

if TYPE_CHECKING:
    from baselines import protocol as proto

# Beside the installed `leaderboard` package, wherever the command runs from.
LEADERBOARD_SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"


def make_protocol(args: argparse.Namespace) -> proto.Protocol:
    from baselines import protocol as proto
    from cgbench.tasks import DEFAULT_SEEDS, TRACKS

    seeds = tuple(args.seeds) if args.seeds else DEFAULT_SEEDS
    # A target asked for is scored in-family; the transfer tracks define their own targets.
    tracks = tuple(args.tracks) if args.tracks else ("in_family",) if args.target else tuple(TRACKS)
    if args.full:
        return proto.Protocol.paper(families=args.families, seeds=seeds, tracks=tracks, target=args.target)
    return proto.Protocol(families=tuple(args.families or defaults.DEFAULT_FAMILIES), seeds=seeds, tracks=tracks,
                          train_cap=args.train_cap, target=args.target)


def run_benchmark(methods: Sequence[str], protocol: proto.Protocol, out: Path, submissions: Path | None,
                  progress: bool = True) -> dict:
    """Run every method under ``protocol``; print the table beside the FLOPs ranking and the anchors; write
    results, plots and (into ``submissions``) one submission per method. Returns {method: aggregates}."""
    from baselines import protocol as proto
    from baselines.report import anchor_lines, goal_lines, plot_rank_correlation, plot_scatter, results_table
    from cgbench.tasks import aggregate

    started = time.perf_counter()
    families = proto.load_families(protocol, progress=progress)
    runs, results, written, refits = {}, {}, [], []
    for method in methods:
        runner = proto.MethodRunner(method, protocol, families)
        runs[method] = runner.runs(progress=progress)
        results[method] = aggregate(runs[method])
        if runner.last_predictor is not None and runner.last_predictor.fine_tune_refits:
            refits.append(method)
        if submissions is not None and runs[method]:
            written.append(proto.write_method_submission(submissions / f"{method}.json.gz", method,
                                                         runner.last_predictor, runs[method], families, protocol))
    out.mkdir(parents=True, exist_ok=True)
    notes = [f"fine-tuning refits from scratch (no fine-tuning of its own): {', '.join(refits)}"] if refits else []
    text = "\n".join([*protocol.cap_lines(methods), *notes, "", results_table(results), "", *goal_lines(results), "",
                      *anchor_lines(results, runs)])
    print(text)
    (out / "results.txt").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({
        "protocol": protocol.cap_lines(methods), "methods": list(methods),
        "aggregates": {m: [a.as_dict() for a in aggregates] for m, aggregates in results.items()},
        "runs": {m: [{"track": r.run.track, "family": r.run.family, "target": r.run.target, "seed": r.run.seed,
                      "trained_on": list(r.run.trained_on), "n_train": r.run.n_train,
                      "seconds": round(r.run.seconds or 0.0, 3),
                      "metrics": {k: (v if v == v else None) for k, v in r.metrics.items()}} for r in method_runs]
                 for m, method_runs in runs.items()},
        "wall_seconds": round(time.perf_counter() - started, 1)}, indent=1, allow_nan=False) + "\n")
    plots = [*plot_scatter(runs, out), plot_rank_correlation(results, out)] if any(runs.values()) else []
    for path in [*written, *plots, out / "results.txt", out / "results.json"]:
        print(f"wrote {path}")
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    return results


def set_torch_threads(threads: int) -> None:
    """Fix torch's intra-op thread count for the run (its default oversubscribes small shared machines)."""
    import torch

    torch.set_num_threads(threads)


def _cmd_benchmark(args: argparse.Namespace) -> None:
    from baselines.predictor import list_predictors

    methods = args.methods or (defaults.FULL_METHODS if args.full else defaults.DEFAULT_METHODS)
    for method in methods:
        if method not in list_predictors():
            raise unknown_name("method", method, list_predictors())
    protocol = make_protocol(args)
    set_torch_threads(args.threads)
    print(f"torch threads: {args.threads}")
    out = Path(args.out)
    submissions = None if args.no_submissions else (
        LEADERBOARD_SUBMISSIONS if args.update_leaderboard else Path(args.submissions or out / "submissions"))
    run_benchmark(methods, protocol, out, submissions, progress=not args.no_progress)


def register(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="run the baselines on the benchmark's tracks (`cgbench tracks` lists them); print the "
                          "table beside the FLOPs ranking, write results, plots and submissions",
        description="Run predictors on the benchmark's tracks (cgbench/tasks.py defines them; baselines/protocol.py "
                    "states every cap of the quick protocol), print the results table beside the FLOPs ranking and "
                    "the published anchors, write results, plots and one submission per method under --out. The "
                    "shipped leaderboard (leaderboard/submissions) changes only with --update-leaderboard.",
        epilog=examples("cgbench benchmark", "cgbench benchmark --methods graf --seeds 0 --tracks lofo_zero_shot",
                        "cgbench benchmark --families nb201 fbnet --tracks device_transfer_k10",
                        "cgbench benchmark --full --out results-full"))
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help=f"predictors to run (default: {' '.join(defaults.DEFAULT_METHODS)}; with --full: "
                        f"{' '.join(defaults.FULL_METHODS)})")
    p.add_argument("--families", nargs="+", metavar="FAMILY",
                   help=f"labelled families (default: {' '.join(defaults.DEFAULT_FAMILIES)}; with --full: every "
                        "labelled family)")
    p.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="SEED",
                   help="seeds (default: the task's five, 0 1 2 3 4)")
    p.add_argument("--tracks", nargs="+", metavar="TRACK",
                   help="tracks to run (default: every track; `cgbench tracks` lists them)")
    p.add_argument("--target", metavar="LABEL",
                   help="label column the in_family track scores instead of each family's default (a latency such "
                        "as lat_pixel3_ms, a cross-task accuracy, ...; `cgbench info FAMILY` lists them); alone it "
                        "runs the in_family track only")
    p.add_argument("--train-cap", type=positive_int, default=defaults.QUICK_TRAIN_CAP,
                   help="most labelled training rows per (family, target) and fit in the quick protocol "
                        "(default: %(default)s; --full uses all)")
    p.add_argument("--full", action="store_true",
                   help="paper-scale protocol: all labelled families, all rows, each predictor's paper epochs")
    p.add_argument("--threads", type=positive_int, default=defaults.QUICK_TORCH_THREADS,
                   help="torch intra-op threads for the run (default: %(default)s; on two shared cores "
                        "torch's default thread count trains about ten times slower)")
    p.add_argument("--out", default="results", help="folder for results, plots and submissions (default: %(default)s)")
    p.add_argument("--submissions", help="folder for one submission file per method (default: OUT/submissions)")
    p.add_argument("--update-leaderboard", action="store_true",
                   help=f"write the submissions into the shipped leaderboard ({LEADERBOARD_SUBMISSIONS}) instead")
    p.add_argument("--no-submissions", action="store_true", help="write no submission files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_benchmark)

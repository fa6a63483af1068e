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

DEFAULT_SUBMISSIONS = Path("leaderboard") / "submissions"


def make_protocol(args: argparse.Namespace) -> proto.Protocol:
    from baselines import protocol as proto

    seeds = tuple(args.seeds) if args.seeds else proto.DEFAULT_SEEDS
    tracks = tuple(args.tracks) if args.tracks else proto.TRACKS
    if args.full:
        return proto.Protocol.paper(families=args.families, seeds=seeds, tracks=tracks, source=args.source)
    return proto.Protocol(families=tuple(args.families or proto.DEFAULT_FAMILIES), seeds=seeds, tracks=tracks,
                          source=args.source, train_cap=args.train_cap)


def run_benchmark(methods: Sequence[str], protocol: proto.Protocol, out: Path, submissions: Path | None,
                  progress: bool = True) -> list[proto.Aggregate]:
    """Run every method under ``protocol``; print the table and anchors; write results, plots, submissions."""
    from baselines import protocol as proto
    from baselines.report import anchor_lines, plot_rank_correlation, plot_scatter, results_table

    started = time.perf_counter()
    families = proto.load_families(protocol, progress=progress)
    runs: list[proto.Run] = []
    written = []
    for method in methods:
        runner = proto.MethodRunner(method, protocol, families)
        method_runs = runner.runs(progress=progress)
        runs.extend(method_runs)
        if submissions is not None and method_runs:
            written.append(proto.write_method_submission(submissions / f"{method}.json.gz", method,
                                                         runner.last_predictor, method_runs, families))
    aggregates = proto.aggregate(runs)
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join([*protocol.cap_lines(), "", results_table(aggregates), "", *anchor_lines(aggregates, runs)])
    print(text)
    (out / "results.txt").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({
        "protocol": protocol.cap_lines(), "methods": list(methods),
        "aggregates": [a.as_dict() for a in aggregates], "runs": [r.summary() for r in runs],
        "wall_seconds": round(time.perf_counter() - started, 1)}, indent=1, allow_nan=False) + "\n")
    plots = [*plot_scatter(runs, out), plot_rank_correlation(aggregates, out)] if runs else []
    for path in [*written, *plots, out / "results.txt", out / "results.json"]:
        print(f"wrote {path}")
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    return aggregates


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
    run_benchmark(methods, protocol, Path(args.out), None if args.no_submissions else Path(args.submissions),
                  progress=not args.no_progress)


def register(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="run the benchmark protocol (in-family, zero-shot, few-shot tracks) for reference "
                          "predictors; print the table, write submissions and plots",
        description="Run predictors on the benchmark's tracks (baselines/protocol.py states every cap of the "
                    "quick protocol), print the results table next to published anchors, write results and plots "
                    "to --out and one leaderboard submission per method to --submissions.",
        epilog=examples("cgbench benchmark", "cgbench benchmark --methods gennape --seeds 0 --families nb201 nb101",
                        "cgbench benchmark --full"))
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help=f"predictors to run (default: {' '.join(defaults.DEFAULT_METHODS)}; with --full also "
                        "zc_ranker; those registered)")
    p.add_argument("--families", nargs="+", metavar="FAMILY",
                   help=f"labelled families (default: {' '.join(defaults.DEFAULT_FAMILIES)}; with --full: every "
                        "labelled family)")
    p.add_argument("--seeds", nargs="+", type=non_negative_int, metavar="SEED",
                   help=f"seeds (default: {' '.join(map(str, defaults.DEFAULT_SEEDS))})")
    p.add_argument("--tracks", nargs="+", choices=defaults.TRACKS, metavar="TRACK",
                   help=f"tracks, some of {', '.join(defaults.TRACKS)} (default: all three)")
    p.add_argument("--source", default=defaults.DEFAULT_SOURCE,
                   help="family the zero-shot and few-shot models train on (default: %(default)s)")
    p.add_argument("--train-cap", type=positive_int, default=defaults.QUICK_TRAIN_CAP,
                   help="most labelled training rows per fit in the quick protocol (default: %(default)s; "
                        "--full uses all)")
    p.add_argument("--full", action="store_true",
                   help="paper-scale protocol: all labelled families, all rows, each predictor's paper epochs")
    p.add_argument("--threads", type=positive_int, default=defaults.QUICK_TORCH_THREADS,
                   help="torch intra-op threads for the run (default: %(default)s; on two shared cores "
                        "torch's default thread count trains about ten times slower)")
    p.add_argument("--out", default="results", help="folder for results and plots (default: %(default)s)")
    p.add_argument("--submissions", default=str(DEFAULT_SUBMISSIONS),
                   help="folder for one submission file per method (default: %(default)s)")
    p.add_argument("--no-submissions", action="store_true", help="write no submission files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_benchmark)

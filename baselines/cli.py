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
from cgbench.board import SHIPPED_SUBMISSIONS
from cgbench.cli_options import examples, non_negative_int, positive_int
from cgbench.errors import unknown_name

if TYPE_CHECKING:
    from baselines import protocol as proto

# Beside the installed `leaderboard` package, wherever the command runs from.


def make_protocol(args: argparse.Namespace) -> proto.Protocol:
    from baselines import protocol as proto
    from cgbench.tasks import DEFAULT_SEEDS, IN_FAMILY, TRACKS

    seeds = tuple(args.seeds) if args.seeds else DEFAULT_SEEDS
    # A target asked for is scored in-family; the transfer tracks define their own targets.
    tracks = tuple(args.tracks) if args.tracks else (IN_FAMILY,) if args.target else tuple(TRACKS)
    name = "full" if args.full else args.protocol
    if name == "full":
        return proto.Protocol.paper(families=args.families, seeds=seeds, tracks=tracks, target=args.target)
    settings = dict(families=tuple(args.families or defaults.DEFAULT_FAMILIES), seeds=seeds, tracks=tracks,
                    train_cap=args.train_cap, target=args.target)
    return proto.Protocol.reference(**settings) if name == "reference" else proto.Protocol(**settings)


def run_plan(plan, args: argparse.Namespace) -> None:
    """Run the plan's missing units: in this process (one local worker), on local worker processes, or as
    a SLURM job array; every way publishes into the same store, so a relaunch runs only what is missing."""
    from cgbench.jobs.worker import WorkerOptions, launched, run_units

    options = WorkerOptions(device=args.device, threads=args.threads, progress=not args.no_progress)
    if args.backend == "submitit":
        from cgbench.jobs.backends import slurm

        settings = {"array_parallelism": args.array_parallelism, "timeout_min": args.timeout_min,
                    "partition": args.partition, "gpus_per_node": args.gpus_per_job, "cpus_per_task": args.threads}
        print(slurm.launch(plan, options=options, wait=True, progress=not args.no_progress, **settings).summary())
    elif args.workers > 1:
        from cgbench.jobs.backends import local

        devices = "cuda" if args.device == "cuda" else "cpu"
        report = local.launch(plan, options=options, devices=devices, workers=args.workers,
                              progress=not args.no_progress)
        print(report.summary())
    else:
        with launched(plan):
            run_units(plan, options=options)


def run_benchmark(methods: Sequence[str], protocol: proto.Protocol, out: Path, submissions: Path | None,
                  args: argparse.Namespace, plugins: dict[str, str] | None = None) -> dict:
    """Run every method under ``protocol`` as units of a plan in ``out`` (``plugins``: {method: reference}
    of the user's predictors among them); print the table beside the FLOPs ranking and the anchors; write
    results and plots, then (into ``submissions``) one submission per method whose every run finished.
    Returns {method: aggregates}."""
    from baselines import protocol as proto
    from baselines.benchmark import collect_runs, make_benchmark_plan
    from baselines.report import (anchor_lines, gennape_set_scores, goal_lines, plot_rank_correlation, plot_scatter,
                                  results_table)
    from cgbench.tasks import aggregate

    started = time.perf_counter()
    progress = not args.no_progress
    families = proto.load_families(protocol, progress=progress)
    plan = make_benchmark_plan(out, protocol, list(methods), families, plugins)
    print(f"plan {plan.folder}: {len(plan.units)} runs; results in {plan.results_dir}")
    run_plan(plan, args)
    collected = collect_runs(plan)
    scorer = proto.RunMaker(protocol, families, device="cpu")
    runs = {m: [scorer.score(run) for run, _ in collected.runs.get(m, [])] for m in methods}
    records = {m: [record for _, record in collected.runs.get(m, [])] for m in methods}
    results = {m: aggregate(method_runs) for m, method_runs in runs.items() if method_runs}
    failed = {m: [u for u in collected.missing if u.method == m] for m in methods}
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join([*protocol.cap_lines(methods), *_notes(methods, records, failed, plan),
                      *_left_out_lines(methods, proto.Coverage(protocol, families)), "",
                      results_table(results), "", *goal_lines(results), "",
                      *anchor_lines(results, gennape_set_scores(records, families))])
    print(text)
    (out / "results.txt").write_text(text + "\n")
    _write_results_json(out / "results.json", protocol, methods, results, runs, records, started)
    plots = [*plot_scatter(runs, out), plot_rank_correlation(results, out)] if results else []
    for path in [*plots, out / "results.txt", out / "results.json"]:
        print(f"wrote {path}")
    for method in methods:
        if submissions is not None and runs[method] and not failed[method]:
            _submit(submissions, method, runs[method], records[method], families, protocol, args.code_url)
        elif not runs[method] and not failed[method]:
            print(f"no submission for {method}: it can score none of the protocol's families (see 'not scored')")
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    if any(failed.values()):
        raise SystemExit(f"{sum(map(len, failed.values()))} runs failed; their errors are in {plan.failures_dir} "
                         "(`cgbench label status PLAN` lists them); run the same command again to retry them")
    return results


def write_submission(folder: Path, method: str, runs: list, records: list[dict], families: dict,
                     protocol: proto.Protocol, code: str | None = None) -> Path:
    """One method's submission from its runs: the largest parameter count of its fits, the hardware it ran on."""
    from baselines import protocol as proto

    machines = ", ".join(sorted({r["hardware"] for r in records}))
    return proto.write_method_submission(folder / f"{method}.json.gz", method, [r.run for r in runs], families,
                                         protocol, n_parameters=max(r["n_parameters"] for r in records),
                                         hardware=machines, code=code)


def _submit(folder: Path, method: str, runs: list, records: list[dict], families: dict, protocol, code) -> None:
    """Write the submission of ``method``, or say in one line why it could not be (the results stay)."""
    from cgbench.errors import InvalidInputError

    try:
        print(f"wrote {write_submission(folder, method, runs, records, families, protocol, code)}")
    except (InvalidInputError, OSError) as error:
        print(f"no submission for {method}: {error} (its results are in results.txt and results.json)")


def _notes(methods, records: dict, failed: dict, plan) -> list[str]:
    """What a reader of the table must know besides the protocol: refits, devices, failed runs."""
    from baselines.predictors import make_predictor, predictor_class

    lines = []
    refits = [m for m in methods if records[m] and predictor_class(m).uses_labels and make_predictor(m).fine_tune_refits]
    if refits:
        lines.append(f"fine-tuning refits from scratch (no fine-tuning of its own): {', '.join(refits)}")
    devices = sorted({(r["device"], r["hardware"]) for rs in records.values() for r in rs})
    if devices:
        lines.append("ran on: " + "; ".join(f"{device} ({machine})" for device, machine in devices))
    for method, units in failed.items():
        if units:
            lines.append(f"FAILED {method}: {len(units)} runs, no submission: "
                         + "; ".join(plan.unit_label(u.unit_id) for u in units[:10])
                         + (" ..." if len(units) > 10 else ""))
    return lines


def _left_out_lines(methods, coverage) -> list[str]:
    """The (family, target) pairs each method cannot score, with its reason (no run, no submission row)."""
    lines = []
    for method in methods:
        left_out = coverage.left_out(method)
        if left_out:
            lines.append(f"not scored by {method}: " + "; ".join(f"{f} {t} ({r})" for (f, t), r in left_out.items()))
    return lines


def _write_results_json(path: Path, protocol, methods, results: dict, runs: dict, records: dict,
                        started: float) -> None:
    path.write_text(json.dumps({
        "protocol": protocol.cap_lines(methods), "methods": list(methods),
        "aggregates": {m: [a.as_dict() for a in aggregates] for m, aggregates in results.items()},
        "runs": {m: [{**r.as_dict(), "n_valid": rec["n_valid"], "device": rec["device"], "step_log": rec["step_log"]}
                     for r, rec in zip(runs[m], records[m])] for m in methods},
        "wall_seconds": round(time.perf_counter() - started, 1)}, indent=1, allow_nan=False) + "\n")


def _cmd_benchmark(args: argparse.Namespace) -> None:
    from baselines.predictors import list_predictors, load_predictor

    plugins = {load_predictor(reference).name: reference for reference in args.predictor or ()}
    methods = args.methods or ([] if plugins else defaults.FULL_METHODS if args.full else defaults.DEFAULT_METHODS)
    methods = list(dict.fromkeys([*methods, *plugins]))
    for method in methods:
        if method not in list_predictors():
            raise unknown_name("method", method, list_predictors(),
                               hint="a predictor of your own joins with --predictor path/to/file.py:ClassName")
    protocol = make_protocol(args)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads} per worker, {args.workers} worker(s), backend {args.backend}")
    out = Path(args.out)
    submissions = None if args.no_submissions else (
        SHIPPED_SUBMISSIONS if args.update_leaderboard else Path(args.submissions or out / "submissions"))
    run_benchmark(methods, protocol, out, submissions, args, plugins)


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
                        "cgbench benchmark --methods gin gennape --protocol reference --workers 2 --out results-ref",
                        "cgbench benchmark --methods gennape --protocol reference --backend submitit --gpus-per-job 1 "
                        "--device cuda --array-parallelism 32 --partition gpu",
                        "cgbench benchmark --predictor my_predictor.py:Ridge --seeds 0 --out results-mine",
                        "cgbench benchmark --full --out results-full"))
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help=f"predictors to run (default: {' '.join(defaults.DEFAULT_METHODS)}; with --full: "
                        f"{' '.join(defaults.FULL_METHODS)})")
    p.add_argument("--predictor", nargs="+", metavar="FILE.py:CLASS",
                   help="your own predictor(s): a Predictor subclass in a file (or an installed module:Class); run "
                        "through the same tracks, seeds and engine as the built-in methods (docs/predictor.md)")
    p.add_argument("--code-url", help="where your predictor's code is, for its submission (default: the class's "
                                      "code_url attribute, else the file's path, fine for a local board)")
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
    p.add_argument("--protocol", choices=("quick", "reference"), default="quick",
                   help="quick: short training budgets for the main job (not a verdict on a kind of model); "
                        "reference: every learned predictor at its converged budget (default: %(default)s)")
    p.add_argument("--full", action="store_true",
                   help="paper-scale protocol: all labelled families, all rows, each predictor's paper epochs")
    engine = p.add_argument_group("where the runs run (a run is a unit of the work engine: a stopped benchmark "
                                  "resumes, and every backend gives the same predictions)")
    engine.add_argument("--backend", choices=("local", "submitit"), default="local",
                        help="local: this machine; submitit: a SLURM job array (default: %(default)s)")
    engine.add_argument("--workers", type=positive_int, default=1,
                        help="local worker processes (default: %(default)s: the runs run in this process)")
    engine.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="torch device of the learned predictors; auto: a GPU when the worker sees one "
                             "(default: %(default)s)")
    engine.add_argument("--threads", type=positive_int, default=defaults.QUICK_TORCH_THREADS,
                        help="torch intra-op threads per worker (default: %(default)s; on two shared cores "
                             "torch's default thread count trains about ten times slower)")
    slurm = p.add_argument_group("submitit backend (SLURM)")
    slurm.add_argument("--partition", help="SLURM partition (default: the cluster's default)")
    slurm.add_argument("--timeout-min", type=positive_int, default=240, help="time limit per array task, minutes "
                       "(a task that reaches it is requeued and resumes; default: %(default)s)")
    slurm.add_argument("--gpus-per-job", type=non_negative_int, default=0, choices=(0, 1),
                       help="GPUs per array task (default: %(default)s)")
    slurm.add_argument("--array-parallelism", type=positive_int, default=4,
                       help="array tasks (the runs are split among them, whole shared fits each; "
                            "default: %(default)s)")
    p.add_argument("--out", default="results", help="folder for results, plots and submissions (default: %(default)s)")
    p.add_argument("--submissions", help="folder for one submission file per method (default: OUT/submissions)")
    p.add_argument("--update-leaderboard", action="store_true",
                   help=f"write the submissions into the shipped leaderboard ({SHIPPED_SUBMISSIONS}) instead")
    p.add_argument("--no-submissions", action="store_true", help="write no submission files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_benchmark)

"""``cgbench label plan|launch|status|collect|verify``: labelling architectures by training them.

Registered through the ``cgbench.commands`` entry point (``label = "labeling.cli:register"``).
Heavy imports (torch, submitit) happen inside the commands so ``cgbench --help`` stays fast.
The SLURM backend is imported only when ``--backend submitit`` is asked for, so the local backend
works where submitit is not installed.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from .backends import BACKENDS


def register(subparsers) -> None:
    label = subparsers.add_parser("label", help="train networks of a family to give it labels (plan, launch, "
                                  "status, collect, verify)")
    sub = label.add_subparsers(dest="label_command", required=True)
    _add_plan(sub)
    _add_launch(sub)
    p = sub.add_parser("status", help="done / pending / in progress (checkpoint) / failed units of a plan")
    p.add_argument("plan", help="plan folder")
    p.add_argument("--show", type=int, default=10, help="list at most this many units per state")
    p.set_defaults(func=_cmd_status)
    p = sub.add_parser("collect", help="write the plans' results as label columns of their family")
    p.add_argument("plans", nargs="+", help="plan folders (same family and recipe)")
    p.add_argument("--replace", action="store_true",
                   help="replace a collected column of the same name made with a different recipe hash")
    p.set_defaults(func=_cmd_collect)
    p = sub.add_parser("verify", help="retrain K random finished units and report agreement")
    p.add_argument("plan", help="plan folder")
    p.add_argument("--k", type=int, required=True, help="how many finished units to retrain")
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of units")
    p.add_argument("--device", default="cpu", help="torch device of the retrains (cpu, cuda, cuda:1, ...)")
    p.add_argument("--data-root", help="folder holding cifar-10-batches-py")
    p.add_argument("--compile", action="store_true")
    p.set_defaults(func=_cmd_verify)


def _add_plan(sub) -> None:
    p = sub.add_parser("plan", help="sample architectures of a family into a plan of work units")
    p.add_argument("family")
    p.add_argument("--n", type=int, required=True, help="how many architectures")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--recipe", default="standard", help="a registered recipe or a recipe JSON file")
    p.add_argument("--train-seeds", default="0", help="comma-separated training seeds per architecture")
    p.add_argument("--out", help="plan folder (default: <CGBENCH_HOME>/labeling/<family>-<recipe>-...)")
    p.set_defaults(func=_cmd_plan)


def _add_launch(sub) -> None:
    p = sub.add_parser("launch", help="run a plan's pending units (local processes or a SLURM job array)")
    p.add_argument("plan", help="plan folder")
    p.add_argument("--backend", choices=BACKENDS, default="local")
    p.add_argument("--data-root", help="folder holding cifar-10-batches-py (default: $CGBENCH_DATA or "
                   "<CGBENCH_HOME>/data)")
    p.add_argument("--wait", action="store_true", help="wait until every task has ended")
    p.add_argument("--compile", action="store_true", help="torch.compile each network")
    local = p.add_argument_group("local backend")
    local.add_argument("--devices", choices=("cpu", "cuda"), help="default: cuda when a GPU is visible, else cpu")
    local.add_argument("--per-gpu", type=int, default=1, help="worker processes per GPU (small networks)")
    slurm = p.add_argument_group("submitit backend (SLURM)")
    slurm.add_argument("--array-parallelism", type=int, help="most array tasks running at once")
    slurm.add_argument("--timeout-min", type=int, help="time limit of each array task, minutes")
    slurm.add_argument("--partition")
    slurm.add_argument("--gpus-per-node", type=int)
    slurm.add_argument("--cpus-per-task", type=int)
    slurm.add_argument("--units-per-task", type=int,
                       help="units per array task (default: one wave of --array-parallelism tasks)")
    p.set_defaults(func=_cmd_launch)


def _parse_seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SystemExit(f"--train-seeds must be comma-separated integers such as 0,1,2; got {text!r}") from None


def _cmd_plan(args: argparse.Namespace) -> None:
    from .plan import make_plan
    from .recipe import resolve_recipe

    try:
        recipe = resolve_recipe(args.recipe)
        plan = make_plan(args.family, args.n, args.seed, recipe, Path(args.out) if args.out else None,
                         _parse_seeds(args.train_seeds))
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"cgbench label plan: {error}") from None
    print(f"plan {plan.folder}: {len(plan.units)} units ({plan.family}, recipe {recipe.name} {recipe.hash})")


def _load_plan(folder: str):
    from .plan import load_plan

    try:
        return load_plan(folder)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None


def _cmd_launch(args: argparse.Namespace) -> None:
    plan = _load_plan(args.plan)
    if args.backend == "local":
        from .backends import local

        devices = args.devices or _default_devices()
        try:
            local.worker_slots(devices, args.per_gpu)
        except (ValueError, RuntimeError) as error:
            raise SystemExit(f"cgbench label launch: {error}") from None
        report = local.launch(plan, data_root=args.data_root, devices=devices, per_gpu=args.per_gpu,
                              wait=args.wait, compile=args.compile)
    else:
        from .backends import slurm

        options = {name: getattr(args, name) for name in ("array_parallelism", "timeout_min", "partition",
                                                          "gpus_per_node", "cpus_per_task", "units_per_task")
                   if getattr(args, name) is not None}
        report = slurm.launch(plan, data_root=args.data_root, wait=args.wait, compile=args.compile, **options)
    print(report.summary())
    if report.returncodes and any(report.returncodes):
        raise SystemExit(f"some workers exited with errors; see `cgbench label status {plan.folder}` and the logs")


def _default_devices() -> str:
    from .backends.local import visible_gpus

    return "cuda" if visible_gpus() else "cpu"


def _cmd_status(args: argparse.Namespace) -> None:
    from .store import plan_status

    plan = _load_plan(args.plan)
    status = plan_status(plan)
    counts = status.counts()
    print(f"{plan.folder} ({plan.describe()}): {len(plan.units)} units: "
          + ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in counts.items()))
    for uid, age in list(status.in_progress.items())[:args.show]:
        print(f"  in progress: {uid} {plan.unit_label(uid)} (last checkpoint {age:.0f} s ago)")
    reasons = Counter(f"{r['error_type']}: {r['message']}" for r in status.failed.values())
    for reason, n in reasons.most_common():
        print(f"  failed x{n}: {reason}")
    for uid, record in list(status.failed.items())[:args.show]:
        print(f"  failed: {uid} {plan.unit_label(uid)} (attempts {record['attempts']}, "
              f"{record['hostname']}, {record['time']}): {record['error_type']}")


def _cmd_collect(args: argparse.Namespace) -> None:
    from .collect import collect

    plans = [_load_plan(folder) for folder in args.plans]
    try:
        report = collect(plans, replace=args.replace)
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"cgbench label collect: {error}") from None
    print(f"collected {report.n_results} results ({report.n_archs} architectures) into {report.family}: "
          f"{', '.join(report.columns)}; family rebuilt at {report.family_folder}")


def _cmd_verify(args: argparse.Namespace) -> None:
    from .verify import verify

    plan = _load_plan(args.plan)
    try:
        report = verify(plan, args.k, seed=args.seed, device=args.device, data_root=args.data_root,
                        compile=args.compile)
    except ValueError as error:
        raise SystemExit(f"cgbench label verify: {error}") from None
    print("\n".join(report.lines()))
    print(f"report: {report.folder / 'report.json'}")

"""``cgbench label plan|data|launch|status|collect|verify``: labelling architectures by training them.

Registered through the ``cgbench.commands`` entry point (``label = "labeling.cli:register"``).
Heavy imports (torch, submitit, pyarrow) happen inside the commands so ``cgbench --help`` stays fast.
Errors are :class:`~cgbench.errors.CgbenchError` s, which ``cgbench.cli.main`` prints in one line.
The SLURM backend is imported only when ``--backend submitit`` is asked for, so the local backend
works where submitit is not installed.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from cgbench.cli_options import examples, non_negative_int, positive_int
from cgbench.jobs.backends import BACKENDS


def register(subparsers) -> None:
    label = subparsers.add_parser(
        "label", help="train networks of a family to give it labels (plan, data, launch, status, collect, verify)",
        description="Label architectures by training them on CIFAR-10: plan work units, launch them on this "
                    "machine's GPUs or a SLURM cluster, follow their status, collect the results as label columns "
                    "of the family, and verify a sample by retraining.",
        epilog=examples("cgbench label plan hiaml --n 500 --recipe standard --train-seeds 0,1 --out plans/hiaml",
                        "cgbench label data --download",
                        "cgbench label launch plans/hiaml --backend local --devices cuda --per-gpu 4",
                        "cgbench label status plans/hiaml", "cgbench label collect plans/hiaml"))
    sub = label.add_subparsers(dest="label_command", required=True, metavar="COMMAND")
    _add_plan(sub)
    _add_data(sub)
    _add_launch(sub)
    p = sub.add_parser("status", help="done / pending / in progress (checkpoint) / failed units of a plan",
                       description="Count a plan's units by state and list the in-progress and failed ones "
                                   "(failures grouped by reason).",
                       epilog=examples("cgbench label status plans/hiaml", "cgbench label status plans/hiaml --show 50"))
    p.add_argument("plan", help="plan folder")
    p.add_argument("--show", type=non_negative_int, default=10,
                   help="list at most this many units per state (default: %(default)s)")
    p.set_defaults(func=_cmd_status)
    p = sub.add_parser("collect", help="write the plans' results as label columns of their family",
                       description="Check every finished result against its plan, then write the results as "
                                   "label columns c10_<recipe>_final / _best of the family and merge them in.",
                       epilog=examples("cgbench label collect plans/hiaml",
                                       "cgbench label collect plans/hiaml-1 plans/hiaml-2 --replace"))
    p.add_argument("plans", nargs="+", metavar="PLAN", help="plan folders (same family and recipe)")
    p.add_argument("--replace", action="store_true",
                   help="replace a collected column of the same name made with a different recipe hash")
    p.set_defaults(func=_cmd_collect)
    p = sub.add_parser("verify", help="retrain K random finished units and report agreement",
                       description="Retrain K randomly chosen finished units of a plan and report how far the "
                                   "new accuracies are from the stored ones.",
                       epilog=examples("cgbench label verify plans/hiaml --k 5 --device cuda"))
    p.add_argument("plan", help="plan folder")
    p.add_argument("--k", type=positive_int, required=True, help="how many finished units to retrain")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the choice of units (default: %(default)s)")
    p.add_argument("--device", default="cpu",
                   help="torch device of the retrains: cpu, cuda, cuda:1, ... (default: %(default)s)")
    p.add_argument("--data-root", help="folder holding cifar-10-batches-py (default: $CGBENCH_DATA or "
                   "<CGBENCH_HOME>/data)")
    p.add_argument("--compile", action="store_true", help="torch.compile each network")
    p.set_defaults(func=_cmd_verify)


def _add_plan(sub) -> None:
    p = sub.add_parser("plan", help="sample architectures of a family into a plan of work units",
                       description="Draw N architectures of a built family (without replacement, seeded) and "
                                   "write one work unit per architecture and training seed.",
                       epilog=examples("cgbench label plan hiaml --n 500",
                                       "cgbench label plan inception --n 100 --recipe short12 --train-seeds 0,1,2 "
                                       "--out plans/inc"))
    p.add_argument("family", help="a family with a search space, e.g. hiaml, inception, two_path")
    p.add_argument("--n", type=positive_int, required=True, help="how many architectures")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed (default: %(default)s)")
    p.add_argument("--recipe", default="standard",
                   help="a registered recipe (standard, short12, short36, tiny_cpu) or a recipe JSON file "
                        "(default: %(default)s)")
    p.add_argument("--train-seeds", type=_train_seeds, default=(0,),
                   help="comma-separated training seeds per architecture (default: 0)")
    p.add_argument("--out", help="plan folder (default: <CGBENCH_HOME>/labeling/<family>-<recipe>-...)")
    p.set_defaults(func=_cmd_plan)


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="get, check or fake the CIFAR-10 the trainings read",
                       description="Manage the CIFAR-10 python batches (cifar-10-batches-py) under the data root. "
                                   "Labels trained on a --synthetic stand-in are marked synthetic in results, "
                                   "collected label columns (synthetic_c10_*) and their descriptions.",
                       epilog=examples(
                           "cgbench label data --check          # what is in the data root: official, synthetic, "
                           "missing",
                           "cgbench label data --download       # the official CIFAR-10 (170 MB, md5-checked; needs "
                           "internet)",
                           "cgbench label data --synthetic 5000 # an offline stand-in to rehearse the whole flow"))
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--download", action="store_true",
                      help="download the official CIFAR-10 (torchvision's URL and md5) unless it is there")
    what.add_argument("--check", action="store_true",
                      help="check every batch file: present, readable, official (md5) or synthetic")
    what.add_argument("--synthetic", type=positive_int, metavar="N",
                      help="write N (at least 5) learnable synthetic training images, and N/5 test images (at "
                           "least 100), in the official format, marked synthetic")
    p.add_argument("--data-root", help="folder for cifar-10-batches-py (default: $CGBENCH_DATA or "
                                       "<CGBENCH_HOME>/data)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the synthetic images (default: %(default)s)")
    p.set_defaults(func=_cmd_data)


def _cmd_data(args: argparse.Namespace) -> None:
    from .cifar10 import MissingDataError, check_cifar10, default_data_root, download_cifar10, write_synthetic_cifar10

    root = Path(args.data_root) if args.data_root else default_data_root()
    if args.synthetic is not None:
        folder = write_synthetic_cifar10(root, args.synthetic, seed=args.seed)
        print(f"wrote a SYNTHETIC CIFAR-10 stand-in to {folder} ({args.synthetic} training images): labels "
              "trained on it are rehearsal labels, marked synthetic wherever they go")
    elif args.download:
        if check_cifar10(root).official:
            print(f"{root / 'cifar-10-batches-py'} already holds the official CIFAR-10 (every md5 matches)")
            return
        print(f"downloaded CIFAR-10 to {download_cifar10(root)}")
    check = check_cifar10(root)
    print("\n".join(check.lines()))
    if args.check and not check.complete:
        raise MissingDataError(f"{root} has no complete CIFAR-10; run `cgbench label data --download` (needs "
                               "internet) or `cgbench label data --synthetic 5000` (an offline stand-in)")


def _add_launch(sub) -> None:
    p = sub.add_parser("launch", help="run a plan's pending units (local processes or a SLURM job array)",
                       description="Start workers for a plan's pending units: local processes (one or more per "
                                   "GPU) or a SLURM job array through submitit. A finished unit is never rerun.",
                       epilog=examples("cgbench label launch plans/hiaml --backend local --devices cuda --per-gpu 4",
                                       "cgbench label launch plans/hiaml --backend submitit --array-parallelism 32 "
                                       "--timeout-min 240 --gpus-per-node 1 --partition gpu"))
    p.add_argument("plan", help="plan folder")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="where to run (default: %(default)s)")
    p.add_argument("--data-root", help="folder holding cifar-10-batches-py (default: $CGBENCH_DATA or "
                   "<CGBENCH_HOME>/data)")
    p.add_argument("--download", action="store_true",
                   help="download the official CIFAR-10 first if the data root has none (needs internet)")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the per-unit time estimate (a few training steps of the first network)")
    p.add_argument("--wait", action="store_true", help="wait until every task has ended")
    p.add_argument("--compile", action="store_true", help="torch.compile each network")
    local = p.add_argument_group("local backend")
    local.add_argument("--devices", choices=("cpu", "cuda"), help="default: cuda when a GPU is visible, else cpu")
    local.add_argument("--per-gpu", type=positive_int, default=1,
                       help="worker processes per GPU, for small networks (default: %(default)s)")
    slurm = p.add_argument_group("submitit backend (SLURM)")
    slurm.add_argument("--array-parallelism", type=positive_int,
                       help="most array tasks running at once (default: submitit's)")
    slurm.add_argument("--timeout-min", type=positive_int,
                       help="time limit of each array task, minutes (default: the backend's)")
    slurm.add_argument("--partition", help="SLURM partition (default: the cluster's default)")
    slurm.add_argument("--gpus-per-node", type=non_negative_int, help="0 for CPU tasks, 1 for GPU tasks "
                       "(default: the backend's)")
    slurm.add_argument("--cpus-per-task", type=positive_int, help="CPU cores per task (default: the backend's)")
    slurm.add_argument("--units-per-task", type=positive_int,
                       help="units per array task (default: one wave of --array-parallelism tasks)")
    p.set_defaults(func=_cmd_launch)


def _train_seeds(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated non-negative integers."""
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 0,1,2; got {text!r}") from None


def _cmd_plan(args: argparse.Namespace) -> None:
    from .plan import make_plan
    from .recipe import resolve_recipe

    recipe = resolve_recipe(args.recipe)
    plan = make_plan(args.family, args.n, args.seed, recipe, Path(args.out) if args.out else None, args.train_seeds)
    print(f"plan {plan.folder}: {len(plan.units)} units ({plan.family}, recipe {recipe.name} {recipe.hash})")


def _load_plan(folder: str):
    from cgbench.jobs.plan import load_plan

    return load_plan(folder)


def _cmd_launch(args: argparse.Namespace) -> None:
    from cgbench.jobs.worker import WorkerOptions

    from .plan import TrainingPlan

    plan = _load_plan(args.plan)
    # Training plans read CIFAR-10: it is checked (and fetched if allowed) before any worker starts.
    # Plans of other kinds (zero-cost scoring) read what their recipes say, from --data-root as given.
    training = isinstance(plan, TrainingPlan)
    root = _ensure_data(args.data_root, args.download) if training else args.data_root
    options = WorkerOptions(data_root=None if root is None else str(root), compile=args.compile)
    if args.backend == "local":
        from cgbench.jobs.backends import local

        devices = args.devices or _default_devices()
        slots = local.worker_slots(devices, args.per_gpu)
        if training and not args.no_estimate:
            _print_estimate(plan, root, "cpu" if devices == "cpu" else "cuda", len(slots))
        report = local.launch(plan, options=options, devices=devices, per_gpu=args.per_gpu, wait=args.wait)
    else:
        from cgbench.jobs.backends import slurm

        settings = {name: getattr(args, name) for name in ("array_parallelism", "timeout_min", "partition",
                                                           "gpus_per_node", "cpus_per_task", "units_per_task")
                    if getattr(args, name) is not None}
        if training and not args.no_estimate:
            _print_estimate(plan, root, "cuda" if _default_devices() == "cuda" else None,
                            settings.get("array_parallelism", 4))
        report = slurm.launch(plan, options=options, wait=args.wait, **settings)
    print(report.summary())
    if report.returncodes and any(report.returncodes):
        raise SystemExit(f"some workers exited with errors; see `cgbench label status {plan.folder}` and the logs")


def _ensure_data(data_root: str | None, download: bool) -> Path:
    """The data root, with CIFAR-10 in it (downloaded if allowed), or an error that says which command to run."""
    from .cifar10 import MissingDataError, default_data_root, download_cifar10, has_batches

    root = Path(data_root) if data_root else default_data_root()
    if has_batches(root):
        return root
    if not download:
        raise MissingDataError(
            f"no CIFAR-10 in {root / 'cifar-10-batches-py'}. Run `cgbench label data --download"
            f"{' --data-root ' + str(root) if data_root else ''}` (needs internet), pass --download here, or "
            f"rehearse offline on a stand-in: `cgbench label data --synthetic 5000`")
    print(f"downloaded CIFAR-10 to {download_cifar10(root)}")
    return root


def _print_estimate(plan, root: Path, device: str | None, n_workers: int) -> None:
    """Say how long a unit takes (from finished units, or a few-step probe on ``device``) before launching."""
    from cgbench.jobs.store import ResultStore

    from .cifar10 import load_cifar10
    from .estimate import estimate_unit_seconds

    store = ResultStore(plan)
    pending = store.pending(plan.units)
    if not pending:
        return
    if device is None and not store.finished():
        print("estimate: none yet (no GPU here to probe on); `cgbench label status` shows unit times as they finish")
        return
    data = load_cifar10(root)
    if data.synthetic:
        print(f"note: {root} holds a SYNTHETIC stand-in: these labels are a rehearsal, marked synthetic")
    print(estimate_unit_seconds(plan, data, device or "cuda").line(len(pending), n_workers), flush=True)


def _default_devices() -> str:
    from cgbench.jobs.backends.local import visible_gpus

    return "cuda" if visible_gpus() else "cpu"


def _cmd_status(args: argparse.Namespace) -> None:
    from cgbench.jobs.store import plan_status

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

    report = collect([_load_plan(folder) for folder in args.plans], replace=args.replace)
    print(f"collected {report.n_results} results ({report.n_archs} architectures) into {report.family}: "
          f"{', '.join(report.columns)}; family rebuilt at {report.family_folder}")


def _cmd_verify(args: argparse.Namespace) -> None:
    from .verify import verify

    plan = _load_plan(args.plan)
    report = verify(plan, args.k, seed=args.seed, device=args.device, data_root=args.data_root, compile=args.compile)
    print("\n".join(report.lines()))
    print(f"report: {report.folder / 'report.json'}")

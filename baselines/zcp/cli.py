"""``cgbench zcp list | score FAMILY | plan FAMILY | collect PLAN | agreement FAMILY [--dataset D]``: zero-cost proxies.

``score`` scores rows in this process; ``plan`` writes a work plan that the labelling backends run
(``cgbench label launch PLAN --backend local|submitit``, ``cgbench label status PLAN``) and
``collect`` stores its finished units' scores with the family. Registering the commands imports
neither torch nor the proxies: each command imports what it needs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cgbench.cli_options import FAMILY_HELP, examples, non_negative_int, positive_int
from cgbench.errors import InvalidInputError

# Kept here rather than imported from .reference, which imports numpy: `cgbench --help` stays fast.
# reference.REFERENCE_DATASETS says which (family, dataset) pairs exist; a test keeps the two in step.
REFERENCE_FAMILIES = ("nb201", "nb101", "nb301", "tnb101_micro")
REFERENCE_DATASET_NAMES = ("cifar10", "svhn", "scifar100", "ninapro")


def _cmd_list(args: argparse.Namespace) -> None:
    from .proxies import get_proxy, list_proxies

    for name in list_proxies():
        proxy = get_proxy(name)
        print(f"{name:12s} {proxy.description}")
        print(f"{'':12s} recipe {proxy.recipe.hash}: {proxy.recipe.as_dict()}")


def _proxy_names(text: str) -> list[str]:
    from .proxies import get_proxy

    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        get_proxy(name)  # unknown names fail here with the list of known ones
    return names


def _cmd_score(args: argparse.Namespace) -> None:
    import numpy as np

    from cgbench.dataset import load_family

    from .scoring import load_scores, proxy_recipe, score_family

    names = _proxy_names(args.proxies)
    family = load_family(args.family)
    indices = None
    if args.n is not None:
        indices = np.sort(np.random.default_rng(args.seed).permutation(len(family))[: args.n])
    overrides = {"batch_size": args.batch_size} if args.batch_size else None
    for name, path in score_family(family, names, overrides, indices, args.device).items():
        scores = load_scores(family, name, proxy_recipe(name, overrides))
        print(f"{name}: {int(np.sum(~np.isnan(scores)))} of {len(family)} rows scored -> {path}")


def _cmd_plan(args: argparse.Namespace) -> None:
    from .plan import make_zcp_plan

    overrides = {"data": args.data, **({"batch_size": args.batch_size} if args.batch_size else {})}
    try:
        plan = make_zcp_plan(args.family, _proxy_names(args.proxies), overrides, args.n, args.seed, args.chunk_size,
                             Path(args.out) if args.out else None)
    except FileExistsError as error:
        raise InvalidInputError(str(error)) from None
    print(f"plan {plan.folder}: {len(plan.units)} units ({plan.describe()}); run it with "
          f"`cgbench label launch {plan.folder}`")


def _cmd_collect(args: argparse.Namespace) -> None:
    from cgbench.jobs.plan import load_plan

    from .plan import ZcpPlan, collect_zcp

    plan = load_plan(args.plan)
    if not isinstance(plan, ZcpPlan):
        raise InvalidInputError(f"{args.plan} is a training plan; collect it with `cgbench label collect`")
    report = collect_zcp(plan)
    for proxy, path in report.paths.items():
        print(f"{proxy}: {report.added[proxy]} new scores -> {path}")


def _cmd_agreement(args: argparse.Namespace) -> None:
    from .reference import agreement_table, format_agreement

    proxies = _proxy_names(args.proxies) if args.proxies else None
    table = agreement_table(args.family, proxies, args.n, args.seed, args.device, dataset=args.dataset)
    print(format_agreement(args.family, table, args.dataset))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zcp", help="zero-cost proxies: list, score a family, plan whole families, agreement with NASLib",
        description="Zero-cost proxies: list them with their data recipes, score a family's architectures "
                    "(here, or as a work plan run by the labelling backends), or compare our scores with "
                    "NAS-Bench-Suite-Zero's.",
        epilog=examples("cgbench zcp list", "cgbench zcp score nb201 --proxies synflow,nwot --n 500",
                        "cgbench zcp plan nb201 --proxies nwot --out plans/nb201-zcp",
                        "cgbench zcp agreement nb201"))
    sub = parser.add_subparsers(dest="zcp_command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="the registered proxies and their recipes",
                   description="List the registered proxies, what each computes and its declared data recipe.",
                   epilog=examples("cgbench zcp list")).set_defaults(func=_cmd_list)

    p = sub.add_parser("score", help="score a family's architectures, stored next to the family (resumable)",
                       description="Score a family's architectures with some proxies. Scores are stored next to "
                                   "the family, keyed by proxy and recipe; an interrupted run resumes.",
                       epilog=examples("cgbench zcp score nb201 --proxies synflow,nwot --n 500",
                                       "cgbench zcp score hiaml --proxies params,flops --device cuda"))
    p.add_argument("family", help=FAMILY_HELP)
    p.add_argument("--proxies", required=True, help="comma-separated proxy names (`cgbench zcp list` lists them)")
    p.add_argument("--n", type=positive_int, help="score a seeded random subset of N rows (default: all)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the --n subset (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int,
                   help="override every proxy's recipe batch size (default: each proxy's own)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("plan", help="plan scoring a whole family as work units for `cgbench label launch`",
                       description="Write a work plan whose units score chunks of a family's architectures with "
                                   "some proxies; run it with `cgbench label launch PLAN` (local worker processes "
                                   "or a SLURM job array), follow it with `cgbench label status PLAN`, store the "
                                   "scores with `cgbench zcp collect PLAN`.",
                       epilog=examples("cgbench zcp plan nb201 --proxies nwot,synflow --chunk-size 100 "
                                       "--out plans/nb201-zcp",
                                       "cgbench label launch plans/nb201-zcp --backend local --devices cpu"))
    p.add_argument("family", help=FAMILY_HELP)
    p.add_argument("--proxies", required=True, help="comma-separated proxy names (`cgbench zcp list` lists them)")
    p.add_argument("--n", type=positive_int, help="a seeded random subset of N distinct architectures (default: all)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the --n subset (default: %(default)s)")
    p.add_argument("--chunk-size", type=positive_int, default=100,
                   help="architectures per work unit (default: %(default)s)")
    p.add_argument("--data", choices=("random", "real"), default="random",
                   help="inputs of every proxy's recipe (default: %(default)s, as zc_ranker and graf read them)")
    p.add_argument("--batch-size", type=positive_int,
                   help="override every proxy's recipe batch size (default: each proxy's own)")
    p.add_argument("--out", help="plan folder (default: <CGBENCH_HOME>/zcp_plans/<family>-...)")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("collect", help="store the scores of a zcp plan's finished units with the family",
                       description="Add the scores of a zcp plan's finished units to the family's score tables.",
                       epilog=examples("cgbench zcp collect plans/nb201-zcp"))
    p.add_argument("plan", help="plan folder written by `cgbench zcp plan`")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("agreement", help="Spearman of our scores vs NAS-Bench-Suite-Zero's, per proxy",
                       description="Score NAS-Bench-Suite-Zero's reference cells with our proxies and print the "
                                   "Spearman correlation with the reference scores, per proxy, and of both with "
                                   "the cells' validation accuracy.",
                       epilog=examples("cgbench zcp agreement nb201",
                                       "cgbench zcp agreement nb101 --proxies nwot --n 100",
                                       "cgbench zcp agreement nb301 --dataset svhn"))
    p.add_argument("family", choices=REFERENCE_FAMILIES, help="the family the reference scored")
    p.add_argument("--dataset", choices=REFERENCE_DATASET_NAMES, default="cifar10",
                   help="the reference's dataset (default: %(default)s; svhn, scifar100 and ninapro are the "
                        "cross-task cells of nb201, nb301 and tnb101_micro)")
    p.add_argument("--proxies", help="comma-separated proxy names (default: every proxy the reference scored)")
    p.add_argument("--n", type=positive_int, help="a seeded random subset of N reference cells (default: all)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the --n subset (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.set_defaults(func=_cmd_agreement)

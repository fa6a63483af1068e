"""``cgbench zcp list | score FAMILY | plan FAMILY | collect PLAN | agreement FAMILY [--dataset D]``: zero-cost proxies.

``score`` scores rows in this process; ``plan`` writes a work plan that the labelling backends run
(``cgbench label launch PLAN --backend local|submitit``, ``cgbench label status PLAN``) and
``collect`` stores its finished units' scores with the family.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _cmd_list(args: argparse.Namespace) -> None:
    from . import get_proxy, list_proxies

    for name in list_proxies():
        proxy = get_proxy(name)
        print(f"{name:12s} {proxy.description}")
        print(f"{'':12s} recipe {proxy.recipe.hash}: {proxy.recipe.as_dict()}")


def _proxy_names(text: str) -> list[str]:
    from . import get_proxy

    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        get_proxy(name)  # unknown names fail here with the list of known ones
    return names


def _cmd_score(args: argparse.Namespace) -> None:
    from cgbench.dataset import load_family

    from .scoring import load_scores, score_family

    family = load_family(args.family)
    indices = None
    if args.n is not None:
        indices = np.sort(np.random.default_rng(args.seed).permutation(len(family))[: args.n])
    overrides = {"batch_size": args.batch_size} if args.batch_size else None
    names = _proxy_names(args.proxies)
    for name, path in score_family(family, names, overrides, indices, args.device).items():
        scores = load_scores(family, name, _recipe_of(name, overrides))
        print(f"{name}: {int(np.sum(~np.isnan(scores)))} of {len(family)} rows scored -> {path}")


def _recipe_of(name: str, overrides: dict | None):
    from .scoring import proxy_recipe

    return proxy_recipe(name, overrides)


def _cmd_plan(args: argparse.Namespace) -> None:
    from .plan import make_zcp_plan

    overrides = {"data": args.data, **({"batch_size": args.batch_size} if args.batch_size else {})}
    try:
        plan = make_zcp_plan(args.family, _proxy_names(args.proxies), overrides, args.n, args.seed, args.chunk_size,
                             Path(args.out) if args.out else None)
    except (ValueError, FileExistsError) as error:
        raise SystemExit(f"cgbench zcp plan: {error}") from None
    print(f"plan {plan.folder}: {len(plan.units)} units ({plan.describe()}); run it with "
          f"`cgbench label launch {plan.folder}`")


def _cmd_collect(args: argparse.Namespace) -> None:
    from labeling.plan import load_plan

    from .plan import ZcpPlan, collect_zcp

    try:
        plan = load_plan(args.plan)
        if not isinstance(plan, ZcpPlan):
            raise ValueError(f"{args.plan} is a training plan; collect it with `cgbench label collect`")
        report = collect_zcp(plan)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"cgbench zcp collect: {error}") from None
    for proxy, path in report.paths.items():
        print(f"{proxy}: {report.added[proxy]} new scores -> {path}")


def _cmd_agreement(args: argparse.Namespace) -> None:
    from .reference import agreement_table, format_agreement

    proxies = _proxy_names(args.proxies) if args.proxies else None
    table = agreement_table(args.family, proxies, args.n, args.seed, args.device, dataset=args.dataset)
    print(format_agreement(args.family, table, args.dataset))


def register(subparsers) -> None:
    parser = subparsers.add_parser("zcp", help="zero-cost proxies: list, score a family, agreement with NASLib")
    sub = parser.add_subparsers(dest="zcp_command", required=True)
    sub.add_parser("list", help="the registered proxies and their recipes").set_defaults(func=_cmd_list)

    p = sub.add_parser("score", help="score a family's architectures, stored next to the family (resumable)")
    p.add_argument("family")
    p.add_argument("--proxies", required=True, help="comma-separated proxy names (see `cgbench zcp list`)")
    p.add_argument("--n", type=int, help="score a seeded random subset of N rows (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --n subset")
    p.add_argument("--batch-size", type=int, help="override every proxy's recipe batch size")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("plan", help="plan scoring a whole family as work units for `cgbench label launch`")
    p.add_argument("family")
    p.add_argument("--proxies", required=True, help="comma-separated proxy names (see `cgbench zcp list`)")
    p.add_argument("--n", type=int, help="a seeded random subset of N distinct architectures (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --n subset")
    p.add_argument("--chunk-size", type=int, default=100, help="architectures per work unit (default: %(default)s)")
    p.add_argument("--data", choices=("random", "real"), default="random",
                   help="inputs of every proxy's recipe (default: %(default)s, as zc_ranker and graf read them)")
    p.add_argument("--batch-size", type=int, help="override every proxy's recipe batch size")
    p.add_argument("--out", help="plan folder (default: <CGBENCH_HOME>/zcp_plans/<family>-...)")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("collect", help="store the scores of a zcp plan's finished units with the family")
    p.add_argument("plan", help="plan folder")
    p.set_defaults(func=_cmd_collect)

    from .reference import REFERENCE_DATASETS

    p = sub.add_parser("agreement", help="Spearman of our scores vs NAS-Bench-Suite-Zero's, per proxy")
    p.add_argument("family", choices=tuple(REFERENCE_DATASETS))
    p.add_argument("--dataset", default="cifar10",
                   help="the reference's dataset: " + "; ".join(f"{name}: {', '.join(sets)}"
                                                                for name, sets in REFERENCE_DATASETS.items()))
    p.add_argument("--proxies", help="comma-separated proxy names (default: every proxy the reference scored)")
    p.add_argument("--n", type=int, help="a seeded random subset of N reference cells (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_agreement)

"""``cgbench zcp list | score FAMILY | agreement nb201|nb101``: zero-cost proxies from the command line.

Registering the commands imports neither torch nor the proxies: each command imports what it needs.
"""

from __future__ import annotations

import argparse

from cgbench.cli import FAMILY_HELP, examples, non_negative_int, positive_int

REFERENCE_FAMILIES = ("nb201", "nb101")


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


def _cmd_agreement(args: argparse.Namespace) -> None:
    from .reference import agreement_table, format_agreement

    proxies = _proxy_names(args.proxies) if args.proxies else None
    table = agreement_table(args.family, proxies, args.n, args.seed, args.device)
    print(format_agreement(args.family, table))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zcp", help="zero-cost proxies: list, score a family, agreement with NASLib",
        description="Zero-cost proxies: list them with their data recipes, score a family's architectures, "
                    "or compare our scores with NAS-Bench-Suite-Zero's.",
        epilog=examples("cgbench zcp list", "cgbench zcp score nb201 --proxies synflow,nwot --n 500",
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

    p = sub.add_parser("agreement", help="Spearman of our scores vs NAS-Bench-Suite-Zero's, per proxy",
                       description="Score NAS-Bench-Suite-Zero's reference cells with our proxies and print the "
                                   "Spearman correlation with the reference scores, per proxy.",
                       epilog=examples("cgbench zcp agreement nb201",
                                       "cgbench zcp agreement nb101 --proxies nwot --n 100"))
    p.add_argument("family", choices=REFERENCE_FAMILIES, help="the family the reference scored")
    p.add_argument("--proxies", help="comma-separated proxy names (default: every proxy the reference scored)")
    p.add_argument("--n", type=positive_int, help="a seeded random subset of N reference cells (default: all)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the --n subset (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.set_defaults(func=_cmd_agreement)

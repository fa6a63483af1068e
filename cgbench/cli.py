"""The ``cgbench`` command. Other packages (labeling, leaderboard, baselines) add subcommands
through the ``cgbench.commands`` entry-point group: each entry point is a function that takes
the argparse subparsers object and registers its commands."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np


def _cmd_families(args: argparse.Namespace) -> None:
    from .dataset import family_folder
    from .families import family_spec, list_families
    from .storage import read_manifest

    for name in list_families():
        spec = family_spec(name)
        folder = family_folder(spec)
        if (folder / "manifest.json").exists():
            count = f"{read_manifest(folder)['n_archs']} archs (built)"
        elif spec.import_command is not None:
            count = f"not imported: `{spec.import_command}`"
        else:
            count = "not built yet: `cgbench build " + name + "`"
        print(f"{name:16s} v{spec.version}  {count}  {spec.description}")
        print(f"{'':16s} labels: {', '.join(label.name for label in spec.labels) or '(unlabelled)'}")
        sources = sorted({raw.source_id for raw in spec.raw_files} | {label.source_id for label in spec.labels})
        print(f"{'':16s} sources: {', '.join(sources) or '(none: built from the search space)'}")


def _cmd_import(args: argparse.Namespace) -> None:
    from .families import importers

    func, _ = importers()[args.kind]
    for name in func(Path(args.path), True):
        print(f"imported {name}")


def _cmd_fetch(args: argparse.Namespace) -> None:
    from .families import family_spec
    from .sources import fetch

    for raw in family_spec(args.name).raw_files:
        print(f"{raw.source_id}/{raw.filename}: {fetch(raw)}")


def _cmd_build(args: argparse.Namespace) -> None:
    from .dataset import build_family

    print(build_family(args.name, force=args.force))


def summary_lines(family) -> list[str]:
    """What ``cgbench info`` prints: sizes, label columns with sources, splits, label statistics."""
    n_nodes = family.table.column("n_nodes").to_numpy()
    hashes = family.table.column("wl_hash").to_pylist()
    lines = [
        f"{family.name} v{family.version} ({family.manifest['cg_format']}): {len(family)} architectures, "
        f"{len(set(hashes))} distinct CGs (canonical hash)",
        f"  nodes per CG: min {n_nodes.min()}, median {int(np.median(n_nodes))}, max {n_nodes.max()}",
        f"  default target: {family.default_target}",
        "  labels:",
    ]
    for name, meta in family.manifest["labels"].items():
        values = family.labels(name)
        ok = values[~np.isnan(values)]
        stats = (f"mean={ok.mean():7.3f} std={ok.std():6.3f} min={ok.min():7.3f} max={ok.max():7.3f}" if len(ok)
                 else f"{'(no row labelled yet)':53s}")
        if meta.get("device"):  # a measured cost: where and how it was measured
            what = f"{meta['device']} ({meta['device_kind']}), batch {meta.get('batch_size') or 'not stated'}"
        else:
            epochs = f"{meta['epochs']} ep" if meta["epochs"] is not None else "no epoch count"
            what = f"{meta['dataset']} {meta['split']}, {epochs}"
        direction = "" if meta.get("higher_is_better", True) else ", lower is better"
        lines.append(f"    {name:34s} n={len(ok):6d} {stats} [{meta['unit']}]  {what}{direction}, "
                     f"source {meta['source_id']} ({meta['licence']})")
    lines.append("  splits:")
    for split, parts in family.splits.items():
        lines.append(f"    {split:10s} " + "  ".join(f"{p}={len(i)}" for p, i in parts.items()))
    return lines


def _cmd_info(args: argparse.Namespace) -> None:
    from .dataset import load_family

    print("\n".join(summary_lines(load_family(args.name))))


def _cmd_draw(args: argparse.Namespace) -> None:
    from .dataset import load_family
    from .graph.draw import draw

    family = load_family(args.name)
    out = args.output or f"{args.name}-{args.index}.png"
    path = draw(family.graph(args.index), out, title=f"{args.name} #{args.index}: {family.arch_ids[args.index]}",
                engine=args.engine)
    print(path)


def _cmd_export(args: argparse.Namespace) -> None:
    from .dataset import load_family
    from .storage import export_hdf5

    family = load_family(args.name)
    out = Path(args.output or f"{args.name}-{family.version}.h5")
    export_hdf5(family.table, family.manifest, out)
    print(out)


def read_predictions(path: Path) -> dict:
    """A predictions file: CSV with columns arch_id,y_pred, or JSON ({arch_id: score} or columns)."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"arch_id", "y_pred"} <= set(rows[0]):
        raise SystemExit(f"{path}: a CSV of predictions needs the header arch_id,y_pred")
    scores = []
    for row in rows:
        try:
            scores.append(float(row["y_pred"]))
        except ValueError:
            raise SystemExit(f"{path}: y_pred {row['y_pred']!r} of {row['arch_id']!r} is not a number") from None
    return {"arch_id": [r["arch_id"] for r in rows], "y_pred": scores}


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import Evaluator, InvalidPredictionsError

    evaluator = Evaluator(args.name, split=args.split, part=args.part, target=args.target)
    try:
        result = evaluator.eval(read_predictions(Path(args.predictions)), bootstrap=args.bootstrap)
    except InvalidPredictionsError as err:
        raise SystemExit(f"invalid predictions: {err}") from None
    print(json.dumps(result, indent=2))


def _cmd_run(args: argparse.Namespace) -> None:
    from .dataset import load_family

    for name in args.families or main_job_families():
        print("\n".join(summary_lines(load_family(name))))


def main_job_families() -> list[str]:
    """Families `cgbench run` builds by default: not those built from user files, nor the slow ones."""
    from .families import family_spec, list_families

    return [n for n in list_families() if family_spec(n).import_command is None and family_spec(n).in_main_job]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cgbench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("families", help="list the registered families").set_defaults(func=_cmd_families)
    for name, func, text in (("fetch", _cmd_fetch, "download (or copy from CGBENCH_MIRROR) a family's raw files"),
                             ("info", _cmd_info, "sizes, labels with sources, splits, label statistics")):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(func=func)
    p = sub.add_parser("build", help="build a family's Parquet tables and splits")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="rebuild even if a verified build exists")
    p.set_defaults(func=_cmd_build)
    from .families import importers

    p = sub.add_parser("import", help="build families from files you bring (GENNAPE caches, NAS-Bench-301 runs, ...)")
    p.add_argument("kind", choices=sorted(importers()),
                   help="; ".join(f"{name}: {text}" for name, (_, text) in sorted(importers().items())))
    p.add_argument("path")
    p.set_defaults(func=_cmd_import)
    p = sub.add_parser("draw", help="draw the CG of one architecture")
    p.add_argument("name")
    p.add_argument("index", type=int)
    p.add_argument("-o", "--output")
    p.add_argument("--engine", default="auto", choices=("auto", "graphviz", "matplotlib"))
    p.set_defaults(func=_cmd_draw)
    p = sub.add_parser("export", help="export a family to another format")
    p.add_argument("name")
    p.add_argument("--format", choices=("hdf5",), default="hdf5")
    p.add_argument("-o", "--output")
    p.set_defaults(func=_cmd_export)
    p = sub.add_parser("evaluate", help="score a predictions file (CSV arch_id,y_pred or JSON)")
    p.add_argument("name")
    p.add_argument("predictions")
    p.add_argument("--split", default="random")
    p.add_argument("--part", default="test")
    p.add_argument("--target")
    p.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples for confidence intervals")
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("run", help="the main job: build the families (all but the slow and user-supplied ones) and print their summaries")
    p.add_argument("families", nargs="*", help="families to build (default: all registered)")
    p.set_defaults(func=_cmd_run)
    for entry in entry_points(group="cgbench.commands"):
        entry.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])

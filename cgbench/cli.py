"""The cgbench command: families, building, drawing, exporting, evaluating and importing.

Other packages (labeling, leaderboard, baselines) add subcommands through the ``cgbench.commands``
entry-point group: each entry point is a function that takes the argparse subparsers object and
registers its commands. Building the parser imports no heavy module (torch, torch_geometric,
pandas, pyarrow, datasets, even numpy): each command imports what it needs when it runs, so
``cgbench --help`` answers at once. Entry-point modules follow the same rule.

Errors: :func:`main` is the one error boundary. A :class:`~cgbench.errors.CgbenchError` or an
operating-system error about a path the user named is printed as one line, ``cgbench COMMAND:
error: ...``, and the command exits with status 2; so are argparse's own usage errors.
``--debug`` (or ``CGBENCH_DEBUG=1``) prints the traceback above that line. Any other exception is
a bug and propagates with its traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from importlib.metadata import entry_points
from pathlib import Path

from .cli_capture import add_capture_command
from .cli_options import FAMILY_HELP, CliParser, examples, non_negative_int
from .errors import CgbenchError

DEBUG_VARIABLE = "CGBENCH_DEBUG"
# Operating-system errors that are about what the user named or where cgbench was told to write,
# not about cgbench itself: the boundary reports them in one line.
USER_OS_ERRNOS = frozenset({errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EEXIST,
                            errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG})


# ---------------------------------------------------------------------------------------------
# Commands


def _cmd_families(args: argparse.Namespace) -> None:
    from .dataset import family_folder, rebuild_command
    from .families import family_spec, list_families
    from .storage import is_built, read_manifest

    for name in list_families():
        spec = family_spec(name)
        folder = family_folder(spec)
        if is_built(folder):
            count = f"{read_manifest(folder, name, spec.version, rebuild_command(spec))['n_archs']} archs (built)"
        elif spec.import_command is not None:
            count = f"not imported: `{spec.import_command}`"
        else:
            count = "not built yet: `cgbench build " + name + "`"
        print(f"{name:16s} v{spec.version}  {count}  {spec.description}")
        print(f"{'':16s} labels: {', '.join(label.name for label in spec.labels) or '(unlabelled)'}")
        sources = sorted({raw.source_id for raw in spec.raw_files} | {label.source_id for label in spec.labels})
        print(f"{'':16s} sources: {', '.join(sources) or '(none: built from the search space)'}")


def _cmd_tracks(args: argparse.Namespace) -> None:
    from .tasks import TRACKS

    for track in TRACKS.values():
        print(f"{track.name:20s} {track.title}")
        print(f"{'':20s} {track.description}; scores the {track.part!r} part of split {track.split!r}, "
              f"{track.target_kind} targets")


def _cmd_import(args: argparse.Namespace) -> None:
    from .dataset import import_families

    for name in import_families(args.kind, Path(args.path), progress=not args.no_progress):
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
    """What ``cgbench info`` prints: sizes, label columns with sources, splits, label statistics, files."""
    import numpy as np

    from .splits import SPLIT_DOCS

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
        lines.append(f"    {split:10s} " + "  ".join(f"{p}={len(i)}" for p, i in parts.items())
                     + f"   ({SPLIT_DOCS.get(split, '')})")
    lines.extend(_file_lines(family))
    return lines


def _file_lines(family) -> list[str]:
    """Where a family's files are: its folder, each file with its size, the PyG cache, the raw files."""
    from .sources import local_path

    def size(path: Path) -> str:
        return f"{path.stat().st_size / 1e6:.1f} MB" if path.exists() else "not written yet"

    lines = [f"  files ({family.folder}):"]
    lines += [f"    {path.name:16s} {size(path):>10s}  {what}" for what, path in family.files.items()]
    lines.append(f"    {'pyg/':16s} {'':>10s}  the PyG view's processed tensors (made by to_pyg() on first use)")
    for raw in family.spec.raw_files:
        lines.append(f"    raw: {local_path(raw)} ({size(local_path(raw))}; {raw.url})")
    return lines


def _cmd_info(args: argparse.Namespace) -> None:
    from .dataset import load_family

    print("\n".join(summary_lines(load_family(args.name))))


def _cmd_draw(args: argparse.Namespace) -> None:
    from .dataset import load_family
    from .graph.draw import draw

    family = load_family(args.name)
    graph = family.graph(args.index)
    out = args.output or f"{args.name}-{args.index}.png"
    print(draw(graph, out, title=f"{args.name} #{args.index}: {family.arch_ids[args.index]}", engine=args.engine))


def _cmd_export(args: argparse.Namespace) -> None:
    from .dataset import load_family

    family = load_family(args.name)
    print(family.to_hdf5(args.output or f"{args.name}-{family.version}.h5"))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from .evaluation import Evaluator
    from .predictions import read_predictions

    evaluator = Evaluator(args.name, split=args.split, part=args.part, target=args.target)
    predictions = read_predictions(Path(args.predictions))
    print(json.dumps(evaluator.eval(predictions, bootstrap=args.bootstrap), indent=2))


def _cmd_run(args: argparse.Namespace) -> None:
    from .dataset import load_families

    for family in load_families(args.families or main_job_families()).values():
        print("\n".join(summary_lines(family)))


def main_job_families() -> list[str]:
    """Families `cgbench run` builds by default: not those built from user files, nor the slow ones."""
    from .families import family_spec, list_families

    return [n for n in list_families() if family_spec(n).import_command is None and family_spec(n).in_main_job]


# ---------------------------------------------------------------------------------------------
# The parser


def _add_family_commands(sub) -> None:
    sub.add_parser("tracks", help="list the benchmark's tracks: what each trains on and scores",
                   description="List the benchmark's tracks (cgbench/tasks.py): what a run of each may train on, "
                               "which split and part it is scored on, and which targets.",
                   epilog=examples("cgbench tracks")).set_defaults(func=_cmd_tracks)
    sub.add_parser("families", help="list the registered families, their labels and sources",
                   description="List every registered family: version, whether it is built, its label columns "
                               "and their sources.",
                   epilog=examples("cgbench families")).set_defaults(func=_cmd_families)
    p = sub.add_parser("fetch", help="download (or copy from CGBENCH_MIRROR) a family's raw files",
                       description="Download a family's raw files (or copy them from $CGBENCH_MIRROR) into "
                                   "$CGBENCH_HOME/raw, checking each against its sha256.",
                       epilog=examples("cgbench fetch nb201", "CGBENCH_MIRROR=../shared/data cgbench fetch nb101"))
    p.add_argument("name", help=FAMILY_HELP)
    p.set_defaults(func=_cmd_fetch)
    p = sub.add_parser("info", help="sizes, labels with sources, splits, label statistics, file locations",
                       description="Load a family (building it on first use) and print its sizes, label columns "
                                   "with their sources and statistics, its splits, and where its files are.",
                       epilog=examples("cgbench info nb201"))
    p.add_argument("name", help=FAMILY_HELP)
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("build", help="build a family's Parquet tables and splits",
                       description="Fetch a family's raw files and build its table of CGs, labels and splits "
                                   "under $CGBENCH_HOME/families (nothing is done if a verified build exists).",
                       epilog=examples("cgbench build nb201", "cgbench build timm_zoo   # about an hour, resumable",
                                       "cgbench build nb101 --force"))
    p.add_argument("name", help=FAMILY_HELP)
    p.add_argument("--force", action="store_true",
                   help="rebuild even if a verified build exists (readers see the old build until the new one "
                        "is in place)")
    p.set_defaults(func=_cmd_build)
    p = sub.add_parser("run", help="the main job: build the families (all but the slow and user-supplied ones) "
                                   "and print their summaries",
                       description="Build the families of the main job and print what `cgbench info` prints "
                                   "for each.",
                       epilog=examples("cgbench run", "cgbench run nb201 hiaml"))
    p.add_argument("families", nargs="*", metavar="NAME",
                   help="families to build (default: every family that needs no user files, except timm_zoo)")
    p.set_defaults(func=_cmd_run)


def _add_import_command(sub) -> None:
    from .importers import IMPORT_KINDS

    p = sub.add_parser("import", help="build families from files you bring (GENNAPE caches, NAS-Bench-101 "
                                      "and NAS-Bench-301 results)",
                       description="Build families from files that are not public downloads. Kinds:\n"
                                   + "\n".join(f"  {name:8s} {text}" for name, text in sorted(IMPORT_KINDS.items())),
                       epilog=examples("cgbench import nb101 nasbench_only108.tfrecord   # -> nb101_full",
                                       "cgbench import nb301 nb_301_v13/                  # -> nb301",
                                       "cgbench import gennape CG_data.zip                # -> gennape_*"))
    p.add_argument("kind", choices=sorted(IMPORT_KINDS), help="what the files are (see above)")
    p.add_argument("path", help="the file or folder to import")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_import)


def _add_graph_commands(sub) -> None:
    p = sub.add_parser("draw", help="draw the CG of one architecture",
                       description="Draw the computation graph of row INDEX of a family to an image file.",
                       epilog=examples("cgbench draw nb201 5",
                                       "cgbench draw hiaml 0 -o hiaml0.svg --engine matplotlib"))
    p.add_argument("name", help=FAMILY_HELP)
    p.add_argument("index", type=non_negative_int, help="row of the family, from 0 to its size - 1")
    p.add_argument("-o", "--output", help="image file to write (default: NAME-INDEX.png)")
    p.add_argument("--engine", default="auto", choices=("auto", "graphviz", "matplotlib"),
                   help="graphviz needs the dot program; auto uses it when installed, else matplotlib "
                        "(default: %(default)s)")
    p.set_defaults(func=_cmd_draw)
    p = sub.add_parser("export", help="export a family to another format",
                       description="Write a family's table and manifest to one HDF5 file (graphs in CSR form).",
                       epilog=examples("cgbench export nb201", "cgbench export nb201 -o nb201.h5"))
    p.add_argument("name", help=FAMILY_HELP)
    p.add_argument("--format", choices=("hdf5",), default="hdf5", help="output format (default: %(default)s)")
    p.add_argument("-o", "--output", help="file to write (default: NAME-VERSION.h5)")
    p.set_defaults(func=_cmd_export)
    p = sub.add_parser("evaluate", help="score a predictions file (CSV arch_id,y_pred or JSON)",
                       description="Score predictions for one split part of a family with the Evaluator. The file "
                                   "is a CSV with the header arch_id,y_pred, or JSON: {arch_id: score}, "
                                   '{"arch_id": [...], "y_pred": [...]}, or a list aligned with Evaluator.arch_ids.',
                       epilog=examples("cgbench evaluate nb201 predictions.csv",
                                       "cgbench evaluate nb201 predictions.json --split fewshot50 --bootstrap 1000"))
    p.add_argument("name", help=FAMILY_HELP)
    p.add_argument("predictions", help="the predictions file (.csv or .json)")
    p.add_argument("--split", default="random", help="stored split: random, fewshot50 or dedup (default: %(default)s)")
    p.add_argument("--part", default="test", help="part of the split: train, valid or test (default: %(default)s)")
    p.add_argument("--target", help="label column to score against (default: the family's default target)")
    p.add_argument("--bootstrap", type=non_negative_int, default=0,
                   help="bootstrap resamples for 95%% confidence intervals; 0 for none (default: %(default)s)")
    p.set_defaults(func=_cmd_evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The ``cgbench`` parser with every subcommand, those of the entry points included."""
    parser = CliParser(
        prog="cgbench", description=__doc__.split("\n")[0],
        epilog=examples("cgbench families", "cgbench info nb201", "cgbench benchmark --methods flops --seeds 0",
                        "cgbench <command> --help"))
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of an error (also: {DEBUG_VARIABLE}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_family_commands(sub)
    _add_import_command(sub)
    _add_graph_commands(sub)
    add_capture_command(sub)
    for entry in entry_points(group="cgbench.commands"):
        entry.load()(sub)
    return parser


def _is_user_os_error(err: OSError) -> bool:
    return err.errno in USER_OS_ERRNOS or isinstance(err, (FileNotFoundError, IsADirectoryError, NotADirectoryError,
                                                           PermissionError, FileExistsError))


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.strerror}: {err.filename}"
        home = os.environ.get("CGBENCH_HOME")
        if home and str(err.filename).startswith(home):
            text += f" (under CGBENCH_HOME={home}; point it at a folder you can write)"
        return text
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def main(argv: list[str] | None = None) -> None:
    """Run ``cgbench ARGV``; exit with status 2 and a one-line message on a user's error."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        args.func(args)
    except (CgbenchError, OSError) as err:
        if isinstance(err, OSError) and not isinstance(err, CgbenchError) and not _is_user_os_error(err):
            raise
        if debug:
            traceback.print_exc()
        print(f"{args.command_prog}: error: {_one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main(sys.argv[1:])

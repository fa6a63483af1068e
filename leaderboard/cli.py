"""``cgbench leaderboard validate FILE`` and ``cgbench leaderboard render``, registered through the
``cgbench.commands`` entry-point group. An invalid submission is an ``InvalidSubmissionError``, which
``cgbench.cli.main`` prints in one line (exit status 2)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cgbench.cli_options import examples

from cgbench.board import SHIPPED_SUBMISSIONS

DEFAULT_OUT = Path("artifacts") / "leaderboard"


def _cmd_validate(args: argparse.Namespace) -> None:
    from .validate import InvalidSubmissionError, summary_lines, validate_submission

    try:
        result = validate_submission(Path(args.file), shipped=args.shipped)
    except InvalidSubmissionError as err:
        raise InvalidSubmissionError(f"invalid submission {args.file}: {err}") from None
    if not args.json:
        print("\n".join(summary_lines(result)))
        return
    hidden = () if result.submission.method.scale == "target" else ("mae", "mape")
    report = {"method": result.submission.method.name, "runs": [r.as_dict(hidden) for r in result.runs],
              "over_seeds": [s.as_dict(hidden) for s in result.summaries()]}
    print(json.dumps(report, indent=2))
    print(f"valid: {result.submission.method.name}, {len(result.runs)} run(s); metrics recomputed", file=sys.stderr)


def _cmd_render(args: argparse.Namespace) -> None:
    from .render import render_leaderboard

    report = render_leaderboard(Path(args.submissions), Path(args.out), added=[Path(f) for f in args.add or ()])
    for rejected in report.rejected:
        print(f"left out {rejected.path}: {rejected.reason}", file=sys.stderr)
    print(f"{len(report.accepted)} submission(s) on the board, {len(report.rejected)} left out as invalid")
    print(report.html_path)
    print(report.markdown_path)
    if args.strict and report.rejected:
        raise SystemExit(f"{len(report.rejected)} invalid submission(s) (--strict)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="validate submissions and render the leaderboard",
        description="Validate submission files (every metric is recomputed from the predictions) and render the "
                    "leaderboard as a static HTML page and a Markdown table.",
        epilog=examples("cgbench leaderboard validate my_method.json.gz", "cgbench leaderboard render"))
    commands = parser.add_subparsers(dest="leaderboard_command", required=True, metavar="COMMAND")
    p = commands.add_parser("validate", help="check a submission file (.json.gz or .json) and print its recomputed "
                                             "metrics",
                            description="Check a submission against the format and the current family builds, "
                                        "recompute its metrics with the Evaluator, and print a table per (track, "
                                        "family, target) beside the FLOPs ranking (--json: everything as JSON).",
                            epilog=examples("cgbench leaderboard validate leaderboard/submissions/gin.json.gz",
                                            "cgbench leaderboard validate mine.json.gz --json"))
    p.add_argument("file", help="the submission (.json.gz or .json)")
    p.add_argument("--json", action="store_true", help="every run's and every table's metrics as JSON instead of "
                                                         "the short table")
    p.add_argument("--shipped", action="store_true", help="also the shipped leaderboard's rules (code at a public "
                                                            "http(s) address)")
    p.set_defaults(func=_cmd_validate)
    p = commands.add_parser("render", help="write the leaderboard as a static HTML page and a Markdown table",
                            description="Validate every submission in --submissions and write index.html and "
                                        "leaderboard.md to --out; invalid submissions are left out and listed.",
                            epilog=examples("cgbench leaderboard render",
                                            "cgbench leaderboard render --add results/submissions/mine.json.gz",
                                            "cgbench leaderboard render --submissions my_subs --out site --strict"))
    p.add_argument("--submissions", default=str(SHIPPED_SUBMISSIONS),
                   help="folder of submission files, *.json.gz or *.json (default: the shipped leaderboard/submissions)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for index.html and leaderboard.md "
                                                           "(default: %(default)s)")
    p.add_argument("--add", nargs="+", metavar="FILE", help="your own submission file(s), rendered beside the "
                                                           "folder's (a local board: code may be a local path)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any submission is invalid")
    p.set_defaults(func=_cmd_render)

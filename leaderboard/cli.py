"""``cgbench leaderboard validate FILE`` and ``cgbench leaderboard render``, registered through the
``cgbench.commands`` entry-point group. An invalid submission is an ``InvalidSubmissionError``, which
``cgbench.cli.main`` prints in one line (exit status 2)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cgbench.cli import examples

SUBMISSIONS_DIR = Path(__file__).resolve().parent / "submissions"
DEFAULT_OUT = Path("artifacts") / "leaderboard"


def _cmd_validate(args: argparse.Namespace) -> None:
    from .validate import InvalidSubmissionError, json_safe, validate_submission

    try:
        result = validate_submission(Path(args.file))
    except InvalidSubmissionError as err:
        raise InvalidSubmissionError(f"invalid submission {args.file}: {err}") from None
    report = {
        "method": result.submission.method.name,
        "runs": [{"track": r.run.track, "family": r.run.family, "seed": r.run.seed, "target": r.run.target,
                  "trained_on": list(r.run.trained_on), "metrics": {k: json_safe(v) for k, v in r.metrics.items()}}
                 for r in result.runs],
        "over_seeds": [{"track": s.track, "family": s.family, "target": s.target, "seeds": list(s.seeds),
                        "mean": {k: json_safe(v) for k, v in s.mean.items()},
                        "std": {k: json_safe(v) for k, v in s.std.items()}} for s in result.summaries()],
    }
    print(json.dumps(report, indent=2))
    print(f"valid: {result.submission.method.name}, {len(result.runs)} run(s); metrics recomputed", file=sys.stderr)


def _cmd_render(args: argparse.Namespace) -> None:
    from .render import render_leaderboard

    report = render_leaderboard(Path(args.submissions), Path(args.out))
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
                            description="Check a submission against the format and the current family builds and "
                                        "print its metrics, recomputed with the Evaluator (JSON on stdout).",
                            epilog=examples("cgbench leaderboard validate leaderboard/submissions/gin.json.gz"))
    p.add_argument("file", help="the submission (.json.gz or .json)")
    p.set_defaults(func=_cmd_validate)
    p = commands.add_parser("render", help="write the leaderboard as a static HTML page and a Markdown table",
                            description="Validate every submission in --submissions and write index.html and "
                                        "leaderboard.md to --out; invalid submissions are left out and listed.",
                            epilog=examples("cgbench leaderboard render",
                                            "cgbench leaderboard render --submissions my_subs --out site --strict"))
    p.add_argument("--submissions", default=str(SUBMISSIONS_DIR),
                   help="folder of submission files, *.json.gz or *.json (default: the shipped leaderboard/submissions)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for index.html and leaderboard.md "
                                                           "(default: %(default)s)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any submission is invalid")
    p.set_defaults(func=_cmd_render)

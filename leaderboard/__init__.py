"""cgbench leaderboard: the submission format, the validator that recomputes every score, and the
static leaderboard page (``cgbench leaderboard validate FILE``, ``cgbench leaderboard render``)."""

from .submission import (FamilyVersion, InvalidSubmissionError, MethodInfo, Run, Submission, load_submission,
                         write_submission)
from .validate import RunMetrics, SeedSummary, ValidatedSubmission, validate_submission

__all__ = ["FamilyVersion", "InvalidSubmissionError", "MethodInfo", "Run", "RunMetrics", "SeedSummary", "Submission",
           "ValidatedSubmission", "load_submission", "validate_submission", "write_submission"]

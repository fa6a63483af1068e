"""cgbench leaderboard: the validator that recomputes every score of a submission (the format is
``cgbench.submission``, the task ``cgbench.tasks``), and the static leaderboard page (``cgbench leaderboard validate FILE``, ``cgbench leaderboard render``).

The names below are imported on first use (PEP 562), so registering the ``cgbench leaderboard``
command loads no family code.
"""

from __future__ import annotations

from cgbench.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(("FamilyVersion", "InvalidSubmissionError", "MethodInfo", "ProtocolInfo", "Submission",
                     "load_submission", "write_submission"), "cgbench.submission"),
    **dict.fromkeys(("ValidatedSubmission", "validate_submission"), "leaderboard.validate"),
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_exports(__name__, _LAZY)

"""Saying what a long job is doing: a line when each phase starts and how long it took.

Loops show tqdm bars; the work between them (reading raw files, hashing, writing Parquet) is
announced by :func:`phase`, so a first build is never silent for more than a moment. Messages go
to stderr, so they never mix with a command's output. :func:`recorded_phases` collects the
durations (what ``benchmarks/bench_cold_start.py`` prints).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_recorders: list[list[tuple[str, float, float]]] = []
_reporting: ContextVar[bool] = ContextVar("cgbench_reporting", default=True)


@contextmanager
def reporting(enabled: bool) -> Iterator[None]:
    """Turn :func:`phase` messages on or off inside the block (``load_family(..., progress=False)``)."""
    token = _reporting.set(enabled)
    try:
        yield
    finally:
        _reporting.reset(token)


@contextmanager
def phase(what: str, enabled: bool | None = None) -> Iterator[None]:
    """Announce ``what`` on stderr, run the block, then say how long it took.

    ``enabled`` None follows the innermost :func:`reporting` block (on by default).
    """
    enabled = _reporting.get() if enabled is None else enabled
    if enabled:
        print(f"{what} ...", file=sys.stderr, flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    yield
    seconds = time.perf_counter() - started
    for recorder in _recorders:
        recorder.append((what, seconds, time.process_time() - cpu_started))
    if enabled:
        print(f"{what}: done in {seconds:.1f} s", file=sys.stderr, flush=True)


@contextmanager
def recorded_phases() -> Iterator[list[tuple[str, float, float]]]:
    """Collect ``(phase, wall seconds, CPU seconds of this process)`` of every :func:`phase` that
    ends inside the block, in order (CPU time says what a phase costs on a shared machine)."""
    log: list[tuple[str, float, float]] = []
    _recorders.append(log)
    try:
        yield log
    finally:
        _recorders.remove(log)

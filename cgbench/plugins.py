"""User code that cgbench runs: an object named ``package.module:name`` or ``path/to/file.py:name``.

A researcher's predictor (``cgbench benchmark --predictor mine.py:Ridge``) and a study's functions
(:mod:`cgbench.jobs.calls`) live outside the package; the worker processes that run them find them
again by this name. A file is imported once per process under a module name derived from its
absolute path (never ``__main__``, so its ``if __name__ == "__main__"`` block does not run).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import InvalidInputError


# What importing a user's module can raise besides a clean import: its own bugs, missing dependencies.
USER_CODE_ERRORS = (SyntaxError, ImportError, NameError, AttributeError, TypeError, ValueError, LookupError,
                    OSError, RuntimeError, ArithmeticError, AssertionError)


def import_object(reference: str):
    """The object named ``module:qualname`` or ``path/to/file.py:qualname`` (a clear error when there is none)."""
    where, _, qualname = reference.rpartition(":")
    if not where or not qualname:
        raise InvalidInputError(f"{reference!r} is not 'module:name' or 'path/to/file.py:name'")
    module = _file_module(where, reference) if where.endswith(".py") else _named_module(where, reference)
    target = module
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise InvalidInputError(f"{reference!r}: {where} defines no {qualname!r}")
        target = getattr(target, part)
    return target


def _file_module(where: str, reference: str):
    path = Path(where).resolve()
    if not path.is_file():
        raise InvalidInputError(f"{reference!r}: {path} is not a file")
    name = f"cgbench_user_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except USER_CODE_ERRORS as error:
        del sys.modules[name]
        raise InvalidInputError(f"importing {path} failed: {type(error).__name__}: {error}") from None
    return module


def _named_module(where: str, reference: str):
    try:
        return importlib.import_module(where)
    except USER_CODE_ERRORS as error:
        raise InvalidInputError(f"{reference!r}: importing {where} failed: {type(error).__name__}: {error}") from None


def reference_file(reference: str) -> Path | None:
    """The file of a ``path/to/file.py:name`` reference (None for a module's)."""
    where = reference.rpartition(":")[0]
    return Path(where).resolve() if where.endswith(".py") else None

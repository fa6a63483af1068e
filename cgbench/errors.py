"""The errors a user of cgbench can cause: a wrong name, a bad argument, a bad file, a damaged cache.

Every one of them is a :class:`CgbenchError`. The command line (:func:`cgbench.cli.main`) prints
the message of a ``CgbenchError``, or of an operating-system error about a path the user named (a
missing file, a folder where a file goes, no permission), as one line and exits with status 2;
any other exception is a bug in cgbench and keeps its traceback. So code that detects a user's
mistake raises one of these classes, with a message that says what is wrong and, where there is
a choice, what the valid choices are.

Each class also derives from the built-in exception that Python code would expect for the same
problem (``KeyError`` for an unknown name, ``ValueError`` for a bad value, ...), so callers that
catch the built-in keep working.

This module imports nothing, so the command line can use it without loading torch or pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterable


class CgbenchError(Exception):
    """Something the user asked for or gave cgbench is wrong; the message says what and what to do."""


class UnknownNameError(CgbenchError, KeyError):
    """A name that is not registered: a family, proxy, method, recipe, target, split, importer, ..."""

    def __str__(self) -> str:
        # KeyError's own str() would print the message with quotes around it.
        return str(self.args[0]) if self.args else ""


def unknown_name(kind: str, name: object, known: Iterable[str], plural: str | None = None,
                 hint: str | None = None) -> UnknownNameError:
    """The standard message: ``unknown family 'x'; known families: a, b, c`` (and a ``hint``, if any)."""
    text = f"unknown {kind} {name!r}; known {plural or kind + 's'}: {', '.join(sorted(known))}"
    return UnknownNameError(text + (f"; {hint}" if hint else ""))


class InvalidInputError(CgbenchError, ValueError):
    """An argument or a value in a user's data that is out of range or malformed."""


class InvalidFileError(InvalidInputError):
    """A file a user gave (or pointed cgbench at) that cannot be read as what it should be.

    The message names the file and the problem: too large, not UTF-8 text, malformed, a field
    missing, a record cut off (with its byte offset), ...
    """


class CgbenchHomeError(CgbenchError, OSError):
    """``CGBENCH_HOME`` names something that cannot hold cgbench's cache."""

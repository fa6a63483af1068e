"""The argparse pieces every ``cgbench`` (sub)command is built from: the parser class, argument types,
the examples epilog. ``cgbench.cli`` and the packages that add subcommands import them from here."""

from __future__ import annotations

import argparse


class CliParser(argparse.ArgumentParser):
    """cgbench's argument parser: examples in the epilog keep their layout; a usage error is one line."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        # The innermost (sub)command's parser sets it last: errors name the command, e.g. `cgbench label plan`.
        self.set_defaults(command_prog=self.prog)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` shows the usage)\n")


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _bounded_int(text, 0)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _bounded_int(text, 1)


def _bounded_int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def examples(*lines: str) -> str:
    """An epilog listing example command lines."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


FAMILY_HELP = "family name (`cgbench families` lists them)"

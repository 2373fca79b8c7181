"""What the subcommands of the ``bpcore`` command line share: the parser, argument types, errors."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Protocol, TextIO, TypeAlias, final, runtime_checkable

from bpcore.errors import BpcoreError

__all__ = [
    "Command",
    "Parser",
    "Subparsers",
    "UsageError",
    "non_negative_float",
    "non_negative_int",
    "one_line",
    "positive_float",
    "positive_int",
    "print_error",
    "sizes",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers()`` returns: each command adds its own parser to it."""


@runtime_checkable
class Command(Protocol):
    """A subcommand: a module with ``add_parser(subparsers)`` and ``run(args) -> int``.

    ``add_parser`` adds one parser (or more) to ``subparsers``; its return value is
    ignored. ``run`` gets the parsed arguments and returns the exit status. It may
    raise :class:`~bpcore.errors.BpcoreError` or ``OSError``, which ``main`` reports
    as a one-line error with exit status 2.
    """

    def add_parser(self, subparsers: Subparsers) -> object:
        """Add the command's parser to ``subparsers``."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Run the command; return the process exit status."""
        ...


@final
class UsageError(BpcoreError, ValueError):
    """The command line asks for something impossible (for instance MNIST without its folder)."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def print_error(message: str, *, stream: TextIO | None = None) -> None:
    """Write ``bpcore: error: <message>`` as one line to ``stream`` (stderr by default)."""
    print(f"bpcore: error: {one_line(message)}", file=sys.stderr if stream is None else stream)


@final
class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``bpcore: error: ...``.

    argparse would print the whole usage block before the message; one line is
    easier to read in a terminal and to match in a script, and it says where the
    full usage is. The exit status stays argparse's 2.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``bpcore: error: <message> (see '<prog> --help')`` to stderr and exit 2."""
        print_error(f"{message} (see '{self.prog} --help')")
        self.exit(2)


def positive_int(text: str) -> int:
    """Parse an int ``>= 1``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """Parse a finite float ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    # Written so that NaN, which fails every comparison, is rejected too.
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """Parse a finite float ``>= 0``."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    # Written so that NaN, which fails every comparison, is rejected too.
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def sizes(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of positive ints, such as ``256,128``; ``""`` is ``()``."""
    parts = [part.strip() for part in text.split(",")] if text.strip() else []
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = (0,)
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 256,128, got {text!r}"
        )
    return values


def non_negative_int(text: str) -> int:
    """Parse an int ``>= 0``."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value

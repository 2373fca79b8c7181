"""The ``bpcore`` command line: ``bpcore train``, ``bpcore download``, ``bpcore gradcheck``.

Each subcommand is a module with ``add_parser(subparsers)`` and ``run(args) -> int``
(see :class:`bpcore.cli._common.Command`); :func:`main` builds the parser from the
tuple of those modules, so adding a command means adding a module to it.
``bpcore verify`` needs Hypothesis (the ``verify`` extra) only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bpcore import __version__
from bpcore._threads import DEFAULT_BLAS_THREADS, blas_threads
from bpcore.cli import _download, _gradcheck, _train, _verify
from bpcore.cli._common import Command, Parser, non_negative_int, one_line, print_error
from bpcore.errors import BpcoreError

__all__ = ["main"]

_INTERRUPTED = 130
_USAGE = 2


def _commands() -> tuple[Command, ...]:
    return (_train, _download, _gradcheck, _verify)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The parser, and which command module handles each subcommand name."""
    parser = Parser(
        prog="bpcore",
        description="Train and check the backpropagation networks of bpcore.",
    )
    parser.add_argument("--version", action="version", version=f"bpcore {__version__}")
    parser.add_argument(
        "--blas-threads",
        type=non_negative_int,
        default=DEFAULT_BLAS_THREADS,
        metavar="N",
        help=f"threads for NumPy's matrix products (default: {DEFAULT_BLAS_THREADS}: the "
        "networks are small, and more threads wait on each other when another process is "
        "busy; 0 keeps the BLAS library's own setting)",
    )
    # Typed as the base class so commands can annotate plain argparse types; the
    # parsers made are still Parsers, whose usage errors are one line.
    parser_class: type[argparse.ArgumentParser] = Parser
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        title="commands",
        parser_class=parser_class,
    )
    owners: dict[str, Command] = {}
    for command in _commands():
        # A command only adds parsers; the names it added tell whose `run` to call.
        before = set(subparsers.choices)
        command.add_parser(subparsers)
        owners.update(dict.fromkeys(set(subparsers.choices) - before, command))
    return parser, owners


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bpcore`` command line on ``argv`` (default: ``sys.argv[1:]``); return the status.

    0 on success (``--help`` included); 2 for a usage error, a missing or invalid
    file or any other :class:`~bpcore.errors.BpcoreError`, ``OSError`` or
    ``ValueError``, reported as one line ``bpcore: error: ...`` on stderr with no
    traceback; 130 on Ctrl-C; and
    what the command returns otherwise (``train`` returns 1 when training diverges,
    ``gradcheck`` 1 when gradients disagree).
    """
    parser, owners = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits for --help and usage errors; return the status instead, so
        # that main() can be called from Python (tests, scripts) like any function.
        return _exit_status(exc)
    try:
        with blas_threads(args.blas_threads):
            return owners[args.command].run(args)
    except KeyboardInterrupt:
        print("bpcore: interrupted", file=sys.stderr)
        return _INTERRUPTED
    # ValueError too: bpcore validates arguments (sizes, learning rates, layer names)
    # with it, and on the command line those are the user's input, not a bug.
    except (BpcoreError, OSError, ValueError) as exc:
        print_error(one_line(str(exc)) or type(exc).__name__)
        return _USAGE

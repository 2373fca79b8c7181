"""The ``bpcore`` command line: one small module per subcommand.

Each subcommand module exposes ``add_parser(subparsers)`` and ``run(args) -> int``.
Errors bpcore raises on purpose (bad arguments, missing files) become a one-line
message and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from bpcore.errors import BpcoreError

_SUBCOMMANDS = ("_train", "_download", "_gradcheck", "_verify")


def _modules() -> list[ModuleType]:
    modules = []
    for name in _SUBCOMMANDS:
        try:
            modules.append(importlib.import_module(f"bpcore.cli.{name}"))
        except ModuleNotFoundError as error:
            if error.name not in (f"bpcore.cli.{name}", "hypothesis"):
                raise  # a real import error inside an installed subcommand
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    parser = argparse.ArgumentParser(
        prog="bpcore", description="Backpropagation in NumPy, done properly and proven."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers = {}
    for module in _modules():
        module.add_parser(subparsers)
        handlers[module.NAME] = module.run
    args = parser.parse_args(argv)
    try:
        code: int = handlers[args.command](args)
    except (BpcoreError, ValueError, OSError) as error:
        print(f"bpcore: error: {error}", file=sys.stderr)
        return 2
    return code

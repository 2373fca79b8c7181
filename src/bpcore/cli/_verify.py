"""``bpcore verify``: run the generic properties over the registered layers, outside pytest."""

from __future__ import annotations

import argparse

from bpcore.cli._common import Subparsers, UsageError

__all__ = ["add_parser", "run"]

NAME = "verify"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``bpcore verify`` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help="check every registered layer against the generic properties",
        description="Run the generic properties (finite differences, Taylor test, linearity "
        "in dout, no mutation, shapes and dtypes, determinism, batch independence, errors) "
        "over every registered layer and print a table. Exits 1 if any property fails.",
    )
    parser.add_argument(
        "--examples", type=int, default=50, help="examples per property (default 50)"
    )
    parser.add_argument(
        "--layer",
        action="append",
        default=None,
        metavar="NAME",
        help="only this registered layer (repeatable); default: all",
    )
    parser.add_argument("--seed", type=int, default=None, help="fix Hypothesis's seed")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the table; return 0 when every property holds, 1 otherwise."""
    if args.examples < 1:
        raise ValueError(f"verify: expected --examples >= 1, got {args.examples}.")
    try:
        from bpcore.cli._verify_runner import run_table  # noqa: PLC0415  # needs Hypothesis
    except ModuleNotFoundError as error:
        if error.name != "hypothesis":
            raise
        raise UsageError(
            "verify needs Hypothesis: install it with pip install 'bpcore[verify]'."
        ) from None
    return run_table(examples=args.examples, layers=args.layer, seed=args.seed)

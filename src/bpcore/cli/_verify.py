"""``bpcore verify``: run the generic properties over layers, outside pytest."""

from __future__ import annotations

import argparse

from bpcore.cli._common import Subparsers, UsageError

__all__ = ["add_parser", "run"]

NAME = "verify"

QUICK_EXAMPLES = 10
"""``--quick``: examples per property, a fifth of the default for a first look."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``bpcore verify`` and its options."""
    parser = subparsers.add_parser(
        NAME,
        help="check layers (bpcore's own, or yours) against the generic properties",
        description="Run the generic properties (forward against an oracle, finite "
        "differences, Taylor test, linearity in dout, no mutation, shapes and dtypes, "
        "determinism, reuse, batch independence, errors) and print a table, a row as each "
        "finishes. TARGET is package.module:NAME, NAME a LayerSpec or a layer class "
        "constructed without arguments (checked as a unary layer on inputs x of shape "
        "(N, d1) or (N, d1, d2) in [-8, 8]), or package.module, for every LayerSpec it "
        "defines; modules are imported from the current directory too. Without TARGET or "
        "--layer, every registered bpcore layer is checked. Exits 1 if any property fails.",
    )
    parser.add_argument(
        "targets", nargs="*", metavar="TARGET", help="package.module:NAME or package.module"
    )
    how_many = parser.add_mutually_exclusive_group()
    how_many.add_argument(
        "--examples", type=int, default=50, help="examples per property (default 50)"
    )
    how_many.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_EXAMPLES} examples per property, for a first look",
    )
    parser.add_argument(
        "--layer",
        action="append",
        default=None,
        metavar="NAME",
        help="this registered layer (repeatable); default: all, when no TARGET is given",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="fix Hypothesis's seed (default: derandomized)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the table; return 0 when every property holds, 1 otherwise."""
    examples = QUICK_EXAMPLES if args.quick else args.examples
    if examples < 1:
        raise ValueError(f"verify: expected --examples >= 1, got {examples}.")
    try:
        from bpcore.cli._verify_runner import run_table  # noqa: PLC0415  # needs Hypothesis
    except ModuleNotFoundError as error:
        if error.name != "hypothesis":
            raise
        raise UsageError(
            "verify needs Hypothesis: install it with pip install 'bpcore[verify]'."
        ) from None
    return run_table(examples=examples, layers=args.layer, seed=args.seed, targets=args.targets)

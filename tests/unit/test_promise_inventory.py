"""docs/promises.md stays complete and true to the suite.

* Every test it names exists: a module under tests/ that defines that test function.
* Every row names at least one test, and every ``bpcore.…`` symbol it names exists.
* Every public module, class, function or method whose docstring states a dtype or shape
  rule (it mentions float32, float64, dtype or shape) is named in some row: a new
  docstring promise without a row fails here until it is listed with its test.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "docs" / "promises.md"

PUBLIC_MODULES = (
    "bpcore",
    "bpcore.layers",
    "bpcore.functional",
    "bpcore.networks",
    "bpcore.optim",
    "bpcore.datasets",
    "bpcore.training",
    "bpcore.checkpoint",
    "bpcore.gradcheck",
    "bpcore.strategies",
    "bpcore.registry",
    "bpcore.properties",
    "bpcore.errors",
    "bpcore.verify",
)
"""The modules whose public names (``__all__``) carry the documented API."""

RULE = re.compile(r"float32|float64|dtype|shape")
"""What marks a docstring as stating a dtype or shape rule."""

TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)(?:\[[\w-]+\])?`")
SYMBOL = re.compile(r"`(bpcore(?:\.\w+)+)`")


@cache
def _rows() -> list[str]:
    """The table rows of the inventory: lines that start with ``|`` and hold an ID."""
    return [
        line
        for line in INVENTORY.read_text(encoding="utf-8").splitlines()
        if re.match(r"\| [A-Z]+\d+ \|", line)
    ]


@cache
def _defined_tests(module: str) -> frozenset[str]:
    """The names of the test functions defined at the top level of ``module``."""
    path = ROOT / module
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    )


def _public_symbols() -> Iterator[tuple[str, object]]:
    """Every public module, class, function and method, once, by its most specific public
    dotted name (``bpcore.layers.Affine.backward``, not ``bpcore.Affine.backward``)."""
    seen: set[int] = set()
    for module_name in sorted(PUBLIC_MODULES, key=lambda name: -name.count(".")):
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in module.__all__:
            value = getattr(module, name)
            if id(value) in seen or not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            seen.add(id(value))
            yield f"{module_name}.{name}", value
            if not inspect.isclass(value):
                continue
            for attribute, member in inspect.getmembers(value):
                if attribute.startswith("_") and attribute != "__init__":
                    continue
                function = member.fget if isinstance(member, property) else member
                owner = getattr(function, "__module__", "") or ""
                if not owner.startswith("bpcore") or id(function) in seen:
                    continue
                seen.add(id(function))
                yield f"{module_name}.{name}.{attribute}", function


def test_every_named_test_exists() -> None:
    """Each `tests/…py::test_…` of the inventory is a test function defined in that module."""
    named = [m for row in _rows() for m in TEST.findall(row)]
    assert named, "the inventory names no test"
    missing = [f"{module}::{test}" for module, test in named if test not in _defined_tests(module)]
    assert not missing, f"docs/promises.md names tests that do not exist: {missing}"


def test_every_row_is_pinned_and_names_real_symbols() -> None:
    """Every row names a test, and every `bpcore.…` symbol it names can be imported."""
    unpinned = [row.split("|")[1].strip() for row in _rows() if not TEST.search(row)]
    assert not unpinned, f"rows without a test: {unpinned}"
    unknown = []
    for symbol in {s for row in _rows() for s in SYMBOL.findall(row)}:
        parts = symbol.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                value: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attribute in parts[cut:]:
                    value = getattr(value, attribute)
            except AttributeError:
                unknown.append(symbol)
            break
        else:
            unknown.append(symbol)
    assert not unknown, f"docs/promises.md names symbols that do not exist: {sorted(unknown)}"


def test_every_docstring_with_a_dtype_or_shape_rule_is_listed() -> None:
    """A public docstring that mentions float32, float64, dtype or shape has a row that
    names its symbol."""
    listed = {s for row in _rows() for s in SYMBOL.findall(row)}
    missing = [
        name
        for name, value in _public_symbols()
        if RULE.search(inspect.getdoc(value) or "") and name not in listed
    ]
    assert not missing, f"docstrings with dtype or shape rules not in docs/promises.md: {missing}"

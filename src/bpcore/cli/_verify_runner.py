"""The work behind ``bpcore verify``: which specs to check, and the table of their properties.

Needs the ``verify`` extra (Hypothesis); :mod:`bpcore.cli._verify` imports it only when run.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import time
from collections.abc import Sequence

from bpcore.errors import ArgumentError
from bpcore.registry import LayerSpec, registered
from bpcore.verify import PROPERTY_NAMES, PropertyResult, Table, layer_spec, run_property

__all__ = ["load_specs", "run_table", "specs_for"]


def _import(module_name: str) -> object:
    """Import ``module_name``, from the current directory too, as ``python -m`` would."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise ArgumentError(
                f"verify: expected an importable module, got {module_name!r} ({error})."
            ) from None
        raise ArgumentError(
            f"verify: importing {module_name!r} failed: {type(error).__name__}: {error}"
        ) from error
    except Exception as error:  # the user's module raised while importing
        raise ArgumentError(
            f"verify: importing {module_name!r} failed: {type(error).__name__}: {error}"
        ) from error


def _spec_for_class(target: str, cls: type) -> LayerSpec:
    """A unary spec for a layer class whose constructor takes no argument."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # no signature to read (a builtin): just try it
        return layer_spec(cls)
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if required:
        raise ArgumentError(
            f"verify: expected a LayerSpec, or a layer class constructed without arguments, "
            f"for {target!r}, got class {cls.__name__}({', '.join(required)}); declare its "
            "parameters with bpcore.verify.layer_spec(..., params=...)."
        )
    return layer_spec(cls)


CLASS_NOTE = (
    "note: {name} is a class, checked as a smooth unary layer on x of shape (N, d1) or "
    "(N, d1, d2) in [-8, 8]; for kinks, parameters or other inputs, declare a LayerSpec "
    "with bpcore.verify.layer_spec"
)
"""Printed above the table for each layer class given as a target."""


def _attribute_of(target: str) -> object:
    """The object ``package.module:NAME`` names (the module is imported already).

    Raises:
        ArgumentError: the module does not define ``NAME``.
    """
    module_name, _, attribute = target.partition(":")
    try:
        return functools.reduce(getattr, attribute.split("."), _import(module_name))
    except AttributeError:
        raise ArgumentError(
            f"verify: expected {module_name!r} to define {attribute!r}, got no such name."
        ) from None


def load_specs(target: str) -> list[LayerSpec]:
    """The specs ``target`` names: ``package.module:NAME`` or ``package.module``.

    ``NAME`` (dotted for an attribute of an attribute) is a :class:`LayerSpec`, or a
    layer class constructed without arguments, which gets a unary spec with
    :func:`bpcore.verify.layer_spec`'s default inputs (``x`` of shape ``(N, d1)`` or
    ``(N, d1, d2)``, values in ``[-8, 8]``). A module alone gives every
    :class:`LayerSpec` defined at its top level, in definition order.

    Raises:
        ArgumentError: the module cannot be imported, ``NAME`` is missing or neither a
            spec nor such a class, or the module defines no spec.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise ArgumentError(f"verify: expected package.module[:NAME], got {target!r}.")
    module = _import(module_name)
    if not attribute:
        found = list({id(v): v for v in vars(module).values() if isinstance(v, LayerSpec)}.values())
        if not found:
            raise ArgumentError(
                f"verify: expected module {module_name!r} to define LayerSpec objects at its "
                "top level, got none."
            )
        return found
    value = _attribute_of(target)
    if isinstance(value, LayerSpec):
        return [value]
    if isinstance(value, type):
        return [_spec_for_class(target, value)]
    raise ArgumentError(
        f"verify: expected {target!r} to be a LayerSpec or a layer class, "
        f"got {type(value).__name__}."
    )


def specs_for(targets: Sequence[str], layers: Sequence[str] | None) -> list[LayerSpec]:
    """The specs to check: those of ``targets``, then the registered ones named in
    ``layers``; every registered layer when neither is given. A spec named twice (by
    its module and by its name) is checked once."""
    specs = [spec for target in targets for spec in load_specs(target)]
    if layers or not targets:
        specs.extend(registered(layers))
    return list({id(spec): spec for spec in specs}.values())


def _plan(layers: int, examples: int) -> str:
    """The first line: the size of the run, and when its time estimate comes."""
    if layers == 1:
        return f"checking 1 layer, {len(PROPERTY_NAMES)} properties, {examples} examples each"
    return (
        f"checking {layers} layers, {len(PROPERTY_NAMES)} properties each, {examples} "
        "examples per property; time left is estimated after the first layer"
    )


def _time_left(done: int, layers: int, elapsed: float) -> str:
    """A line between layers: how far the run is, and its time left at the pace so far."""
    left = elapsed / done * (layers - done)
    return f"{'':>9}  ({done} of {layers} layers in {elapsed:.0f} s; about {left:.0f} s left)"


def run_table(
    *,
    examples: int,
    layers: Sequence[str] | None,
    seed: int | None,
    targets: Sequence[str] = (),
) -> int:
    """Print the table, a row as each property finishes; return 0 when none fails, else 1."""
    if examples < 1:
        raise ValueError(f"verify: expected --examples >= 1, got {examples}.")
    specs = specs_for(targets, layers)
    for target in targets:
        _, _, attribute = target.partition(":")
        if attribute and isinstance(_attribute_of(target), type):
            print(CLASS_NOTE.format(name=target), flush=True)
    table = Table([spec.name for spec in specs], PROPERTY_NAMES)
    print(_plan(len(specs), examples), flush=True)
    for line in table.header():
        print(line, flush=True)
    results: list[PropertyResult] = []
    total = len(specs) * len(PROPERTY_NAMES)
    start = time.perf_counter()
    for done, spec in enumerate(specs, 1):
        for prop in PROPERTY_NAMES:
            # Without a seed, the same examples every run: a table that can be compared.
            result = run_property(spec, prop, examples=examples, seed=seed, derandomize=True)
            results.append(result)
            for line in table.row(result, index=len(results), total=total):
                print(line, flush=True)
        if done < len(specs):
            print(_time_left(done, len(specs), time.perf_counter() - start), flush=True)
    elapsed = time.perf_counter() - start
    counts = {status: sum(r.status == status for r in results) for status in ("pass", "fail")}
    skipped = len(results) - counts["pass"] - counts["fail"]
    print(
        f"{counts['pass']} passed, {counts['fail']} failed, {skipped} skipped "
        f"in {elapsed:.1f} s (err/tol: the worst error over its bound, <= 1 passes)",
        flush=True,
    )
    for result in results:
        if result.status == "fail":
            print(f"FAILED {result.layer} {result.prop}", flush=True)
    return 1 if counts["fail"] else 0

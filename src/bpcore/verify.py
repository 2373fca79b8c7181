"""Check your own layers: every generic property, from a test, pytest or the command line.

Declare a layer once with :func:`layer_spec` (or a :class:`LayerSpec`), then

* call :func:`check_layer` inside a test: it runs every generic property with
  Hypothesis and raises one :class:`LayerCheckFailed` (an ``AssertionError``) naming
  every property that failed, or returns the :class:`LayerReport`;
* or mark a test ``@pytest.mark.bpcore_layer(spec)`` and take the ``bpcore_property``
  fixture (the ``bpcore`` pytest plugin, :mod:`bpcore.pytest_plugin`): one test per
  property;
* or run ``bpcore verify package.module:NAME`` on the command line.

bpcore's own layers (:func:`bpcore.registry.registered`) go through the same functions.
What each property checks: :mod:`bpcore.properties` and docs/check-your-own-layers.md.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import secrets
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, final

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from bpcore._spec import (
    Case,
    Errors,
    Kind,
    LayerSpec,
    Reference,
    Shape,
    Targets,
    kink_margin,
    layer_spec,
)
from bpcore.errors import ArgumentError, ArgumentTypeError, BpcoreError
from bpcore.properties import (
    EXACT_PROPERTIES,
    GENERIC_PROPERTIES,
    Property,
    PropertyFailure,
    not_applicable,
)

__all__ = [
    "PROPERTY_NAMES",
    "Case",
    "Errors",
    "Kind",
    "LayerCheckFailed",
    "LayerReport",
    "LayerSpec",
    "PropertyFailure",
    "PropertyResult",
    "Reference",
    "Shape",
    "Status",
    "Targets",
    "check_layer",
    "check_property",
    "kink_margin",
    "layer_spec",
    "run_layer",
    "run_property",
]

PROPERTY_NAMES: tuple[str, ...] = tuple(prop.__name__ for prop in GENERIC_PROPERTIES.values())
"""Every generic property's name, in the order they run."""

Status = Literal["pass", "fail", "skip"]


@final
@dataclass(frozen=True)
class PropertyResult:
    """The outcome of one generic property on one layer.

    Attributes:
        layer: the spec's name.
        prop: the property's name (one of :data:`PROPERTY_NAMES`).
        status: ``"pass"``, ``"fail"`` or ``"skip"`` (the property does not apply:
            no oracle declared, a layer that is not smooth or not per-sample).
        examples: how many examples passed.
        ratio: the worst error ÷ bound over those examples (at most 1 when it
            passes); ``None`` for the exact properties, which allow no error, and
            for skips.
        detail: the failure's message (with Hypothesis's falsifying example), or why
            the property was skipped; ``""`` for a pass.
        seconds: how long the property ran.
    """

    layer: str
    prop: str
    status: Status
    examples: int
    ratio: float | None
    detail: str
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether the property did not fail (a skip passes)."""
        return self.status != "fail"


@final
@dataclass(frozen=True)
class LayerReport:
    """Every generic property's outcome on one layer, printed as a table."""

    layer: str
    results: tuple[PropertyResult, ...]

    @property
    def passed(self) -> bool:
        """Whether no property failed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[PropertyResult, ...]:
        """The properties that failed, in the order they ran."""
        return tuple(result for result in self.results if not result.passed)

    def __str__(self) -> str:
        table = Table([self.layer], [result.prop for result in self.results])
        lines = [*table.header()]
        for index, result in enumerate(self.results, start=1):
            lines.extend(table.row(result, index=index, total=len(self.results)))
        return "\n".join(lines)


class LayerCheckFailed(BpcoreError, AssertionError):  # noqa: N818  # the name says what failed
    """One or more generic properties failed on a layer; ``report`` holds every outcome.

    The message names every failing property, then gives each one's failure.
    """

    def __init__(self, report: LayerReport) -> None:
        failures = report.failures
        names = ", ".join(result.prop for result in failures)
        parts = [
            f"{report.layer}: {len(failures)} of {len(report.results)} generic properties "
            f"failed: {names}"
        ]
        for result in failures:
            parts.append(f"\n[{result.prop}]\n{_indent(result.detail)}")
        super().__init__("\n".join(parts))
        self.report = report


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _property(prop: str | Property) -> Property:
    """A property by short name (``"gradients"``), function name or function."""
    if callable(prop):
        if prop not in GENERIC_PROPERTIES.values():
            raise ArgumentError(
                f"bpcore.verify: expected one of the generic properties, got {prop!r}."
            )
        return prop
    by_name = {f.__name__: f for f in GENERIC_PROPERTIES.values()}
    found = GENERIC_PROPERTIES.get(prop) or by_name.get(prop)
    if found is None:
        raise ArgumentError(
            f"bpcore.verify: expected a property among {list(PROPERTY_NAMES)}, got {prop!r}."
        )
    return found


def _settings(examples: int | None, seed: int | None, derandomize: bool | None) -> settings:
    """The active Hypothesis profile's settings, with what a property run needs on top."""
    base = settings()  # the active profile's values
    if examples is not None and examples < 1:
        raise ArgumentError(f"bpcore.verify: expected examples >= 1, got {examples}.")
    return settings(
        base,
        max_examples=examples if examples is not None else base.max_examples,
        derandomize=(base.derandomize if derandomize is None else derandomize) and seed is None,
        # Every property of every layer runs the same inner function: a shared example
        # database would replay one layer's examples into another's.
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        # One failure per property, shrunk; not a group of distinct ones.
        report_multiple_bugs=False,
        suppress_health_check=[
            *base.suppress_health_check,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
        ],
    )


def _describe(error: BaseException) -> str:
    """``Type: message (at file:line in function)``, the innermost frame of the traceback."""
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno} in {last.name})"
    return text


def _message(failure: BaseException) -> str:
    """The failure's message and Hypothesis's notes on it (the falsifying example)."""
    # The draws name the case; the inner test's signature and the blob to replay it
    # (a private function no user can decorate) say nothing.
    notes = [
        note
        for note in getattr(failure, "__notes__", [])
        if not note.startswith(("Falsifying example", "Failing test case"))
        and "reproduce_failure" not in note
        and "reproduce this" not in note
    ]
    return "\n".join([str(failure).strip(), *notes]).strip()


def run_property(
    spec: LayerSpec,
    prop: str | Property,
    *,
    examples: int | None = None,
    seed: int | None = None,
    derandomize: bool | None = None,
) -> PropertyResult:
    """Run one generic property on ``spec`` with Hypothesis; report, never raise, a failure.

    Args:
        spec: the layer's declaration.
        prop: the property, by name (``"backward_matches_finite_differences"`` or its
            short name ``"gradients"``) or as the function.
        examples: how many examples; by default the active Hypothesis profile's
            ``max_examples`` times the spec's ``budget``.
        seed: fixes Hypothesis's seed, so a run can be repeated exactly; a random run
            without one draws its own, which a failure names.
        derandomize: without a seed, draw the same examples every run; by default
            as the active Hypothesis profile says.

    Returns:
        A :class:`PropertyResult`. An unexpected exception inside the property (an
        ``AttributeError`` from the layer, say) is a failure naming its type, message
        and where it was raised; so is a strategy that cannot draw.

    Raises:
        ArgumentError: an unknown property, or ``examples < 1``.
    """
    chosen = _property(prop)
    name = chosen.__name__
    reason = not_applicable(spec, chosen)
    if reason is not None:
        return PropertyResult(spec.name, name, "skip", 0, None, reason, 0.0)
    passed = [0]
    worst = [0.0]
    if seed is None and not (settings().derandomize if derandomize is None else derandomize):
        # A random run gets a seed of its own, named in a failure, so it can be replayed.
        seed = secrets.randbelow(2**32)

    @_settings(
        examples if examples is not None else spec.examples(settings().max_examples),
        seed,
        derandomize,
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(spec.cases(), label="case")
        try:
            ratio = chosen(case, data.draw)
        except (PropertyFailure, HypothesisException):
            raise  # the property's own verdict, or Hypothesis's control flow
        except Exception as error:
            raise PropertyFailure(
                f"{spec.name}: {name} raised {_describe(error)}\n  for {case!r}"
            ) from error
        passed[0] += 1
        worst[0] = max(worst[0], ratio)

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    start = time.perf_counter()
    try:
        run()
    except PropertyFailure as failure:
        status: Status = "fail"
        detail = _message(failure)
        if seed is not None:
            detail += f"\n  (replay it with seed={seed})"
    except Exception as error:  # a strategy that cannot draw, a failed health check, ...
        status = "fail"
        detail = f"{spec.name}: {name} could not run: {_describe(error)}"
    else:
        status, detail = "pass", ""
    seconds = time.perf_counter() - start
    ratio = None if chosen in EXACT_PROPERTIES else worst[0]
    return PropertyResult(spec.name, name, status, passed[0], ratio, detail, seconds)


def check_property(
    spec: LayerSpec,
    prop: str | Property,
    *,
    examples: int | None = None,
    seed: int | None = None,
    derandomize: bool | None = None,
) -> PropertyResult:
    """Like :func:`run_property`, but raise when the property fails.

    Raises:
        PropertyFailure: the property failed; the message is the failure's, with
            Hypothesis's falsifying example.
        ArgumentError: an unknown property, or ``examples < 1``.
    """
    __tracebackhide__ = True  # pytest: the failure is the property's, not this frame's
    result = run_property(spec, prop, examples=examples, seed=seed, derandomize=derandomize)
    if not result.passed:
        raise PropertyFailure(result.detail)
    return result


def run_layer(
    spec: LayerSpec,
    *,
    examples: int | None = None,
    seed: int | None = None,
    derandomize: bool | None = None,
    properties: Sequence[str] | None = None,
) -> LayerReport:
    """Run every generic property (or those named) on ``spec``; report, never raise, failures.

    ``examples``, ``seed`` and ``derandomize`` are :func:`run_property`'s.

    Raises:
        ArgumentTypeError: ``spec`` is not a :class:`LayerSpec`.
        ArgumentError: an unknown property name, or ``examples < 1``.
    """
    if not isinstance(spec, LayerSpec):
        raise ArgumentTypeError(
            f"bpcore.verify: expected a LayerSpec (see layer_spec), got {type(spec).__name__}."
        )
    chosen = [_property(p) for p in (properties if properties is not None else PROPERTY_NAMES)]
    results = tuple(
        run_property(spec, prop, examples=examples, seed=seed, derandomize=derandomize)
        for prop in chosen
    )
    return LayerReport(layer=spec.name, results=results)


def check_layer(
    spec: LayerSpec,
    *,
    examples: int | None = None,
    seed: int | None = None,
    derandomize: bool | None = None,
    properties: Sequence[str] | None = None,
) -> LayerReport:
    """Run every generic property on your layer and raise if any fails.

    Call it inside a test: ``check_layer(layer_spec(MyLayer), examples=30, seed=0)``.
    ``examples``, ``seed`` and ``derandomize`` are :func:`run_property`'s;
    ``properties`` restricts the run to those named.

    Returns:
        The :class:`LayerReport` when no property fails (skips included).

    Raises:
        LayerCheckFailed: some properties failed; its message names every one and
            gives each failure, its ``report`` every outcome.
        ArgumentTypeError: ``spec`` is not a :class:`LayerSpec`.
        ArgumentError: an unknown property name, or ``examples < 1``.
    """
    __tracebackhide__ = True  # pytest: the failures are the properties', not this frame's
    report = run_layer(
        spec, examples=examples, seed=seed, derandomize=derandomize, properties=properties
    )
    if not report.passed:
        raise LayerCheckFailed(report)
    return report


@final
class Table:
    """The verify table: columns as wide as the longest layer and property names given."""

    def __init__(self, layers: Sequence[str], props: Sequence[str]) -> None:
        self.layer_width = max([len("layer"), *(len(name) for name in layers)])
        self.prop_width = max([len("property"), *(len(name) for name in props)])

    def header(self) -> list[str]:
        """The column titles and a rule under them."""
        titles = (
            f"{'':>9}  {'layer':<{self.layer_width}}  {'property':<{self.prop_width}}  "
            f"{'examples':>8}  {'err/tol':>9}  {'time':>7}  status"
        )
        return [titles, "-" * len(titles)]

    def row(self, result: PropertyResult, *, index: int, total: int) -> list[str]:
        """One result's line, then its failure indented beneath it."""
        if result.status == "skip":
            figure = "-"
        elif result.ratio is None:
            figure = "exact"
        else:
            figure = f"{result.ratio:.3g}"
        status = {"pass": "ok", "fail": "FAIL", "skip": f"skip ({result.detail})"}[result.status]
        progress = f"[{index}/{total}]"
        line = (
            f"{progress:>9}  {result.layer:<{self.layer_width}}  "
            f"{result.prop:<{self.prop_width}}  {result.examples:>8}  {figure:>9}  "
            f"{result.seconds:>6.1f}s  {status}"
        )
        if result.status == "fail":
            return [line, _indent(result.detail, " " * 11)]
        return [line]

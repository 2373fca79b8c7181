"""Typed results of a gradient check, printed like a bug report."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import final

from bpcore.errors import BpcoreError


class Status(enum.Enum):
    """The verdict on one input or parameter."""

    PASS = "pass"
    """Every element (or direction) agrees within its derived tolerance."""
    MISMATCH = "MISMATCH"
    """Some element disagrees by more than rounding and truncation can explain."""
    NONDIFFERENTIABLE = "non-differentiable"
    """Disagreements only where a probe straddles a kink, and there the backward value
    lies between the one-sided derivatives (a valid subgradient), which is not a bug."""


@final
@dataclass(frozen=True)
class ArrayCheck:
    """The comparison of analytic and numerical gradients for one array.

    Attributes:
        name: the input or parameter name (``"x"``, ``"W"``, ...).
        role: ``"input"`` or ``"parameter"``.
        status: the verdict.
        mode: ``"full"`` (every element) or ``"directional"`` (random directions).
        checked: how many elements or directions were compared.
        max_abs_error: the largest ``|analytic - numerical|``.
        max_rel_error: the largest ``|analytic - numerical| / max(|analytic|, |numerical|)``.
        worst: where the error is largest relative to its tolerance: an element index,
            or ``(direction,)`` in directional mode; ``()`` with
            :attr:`at_kinks_together`.
        analytic, numerical: the two values there.
        step: the finite-difference step there.
        tolerance: the derived tolerance there.
        dtype: the dtype the layer computed in.
        kinks: how many probes straddled a kink (declared or detected) with the backward
            value between the one-sided derivatives.
        nonfinite: how many probes had a non-finite analytic or numerical value (each a
            mismatch).
        at_kinks_together: the worst probe moved every element found at a kink at once
            (full mode, after the elements' own probes).
    """

    name: str
    role: str
    status: Status
    mode: str
    checked: int
    max_abs_error: float
    max_rel_error: float
    worst: tuple[int, ...]
    analytic: float
    numerical: float
    step: float
    tolerance: float
    dtype: str
    kinks: int
    nonfinite: int = 0
    at_kinks_together: bool = False

    @property
    def ratio(self) -> float:
        """``|analytic - numerical| / tolerance`` at the worst probe: at most 1 passes."""
        error = abs(self.analytic - self.numerical)
        if not (math.isfinite(error) and math.isfinite(self.tolerance)):
            return math.inf
        if self.tolerance > 0:
            return error / self.tolerance
        return math.inf if error > 0 else 0.0

    def describe(self) -> str:
        """One paragraph: the verdict, then the worst element's figures."""
        if self.at_kinks_together:
            where = f"the {self.kinks} kink elements moved together"
        elif self.mode == "directional":
            where = f"direction {self.worst[0]}"
        else:
            where = f"index {self.worst if len(self.worst) != 1 else self.worst[0]}"
        lines = [
            f"  {self.role} {self.name!r} [{self.dtype}, {self.mode}, {self.checked} checked]: "
            f"{self.status.value}",
            f"    worst at {where}: analytic {self.analytic:.17g}, numerical {self.numerical:.17g}",
            f"    error / tolerance {self.ratio:.3g} (at most 1 passes): |error| "
            f"{abs(self.analytic - self.numerical):.3e}, tolerance {self.tolerance:.3e}, "
            f"step {self.step:.3e}; largest |error| {self.max_abs_error:.3e}, "
            f"relative {self.max_rel_error:.3e}",
        ]
        if self.nonfinite:
            lines.append(f"    {self.nonfinite} probe(s) with a NaN or infinite value")
        if self.kinks:
            lines.append(
                f"    {self.kinks} probe(s) straddled a kink; backward lay between the one-sided "
                f"derivatives there"
            )
        return "\n".join(lines)


@final
@dataclass(frozen=True)
class GradcheckReport:
    """The result of checking every input and parameter of one layer.

    Attributes:
        subject: the layer's name.
        dtype: the dtype the layer computed in (the reference is always float64).
        checks: one :class:`ArrayCheck` per input and parameter.
        problems: failures that are not about one gradient's values: an argument the
            layer modified in place, a RuntimeWarning it raised.
    """

    subject: str
    dtype: str
    checks: tuple[ArrayCheck, ...]
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """``True`` when no array has a :attr:`Status.MISMATCH` and there are no
        :attr:`problems`."""
        return not self.problems and all(c.status is not Status.MISMATCH for c in self.checks)

    @property
    def nondifferentiable(self) -> bool:
        """``True`` when some probe straddled a kink."""
        return any(check.status is Status.NONDIFFERENTIABLE for check in self.checks)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over every array checked."""
        return max((check.max_rel_error for check in self.checks), default=0.0)

    def __str__(self) -> str:
        verdict = "gradients match" if self.passed else "GRADIENT MISMATCH"
        head = f"{self.subject} ({self.dtype}): {verdict}"
        problems = [f"  {problem}" for problem in self.problems]
        return "\n".join([head, *problems, *(check.describe() for check in self.checks)])


class GradientMismatch(BpcoreError, AssertionError):  # noqa: N818  # the name says what failed
    """A backward disagrees with finite differences; ``report`` holds the figures."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report

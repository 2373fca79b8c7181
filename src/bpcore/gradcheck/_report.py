"""Typed results of a gradient check, printed like a bug report."""

from __future__ import annotations

import enum
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
    """Disagreements only where a probe straddles a kink; the backward value is a
    one-sided derivative there, which is not a bug."""


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
            or ``(direction,)`` in directional mode.
        analytic, numerical: the two values there.
        step: the finite-difference step there.
        tolerance: the derived tolerance there.
        dtype: the dtype the layer computed in.
        kinks: how many elements straddled a kink (declared or detected).
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

    def describe(self) -> str:
        """One paragraph: the verdict, then the worst element's figures."""
        where = (
            f"direction {self.worst[0]}"
            if self.mode == "directional"
            else f"index {self.worst if len(self.worst) != 1 else self.worst[0]}"
        )
        lines = [
            f"  {self.role} {self.name!r} [{self.dtype}, {self.mode}, {self.checked} checked]: "
            f"{self.status.value}",
            f"    worst at {where}: analytic {self.analytic:.17g}, numerical {self.numerical:.17g}",
            f"    |error| {self.max_abs_error:.3e} (max), relative {self.max_rel_error:.3e} (max), "
            f"tolerance there {self.tolerance:.3e}, step {self.step:.3e}",
        ]
        if self.kinks:
            lines.append(
                f"    {self.kinks} probe(s) straddled a kink and were not held to the tolerance"
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
    """

    subject: str
    dtype: str
    checks: tuple[ArrayCheck, ...]

    @property
    def passed(self) -> bool:
        """``True`` when no array has a :attr:`Status.MISMATCH`."""
        return all(check.status is not Status.MISMATCH for check in self.checks)

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
        return "\n".join([head, *(check.describe() for check in self.checks)])


class GradientMismatch(BpcoreError, AssertionError):  # noqa: N818  # the name says what failed
    """A backward disagrees with finite differences; ``report`` holds the figures."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report

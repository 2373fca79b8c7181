"""Learning-rate schedules: the learning rate of each epoch, as a function of the epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final, TypeAlias, final

from bpcore.errors import ArgumentError, ArgumentTypeError
from bpcore.optim._checks import positive_finite

__all__ = ["LrSchedule", "StepDecay"]

LrSchedule: TypeAlias = Callable[[int], float]
"""The learning rate of epoch ``e`` (from 1): finite and ``> 0``."""

_WHERE: Final = "StepDecay"


@final
class StepDecay:
    """A learning rate cut by fixed factors after given epochs: a step schedule.

    With ``lr`` and ``steps = {m₁: f₁, m₂: f₂, ...}`` (``m₁ < m₂ < ...``), epoch ``e``
    (from 1) trains at::

        lr                 for e <= m₁
        lr · fₖ            for mₖ < e <= mₖ₊₁

    so ``StepDecay(0.001, {10: 0.3, 15: 0.1})`` trains epochs 1-10 at 0.001, 11-15 at
    0.0003 and 16 on at 0.0001. Each factor scales ``lr`` itself, not the rate before it.
    Its text form, :attr:`spec`, is ``"10:0.3,15:0.1"`` (``""`` for no steps), which
    :meth:`parse` reads back exactly.

    Raises:
        ArgumentTypeError: ``lr`` or a factor is not a real number, or an epoch not an int.
        ArgumentError: ``lr``, a factor or their product is not finite and ``> 0``, or
            an epoch is ``< 1``.
    """

    __slots__ = ("_lr", "_steps")
    _lr: float
    _steps: tuple[tuple[int, float], ...]

    def __init__(self, lr: float, steps: Mapping[int, float]) -> None:
        self._lr, self._steps = _checked(lr, steps, where=_WHERE)

    @classmethod
    def parse(cls, lr: float, spec: str) -> StepDecay:
        """The schedule of base rate ``lr`` that ``spec``, as :attr:`spec` writes it, gives.

        ``spec`` is ``EPOCH:FACTOR`` pairs joined by commas, such as ``"10:0.3,15:0.1"``;
        spaces around them are ignored and ``""`` means no steps.

        Raises:
            ArgumentTypeError: ``spec`` is not a str, or ``lr`` not a real number.
            ArgumentError: ``spec`` is not of that form, names an epoch twice, or holds
                an epoch ``< 1`` or a factor that, or whose product with ``lr``, is not
                finite and ``> 0``.
        """
        where = f"{_WHERE}.parse"
        if not isinstance(spec, str):
            raise ArgumentTypeError(
                f"{where}: expected `spec` to be a str such as '10:0.3,15:0.1', "
                f"got {type(spec).__name__}."
            )
        steps: dict[int, float] = {}
        for part in spec.split(",") if spec.strip() else []:
            epoch_text, colon, factor_text = part.strip().partition(":")
            try:
                epoch, factor = int(epoch_text), float(factor_text)
            except ValueError:
                colon = ""
            if not colon:
                raise ArgumentError(
                    f"{where}: expected EPOCH:FACTOR pairs such as '10:0.3,15:0.1', got {spec!r}."
                )
            if epoch in steps:
                raise ArgumentError(
                    f"{where}: expected each epoch once, got epoch {epoch} twice in {spec!r}."
                )
            steps[epoch] = factor
        schedule = cls.__new__(cls)
        schedule._lr, schedule._steps = _checked(lr, steps, where=where)
        return schedule

    @property
    def lr(self) -> float:
        """The learning rate up to the first step."""
        return self._lr

    @property
    def steps(self) -> dict[int, float]:
        """A copy of the steps: the factor that applies after each epoch, by epoch."""
        return dict(self._steps)

    @property
    def spec(self) -> str:
        """The steps as text, ``"10:0.3,15:0.1"``, which :meth:`parse` reads back exactly."""
        return ",".join(f"{epoch}:{factor!r}" for epoch, factor in self._steps)

    def __call__(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (from 1)."""
        factor = 1.0
        for after, step in self._steps:
            if epoch > after:
                factor = step
        return self._lr * factor

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepDecay):
            return NotImplemented
        return (self._lr, self._steps) == (other._lr, other._steps)

    def __hash__(self) -> int:
        return hash((self._lr, self._steps))

    def __repr__(self) -> str:
        return f"StepDecay({self._lr!r}, {dict(self._steps)!r})"


def _checked(
    lr: object, steps: object, *, where: str
) -> tuple[float, tuple[tuple[int, float], ...]]:
    """``lr`` and ``steps`` sorted by epoch, each checked; the errors name ``where``."""
    base = positive_finite(lr, where=where, name="lr")
    if not isinstance(steps, Mapping):
        raise ArgumentTypeError(
            f"{where}: expected `steps` to be a mapping of epochs to factors, "
            f"got {type(steps).__name__}."
        )
    checked: list[tuple[int, float]] = []
    for epoch, factor in steps.items():
        # bool is an int subclass, and `{True: 0.1}` is a mistake, not epoch 1.
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise ArgumentTypeError(
                f"{where}: expected the epochs of `steps` to be ints, "
                f"got {type(epoch).__name__} {epoch!r}."
            )
        if epoch < 1:
            raise ArgumentError(f"{where}: expected the epochs of `steps` to be >= 1, got {epoch}.")
        scale = positive_finite(factor, where=where, name=f"steps[{epoch}]")
        if not (math.isfinite(base * scale) and base * scale > 0.0):
            raise ArgumentError(
                f"{where}: expected `lr`·`steps[{epoch}]` to be finite and > 0, "
                f"got {base * scale!r}."
            )
        checked.append((epoch, scale))
    return base, tuple(sorted(checked))

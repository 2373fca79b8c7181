"""The Taylor-remainder test: a gradient check that needs no tolerance.

For a smooth ``φ(θ) = ⟨f(θ), dout⟩`` and a direction ``v``,
``r(h) = |φ(θ + h·v) - φ(θ) - h·⟨g, v⟩|`` is ``O(h²)`` exactly when ``g`` is the gradient;
any error ``δ`` in ``g`` leaves a term ``h·|⟨δ, v⟩|``, and ``r`` then falls only as
``O(h)``. Halving ``h`` must therefore divide the remainder by about 4: the observed
order ``log2(r(h) / r(h/2))`` tends to 2 for a right gradient and to 1 for a wrong one.
The verdict compares the median order of the three smallest step pairs whose
remainders stay ten times above the rounding floor with 1.5, the midpoint of the two;
no error magnitude is ever compared with a threshold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_float_array
from bpcore.gradcheck._subjects import Factory

_F64 = np.dtype(np.float64)
_U64 = float(np.finfo(np.float64).eps) / 2


@dataclass(frozen=True)
class TaylorReport:
    """The remainders of the Taylor test and the order they fall with.

    Attributes:
        subject: the layer's name.
        steps: the step sizes ``h``, halving each time.
        remainders: ``r(h)`` for each step.
        orders: ``log2(r(h) / r(h/2))`` for each consecutive pair above the rounding floor.
        noise_floor: the rounding level below which remainders carry no information.
        observed_order: the median order of the last three usable pairs, or ``None``
            when every remainder sits at the rounding floor (``φ`` is affine along ``v``
            and the gradient is exact to rounding).
    """

    subject: str
    steps: tuple[float, ...]
    remainders: tuple[float, ...]
    orders: tuple[float, ...]
    noise_floor: float
    observed_order: float | None

    @property
    def passed(self) -> bool:
        """Second order (observed order above 1.5), or exact to rounding at every step."""
        # No usable pair means no remainder stood clear of rounding at two consecutive
        # steps: a first-order error that small (below ~300x the floor) cannot be resolved.
        return self.observed_order is None or self.observed_order > 1.5

    def __str__(self) -> str:
        order = "exact to rounding" if self.observed_order is None else f"{self.observed_order:.2f}"
        rows = "\n".join(
            f"    h={h:.3e}  r(h)={r:.3e}" for h, r in zip(self.steps, self.remainders, strict=True)
        )
        verdict = "second order" if self.passed else "NOT second order: the gradient is wrong"
        return f"{self.subject} Taylor remainder: observed order {order} ({verdict})\n{rows}"


def taylor_test(
    make: Factory,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    dout: npt.ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
    first_step: float = 2.0**-4,
    halvings: int = 20,
) -> TaylorReport:
    """Run the Taylor-remainder test on every input and parameter jointly, in float64.

    ``v`` is a standard normal direction over every input and parameter that backward
    returns a gradient for; ``h`` runs from ``first_step`` through ``halvings`` halvings,
    far enough for the remainder to reach its rounding floor. ``dout`` defaults to a
    standard normal draw from ``rng``.
    """
    generator = np.random.default_rng(rng)
    subject = make(_F64)
    point = {
        n: np.array(as_float_array(v, where="taylor_test", name=n), dtype=np.float64)
        for n, v in inputs.items()
    }
    output = np.asarray(subject.forward(point), dtype=np.float64)
    d = generator.standard_normal(output.shape) if dout is None else np.asarray(dout, np.float64)
    grads = {n: np.asarray(g, np.float64) for n, g in subject.backward(d).items()}
    params = subject.parameters
    origin = {n: p.copy() for n, p in params.items()}
    names = [n for n in grads if n in point or n in params]
    directions: dict[str, FloatArray] = {}
    for n in names:
        base = point[n] if n in point else origin[n]
        directions[n] = generator.standard_normal(base.shape)

    def phi(h: float) -> float:
        moved = {n: (v + h * directions[n] if n in directions else v) for n, v in point.items()}
        for n, p in params.items():
            np.copyto(p, origin[n] + h * directions[n] if n in directions else origin[n])
        return float(np.sum(np.asarray(subject.forward(moved), dtype=np.float64) * d))

    try:
        centre = phi(0.0)
        slope = sum(float(np.sum(grads[n] * directions[n])) for n in names)
        steps = tuple(first_step / 2.0**k for k in range(halvings))
        remainders = tuple(abs(phi(h) - centre - h * slope) for h in steps)
    finally:
        for n, p in params.items():
            np.copyto(p, origin[n])
    terms = float(np.sum(np.abs(output * d)))
    size = max([d.size, *(a.size for a in directions.values())]) + 4
    noise_floor = 16 * size * _U64 * (terms + abs(first_step * slope))
    orders = tuple(
        math.log2(a / b) for a, b in itertools.pairwise(remainders) if b > 10 * noise_floor
    )
    # The asymptotic order is read at the smallest usable steps; the median of the last
    # three pairs ignores one pair spoiled by a step where two terms of r(h) cancel.
    observed = float(np.median(orders[-3:])) if orders else None
    return TaylorReport(
        subject=subject.name,
        steps=steps,
        remainders=remainders,
        orders=orders,
        noise_floor=noise_floor,
        observed_order=observed,
    )

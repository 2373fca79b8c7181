"""The Taylor-remainder test: a gradient check that needs no tolerance.

For a smooth ``φ(θ) = ⟨f(θ), dout⟩`` and a direction ``v``, the remainder
``r(h) = |φ(θ + h·v) - φ(θ) - h·⟨g, v⟩|`` is ``O(h²)`` exactly when ``g`` is the gradient;
an error ``δ`` in ``g`` leaves a term ``h·|⟨δ, v⟩|``, and ``r`` falls only as ``O(h)``.
So the observed order ``log2(r(h) / r(h/2))`` tends to 2 for a right gradient and to 1
for a wrong one. Only remainders well above their rounding floor count; the test fails
when the last three usable orders are all below 1.5.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_float_array
from bpcore.errors import BpcoreError
from bpcore.gradcheck._subjects import Factory, call_maker

_F64 = np.dtype(np.float64)
_U64 = float(np.finfo(np.float64).eps) / 2

USABLE = 10.0
"""A remainder is usable when it is this many times its rounding floor: rounding then
moves an observed order by at most ``log2(1.1 / 0.9) ≈ 0.3``."""


@final
@dataclass(frozen=True)
class TaylorReport:
    """The remainders of the Taylor test and the orders they fall with.

    Attributes:
        subject: the layer's name.
        steps: the step sizes ``h``, halving each time.
        remainders: ``r(h)`` for each step.
        noise_floors: the rounding level at each step, below which ``r(h)`` carries no
            information: twice the remainder measured at eight steps far below the
            smallest (where only rounding is left), plus twice the spread of ``r`` at
            three steps within ``3·2^-20·h`` of ``h`` (rounding that grows with ``h``),
            plus one unit roundoff of ``φ``'s terms, plus ``h·n·u·Σ|g_i·v_i|`` for the
            rounding of the analytic gradient itself (a first-order term no float64
            gradient can avoid), plus, with ``term_sizes``, ``h·n·u`` times the growth of
            the terms' size per unit step.
        orders: ``log2(r(h) / r(h/2))`` for each consecutive pair of usable remainders.
        observed_order: the median of the last three orders, or ``None`` without any.
        nonfinite: whether the slope ``⟨g, v⟩`` or some remainder is NaN or infinite (a
            failure: nothing can be measured from it).
    """

    subject: str
    steps: tuple[float, ...]
    remainders: tuple[float, ...]
    noise_floors: tuple[float, ...]
    orders: tuple[float, ...]
    observed_order: float | None
    nonfinite: bool = False

    @property
    def passed(self) -> bool:
        """False when a value is not finite, or the last three usable orders are all below
        1.5 (first order).

        Fewer than three usable orders is no evidence of an error (one too small to
        resolve above rounding); one order of 1.5 or more among the last three is a
        remainder still bending towards second order, which a first-order error never is.
        """
        tail = self.orders[-3:]
        return not self.nonfinite and (len(tail) < 3 or any(order >= 1.5 for order in tail))

    def __str__(self) -> str:
        rows = "\n".join(
            f"    h={h:.3e}  r(h)={r:.3e}  floor={f:.1e}"
            for h, r, f in zip(self.steps, self.remainders, self.noise_floors, strict=True)
        )
        if self.nonfinite:
            verdict = "FAILED: the gradient or a remainder is NaN or infinite"
        elif self.observed_order is None:
            verdict = "no remainder rose above its rounding floor: nothing was measured"
        elif self.passed:
            verdict = f"observed order {self.observed_order:.2f}: second order"
        else:
            verdict = (
                f"observed order {self.observed_order:.2f}: FIRST ORDER, the gradient is wrong"
            )
        return f"{self.subject} Taylor remainder: {verdict}\n{rows}"


class TaylorMismatch(BpcoreError, AssertionError):  # noqa: N818  # the name says what failed
    """The Taylor remainder falls as O(h), or is not finite; ``report`` holds the figures."""

    def __init__(self, report: TaylorReport) -> None:
        super().__init__(str(report))
        self.report = report


def _dot(a: FloatArray, b: FloatArray) -> float:
    """``Σ a·b`` as a float; NaN and infinities pass through silently (the report flags them)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.sum(a * b))


TermSizes = Callable[[Mapping[str, FloatArray], Mapping[str, FloatArray]], npt.ArrayLike]
"""``term_sizes(params, inputs)``: the size of the forward's terms per output element."""

NEARBY = tuple(1 + j * 2.0**-20 for j in (1, 2, 3))
"""The steps, as multiples of ``h``, at which :func:`_spread` measures ``r`` again."""


def _spread(
    phi: Callable[[float], float], centre: float, slope: float, step: float, remainder: float
) -> float:
    """``max_j |r(s_j·h) - r(h)|`` over :data:`NEARBY`: the rounding of ``r`` at the scale
    ``h``.

    A remainder moves by at most ``2·3·2^-20·r`` between these steps; its rounding is
    drawn afresh at each, as the moved values round differently. That rounding can grow
    with ``h`` itself -- at a point where ``φ``'s terms vanish (``x = 0``) it is ``∝ h``
    and would pass for a first-order remainder -- which the floor measured at the
    smallest steps does not see.
    """
    return max(abs(abs(phi(s * step) - centre - s * step * slope) - remainder) for s in NEARBY)


def taylor_test(
    make: Factory,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    dout: npt.ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
    first_step: float = 2.0**-4,
    halvings: int = 20,
    term_sizes: TermSizes | None = None,
) -> TaylorReport:
    """Run the Taylor-remainder test on every input and parameter jointly, in float64.

    ``v`` is a standard normal direction over every input and parameter that backward
    returns a gradient for; ``h`` runs from ``first_step`` through ``halvings`` halvings,
    far enough for the remainder to reach its rounding floor, which is measured (see
    :attr:`TaylorReport.noise_floors`), not assumed. ``dout`` defaults to a standard
    normal draw from ``rng``. The subject's parameters are restored afterwards.

    ``term_sizes(params, inputs)``, where given, returns the size of the forward's terms
    per output element at a point (an oracle's ``Reference.size``). With ``S(h) =
    Σ size·|dout|`` at ``θ + h·v``, ``h·n·u·(S(h0) - S(0))/h0`` joins each floor: the
    rounding of terms that grow with the step, which is exactly proportional to ``h`` at a
    point where they vanish (a loss that is exactly 0, at ``x = 0``), and which no
    measurement of ``r`` can then tell from a first order.

    Raises:
        DtypeError: an input is not real (complex, object, ...).
    """
    generator = np.random.default_rng(rng)
    subject = call_maker(make, _F64, where="taylor_test")
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
        return _dot(np.asarray(subject.forward(moved), dtype=np.float64), d)

    try:
        centre = phi(0.0)
        slope = sum(_dot(grads[n], directions[n]) for n in names)
        steps = tuple(first_step / 2.0**k for k in range(halvings))
        remainders = tuple(abs(phi(h) - centre - h * slope) for h in steps)
        # At steps 2**-10 below the smallest, the quadratic term is a million times
        # smaller again: what remains of r there is rounding.
        probes = [steps[-1] * 2.0**-10 * (1 + j / 8) for j in range(8)]
        measured = max(abs(phi(h) - centre - h * slope) for h in probes)
        spreads = tuple(
            _spread(phi, centre, slope, h, r) for h, r in zip(steps, remainders, strict=True)
        )
    finally:
        for n, p in params.items():
            np.copyto(p, origin[n])
    terms = _dot(np.abs(output), np.abs(d))
    growth = 0.0
    if term_sizes is not None:
        sized = []
        for h in (0.0, first_step):
            moved = [
                {n: v + h * directions[n] if n in directions else v for n, v in values.items()}
                for values in (origin, point)
            ]
            sized.append(_dot(np.abs(np.asarray(term_sizes(*moved), np.float64)), np.abs(d)))
        # The terms' size grows by at most (h/h0)·(S(h0) - S(0)) up to h (a sum of |.| of
        # terms linear in h is convex in h); rounding that scales with it is what the
        # measured floors miss.
        growth = max(0.0, sized[1] - sized[0]) / first_step
    size = max([d.size, *(a.size for a in directions.values())]) + 4
    gradient_rounding = (
        size * _U64 * sum(_dot(np.abs(grads[n]), np.abs(directions[n])) for n in names)
    )
    floors = tuple(
        2 * measured + 2 * spread + _U64 * terms + h * (gradient_rounding + size * _U64 * growth)
        for h, spread in zip(steps, spreads, strict=True)
    )
    usable = [r > USABLE * f for r, f in zip(remainders, floors, strict=True)]
    orders = tuple(
        math.log2(remainders[k] / remainders[k + 1])
        for k, (a, b) in enumerate(itertools.pairwise(usable))
        if a and b
    )
    return TaylorReport(
        subject=subject.name,
        steps=steps,
        remainders=remainders,
        noise_floors=floors,
        orders=orders,
        observed_order=float(np.median(orders[-3:])) if orders else None,
        nonfinite=not all(math.isfinite(v) for v in (slope, centre, *remainders)),
    )


def assert_taylor(
    make: Factory,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    dout: npt.ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
    first_step: float = 2.0**-4,
    halvings: int = 20,
    term_sizes: TermSizes | None = None,
) -> TaylorReport:
    """Like :func:`taylor_test`, with the same options, but raise when it fails.

    Raises:
        TaylorMismatch: the remainder falls as O(h), or a value is not finite.
        BpcoreError: whatever :func:`taylor_test` raises.
    """
    report = taylor_test(
        make,
        inputs,
        dout=dout,
        rng=rng,
        first_step=first_step,
        halvings=halvings,
        term_sizes=term_sizes,
    )
    if not report.passed:
        raise TaylorMismatch(report)
    return report

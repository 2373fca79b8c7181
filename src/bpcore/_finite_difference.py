"""Finite differences of a scalar function of an array that is stepped in place.

This is the one implementation of the step rule and of the difference quotients:
:func:`bpcore.gradcheck.numerical_gradient`, the networks' ``numerical_gradient``
and the gradient checker all call it.

``f`` takes no argument and reads the array itself (a network's loss reads its
parameters; the checker's ``φ`` reads its inputs and parameters). Each evaluation
writes ``θ ± h·e`` into the array, calls ``f`` and puts the original values back bit
for bit, also when ``f`` raises. ``e`` is either one element (an index) or a
direction ``v`` of the array's shape.

The array's dtype rounds ``θ ± h·e``, and each quotient divides by the step actually
taken, ``τ``, not by the nominal ``2h`` or ``h``. For an element, ``τ = θ⁺_i - θ⁻_i``,
the difference of the stored values. For a direction, ``τ = ⟨θ⁺ - θ⁻, v⟩ / ⟨v, v⟩``:
the stored displacement projected on ``v``, which reduces to the element case when
``v`` is a unit vector; the rounding off the direction of ``v`` remains, about
``u·|θ| / h`` relative (``2e-11`` in float64, where the checker uses directions).
Dividing an element's difference by ``2h`` instead would bias every float32 estimate
by the rounding of ``θ ± h``, about ``eps32·|θ| / h ≈ 1e-5`` relative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType

At: TypeAlias = tuple[int, ...] | FloatArray
"""Where the array is stepped: one element (an index) or along a direction ``v``."""

_Position: TypeAlias = float | FloatArray
"""The stored value at an element, or the whole array as float64 for a direction."""


def root_eps(dtype: FloatDType) -> float:
    """``cbrt(eps)`` of ``dtype``: the relative central-difference step.

    A central difference errs by ``h²·|f'''|/6`` (truncation) plus ``eps·|f|/h``
    (rounding); their sum is smallest at ``h ∝ cbrt(eps)``, where both are
    ``O(eps^(2/3))``.
    """
    return float(np.cbrt(np.finfo(dtype).eps))


def step_size(value: float, dtype: FloatDType) -> float:
    """The step for one element: ``h = cbrt(eps_d)·max(1, |value|)``, with ``eps_d`` of ``dtype``.

    Scaling by ``|value|`` keeps ``value ± h`` representable next to large values.
    """
    return root_eps(dtype) * max(1.0, abs(value))


def default_step(values: npt.ArrayLike, dtype: FloatDType) -> FloatArray:
    """The step of :func:`step_size` for every element of ``values``, as a float64 array.

    ``dtype`` is the one ``f`` computes in, whatever the dtype of ``values``; the
    result has the shape of ``values``.
    """
    scale = np.maximum(1.0, np.abs(np.asarray(values, dtype=np.float64)))
    return np.asarray(root_eps(dtype) * scale, dtype=np.float64)


def central_difference(f: Callable[[], float], array: FloatArray, at: At, step: float) -> float:
    """``(f(θ⁺) - f(θ⁻)) / τ`` with ``θ± = θ ± step·e`` stored in ``array``'s dtype.

    ``e`` is the element ``at`` (an index) or the direction ``at`` (an array of
    ``array``'s shape); ``τ`` is the step actually taken (see the module docstring).
    ``f`` is evaluated at ``θ⁺``, then at ``θ⁻``; ``array`` is restored after each.

    ``step`` must be positive and large enough not to round away in ``array``'s
    dtype: otherwise ``τ = 0`` and the division raises ``ZeroDivisionError``.
    """
    f_plus, plus = _evaluate(f, array, at, step)
    f_minus, minus = _evaluate(f, array, at, -step)
    return (f_plus - f_minus) / _taken(plus, minus, at)


def one_sided_differences(
    f: Callable[[], float], array: FloatArray, at: At, step: float, centre: float
) -> tuple[float, float]:
    """The forward and backward differences ``(f(θ⁺) - f(θ)) / τ⁺`` and ``(f(θ) - f(θ⁻)) / τ⁻``.

    ``centre`` is ``f(θ)``, already known to the caller; ``θ±``, ``e`` and the steps
    actually taken ``τ± = ±(θ± - θ)`` are as in :func:`central_difference`, and so is
    the requirement on ``step``.
    """
    origin = _position(array, at)
    f_plus, plus = _evaluate(f, array, at, step)
    f_minus, minus = _evaluate(f, array, at, -step)
    forward = (f_plus - centre) / _taken(plus, origin, at)
    backward = (centre - f_minus) / _taken(origin, minus, at)
    return forward, backward


def central_gradient(f: Callable[[], float], array: FloatArray) -> npt.NDArray[np.float64]:
    """``∂f/∂array`` by :func:`central_difference` at every element, with :func:`step_size`.

    The step of element ``θ_i`` is ``cbrt(eps)·max(1, |θ_i|)`` for ``array``'s dtype,
    which never rounds away. Returns a float64 array of ``array``'s shape; ``array``
    is left bit for bit as it was, also when ``f`` raises.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        step = step_size(float(array[index]), array.dtype)
        grad[index] = central_difference(f, array, index, step)
    return grad


def _evaluate(
    f: Callable[[], float], array: FloatArray, at: At, step: float
) -> tuple[float, _Position]:
    """``f()`` with ``array`` moved by ``step`` at or along ``at``, then restored bit for bit;
    also the position actually stored."""
    if isinstance(at, tuple):
        saved = array[at]  # a scalar of the array's dtype: putting it back is exact
        try:
            array[at] = float(saved) + step
            moved: _Position = float(array[at])
            return f(), moved
        finally:
            array[at] = saved
    backup = array.copy()
    try:
        array += step * at
        moved = array.astype(np.float64)
        return f(), moved
    finally:
        np.copyto(array, backup)


def _position(array: FloatArray, at: At) -> _Position:
    """The current position of ``array`` as :func:`_evaluate` reports a moved one."""
    return float(array[at]) if isinstance(at, tuple) else array.astype(np.float64)


def _taken(upper: _Position, lower: _Position, at: At) -> float:
    """The step actually taken from ``lower`` to ``upper``, measured along ``at``."""
    if isinstance(at, tuple):
        return float(upper) - float(lower)
    v = np.asarray(at, dtype=np.float64)
    return float(np.sum((np.asarray(upper) - np.asarray(lower)) * v)) / float(np.sum(v * v))

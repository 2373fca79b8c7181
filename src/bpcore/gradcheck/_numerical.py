"""The book's ``numerical_gradient``, done safely, on bpcore's finite differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, float_dtype_for
from bpcore._finite_difference import central_difference, default_step
from bpcore.errors import ArgumentError, ShapeError


def scalar_value(value: object, *, where: str) -> float:
    """``value`` as a Python float.

    Raises:
        ShapeError: ``value`` is not a single number.
    """
    array = np.asarray(value)
    if array.size != 1:
        raise ShapeError(f"{where}: expected f to return a scalar, got shape {array.shape}.")
    return float(array.reshape(()))


def numerical_gradient(
    f: Callable[[FloatArray], object],
    x: npt.ArrayLike,
    *,
    h: float | npt.ArrayLike | None = None,
) -> FloatArray:
    """Gradient of the scalar function ``f`` at ``x`` by central differences, element by element.

    ``∂f/∂x_i ≈ (f(x⁺) - f(x⁻)) / (x⁺_i - x⁻_i)`` with ``x± = x ± h_i·e_i`` rounded to
    ``x``'s dtype: the denominator is the step actually taken. ``h`` defaults to
    :func:`default_step` for ``x``'s dtype; a scalar or an array broadcastable to
    ``x``'s shape sets it. Returns a float64 array of ``x``'s shape.

    ``f`` is called with a float64 working copy, so integer inputs are stepped
    exactly. The book's closure style also works: a writeable float32 or float64
    ``x`` is stepped *in place* at the same time, so an ``f`` that reads ``x`` itself
    (``lambda w: net.loss(x, t)``) sees each step. ``x`` is restored bit for bit,
    also when ``f`` raises.

    Raises:
        DtypeError: ``x`` is not real (complex, object, ...).
        ArgumentError: a step is not positive, or so small that ``x_i ± h_i`` rounds
            to the same value in ``x``'s dtype.
        ShapeError: ``f`` returns more than one number.
    """
    where = "numerical_gradient"
    dtype = float_dtype_for(x, where=where, name="x")
    work = np.array(x, dtype=np.float64, copy=True)
    live = x if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.flags.writeable else None
    stepped = work if live is None else live  # the array whose dtype rounds x ± h
    steps = (
        default_step(work, dtype)
        if h is None
        else np.broadcast_to(np.asarray(h, dtype=np.float64), work.shape)
    )
    _check_steps(steps, work, stepped.dtype, where=where)
    grad = np.zeros_like(work)
    for index in np.ndindex(work.shape):

        def evaluate(index: tuple[int, ...] = index) -> float:
            work[index] = stepped[index]  # f sees the value stepped in x's dtype
            return scalar_value(f(work), where=where)

        grad[index] = central_difference(evaluate, stepped, index, float(steps[index]))
        work[index] = stepped[index]
    return grad


def _check_steps(
    steps: FloatArray, values: FloatArray, dtype: np.dtype[np.generic], *, where: str
) -> None:
    """Raise :class:`ArgumentError` unless every step is positive and moves its value."""
    if np.any(~(steps > 0)):
        raise ArgumentError(f"{where}: expected every step h > 0, got {float(np.min(steps))!r}.")
    # x ± h as central_difference stores them: added in float64, then rounded to dtype.
    lost = np.asarray(values + steps, dtype=dtype) == np.asarray(values - steps, dtype=dtype)
    if np.any(lost):
        index = tuple(int(i) for i in np.argwhere(lost)[0])
        raise ArgumentError(
            f"{where}: expected every step h to change x in {dtype}, got h = "
            f"{float(steps[index])!r}, lost to rounding next to x = {float(values[index])!r} "
            f"at index {index}."
        )

"""Central-difference derivatives: the book's ``numerical_gradient``, done safely."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, float_dtype_for
from bpcore.errors import ArgumentError, ShapeError


def default_step(values: FloatArray, dtype: FloatDType) -> FloatArray:
    """The central-difference step ``cbrt(eps) · max(1, |x_i|)`` for each element.

    For a central difference the truncation error grows as ``h²·|f'''|/6`` and the
    rounding error as ``eps·|f|/h``; their sum is smallest at ``h ∝ cbrt(eps)``,
    scaled by ``|x_i|`` so that the step stays representable next to large values.
    ``eps`` is that of ``dtype``: the precision ``f`` computes in.
    """
    scale = np.maximum(1.0, np.abs(np.asarray(values, dtype=np.float64)))
    return np.asarray(np.cbrt(np.finfo(dtype).eps) * scale, dtype=np.float64)


def scalar_value(value: object, *, where: str) -> float:
    """``value`` as a Python float, or a :class:`ShapeError` if it is not a single number."""
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

    ``∂f/∂x_i ≈ (f(x + h_i e_i) - f(x - h_i e_i)) / (x_i⁺ - x_i⁻)``, with the default step of
    :func:`default_step` for ``x``'s dtype, or ``h`` (a scalar or an array broadcastable
    to ``x``'s shape). Returns a float64 array of ``x``'s shape.

    ``f`` is called with a float64 working copy, so integer and float32 inputs are
    handled exactly. The book's style also works: a float32 or float64 ``x`` is
    perturbed *in place* at the same time, so an ``f`` that ignores its argument and
    reads ``x`` through a closure (``lambda w: net.loss(x, t)``) still sees each
    step. Because a float32 ``x`` cannot hold ``x_i ± h_i`` exactly, the denominator is
    the step actually taken (``x_i⁺ - x_i⁻``), not ``2h_i``. ``x`` is always restored
    bit for bit, even when ``f`` raises.
    """
    where = "numerical_gradient"
    dtype = float_dtype_for(x, where=where, name="x")
    work = np.array(x, dtype=np.float64, copy=True)
    steps = (
        default_step(work, dtype)
        if h is None
        else np.broadcast_to(np.asarray(h, dtype=np.float64), work.shape)
    )
    if np.any(~(steps > 0)):
        raise ArgumentError(f"{where}: expected every step h > 0, got {np.min(steps)!r}.")
    live = x if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.flags.writeable else None
    original = None if live is None else live.copy()
    grad = np.zeros_like(work)
    try:
        for index in np.ndindex(work.shape):
            centre = float(work[index])
            plus = _set(work, live, index, centre + float(steps[index]))
            f_plus = scalar_value(f(work), where=where)
            minus = _set(work, live, index, centre - float(steps[index]))
            f_minus = scalar_value(f(work), where=where)
            _set(work, live, index, centre)
            if live is not None and original is not None:
                live[index] = original[index]
            grad[index] = (f_plus - f_minus) / (plus - minus)
    finally:
        if live is not None and original is not None:
            np.copyto(live, original)
    return grad


def _set(
    work: FloatArray, live: npt.NDArray[np.floating] | None, index: tuple[int, ...], value: float
) -> float:
    """Put ``value`` at ``index`` in both arrays; return the value actually stored."""
    if live is not None:
        live[index] = value
        value = float(live[index])  # rounded to live's dtype: use the step really taken
    work[index] = value
    return value

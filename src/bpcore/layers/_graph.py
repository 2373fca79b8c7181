"""The computational-graph nodes of the book: multiplication and addition."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import (
    FloatArray,
    FloatDType,
    as_dtype,
    as_float_array,
    ieee_arithmetic,
    require_forwarded,
    require_shape,
)
from bpcore.errors import ShapeError


def sum_to_shape(grad: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """Sum ``grad`` over the axes NumPy broadcasting added or stretched to reach it from ``shape``.

    The result is always a new array of exactly ``shape``: never a view of ``grad``.
    """
    lead = grad.ndim - len(shape)
    stretched = tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    axes = tuple(range(lead)) + stretched
    if not axes:
        return grad.copy()
    summed: FloatArray = np.sum(grad, axis=axes, keepdims=True)
    return summed.reshape(shape)


def _broadcast_shape(x: FloatArray, y: FloatArray, *, where: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise ShapeError(
            f"{where}: expected x and y with broadcast-compatible shapes, "
            f"got {x.shape} and {y.shape}."
        ) from None


@final
class MulLayer:
    """Multiplication node ``out = x · y`` with NumPy broadcasting.

    Backward returns ``(dout · y, dout · x)``, each summed back to its operand's
    shape and cast to its operand's dtype. Scalars work as 0-d arrays, so the
    book's apple example runs unchanged. Forward keeps references to ``x`` and
    ``y`` for backward, as in the book.
    """

    x: FloatArray | None
    y: FloatArray | None
    _out_shape: tuple[int, ...]

    def __init__(self) -> None:
        self.x = None
        self.y = None
        self._out_shape = ()

    def forward(self, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """Return ``x · y`` broadcast, as a new array (0-d for scalars)."""
        xa = as_float_array(x, where="MulLayer.forward", name="x")
        ya = as_float_array(y, where="MulLayer.forward", name="y")
        self._out_shape = _broadcast_shape(xa, ya, where="MulLayer.forward")
        self.x, self.y = xa, ya
        with ieee_arithmetic():
            return np.asarray(xa * ya)

    def backward(self, dout: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Return ``(dx, dy) = (dout · y, dout · x)`` reduced to the shapes of ``x`` and ``y``."""
        x = require_forwarded(self.x, where="MulLayer.backward")
        y = require_forwarded(self.y, where="MulLayer.backward")
        d = as_dtype(dout, np.result_type(x, y), where="MulLayer.backward", name="dout")
        require_shape(d, self._out_shape, where="MulLayer.backward", name="dout")
        with ieee_arithmetic():
            dx = np.asarray(sum_to_shape(np.asarray(d * y), x.shape), dtype=x.dtype)
            dy = np.asarray(sum_to_shape(np.asarray(d * x), y.shape), dtype=y.dtype)
        return dx, dy


@final
class AddLayer:
    """Addition node ``out = x + y`` with NumPy broadcasting.

    Backward passes ``dout`` to both operands, each summed back to its operand's
    shape and cast to its operand's dtype, as new arrays.
    """

    _shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None
    _dtypes: tuple[FloatDType, FloatDType] | None

    def __init__(self) -> None:
        self._shapes = None
        self._dtypes = None

    def forward(self, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """Return ``x + y`` broadcast, as a new array (0-d for scalars)."""
        xa = as_float_array(x, where="AddLayer.forward", name="x")
        ya = as_float_array(y, where="AddLayer.forward", name="y")
        out_shape = _broadcast_shape(xa, ya, where="AddLayer.forward")
        self._shapes = (xa.shape, ya.shape, out_shape)
        self._dtypes = (xa.dtype, ya.dtype)
        with ieee_arithmetic():
            return np.asarray(xa + ya)

    def backward(self, dout: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Return ``(dx, dy) = (dout, dout)`` reduced to the shapes of ``x`` and ``y``."""
        x_shape, y_shape, out_shape = require_forwarded(self._shapes, where="AddLayer.backward")
        x_dtype, y_dtype = require_forwarded(self._dtypes, where="AddLayer.backward")
        d = as_dtype(dout, np.result_type(x_dtype, y_dtype), where="AddLayer.backward", name="dout")
        require_shape(d, out_shape, where="AddLayer.backward", name="dout")
        with ieee_arithmetic():
            dx = np.asarray(sum_to_shape(d, x_shape), dtype=x_dtype)
            dy = np.asarray(sum_to_shape(d, y_shape), dtype=y_dtype)
        return dx, dy

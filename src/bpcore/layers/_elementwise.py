"""What every element-wise activation layer shares: ``y = f(x)``, ``dx = dout · f'(x)``."""

from __future__ import annotations

import abc

import numpy.typing as npt

from bpcore._arrays import (
    FloatArray,
    as_dtype,
    as_float_array,
    ieee_arithmetic,
    require_forwarded,
    require_shape,
)


class ElementwiseActivation(abc.ABC):
    """An element-wise activation: ``y = f(x)`` and ``dx = dout · f'(x)``.

    A subclass gives :meth:`value_and_slope`, which returns ``f(x)`` and ``f'(x)`` each to
    full relative accuracy; forward keeps the slope for backward. ``x``, ``y`` and ``dx``
    share one shape and dtype.

    Attributes:
        out: the layer's private copy of the last forward output ``y``, or ``None``.
    """

    out: FloatArray | None
    _slope: FloatArray | None

    def __init__(self) -> None:
        self.out = None
        self._slope = None

    @staticmethod
    @abc.abstractmethod
    def value_and_slope(x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(f(x), f'(x))`` element-wise, in ``x``'s dtype."""

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return ``f(x)`` as a new array; the layer keeps its own copy for backward."""
        where = f"{type(self).__name__}.forward"
        y, self._slope = self.value_and_slope(as_float_array(x, where=where, name="x"))
        self.out = y
        return y.copy()  # an in-place edit of the output must not reach backward

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout · f'(x)`` as a new array.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have ``x``'s shape.
        """
        where = f"{type(self).__name__}.backward"
        require_forwarded(self.out, where=where)
        slope = require_forwarded(self._slope, where=where)
        d = as_dtype(dout, slope.dtype, where=where, name="dout")
        require_shape(d, slope.shape, where=where, name="dout")
        with ieee_arithmetic():  # inf · 0 is NaN, silently
            return d * slope

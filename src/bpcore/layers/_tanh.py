"""The tanh layer."""

from __future__ import annotations

from typing import final

import numpy.typing as npt

from bpcore._arrays import FloatArray, as_dtype, as_float_array, require_forwarded, require_shape
from bpcore.functional import tanh_pair


@final
class Tanh:
    """``y = tanh(x)`` element-wise; ``dx = dout · (1 - y²)``.

    ``x``, ``y`` and ``dx`` share one shape and dtype. ``1 - y²`` is computed as
    ``sech²(x)`` from ``exp(-2|x|)``, not by subtraction, so the gradient keeps its
    relative accuracy in both tails (``1 - y²`` rounds to 0 for ``|x| ≳ 19`` in float64).

    Attributes:
        out: the layer's private copy of the last forward output ``y``, or ``None``.
    """

    out: FloatArray | None
    _slope: FloatArray | None

    def __init__(self) -> None:
        self.out = None
        self._slope = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return ``tanh(x)`` as a new array; the layer keeps its own copy for backward."""
        y, self._slope = tanh_pair(as_float_array(x, where="Tanh.forward", name="x"))
        self.out = y
        return y.copy()  # an in-place edit of the output must not reach backward

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout · (1 - y²)`` as a new array.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have ``x``'s shape.
        """
        slope = require_forwarded(self._slope, where="Tanh.backward")
        d = as_dtype(dout, slope.dtype, where="Tanh.backward", name="dout")
        require_shape(d, slope.shape, where="Tanh.backward", name="dout")
        return d * slope

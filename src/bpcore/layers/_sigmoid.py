"""The sigmoid layer."""

from __future__ import annotations

from typing import final

import numpy.typing as npt

from bpcore._arrays import FloatArray, as_dtype, as_float_array, require_forwarded, require_shape
from bpcore.functional import sigmoid_pair


@final
class Sigmoid:
    """``y = 1 / (1 + exp(-x))`` element-wise; ``dx = dout · y · (1 - y)``.

    ``x``, ``y`` and ``dx`` share one shape and dtype. The forward is stable for every
    finite input, and ``1 - y`` is computed as ``σ(-x)``, not by subtraction, so the
    gradient keeps its relative accuracy in both tails (the book's ``1 - y`` is 0 for
    ``x ≳ 37`` in float64).

    Attributes:
        out: the layer's private copy of the last forward output ``y``, or ``None``.
    """

    out: FloatArray | None
    _complement: FloatArray | None

    def __init__(self) -> None:
        self.out = None
        self._complement = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return ``sigmoid(x)`` as a new array; the layer keeps its own copy for backward."""
        y, self._complement = sigmoid_pair(as_float_array(x, where="Sigmoid.forward", name="x"))
        self.out = y
        return y.copy()  # an in-place edit of the output must not reach backward

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout · y · (1 - y)`` as a new array.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have ``x``'s shape.
        """
        y = require_forwarded(self.out, where="Sigmoid.backward")
        complement = require_forwarded(self._complement, where="Sigmoid.backward")
        d = as_dtype(dout, y.dtype, where="Sigmoid.backward", name="dout")
        require_shape(d, y.shape, where="Sigmoid.backward", name="dout")
        return d * complement * y

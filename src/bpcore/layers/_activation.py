"""Element-wise activation layers: ReLU and Sigmoid."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import (
    FloatArray,
    FloatDType,
    as_dtype,
    as_float_array,
    require_forwarded,
    require_shape,
)
from bpcore.functional import sigmoid_pair


@final
class Relu:
    """``y = max(x, 0)`` element-wise; ``dx = dout`` where ``x > 0`` and ``0`` where ``x <= 0``.

    ReLU is not differentiable at ``x = 0``; like the book, backward uses the
    subgradient 0 there (``-0.0`` included). ``x`` may have any shape; ``y`` and ``dx``
    have the same shape and dtype as ``x``.

    Attributes:
        mask: boolean array of ``x``'s shape, ``True`` where ``x <= 0`` (the book's mask),
            or ``None`` before the first forward.
    """

    mask: npt.NDArray[np.bool_] | None

    _dtype: FloatDType

    def __init__(self) -> None:
        self.mask = None
        self._dtype = np.dtype(np.float64)

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return ``max(x, 0)`` as a new array of ``x``'s shape and dtype."""
        xa = as_float_array(x, where="Relu.forward", name="x")
        # The book's mask. NaN is not <= 0, so a NaN passes through unmasked: a diverging
        # network must show NaN in its loss, not have it silently turned into 0.
        self.mask = xa <= 0
        self._dtype = xa.dtype
        return np.where(self.mask, xa.dtype.type(0), xa)

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout`` where ``x > 0`` and exactly ``0`` elsewhere, as a new array."""
        mask = require_forwarded(self.mask, where="Relu.backward")
        d = as_dtype(dout, self._dtype, where="Relu.backward", name="dout")
        require_shape(d, mask.shape, where="Relu.backward", name="dout")
        return np.where(mask, self._dtype.type(0), d)


@final
class Sigmoid:
    """``y = 1 / (1 + exp(-x))`` element-wise; ``dx = dout · y · (1 - y)``.

    ``x`` may have any shape; ``y`` and ``dx`` have the same shape and dtype as ``x``.
    The forward is stable for every finite input (see :func:`bpcore.functional.sigmoid`).
    Backward uses ``1 - y`` computed directly as ``σ(-x)``, not by subtraction, so the
    gradient keeps its relative accuracy in both tails (the book's ``(1 - y)`` is 0
    for ``x ≳ 37`` in float64 and ``x ≳ 17`` in float32).

    Attributes:
        out: the layer's private copy of the last forward output ``y``, or ``None``.
    """

    out: FloatArray | None
    _complement: FloatArray | None

    def __init__(self) -> None:
        self.out = None
        self._complement = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return ``sigmoid(x)``; the layer keeps its own copy for backward."""
        y, complement = sigmoid_pair(as_float_array(x, where="Sigmoid.forward", name="x"))
        self.out, self._complement = y, complement
        # Hand the caller a separate array: an in-place edit of the output must
        # not corrupt the saved `out` that backward reads.
        return y.copy()

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout · y · (1 - y)`` as a new array."""
        y = require_forwarded(self.out, where="Sigmoid.backward")
        complement = require_forwarded(self._complement, where="Sigmoid.backward")
        d = as_dtype(dout, y.dtype, where="Sigmoid.backward", name="dout")
        require_shape(d, y.shape, where="Sigmoid.backward", name="dout")
        return d * complement * y

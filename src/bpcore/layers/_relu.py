"""The ReLU layer."""

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
from bpcore.functional import zero_where


@final
class Relu:
    """``y = max(x, 0)`` element-wise; ``dx = dout`` where ``x > 0`` and ``0`` where ``x <= 0``.

    At the kink ``x = 0`` (``-0.0`` included) backward uses the subgradient 0, as the book
    does; NaN passes through both ways. ``x``, ``y`` and ``dx`` share one shape and dtype.

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
        self.mask = xa <= 0  # NaN is not <= 0: a diverging network shows NaN, not 0
        self._dtype = xa.dtype
        return zero_where(xa, self.mask, np.empty_like(xa))

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout`` where ``x > 0`` and exactly ``0`` elsewhere, as a new array.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have ``x``'s shape.
        """
        mask = require_forwarded(self.mask, where="Relu.backward")
        d = as_dtype(dout, self._dtype, where="Relu.backward", name="dout")
        require_shape(d, mask.shape, where="Relu.backward", name="dout")
        return zero_where(d, mask, np.empty_like(d))

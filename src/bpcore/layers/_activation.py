"""Element-wise activation layers: ReLU and Sigmoid."""

from __future__ import annotations

from typing import Any, TypeAlias, final

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

KeepArray: TypeAlias = npt.NDArray[np.int8]


_BITS: dict[np.dtype[np.floating[Any]], np.dtype[np.signedinteger[Any]]] = {
    np.dtype(np.float32): np.dtype(np.int32),
    np.dtype(np.float64): np.dtype(np.int64),
}


def keep_bits(mask: npt.NDArray[np.bool_], out: KeepArray | None = None) -> KeepArray:
    """``mask - 1`` as int8: ``-1`` (all bits set) where ``mask`` is False, ``0`` where True.

    ``v & keep`` on the bits of a float ``v``, with ``keep`` sign-extended to ``v``'s
    width, is then exactly ``where(mask, +0.0, v)``: the value itself, NaN and
    infinities included, or the all-zero bits of ``+0.0``. Unlike ``np.where``,
    ``np.copyto(where=)`` and ``np.putmask``, which branch on every element (several
    ms per million elements of random sign), the AND runs at memory speed; an int8
    ``keep`` costs one byte per element, like the mask.
    """
    # A mask someone assigned by hand may not be bool: make it one (free when it is).
    return np.subtract(np.asarray(mask, dtype=np.bool_).view(np.int8), 1, out=out)


def masked_zero(v: FloatArray, keep: KeepArray, out: FloatArray) -> FloatArray:
    """Write ``where(mask, +0.0, v)`` into ``out`` (which may be ``v``), for ``keep`` from
    :func:`keep_bits`; ``v``, ``keep`` and ``out`` have one shape, ``out`` ``v``'s dtype."""
    bits = _BITS[v.dtype]
    # NumPy sign-extends the int8 keep to the float's width as it goes (safe casting).
    np.bitwise_and(v.view(bits), keep, out=out.view(bits))
    return out


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
        mask = xa <= 0
        self.mask = mask
        self._dtype = xa.dtype
        return masked_zero(xa, keep_bits(mask), np.empty_like(xa))

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout`` where ``x > 0`` and exactly ``0`` elsewhere, as a new array."""
        mask = require_forwarded(self.mask, where="Relu.backward")
        d = as_dtype(dout, self._dtype, where="Relu.backward", name="dout")
        require_shape(d, mask.shape, where="Relu.backward", name="dout")
        return masked_zero(d, keep_bits(mask), np.empty_like(d))

    def _forward_owned(self, a: FloatArray) -> FloatArray:
        """Forward on a float array the caller hands over: ReLU is applied to ``a`` in place.

        For networks, whose pre-activations are their own new arrays: the result is
        ``a`` itself, bit for bit what :meth:`forward` returns, and the layer's state is
        what :meth:`forward` leaves.
        """
        mask = a <= 0
        self.mask = mask
        self._dtype = a.dtype
        return masked_zero(a, keep_bits(mask), a)

    def _backward_owned(self, d: FloatArray) -> FloatArray:
        """Backward on a gradient array the caller hands over (of the mask's shape, in the
        forward's dtype), masked in place: bit for bit what :meth:`backward` returns."""
        mask = require_forwarded(self.mask, where="Relu.backward")
        return masked_zero(d, keep_bits(mask), d)


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

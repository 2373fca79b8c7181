"""The fully connected (affine) layer."""

from __future__ import annotations

import math
from typing import Literal, final, overload

import numpy as np
import numpy.typing as npt

from bpcore._arrays import (
    FloatArray,
    as_dtype,
    as_float_array,
    computing_dtype,
    ieee_arithmetic,
    require_float_array,
    require_forwarded,
    require_shape,
)
from bpcore.errors import ShapeError
from bpcore.layers._parameters import WithParameters


@final
class Affine(WithParameters):
    """Fully connected layer ``y = x · W + b``.

    Shapes: ``W`` is ``(D, M)``, ``b`` is ``(M,)``, ``x`` is ``(N, D)`` or
    ``(N, d1, ..., dk)`` with ``d1·…·dk = D`` (it is flattened per sample), and
    ``y`` is ``(N, M)``. Backward computes

    * ``dx = dout · Wᵀ``, reshaped to ``x``'s original shape,
    * ``dW = xᵀ · dout`` of shape ``(D, M)``,
    * ``db = Σ_n dout[n]`` of shape ``(M,)``.

    The layer holds *references* to ``W`` and ``b`` (as in the book), so an
    in-place update of a network's parameter dict reaches it. Forward likewise
    keeps a reference to ``x`` for backward: modifying ``x`` in place between
    ``forward`` and ``backward`` changes ``dW``.

    Attributes:
        W, b: the parameters (shared with the caller).
        dW, db: gradients from the last backward, or ``None``.
    """

    PARAMETERS = ("W", "b")

    W: FloatArray
    b: FloatArray
    dW: FloatArray | None
    db: FloatArray | None
    x: FloatArray | None
    original_x_shape: tuple[int, ...] | None

    def __init__(self, W: FloatArray, b: FloatArray) -> None:
        """Wrap parameters ``W`` ``(D, M)`` and ``b`` ``(M,)`` by reference."""
        self.W = require_float_array(W, where="Affine", name="W")
        self.b = require_float_array(b, where="Affine", name="b")
        if self.W.ndim != 2:
            raise ShapeError(f"Affine: expected `W` of shape (D, M), got shape {self.W.shape}.")
        if self.b.shape != (self.W.shape[1],):
            raise ShapeError(
                f"Affine: expected `b` of shape ({self.W.shape[1]},) to match W {self.W.shape}, "
                f"got shape {self.b.shape}."
            )
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return ``x · W + b`` of shape ``(N, M)``.

        With mixed float32 and float64, ``x · W`` is computed in the dtype of ``x`` and
        ``W`` promoted, and ``b`` is added in the wider of that and ``b``'s dtype.
        """
        xa = as_float_array(x, where="Affine.forward", name="x")
        d_in: int = self.W.shape[0]
        if xa.ndim < 2 or math.prod(xa.shape[1:]) != d_in:
            raise ShapeError(
                f"Affine.forward: expected x of shape (N, {d_in}) or (N, d1, ..., dk) with "
                f"d1·…·dk = {d_in}, got shape {xa.shape}."
            )
        self.original_x_shape = xa.shape
        x2 = xa.reshape(xa.shape[0], d_in)
        self.x = x2
        with ieee_arithmetic():
            out: FloatArray = x2 @ self.W
            if out.dtype != self.b.dtype:
                return out + self.b  # mixed precision: the sum takes the wider dtype
            out += self.b  # in place on the new product: no second (N, M) array
        return out

    @overload
    def backward(self, dout: npt.ArrayLike, *, input_grad: Literal[True] = ...) -> FloatArray: ...
    @overload
    def backward(self, dout: npt.ArrayLike, *, input_grad: Literal[False]) -> None: ...
    @overload
    def backward(self, dout: npt.ArrayLike, *, input_grad: bool) -> FloatArray | None: ...

    def backward(self, dout: npt.ArrayLike, *, input_grad: bool = True) -> FloatArray | None:
        """Set ``dW`` and ``db``; return ``dx`` in ``x``'s original shape and dtype.

        With ``input_grad=False`` the ``(N, D)`` product ``dx`` is skipped and ``None``
        returned: a network's first layer needs only its parameter gradients.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` is not ``(N, M)``.
        """
        x2 = require_forwarded(self.x, where="Affine.backward")
        x_shape = require_forwarded(self.original_x_shape, where="Affine.backward")
        out_dtype = computing_dtype(x2, self.W, self.b)
        d = as_dtype(dout, out_dtype, where="Affine.backward", name="dout")
        require_shape(d, (x2.shape[0], self.W.shape[1]), where="Affine.backward", name="dout")
        with ieee_arithmetic():
            self.dW = np.asarray(x2.T @ d, dtype=self.W.dtype)
            self.db = np.asarray(np.add.reduce(d, axis=0), dtype=self.b.dtype)
            if not input_grad:
                return None
            dx = d @ self.W.T
            return np.asarray(dx.reshape(x_shape), dtype=x2.dtype)

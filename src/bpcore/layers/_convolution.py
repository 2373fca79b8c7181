"""The convolution layer, through im2col."""

from __future__ import annotations

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
from bpcore._windows import (
    Window,
    check_window,
    fold,
    output_shape,
    rows_as_windows,
    unfold,
    windows_as_rows,
)
from bpcore.errors import ShapeError
from bpcore.layers._parameters import WithParameters


@final
class Convolution(WithParameters):
    """``FN`` filters slid over ``(N, C, H, W)`` images (cross-correlation, as in the book).

    With ``xp`` the input zero-padded by ``pad`` on each side, filters ``W``
    ``(FN, C, FH, FW)`` and bias ``b`` ``(FN,)``:

        out[n, f, i, j] = Σ_{c, y, x} W[f, c, y, x] · xp[n, c, i·stride + y, j·stride + x] + b[f]

    of shape ``(N, FN, OH, OW)``, ``OH = (H + 2·pad - FH) // stride + 1`` (``OW`` alike).
    It is the product ``im2col(x) · W_rowsᵀ + b`` with ``W_rows = W.reshape(FN, -1)``, and
    backward is its adjoint: ``db = Σ_{n,i,j} dout``, ``dW = dout_rowsᵀ · im2col(x)`` and
    ``dx = col2im(dout_rows · W_rows)``, with ``dout_rows`` the ``(N·OH·OW, FN)`` rows of
    ``dout``.

    Like :class:`~bpcore.Affine`, it holds ``W`` and ``b`` by reference and computes
    in their dtype promoted with the input's; each gradient has its array's dtype.

    Attributes:
        W, b: the parameters (shared with the caller).
        stride, pad: the window's step and the zero padding on each side.
        dW, db: the gradients of the last backward, or ``None``.
        x: the last forward's input, or ``None``.
        col: the last forward's ``im2col(x)`` rows, ``(N·OH·OW, C·FH·FW)``, or ``None``.

    Raises:
        DtypeError: ``W`` or ``b`` is not a float32 or float64 array.
        ShapeError: ``W`` is not 4-D or ``b`` not ``(FN,)``.
        ArgumentError: ``stride`` is not a positive int or ``pad`` not an int >= 0.
    """

    PARAMETERS = ("W", "b")

    W: FloatArray
    b: FloatArray
    stride: int
    pad: int
    dW: FloatArray | None
    db: FloatArray | None
    x: FloatArray | None
    col: FloatArray | None
    _window: Window

    def __init__(self, W: FloatArray, b: FloatArray, stride: int = 1, pad: int = 0) -> None:
        where = "Convolution"
        self.W = require_float_array(W, where=where, name="W")
        self.b = require_float_array(b, where=where, name="b")
        if self.W.ndim != 4:
            raise ShapeError(
                f"{where}: expected `W` of shape (FN, C, FH, FW), got shape {W.shape}."
            )
        if self.b.shape != (self.W.shape[0],):
            raise ShapeError(
                f"{where}: expected `b` of shape ({self.W.shape[0]},) to match W {self.W.shape}, "
                f"got shape {self.b.shape}."
            )
        fh, fw = self.W.shape[2], self.W.shape[3]
        self._window = check_window(fh, fw, stride, pad, where=where, names=("FH", "FW"))
        self.stride, self.pad = self._window.stride, self._window.pad
        self.dW = None
        self.db = None
        self.x = None
        self.col = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return the ``(N, FN, OH, OW)`` convolution of ``x`` ``(N, C, H, W)``.

        Raises:
            ShapeError: ``x`` is not ``(N, C, H, W)`` with ``W``'s ``C``, or the filter
                does not fit in the padded image.
        """
        where = "Convolution.forward"
        xa = as_float_array(x, where=where, name="x")
        fn, c = self.W.shape[0], self.W.shape[1]
        if xa.ndim != 4 or xa.shape[1] != c:
            raise ShapeError(f"{where}: expected x of shape (N, {c}, H, W), got shape {xa.shape}.")
        oh, ow = output_shape(xa.shape, self._window, where=where)
        col = windows_as_rows(unfold(xa, self._window))
        with ieee_arithmetic():
            out: FloatArray = col @ self.W.reshape(fn, -1).T
            out = out + self.b if out.dtype != self.b.dtype else np.add(out, self.b, out=out)
        self.x, self.col = xa, col
        return out.reshape(xa.shape[0], oh, ow, fn).transpose(0, 3, 1, 2)

    @overload
    def backward(self, dout: npt.ArrayLike, *, input_grad: Literal[True] = ...) -> FloatArray: ...
    @overload
    def backward(self, dout: npt.ArrayLike, *, input_grad: Literal[False]) -> None: ...
    @overload
    def backward(self, dout: npt.ArrayLike, *, input_grad: bool) -> FloatArray | None: ...

    def backward(self, dout: npt.ArrayLike, *, input_grad: bool = True) -> FloatArray | None:
        """Set ``dW`` and ``db``; return ``dx`` in ``x``'s shape and dtype.

        With ``input_grad=False`` the ``col2im`` of ``dx`` is skipped and ``None``
        returned: a network's first layer needs only its parameter gradients.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` is not ``(N, FN, OH, OW)``.
        """
        where = "Convolution.backward"
        x = require_forwarded(self.x, where=where)
        col = require_forwarded(self.col, where=where)
        n, c = x.shape[0], x.shape[1]
        fn = self.W.shape[0]
        oh, ow = output_shape(x.shape, self._window, where=where)
        out_dtype = computing_dtype(x, self.W, self.b)
        d = as_dtype(dout, out_dtype, where=where, name="dout")
        require_shape(d, (n, fn, oh, ow), where=where, name="dout")
        rows = d.transpose(0, 2, 3, 1).reshape(-1, fn)
        w_rows = self.W.reshape(fn, -1)
        with ieee_arithmetic():
            self.db = np.asarray(np.add.reduce(rows, axis=0), dtype=self.b.dtype)
            self.dW = np.asarray((rows.T @ col).reshape(self.W.shape), dtype=self.W.dtype)
            if not input_grad:
                return None
            dcol = rows @ w_rows
        dx = fold(rows_as_windows(dcol, (n, c, oh, ow), self._window), x.shape, self._window)
        return np.asarray(dx, dtype=x.dtype)

"""The max-pooling layer."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_dtype, as_float_array, require_forwarded, require_shape
from bpcore._windows import Window, check_window, output_shape, padded, taps
from bpcore.errors import ArgumentError
from bpcore.functional import zero_where


@final
class Pooling:
    """The maximum of every ``pool_h × pool_w`` window of ``(N, C, H, W)`` images.

    ``out[n, c, i, j] = max_{y, x} xp[n, c, i·stride + y, j·stride + x]`` of shape
    ``(N, C, OH, OW)``, ``OH = (H + 2·pad - pool_h) // stride + 1`` (``OW`` alike), where
    ``xp`` is the input padded by ``pad`` with ``-inf``: padding never wins, so every
    window needs a real element (``pad < pool_h`` and ``pad < pool_w``). The book pads
    with zeros, which a window of negative values would return as its maximum.

    Backward sends each ``dout[n, c, i, j]`` to one element of its window, the
    :attr:`arg_max`: the *first* maximum in the window's row-major order (NumPy's
    ``argmax``; a NaN counts as the maximum). Where several elements tie, that is one
    valid subgradient of the max; the gradients of a window always sum to its ``dout``,
    and overlapping windows add theirs.

    Attributes:
        pool_h, pool_w, stride, pad: the window.
        x: the last forward's input, or ``None``.
        arg_max: the flat index ``y·pool_w + x`` of each window's maximum, an integer
            array ``(N, C, OH, OW)``, or ``None``.

    Raises:
        ArgumentError: a pool size or ``stride`` is not a positive int, or ``pad`` not an
            int in ``[0, min(pool_h, pool_w))``.
    """

    pool_h: int
    pool_w: int
    stride: int
    pad: int
    x: FloatArray | None
    arg_max: npt.NDArray[np.integer] | None
    _window: Window

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        where = "Pooling"
        window = check_window(pool_h, pool_w, stride, pad, where=where, names=("pool_h", "pool_w"))
        if window.pad >= min(window.height, window.width):
            raise ArgumentError(
                f"{where}: expected `pad` < min(pool_h, pool_w) = "
                f"{min(window.height, window.width)}, so that every window holds an element "
                f"of the image, got {pad!r}."
            )
        self._window = window
        self.pool_h, self.pool_w, self.stride, self.pad = window
        self.x = None
        self.arg_max = None

    def forward(self, x: npt.ArrayLike) -> FloatArray:
        """Return the ``(N, C, OH, OW)`` window maxima of ``x`` ``(N, C, H, W)``, in its dtype.

        Raises:
            ShapeError: ``x`` is not 4-D, or the window does not fit in the padded image.
        """
        where = "Pooling.forward"
        xa = as_float_array(x, where=where, name="x")
        grid = output_shape(xa.shape, self._window, where=where)
        scan = taps(padded(xa, self._window, fill=-np.inf), self._window, grid)
        out = np.array(next(scan), copy=True)
        size = self.pool_h * self.pool_w
        index_type = np.uint8 if size <= 256 else np.intp
        arg_max = np.zeros(out.shape, dtype=index_type)
        wins = np.empty(out.shape, dtype=np.bool_)
        chosen = np.empty(out.shape, dtype=index_type)
        for k, tap in enumerate(scan, start=1):
            np.greater(tap, out, out=wins)
            np.maximum(out, tap, out=out)
            # Offsets only grow: the largest offset that has won so far is the first maximum.
            np.multiply(wins, index_type(k), out=chosen)
            np.maximum(arg_max, chosen, out=arg_max)
        nan = np.isnan(out)
        if nan.any():
            self._point_at_first_nan(xa, arg_max, nan, grid)
        self.x, self.arg_max = xa, arg_max
        return out

    def _point_at_first_nan(
        self,
        x: FloatArray,
        arg_max: npt.NDArray[np.integer],
        nan: npt.NDArray[np.bool_],
        grid: tuple[int, int],
    ) -> None:
        """Where a window's maximum is NaN, make arg_max its first NaN (NaN never compares
        greater, so the scan left it at the last number that did)."""
        unset = nan.copy()
        for k, tap in enumerate(taps(padded(x, self._window, fill=-np.inf), self._window, grid)):
            first = unset & np.isnan(tap)
            arg_max[first] = k
            unset &= ~first

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dx``: each ``dout`` added at its window's :attr:`arg_max`, zeros elsewhere.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have the output's shape.
        """
        where = "Pooling.backward"
        x = require_forwarded(self.x, where=where)
        arg_max = require_forwarded(self.arg_max, where=where)
        d = as_dtype(dout, x.dtype, where=where, name="dout")
        require_shape(d, arg_max.shape, where=where, name="dout")
        n, c, h, w = x.shape
        grid = (arg_max.shape[2], arg_max.shape[3])
        mask = np.empty(arg_max.shape, dtype=np.bool_)
        if self._tiles(h, w, grid):
            # Every element of x lies in exactly one window: write each tap once.
            dx = np.empty(x.shape, dtype=x.dtype)
            for k, tap in enumerate(taps(dx, self._window, grid)):
                np.not_equal(arg_max, k, out=mask)
                zero_where(d, mask, tap)
            return dx
        p = self.pad
        full = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
        for k, tap in enumerate(taps(full, self._window, grid)):
            np.equal(arg_max, k, out=mask)
            np.add(tap, d, out=tap, where=mask)
        return full[:, :, p : p + h, p : p + w] if p else full

    def _tiles(self, h: int, w: int, grid: tuple[int, int]) -> bool:
        """Whether the windows tile the image: no padding, no overlap, nothing left over."""
        size = (self.pool_h, self.pool_w)
        return (
            self.pad == 0
            and size == (self.stride, self.stride)
            and (h, w)
            == (
                grid[0] * self.pool_h,
                grid[1] * self.pool_w,
            )
        )

"""The max-pooling layer."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_dtype, as_float_array, require_forwarded, require_shape
from bpcore._windows import Window, check_window, fold, output_shape, unfold
from bpcore.errors import ArgumentError


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
        arg_max: the flat index ``y·pool_w + x`` of each window's maximum, ``(N, C, OH,
            OW)``, or ``None``.

    Raises:
        ArgumentError: a pool size or ``stride`` is not a positive int, or ``pad`` not an
            int in ``[0, min(pool_h, pool_w))``.
    """

    pool_h: int
    pool_w: int
    stride: int
    pad: int
    x: FloatArray | None
    arg_max: npt.NDArray[np.intp] | None
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
        output_shape(xa.shape, self._window, where=where)
        windows = unfold(xa, self._window, fill=-np.inf)
        flat = windows.reshape(*windows.shape[:4], -1)
        arg_max = np.argmax(flat, axis=-1)
        out = np.take_along_axis(flat, arg_max[..., np.newaxis], axis=-1)[..., 0]
        self.x, self.arg_max = xa, arg_max
        return out

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
        routed = np.zeros((*arg_max.shape, self.pool_h * self.pool_w), dtype=x.dtype)
        np.put_along_axis(routed, arg_max[..., np.newaxis], d[..., np.newaxis], axis=-1)
        windows = routed.reshape(*arg_max.shape, self.pool_h, self.pool_w)
        return fold(windows, x.shape, self._window)

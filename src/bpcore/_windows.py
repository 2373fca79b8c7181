"""Sliding windows over ``(N, C, H, W)`` images: the one kernel behind ``im2col``,
``col2im``, Convolution and Pooling.

With the image padded by ``p`` on each side, window ``(i, j)`` of size ``fh × fw`` at
stride ``s`` starts at row ``i·s`` and column ``j·s``; ``OH = (H + 2p - fh) // s + 1``
windows fit down and ``OW`` across. ``unfold`` gives every window as a view
``(N, C, OH, OW, fh, fw)`` and ``fold`` is its adjoint; ``taps`` gives, for each of the
``fh·fw`` offsets in a window, the ``(N, C, OH, OW)`` view of what every window holds
there, which is how ``fold`` adds windows back and how max pooling scans them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bpcore._args import non_negative_int, positive_int
from bpcore._arrays import FloatArray
from bpcore.errors import ShapeError


class Window(NamedTuple):
    """A window's height and width, its stride and the padding on each side."""

    height: int
    width: int
    stride: int
    pad: int


def check_window(
    height: object,
    width: object,
    stride: object,
    pad: object,
    *,
    where: str,
    names: tuple[str, str],
) -> Window:
    """The window, or :class:`~bpcore.errors.ArgumentError` naming the argument that is not
    a positive int (the sizes and stride) or an int >= 0 (the pad)."""
    return Window(
        positive_int(height, where=where, name=names[0]),
        positive_int(width, where=where, name=names[1]),
        positive_int(stride, where=where, name="stride"),
        non_negative_int(pad, where=where, name="pad"),
    )


def output_shape(
    image: tuple[int, ...], window: Window, *, where: str, name: str = "x"
) -> tuple[int, int]:
    """``(OH, OW)`` for an ``(N, C, H, W)`` image, or :class:`ShapeError` if the image is
    not 4-D or the window does not fit in it, padding included."""
    if len(image) != 4:
        raise ShapeError(f"{where}: expected `{name}` of shape (N, C, H, W), got shape {image}.")
    h, w = image[2] + 2 * window.pad, image[3] + 2 * window.pad
    if h < window.height or w < window.width:
        raise ShapeError(
            f"{where}: expected `{name}` of at least {window.height}x{window.width} after "
            f"padding by {window.pad}, got shape {image} ({h}x{w} padded)."
        )
    return (h - window.height) // window.stride + 1, (w - window.width) // window.stride + 1


def padded(x: FloatArray, window: Window, *, fill: float = 0.0) -> FloatArray:
    """``x`` ``(N, C, H, W)`` padded by ``pad`` on each side with ``fill`` (``x`` itself
    without padding)."""
    p = window.pad
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else x


def taps(image: FloatArray, window: Window, grid: tuple[int, int]) -> Iterator[FloatArray]:
    """For each offset ``(y, x)`` of the window, in row-major order, the view of the padded
    ``image`` that every window holds there: ``image[:, :, y::s, x::s]`` cut to the
    ``(OH, OW)`` ``grid``; window ``(i, j)`` holds ``tap[:, :, i, j]``."""
    s, (oh, ow) = window.stride, grid
    for y in range(window.height):
        for x in range(window.width):
            yield image[:, :, y : y + s * oh : s, x : x + s * ow : s]


def unfold(x: FloatArray, window: Window, *, fill: float = 0.0) -> FloatArray:
    """Every window of ``x`` ``(N, C, H, W)`` padded with ``fill``, as a read-only view
    ``(N, C, OH, OW, fh, fw)`` (of a padded copy when ``pad > 0``)."""
    views = sliding_window_view(padded(x, window, fill=fill), window[:2], axis=(2, 3))
    return views[:, :, :: window.stride, :: window.stride]


def fold(windows: FloatArray, image: tuple[int, ...], window: Window) -> FloatArray:
    """The adjoint of :func:`unfold`: ``(N, C, OH, OW, fh, fw)`` windows added into a new
    ``(N, C, H, W)`` array where :func:`unfold` took them from (padding dropped)."""
    n, c, h, w = image
    p = window.pad
    out = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=windows.dtype)
    grid = (windows.shape[2], windows.shape[3])
    for k, tap in enumerate(taps(out, window, grid)):
        np.add(tap, windows[:, :, :, :, k // window.width, k % window.width], out=tap)
    return out[:, :, p : p + h, p : p + w] if p else out


def windows_as_rows(windows: FloatArray) -> FloatArray:
    """``(N, C, OH, OW, fh, fw)`` windows as new ``(N·OH·OW, C·fh·fw)`` rows, im2col's layout."""
    n, c, oh, ow, fh, fw = windows.shape
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * fh * fw)


def rows_as_windows(
    rows: FloatArray, grid: tuple[int, int, int, int], window: Window
) -> FloatArray:
    """im2col's rows as a view ``(N, C, OH, OW, fh, fw)``, for ``grid = (N, C, OH, OW)``."""
    n, c, oh, ow = grid
    return rows.reshape(n, oh, ow, c, window.height, window.width).transpose(0, 3, 1, 2, 4, 5)

"""Sliding windows over ``(N, C, H, W)`` images: the one kernel behind ``im2col``,
``col2im``, Convolution and Pooling.

``unfold`` gives every ``fh × fw`` window at stride ``s`` of the image padded by ``p`` on
each side, as a view ``(N, C, OH, OW, fh, fw)``; ``fold`` is its adjoint, adding each
window back where it came from. ``OH = (H + 2p - fh) // s + 1`` and likewise ``OW``.
"""

from __future__ import annotations

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


def unfold(x: FloatArray, window: Window, *, fill: float = 0.0) -> FloatArray:
    """Every window of ``x`` ``(N, C, H, W)`` padded with ``fill``, as a read-only view
    ``(N, C, OH, OW, fh, fw)`` (of a padded copy when ``pad > 0``)."""
    p = window.pad
    if p:
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    views = sliding_window_view(x, (window.height, window.width), axis=(2, 3))
    return views[:, :, :: window.stride, :: window.stride]


def fold(windows: FloatArray, image: tuple[int, ...], window: Window) -> FloatArray:
    """The adjoint of :func:`unfold`: ``(N, C, OH, OW, fh, fw)`` windows added into a new
    ``(N, C, H, W)`` array where :func:`unfold` took them from (padding dropped)."""
    n, c, h, w = image
    p, s = window.pad, window.stride
    oh, ow = windows.shape[2], windows.shape[3]
    out = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=windows.dtype)
    for i in range(window.height):
        for j in range(window.width):
            out[:, :, i : i + s * oh : s, j : j + s * ow : s] += windows[:, :, :, :, i, j]
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

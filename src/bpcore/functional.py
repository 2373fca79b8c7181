"""Stateless activation and loss functions.

Every function follows the dtype policy of :mod:`bpcore` (float32 stays
float32, integers and bools become float64, complex and object arrays raise
:class:`~bpcore.errors.DtypeError`) and never writes to its arguments.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_float_array, require_shape
from bpcore._targets import Targets, validate_targets
from bpcore._windows import (
    check_window,
    fold,
    output_shape,
    rows_as_windows,
    unfold,
    windows_as_rows,
)
from bpcore.errors import DomainError, ShapeError

__all__ = [
    "col2im",
    "cross_entropy_error",
    "im2col",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]


def zero_where(v: FloatArray, mask: npt.NDArray[np.bool_], out: FloatArray) -> FloatArray:
    """Write ``where(mask, +0.0, v)`` into ``out`` (which may be ``v``) and return it.

    ``v``, ``mask`` and ``out`` share one shape; ``out`` has ``v``'s dtype. NaN and
    infinities in ``v`` pass through where ``mask`` is False.
    """
    # AND the float's bits with `mask - 1` sign-extended to its width (all ones to keep,
    # all zeros for +0.0): unlike np.where, it never branches per element.
    keep = np.subtract(np.asarray(mask, dtype=np.bool_).view(np.int8), 1)
    bits = _INT_OF_WIDTH[v.dtype.itemsize]
    np.bitwise_and(v.view(bits), keep, out=out.view(bits))  # keep sign-extends (safe cast)
    return out


_INT_OF_WIDTH: dict[int, np.dtype[np.signedinteger]] = {
    4: np.dtype(np.int32),
    8: np.dtype(np.int64),
}


def relu(x: npt.ArrayLike) -> FloatArray:
    """Rectified linear unit ``max(x, 0)`` element-wise, as a new array of ``x``'s shape.

    ``-0.0`` maps to ``+0.0`` and NaN passes through.
    """
    xa = as_float_array(x, where="relu", name="x")
    return zero_where(xa, xa <= 0, np.empty_like(xa))


def sigmoid_pair(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(σ(x), 1 - σ(x))`` element-wise, each to full relative accuracy.

    With ``e = exp(-|x|)``: ``σ = 1/(1+e)`` and ``1 - σ = e/(1+e)`` for ``x >= 0``, swapped
    for ``x < 0``; the complement is never formed by a subtraction that rounds to 0.
    """
    e = np.exp(-np.abs(x))
    denominator = 1 + e
    big, small = 1 / denominator, e / denominator
    positive = x >= 0
    return np.where(positive, big, small), np.where(positive, small, big)


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """Logistic function ``1 / (1 + exp(-x))`` element-wise, finite with no warning for
    every finite input (through ``exp(-|x|) <= 1``)."""
    return sigmoid_pair(as_float_array(x, where="sigmoid", name="x"))[0]


def tanh_pair(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(tanh(x), 1 - tanh(x)²)`` element-wise, each to full relative accuracy, the second
    never above 1.

    Where ``|tanh(x)| < 1/2``, ``1 - y² >= 3/4`` loses nothing to cancellation; beyond,
    ``1 - y² = sech² = 4e / (1 + e)²`` with ``e = exp(-2|x|) <= 1``: no overflow, and no
    subtraction that rounds the tails' derivative to 0.
    """
    y = np.tanh(x)
    # Past |x| = 400, sech² < 4·e^-800 rounds to 0 in float64: clipping there keeps the
    # result exact and keeps -2|x| from overflowing.
    e = np.exp(-2 * np.minimum(np.abs(x), 400))
    return y, np.where(np.abs(y) < 0.5, 1 - y * y, 4 * e / np.square(1 + e))


def tanh(x: npt.ArrayLike) -> FloatArray:
    """Hyperbolic tangent element-wise, as a new array of ``x``'s shape and dtype."""
    y: FloatArray = np.tanh(as_float_array(x, where="tanh", name="x"))
    return y


class SoftmaxParts(NamedTuple):
    """Softmax of ``(N, C)`` logits row by row, and the pieces the loss and its gradient use.

    Attributes:
        z: ``x - max(x)`` per row, C-ordered ``(N, C)``.
        lse: ``log Σ exp(z)`` per row, ``(N, 1)``.
        y: ``softmax(x)``, C-ordered ``(N, C)``.
        complement: ``1 - y`` at each row's top class, ``(N, 1)``, to full relative accuracy.
        at_top: flat index of each row's top class in ``z`` and ``y``, ``(N,)``.
    """

    z: FloatArray
    lse: FloatArray
    y: FloatArray
    complement: FloatArray
    at_top: npt.NDArray[np.intp]


def softmax_parts(x: FloatArray) -> SoftmaxParts:
    """Softmax of ``(N, C)`` logits (``C >= 1``), stable for logits of any finite magnitude.

    With ``z = x - max(x)`` the top class has ``e = exp(0) = 1`` exactly, so with
    ``r = Σ_{j≠top} e_j``: ``lse = log1p(r)`` (accurate when a prediction is confident),
    ``y = e / (1 + r)`` and ``1 - y_top = r / (1 + r)``.
    """
    n, c = x.shape
    at_top = np.arange(0, n * c, c) + np.argmax(x, axis=1)
    # Opposite extreme logits (-1e308 against +1e308) overflow to -inf in z, and
    # exp(-inf) = 0 is then the exactly rounded probability; NaN logits give NaN.
    with np.errstate(over="ignore", invalid="ignore"):
        # C order whatever the logits' layout, so the flat indices address z and y.
        z = np.subtract(x, x.reshape(-1)[at_top][:, None], order="C")
        e = np.exp(z)
        flat = e.reshape(-1)
        flat[at_top] = 0.0
        rest = np.add.reduce(e, axis=1, keepdims=True)
        flat[at_top] = 1.0
        total = rest + 1.0
        return SoftmaxParts(
            z=z,
            lse=np.log1p(rest),
            y=np.divide(e, total, out=e),
            complement=rest / total,
            at_top=at_top,
        )


def _rows(x: npt.ArrayLike, *, where: str) -> tuple[FloatArray, tuple[int, ...]]:
    """``x`` of shape ``(..., C)`` as ``(-1, C)`` logits, and its shape."""
    xa = as_float_array(x, where=where, name="x")
    if xa.ndim == 0 or xa.shape[-1] == 0:
        raise ShapeError(
            f"{where}: expected logits with a non-empty class axis, got shape {xa.shape}."
        )
    return xa.reshape(-1, xa.shape[-1]), xa.shape


def log_softmax(x: npt.ArrayLike) -> FloatArray:
    """``log softmax(x) = z - log Σ exp(z)`` over the last axis, ``z = x - max(x)``.

    ``x`` has shape ``(..., C)``; the result has its shape and dtype. Stable for logits of
    any finite magnitude, and accurate for probabilities near 1 (see :func:`softmax_parts`).
    """
    rows, shape = _rows(x, where="log_softmax")
    parts = softmax_parts(rows)
    with np.errstate(invalid="ignore"):
        return (parts.z - parts.lse).reshape(shape)


def softmax(x: npt.ArrayLike) -> FloatArray:
    """``exp(x) / Σ exp(x)`` over the last axis, stable for logits of any finite magnitude.

    ``x`` has shape ``(..., C)``; the result has its shape and dtype, and each row is
    non-negative and sums to 1 within ``C·eps``.
    """
    rows, shape = _rows(x, where="softmax")
    return softmax_parts(rows).y.reshape(shape)


def cross_entropy_error(y: npt.ArrayLike, t: npt.ArrayLike) -> float:
    """Mean cross-entropy ``-(1/N) Σ_n Σ_c t[n, c] · log y[n, c]`` of probabilities ``y``.

    The book's signature: ``y`` has shape ``(N, C)`` or ``(C,)`` for one sample, and
    ``t`` holds integer labels ``(N,)`` (a scalar for one sample) or one-hot/soft rows
    shaped like ``y``. Unlike the book there is no ``+1e-7``: a zero probability on
    the true class gives ``inf``, the exact value. Use :class:`~bpcore.SoftmaxWithLoss`
    or :func:`log_softmax` when you have logits; it is exact and stable.
    """
    where = "cross_entropy_error"
    ya = as_float_array(y, where=where, name="y")
    if ya.ndim not in (1, 2) or ya.shape[-1] == 0:
        raise ShapeError(f"{where}: expected y of shape (N, C) or (C,), got shape {ya.shape}.")
    if not np.all((ya >= 0) & (ya <= 1)):  # NaN is no probability either
        raise DomainError(
            f"{where}: expected probabilities y in [0, 1], got values outside it or NaN."
        )
    one_sample = ya.ndim == 1
    probabilities = ya.reshape(1, -1) if one_sample else ya
    n, c = probabilities.shape
    targets = validate_targets(t, n=n, c=c, one_sample=one_sample, dtype=ya.dtype, where=where)
    with np.errstate(divide="ignore"):
        log_y = np.log(probabilities)
    return mean_cross_entropy(log_y, np.zeros((n, 1), dtype=log_y.dtype), targets, where=where)


def mean_cross_entropy(z: FloatArray, lse: FloatArray, targets: Targets, *, where: str) -> float:
    """``-(1/N) Σ_n Σ_c t[n, c] · (z[n, c] - lse[n])`` for log-probabilities ``z - lse``.

    ``z`` is ``(N, C)``, ``lse`` ``(N, 1)``; ``0 · log 0`` counts as 0.

    Raises:
        ShapeError: the batch is empty.
    """
    n, c = z.shape
    if n == 0:
        raise ShapeError(f"{where}: expected at least one sample, got an empty batch.")
    if targets.labels is not None:
        # One element per row, by flat index: without forming the whole (N, C) difference.
        picked = z.reshape(-1)[np.arange(0, n * c, c) + targets.labels] - lse[:, 0]
        return float(-np.add.reduce(picked) / n)
    terms = np.zeros_like(z)
    dist = np.asarray(targets.dist)  # set whenever labels are not
    np.multiply(dist, z - lse, out=terms, where=dist != 0)
    return float(-np.add.reduce(terms, axis=None) / n)


def im2col(
    input_data: npt.ArrayLike, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0
) -> FloatArray:
    """Every ``filter_h × filter_w`` window of ``(N, C, H, W)`` images as a row, the book's layout.

    The images are padded with ``pad`` zeros on each side and the windows taken every
    ``stride`` pixels: ``OH = (H + 2·pad - filter_h) // stride + 1`` and likewise ``OW``.
    Row ``(n·OH + i)·OW + j`` holds window ``(i, j)`` of image ``n``, its columns ordered
    ``(c, y, x)``: ``col[(n·OH + i)·OW + j, (c·filter_h + y)·filter_w + x] =
    padded[n, c, i·stride + y, j·stride + x]``. The result is a new
    ``(N·OH·OW, C·filter_h·filter_w)`` array in the images' dtype.

    Raises:
        ShapeError: ``input_data`` is not 4-D, or a window does not fit in the padded image.
        ArgumentError: a filter size or ``stride`` is not a positive int, or ``pad`` is
            not an int >= 0.
    """
    where = "im2col"
    window = check_window(
        filter_h, filter_w, stride, pad, where=where, names=("filter_h", "filter_w")
    )
    x = as_float_array(input_data, where=where, name="input_data")
    output_shape(x.shape, window, where=where, name="input_data")
    return windows_as_rows(unfold(x, window))


def col2im(
    col: npt.ArrayLike,
    input_shape: tuple[int, int, int, int],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
) -> FloatArray:
    """The adjoint of :func:`im2col`: each row's window added back into ``(N, C, H, W)`` images.

    ``input_shape`` is the ``(N, C, H, W)`` that :func:`im2col` was given; where windows
    overlap, their values add, and values that fall in the padding are dropped. So
    ``Σ col2im(c) · x = Σ c · im2col(x)`` for every ``x`` and ``c``: it backpropagates a
    gradient through :func:`im2col`. The result is a new array in ``col``'s dtype.

    Raises:
        ShapeError: ``input_shape`` is not 4-D, the window does not fit in it, or ``col``
            is not ``(N·OH·OW, C·filter_h·filter_w)``.
        ArgumentError: as :func:`im2col`.
    """
    where = "col2im"
    window = check_window(
        filter_h, filter_w, stride, pad, where=where, names=("filter_h", "filter_w")
    )
    shape = _image_shape(input_shape, where=where)
    oh, ow = output_shape(shape, window, where=where, name="input_shape")
    n, c, h, w = shape
    cols = as_float_array(col, where=where, name="col")
    expected = (n * oh * ow, c * window.height * window.width)
    require_shape(cols, expected, where=where, name="col")
    return fold(rows_as_windows(cols, (n, c, oh, ow), window), (n, c, h, w), window)


def _image_shape(value: object, *, where: str) -> tuple[int, int, int, int]:
    """``value`` as ``(N, C, H, W)``: four ints, ``N >= 0`` and the rest ``>= 1``."""
    if isinstance(value, tuple | list) and len(value) == 4:
        dims = [d for d in value if isinstance(d, int | np.integer) and not isinstance(d, bool)]
        if len(dims) == 4 and dims[0] >= 0 and min(dims[1:]) >= 1:
            n, c, h, w = (int(d) for d in dims)
            return n, c, h, w
    raise ShapeError(
        f"{where}: expected `input_shape` (N, C, H, W), four ints with N >= 0 and the others "
        f">= 1, got {value!r}."
    )

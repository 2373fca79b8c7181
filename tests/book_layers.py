"""The layers a reader of "Deep Learning from Scratch" writes, in the book's own style.

Plain NumPy and nothing of bpcore but a type alias: parameters are attributes (``W``,
``b``, ``gamma``, ``beta``) whose gradients backward leaves in ``dW``, ``db``,
``dgamma``, ``dbeta``; a layer keeps on ``self`` what its backward needs; convolution
and pooling go through ``im2col``/``col2im``. These are subjects the gradient checker
did not grow up with: correct versions first, then the chapter 5 versions with the
book's known defects, each in a class of its own so that a report can be traced to it.

Every correct layer computes in the dtype of its input and parameters (float32 stays
float32). The defective ones:

* :class:`BookRelu` -- backward writes its zeros into ``dout`` and returns it.
* :class:`BookSigmoid` -- ``1 / (1 + exp(-x))``, which overflows for very negative ``x``.
* :class:`BookSoftmaxWithLoss` -- the book's loss as printed, with the three defects that
  :class:`SoftmaxWithLossIgnoringDout`, :class:`SoftmaxWithLossFudged` and
  :class:`SoftmaxWithLossByClassCount` isolate one at a time.
* :class:`BookConvolution` -- ``im2col``/``col2im`` on the book's ``np.zeros(...)``
  buffers, which are float64 whatever the input: float32 in, float64 out.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray

# -- helpers (the book's common/functions.py and common/util.py) ------------------------


def softmax(x: FloatArray) -> FloatArray:
    """Softmax over the last axis, shifted by the maximum so that ``exp`` cannot overflow."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    y: FloatArray = e / np.sum(e, axis=-1, keepdims=True)
    return y


def cross_entropy_error(y: FloatArray, t: npt.NDArray[np.generic]) -> float:
    """The book's cross-entropy of probabilities ``y`` against labels or one-hot ``t``,
    with its ``+ 1e-7`` inside the logarithm: the loss it computes is not the one its
    gradient ``(y - t) / N`` belongs to."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return float(-np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size)


def conv_output_size(size: int, filter_size: int, stride: int, pad: int) -> int:
    """How many positions a filter of ``filter_size`` takes along an axis of ``size``."""
    return (size + 2 * pad - filter_size) // stride + 1


def im2col(
    input_data: FloatArray,
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
    dtype: npt.DTypeLike | None = None,
) -> FloatArray:
    """Unfold ``(N, C, H, W)`` images into rows of ``C·filter_h·filter_w`` patch values,
    one row per output position, ordered ``(n, out_y, out_x)``.

    ``dtype`` is the buffer's: the input's by default; the book's ``np.zeros`` makes it
    float64 (``dtype=np.float64`` reproduces that).
    """
    N, C, H, W = input_data.shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros(
        (N, C, filter_h, filter_w, out_h, out_w),
        dtype=input_data.dtype if dtype is None else dtype,
    )
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(
    col: FloatArray,
    input_shape: tuple[int, ...],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
    dtype: npt.DTypeLike | None = None,
) -> FloatArray:
    """The adjoint of :func:`im2col`: add every patch value back onto the pixel it came
    from (overlapping patches accumulate), then crop the padding.

    ``dtype`` is the buffer's: ``col``'s by default, float64 in the book.
    """
    N, C, H, W = input_shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    patches = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros(
        (N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1),
        dtype=col.dtype if dtype is None else dtype,
    )
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += patches[:, :, y, x, :, :]
    return img[:, :, pad : H + pad, pad : W + pad]


# -- chapter 5: activations, Affine, the loss, the computational-graph nodes ------------


class Relu:
    """``max(x, 0)``; backward passes ``dout`` where ``x > 0`` and 0 elsewhere (at the
    kink too), in a new array."""

    mask: npt.NDArray[np.bool_]

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


class BookRelu(Relu):
    """The book's ReLU: backward zeroes ``dout`` itself where ``x <= 0`` and returns it."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dout[self.mask] = 0
        dx = dout
        return dx


def stable_sigmoid(x: FloatArray) -> FloatArray:
    """``1 / (1 + exp(-x))`` evaluated through ``exp(-|x|)``, which never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid:
    """The logistic function; ``dx = dout·(1 - y)·y`` from the saved output ``y``."""

    out: FloatArray

    def forward(self, x: FloatArray) -> FloatArray:
        self.out = stable_sigmoid(x)
        return self.out

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * (1.0 - self.out) * self.out


class BookSigmoid(Sigmoid):
    """The book's sigmoid ``1 / (1 + exp(-x))``: ``exp`` overflows (and warns) below
    ``x ≈ -709`` in float64, ``-88`` in float32, though the value it ends with is right."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.out = 1 / (1 + np.exp(-x))
        return self.out


class Affine:
    """``x·W + b`` on a batch of vectors or of tensors (flattened per sample, as the book
    does); ``dW = xᵀ·dout``, ``db = Σ dout``, ``dx = dout·Wᵀ`` in ``x``'s shape."""

    x: FloatArray
    original_x_shape: tuple[int, ...]

    def __init__(self, W: FloatArray, b: FloatArray) -> None:
        self.W = W
        self.b = b
        self.dW: FloatArray | None = None
        self.db: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax and the mean cross-entropy over the batch, against labels or one-hot ``t``.

    The loss comes from the log-softmax (exact where ``y`` underflows), a 1-D ``x`` is a
    batch of one, and backward scales ``(y - t) / N`` by the upstream ``dout``.
    """

    y: FloatArray
    t: npt.NDArray[Any]  # labels, or one-hot rows in the layer's dtype
    batch_size: int
    input_shape: tuple[int, ...]

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        self.input_shape = x.shape
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        self.batch_size = x2.shape[0]
        if t.size == x2.size:  # one-hot (or soft) targets, in the layer's dtype
            self.t = np.asarray(t, dtype=x.dtype).reshape(x2.shape)
        else:
            self.t = np.asarray(t).reshape(self.batch_size)
        shifted = x2 - np.max(x2, axis=1, keepdims=True)
        log_y = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        self.y = np.exp(log_y)
        if self.t.ndim == 2:
            total = np.sum(self.t * log_y)
        else:
            total = np.sum(log_y[np.arange(self.batch_size), self.t])
        return float(-total / self.batch_size)

    def residual(self) -> FloatArray:
        """``y - t``, the gradient of the summed loss over the batch."""
        if self.t.ndim == 2:
            residual: FloatArray = self.y - self.t
            return residual
        dx = self.y.copy()
        dx[np.arange(self.batch_size), self.t] -= 1
        return dx

    def backward(self, dout: FloatArray | float = 1.0) -> FloatArray:
        dx: FloatArray = self.residual() * (dout / self.batch_size)
        return dx.reshape(self.input_shape)


class SoftmaxWithLossIgnoringDout(SoftmaxWithLoss):
    """The book's backward: ``(y - t) / N`` whatever ``dout`` is, so the loss must be the
    last node of the graph, scaled by nothing."""

    def backward(self, dout: FloatArray | float = 1.0) -> FloatArray:
        return super().backward(1.0)


class SoftmaxWithLossFudged(SoftmaxWithLoss):
    """The book's forward: ``-log(y_t + 1e-7)``, whose derivative is not ``(y - t) / N``."""

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        super().forward(x, t)
        return cross_entropy_error(self.y, self.t)


class SoftmaxWithLossByClassCount(SoftmaxWithLoss):
    """The book's batch size in backward, ``t.shape[0]``: for a 1-D ``x`` with a one-hot
    ``t`` that is the number of classes, while the loss averaged over a batch of one."""

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        self.book_batch_size = t.shape[0]
        return super().forward(x, t)

    def backward(self, dout: FloatArray | float = 1.0) -> FloatArray:
        dx: FloatArray = self.residual() * (dout / self.book_batch_size)
        return dx.reshape(self.input_shape)


class BookSoftmaxWithLoss:
    """The book's SoftmaxWithLoss as printed: the ``1e-7`` fudge, ``dout`` ignored, and
    ``t.shape[0]`` as the batch size."""

    y: FloatArray
    t: npt.NDArray[Any]

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, self.t)

    def backward(self, dout: FloatArray | float = 1.0) -> FloatArray:
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            dx: FloatArray = (self.y - self.t) / batch_size
            return dx
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        dx /= batch_size
        return dx


class MulLayer:
    """``x·y``; ``dx = dout·y``, ``dy = dout·x``."""

    x: FloatArray
    y: FloatArray

    def forward(self, x: FloatArray, y: FloatArray) -> FloatArray:
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        dx = dout * self.y
        dy = dout * self.x
        return dx, dy


class AddLayer:
    """``x + y``; both gradients are ``dout``."""

    def forward(self, x: FloatArray, y: FloatArray) -> FloatArray:
        return x + y

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        dx = dout * 1
        dy = dout * 1
        return dx, dy


# -- chapter 6: batch normalization and dropout -----------------------------------------


class BatchNormalization:
    """Batch normalization as in the book: a 4-D input is flattened to ``(N, C·H·W)`` and
    every feature normalized over the batch; ``out = gamma·x̂ + beta``.

    Training mode (the default) normalizes with the batch statistics and moves the
    running ones; test mode uses the running ones. Backward is the book's graph: through
    ``x̂``, the standard deviation, the variance and the mean.
    """

    input_shape: tuple[int, ...]
    batch_size: int
    xc: FloatArray
    xn: FloatArray
    std: FloatArray

    def __init__(
        self, gamma: FloatArray, beta: FloatArray, momentum: float = 0.9, eps: float = 1e-6
    ) -> None:
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.eps = eps
        self.running_mean: FloatArray | None = None
        self.running_var: FloatArray | None = None
        self.dgamma: FloatArray | None = None
        self.dbeta: FloatArray | None = None

    def forward(self, x: FloatArray, train_flg: bool = True) -> FloatArray:
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        if self.running_mean is None or self.running_var is None:
            self.running_mean = np.zeros(x.shape[1], dtype=x.dtype)
            self.running_var = np.zeros(x.shape[1], dtype=x.dtype)
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc**2, axis=0)
            std = np.sqrt(var + self.eps)
            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xc / std
            self.std = std
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mu
            self.running_var = m * self.running_var + (1 - m) * var
            xn = self.xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return (self.gamma * xn + self.beta).reshape(self.input_shape)

    def backward(self, dout: FloatArray) -> FloatArray:
        dout = dout.reshape(dout.shape[0], -1)
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx: FloatArray = dxc - dmu / self.batch_size
        return dx.reshape(self.input_shape)


class Dropout:
    """The book's dropout in training mode, ``x·mask``, with the mask fixed: given, or
    drawn from ``rng`` on the first forward (``rand > dropout_ratio``) and kept after.
    Test mode scales by ``1 - dropout_ratio``."""

    def __init__(
        self,
        dropout_ratio: float = 0.5,
        *,
        mask: npt.NDArray[np.bool_] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.dropout_ratio = dropout_ratio
        self.mask = mask
        self.rng = np.random.default_rng(0) if rng is None else rng

    def keep(self, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
        """The mask, drawn on the first call for ``shape`` and the same on every later one."""
        if self.mask is None:
            self.mask = self.rng.random(shape) > self.dropout_ratio
        return self.mask

    def forward(self, x: FloatArray, train_flg: bool = True) -> FloatArray:
        if train_flg:
            return x * self.keep(x.shape)
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.keep(dout.shape)


class InvertedDropout(Dropout):
    """Dropout as the frameworks do it: ``x·mask / (1 - ratio)`` in training, so that
    test mode is the identity; backward scales the same way."""

    def forward(self, x: FloatArray, train_flg: bool = True) -> FloatArray:
        if train_flg:
            return x * self.keep(x.shape) / (1.0 - self.dropout_ratio)
        return x

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.keep(dout.shape) / (1.0 - self.dropout_ratio)


# -- chapter 7: convolution and pooling ---------------------------------------------------


class Convolution:
    """A convolution layer over ``(N, C, H, W)`` with filters ``W`` of shape
    ``(FN, C, FH, FW)`` and bias ``b`` of shape ``(FN,)``, through :func:`im2col`."""

    x: FloatArray
    col: FloatArray
    col_W: FloatArray

    def __init__(self, W: FloatArray, b: FloatArray, stride: int = 1, pad: int = 0) -> None:
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.dW: FloatArray | None = None
        self.db: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        FN, _, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = col @ col_W + self.b
        self.x = x
        self.col = col
        self.col_W = col_W
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: FloatArray) -> FloatArray:
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class BookConvolution(Convolution):
    """The book's convolution, whose ``im2col``/``col2im`` buffers are ``np.zeros(...)``
    without a dtype: a float32 input comes out float64, and so do ``dW`` and ``dx``."""

    def forward(self, x: FloatArray) -> FloatArray:
        FN, _, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        col = im2col(x, FH, FW, self.stride, self.pad, dtype=np.float64)
        col_W = self.W.reshape(FN, -1).T
        out = col @ col_W + self.b
        self.x = x
        self.col = col
        self.col_W = col_W
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: FloatArray) -> FloatArray:
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad, dtype=np.float64)


TieRule = Literal["first", "last"]


class Pooling:
    """Max pooling through :func:`im2col` (padding counts as zeros, as in the book).

    Backward routes each ``dout`` to the maximum of its window; where several elements
    tie for it, to the first (``tie="first"``, NumPy's ``argmax``, the book's rule) or
    the last (``tie="last"``) in the window's row-major order. Either is a valid
    subgradient.
    """

    x: FloatArray
    arg_max: npt.NDArray[np.intp]

    def __init__(
        self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0, tie: TieRule = "first"
    ) -> None:
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.tie = tie

    def windows(self, x: FloatArray) -> FloatArray:
        """One row per window, ordered ``(n, out_y, out_x, c)``."""
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        return col.reshape(-1, self.pool_h * self.pool_w)

    def forward(self, x: FloatArray) -> FloatArray:
        N, C, H, W = x.shape
        out_h = conv_output_size(H, self.pool_h, self.stride, self.pad)
        out_w = conv_output_size(W, self.pool_w, self.stride, self.pad)
        col = self.windows(x)
        if self.tie == "first":
            self.arg_max = np.argmax(col, axis=1)
        else:
            self.arg_max = col.shape[1] - 1 - np.argmax(col[:, ::-1], axis=1)
        out: FloatArray = np.max(col, axis=1)
        self.x = x
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def route(self, dout: FloatArray) -> FloatArray:
        """``dout`` in the windows' layout: each value at its window's :attr:`arg_max`."""
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        return dmax

    def backward(self, dout: FloatArray) -> FloatArray:
        channels = self.x.shape[1]
        dcol = self.route(dout).reshape(dout.size // channels, -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)

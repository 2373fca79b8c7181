"""A catalogue of subjects for the gradient checker: the correct book layers, and bugs
injected into them.

Each :class:`Case` names a layer factory, the point to check it at (inputs, targets,
kinks) and what a report must say about it: which gradients are wrong, which problem
line names the bug, or which unlisted parameter the adapter refuses. Both lists are
functions of a seed, which draws the inputs and parameters (each bug from its own
stream, so adding a bug moves no other): :func:`correct_subjects` and
:func:`catalogue`. The unit tests use one seed, ``benchmarks/bench_detection.py`` ten.

The bugs are the ones a reader of the book writes: in-place edits, a gradient routed
to a window element that is not its maximum, a wrong gradient of a parameter left out
of ``params``, NaN and infinity, transposes, ``col2im`` bookkeeping, missing batch
normalization terms, dropout scaling, signs and factors -- and relative scalings
``1 + δ`` of the correct gradient, ``δ = 1e-3 … 1e-9``, which measure resolution rather
than catch anything in particular.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType
from bpcore.gradcheck import (
    BinaryLayer,
    Factory,
    LossLayer,
    UnaryLayer,
    binary,
    discover_parameters,
    loss,
    unary,
)
from tests.book_layers import (
    AddLayer,
    Affine,
    BatchNormalization,
    BookRelu,
    BookSigmoid,
    BookSoftmaxWithLoss,
    Convolution,
    Dropout,
    InvertedDropout,
    MulLayer,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    SoftmaxWithLossByClassCount,
    SoftmaxWithLossFudged,
    SoftmaxWithLossIgnoringDout,
    conv_output_size,
)

Category = Literal[
    "correct",
    "book defect",
    "in-place edit",
    "tie routing",
    "unlisted parameter",
    "non-finite",
    "transpose",
    "col2im",
    "batchnorm term",
    "dropout scaling",
    "sign",
    "missing factor",
    "tiny scaling",
]

TINY_SCALINGS: Final = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9)
"""The relative errors ``δ`` of the "tiny scaling" bugs: the gradient times ``1 + δ``."""

DOUT_EDITED: Final = "backward modified `dout` in place"
INPUT_EDITED: Final = "forward modified input `x` in place"
TARGETS_EDITED: Final = "the layer modified the targets `t` in place"
W_EDITED: Final = "backward modified parameter `W`"
OVERFLOW: Final = "RuntimeWarning: overflow encountered in exp"


@final
@dataclass(frozen=True)
class Case:
    """One subject at one point, and what a report on it must say.

    Exactly one of ``unary``, ``binary`` and ``loss`` builds the layer (in a dtype);
    ``t`` are a loss's targets, ``params`` the parameter names passed to the adapter
    (``None``: discovered), ``kinks`` the declared non-differentiable input values.

    Attributes:
        wrong: the inputs and parameters whose gradient is wrong: each must be a mismatch.
        problem: a line the report's ``problems`` must contain.
        refused: a parameter the adapter must refuse to leave unchecked.
        at_kink: the point has non-differentiable spots (ties, exact zeros): a checker
            without a kink rule may fail a correct layer there.
    """

    name: str
    category: Category
    inputs: Mapping[str, FloatArray]
    unary: Callable[[FloatDType], UnaryLayer] | None = None
    binary: Callable[[FloatDType], BinaryLayer] | None = None
    loss: Callable[[FloatDType], LossLayer] | None = None
    t: npt.NDArray[np.generic] | None = None
    params: tuple[str, ...] | None = None
    kinks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    wrong: tuple[str, ...] = ()
    problem: str = ""
    refused: str = ""
    at_kink: bool = False

    def factory(self) -> Factory:
        """The checker's factory: the layer through its adapter."""
        if self.unary is not None:
            return unary(self.unary, params=self.params)
        if self.binary is not None:
            return binary(self.binary, params=self.params)
        if self.loss is not None and self.t is not None:
            return loss(self.loss, self.t, params=self.params)
        raise AssertionError(f"case {self.name} builds no layer")

    def inputs_as(self, dtype: type[np.floating]) -> dict[str, FloatArray]:
        """The inputs rounded to ``dtype``."""
        return {n: np.asarray(v, dtype=dtype) for n, v in self.inputs.items()}


# -- points -------------------------------------------------------------------------------


def _rng(seed: int, name: str) -> np.random.Generator:
    """The case's own stream: the seed and a hash of its name."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Standard normal values moved 0.1 away from zero: no ReLU kink within reach."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.where(x >= 0, 1.0, -1.0)


def _with_zeros(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Values away from zero, a third of them (at least one) set to exactly 0."""
    x = _away_from_zero(rng, shape)
    zeros = rng.random(shape) < 1 / 3
    zeros.flat[0] = True
    x[zeros] = 0.0
    return x


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Values on a grid of 0.1, all different: no two within a finite-difference step."""
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2).reshape(shape) * 0.1 + 0.05


def _tied_windows(rng: np.random.Generator, shape: tuple[int, ...], pool: int) -> FloatArray:
    """Distinct values on a grid, then in every other ``pool × pool`` window (stride
    ``pool``) a second element raised to the window's maximum: ties at the maximum."""
    x = _distinct(rng, shape)
    N, C, H, W = shape
    count = 0
    for n in range(N):
        for c in range(C):
            for i in range(0, H - pool + 1, pool):
                for j in range(0, W - pool + 1, pool):
                    count += 1
                    if count % 2:
                        continue
                    window = x[n, c, i : i + pool, j : j + pool]
                    top = np.unravel_index(np.argmax(window), window.shape)
                    other = (int(top[0]) + 1) % pool, int(top[1])
                    window[other] = window[top]
    return x


def _labels(rng: np.random.Generator, batch: int, classes: int) -> npt.NDArray[np.intp]:
    return rng.integers(0, classes, size=batch)


def _one_hot(labels: npt.NDArray[np.intp], classes: int) -> FloatArray:
    return np.eye(classes)[labels]


# -- the correct subjects -----------------------------------------------------------------


def overlapping_tie_pooling(seed: int = 0) -> Case:
    """A correct max pooling (2x2, stride 1) where one element ties for the maximum of two
    overlapping windows, each time with another partner: ``x[1, 1]`` with ``x[0, 0]`` in
    the window at (0, 0) and with ``x[2, 2]`` in the window at (1, 1).

    Routing to the first maximum gives ``x[1, 1]`` the ``dout`` of the windows at (0, 1),
    (1, 0) and (1, 1) but not (0, 0): the gradient of the piece where ``x[0, 0] > x[1, 1]
    > x[2, 2]``, a valid subgradient. Along ``x[1, 1]`` alone the one-sided derivatives
    are the sum of all four and the sum of (0, 1) and (1, 0), which need not enclose it.
    """
    x = _distinct(_rng(seed, "overlapping ties"), (1, 1, 4, 4))
    for i in range(3):
        x[0, 0, i, i] = 5.0
    return Case(
        "Pooling 2x2 stride 1, a tie in two windows",
        "correct",
        {"x": x},
        unary=lambda _: Pooling(2, 2, 1),
        at_kink=True,
    )


def correct_subjects(seed: int = 0) -> tuple[Case, ...]:
    """Every correct book layer at a point drawn from ``seed``: ties and exact zeros
    included where the layer has a kink, declared for ReLU."""
    r = _rng(seed, "correct")
    x = _away_from_zero(r, (4, 3))
    zeros = _with_zeros(r, (4, 3))
    xs = 4 * r.standard_normal((3, 4))
    xs[0, :2] = (-800.0, 60.0)  # where the book's exp overflows
    W, b = r.standard_normal((3, 2)), r.standard_normal(2)
    W4, b4 = r.standard_normal((8, 3)), r.standard_normal(3)
    x4 = r.standard_normal((2, 2, 2, 2))
    logits, logits_1d = 2 * r.standard_normal((4, 3)), 2 * r.standard_normal(4)
    labels, hot_1d = _labels(r, 4, 3), _one_hot(_labels(r, 1, 4), 4)[0]
    pair = {"x": r.standard_normal((3, 2)), "y": r.standard_normal((3, 2))}
    images = r.standard_normal((2, 2, 4, 4))
    filters = {sp: (r.standard_normal((2, 2, 3, 3)), r.standard_normal(2)) for sp in _STRIDE_PAD}
    tied = _tied_windows(r, (2, 2, 4, 4), 2)
    distinct = _distinct(r, (2, 2, 5, 5))
    g, be, xb = r.standard_normal(3), r.standard_normal(3), r.standard_normal((5, 3))
    g4, be4, xb4 = r.standard_normal(8), r.standard_normal(8), r.standard_normal((4, 2, 2, 2))
    mask_seed, mask = int(r.integers(2**31)), r.random((4, 3)) > 0.4
    ok: Category = "correct"
    return (
        Case("Relu", ok, {"x": x}, unary=lambda _: Relu()),
        Case(
            "Relu at zero",
            ok,
            {"x": zeros},
            unary=lambda _: Relu(),
            kinks={"x": (0.0,)},
            at_kink=True,
        ),
        Case("Sigmoid", ok, {"x": xs}, unary=lambda _: Sigmoid()),
        Case("Affine", ok, {"x": x}, unary=_affine(W, b)),
        Case("Affine 4-D", ok, {"x": x4}, unary=_affine(W4, b4)),
        Case("SoftmaxWithLoss labels", ok, {"x": logits}, loss=_softmax, t=labels),
        Case("SoftmaxWithLoss one-hot", ok, {"x": logits}, loss=_softmax, t=_one_hot(labels, 3)),
        Case("SoftmaxWithLoss 1-D", ok, {"x": logits_1d}, loss=_softmax, t=hot_1d),
        Case("MulLayer", ok, pair, binary=lambda _: MulLayer()),
        Case("AddLayer", ok, pair, binary=lambda _: AddLayer()),
        *(
            Case(
                f"Convolution stride {s} pad {p}",
                ok,
                {"x": images},
                unary=_conv(*filters[s, p], s, p),
            )
            for s, p in _STRIDE_PAD
        ),
        Case("Pooling 2x2, ties, first", ok, {"x": tied}, unary=_pool(2, 2), at_kink=True),
        Case(
            "Pooling 2x2, ties, last",
            ok,
            {"x": tied},
            unary=lambda _: Pooling(2, 2, 2, tie="last"),
            at_kink=True,
        ),
        Case(
            "Pooling 3x3 stride 2 pad 1",
            ok,
            {"x": distinct},
            unary=lambda _: Pooling(3, 3, 2, 1),
        ),
        Case("BatchNormalization 2-D", ok, {"x": xb}, unary=_bn(g, be)),
        Case("BatchNormalization 4-D", ok, {"x": xb4}, unary=_bn(g4, be4)),
        Case(
            "Dropout, mask from a Generator",
            ok,
            {"x": x},
            unary=lambda _: Dropout(0.4, rng=np.random.default_rng(mask_seed)),
        ),
        Case("Dropout, given mask", ok, {"x": x}, unary=lambda _: Dropout(0.4, mask=mask)),
        Case("InvertedDropout", ok, {"x": x}, unary=lambda _: InvertedDropout(0.4, mask=mask)),
        overlapping_tie_pooling(seed),
    )


_STRIDE_PAD: Final = ((1, 0), (2, 1), (1, 1))


def _softmax(_: FloatDType) -> SoftmaxWithLoss:
    return SoftmaxWithLoss()


def _affine(W: FloatArray, b: FloatArray) -> Callable[[FloatDType], Affine]:
    return lambda dtype: Affine(W.astype(dtype), b.astype(dtype))


def _conv(
    W: FloatArray, b: FloatArray, stride: int, pad: int
) -> Callable[[FloatDType], Convolution]:
    return lambda dtype: Convolution(W.astype(dtype), b.astype(dtype), stride, pad)


def _pool(size: int, stride: int) -> Callable[[FloatDType], Pooling]:
    return lambda _: Pooling(size, size, stride)


def _bn(gamma: FloatArray, beta: FloatArray) -> Callable[[FloatDType], BatchNormalization]:
    return lambda dtype: BatchNormalization(gamma.astype(dtype), beta.astype(dtype))


# -- injected bugs: the layers ----------------------------------------------------------
#
# Each class changes one thing in a correct layer; its docstring says what.


class SigmoidScalesDoutInPlace(Sigmoid):
    """``dout *= (1 - y)·y`` and returns it: right values, the caller's ``dout`` destroyed."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dout *= (1.0 - self.out) * self.out
        return dout


class BatchNormScalesDoutInPlace(BatchNormalization):
    """Multiplies ``dout`` by gamma in place (after using it for dgamma and dbeta)."""

    def backward(self, dout: FloatArray) -> FloatArray:
        flat = dout.reshape(dout.shape[0], -1)  # a view of the contiguous dout
        self.dbeta = flat.sum(axis=0)
        self.dgamma = np.sum(self.xn * flat, axis=0)
        flat *= self.gamma
        return _bn_input_gradient(self, flat)


class DropoutMasksDoutInPlace(Dropout):
    """``dout *= mask`` and returns it."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dout *= self.keep(dout.shape)
        return dout


class MulLayerScalesDoutInPlace(MulLayer):
    """``dx = dout·y``, then ``dout *= x`` returned as ``dy``."""

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        dx = dout * self.y
        dout *= self.x
        return dx, dout


class ReluZeroesItsInput(Relu):
    """``out = x`` without a copy: forward zeroes the caller's negative inputs."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        out = x
        out[self.mask] = 0
        return out


class SoftmaxWithLossSmoothsTargetsInPlace(SoftmaxWithLoss):
    """Label smoothing done on the caller's one-hot ``t``: ``t *= 0.9; t += 0.1 / C``."""

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        np.multiply(t, 0.9, out=t)
        np.add(t, 0.1 / t.shape[-1], out=t)
        return super().forward(x, t)


class AffineStepsInBackward(Affine):
    """Takes an SGD step ``W -= 0.1·dW`` at the end of backward."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        assert self.dW is not None
        self.W -= 0.1 * self.dW
        return dx


class PoolingRoutesToLast(Pooling):
    """Every ``dout`` to the window's last element, maximum or not."""

    def forward(self, x: FloatArray) -> FloatArray:
        out = super().forward(x)
        self.arg_max = np.full_like(self.arg_max, self.pool_h * self.pool_w - 1)
        return out


class PoolingRoutesToMinimum(Pooling):
    """Every ``dout`` to the window's minimum (``argmin`` for ``argmax``)."""

    def forward(self, x: FloatArray) -> FloatArray:
        out = super().forward(x)
        self.arg_max = np.argmin(self.windows(x), axis=1)
        return out


class PoolingRoutesPastMaximum(Pooling):
    """Every ``dout`` to the element after the first maximum (``argmax + 1``, wrapping)."""

    def forward(self, x: FloatArray) -> FloatArray:
        out = super().forward(x)
        self.arg_max = (self.arg_max + 1) % (self.pool_h * self.pool_w)
        return out


class PoolingRoutesToEveryTiedMaximum(Pooling):
    """Every ``dout`` to each of its window's tied maxima: a tie of two passes it
    twice. Each tied element's value lies between its own one-sided derivatives; their sum
    does not."""

    def route(self, dout: FloatArray) -> FloatArray:
        windows = self.windows(self.x)
        tied = windows == np.max(windows, axis=1, keepdims=True)
        routed: FloatArray = tied * dout.transpose(0, 2, 3, 1).reshape(-1, 1)
        return routed


class AffineMeanBias(Affine):
    """``db`` is the mean of ``dout`` over the batch instead of its sum."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.db = np.mean(dout, axis=0)
        return dx


class ConvolutionCornerBias(Convolution):
    """``db`` sums ``dout`` at the first output position only, not over all of them."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.db = np.sum(dout[:, :, 0, 0], axis=0)
        return dx


class BatchNormMeanBeta(BatchNormalization):
    """``dbeta`` is the mean of ``dout`` over the batch instead of its sum."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.dbeta = np.mean(dout.reshape(dout.shape[0], -1), axis=0)
        return dx


class ReluNaNAtZero(Relu):
    """``dx = dout·(x + |x|) / 2x``: the step function, but 0/0 = NaN at ``x = 0``."""

    x: FloatArray

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x
        return super().forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx: FloatArray = dout * (self.x + np.abs(self.x)) / (2 * self.x)
        return dx


class SigmoidBackwardOverflows(Sigmoid):
    """``dx = dout·e^{-x} / (1 + e^{-x})²``: inf / inf = NaN where ``e^{-x}`` overflows."""

    x: FloatArray

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x
        return super().forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        e = np.exp(-self.x)
        dx: FloatArray = dout * e / (1 + e) ** 2
        return dx


class SoftmaxWithLossDividesByY(SoftmaxWithLoss):
    """``y - t`` written ``y·(1 - t / y)``: 0/0 = NaN where ``y`` underflows to 0."""

    def residual(self) -> FloatArray:
        dx: FloatArray = self.y * (1 - self.t / self.y)
        return dx


class BatchNormBackwardWithoutEps(BatchNormalization):
    """Backward divides by ``sqrt(var)`` without ``eps``: infinite for a constant feature."""

    def backward(self, dout: FloatArray) -> FloatArray:
        self.std = np.sqrt(np.mean(self.xc**2, axis=0))
        return super().backward(dout)


class DropoutDividesByMask(Dropout):
    """``dx = dout·mask / mask``: 0/0 = NaN where an element was dropped."""

    def backward(self, dout: FloatArray) -> FloatArray:
        mask = self.keep(dout.shape)
        dx: FloatArray = dout * mask / mask
        return dx


class AffineDxThroughW(Affine):
    """``dx = dout·W`` instead of ``dout·Wᵀ`` (square ``W``, so the shapes agree)."""

    def backward(self, dout: FloatArray) -> FloatArray:
        super().backward(dout)
        return (dout @ self.W).reshape(self.original_x_shape)


class AffineTransposedDW(Affine):
    """``dW = doutᵀ·x`` instead of ``xᵀ·dout`` (square ``W``)."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.dW = dout.T @ self.x
        return dx


class ConvolutionDWNotTransposed(Convolution):
    """``dW`` reshaped from ``colᵀ·dout`` without the transpose to ``(FN, ·)``."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        FN, C, FH, FW = self.W.shape
        self.dW = (self.col.T @ dout.transpose(0, 2, 3, 1).reshape(-1, FN)).reshape(FN, C, FH, FW)
        return dx


class ConvolutionDoutNotTransposed(Convolution):
    """``dout.reshape(-1, FN)`` without moving the channel axis last first."""

    def backward(self, dout: FloatArray) -> FloatArray:
        FN, C, FH, FW = self.W.shape
        flat = dout.reshape(-1, FN)
        self.db = np.sum(flat, axis=0)
        self.dW = (self.col.T @ flat).transpose(1, 0).reshape(FN, C, FH, FW)
        return _col2im(flat @ self.col_W.T, self.x.shape, FH, FW, self.stride, self.pad)


class ConvolutionKernelFlipped(Convolution):
    """``dW`` flipped in both spatial axes, as if convolution were correlation's mirror."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        assert self.dW is not None
        self.dW = self.dW[:, :, ::-1, ::-1]
        return dx


class PoolingDoutNotTransposed(Pooling):
    """``dout.flatten()`` in ``(n, c, y, x)`` order where the windows are ``(n, y, x, c)``."""

    def route(self, dout: FloatArray) -> FloatArray:
        return super().route(dout.transpose(0, 3, 1, 2))


class MulLayerSwapsGradients(MulLayer):
    """``dx = dout·x`` and ``dy = dout·y``: each input's own value instead of the other's."""

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        return dout * self.x, dout * self.y


class BatchNormChannelsLast(BatchNormalization):
    """Backward flattens a 4-D ``dout`` channels-last, where forward flattened it
    channels-first: every feature's gradient meets another feature's statistics."""

    def backward(self, dout: FloatArray) -> FloatArray:
        N, C, H, W = dout.shape
        dx = super().backward(np.ascontiguousarray(dout.transpose(0, 2, 3, 1)))
        return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)


Col2imBug = Literal[
    "shifted crop", "crop ignores pad", "ignores stride", "overwrites", "skips column"
]


def _col2im(
    col: FloatArray,
    input_shape: tuple[int, ...],
    filter_h: int,
    filter_w: int,
    stride: int = 1,
    pad: int = 0,
    bug: Col2imBug | None = None,
) -> FloatArray:
    """:func:`tests.book_layers.col2im` with one bookkeeping ``bug``, or none."""
    N, C, H, W = input_shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    patches = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    columns = filter_w - 1 if bug == "skips column" else filter_w
    step = 1 if bug == "ignores stride" else stride
    for y in range(filter_h):
        for x in range(columns):
            rows, cols = slice(y, y + step * out_h, step), slice(x, x + step * out_w, step)
            if bug == "overwrites":
                img[:, :, rows, cols] = patches[:, :, y, x, :, :]
            else:
                img[:, :, rows, cols] += patches[:, :, y, x, :, :]
    if bug == "shifted crop":
        return img[:, :, pad + 1 : H + pad + 1, pad + 1 : W + pad + 1]
    if bug == "crop ignores pad":
        return img[:, :, :H, :W]
    return img[:, :, pad : H + pad, pad : W + pad]


class ConvolutionCol2imBug(Convolution):
    """A convolution whose backward scatters ``dcol`` with a ``col2im`` that has ``bug``."""

    def __init__(self, W: FloatArray, b: FloatArray, stride: int, pad: int, bug: Col2imBug) -> None:
        super().__init__(W, b, stride, pad)
        self.bug: Col2imBug = bug

    def backward(self, dout: FloatArray) -> FloatArray:
        FN, C, FH, FW = self.W.shape
        flat = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(flat, axis=0)
        self.dW = (self.col.T @ flat).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = flat @ self.col_W.T
        return _col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad, self.bug)


class PoolingCol2imOverwrites(Pooling):
    """Overlapping windows whose ``col2im`` assigns instead of adding: an element that is
    the maximum of two windows keeps one of its gradients."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dcol = self.route(dout).reshape(dout.size // self.x.shape[1], -1)
        shape = self.x.shape
        return _col2im(dcol, shape, self.pool_h, self.pool_w, self.stride, self.pad, "overwrites")


def _bn_input_gradient(
    layer: BatchNormalization,
    dxn: FloatArray,
    *,
    variance: bool = True,
    mean: bool = True,
    variance_sign: float = -1.0,
) -> FloatArray:
    """The book's backward from ``dxn`` to ``dx``, optionally without the path through the
    variance or the mean, or with the variance path's sign flipped."""
    dxc = dxn / layer.std
    if variance:
        dstd = variance_sign * np.sum((dxn * layer.xc) / (layer.std * layer.std), axis=0)
        dvar = 0.5 * dstd / layer.std
        dxc = dxc + (2.0 / layer.batch_size) * layer.xc * dvar
    dx = dxc - np.sum(dxc, axis=0) / layer.batch_size if mean else dxc
    return dx.reshape(layer.input_shape)


class _BatchNormBug(BatchNormalization):
    """A batch normalization whose backward runs :func:`_bn_input_gradient` with options."""

    variance = True
    mean = True
    variance_sign = -1.0
    dxn_has_gamma = True

    def backward(self, dout: FloatArray) -> FloatArray:
        flat = dout.reshape(dout.shape[0], -1)
        self.dbeta = flat.sum(axis=0)
        self.dgamma = np.sum(self.xn * flat, axis=0)
        dxn = self.gamma * flat if self.dxn_has_gamma else flat
        return _bn_input_gradient(
            self, dxn, variance=self.variance, mean=self.mean, variance_sign=self.variance_sign
        )


class BatchNormWithoutVariancePath(_BatchNormBug):
    """No ``dxc += (2/N)·xc·dvar``: the variance's dependence on ``x`` is forgotten."""

    variance = False


class BatchNormWithoutMeanPath(_BatchNormBug):
    """No ``dx = dxc - Σ dxc / N``: the mean's dependence on ``x`` is forgotten."""

    mean = False


class BatchNormVarianceSignFlipped(_BatchNormBug):
    """``dstd = +Σ dxn·xc / std²``: the minus sign of ``d(1/std)`` dropped."""

    variance_sign = 1.0


class BatchNormWithoutGamma(_BatchNormBug):
    """``dxn = dout`` instead of ``gamma·dout``."""

    dxn_has_gamma = False


class BatchNormDGammaFromXc(BatchNormalization):
    """``dgamma = Σ xc·dout``, the centred input instead of the normalized one."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.dgamma = np.sum(self.xc * dout.reshape(dout.shape[0], -1), axis=0)
        return dx


class BatchNormStdWithoutEps(BatchNormalization):
    """Backward uses ``sqrt(var)`` where forward used ``sqrt(var + eps)``: off by about
    ``eps / 2var`` relative."""

    def backward(self, dout: FloatArray) -> FloatArray:
        forward_std = self.std
        self.std = np.sqrt(np.mean(self.xc**2, axis=0))
        dx = super().backward(dout)
        self.std = forward_std
        return dx


class InvertedDropoutUnscaledBackward(InvertedDropout):
    """Forward divides by ``1 - ratio``, backward forgets to."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.keep(dout.shape)


class InvertedDropoutScaledByRatio(InvertedDropout):
    """Backward divides by ``ratio`` where forward divided by ``1 - ratio``."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.keep(dout.shape) / self.dropout_ratio


class DropoutScaledBackward(Dropout):
    """The book's forward ``x·mask`` with an inverted dropout's backward ``/ (1 - ratio)``."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.keep(dout.shape) / (1.0 - self.dropout_ratio)


class DropoutRedrawsMask(Dropout):
    """Backward draws a new mask from the generator instead of reusing forward's."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * (self.rng.random(dout.shape) > self.dropout_ratio)


class DropoutWithoutMask(Dropout):
    """Backward passes ``dout`` through unmasked."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout.copy()


class SigmoidSignFlipped(Sigmoid):
    """``dx = dout·y·(y - 1)``."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.out * (self.out - 1.0)


class AffineBiasNegated(Affine):
    """``db = -Σ dout``."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.db = -np.sum(dout, axis=0)
        return dx


class SoftmaxWithLossSignFlipped(SoftmaxWithLoss):
    """``(t - y) / N``."""

    def residual(self) -> FloatArray:
        return -super().residual()


class ReluMaskInverted(Relu):
    """Passes ``dout`` where ``x <= 0`` and blocks it where ``x > 0``."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = dout.copy()
        dx[~self.mask] = 0
        return dx


class SoftmaxWithLossNotAveraged(SoftmaxWithLoss):
    """``dx = dout·(y - t)``: the loss is averaged over the batch, its gradient is not."""

    def backward(self, dout: FloatArray | float = 1.0) -> FloatArray:
        return super().backward(dout) * self.batch_size


class SigmoidWithoutOutFactor(Sigmoid):
    """``dx = dout·(1 - y)``: the factor ``y`` forgotten."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * (1.0 - self.out)


class MulLayerIgnoresDout(MulLayer):
    """``dx = y``, ``dy = x``: the local derivatives, not multiplied by ``dout``."""

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self.y.copy(), self.x.copy()


class AddLayerHalves(AddLayer):
    """``dx = dy = dout / 2``, as if the sum were an average."""

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        return dout * 0.5, dout * 0.5


class ConvolutionMeanBias(Convolution):
    """``db`` is the mean of ``dout`` over batch and positions instead of its sum."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        self.db = np.mean(dout, axis=(0, 2, 3))
        return dx


class Scaled:
    """A unary layer whose every gradient is ``1 + delta`` times the correct one.

    Its parameters are the inner layer's own arrays (found the book's way), so the
    checker moving them moves the inner layer's.
    """

    def __init__(self, inner: UnaryLayer, delta: float) -> None:
        self.inner = inner
        self.delta = delta
        self.names = discover_parameters(inner)
        for name in self.names:
            setattr(self, name, getattr(inner, name))
            setattr(self, "d" + name, None)

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout)
        for name in self.names:
            setattr(self, "d" + name, getattr(self.inner, "d" + name) * (1 + self.delta))
        return dx * (1 + self.delta)


class ScaledSoftmaxWithLoss(SoftmaxWithLoss):
    """SoftmaxWithLoss whose gradient is ``1 + delta`` times the correct one."""

    def __init__(self, delta: float) -> None:
        self.delta = delta

    def backward(self, dout: FloatArray | float = 1.0) -> FloatArray:
        return super().backward(dout) * (1 + self.delta)


# -- the catalogue ------------------------------------------------------------------------


def catalogue(seed: int = 0) -> tuple[Case, ...]:
    """Every injected bug at a point drawn from ``seed`` (each from its own stream)."""
    return (
        *_book_defects(seed),
        *_in_place_edits(seed),
        *_tie_routing(seed),
        *_unlisted_parameters(seed),
        *_non_finite(seed),
        *_transposes(seed),
        *_col2im_bugs(seed),
        *_batchnorm_terms(seed),
        *_dropout_scaling(seed),
        *_signs(seed),
        *_missing_factors(seed),
        *(_scaled_affine(seed, delta) for delta in TINY_SCALINGS),
    )


def _dense(seed: int, name: str, shape: tuple[int, ...] = (4, 3)) -> dict[str, FloatArray]:
    return {"x": _away_from_zero(_rng(seed, name), shape)}


def _affine_at(
    seed: int, name: str, make: Callable[[FloatArray, FloatArray], Affine], *, square: bool = False
) -> tuple[dict[str, FloatArray], Callable[[FloatDType], Affine]]:
    """A point and a factory for an Affine-like layer: ``x`` (4, 3), ``W`` (3, 2) or (3, 3)."""
    r = _rng(seed, name)
    W = r.standard_normal((3, 3 if square else 2))
    b = r.standard_normal((W.shape[1],))
    return {"x": r.standard_normal((4, 3))}, lambda d: make(W.astype(d), b.astype(d))


def _conv_at(
    seed: int,
    name: str,
    make: Callable[[FloatArray, FloatArray], Convolution],
) -> tuple[dict[str, FloatArray], Callable[[FloatDType], Convolution]]:
    """A point and a factory for a Convolution-like layer: ``x`` (2, 2, 4, 4), ``W``
    (2, 2, 3, 3)."""
    r = _rng(seed, name)
    W, b = r.standard_normal((2, 2, 3, 3)), r.standard_normal(2)
    return {"x": r.standard_normal((2, 2, 4, 4))}, lambda d: make(W.astype(d), b.astype(d))


def _bn_at(
    seed: int,
    name: str,
    make: Callable[[FloatArray, FloatArray], BatchNormalization],
    shape: tuple[int, ...] = (5, 3),
) -> tuple[dict[str, FloatArray], Callable[[FloatDType], BatchNormalization]]:
    """A point and a factory for a BatchNormalization-like layer on ``x`` of ``shape``."""
    r = _rng(seed, name)
    features = int(np.prod(shape[1:]))
    g, be = r.standard_normal(features), r.standard_normal(features)
    return {"x": r.standard_normal(shape)}, lambda d: make(g.astype(d), be.astype(d))


def _mask(seed: int, name: str) -> npt.NDArray[np.bool_]:
    """A fixed dropout mask of shape (4, 3) with ratio 0.4, one element dropped and one kept
    at least."""
    mask = _rng(seed, name + " mask").random((4, 3)) > 0.4
    mask.flat[0], mask.flat[1] = False, True
    return mask


def _book_defects(seed: int) -> list[Case]:
    name = "BookSigmoid overflows"
    xs = _dense(seed, name)
    xs["x"][0, 0] = -800.0
    r = _rng(seed, "book softmax")
    logits, labels = 2 * r.standard_normal((4, 3)), _labels(r, 4, 3)
    r1 = _rng(seed, "book softmax 1-D")
    logits_1d, hot_1d = 2 * r1.standard_normal(4), _one_hot(_labels(r1, 1, 4), 4)[0]
    c: Category = "book defect"
    return [
        Case(
            "BookRelu edits dout",
            c,
            _dense(seed, "BookRelu"),
            unary=lambda _: BookRelu(),
            problem=DOUT_EDITED,
        ),
        Case(name, c, xs, unary=lambda _: BookSigmoid(), problem=OVERFLOW),
        Case(
            "BookSoftmaxWithLoss as printed",
            c,
            {"x": logits},
            loss=lambda _: BookSoftmaxWithLoss(),
            t=labels,
            wrong=("x",),
        ),
        Case(
            "SoftmaxWithLoss ignoring dout",
            c,
            {"x": logits},
            loss=lambda _: SoftmaxWithLossIgnoringDout(),
            t=labels,
            wrong=("x",),
        ),
        Case(
            "SoftmaxWithLoss with the 1e-7 fudge",
            c,
            {"x": logits},
            loss=lambda _: SoftmaxWithLossFudged(),
            t=labels,
            wrong=("x",),
        ),
        Case(
            "SoftmaxWithLoss 1-D divided by the class count",
            c,
            {"x": logits_1d},
            loss=lambda _: SoftmaxWithLossByClassCount(),
            t=hot_1d,
            wrong=("x",),
        ),
    ]


def _in_place_edits(seed: int) -> list[Case]:
    c: Category = "in-place edit"
    r = _rng(seed, "smoothing")
    logits, hot = 2 * r.standard_normal((4, 3)), _one_hot(_labels(r, 4, 3), 3)
    bn_x, bn = _bn_at(seed, "bn dout", BatchNormScalesDoutInPlace)
    mask = _mask(seed, "dropout dout")
    pair = _dense(seed, "mul dout", (3, 2)) | {"y": _rng(seed, "mul y").standard_normal((3, 2))}
    affine_x, affine = _affine_at(seed, "affine step", AffineStepsInBackward)
    return [
        Case(
            "Sigmoid: dout *= (1 - y)·y",
            c,
            _dense(seed, "sigmoid dout"),
            unary=lambda _: SigmoidScalesDoutInPlace(),
            problem=DOUT_EDITED,
        ),
        Case("BatchNorm: dout *= gamma", c, bn_x, unary=bn, problem=DOUT_EDITED),
        Case(
            "Dropout: dout *= mask",
            c,
            _dense(seed, "dropout dout"),
            unary=lambda _: DropoutMasksDoutInPlace(0.4, mask=mask),
            problem=DOUT_EDITED,
        ),
        Case(
            "MulLayer: dout *= x",
            c,
            pair,
            binary=lambda _: MulLayerScalesDoutInPlace(),
            problem=DOUT_EDITED,
        ),
        Case(
            "Relu: out = x without a copy",
            c,
            _dense(seed, "relu input"),
            unary=lambda _: ReluZeroesItsInput(),
            problem=INPUT_EDITED,
        ),
        Case(
            "SoftmaxWithLoss: label smoothing on t",
            c,
            {"x": logits},
            loss=lambda _: SoftmaxWithLossSmoothsTargetsInPlace(),
            t=hot,
            problem=TARGETS_EDITED,
        ),
        Case("Affine: SGD step in backward", c, affine_x, unary=affine, problem=W_EDITED),
    ]


def _tie_routing(seed: int) -> list[Case]:
    c: Category = "tie routing"
    makers: list[tuple[str, Callable[[FloatDType], Pooling]]] = [
        ("Pooling: to the window's last element", lambda _: PoolingRoutesToLast(2, 2, 2)),
        ("Pooling: to the window's minimum", lambda _: PoolingRoutesToMinimum(2, 2, 2)),
        ("Pooling: to the element after the maximum", lambda _: PoolingRoutesPastMaximum(2, 2, 2)),
        ("Pooling: to every tied maximum", lambda _: PoolingRoutesToEveryTiedMaximum(2, 2, 2)),
    ]
    return [
        Case(
            name,
            c,
            {"x": _tied_windows(_rng(seed, name), (2, 2, 4, 4), 2)},
            unary=make,
            wrong=("x",),
            at_kink=True,
        )
        for name, make in makers
    ]


def _unlisted_parameters(seed: int) -> list[Case]:
    c: Category = "unlisted parameter"
    affine_x, affine = _affine_at(seed, "unlisted affine", AffineMeanBias)
    conv_x, conv = _conv_at(seed, "unlisted conv", ConvolutionCornerBias)
    bn_x, bn = _bn_at(seed, "unlisted bn", BatchNormMeanBeta)
    return [
        Case("Affine: wrong db, params=W", c, affine_x, unary=affine, params=("W",), refused="b"),
        Case("Convolution: wrong db, params=W", c, conv_x, unary=conv, params=("W",), refused="b"),
        Case(
            "BatchNorm: wrong dbeta, params=gamma",
            c,
            bn_x,
            unary=bn,
            params=("gamma",),
            refused="beta",
        ),
    ]


def _non_finite(seed: int) -> list[Case]:
    c: Category = "non-finite"
    xs = _dense(seed, "sigmoid nan")
    xs["x"][1, 2] = -800.0
    r = _rng(seed, "softmax nan")
    logits, labels = 2 * r.standard_normal((4, 3)), _labels(r, 4, 3)
    logits[0, labels[0]] += 800.0  # the other probabilities of row 0 underflow to 0
    bn_x, bn = _bn_at(seed, "bn nan", BatchNormBackwardWithoutEps)
    bn_x["x"][:, 1] = 0.7  # a constant feature: variance 0
    mask = _mask(seed, "dropout nan")
    return [
        Case(
            "Relu: dout·(x + |x|) / 2x",
            c,
            {"x": _with_zeros(_rng(seed, "relu nan"), (4, 3))},
            unary=lambda _: ReluNaNAtZero(),
            kinks={"x": (0.0,)},
            wrong=("x",),
            at_kink=True,
        ),
        Case(
            "Sigmoid: e^-x / (1 + e^-x)^2 overflows",
            c,
            xs,
            unary=lambda _: SigmoidBackwardOverflows(),
            wrong=("x",),
        ),
        Case(
            "SoftmaxWithLoss: y·(1 - t/y)",
            c,
            {"x": logits},
            loss=lambda _: SoftmaxWithLossDividesByY(),
            t=_one_hot(labels, 3),
            wrong=("x",),
        ),
        Case("BatchNorm: backward without eps", c, bn_x, unary=bn, wrong=("x",)),
        Case(
            "Dropout: dout·mask / mask",
            c,
            _dense(seed, "dropout nan"),
            unary=lambda _: DropoutDividesByMask(0.4, mask=mask),
            wrong=("x",),
        ),
    ]


def _transposes(seed: int) -> list[Case]:
    c: Category = "transpose"
    dx_x, dx = _affine_at(seed, "affine dx W", AffineDxThroughW, square=True)
    dw_x, dw = _affine_at(seed, "affine dW T", AffineTransposedDW, square=True)
    cw_x, cw = _conv_at(seed, "conv dW no T", ConvolutionDWNotTransposed)
    cd_x, cd = _conv_at(seed, "conv dout no T", ConvolutionDoutNotTransposed)
    cf_x, cf = _conv_at(seed, "conv flipped", ConvolutionKernelFlipped)
    bn_x, bn = _bn_at(seed, "bn channels last", BatchNormChannelsLast, (4, 2, 2, 2))
    pair = _dense(seed, "mul swap", (3, 2)) | {
        "y": _rng(seed, "mul swap y").standard_normal((3, 2))
    }
    return [
        Case("Affine: dx = dout·W", c, dx_x, unary=dx, wrong=("x",)),
        Case("Affine: dW = doutᵀ·x", c, dw_x, unary=dw, wrong=("W",)),
        Case("Convolution: dW not transposed", c, cw_x, unary=cw, wrong=("W",)),
        Case("Convolution: dout not transposed", c, cd_x, unary=cd, wrong=("x", "W", "b")),
        Case("Convolution: kernel flipped in dW", c, cf_x, unary=cf, wrong=("W",)),
        Case(
            "Pooling: dout not transposed",
            c,
            {"x": _distinct(_rng(seed, "pool dout no T"), (2, 2, 4, 4))},
            unary=lambda _: PoolingDoutNotTransposed(2, 2, 2),
            wrong=("x",),
        ),
        Case(
            "MulLayer: dx and dy swapped",
            c,
            pair,
            binary=lambda _: MulLayerSwapsGradients(),
            wrong=("x", "y"),
        ),
        Case(
            "BatchNorm 4-D: dout flattened channels-last",
            c,
            bn_x,
            unary=bn,
            wrong=("x", "gamma", "beta"),
        ),
    ]


def _col2im_bugs(seed: int) -> list[Case]:
    c: Category = "col2im"
    bugs: list[tuple[Col2imBug, int, int]] = [
        ("shifted crop", 1, 1),
        ("crop ignores pad", 1, 1),
        ("ignores stride", 2, 1),
        ("overwrites", 1, 0),
        ("skips column", 1, 0),
    ]
    cases = []
    for bug, stride, pad in bugs:
        name = f"Convolution: col2im {bug} (stride {stride}, pad {pad})"

        def make(
            W: FloatArray, b: FloatArray, s: int = stride, p: int = pad, k: Col2imBug = bug
        ) -> Convolution:
            return ConvolutionCol2imBug(W, b, s, p, k)

        x, factory = _conv_at(seed, name, make)
        cases.append(Case(name, c, x, unary=factory, wrong=("x",)))
    name = "Pooling 2x2 stride 1: col2im overwrites"
    cases.append(
        Case(
            name,
            c,
            {"x": _distinct(_rng(seed, name), (2, 2, 4, 4))},
            unary=lambda _: PoolingCol2imOverwrites(2, 2, 1),
            wrong=("x",),
        )
    )
    return cases


def _batchnorm_terms(seed: int) -> list[Case]:
    c: Category = "batchnorm term"
    makers: list[
        tuple[str, Callable[[FloatArray, FloatArray], BatchNormalization], tuple[int, ...], str]
    ] = [
        ("BatchNorm: no variance path", BatchNormWithoutVariancePath, (5, 3), "x"),
        ("BatchNorm: no mean path", BatchNormWithoutMeanPath, (5, 3), "x"),
        ("BatchNorm: variance path sign flipped", BatchNormVarianceSignFlipped, (5, 3), "x"),
        ("BatchNorm: dgamma from xc", BatchNormDGammaFromXc, (5, 3), "gamma"),
        ("BatchNorm: std without eps in backward", BatchNormStdWithoutEps, (5, 3), "x"),
        ("BatchNorm 4-D: no mean path", BatchNormWithoutMeanPath, (4, 2, 2, 2), "x"),
    ]
    cases = []
    for name, make, shape, wrong in makers:
        x, factory = _bn_at(seed, name, make, shape)
        cases.append(Case(name, c, x, unary=factory, wrong=(wrong,)))
    return cases


def _dropout_scaling(seed: int) -> list[Case]:
    c: Category = "dropout scaling"
    mask = _mask(seed, "dropout scaling")
    mask_seed = int(_rng(seed, "dropout redraw").integers(2**31))
    x = _dense(seed, "dropout scaling")
    return [
        Case(
            "InvertedDropout: backward not scaled",
            c,
            x,
            unary=lambda _: InvertedDropoutUnscaledBackward(0.4, mask=mask),
            wrong=("x",),
        ),
        Case(
            "InvertedDropout: backward / ratio",
            c,
            x,
            unary=lambda _: InvertedDropoutScaledByRatio(0.4, mask=mask),
            wrong=("x",),
        ),
        Case(
            "Dropout: backward / (1 - ratio)",
            c,
            x,
            unary=lambda _: DropoutScaledBackward(0.4, mask=mask),
            wrong=("x",),
        ),
        Case(
            "Dropout: backward redraws the mask",
            c,
            x,
            unary=lambda _: DropoutRedrawsMask(0.4, rng=np.random.default_rng(mask_seed)),
            wrong=("x",),
        ),
    ]


def _signs(seed: int) -> list[Case]:
    c: Category = "sign"
    affine_x, affine = _affine_at(seed, "affine -db", AffineBiasNegated)
    r = _rng(seed, "softmax sign")
    return [
        Case(
            "Sigmoid: dout·y·(y - 1)",
            c,
            _dense(seed, "sigmoid sign"),
            unary=lambda _: SigmoidSignFlipped(),
            wrong=("x",),
        ),
        Case("Affine: db = -Σ dout", c, affine_x, unary=affine, wrong=("b",)),
        Case(
            "SoftmaxWithLoss: (t - y) / N",
            c,
            {"x": 2 * r.standard_normal((4, 3))},
            loss=lambda _: SoftmaxWithLossSignFlipped(),
            t=_labels(r, 4, 3),
            wrong=("x",),
        ),
        Case(
            "Relu: mask inverted",
            c,
            _dense(seed, "relu inverted"),
            unary=lambda _: ReluMaskInverted(),
            wrong=("x",),
        ),
    ]


def _missing_factors(seed: int) -> list[Case]:
    c: Category = "missing factor"
    r = _rng(seed, "softmax not averaged")
    affine_x, affine = _affine_at(seed, "affine mean db", AffineMeanBias)
    conv_x, conv = _conv_at(seed, "conv mean db", ConvolutionMeanBias)
    bn_x, bn = _bn_at(seed, "bn no gamma", BatchNormWithoutGamma)
    pair = _dense(seed, "mul no dout", (3, 2)) | {
        "y": _rng(seed, "mul no dout y").standard_normal((3, 2))
    }
    mask = _mask(seed, "dropout no mask")
    return [
        Case(
            "SoftmaxWithLoss: not divided by N",
            c,
            {"x": 2 * r.standard_normal((4, 3))},
            loss=lambda _: SoftmaxWithLossNotAveraged(),
            t=_labels(r, 4, 3),
            wrong=("x",),
        ),
        Case("Affine: db = mean(dout)", c, affine_x, unary=affine, wrong=("b",)),
        Case(
            "Sigmoid: dout·(1 - y)",
            c,
            _dense(seed, "sigmoid no y"),
            unary=lambda _: SigmoidWithoutOutFactor(),
            wrong=("x",),
        ),
        Case(
            "MulLayer: dout ignored",
            c,
            pair,
            binary=lambda _: MulLayerIgnoresDout(),
            wrong=("x", "y"),
        ),
        Case("AddLayer: dout / 2", c, pair, binary=lambda _: AddLayerHalves(), wrong=("x", "y")),
        Case("Convolution: db = mean(dout)", c, conv_x, unary=conv, wrong=("b",)),
        Case("BatchNorm: dxn without gamma", c, bn_x, unary=bn, wrong=("x",)),
        Case(
            "Dropout: backward without the mask",
            c,
            _dense(seed, "dropout no mask"),
            unary=lambda _: DropoutWithoutMask(0.4, mask=mask),
            wrong=("x",),
        ),
    ]


def _scaled_affine(seed: int, delta: float) -> Case:
    """Affine with every gradient times ``1 + delta``."""
    x, make = _affine_at(seed, f"scaled affine {delta:.0e}", Affine)
    return Case(
        f"Affine: gradients × (1 + {delta:.0e})",
        "tiny scaling",
        x,
        unary=lambda d: Scaled(make(d), delta),
    )


def scaled_subjects(seed: int, delta: float) -> tuple[Case, ...]:
    """Five correct layers with every gradient times ``1 + delta``: the resolution sweep."""
    tag = f"scaled {delta:.0e}"
    affine_x, affine = _affine_at(seed, "sweep affine", Affine)
    conv_x, conv = _conv_at(seed, "sweep conv", lambda W, b: Convolution(W, b, 2, 1))
    bn_x, bn = _bn_at(seed, "sweep bn", BatchNormalization)
    r = _rng(seed, "sweep softmax")
    c: Category = "tiny scaling"
    return (
        Case(f"Affine {tag}", c, affine_x, unary=lambda d: Scaled(affine(d), delta)),
        Case(f"Convolution {tag}", c, conv_x, unary=lambda d: Scaled(conv(d), delta)),
        Case(f"BatchNormalization {tag}", c, bn_x, unary=lambda d: Scaled(bn(d), delta)),
        Case(
            f"Sigmoid {tag}",
            c,
            {"x": 3 * _rng(seed, "sweep sigmoid").standard_normal((4, 3))},
            unary=lambda _: Scaled(Sigmoid(), delta),
        ),
        Case(
            f"SoftmaxWithLoss {tag}",
            c,
            {"x": 2 * r.standard_normal((4, 3))},
            loss=lambda _: ScaledSoftmaxWithLoss(delta),
            t=_labels(r, 4, 3),
        ),
    )

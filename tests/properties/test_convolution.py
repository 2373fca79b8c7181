"""im2col, col2im and Convolution against their definitions, by loops, for every stride and
padding drawn; their errors.

Where a property compares with a loop, the arrays hold small integers: every product and
every partial sum is then an integer far below 2^24, exact in float32 and float64, so
the comparison is exact whatever order a GEMM adds in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Convolution, col2im, im2col
from bpcore._arrays import FLOAT_DTYPES
from bpcore.errors import ArgumentError, BpcoreError, DtypeError, NotForwardedError, ShapeError
from tests.helpers import assert_error

DTYPES = st.sampled_from([np.float64, np.float32])
IntArray = npt.NDArray[np.int64]


@st.composite
def _geometry(draw: st.DrawFn) -> tuple[int, int, int, int, int, int, int, int]:
    """``(N, C, H, W, fh, fw, stride, pad)`` with the window fitting the padded image."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, fh - 2 * pad), 7))
    w = draw(st.integers(max(1, fw - 2 * pad), 7))
    return draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w, fh, fw, stride, pad


def _integers(data: st.DataObject, shape: tuple[int, ...], bound: int = 4) -> IntArray:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    return rng.integers(-bound, bound + 1, size=shape)


def _padded(x: IntArray, pad: int) -> IntArray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


@given(data=st.data(), geometry=_geometry(), dtype=DTYPES)
def test_im2col_takes_every_window_in_the_books_layout(
    data: st.DataObject, geometry: tuple[int, ...], dtype: type[np.floating]
) -> None:
    """col[(n·OH + i)·OW + j, (c·fh + y)·fw + x] = padded[n, c, i·s + y, j·s + x]."""
    n, c, h, w, fh, fw, s, p = geometry
    x = _integers(data, (n, c, h, w))
    col = im2col(x.astype(dtype), fh, fw, s, p)
    oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
    expected = np.empty((n * oh * ow, c * fh * fw), dtype=np.int64)
    xp = _padded(x, p)
    for k, ch, i, j, y, z in np.ndindex(n, c, oh, ow, fh, fw):
        expected[(k * oh + i) * ow + j, (ch * fh + y) * fw + z] = xp[k, ch, i * s + y, j * s + z]
    assert col.dtype == dtype
    np.testing.assert_array_equal(col, expected)


@given(data=st.data(), geometry=_geometry(), dtype=DTYPES)
def test_col2im_is_the_adjoint_of_im2col(
    data: st.DataObject, geometry: tuple[int, ...], dtype: type[np.floating]
) -> None:
    """Σ col2im(c)·x = Σ c·im2col(x) for every x and c (exact on small integers), and
    col2im keeps col's dtype: it backpropagates through im2col."""
    n, c, h, w, fh, fw, s, p = geometry
    x = _integers(data, (n, c, h, w))
    cols = im2col(x.astype(dtype), fh, fw, s, p)
    upstream = _integers(data, cols.shape)
    back = col2im(upstream.astype(dtype), (n, c, h, w), fh, fw, s, p)
    assert back.shape == x.shape
    assert back.dtype == dtype
    assert int(np.sum(back.astype(np.int64) * x)) == int(np.sum(upstream * cols.astype(np.int64)))


def test_im2col_takes_stride_1_and_no_padding_by_default() -> None:
    """im2col(x, fh, fw) is im2col(x, fh, fw, stride=1, pad=0), as in the book: every
    window of the unpadded image, one pixel apart."""
    x = np.arange(2 * 16, dtype=np.float64).reshape(1, 2, 4, 4)
    col = im2col(x, 2, 3)
    assert col.shape == (3 * 2, 2 * 2 * 3)
    np.testing.assert_array_equal(col, im2col(x, 2, 3, stride=1, pad=0))
    np.testing.assert_array_equal(
        col[1], np.concatenate([x[0, c, 0:2, 1:4].ravel() for c in (0, 1)])
    )


def test_convolution_takes_stride_1_and_no_padding_by_default() -> None:
    """Convolution(W, b) slides its filters one pixel at a time over the unpadded image, as
    in the book."""
    layer = Convolution(np.ones((1, 1, 2, 2)), np.zeros(1))
    assert (layer.stride, layer.pad) == (1, 0)
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer.forward(x), [[[[8.0, 12.0], [20.0, 24.0]]]])


def test_col2im_of_an_empty_batch_gives_empty_images() -> None:
    """N = 0 is a valid input_shape: col2im of a (0, C·fh·fw) col is (0, C, H, W)."""
    back = col2im(np.ones((0, 4), dtype=np.float32), (0, 1, 3, 3), 2, 2)
    assert back.shape == (0, 1, 3, 3)
    assert back.dtype == np.float32


def _correlate(x: IntArray, weights: IntArray, bias: IntArray, s: int, p: int) -> IntArray:
    """``out[n, f, i, j] = Σ W[f, c, y, x]·xp[n, c, i·s + y, j·s + x] + b[f]`` by loops."""
    n, _, h, w = x.shape
    fn, _, fh, fw = weights.shape
    oh, ow = (h + 2 * p - fh) // s + 1, (w + 2 * p - fw) // s + 1
    xp = _padded(x, p)
    out = np.empty((n, fn, oh, ow), dtype=np.int64)
    for k, f, i, j in np.ndindex(n, fn, oh, ow):
        out[k, f, i, j] = np.sum(weights[f] * xp[k, :, i * s : i * s + fh, j * s : j * s + fw])
        out[k, f, i, j] += bias[f]
    return out


def _correlation_adjoint(
    x: npt.NDArray[np.generic],
    weights: npt.NDArray[np.generic],
    dout: npt.NDArray[np.generic],
    s: int,
    p: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(dx, dW, db)`` of :func:`_correlate` for ``dout``, by loops in float64: each window
    of the padded input adds ``dout·W[f]`` to dx and ``dout·window`` to dW[f]."""
    h, w = x.shape[2], x.shape[3]
    fh, fw = weights.shape[2], weights.shape[3]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    d_padded = np.zeros_like(xp)
    d_weights = np.zeros(weights.shape)
    for k, f, i, j in np.ndindex(*dout.shape):
        window = (k, slice(None), slice(i * s, i * s + fh), slice(j * s, j * s + fw))
        d_weights[f] += float(dout[k, f, i, j]) * xp[window]
        d_padded[window] += float(dout[k, f, i, j]) * weights[f].astype(np.float64)
    d_bias: npt.NDArray[np.float64] = dout.astype(np.float64).sum(axis=(0, 2, 3))
    return d_padded[:, :, p : p + h, p : p + w], d_weights, d_bias


@given(data=st.data(), geometry=_geometry(), dtype=DTYPES, filters=st.integers(1, 3))
def test_convolution_is_correlation_by_loops_for_every_stride_and_pad(
    data: st.DataObject, geometry: tuple[int, ...], dtype: type[np.floating], filters: int
) -> None:
    """Forward is the correlation of the zero-padded input with each filter plus its
    bias, and backward is its adjoint: db, dW and dx by loops over the definition."""
    n, c, h, w, fh, fw, s, p = geometry
    x = _integers(data, (n, c, h, w))
    weights, bias = _integers(data, (filters, c, fh, fw)), _integers(data, (filters,))
    layer = Convolution(weights.astype(dtype), bias.astype(dtype), stride=s, pad=p)
    out = layer.forward(x.astype(dtype))
    expected = _correlate(x, weights, bias, s, p)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected)

    dout = _integers(data, expected.shape)
    dx = layer.backward(dout.astype(dtype))
    d_x, d_weights, d_bias = _correlation_adjoint(x, weights, dout, s, p)
    assert {dx.dtype, layer.grads["W"].dtype, layer.grads["b"].dtype} == {np.dtype(dtype)}
    np.testing.assert_array_equal(dx, d_x)
    np.testing.assert_array_equal(layer.grads["W"], d_weights)
    np.testing.assert_array_equal(layer.grads["b"], d_bias)


@pytest.mark.parametrize(
    "dtypes",
    list(itertools.product(FLOAT_DTYPES, repeat=3)),
    ids=lambda dtypes: "-".join(d.name for d in dtypes),
)
def test_convolution_gradients_keep_their_dtypes_at_the_promoted_precision(
    dtypes: tuple[np.dtype, np.dtype, np.dtype],
) -> None:
    """With any mix of float32 and float64 among x, W and b, the output is in their promoted
    dtype, and dx, dW and db come back in the dtypes of x, W and b, computed at the
    precision of the promoted dtype."""
    x_dtype, w_dtype, b_dtype = dtypes
    promoted = np.result_type(x_dtype, w_dtype, b_dtype)
    rng = np.random.default_rng(7)
    x, weights = rng.integers(-4, 5, (2, 2, 4, 5)), rng.integers(-4, 5, (3, 2, 3, 3))
    bias = rng.integers(-4, 5, 3)
    layer = Convolution(weights.astype(w_dtype), bias.astype(b_dtype), stride=2, pad=1)
    out = layer.forward(x.astype(x_dtype))
    assert out.dtype == promoted
    np.testing.assert_array_equal(out, _correlate(x, weights, bias, 2, 1))  # small integers
    # Each dout is m + 2^-30 with m a nonzero integer: exact in float64, rounded to m in
    # float32 (2^-30 is below half of float32's spacing 2^-23 at |m| >= 1). Every product
    # with the small integers of x and W and every sum of them has an integer part below
    # 2^10 and a fraction that is a multiple of 2^-30: 40 significant bits, exact in
    # float64, and in float32 (where the fractions are gone) the integers are below 2^24.
    # So the layer's results equal, bit for bit, the exact gradients of dout rounded to
    # the promoted dtype, each rounded once to its array's dtype.
    m = rng.choice(np.array([-3, -2, -1, 1, 2, 3]), out.shape)
    dout = m + 2.0**-30
    dx = layer.backward(dout)
    expected = _correlation_adjoint(x, weights, dout.astype(promoted), 2, 1)
    for got, exact, dtype in zip((dx, layer.dW, layer.db), expected, dtypes, strict=True):
        assert got is not None
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, exact.astype(dtype))


def test_without_input_grad_backward_sets_only_the_parameter_gradients() -> None:
    """backward(dout, input_grad=False) returns None and sets the same dW and db."""
    rng = np.random.default_rng(1)
    x, weights, bias = (
        rng.standard_normal((2, 3, 5, 5)),
        rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal(4),
    )
    full, first = Convolution(weights, bias, pad=1), Convolution(weights, bias, pad=1)
    dout = rng.standard_normal(full.forward(x).shape)
    first.forward(x)
    full.backward(dout)
    assert first.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(first.grads["W"], full.grads["W"])
    np.testing.assert_array_equal(first.grads["b"], full.grads["b"])


def test_the_layer_holds_its_parameters_by_reference() -> None:
    """An in-place update of W reaches the layer, as a network's optimizer relies on."""
    weights, bias = np.ones((1, 1, 2, 2)), np.zeros(1)
    layer = Convolution(weights, bias)
    x = np.ones((1, 1, 2, 2))
    assert layer.forward(x).item() == 4.0
    weights *= 2
    assert layer.forward(x).item() == 8.0
    assert layer.params["W"] is weights


@pytest.mark.parametrize(
    ("call", "error", "callee", "expected", "got"),
    [
        (lambda: im2col(np.ones((2, 3, 4)), 2, 2), ShapeError, "im2col",
         "`input_data` of shape (N, C, H, W)", "(2, 3, 4)"),
        (lambda: im2col(np.ones((1, 1, 2, 2)), 3, 3), ShapeError, "im2col",
         "`input_data` of at least 3x3 after padding by 0", "(1, 1, 2, 2)"),
        (lambda: im2col(np.ones((1, 1, 4, 4)), 2, 2, stride=0), ArgumentError, "im2col",
         "`stride` to be a positive int", "0"),
        (lambda: im2col(np.ones((1, 1, 4, 4)), 2, 2, pad=-1), ArgumentError, "im2col",
         "`pad` to be an int >= 0", "-1"),
        (lambda: im2col(np.ones((1, 1, 4, 4)), 2.0, 2), ArgumentError, "im2col",  # type: ignore[arg-type]  # wrong on purpose
         "`filter_h` to be a positive int", "2.0"),
        (lambda: im2col(np.ones((1, 1, 4, 4)), 2, 2.0), ArgumentError, "im2col",  # type: ignore[arg-type]  # wrong on purpose
         "`filter_w` to be a positive int", "2.0"),
        (lambda: col2im(np.ones((9, 4)), (1, 1, 4, 4), 2.0, 2), ArgumentError, "col2im",  # type: ignore[arg-type]  # wrong on purpose
         "`filter_h` to be a positive int", "2.0"),
        (lambda: col2im(np.ones((9, 4)), (1, 1, 4, 4), 2, 2.0), ArgumentError, "col2im",  # type: ignore[arg-type]  # wrong on purpose
         "`filter_w` to be a positive int", "2.0"),
        (lambda: col2im(np.ones((4, 4)), (1, 1, 4, 4), 2, 2), ShapeError, "col2im",
         "`col` of shape (9, 4)", "(4, 4)"),
        (lambda: col2im(np.ones((4, 4)), (1, 1, 3), 2, 2), ShapeError, "col2im",  # type: ignore[arg-type]  # wrong on purpose
         "`input_shape` (N, C, H, W)", "(1, 1, 3)"),
        (lambda: col2im(np.ones((9, 4)), (-1, 1, 4, 4), 2, 2), ShapeError, "col2im",
         "`input_shape` (N, C, H, W)", "(-1, 1, 4, 4)"),
        (lambda: col2im(np.ones((9, 4)), (1, 0, 4, 4), 2, 2), ShapeError, "col2im",
         "`input_shape` (N, C, H, W)", "(1, 0, 4, 4)"),
        (lambda: col2im(np.ones((9, 4)), (1, 1, 4.0, 4), 2, 2), ShapeError, "col2im",  # type: ignore[arg-type]  # wrong on purpose
         "`input_shape` (N, C, H, W)", "(1, 1, 4.0, 4)"),
        (lambda: col2im(np.ones((1, 9)), (1, 1, 2, 2), 3, 3), ShapeError, "col2im",
         "`input_shape` of at least 3x3 after padding by 0", "(1, 1, 2, 2)"),
        (lambda: Convolution(np.ones((2, 3, 3)), np.ones(2)), ShapeError, "Convolution",
         "`W` of shape (FN, C, FH, FW)", "(2, 3, 3)"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.ones(3)), ShapeError, "Convolution",
         "`b` of shape (2,)", "(3,)"),
        (lambda: Convolution(np.ones((2, 1, 3, 3), np.int64), np.ones(2)), DtypeError,
         "Convolution", "`W` to be a float32 or float64 numpy array", "int64"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.ones(2, np.int64)), DtypeError,
         "Convolution", "`b` to be a float32 or float64 numpy array", "int64"),
        (lambda: Convolution(np.ones((2, 1, 0, 3)), np.ones(2)), ArgumentError,
         "Convolution", "`FH` to be a positive int", "0"),
        (lambda: Convolution(np.ones((2, 1, 3, 0)), np.ones(2)), ArgumentError,
         "Convolution", "`FW` to be a positive int", "0"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.ones(2), stride=0), ArgumentError,
         "Convolution", "`stride` to be a positive int", "0"),
        (lambda: Convolution(np.ones((2, 3, 3, 3)), np.ones(2)).forward(np.ones((1, 2, 5, 5))),
         ShapeError, "Convolution.forward", "(N, 3, H, W)", "(1, 2, 5, 5)"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.ones(2)).forward(np.ones((1, 1, 2, 5))),
         ShapeError, "Convolution.forward", "`x` of at least 3x3 after padding by 0",
         "(1, 1, 2, 5)"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.ones(2)).backward(np.ones((1, 2, 1, 1))),
         NotForwardedError, "Convolution.backward", None, None),
    ],
    ids=["im2col 3-D", "im2col too small", "stride 0", "pad -1", "float size", "float width",
         "col2im float size", "col2im float width", "col shape", "input_shape", "negative N",
         "no channels", "float H", "col2im too small", "W 3-D", "b shape", "W int", "b int",
         "no filter rows", "no filter columns", "layer stride", "channels", "image too small",
         "not forwarded"],
)  # fmt: skip
def test_bad_arguments_name_the_callee_and_what_was_expected(
    call: Callable[[], object],
    error: type[BpcoreError],
    callee: str,
    expected: str | None,
    got: str | None,
) -> None:
    """Each bad call raises its documented error, naming the callee, what it expected and
    what it got."""
    assert_error(error, call, callee=callee, expected=expected, got=got)

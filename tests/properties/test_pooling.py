"""Max pooling against its definition, ties included: the maximum of every window, and each
window's dout sent whole to the first of its maxima; its errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Pooling
from bpcore.errors import ArgumentError, BpcoreError, NotForwardedError, ShapeError
from tests.helpers import assert_error

DTYPES = st.sampled_from([np.float64, np.float32])


@st.composite
def _pooled(draw: st.DrawFn) -> tuple[Pooling, npt.NDArray[np.float64]]:
    """A pooling layer and an input it fits, of values drawn from a few levels: ties are
    common, negative windows too."""
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, min(ph, pw) - 1))
    h = draw(st.integers(max(1, ph - 2 * pad), 6))
    w = draw(st.integers(max(1, pw - 2 * pad), 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.choice(np.array([-3.0, -1.5, -0.5, 0.0, 2.0]), size=(n, c, h, w))
    return Pooling(ph, pw, stride=stride, pad=pad), x


def _windows(
    layer: Pooling, x: npt.NDArray[np.float64]
) -> dict[tuple[int, ...], list[tuple[int, int]]]:
    """Each window's image positions in row-major order, the padding left out."""
    n, c, h, w = x.shape
    s, p = layer.stride, layer.pad
    oh, ow = (h + 2 * p - layer.pool_h) // s + 1, (w + 2 * p - layer.pool_w) // s + 1
    return {
        (k, ch, i, j): [
            (i * s + y - p, j * s + z - p)
            for y in range(layer.pool_h)
            for z in range(layer.pool_w)
            if 0 <= i * s + y - p < h and 0 <= j * s + z - p < w
        ]
        for k, ch, i, j in np.ndindex(n, c, oh, ow)
    }


@given(case=_pooled(), dtype=DTYPES)
def test_forward_is_the_maximum_of_each_windows_image_elements(
    case: tuple[Pooling, npt.NDArray[np.float64]], dtype: type[np.floating]
) -> None:
    """out[n, c, i, j] is the largest element of the window inside the image: padding never
    wins, even over a window of negative values."""
    layer, x = case
    out = layer.forward(x.astype(dtype))
    assert out.dtype == dtype
    for (k, ch, i, j), cells in _windows(layer, x).items():
        assert out[k, ch, i, j] == max(x[k, ch, y, z] for y, z in cells)


@given(case=_pooled(), dtype=DTYPES, data=st.data())
def test_each_windows_gradient_goes_whole_to_its_first_maximum(
    case: tuple[Pooling, npt.NDArray[np.float64]], dtype: type[np.floating], data: st.DataObject
) -> None:
    """A window's dout, alone, comes back as one nonzero at the first of its maxima in
    row-major order (the documented tie rule) and sums to that dout; the full backward is
    the sum over windows."""
    layer, x = case
    xd = x.astype(dtype)
    out = layer.forward(xd)
    windows = _windows(layer, x)
    expected = np.zeros(x.shape)
    for index, cells in windows.items():
        values = [x[index[0], index[1], y, z] for y, z in cells]
        first = cells[values.index(max(values))]
        expected[index[0], index[1], first[0], first[1]] += 1.0 + index[3]
    dout = np.zeros(out.shape, dtype=dtype)
    for index in windows:
        dout[index] = 1.0 + index[3]  # small integers: every sum below is exact
    assert layer.backward(dout).dtype == dtype
    np.testing.assert_array_equal(layer.backward(dout), expected)
    k, ch, i, j = data.draw(st.sampled_from(sorted(windows)))
    alone = np.zeros(out.shape, dtype=dtype)
    alone[k, ch, i, j] = 2.5
    dx = layer.backward(alone)
    cells = windows[(k, ch, i, j)]
    values = [x[k, ch, y, z] for y, z in cells]
    y, z = cells[values.index(max(values))]
    assert np.count_nonzero(dx) == 1
    assert dx[k, ch, y, z] == 2.5


def test_padded_windows_at_a_stride_of_their_size_send_each_gradient_to_its_maximum() -> None:
    """3x3 windows at stride 3 with pad 1 on a 6x6 image (as many windows as would tile it
    unpadded) send each dout to its maximum's image position; the last row and column,
    in no window, get none."""
    layer = Pooling(3, 3, stride=3, pad=1)
    x = (np.random.default_rng(3).permutation(36) - 18).reshape(1, 1, 6, 6).astype(np.float64)
    out = layer.forward(x)
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = np.zeros(x.shape)
    for (k, ch, i, j), cells in _windows(layer, x).items():
        values = [x[k, ch, y, z] for y, z in cells]
        y, z = cells[values.index(max(values))]
        assert out[k, ch, i, j] == x[k, ch, y, z]
        expected[k, ch, y, z] += dout[k, ch, i, j]
    np.testing.assert_array_equal(layer.backward(dout), expected)


def test_stride_defaults_to_1_and_pad_to_0_as_in_the_book() -> None:
    """Pooling(pool_h, pool_w) slides its windows one pixel at a time over the unpadded
    image."""
    layer = Pooling(2, 2)
    assert (layer.stride, layer.pad) == (1, 0)
    x = np.array([[[[1.0, 5.0, 2.0], [4.0, 0.0, 3.0], [-1.0, 6.0, -2.0]]]])
    np.testing.assert_array_equal(layer.forward(x), [[[[5.0, 5.0], [6.0, 6.0]]]])


def test_the_arg_max_is_the_flat_index_within_the_window() -> None:
    """arg_max[n, c, i, j] = y·pool_w + x of the window's first maximum."""
    layer = Pooling(2, 2, stride=2)
    x = np.array([[[[1.0, 5.0, 2.0, 2.0], [5.0, 0.0, 2.0, 2.0]]]])
    np.testing.assert_array_equal(layer.forward(x), [[[[5.0, 2.0]]]])
    assert layer.arg_max is not None
    np.testing.assert_array_equal(layer.arg_max, [[[[1, 0]]]])


def test_a_nan_is_the_maximum_and_its_first_one_takes_the_gradient() -> None:
    """NaN counts as the largest value, as NumPy's argmax has it: the window's maximum is
    NaN and its dout goes to the first NaN in row-major order, before or after numbers,
    however far the window's other NaNs are from it."""
    layer = Pooling(2, 2, stride=2)
    x = np.array(
        [[[[1.0, np.nan, 5.0, 2.0, np.nan, 6.0], [np.nan, 3.0, 4.0, np.nan, 7.0, np.nan]]]]
    )
    out = layer.forward(x)
    assert np.isnan(out).all()
    dx = layer.backward(np.array([[[[2.0, 3.0, 4.0]]]]))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 2.0  # the first NaN of the first window
    expected[0, 0, 1, 3] = 3.0  # the second window's only NaN, after its numbers
    expected[0, 0, 0, 4] = 4.0  # the third window's first NaN, three offsets before its last
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize(
    ("pool_h", "pool_w", "y", "x"),
    [(16, 16, 15, 15), (1, 257, 0, 256), (17, 17, 16, 15)],
    ids=["256 offsets", "257 offsets", "289 offsets"],
)
def test_windows_of_256_elements_and_more_index_their_maximum(
    pool_h: int, pool_w: int, y: int, x: int
) -> None:
    """A window of 256, 257 or 289 offsets indexes its maximum exactly, up to the last
    offsets: arg_max is y·pool_w + x and the gradient reaches that element."""
    image = np.zeros((1, 1, pool_h, pool_w))
    image[0, 0, y, x] = 1.0
    layer = Pooling(pool_h, pool_w)
    assert layer.forward(image).item() == 1.0
    assert layer.arg_max is not None
    assert int(layer.arg_max.item()) == y * pool_w + x
    np.testing.assert_array_equal(layer.backward(np.array([[[[4.0]]]])), image * 4.0)


@pytest.mark.parametrize(
    ("call", "error", "callee", "expected", "got"),
    [
        (lambda: Pooling(0, 2), ArgumentError, "Pooling", "`pool_h` to be a positive int", "0"),
        (lambda: Pooling(2, 0), ArgumentError, "Pooling", "`pool_w` to be a positive int", "0"),
        (lambda: Pooling(2, 2, stride=-1), ArgumentError, "Pooling", "`stride`", "-1"),
        (lambda: Pooling(2, 3, pad=2), ArgumentError, "Pooling", "`pad` < min(pool_h, pool_w) = 2",
         "2"),
        (lambda: Pooling(2, 2).forward(np.ones((2, 2))), ShapeError, "Pooling.forward",
         "`x` of shape (N, C, H, W)", "(2, 2)"),
        (lambda: Pooling(3, 3).forward(np.ones((1, 1, 2, 5))), ShapeError, "Pooling.forward",
         "`x` of at least 3x3", "(1, 1, 2, 5)"),
        (lambda: Pooling(2, 2).backward(np.ones((1, 1, 1, 1))), NotForwardedError,
         "Pooling.backward", None, None),
    ],
    ids=["size 0", "width 0", "stride -1", "pad too large", "2-D input", "too small",
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


def test_a_dout_of_the_wrong_shape_is_refused() -> None:
    """backward wants dout of the output's shape."""
    layer = Pooling(2, 2, stride=2)
    layer.forward(np.ones((1, 1, 4, 4)))
    assert_error(
        ShapeError,
        lambda: layer.backward(np.ones((1, 1, 4, 4))),
        callee="Pooling.backward",
        expected="`dout` of shape (1, 1, 2, 2)",
        got="(1, 1, 4, 4)",
    )

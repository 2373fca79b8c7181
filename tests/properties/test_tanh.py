"""Tanh-specific properties: the forward is np.tanh, and the gradient is accurate in both tails."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Tanh, tanh
from bpcore import strategies as bst

SHAPES = bst.batch_shapes(max_feature_dims=2)
DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


def _sech_squared(x: float) -> float:
    """``1 / cosh(x)²`` with ``math``, as ``(2e / (1 + e²))²`` for ``e = exp(-|x|)``."""
    e = math.exp(-abs(x))
    return (2 * e / (1 + e * e)) ** 2


@given(data=st.data(), dtype=DTYPES)
def test_tanh_forward_is_numpy_tanh_bit_for_bit(data: st.DataObject, dtype: np.dtype) -> None:
    """The layer and the function both return np.tanh(x), in x's dtype."""
    big = float(np.finfo(dtype).max)
    x = data.draw(bst.float_arrays(shape=SHAPES, dtype=dtype, min_value=-big, max_value=big))
    expected = np.tanh(x)
    layer_y = Tanh().forward(x)
    assert layer_y.dtype == dtype
    assert layer_y.tobytes() == expected.tobytes()
    assert tanh(x).tobytes() == expected.tobytes()


@given(x=st.floats(-350.0, 350.0), dtype=DTYPES)
def test_tanh_gradient_keeps_its_relative_accuracy_in_both_tails(x: float, dtype: np.dtype) -> None:
    """backward(1) is sech²(x) to a few ulps for every |x| <= 350, where 1 - y² is 0 or noise."""
    xd = np.asarray(x, dtype=dtype)
    exact = _sech_squared(float(xd))
    layer = Tanh()
    layer.forward(xd)
    got = float(layer.backward(np.asarray(1.0, dtype=dtype)))
    # Ours: exp, 1 + e, the square and the quotient round once each (exp within 2 units of
    # roundoff): at most 7u relative; the math reference the same again; 16u bounds both.
    # Where sech² underflows the dtype's normal range, its subnormal spacing bounds instead.
    u = float(np.finfo(dtype).eps) / 2
    tiny = float(np.finfo(dtype).smallest_subnormal)
    assert abs(got - exact) <= 16 * u * exact + 4 * tiny


@given(data=st.data())
def test_tanh_is_finite_without_warnings_for_any_finite_input(data: st.DataObject) -> None:
    """Any finite input, ±1.7e308 included, gives outputs in [-1, 1] and gradients in [0, 1]."""
    x = data.draw(bst.float_arrays(shape=SHAPES, min_value=-1.7e308, max_value=1.7e308))
    layer = Tanh()
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    assert np.all(np.abs(y) <= 1)
    assert np.all((dx >= 0) & (dx <= 1))


def test_tanh_slope_never_exceeds_one_near_zero() -> None:
    """Near 0, where sech² = 4e/(1+e)² rounds to one ulp above 1, the slope is 1 - y²,
    which is at most 1 (a nightly run drew x = 1.738e-15)."""
    for dtype in (np.float64, np.float32):
        x = np.array([1.73803448e-15, 1e-300, -1e-8, 0.0, 3e-3], dtype=dtype)
        layer = Tanh()
        layer.forward(x)
        slope = layer.backward(np.ones_like(x))
        assert np.all(slope <= 1)
        assert np.all(slope >= 1 - 1e-5)  # 1 - tanh(3e-3)² ≈ 1 - 9e-6

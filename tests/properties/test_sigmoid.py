"""Sigmoid-specific properties: symmetry, an independent oracle, no warnings anywhere."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Sigmoid, sigmoid
from bpcore import strategies as bst

SHAPES = bst.batch_shapes(max_feature_dims=2)
ANY_FINITE = st.floats(allow_nan=False, allow_infinity=False)
U64 = float(np.finfo(np.float64).eps) / 2
FLOAT_DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


@given(x=ANY_FINITE)
def test_sigmoid_symmetry(x: float) -> None:
    """σ(-x) = 1 - σ(x) to within the rounding of the subtraction (2 ulps of 1)."""
    total = float(sigmoid(np.array(-x))) + float(sigmoid(np.array(x)))
    assert abs(total - 1.0) <= 4 * U64


@given(x=st.floats(-700, 700))
def test_sigmoid_matches_an_independent_oracle(x: float) -> None:
    """sigmoid agrees with 1 / (1 + e^{-x}) evaluated by the math module, to a few ulps."""
    # math.exp(-x) overflows beyond 709, so the oracle's domain stops at ±700; each of
    # exp, the addition and the division rounds once: 4 units of roundoff relative.
    oracle = 1.0 / (1.0 + math.exp(-x))
    assert math.isclose(float(sigmoid(np.array(x))), oracle, rel_tol=8 * U64, abs_tol=0.0)


@given(data=st.data())
def test_sigmoid_layer_is_finite_without_warnings_for_any_finite_input(
    data: st.DataObject,
) -> None:
    """Any finite input, ±1e308 included, gives finite outputs and gradients, warning-free."""
    x = data.draw(bst.float_arrays(shape=SHAPES, min_value=-1.7e308, max_value=1.7e308))
    layer = Sigmoid()
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(y))
    assert np.all((y >= 0) & (y <= 1))
    assert np.all(np.isfinite(dx))
    assert np.all(dx >= 0)


def _slope(x: float) -> float:
    """``σ(x)·(1 - σ(x)) = e / (1 + e)²`` with ``math``, for ``e = exp(-|x|)``."""
    e = math.exp(-abs(x))
    return e / (1 + e) ** 2


@given(x=st.floats(-750.0, 750.0), dtype=FLOAT_DTYPES)
def test_sigmoid_gradient_keeps_its_relative_accuracy_in_both_tails(
    x: float, dtype: np.dtype
) -> None:
    """backward(1) is σ(x)·(1 - σ(x)) to a few ulps for every |x| <= 750, in float32 and
    float64: in the right tail, where the book's 1 - y is 0, as well as in the left."""
    xd = np.asarray(x, dtype=dtype)
    exact = _slope(float(xd))
    layer = Sigmoid()
    layer.forward(xd)
    got = layer.backward(np.asarray(1.0, dtype=dtype))
    assert got.dtype == dtype
    # Ours: exp (within 2 units of roundoff), 1 + e and a quotient for each of y and 1 - y,
    # then two products: at most 10u relative; the math reference about 6u. Where the slope
    # underflows the dtype's normal range, its subnormal spacing bounds instead.
    u = float(np.finfo(dtype).eps) / 2
    tiny = float(np.finfo(dtype).smallest_subnormal)
    assert abs(float(got) - exact) <= 16 * u * exact + 4 * tiny

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

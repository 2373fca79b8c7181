"""ReLU-specific properties: the exact mask at the kink, and an independent oracle for the
layer and for the function."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Relu, relu
from bpcore import strategies as bst

SHAPES = bst.batch_shapes(max_feature_dims=2)


@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32]))
def test_relu_backward_mask_is_exact_at_and_around_zero(
    data: st.DataObject, dtype: type[np.floating]
) -> None:
    """Backward is bitwise 0 where x <= 0 (0.0 and -0.0 included) and bitwise dout where x > 0."""
    x = data.draw(bst.kink_arrays(shape=SHAPES, dtype=dtype))
    dout = data.draw(bst.upstream_gradients(shape=x.shape, dtype=dtype))
    layer = Relu()
    layer.forward(x)
    dx = layer.backward(dout)
    positive = x > 0
    assert np.array_equal(dx[positive].view(np.uint8), dout[positive].view(np.uint8))
    zeros = dx[~positive]
    assert np.all(zeros == 0)
    assert not np.any(np.signbit(zeros)), "the masked gradient is +0.0, never -0.0 or dout"


@given(data=st.data())
def test_relu_forward_matches_numpy_maximum(data: st.DataObject) -> None:
    """Forward equals the oracle np.maximum(x, 0) everywhere, kinks included."""
    x = data.draw(bst.kink_arrays(shape=SHAPES))
    np.testing.assert_array_equal(Relu().forward(x), np.maximum(x, 0.0))


@given(x=bst.float_arrays(shape=SHAPES, min_value=-1e6, max_value=1e6))
def test_relu_function_is_max_with_zero(x: np.ndarray) -> None:
    """relu(x) equals np.maximum(x, 0) everywhere, including on (0, 1)."""
    np.testing.assert_array_equal(relu(x), np.maximum(x, 0.0))

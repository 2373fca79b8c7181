"""Each formula has one home: the functional ops and the layers give the same bits."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Relu, Sigmoid, SoftmaxWithLoss, relu, sigmoid, softmax
from bpcore import strategies as bst

SHAPES = bst.batch_shapes(max_feature_dims=2)
DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


@given(data=st.data(), dtype=DTYPES)
def test_relu_function_and_layer_agree_bit_for_bit(data: st.DataObject, dtype: np.dtype) -> None:
    """relu(x) and Relu().forward(x) are the same array, -0.0 and NaN included."""
    x = data.draw(bst.float_arrays(shape=SHAPES, dtype=dtype, kinks=(0.0,)))
    x.flat[0] = -0.0
    assert relu(x).tobytes() == Relu().forward(x).tobytes()
    expected = np.where(x <= 0, dtype.type(0), x)
    assert relu(x).tobytes() == expected.tobytes()


@given(data=st.data(), dtype=DTYPES)
def test_sigmoid_function_and_layer_agree_bit_for_bit(data: st.DataObject, dtype: np.dtype) -> None:
    """sigmoid(x) and Sigmoid().forward(x) are the same array."""
    x = data.draw(bst.float_arrays(shape=SHAPES, dtype=dtype, min_value=-1e3, max_value=1e3))
    assert sigmoid(x).tobytes() == Sigmoid().forward(x).tobytes()


@given(data=st.data(), dtype=DTYPES)
def test_softmax_is_the_loss_layers_y_bit_for_bit(data: st.DataObject, dtype: np.dtype) -> None:
    """softmax(x) is bit for bit the y a SoftmaxWithLoss forward keeps, for any logits."""
    n, c = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    magnitudes = [m for m in bst.EXTREME_MAGNITUDES if m <= float(np.finfo(dtype).max)]
    transposed = data.draw(st.booleans())  # a strided layout must give the same bits
    drawn = data.draw(
        bst.logits(shape=(c, n) if transposed else (n, c), dtype=dtype, magnitudes=magnitudes)
    )
    x = drawn.T if transposed else drawn
    t = np.zeros(n, dtype=np.intp)
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    assert layer.y is not None
    assert softmax(x).tobytes() == layer.y.tobytes()

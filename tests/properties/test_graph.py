"""Mul/Add properties: broadcast gradients reduce to each operand's shape."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import AddLayer, MulLayer
from bpcore import strategies as bst
from tests.helpers import sum_to

U64 = float(np.finfo(np.float64).eps) / 2


@given(data=st.data())
def test_broadcast_gradients_reduce_to_operand_shapes(data: st.DataObject) -> None:
    """dx and dy have the operands' shapes and equal the oracle sums of dout·y and dout·x."""
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    x = data.draw(bst.float_arrays(shape=shapes.input_shapes[0]))
    y = data.draw(bst.float_arrays(shape=shapes.input_shapes[1]))
    dout = data.draw(bst.upstream_gradients(shape=shapes.result_shape))
    size = max(1, int(np.prod(shapes.result_shape)))
    for layer, oracle_x, oracle_y in (
        (MulLayer(), dout * y, dout * x),
        (AddLayer(), dout, dout),
    ):
        layer.forward(x, y)
        dx, dy = layer.backward(dout)
        assert dx.shape == x.shape
        assert dy.shape == y.shape
        # The oracle sums the broadcast copies by brute force; a sum of `size` terms
        # rounds by at most size·u relative to the sum of their magnitudes.
        for got, full, shape in ((dx, oracle_x, x.shape), (dy, oracle_y, y.shape)):
            expected = sum_to(np.broadcast_to(full, shapes.result_shape), shape)
            bound = size * U64 * sum_to(np.abs(np.broadcast_to(full, shapes.result_shape)), shape)
            assert np.all(np.abs(got - expected) <= bound)

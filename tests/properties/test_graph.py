"""Mul/Add properties: broadcast gradients reduce to each operand's shape, in each operand's
dtype, at the precision of the operands' promoted dtype."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import AddLayer, MulLayer
from bpcore import strategies as bst
from tests.helpers import sum_to

U64 = float(np.finfo(np.float64).eps) / 2

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

every_dtype_pair = pytest.mark.parametrize(
    "dtypes",
    list(itertools.product(FLOAT_DTYPES, repeat=2)),
    ids=lambda dtypes: "-".join(d.name for d in dtypes),
)


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


@st.composite
def graph_operands(
    draw: st.DrawFn, dtypes: tuple[np.dtype, np.dtype]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast-compatible ``x`` and ``y`` of ``dtypes``, and a float64 ``dout``."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    x = draw(bst.float_arrays(shape=shapes.input_shapes[0], dtype=dtypes[0]))
    y = draw(bst.float_arrays(shape=shapes.input_shapes[1], dtype=dtypes[1]))
    dout = draw(bst.upstream_gradients(shape=shapes.result_shape))
    return x, y, dout


@every_dtype_pair
@given(data=st.data())
def test_graph_gradients_keep_operand_dtypes_at_the_promoted_precision(
    dtypes: tuple[np.dtype, np.dtype], data: st.DataObject
) -> None:
    """Mul/Add send each operand its gradient in the operand's own dtype, computed at the
    precision of the two operands' promoted dtype."""
    x, y, dout = data.draw(graph_operands(dtypes))
    promoted = np.result_type(x, y)
    u = float(np.finfo(promoted).eps) / 2
    d = dout.astype(promoted).astype(np.float64)
    size = max(1, d.size)
    for layer, terms_x, terms_y in (
        (MulLayer(), d * y.astype(np.float64), d * x.astype(np.float64)),
        (AddLayer(), d, d),
    ):
        layer.forward(x, y)
        dx, dy = layer.backward(dout)
        for got, operand, terms in ((dx, x, terms_x), (dy, y, terms_y)):
            assert got.dtype == operand.dtype
            assert got.shape == operand.shape
            expected = sum_to(np.broadcast_to(terms, d.shape), operand.shape)
            magnitude = sum_to(np.abs(np.broadcast_to(terms, d.shape)), operand.shape)
            # The layer rounds one product and size - 1 additions in the promoted dtype, the
            # oracle as many in float64 (whose u is no larger): 2·size·u relative to
            # Σ|terms|. Every rounding also errs by up to half the smallest subnormal η
            # of its dtype when the value underflows: size·η/2 for the promoted dtype,
            # then the cast to the operand's dtype rounds once more, u_out·|v| + η_out/2.
            out = np.finfo(operand.dtype)
            u_out = float(out.eps) / 2
            eta = float(np.finfo(promoted).smallest_subnormal)
            bound = (
                2 * size * u * magnitude
                + size * eta / 2
                + u_out * np.abs(expected)
                + float(out.smallest_subnormal) / 2
            )
            assert np.all(np.abs(got.astype(np.float64) - expected) <= bound)


@every_dtype_pair
@given(data=st.data())
def test_graph_backward_uses_dout_at_the_promoted_precision(
    dtypes: tuple[np.dtype, np.dtype], data: st.DataObject
) -> None:
    """A float64 dout gives bit for bit the gradients of that dout rounded to the operands'
    promoted dtype: a float32 graph computes in float32."""
    x, y, dout = data.draw(graph_operands(dtypes))
    rounded = dout.astype(np.result_type(x, y))
    for layer_type in (MulLayer, AddLayer):
        layer = layer_type()
        layer.forward(x, y)
        from_float64 = layer.backward(dout)
        from_rounded = layer.backward(rounded)
        for a, b in zip(from_float64, from_rounded, strict=True):
            assert a.tobytes() == b.tobytes()

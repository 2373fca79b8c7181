"""Properties that mutation testing found unchecked (see docs/mutation-testing.md).

Each property states a behaviour that a surviving mutant of ``nox -s mutants`` broke
without any other test noticing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import AddLayer, Affine, MulLayer, relu
from bpcore import strategies as bst
from tests.helpers import sum_to

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _dtype_names(dtypes: tuple[np.dtype, ...]) -> str:
    return "-".join(d.name for d in dtypes)


every_dtype_pair = pytest.mark.parametrize(
    "dtypes", list(itertools.product(FLOAT_DTYPES, repeat=2)), ids=_dtype_names
)
every_dtype_triple = pytest.mark.parametrize(
    "dtypes", list(itertools.product(FLOAT_DTYPES, repeat=3)), ids=_dtype_names
)
SHAPES = bst.batch_shapes(max_feature_dims=2)


@given(x=bst.float_arrays(shape=SHAPES, min_value=-1e6, max_value=1e6))
def test_relu_function_is_max_with_zero(x: np.ndarray) -> None:
    """relu(x) equals np.maximum(x, 0) everywhere, including on (0, 1)."""
    np.testing.assert_array_equal(relu(x), np.maximum(x, 0.0))


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


@st.composite
def mixed_affine_cases(
    draw: st.DrawFn, dtypes: tuple[np.dtype, np.dtype, np.dtype]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(W, b, x, dout)`` for an Affine layer, with W, b and x of ``dtypes``."""
    W, b, x = draw(bst.affine_cases())
    W, b, x = W.astype(dtypes[0]), b.astype(dtypes[1]), x.astype(dtypes[2])
    dout = draw(bst.upstream_gradients(shape=(x.shape[0], W.shape[1])))
    return W, b, x, dout


def _rounding_bound(
    terms: int,
    magnitude: np.ndarray,
    expected: np.ndarray,
    computed: np.dtype,
    out: np.dtype,
) -> np.ndarray:
    """How far a sum of ``terms`` products, computed in ``computed`` and cast to ``out``, may
    stray from the float64 oracle: ``terms`` roundings in each of the two computations
    (``2·terms·u`` relative to the sum of magnitudes; float64's ``u`` is no larger), up to
    ``η/2`` each for underflow, then the cast, ``u_out·|v| + η_out/2``."""
    c, o = np.finfo(computed), np.finfo(out)
    bound: np.ndarray = (
        2 * terms * float(c.eps) / 2 * magnitude
        + terms * float(c.smallest_subnormal) / 2
        + float(o.eps) / 2 * np.abs(expected)
        + float(o.smallest_subnormal) / 2
    )
    return bound


@every_dtype_triple
@given(data=st.data())
def test_affine_gradients_keep_their_dtypes_at_the_promoted_precision(
    dtypes: tuple[np.dtype, np.dtype, np.dtype], data: st.DataObject
) -> None:
    """With any mix of float32 and float64 among x, W and b, dx, dW and db come back in the
    dtypes of x, W and b, computed at the precision of the three's promoted dtype."""
    W, b, x, dout = data.draw(mixed_affine_cases(dtypes))
    promoted = np.result_type(x, W, b)
    layer = Affine(W, b)
    out = layer.forward(x)
    assert out.dtype == promoted
    dx = layer.backward(dout)
    assert layer.dW is not None
    assert layer.db is not None
    assert (dx.dtype, layer.dW.dtype, layer.db.dtype) == (x.dtype, W.dtype, b.dtype)
    n, m = dout.shape
    d = dout.astype(promoted).astype(np.float64)
    x2 = x.reshape(n, -1).astype(np.float64)
    w = W.astype(np.float64)
    checks = (
        (layer.dW, x2.T @ d, np.abs(x2).T @ np.abs(d), n),
        (layer.db, d.sum(axis=0), np.abs(d).sum(axis=0), n),
        (dx.reshape(n, -1), d @ w.T, np.abs(d) @ np.abs(w).T, m),
    )
    for got, expected, magnitude, terms in checks:
        bound = _rounding_bound(terms, magnitude, expected, promoted, got.dtype)
        assert np.all(np.abs(got.astype(np.float64) - expected) <= bound)


@every_dtype_triple
@given(data=st.data())
def test_affine_backward_uses_dout_at_the_promoted_precision(
    dtypes: tuple[np.dtype, np.dtype, np.dtype], data: st.DataObject
) -> None:
    """A float64 dout gives bit for bit the gradients of that dout rounded to the promoted
    dtype of x, W and b: an all-float32 Affine computes its backward in float32."""
    W, b, x, dout = data.draw(mixed_affine_cases(dtypes))
    results = []
    for d in (dout, dout.astype(np.result_type(x, W, b))):
        layer = Affine(W, b)
        layer.forward(x)
        dx = layer.backward(d)
        assert layer.dW is not None
        assert layer.db is not None
        results.append(b"".join(a.tobytes() for a in (dx, layer.dW, layer.db)))
    assert results[0] == results[1]

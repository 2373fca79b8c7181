"""Affine-specific properties: the book's gradient formulas, N-D input shapes, and the dtypes
and precision of the gradients for any mix of float32 and float64 among x, W and b."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Affine
from bpcore import strategies as bst

U64 = float(np.finfo(np.float64).eps) / 2

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

every_dtype_triple = pytest.mark.parametrize(
    "dtypes",
    list(itertools.product(FLOAT_DTYPES, repeat=3)),
    ids=lambda dtypes: "-".join(d.name for d in dtypes),
)


@given(case=bst.affine_cases(), data=st.data())
def test_affine_parameter_gradients_are_the_book_formulas(
    case: tuple[np.ndarray, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    """dW equals xᵀ·dout and db the column sums of dout, with x flattened to (N, D)."""
    W, b, x = case
    layer = Affine(W, b)
    out = layer.forward(x)
    dout = data.draw(bst.upstream_gradients(shape=out.shape))
    layer.backward(dout)
    x2 = x.reshape(x.shape[0], -1)
    grads = layer.grads
    # Both sides sum the same N products, possibly in another order: N·u relative to Σ|terms|.
    n = x.shape[0]
    dw_bound = n * U64 * (np.abs(x2).T @ np.abs(dout))
    db_bound = n * U64 * np.abs(dout).sum(axis=0)
    assert np.all(np.abs(grads["W"] - x2.T @ dout) <= dw_bound)
    assert np.all(np.abs(grads["b"] - dout.sum(axis=0)) <= db_bound)


@given(case=bst.affine_cases(max_feature_dims=3))
def test_affine_nd_inputs_round_trip_their_shape(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """An (N, d1, ..., dk) input gives an (N, M) output and a dx of the input's shape."""
    W, b, x = case
    layer = Affine(W, b)
    out = layer.forward(x)
    assert out.shape == (x.shape[0], W.shape[1])
    assert layer.backward(np.ones_like(out)).shape == x.shape


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
def test_affine_forward_is_x_w_plus_b_for_any_dtype_mix(
    dtypes: tuple[np.dtype, np.dtype, np.dtype], data: st.DataObject
) -> None:
    """With any mix of float32 and float64 among x, W and b, forward gives x·W + b in the
    promoted dtype: x·W rounded as a length-d_in sum in the dtype of x and W, then b
    added in the promoted dtype (the cast term of the bound)."""
    W, b, x, _ = data.draw(mixed_affine_cases(dtypes))
    out = Affine(W, b).forward(x)
    assert out.dtype == np.result_type(x, W, b)
    n = x.shape[0]
    x2 = x.reshape(n, -1).astype(np.float64)
    w, b64 = W.astype(np.float64), b.astype(np.float64)
    expected = x2 @ w + b64
    magnitude = np.abs(x2) @ np.abs(w) + np.abs(b64)
    product = np.result_type(x, W)
    bound = _rounding_bound(w.shape[0], magnitude, expected, product, out.dtype)
    assert np.all(np.abs(out.astype(np.float64) - expected) <= bound)


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


@given(data=st.data(), dtype=st.sampled_from(FLOAT_DTYPES))
def test_affine_keeps_the_book_formulas_at_large_batches(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """For batches of up to 5000 samples, in float32 and float64: y = x·W + b, dx = dout·Wᵀ,
    dW = xᵀ·dout and db = Σ_n dout[n], each within the rounding of its own sum, all in the
    dtype; and dx has x's shape."""
    n = data.draw(st.integers(1, 5000))
    d_in, d_out = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    W = rng.standard_normal((d_in, d_out)).astype(dtype)
    b = rng.standard_normal(d_out).astype(dtype)
    x = rng.standard_normal((n, d_in)).astype(dtype)
    dout = rng.standard_normal((n, d_out)).astype(dtype)
    layer = Affine(W, b)
    y = layer.forward(x)
    dx = layer.backward(dout)
    grads = layer.grads
    assert y.dtype == dx.dtype == grads["W"].dtype == grads["b"].dtype == dtype
    assert dx.shape == x.shape
    x64, W64, b64, d64 = (a.astype(np.float64) for a in (x, W, b, dout))
    u = float(np.finfo(dtype).eps) / 2
    # Each result is a sum of k terms (products, and the bias) computed in the dtype: k·u
    # relative to the sum of their magnitudes; the float64 reference errs by k·u64 likewise.
    for got, expected, size, k in (
        (y, x64 @ W64 + b64, np.abs(x64) @ np.abs(W64) + np.abs(b64), d_in + 1),
        (dx, d64 @ W64.T, np.abs(d64) @ np.abs(W64.T), d_out),
        (grads["W"], x64.T @ d64, np.abs(x64.T) @ np.abs(d64), n),
        (grads["b"], d64.sum(axis=0), np.abs(d64).sum(axis=0), n),
    ):
        assert np.all(np.abs(got - expected) <= k * (u + U64) * size)

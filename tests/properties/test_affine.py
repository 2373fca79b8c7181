"""Affine-specific properties: the book's gradient formulas and N-D input shapes."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Affine
from bpcore import strategies as bst

U64 = float(np.finfo(np.float64).eps) / 2


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

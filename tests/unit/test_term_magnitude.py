"""term_magnitude: the size of the terms a backward sums into each gradient element."""

from __future__ import annotations

import numpy as np
import pytest

from bpcore import Affine
from bpcore.gradcheck import EXACT_TERMS_LIMIT, term_magnitude, unary


def _affine_case(n: int, seed: int) -> tuple[Affine, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """An Affine layer, a point, a dout of n rows, and the exact term sizes by name.

    With ``y = x·W + b``: ``dx[n, i] = Σ_k dout[n, k]·W[i, k]``,
    ``dW[i, k] = Σ_n x[n, i]·dout[n, k]`` and ``db[k] = Σ_n dout[n, k]``; each sum's terms
    have the sizes below.
    """
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x, dout = rng.standard_normal((n, 4)), rng.standard_normal((n, 3))
    exact = {
        "x": np.abs(dout) @ np.abs(W).T,
        "W": np.abs(x).T @ np.abs(dout),
        "b": np.sum(np.abs(dout), axis=0),
    }
    return Affine(W, b), x, dout, exact


def test_up_to_the_limit_the_term_sizes_are_exact() -> None:
    """For a dout of at most EXACT_TERMS_LIMIT elements, each term is summed on its own."""
    layer, x, dout, exact = _affine_case(n=EXACT_TERMS_LIMIT // 3, seed=0)
    assert dout.size <= EXACT_TERMS_LIMIT
    subject = unary(lambda _: layer, params=("W", "b"))(np.dtype(np.float64))
    sizes = term_magnitude(subject, {"x": x}, dout)
    assert set(sizes) == {"x", "W", "b"}
    for name, size in sizes.items():
        assert size.dtype == np.float64
        assert size.shape == exact[name].shape
        # Sums of at most 64 non-negative float64 terms, in two orders: 64·u64 relative.
        np.testing.assert_allclose(size, exact[name], rtol=64 * np.finfo(np.float64).eps)


def test_the_sizes_are_larger_than_a_cancelling_gradient() -> None:
    """Where the terms cancel, |g| is far below the size of its terms: dout = (1, -1) on a
    layer whose two outputs are equal gives dx = 0 from terms of size 2·|W|."""
    layer = Affine(np.array([[2.0, 2.0]]), np.zeros(2))
    subject = unary(lambda _: layer, params=("W", "b"))(np.dtype(np.float64))
    sizes = term_magnitude(subject, {"x": np.array([[1.0]])}, np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(sizes["x"], [[4.0]])
    layer.forward(np.array([[1.0]]))
    assert layer.backward(np.array([[1.0, -1.0]])).tolist() == [[0.0]]


@pytest.mark.parametrize("seed", range(3))
def test_beyond_the_limit_the_sizes_are_estimated_from_below(seed: int) -> None:
    """For a larger dout, the estimate lies between |backward(|dout|)| and the exact sizes:
    each sign pattern's |backward| is at most the sum of its terms' sizes."""
    layer, x, dout, exact = _affine_case(n=40, seed=seed)
    assert dout.size > EXACT_TERMS_LIMIT
    subject = unary(lambda _: layer, params=("W", "b"))(np.dtype(np.float64))
    sizes = term_magnitude(subject, {"x": x}, dout)
    subject.forward({"x": x})
    floor = subject.backward(np.abs(dout))
    slack = 1 + 64 * float(np.finfo(np.float64).eps)
    for name, size in sizes.items():
        assert np.all(size >= np.abs(floor[name]))
        assert np.all(size <= exact[name] * slack)

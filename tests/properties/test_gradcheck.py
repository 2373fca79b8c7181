"""Properties of the verification engine's public helpers: numerical_gradient on inputs of any
shape and real dtype."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import strategies as bst
from bpcore._arrays import FloatArray
from bpcore.gradcheck import default_step, numerical_gradient

U64 = float(np.finfo(np.float64).eps) / 2
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32, np.int32]))
def test_numerical_gradient_is_float64_of_xs_shape_and_restores_x(
    data: st.DataObject, dtype: type[np.generic]
) -> None:
    """For x of any shape (0-d included) and of float64, float32 or integer dtype, the result
    is a float64 array of x's shape, here the gradient 2x of Σ x², and x is left bit for bit
    as it was; a closure that reads x itself sees every step."""
    if dtype is np.int32:
        x = data.draw(hnp.arrays(np.int32, SHAPES, elements=st.integers(-50, 50)))
    else:
        x = data.draw(bst.float_arrays(shape=SHAPES, dtype=dtype))
    before = x.tobytes()
    closure = data.draw(st.booleans()) and x.dtype.kind == "f"

    def f(w: FloatArray) -> float:
        values = x if closure else w
        return float(np.sum(np.asarray(values, dtype=np.float64) ** 2))

    grad = numerical_gradient(f, x)
    assert grad.dtype == np.float64
    assert grad.shape == x.shape
    assert x.tobytes() == before
    # For a quadratic the quotient ((x + h)² - (x - h)²) / τ is x⁺ + x⁻ exactly, where x± are
    # x ± h as stored in x's dtype (within u_d·(|x| + h) of it, twice); each of the two sums
    # of n squares rounds by n·u64·Σx², divided by the step τ ≈ 2h.
    x64 = x.astype(np.float64)
    step = default_step(x64, np.dtype(np.float64) if x.dtype.kind != "f" else x.dtype)
    u = float(np.finfo(x.dtype).eps) / 2 if x.dtype.kind == "f" else U64
    n = max(x.size, 1) + 4
    sum_of_squares = float(np.sum((np.abs(x64) + step) ** 2))
    bound = 2 * u * (np.abs(x64) + step) + 2 * n * U64 * sum_of_squares / step
    assert np.all(np.abs(grad - 2 * x64) <= bound)

"""Properties that mutation testing found unchecked (see docs/mutation-testing.md).

Each property states a behaviour that a surviving mutant of ``nox -s mutants`` broke
without any other test noticing.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import strategies as bst
from bpcore.gradcheck import default_step

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

SHAPES = bst.batch_shapes(max_feature_dims=2)


@given(
    values=bst.float_arrays(shape=SHAPES, min_value=-1e6, max_value=1e6),
    dtype=st.sampled_from(FLOAT_DTYPES),
)
def test_default_step_is_cbrt_eps_times_the_magnitude(values: np.ndarray, dtype: np.dtype) -> None:
    """The default central-difference step is cbrt(eps)·max(1, |x_i|) for the dtype f
    computes in, as a float64 array, whatever the dtype of the values."""
    root_eps = float(np.cbrt(np.finfo(dtype).eps))
    for given_values in (values, values.astype(np.float32)):
        step = default_step(given_values, dtype)
        assert step.dtype == np.float64
        expected = root_eps * np.maximum(1.0, np.abs(given_values.astype(np.float64)))
        # One float64 product on each side: within one unit roundoff, relative.
        np.testing.assert_allclose(step, expected, rtol=float(np.finfo(np.float64).eps), atol=0)

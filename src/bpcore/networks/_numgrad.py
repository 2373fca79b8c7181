"""Central-difference gradients of a scalar function of an array, perturbed in place."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray


def central_difference(f: Callable[[], float], param: FloatArray) -> npt.NDArray[np.float64]:
    """Estimate ``∂f/∂param`` element by element with central differences.

    For each element ``p`` the step is ``h = cbrt(eps) · max(1, |p|)`` in ``param``'s
    dtype: it balances the ``O(h²·|f'''|)`` truncation error of the central difference
    against the ``O(eps·|f| / h)`` rounding error of subtracting two nearby values of
    ``f``, making both ``O(eps^(2/3))``. The estimate is
    ``(f(p⁺) - f(p⁻)) / (p⁺ - p⁻)`` where ``p± = p ± h`` rounded to the dtype.

    ``f`` must read ``param`` (callers hand it arrays that layers hold by
    reference), so each element is written *in place* and restored, bit for bit,
    even if ``f`` raises. The result has ``param``'s shape and dtype float64.
    """
    grad = np.zeros(param.shape, dtype=np.float64)
    root_eps = float(np.cbrt(np.finfo(param.dtype).eps))
    for index in np.ndindex(param.shape):
        original = param[index]
        value = float(original)
        step = root_eps * max(1.0, abs(value))
        try:
            param[index] = value + step
            # Divide by the steps the dtype actually took, not by 2h: in float32,
            # p + h rounds, and dividing by the unrounded 2h would bias every estimate.
            upper = float(param[index])
            f_upper = f()
            param[index] = value - step
            lower = float(param[index])
            f_lower = f()
        finally:
            param[index] = original
        grad[index] = (f_upper - f_lower) / (upper - lower)
    return grad

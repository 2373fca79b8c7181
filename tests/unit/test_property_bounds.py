"""The generic properties' rounding bounds at the edges that random search has found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from hypothesis import strategies as st

from bpcore import properties as props
from bpcore.registry import Case, registered

SPECS = {spec.name: spec for spec in registered()}


class _Scripted:
    """A ``draw`` that hands out fixed values in order, whatever strategy it is given."""

    def __init__(self, *values: Any) -> None:
        self._values: Iterator[Any] = iter(values)

    def __call__(self, strategy: st.SearchStrategy[Any], /) -> Any:
        return next(self._values)


def test_batch_independence_allows_for_underflow() -> None:
    """A sigmoid network whose last weights are 1e-300 has parameter gradients that
    underflow: reordering the batch moves dW2 by one subnormal, which the property's
    n·η term admits (n·u·|dW2| alone rounds to 0)."""
    spec = SPECS["MultiLayerNet-sigmoid"]
    params = {
        "W1": np.array([[0.5, 0.0]]),
        "b1": np.zeros(2),
        "W2": np.ones((2, 2)),
        "b2": np.zeros(2),
        "W3": np.full((2, 3), 1e-300),
        "b3": np.zeros(3),
    }
    case = Case(
        spec=spec,
        params=params,
        inputs={"x": np.array([[1.0], [1.0], [0.0], [1.0]])},
        target=np.zeros(4, dtype=np.intp),
    )
    draw = _Scripted(np.dtype(np.float64), [0, 1, 3, 2], np.array(1.0))
    # The permutation really does move dW2, by less than a normal number can: this is
    # the case the bound's underflow term exists for.
    subject = case.subject()
    subject.forward(case.inputs)
    dW2 = subject.backward(np.array(1.0))["W2"]
    assert 0 < float(np.max(np.abs(dW2))) < float(np.finfo(np.float64).tiny)
    assert props.batch_independent(case, draw) >= 0.0

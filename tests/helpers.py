"""Small helpers that several test modules share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def sum_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Brute-force oracle: sum ``a`` down to ``shape``, one broadcast axis at a time."""
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and a.shape[axis] != 1:
            a = a.sum(axis=axis, keepdims=True)
    return a


def raises_exactly(error: type[Exception], message: str, call: Callable[[], object]) -> None:
    """``call()`` raises ``error`` whose whole message is ``message``."""
    with pytest.raises(error) as caught:
        call()
    assert str(caught.value) == message

"""Stochastic gradient descent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import numpy as np

from bpcore._arrays import FloatArray, ieee_arithmetic
from bpcore.errors import ArgumentError
from bpcore.optim._checks import LearningRate, checked_step, require_mapping


@final
class SGD:
    """Plain gradient descent: ``p ← p - lr · g`` for every parameter ``p`` and its gradient ``g``.

    ``params[k]`` is updated in place and ``grads[k]`` is only read; each
    ``grads[k]`` must have the shape of ``params[k]``. SGD keeps no state
    between steps, so one instance may update networks with different
    parameters. A scratch buffer of each parameter's shape and dtype holds
    ``lr · g``, allocated on first use and reused, so steady-state steps
    allocate no arrays.

    Attributes:
        lr: the learning rate, finite and ``> 0`` (assignments are validated).
    """

    lr = LearningRate()
    _lr: float
    _scratch: dict[str, FloatArray]

    def __init__(self, lr: float = 0.01) -> None:
        """Create the optimizer; ``lr`` must be finite and ``> 0``."""
        self.lr = lr
        self._scratch = {}

    def state_dict(self) -> dict[str, FloatArray]:
        """SGD keeps no state between steps: always ``{}``."""
        return {}

    def load_state_dict(self, state: Mapping[str, FloatArray]) -> None:
        """Accept only the empty state that :meth:`state_dict` returns."""
        require_mapping(state, where="SGD.load_state_dict", name="state")
        if state:
            raise ArgumentError(
                f"SGD.load_state_dict: expected an empty state, got keys {sorted(state)}."
            )

    def __repr__(self) -> str:
        return f"SGD(lr={self._lr!r})"

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        """Set ``params[k] -= lr * grads[k]`` in place for every key ``k``."""
        with ieee_arithmetic():
            step = checked_step(params, grads, where="SGD.update")
            if self._scratch.keys() != params.keys():
                # Keep buffers only for the current parameters, so alternating
                # between networks cannot grow the cache without bound.
                self._scratch = {k: s for k, s in self._scratch.items() if k in params}
            for key, p, g in step:
                s = self._scratch.get(key)
                if s is None or s.shape != p.shape or s.dtype != p.dtype:
                    s = np.empty_like(p)
                    self._scratch[key] = s
                np.multiply(g, self._lr, out=s)
                np.subtract(p, s, out=p)

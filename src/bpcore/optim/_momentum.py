"""Gradient descent with (heavy-ball) momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import numpy as np

from bpcore._arrays import FloatArray, ieee_arithmetic
from bpcore.optim._checks import LearningRate, Slots, checked_step, readonly_view, unit_interval


@final
class Momentum:
    """Momentum SGD, as in the book:

        v ← momentum · v - lr · g
        p ← p + v

    with one velocity ``v`` per parameter, of its shape and dtype, starting at
    zero. ``params[k]`` is updated in place and ``grads[k]`` is only read.

    The first ``update`` fixes the parameter names, shapes and dtypes: later
    calls must pass the same ones (``ValueError``, :class:`ShapeError` or
    :class:`DtypeError` otherwise). All buffers are allocated on that first
    call and reused.

    Attributes:
        lr: the learning rate, finite and ``> 0`` (assignments are validated).
        momentum: the velocity decay, in ``[0, 1)``.
        v: read-only views of the velocities by parameter name (empty before the first update).
    """

    lr = LearningRate()
    _lr: float
    _momentum: float
    _slots: Slots

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        """Create the optimizer; ``lr`` finite and ``> 0``, ``momentum`` in ``[0, 1)``."""
        self.lr = lr
        self._momentum = unit_interval(momentum, where="Momentum", name="momentum")
        self._slots = Slots("v", "scratch", where="Momentum.update")

    @property
    def momentum(self) -> float:
        """The velocity decay factor."""
        return self._momentum

    @property
    def v(self) -> Mapping[str, FloatArray]:
        """Read-only views of the velocities by parameter name."""
        return readonly_view(self._slots["v"])

    def state_dict(self) -> dict[str, FloatArray]:
        """The velocities as ``{"v/<param>": array}`` copies."""
        return self._slots.export("v")

    def load_state_dict(self, state: Mapping[str, FloatArray]) -> None:
        """Restore velocities saved by :meth:`state_dict`."""
        self._slots.load(state, "v")

    def __repr__(self) -> str:
        return f"Momentum(lr={self._lr!r}, momentum={self._momentum!r})"

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        """Set ``v[k] = momentum * v[k] - lr * grads[k]`` then ``params[k] += v[k]``, in place."""
        with ieee_arithmetic():
            step = checked_step(params, grads, where="Momentum.update")
            self._slots.prepare(step)
            for key, p, g in step:
                v = self._slots["v"][key]
                s = self._slots["scratch"][key]
                np.multiply(g, self._lr, out=s)
                np.multiply(v, self._momentum, out=v)
                np.subtract(v, s, out=v)
                # `p` is written last: a gradient that aliases its parameter is read first.
                np.add(p, v, out=p)

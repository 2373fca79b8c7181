"""AdaGrad: per-coordinate learning rates from accumulated squared gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import numpy as np

from bpcore._arrays import FloatArray, ieee_arithmetic
from bpcore.optim._checks import LearningRate, Slots, checked_step, readonly_view, require_room

_EPS = 1e-7


@final
class AdaGrad:
    """AdaGrad, as in the book (all operations elementwise):

        h ← h + g ⊙ g
        p ← p - lr · g / (√h + 1e-7)

    with one accumulator ``h`` per parameter, of its shape and dtype, starting
    at zero. The ``1e-7`` keeps coordinates whose gradient has always been
    zero from dividing by zero (their step is ``0``). ``params[k]`` is updated
    in place and ``grads[k]`` is only read.

    The first ``update`` fixes the parameter names, shapes and dtypes: later
    calls must pass the same ones (``ValueError``, :class:`ShapeError` or
    :class:`DtypeError` otherwise). All buffers are allocated on that first
    call and reused.

    Attributes:
        lr: the learning rate, finite and ``> 0`` (assignments are validated).
        h: read-only views of the accumulators by parameter name (empty before the first update).
    """

    lr = LearningRate()
    _lr: float
    _slots: Slots

    def __init__(self, lr: float = 0.01) -> None:
        """Create the optimizer; ``lr`` must be finite and ``> 0``."""
        self.lr = lr
        self._slots = Slots("h", "scratch", where="AdaGrad.update")

    @property
    def h(self) -> Mapping[str, FloatArray]:
        """Read-only views of the squared-gradient accumulators by parameter name."""
        return readonly_view(self._slots["h"])

    def state_dict(self) -> dict[str, FloatArray]:
        """The accumulators as ``{"h/<param>": array}`` copies."""
        return self._slots.export("h")

    def load_state_dict(self, state: Mapping[str, FloatArray]) -> None:
        """Restore accumulators saved by :meth:`state_dict`."""
        self._slots.load(state, "h", nonnegative=("h",))

    def __repr__(self) -> str:
        return f"AdaGrad(lr={self._lr!r})"

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        """Set ``h[k] += g*g`` then ``params[k] -= lr * g / (sqrt(h[k]) + 1e-7)``, in place."""
        with ieee_arithmetic():
            step = checked_step(params, grads, where="AdaGrad.update", squares=True)
            self._slots.prepare(step)
            for key, _, g in step:
                require_room(self._slots["h"][key], g, where="AdaGrad.update", key=key)
            for key, p, g in step:
                h = self._slots["h"][key]
                s = self._slots["scratch"][key]
                np.multiply(g, g, out=s)
                np.add(h, s, out=h)
                np.sqrt(h, out=s)
                np.add(s, _EPS, out=s)
                np.divide(g, s, out=s)
                np.multiply(s, self._lr, out=s)
                # `p` is written last: a gradient that aliases its parameter is read first.
                np.subtract(p, s, out=p)

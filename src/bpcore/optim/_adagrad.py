"""AdaGrad: per-coordinate learning rates from accumulated squared gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import numpy as np

from bpcore._arrays import FloatArray
from bpcore.optim._checks import check_state, checked_step, positive_finite, readonly_view

_EPS = 1e-7


@final
class AdaGrad:
    """AdaGrad, as in the book (all operations elementwise)::

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

    _lr: float
    _h: dict[str, FloatArray]
    _scratch: dict[str, FloatArray]
    _started: bool

    def __init__(self, lr: float = 0.01) -> None:
        """Create the optimizer; ``lr`` must be finite and ``> 0``."""
        self._lr = positive_finite(lr, where="AdaGrad", name="lr")
        self._h = {}
        self._scratch = {}
        self._started = False

    @property
    def lr(self) -> float:
        """The learning rate."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = positive_finite(value, where="AdaGrad", name="lr")

    @property
    def h(self) -> Mapping[str, FloatArray]:
        """Read-only views of the squared-gradient accumulators by parameter name."""
        return readonly_view(self._h)

    def __repr__(self) -> str:
        return f"AdaGrad(lr={self._lr!r})"

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        """Set ``h[k] += g*g`` then ``params[k] -= lr * g / (sqrt(h[k]) + 1e-7)``, in place."""
        step = checked_step(params, grads, where="AdaGrad.update")
        if self._started:
            check_state(self._h, step, where="AdaGrad.update")
        else:
            self._h = {key: np.zeros_like(p) for key, p, _ in step}
            self._scratch = {key: np.empty_like(p) for key, p, _ in step}
            self._started = True
        for key, p, g in step:
            h = self._h[key]
            s = self._scratch[key]
            np.multiply(g, g, out=s)
            np.add(h, s, out=h)
            np.sqrt(h, out=s)
            np.add(s, _EPS, out=s)
            np.divide(g, s, out=s)
            np.multiply(s, self._lr, out=s)
            # `p` is written last, so a gradient that aliases its parameter is fully read first.
            np.subtract(p, s, out=p)

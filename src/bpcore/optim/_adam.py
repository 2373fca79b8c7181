"""Adam, in the form the book uses (bias correction folded into the step size)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import final

import numpy as np

from bpcore._arrays import FloatArray, ieee_arithmetic
from bpcore.errors import ArgumentError
from bpcore.optim._checks import (
    LearningRate,
    Slots,
    checked_step,
    readonly_view,
    require_mapping,
    unit_interval,
)

_EPS = 1e-7


@final
class Adam:
    """Adam, as in the book (all array operations elementwise):

        t    ← t + 1
        lr_t = lr · √(1 - beta2ᵗ) / (1 - beta1ᵗ)
        m    ← m + (1 - beta1) · (g - m)
        v    ← v + (1 - beta2) · (g ⊙ g - v)
        p    ← p - lr_t · m / (√v + 1e-7)

    with first and second moments ``m`` and ``v`` per parameter, of its shape
    and dtype, starting at zero, and one step counter ``t`` shared by all
    parameters. Folding the bias corrections into ``lr_t`` equals the paper's
    ``m̂ / (√v̂ + ε')`` with ``ε' = 1e-7 / √(1 - beta2ᵗ)``. ``params[k]`` is
    updated in place and ``grads[k]`` is only read.

    The first ``update`` fixes the parameter names, shapes and dtypes: later
    calls must pass the same ones (``ValueError``, :class:`ShapeError` or
    :class:`DtypeError` otherwise). All buffers are allocated on that first
    call and reused.

    Attributes:
        lr: the learning rate, finite and ``> 0`` (assignments are validated).
        beta1, beta2: the moment decay rates, each in ``[0, 1)``.
        iter: the number of completed updates ``t``.
        m, v: read-only views of the moments by parameter name (empty before the first update).
    """

    lr = LearningRate()
    _lr: float
    _beta1: float
    _beta2: float
    _iter: int
    _slots: Slots

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        """Create the optimizer; ``lr`` finite and ``> 0``, ``beta1``, ``beta2`` in ``[0, 1)``."""
        self.lr = lr
        self._beta1 = unit_interval(beta1, where="Adam", name="beta1")
        self._beta2 = unit_interval(beta2, where="Adam", name="beta2")
        self._iter = 0
        self._slots = Slots("m", "v", "scratch", where="Adam.update")

    @property
    def beta1(self) -> float:
        """The decay rate of the first moment."""
        return self._beta1

    @property
    def beta2(self) -> float:
        """The decay rate of the second moment."""
        return self._beta2

    @property
    def iter(self) -> int:
        """The number of completed updates."""
        return self._iter

    @property
    def m(self) -> Mapping[str, FloatArray]:
        """Read-only views of the first moments by parameter name."""
        return readonly_view(self._slots["m"])

    @property
    def v(self) -> Mapping[str, FloatArray]:
        """Read-only views of the second moments by parameter name."""
        return readonly_view(self._slots["v"])

    def state_dict(self) -> dict[str, FloatArray]:
        """The moments as ``{"m/<param>": ..., "v/<param>": ...}`` copies, and the step count
        as the 0-d float64 array ``"iter"`` (exact up to 2**53 steps)."""
        state = self._slots.export("m", "v")
        state["iter"] = np.array(float(self._iter))
        return state

    def load_state_dict(self, state: Mapping[str, FloatArray]) -> None:
        """Restore the moments and step count saved by :meth:`state_dict`."""
        require_mapping(state, where="Adam.load_state_dict", name="state")
        moments = {k: v for k, v in state.items() if k != "iter"}
        try:
            raw = np.asarray(state.get("iter", np.array(np.nan)), dtype=np.float64)
        except (ValueError, TypeError, OverflowError):  # not a number at all
            raw = np.array(np.nan)
        count = float(raw) if raw.shape == () else math.nan
        if not (math.isfinite(count) and count >= 0 and count == int(count)):
            raise ArgumentError(
                f"Adam.load_state_dict: expected 'iter', a 0-d array holding a whole number "
                f">= 0, got {state.get('iter')!r}."
            )
        self._slots.load(moments, "m", "v", nonnegative=("v",))
        self._iter = int(count)

    def __repr__(self) -> str:
        return f"Adam(lr={self._lr!r}, beta1={self._beta1!r}, beta2={self._beta2!r})"

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        """Advance ``t``, update ``m``, ``v``, then ``params[k] -= lr_t * m / (sqrt(v) + 1e-7)``."""
        with ieee_arithmetic():
            step = checked_step(params, grads, where="Adam.update", squares=True)
            self._slots.prepare(step)
            self._iter += 1
            t = self._iter
            b1, b2 = self._beta1, self._beta2
            lr_t = self._lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
            for key, p, g in step:
                m = self._slots["m"][key]
                v = self._slots["v"][key]
                s = self._slots["scratch"][key]
                np.subtract(g, m, out=s)
                np.multiply(s, 1.0 - b1, out=s)
                np.add(m, s, out=m)
                np.multiply(g, g, out=s)
                np.subtract(s, v, out=s)
                np.multiply(s, 1.0 - b2, out=s)
                np.add(v, s, out=v)
                np.sqrt(v, out=s)
                np.add(s, _EPS, out=s)
                np.divide(m, s, out=s)
                np.multiply(s, lr_t, out=s)
                # `p` is written last: a gradient that aliases its parameter is read first.
                np.subtract(p, s, out=p)

"""Softmax followed by cross-entropy, as one layer with an exact gradient."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_dtype, as_float_array, require_forwarded, require_shape
from bpcore._targets import Targets, validate_targets
from bpcore.errors import ShapeError
from bpcore.functional import _mean_cross_entropy, exp_and_log_normaliser


@final
class SoftmaxWithLoss:
    """Mean cross-entropy of ``softmax(x)`` against targets ``t``.

    Shapes: ``x`` is ``(N, C)`` logits, or ``(C,)`` for one sample, which behaves
    exactly as a batch of one. ``t`` is integer labels ``(N,)`` (a scalar for one
    sample) or rows ``(N, C)`` (``(C,)``) that are distributions: one-hot or soft.

    Forward returns ``L = -(1/N) Σ_n Σ_c t[n, c] · log_softmax(x)[n, c]``, computed through
    log-softmax, so there is no ``log(y + 1e-7)`` fudge and backward is the exact
    gradient: ``dx = dout · (s·softmax(x) - t) / N``, where ``s`` is each target row's
    sum (1 up to rounding, so this is the book's ``(y - t) / N`` scaled by ``dout``).

    Attributes:
        loss: the last loss, or ``None``.
        y: the layer's softmax output of shape ``(N, C)``, or ``None``.
        t: the validated targets, a private copy: labels ``(N,)`` or rows ``(N, C)``.
    """

    loss: float | None
    y: FloatArray | None
    t: npt.NDArray[np.intp] | FloatArray | None
    _targets: Targets | None
    _x_shape: tuple[int, ...] | None
    _top: npt.NDArray[np.intp] | None
    _top_complement: FloatArray | None

    def __init__(self) -> None:
        self.loss = None
        self.y = None
        self.t = None
        self._targets = None
        self._x_shape = None
        self._top = None
        self._top_complement = None

    def forward(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the mean cross-entropy loss of logits ``x`` against targets ``t``."""
        where = "SoftmaxWithLoss.forward"
        xa = as_float_array(x, where=where, name="x")
        if xa.ndim not in (1, 2) or xa.shape[-1] == 0 or (xa.ndim == 2 and xa.shape[0] == 0):
            raise ShapeError(
                f"{where}: expected x of shape (N, C) with N, C >= 1, or (C,) for one sample, "
                f"got shape {xa.shape}."
            )
        one_sample = xa.ndim == 1
        logits = xa.reshape(1, -1) if one_sample else xa
        n, c = logits.shape
        targets = validate_targets(t, n=n, c=c, one_sample=one_sample, dtype=xa.dtype, where=where)
        z, e, lse = exp_and_log_normaliser(logits, where=where)
        self.y = e / np.exp(lse)
        # 1 - y for the top class, exactly as Σ_{j≠top} e_j / Σ e, instead of by a
        # subtraction that rounds a confident prediction's gradient away.
        self._top_complement = np.expm1(lse) / np.exp(lse)
        self._top = np.argmax(logits, axis=1)
        with np.errstate(invalid="ignore"):
            loss = _mean_cross_entropy(z - lse, targets)
        self._targets = targets
        self.t = targets.labels if targets.labels is not None else targets.dist
        self._x_shape = xa.shape
        self.loss = loss
        return loss

    def backward(self, dout: npt.ArrayLike = 1.0) -> FloatArray:
        """Return ``dout · (softmax(x) - t) / N`` in ``x``'s shape and dtype.

        ``dout`` is the scalar gradient of whatever consumes the loss (1 for the loss itself).
        """
        where = "SoftmaxWithLoss.backward"
        y = require_forwarded(self.y, where=where)
        targets = require_forwarded(self._targets, where=where)
        x_shape = require_forwarded(self._x_shape, where=where)
        d = as_dtype(dout, y.dtype, where=where, name="dout")
        require_shape(d, (), where=where, name="dout")
        n = y.shape[0]
        if targets.dist is None:
            rows = np.arange(n)
            dx = y.copy()
            dx[rows, targets.labels] -= 1
            top = require_forwarded(self._top, where=where)
            confident = top == targets.labels
            complement = require_forwarded(self._top_complement, where=where)
            dx[rows[confident], top[confident]] = -complement[confident, 0]
        else:
            dx = y * np.sum(targets.dist, axis=1, keepdims=True) - targets.dist
        dx *= d / n
        return dx.reshape(x_shape)

"""Softmax followed by cross-entropy, as one layer with an exact gradient."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import (
    FloatArray,
    as_dtype,
    as_float_array,
    ieee_arithmetic,
    require_forwarded,
    require_shape,
)
from bpcore._targets import Targets, validate_targets
from bpcore.errors import ShapeError
from bpcore.functional import SoftmaxParts, mean_cross_entropy, softmax_parts


@final
class SoftmaxWithLoss:
    """Mean cross-entropy of ``softmax(x)`` against targets ``t``, with an exact gradient.

    ``L = -(1/N) Σ_n Σ_c t[n, c] · log_softmax(x)[n, c]`` through log-softmax (no
    ``log(y + 1e-7)`` fudge), and ``dx = dout · (s·softmax(x) - t) / N`` with ``s`` each
    target row's sum (1 up to rounding): the book's ``(y - t) / N``, scaled by ``dout``.

    Shapes: ``x`` is ``(N, C)`` logits, or ``(C,)`` for one sample, which behaves exactly
    as a batch of one. ``t`` is integer labels ``(N,)`` (a scalar for one sample) or rows
    ``(N, C)`` (``(C,)``) that are distributions: one-hot or soft.

    Attributes:
        loss: the last loss, or ``None``.
        y: the softmax output of shape ``(N, C)``, bit for bit :func:`bpcore.softmax`, or ``None``.
        t: the validated targets, a private copy: labels ``(N,)`` or rows ``(N, C)``.
    """

    loss: float | None
    y: FloatArray | None
    t: npt.NDArray[np.intp] | FloatArray | None
    _saved: tuple[SoftmaxParts, Targets, tuple[int, ...]] | None

    def __init__(self) -> None:
        self.loss = None
        self.y = None
        self.t = None
        self._saved = None

    def forward(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the mean cross-entropy loss of logits ``x`` against targets ``t``.

        Raises:
            ShapeError: ``x`` is not ``(N, C)`` or ``(C,)`` with ``N, C >= 1``.
            TargetError: ``t`` is not labels or distributions that fit ``x``.
        """
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
        parts = softmax_parts(logits)
        self.loss = mean_cross_entropy(parts.z, parts.lse, targets, where=where)
        self.y = parts.y
        self.t = targets.labels if targets.labels is not None else targets.dist
        self._saved = (parts, targets, xa.shape)
        return self.loss

    def backward(self, dout: npt.ArrayLike = 1.0) -> FloatArray:
        """Return ``dout · (s·softmax(x) - t) / N`` in ``x``'s shape and dtype, as a new array.

        ``dout`` is the scalar gradient of whatever consumes the loss (1 for the loss itself).

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` is not a scalar.
        """
        where = "SoftmaxWithLoss.backward"
        parts, targets, x_shape = require_forwarded(self._saved, where=where)
        d = as_dtype(dout, parts.y.dtype, where=where, name="dout")
        require_shape(d, (), where=where, name="dout")
        with ieee_arithmetic():  # dout = inf times a probability of 0 is NaN, silently
            y, n = parts.y, parts.y.shape[0]
            scale = d / n
            if targets.labels is None:
                soft = _soft_delta(parts, np.asarray(targets.dist))
                soft *= scale
                return soft.reshape(x_shape)
            dx: FloatArray = np.multiply(y, scale)
            at_label = np.arange(0, y.size, y.shape[1]) + targets.labels
            # y - 1 at each label; where the label is the top class, -(1 - y) from the exact
            # complement, so a confident prediction's gradient keeps its relative accuracy.
            label_is_top = at_label == parts.at_top
            dx.reshape(-1)[at_label] = (
                np.where(label_is_top, -parts.complement[:, 0], y.reshape(-1)[at_label] - 1) * scale
            )
            return dx.reshape(x_shape)


def _soft_delta(parts: SoftmaxParts, dist: FloatArray) -> FloatArray:
    """``s·y - t`` for target rows ``t`` with sums ``s``, accurate where ``y ≈ t``.

    As ``(y - t) + y·(s - 1)`` with ``s - 1`` summed in float64 (rounding ``s`` to the
    dtype would cost ``u·|y|`` per element); at a top class with ``y ≥ 1/2``,
    ``y - t = (1 - t) - (1 - y)`` from the exact complement.
    """
    y, at_top = parts.y, parts.at_top
    excess = np.add.reduce(dist, axis=1, keepdims=True, dtype=np.float64) - 1.0
    dx = y - dist
    flat = dx.reshape(-1)
    y_top = y.reshape(-1)[at_top]
    flat[at_top] = np.where(
        y_top >= 0.5, (1 - dist.reshape(-1)[at_top]) - parts.complement[:, 0], flat[at_top]
    )
    dx += y * excess.astype(y.dtype)
    return dx

"""Batch normalization."""

from __future__ import annotations

import math
from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._args import positive_float, unit_interval
from bpcore._arrays import (
    FloatArray,
    FloatDType,
    as_dtype,
    as_float_array,
    computing_dtype,
    ieee_arithmetic,
    require_float_array,
    require_forwarded,
    require_shape,
)
from bpcore.errors import ShapeError
from bpcore.layers._parameters import WithParameters

EPS = 1e-6
"""The book's ``10e-7``, added to the variance before its square root."""


@final
class BatchNormalization(WithParameters):
    """Normalize every feature over the batch, then scale and shift it: ``γ·x̂ + β``.

    ``x`` is ``(N, D)``, or ``(N, C, H, W)`` (any ``(N, d1, ..., dk)``) whose ``D =
    C·H·W`` features are each normalized, as in the book (not per channel). ``γ``
    (``gamma``) and ``β`` (``beta``) are ``(D,)``. In training mode
    (``train_flg=True``), with the batch mean ``μ`` and variance ``σ²`` of each feature:

        x̂ = (x - μ) / sqrt(σ² + eps),    out = γ·x̂ + β

    and the running statistics move: ``running_mean ← m·running_mean + (1 - m)·μ`` (the
    same for ``running_var`` with ``σ²``; ``m`` is ``momentum``). In inference mode
    ``x̂ = (x - running_mean) / sqrt(running_var + eps)`` per sample. The running
    statistics start as given, or at zeros on the first forward, as in the book.

    Backward, after a training-mode forward (``s = sqrt(σ² + eps)``, means over the
    batch):

        dβ = Σ_n dout,  dγ = Σ_n dout·x̂,  dx = (γ/s)·(dout - mean(dout) - x̂·mean(dout·x̂))

    and after an inference-mode forward, ``dx = γ·dout / sqrt(running_var + eps)``, the
    statistics being constants. It computes in the dtype of ``x``, ``gamma`` and
    ``beta`` promoted; each gradient has its array's dtype.

    Attributes:
        gamma, beta: the parameters (shared with the caller).
        momentum, eps: as given.
        running_mean, running_var: ``(D,)`` arrays of the layer's own, or ``None``
            before the first forward when not given.
        dgamma, dbeta: the gradients of the last backward, or ``None``.
        xn: the last forward's ``x̂`` ``(N, D)``, or ``None``.
        std: the last forward's ``sqrt(σ² + eps)`` ``(D,)``, or ``None``.

    Raises:
        DtypeError: ``gamma`` or ``beta`` is not a float32 or float64 array, or a running
            statistic not a float array.
        ShapeError: ``gamma`` is not 1-D, or ``beta`` or a running statistic not its shape.
        ArgumentError: ``momentum`` is not in ``[0, 1]`` or ``eps`` not a finite float > 0.
    """

    PARAMETERS = ("gamma", "beta")

    gamma: FloatArray
    beta: FloatArray
    momentum: float
    eps: float
    running_mean: FloatArray | None
    running_var: FloatArray | None
    dgamma: FloatArray | None
    dbeta: FloatArray | None
    xn: FloatArray | None
    std: FloatArray | None
    _input: tuple[tuple[int, ...], FloatDType] | None
    _train: bool

    def __init__(
        self,
        gamma: FloatArray,
        beta: FloatArray,
        momentum: float = 0.9,
        running_mean: FloatArray | None = None,
        running_var: FloatArray | None = None,
        *,
        eps: float = EPS,
    ) -> None:
        where = "BatchNormalization"
        self.gamma = require_float_array(gamma, where=where, name="gamma")
        self.beta = require_float_array(beta, where=where, name="beta")
        if self.gamma.ndim != 1:
            raise ShapeError(f"{where}: expected `gamma` of shape (D,), got shape {gamma.shape}.")
        shape = self.gamma.shape
        require_shape(self.beta, shape, where=where, name="beta")
        self.momentum = unit_interval(momentum, where=where, name="momentum", closed=True)
        self.eps = positive_float(eps, where=where, name="eps")
        self.running_mean = self._statistic(running_mean, "running_mean")
        self.running_var = self._statistic(running_var, "running_var")
        self.dgamma = None
        self.dbeta = None
        self.xn = None
        self.std = None
        self._input = None
        self._train = True

    def _statistic(self, value: FloatArray | None, name: str) -> FloatArray | None:
        if value is None:
            return None
        array = require_float_array(value, where="BatchNormalization", name=name)
        require_shape(array, self.gamma.shape, where="BatchNormalization", name=name)
        return array.copy()  # the layer's own: its updates never write to the caller's

    def forward(self, x: npt.ArrayLike, train_flg: bool = True) -> FloatArray:
        """Return ``γ·x̂ + β`` in ``x``'s shape; in training mode, move the running statistics.

        Raises:
            ShapeError: ``x`` does not have ``D`` features per sample, or the training
                batch is empty.
        """
        where = "BatchNormalization.forward"
        xa = as_float_array(x, where=where, name="x")
        d = self.gamma.shape[0]
        if xa.ndim < 2 or math.prod(xa.shape[1:]) != d:
            raise ShapeError(
                f"{where}: expected x of shape (N, {d}) or (N, d1, ..., dk) with "
                f"d1·…·dk = {d}, got shape {xa.shape}."
            )
        dtype = computing_dtype(xa, self.gamma, self.beta)
        x2 = np.asarray(xa.reshape(xa.shape[0], d), dtype=dtype)
        if self.running_mean is None:
            self.running_mean = np.zeros(d, dtype=dtype)
        if self.running_var is None:
            self.running_var = np.zeros(d, dtype=dtype)
        with ieee_arithmetic():
            if train_flg:
                if x2.shape[0] == 0:
                    raise ShapeError(
                        f"{where}: expected at least one sample in training mode, got an "
                        "empty batch."
                    )
                mu = np.mean(x2, axis=0)
                xc = x2 - mu
                var = np.mean(xc * xc, axis=0)
                std = np.sqrt(var + self.eps)
                m = self.momentum
                self.running_mean = m * self.running_mean + (1 - m) * mu
                self.running_var = m * self.running_var + (1 - m) * var
            else:
                xc = x2 - self.running_mean
                std = np.sqrt(self.running_var + self.eps)
            xn = xc / std
            out = self.gamma * xn + self.beta
        self.xn, self.std, self._input, self._train = xn, std, (xa.shape, xa.dtype), bool(train_flg)
        return np.asarray(out.reshape(xa.shape), dtype=dtype)

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Set ``dgamma`` and ``dbeta``; return ``dx`` in ``x``'s shape and dtype.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have ``x``'s shape.
        """
        where = "BatchNormalization.backward"
        xn = require_forwarded(self.xn, where=where)
        std = require_forwarded(self.std, where=where)
        shape, x_dtype = require_forwarded(self._input, where=where)
        d = as_dtype(dout, xn.dtype, where=where, name="dout")
        require_shape(d, shape, where=where, name="dout")
        d2 = d.reshape(xn.shape)
        with ieee_arithmetic():
            dbeta = np.add.reduce(d2, axis=0)
            dgamma = np.add.reduce(d2 * xn, axis=0)
            scale = self.gamma / std
            if self._train:
                n = xn.shape[0]
                dx = scale * (d2 - dbeta / n - xn * (dgamma / n))
            else:
                dx = scale * d2
        self.dbeta = np.asarray(dbeta, dtype=self.beta.dtype)
        self.dgamma = np.asarray(dgamma, dtype=self.gamma.dtype)
        return np.asarray(dx.reshape(shape), dtype=x_dtype)

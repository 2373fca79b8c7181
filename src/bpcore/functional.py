"""Stateless activation and loss functions.

Every function follows the dtype policy of :mod:`bpcore` (float32 stays
float32, integers and bools become float64, complex and object arrays raise
:class:`~bpcore.errors.DtypeError`) and never writes to its arguments.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_float_array
from bpcore._targets import Targets, validate_targets
from bpcore.errors import DomainError, ShapeError

__all__ = ["cross_entropy_error", "log_softmax", "relu", "sigmoid", "softmax"]


def relu(x: npt.ArrayLike) -> FloatArray:
    """Rectified linear unit, ``max(x, 0)`` element-wise, with ``-0.0`` mapped to ``+0.0``
    and NaN passed through."""
    xa = as_float_array(x, where="relu", name="x")
    return np.where(xa <= 0, xa.dtype.type(0), xa)


def sigmoid_pair(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(σ(x), 1 - σ(x))``, each to full relative accuracy.

    With ``e = exp(-|x|)``: for ``x >= 0``, ``σ = 1/(1+e)`` and ``1 - σ = e/(1+e)``; for
    ``x < 0`` the two swap. Computing ``1 - σ`` by subtraction would lose every digit
    in the upper tail (``1 - σ(40)`` rounds to 0 in float64), and with it the gradient.
    """
    e = np.exp(-np.abs(x))
    denominator = 1 + e
    big, small = 1 / denominator, e / denominator
    positive = x >= 0
    return np.where(positive, big, small), np.where(positive, small, big)


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """Logistic function ``1 / (1 + exp(-x))``, element-wise.

    Evaluated through ``e = exp(-|x|)``, which lies in ``[0, 1]`` and so never
    overflows: ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0``.
    Every finite input, ``±1e308`` included, gives a finite result with no warning.
    """
    return sigmoid_pair(as_float_array(x, where="sigmoid", name="x"))[0]


def exp_and_log_normaliser(
    x: FloatArray, *, where: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(z, e, lse)`` for logits ``x`` of shape ``(..., C)``, along the last axis:

    * ``z = x - max(x)``, so ``max(z) = 0`` and ``e = exp(z)`` cannot overflow;
    * ``lse = log Σ e = log1p(Σ_{j ≠ argmax} e_j)`` with shape ``(..., 1)``.

    Summing the largest term (exactly 1) separately and using ``log1p`` keeps ``lse``
    accurate to its last digits when it is tiny -- a confident prediction, whose loss
    ``lse - z_t`` would otherwise be computed as ``log(1 + s)`` with ``s`` rounded away.
    """
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ShapeError(
            f"{where}: expected logits with a non-empty class axis, got shape {x.shape}."
        )
    top = np.argmax(x, axis=-1)[..., None]
    peak = np.take_along_axis(x, top, axis=-1)
    # Logits of opposite extreme sign (-1e308 against +1e308) overflow to -inf here;
    # exp(-inf) = 0 is then the exactly rounded probability, so the overflow is harmless.
    with np.errstate(over="ignore", invalid="ignore"):
        z = x - peak
    e = np.exp(z)
    np.put_along_axis(e, top, 0.0, axis=-1)
    rest: FloatArray = np.sum(e, axis=-1, keepdims=True)
    np.put_along_axis(e, top, 1.0, axis=-1)
    return z, e, np.log1p(rest)


def log_softmax(x: npt.ArrayLike) -> FloatArray:
    """``log(softmax(x))`` along the last axis, computed as ``z - log Σ exp(z)`` with
    ``z = x - max(x)`` (see :func:`exp_and_log_normaliser`), which is stable for logits
    of any finite magnitude and accurate for probabilities near 1.

    ``x`` has shape ``(..., C)``; the result has the same shape and dtype.
    """
    xa = as_float_array(x, where="log_softmax", name="x")
    z, _, lse = exp_and_log_normaliser(xa, where="log_softmax")
    with np.errstate(invalid="ignore"):
        return z - lse


def softmax(x: npt.ArrayLike) -> FloatArray:
    """``exp(x) / sum(exp(x))`` along the last axis, stable for logits of any finite magnitude.

    ``x`` has shape ``(..., C)``; each row of the result is non-negative and sums to 1
    within ``C·eps``.
    """
    xa = as_float_array(x, where="softmax", name="x")
    _, e, _ = exp_and_log_normaliser(xa, where="softmax")
    total: FloatArray = np.sum(e, axis=-1, keepdims=True)
    return e / total


def cross_entropy_error(y: npt.ArrayLike, t: npt.ArrayLike) -> float:
    """Mean cross-entropy ``-(1/N) Σ_n Σ_c t[n, c] · log y[n, c]`` of probabilities ``y``.

    The book's signature: ``y`` has shape ``(N, C)`` or ``(C,)`` for one sample, and
    ``t`` holds integer labels ``(N,)`` (a scalar for one sample) or one-hot/soft rows
    shaped like ``y``. Unlike the book there is no ``+1e-7``: a zero probability on
    the true class gives ``inf``, the exact value. Use :class:`~bpcore.SoftmaxWithLoss`
    or :func:`log_softmax` when you have logits; it is exact and stable.
    """
    where = "cross_entropy_error"
    ya = as_float_array(y, where=where, name="y")
    if ya.ndim not in (1, 2) or ya.shape[-1] == 0:
        raise ShapeError(f"{where}: expected y of shape (N, C) or (C,), got shape {ya.shape}.")
    if np.any(ya < 0) or np.any(ya > 1):
        raise DomainError(f"{where}: expected probabilities y in [0, 1], got values outside it.")
    one_sample = ya.ndim == 1
    probabilities = ya.reshape(1, -1) if one_sample else ya
    n, c = probabilities.shape
    targets = validate_targets(t, n=n, c=c, one_sample=one_sample, dtype=ya.dtype, where=where)
    with np.errstate(divide="ignore"):
        log_y = np.log(probabilities)
    return _mean_cross_entropy(log_y, targets)


def _mean_cross_entropy(log_p: FloatArray, targets: Targets) -> float:
    """``-(1/N) Σ t·log p`` from log-probabilities, treating ``0·log 0`` as 0."""
    n = log_p.shape[0]
    if n == 0:
        raise ShapeError("cross-entropy: expected at least one sample, got an empty batch.")
    if targets.dist is None:
        picked = log_p[np.arange(n), targets.labels]
        return float(-np.sum(picked) / n)
    terms = np.zeros_like(log_p)
    np.multiply(targets.dist, log_p, out=terms, where=targets.dist != 0)
    return float(-np.sum(terms) / n)

"""Independent forward references for the registered layers: the same maths, written plainly.

Each oracle takes a case's float64 parameters, inputs and targets and returns a
:class:`Reference`: the forward value computed another way (Python's ``math`` with
``math.fsum`` for sums, or plain NumPy where the operation is exactly rounded), and the
size of the terms that value is made of. A layer computing in dtype ``d`` agrees with it
to within ``n·u_d·size`` for accumulation length ``n``: that is the rounding bound the
generic property ``forward_matches_its_oracle`` applies. No oracle calls bpcore code, so
a wrong forward cannot agree with its own reference by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError


@dataclass(frozen=True)
class Reference:
    """An oracle's forward value and the size of its terms, both float64, of one shape."""

    value: FloatArray
    size: FloatArray


Oracle = Callable[
    [Mapping[str, FloatArray], Mapping[str, FloatArray], "npt.NDArray[np.generic] | None"],
    Reference,
]
"""``oracle(params, inputs, target) -> Reference``, all float64 (targets as given)."""


def relu(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x`` where ``x > 0``, else ``+0.0``: exact."""
    x = inputs["x"]
    return Reference(value=np.where(x > 0, x, 0.0), size=np.abs(x))


def _sigmoid_scalar(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def sigmoid(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``1 / (1 + e^-x)`` element by element with ``math``; the size ``y·(1 + |x|)``
    covers rounding ``x`` itself (``|dy/dx · x| <= y·|x|``) and the few roundings after."""
    x = inputs["x"]
    y = np.array([_sigmoid_scalar(float(v)) for v in x.reshape(-1)]).reshape(x.shape)
    return Reference(value=y, size=y * (1 + np.abs(x)))


def affine(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``out[n, m] = Σ_k x[n, k]·W[k, m] + b[m]`` (``x`` flattened per sample), by ``fsum``."""
    W, b = params["W"], params["b"]
    x = inputs["x"].reshape(inputs["x"].shape[0], -1)
    rows, cols = x.shape[0], W.shape[1]
    value = np.empty((rows, cols))
    size = np.empty((rows, cols))
    for n in range(rows):
        for m in range(cols):
            terms = [float(x[n, k]) * float(W[k, m]) for k in range(W.shape[0])]
            value[n, m] = math.fsum([*terms, float(b[m])])
            size[n, m] = math.fsum(abs(v) for v in terms) + abs(float(b[m]))
    return Reference(value=value, size=size)


def multiply(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x·y`` with broadcasting: one exactly rounded product per element."""
    value = inputs["x"] * inputs["y"]
    return Reference(value=value, size=np.abs(value))


def add(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x + y`` with broadcasting: one exactly rounded sum per element."""
    x, y = inputs["x"], inputs["y"]
    return Reference(value=x + y, size=np.abs(x) + np.abs(y))


def _target_rows(target: npt.NDArray[np.generic], rows: int, classes: int) -> list[list[float]]:
    """Labels (or a scalar label) as one-hot rows; distributions as they are."""
    t = np.asarray(target)
    if t.dtype.kind in "iu":
        labels = t.reshape(-1)
        return [[1.0 if c == int(labels[n]) else 0.0 for c in range(classes)] for n in range(rows)]
    dist = np.asarray(t, dtype=np.float64).reshape(rows, classes)
    return [[float(v) for v in row] for row in dist]


def _mean_cross_entropy(
    scores: Sequence[Sequence[float]], rows_t: Sequence[Sequence[float]]
) -> tuple[float, float]:
    """``-(1/N) Σ_n Σ_c t[n, c]·(s[n, c] - lse_n)`` and the size of its terms.

    ``lse_n = m_n + log Σ_c e^(s[n, c] - m_n)`` with ``m_n`` the row's largest score. The
    size counts ``|t|·(|s| + |m| + |lse - m|)`` for each term (the layer subtracts the
    maximum, then the normaliser) and ``1 + lse - m`` per row for the normaliser itself.
    """
    losses, sizes = [], []
    for s, t in zip(scores, rows_t, strict=True):
        top = max(s)
        log_norm = math.log(math.fsum(math.exp(v - top) for v in s))
        lse = top + log_norm
        losses.append(-math.fsum(tc * (v - lse) for v, tc in zip(s, t, strict=True)))
        term_sizes = (abs(tc) * (abs(v) + abs(top) + log_norm) for v, tc in zip(s, t, strict=True))
        sizes.append(math.fsum(term_sizes) + 1.0 + log_norm)
    rows = len(losses)
    return math.fsum(losses) / rows, math.fsum(sizes) / rows


def softmax_with_loss(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """The mean cross-entropy of ``softmax(x)`` against ``t``, with ``math``; a 1-D ``x``
    is one sample."""
    if target is None:
        raise ArgumentError("softmax_with_loss: a loss oracle needs targets, got None.")
    x = inputs["x"].reshape(-1, inputs["x"].shape[-1])
    rows, classes = x.shape
    scores = [[float(v) for v in row] for row in x]
    loss, size = _mean_cross_entropy(scores, _target_rows(target, rows, classes))
    return Reference(value=np.asarray(loss), size=np.asarray(size))


def network(activation: str) -> Oracle:
    """The loss of ``Affine, act, ..., Affine, softmax cross-entropy`` with ``act`` one of
    ``"relu"``/``"sigmoid"``, by plain float64 NumPy and ``math``.

    The size propagates term magnitudes through the stack, ``M_i = M_(i-1)·|W_i| + |b_i|``
    from ``M_0 = |x|`` (both activations have slope at most 1), times the depth, for the
    scores, whose error moves the loss by at most ``2/N`` per row; plus the loss's own.
    """

    def oracle(
        params: Mapping[str, FloatArray],
        inputs: Mapping[str, FloatArray],
        target: npt.NDArray[np.generic] | None,
    ) -> Reference:
        if target is None:
            raise ArgumentError("network: a loss oracle needs targets, got None.")
        depth = len(params) // 2
        h = inputs["x"].reshape(inputs["x"].shape[0], -1)
        magnitude = np.abs(h)
        for i in range(1, depth + 1):
            W, b = params[f"W{i}"], params[f"b{i}"]
            a = h @ W + b
            magnitude = magnitude @ np.abs(W) + np.abs(b)
            if i < depth:
                with np.errstate(over="ignore"):  # e^-a = inf for a << 0 gives 0, as it should
                    h = np.where(a > 0, a, 0.0) if activation == "relu" else 1 / (1 + np.exp(-a))
            else:
                h = a
        rows, classes = h.shape
        scores = [[float(v) for v in row] for row in h]
        loss, size = _mean_cross_entropy(scores, _target_rows(target, rows, classes))
        propagated = 2 * depth * float(np.sum(np.max(magnitude, axis=1))) / rows
        return Reference(value=np.asarray(loss), size=np.asarray(size + propagated))

    return oracle

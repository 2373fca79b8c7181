"""Layers as a bpcore user would write them, declared for the generic suite as a user would.

Nothing here is bpcore's: the tests check these through the three public entry points
(:func:`bpcore.verify.check_layer`, the pytest plugin and ``bpcore verify``). The
correct layers must pass every property; each broken one has one bug, which one
property must name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray
from bpcore.verify import LayerSpec, Reference, layer_spec

# -- correct layers ------------------------------------------------------------------------


class Swish:
    """``y = x·σ(x)``, with the errors a careful user raises."""

    def __init__(self) -> None:
        self.x: FloatArray | None = None
        self.s: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x.copy()
        self.s = 1 / (1 + np.exp(-x))
        return x * self.s

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.x is None or self.s is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: backward() was called before forward()."
            )
        if dout.shape != self.x.shape:
            raise ValueError(
                f"{type(self).__name__}.backward: expected dout of shape {self.x.shape}, "
                f"got {dout.shape}."
            )
        return dout * (self.s + self.x * self.s * (1 - self.s))


def swish_oracle(x: FloatArray) -> FloatArray:
    """``x·σ(x)`` element by element with ``math``: four correctly rounded operations in
    the layer (exp, +, /, ·) each err by ``u·|y|`` relatively, so a bare value (its own
    size) bounds them."""
    flat = [v / (1 + math.exp(-v)) for v in x.reshape(-1).tolist()]
    return np.array(flat).reshape(x.shape)


SWISH = layer_spec(Swish, inputs={"x": (None, 4)}, oracle=swish_oracle)


class Dense:
    """The book's affine layer, ``y = x·W + b``, holding ``W`` and ``b`` as given."""

    def __init__(self, W: FloatArray, b: FloatArray) -> None:
        self.W, self.b = W, b
        self.x: FloatArray | None = None
        self.dW: FloatArray | None = None
        self.db: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x.copy()
        return x @ self.W + self.b

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.x is None:
            raise RuntimeError("Dense.backward: backward() was called before forward().")
        if dout.shape != (self.x.shape[0], self.W.shape[1]):
            raise ValueError(f"Dense.backward: expected dout of (N, M), got {dout.shape}.")
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


def dense_oracle(W: FloatArray, b: FloatArray, x: FloatArray) -> Reference:
    """``Σ_k x[n, k]·W[k, m] + b[m]`` by ``math.fsum``; the terms cancel, so the size is
    ``Σ_k |x[n, k]·W[k, m]| + |b[m]|``, not the value."""
    rows, cols = x.shape[0], W.shape[1]
    value, size = np.empty((rows, cols)), np.empty((rows, cols))
    for n in range(rows):
        for m in range(cols):
            terms = [float(x[n, k] * W[k, m]) for k in range(W.shape[0])]
            value[n, m] = math.fsum([*terms, float(b[m])])
            size[n, m] = math.fsum(abs(t) for t in terms) + abs(float(b[m]))
    return Reference(value=value, size=size)


DENSE = layer_spec(
    Dense,
    params={"W": (3, 2), "b": (2,)},
    inputs={"x": (None, 3)},
    min_value=-3.0,
    max_value=3.0,
    oracle=dense_oracle,
)


class BatchNorm:
    """The book's batch normalisation in training mode, ``y = γ·(x - μ)/σ + β`` over the
    batch with ``σ = sqrt(var + 1e-7)``.

    Its gradients are 0 in exact arithmetic wherever the output does not move: for
    ``N = 2`` the normalised values are ``±1`` whatever ``x`` is, and against a ``dout``
    constant over the batch ``dγ = Σ_n dout·x̂_n = 0``; backward still computes them from
    terms of size ``|γ·dout|/σ``, so they come out as rounding noise.
    """

    def __init__(self, gamma: FloatArray, beta: FloatArray) -> None:
        self.gamma, self.beta = gamma, beta
        self.xc: FloatArray | None = None
        self.std: FloatArray | None = None
        self.xn: FloatArray | None = None
        self.dgamma: FloatArray | None = None
        self.dbeta: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        xc = x - x.mean(axis=0)
        self.std = np.sqrt(np.mean(xc**2, axis=0) + 1e-7)
        self.xc, self.xn = xc, xc / self.std
        return self.gamma * self.xn + self.beta

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.xc is None or self.std is None or self.xn is None:
            raise RuntimeError("BatchNorm.backward: backward() was called before forward().")
        if dout.shape != self.xn.shape:
            raise ValueError(
                f"BatchNorm.backward: expected dout of shape {self.xn.shape}, got {dout.shape}."
            )
        n = dout.shape[0]
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc = dxc + (2.0 / n) * self.xc * dvar
        dx: FloatArray = dxc - np.sum(dxc, axis=0) / n
        return dx


def batch_norm_spec() -> LayerSpec:
    """BatchNorm's declaration (a function, so that ``bpcore verify tests.user_layers``
    checks only the module-level specs)."""
    return layer_spec(
        BatchNorm,
        params={"gamma": (3,), "beta": (3,)},
        inputs={"x": (None, 3)},
        batch=(2, 4),
        min_value=-4.0,
        max_value=4.0,
        per_sample=False,
    )


class CenteredSum:
    """A loss that is exactly 0: ``(1/N) Σ_n Σ_i (x[n, i] - mean_i x[n])``, targets unused.

    Its value and gradient are rounding noise only, and reordering the batch re-rolls
    that noise: what the generic bounds must not mistake for a bug.
    """

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        self.shape = x.shape
        centred = x - x.mean(axis=1, keepdims=True)
        return float(np.sum(centred) / x.shape[0])

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.shape is None:
            raise RuntimeError("CenteredSum.backward: backward() was called before forward().")
        if np.shape(dout) != ():
            raise ValueError(f"CenteredSum.backward: expected a scalar dout, got {np.shape(dout)}.")
        d = np.full(self.shape, dout / self.shape[0], dtype=np.asarray(dout).dtype)
        dx: FloatArray = d - d.mean(axis=1, keepdims=True)
        return dx


def centered_sum_oracle(x: FloatArray, t: npt.NDArray[np.generic]) -> Reference:
    """0, from terms of size ``(1/N) Σ |x| + |mean|``: the layer's sum cancels them."""
    means = np.abs(x.mean(axis=1, keepdims=True))
    return Reference(value=np.asarray(0.0), size=np.asarray(np.sum(np.abs(x) + means) / x.shape[0]))


def centered_sum_spec() -> LayerSpec:
    """CenteredSum's declaration, a loss with labels it ignores."""
    return layer_spec(CenteredSum, kind="loss", inputs={"x": (None, 3)}, oracle=centered_sum_oracle)


# -- broken layers: one bug each --------------------------------------------------------


class MutatesDout(Swish):
    """Swish whose backward scales the caller's dout in place and returns it."""

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.x is None or self.s is None:
            raise RuntimeError("MutatesDout.backward: backward() was called before forward().")
        if dout.shape != self.x.shape:
            raise ValueError(f"MutatesDout.backward: expected {self.x.shape}, got {dout.shape}.")
        dout *= self.s + self.x * self.s * (1 - self.s)
        return dout


class IgnoresDout(Swish):
    """Swish whose backward ignores dout, as if it were all ones."""

    def backward(self, dout: FloatArray) -> FloatArray:
        return super().backward(np.ones_like(dout))


class ForgetsForward:
    """Swish that keeps nothing until its first forward: backward before forward raises
    an AttributeError instead of a clear error."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.s = 1 / (1 + np.exp(-x))
        self.x = x.copy()
        return x * self.s

    def backward(self, dout: FloatArray) -> FloatArray:
        if dout.shape != self.x.shape:
            raise ValueError(f"ForgetsForward: expected {self.x.shape}, got {dout.shape}.")
        return dout * (self.s + self.x * self.s * (1 - self.s))


class Float64Output(Swish):
    """Swish scaled by a float64 scalar: a float32 input gives a float64 output."""

    def forward(self, x: FloatArray) -> FloatArray:
        return super().forward(x) * np.float64(1.0)

    def backward(self, dout: FloatArray) -> FloatArray:
        return super().backward(dout)


class Crashes:
    """A layer whose forward always raises: ``self.scale`` is never set."""

    scale: float

    def forward(self, x: FloatArray) -> FloatArray:
        return x * self.scale

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * self.scale


def _swish_like(cls: type[object], name: str) -> LayerSpec:
    return layer_spec(cls, name=name, inputs={"x": (None, 4)}, oracle=swish_oracle)


BROKEN: Mapping[str, tuple[LayerSpec, frozenset[str]]] = {
    "mutated dout": (
        _swish_like(MutatesDout, "MutatesDout"),
        frozenset({"never_mutates_or_aliases_arguments"}),
    ),
    "ignored dout": (
        _swish_like(IgnoresDout, "IgnoresDout"),
        frozenset(
            {
                "backward_matches_finite_differences",
                "taylor_remainder_is_second_order",
                "backward_is_linear_in_dout",
            }
        ),
    ),
    "backward before forward": (
        _swish_like(ForgetsForward, "ForgetsForward"),
        frozenset({"bad_calls_raise_clear_errors"}),
    ),
    "float32 to float64": (
        _swish_like(Float64Output, "Float64Output"),
        # The gradient checker names it too: "forward returned float64 for float32 inputs".
        frozenset({"gradient_shapes_and_dtypes_match", "backward_matches_finite_differences"}),
    ),
}
"""Each broken layer's spec and exactly the properties that must fail on it."""

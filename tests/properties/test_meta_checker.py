"""Meta-tests: the gate catches deliberately broken layers and passes the correct ones.

Each broken layer below reproduces one kind of bug. It is registered in a private
spec (never in bpcore's registry), and the generic property that should catch it is
run over that spec until it fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bpcore import Affine, NotForwardedError, Relu, ShapeError, Sigmoid, SoftmaxWithLoss
from bpcore import properties as props
from bpcore._arrays import FloatArray
from bpcore.registry import LayerSpec, registered

CORE = {spec.name: spec for spec in registered()}


class OffByRelative:
    """Affine whose dx is off by a relative 1e-6: (1 + 1e-6)·dout·Wᵀ."""

    def __init__(self, W: FloatArray, b: FloatArray) -> None:
        self.inner = Affine(W, b)
        self.W, self.b = W, b

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout)
        self.dW, self.db = self.inner.dW, self.inner.db
        return dx * (1 + 1e-6)


class MissingFactor:
    """Sigmoid whose backward forgets the (1 - y) factor."""

    def __init__(self) -> None:
        self.inner = Sigmoid()

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        assert self.inner.out is not None
        return dout * self.inner.out


class IgnoresDout:
    """ReLU whose backward ignores dout, as if it were always 1."""

    def __init__(self) -> None:
        self.inner = Relu()

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        return self.inner.backward(np.ones_like(dout))


class MutatesDout:
    """The book's ReLU: backward writes zeros into the caller's dout and returns it."""

    def __init__(self) -> None:
        self.mask: npt.NDArray[np.bool_] | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: FloatArray) -> FloatArray:
        dout[self.mask] = 0
        return dout


def _masked_dout(mask: npt.NDArray[np.bool_] | None, dout: FloatArray) -> FloatArray:
    """A correct ReLU backward for the ReLU impostors below, with the documented errors,
    so that each is caught for its one bug and nothing else."""
    if mask is None:
        raise NotForwardedError("Relu.backward: backward() was called before forward().")
    if dout.shape != mask.shape:
        raise ShapeError(f"Relu.backward: expected dout of shape {mask.shape}, got {dout.shape}.")
    return np.where(mask, 0.0, dout).astype(dout.dtype)


class ZeroesInputInForward:
    """ReLU whose forward zeroes the caller's x where x <= 0 (``x[mask] = 0``), then
    returns a copy: the mutation is idempotent, so only a pristine snapshot shows it."""

    def __init__(self) -> None:
        self.mask: npt.NDArray[np.bool_] | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        x[self.mask] = 0
        return x.copy()

    def backward(self, dout: FloatArray) -> FloatArray:
        return _masked_dout(self.mask, dout)


class SortsTargetsInPlace:
    """A loss that sorts each row of the caller's soft or one-hot targets in place before
    an otherwise exact softmax loss: rows stay valid distributions and a second call
    changes nothing, so only a snapshot of the very array it was handed shows it."""

    def __init__(self) -> None:
        self.inner = SoftmaxWithLoss()

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        if t.dtype.kind == "f":
            t.sort(axis=-1)
        return self.inner.forward(x, t)

    def backward(self, dout: FloatArray) -> FloatArray:
        return self.inner.backward(dout)


class StaleMask:
    """ReLU that computes its mask on the first forward only and reuses it afterwards."""

    def __init__(self) -> None:
        self.mask: npt.NDArray[np.bool_] | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = x <= 0
        return np.where(self.mask, 0.0, x).astype(x.dtype)

    def backward(self, dout: FloatArray) -> FloatArray:
        return _masked_dout(self.mask, dout)


class ShiftedLoss:
    """A loss whose forward is off by a constant (+1) while its backward is exact: the
    gradient of the wrong forward is the right gradient, so only an oracle sees it."""

    def __init__(self) -> None:
        self.inner = SoftmaxWithLoss()

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        return self.inner.forward(x, t) + 1.0

    def backward(self, dout: FloatArray) -> FloatArray:
        return self.inner.backward(dout)


class FudgedLoss:
    """The book's loss: -log(y + 1e-7) forward, (y - t)/N backward, so inexact."""

    def __init__(self) -> None:
        self.inner = SoftmaxWithLoss()

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        self.inner.forward(x, t)
        y = self.inner.y
        assert y is not None
        labels = np.asarray(t).reshape(-1)
        n = y.shape[0]
        if labels.size == n and np.issubdtype(labels.dtype, np.integer):
            picked = y[np.arange(n), labels]
        else:
            picked = np.sum(y * np.asarray(t).reshape(y.shape), axis=1)
        return float(-np.sum(np.log(picked + 1e-7)) / n)

    def backward(self, dout: FloatArray) -> FloatArray:
        return self.inner.backward(dout)


class WrongMask:
    """ReLU that passes dout through where x >= 0, i.e. also at x = 0."""

    def __init__(self) -> None:
        self.x: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = np.asarray(x)
        return np.maximum(self.x, 0)

    def backward(self, dout: FloatArray) -> FloatArray:
        assert self.x is not None
        return np.where(self.x >= 0, dout, 0.0)


class PromotesToFloat64:
    """ReLU that computes in float64 whatever its input: float32 silently becomes float64."""

    def __init__(self) -> None:
        self.inner = Relu()

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x.astype(np.float64))

    def backward(self, dout: FloatArray) -> FloatArray:
        return self.inner.backward(dout.astype(np.float64))


class UnreducedBias:
    """Affine whose db keeps the batch axis as a unit axis, (1, M) for (M,): a broadcasting
    slip that every value of db survives."""

    def __init__(self, W: FloatArray, b: FloatArray) -> None:
        self.inner = Affine(W, b)
        self.W, self.b = W, b

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout)
        self.dW = self.inner.dW
        self.db = np.sum(dout, axis=0, keepdims=True, dtype=self.b.dtype)
        return dx


class CountsItsCalls:
    """Sigmoid with hidden state: each forward scales its output by one part in a million
    more than the last, and backward follows it, so every call is self-consistent."""

    def __init__(self) -> None:
        self.inner = Sigmoid()
        self.scale = 1.0

    def forward(self, x: FloatArray) -> FloatArray:
        self.scale += 1e-6
        return (self.inner.forward(x) * self.scale).astype(x.dtype)

    def backward(self, dout: FloatArray) -> FloatArray:
        return (self.inner.backward(dout) * self.scale).astype(dout.dtype)


class LeaksAcrossSamples:
    """ReLU whose every sample also gets a thousandth of the previous sample's input (the
    batch rolled by one), with a matching backward: samples leak into each other."""

    def __init__(self) -> None:
        self.inner = Relu()

    def forward(self, x: FloatArray) -> FloatArray:
        return (self.inner.forward(x) + 1e-3 * np.roll(x, 1, axis=0)).astype(x.dtype)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout) + 1e-3 * np.roll(dout, -1, axis=0)
        return dx.astype(dout.dtype)


class AnswersBeforeForward:
    """ReLU whose backward answers before any forward, with dout itself."""

    def __init__(self) -> None:
        self.mask: npt.NDArray[np.bool_] | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        return np.where(self.mask, 0.0, x).astype(x.dtype)

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.mask is None:
            return dout.copy()
        return _masked_dout(self.mask, dout)


class SqueezesDout:
    """ReLU whose backward squeezes a wrongly shaped dout into shape instead of refusing it."""

    def __init__(self) -> None:
        self.mask: npt.NDArray[np.bool_] | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        return np.where(self.mask, 0.0, x).astype(x.dtype)

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.mask is None:
            raise NotForwardedError("Relu.backward: backward() was called before forward().")
        return _masked_dout(self.mask, np.resize(dout, self.mask.shape))


def _variant(base: str, construct: Callable[[Mapping[str, FloatArray]], object]) -> LayerSpec:
    """The registered spec of ``base`` (strategy, kinks, oracle, ...) around another layer."""
    return dataclasses.replace(CORE[base], construct=construct)


def _falsified(spec: LayerSpec, prop: props.Property, examples: int = 60) -> str | None:
    """The failure message if `prop` fails on some case of `spec` within `examples` tries."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        prop(data.draw(spec.cases()), data.draw)

    try:
        run()
    except AssertionError as error:
        return str(error) or type(error).__name__
    return None


BROKEN = [
    (
        "off by 1e-6",
        "Affine",
        lambda p: OffByRelative(p["W"], p["b"]),
        props.backward_matches_finite_differences,
    ),
    (
        "missing factor",
        "Sigmoid",
        lambda _: MissingFactor(),
        props.backward_matches_finite_differences,
    ),
    (
        "missing factor (Taylor)",
        "Sigmoid",
        lambda _: MissingFactor(),
        props.taylor_remainder_is_second_order,
    ),
    ("ignored dout", "Relu", lambda _: IgnoresDout(), props.backward_is_linear_in_dout),
    (
        "ignored dout (gradcheck)",
        "Relu",
        lambda _: IgnoresDout(),
        props.backward_matches_finite_differences,
    ),
    ("mutated dout", "Relu", lambda _: MutatesDout(), props.never_mutates_or_aliases_arguments),
    (
        "input zeroed in forward",
        "Relu",
        lambda _: ZeroesInputInForward(),
        props.never_mutates_or_aliases_arguments,
    ),
    (
        "targets sorted in place",
        "SoftmaxWithLoss",
        lambda _: SortsTargetsInPlace(),
        props.never_mutates_or_aliases_arguments,
    ),
    ("stale mask", "Relu", lambda _: StaleMask(), props.reuse_matches_a_fresh_layer),
    (
        "loss off by a constant",
        "SoftmaxWithLoss",
        lambda _: ShiftedLoss(),
        props.forward_matches_its_oracle,
    ),
    (
        "fudged loss",
        "SoftmaxWithLoss",
        lambda _: FudgedLoss(),
        props.backward_matches_finite_differences,
    ),
    (
        "float32 becoming float64",
        "Relu",
        lambda _: PromotesToFloat64(),
        props.gradient_shapes_and_dtypes_match,
    ),
    (
        "broadcasting slip",
        "Affine",
        lambda p: UnreducedBias(p["W"], p["b"]),
        props.gradient_shapes_and_dtypes_match,
    ),
    ("hidden state", "Sigmoid", lambda _: CountsItsCalls(), props.deterministic),
    ("samples leaking", "Relu", lambda _: LeaksAcrossSamples(), props.batch_independent),
    (
        "backward before forward answered",
        "Relu",
        lambda _: AnswersBeforeForward(),
        props.bad_calls_raise_clear_errors,
    ),
    (
        "wrongly shaped dout accepted",
        "Relu",
        lambda _: SqueezesDout(),
        props.bad_calls_raise_clear_errors,
    ),
]


@pytest.mark.parametrize(
    ("base", "construct", "prop"),
    [pytest.param(b, c, p, id=name) for name, b, c, p in BROKEN],
)
def test_gate_catches_broken_layer(
    base: str, construct: Callable[[Mapping[str, FloatArray]], object], prop: props.Property
) -> None:
    """The generic property meant for this bug fails on the broken layer."""
    assert _falsified(_variant(base, construct), prop) is not None


CONTROLS = sorted(
    {(base, prop) for _, base, _, prop in BROKEN}, key=lambda c: (c[0], c[1].__name__)
)


@pytest.mark.parametrize(
    ("base", "prop"), CONTROLS, ids=[f"{base}-{prop.__name__}" for base, prop in CONTROLS]
)
def test_the_same_runs_pass_the_correct_layer(base: str, prop: props.Property) -> None:
    """Each run that catches a broken layer -- the same spec, property, examples and
    seed -- finds nothing wrong with the correct layer it was made from: what fails is
    the bug. (Every registered layer passing every property is tests/test_generic.py's.)"""
    failure = _falsified(CORE[base], prop)
    assert failure is None, failure


def test_wrong_mask_at_zero_is_caught_by_the_relu_property() -> None:
    """A mask of x >= 0 instead of x > 0 differs from the book's ReLU at x = 0 exactly."""
    layer = WrongMask()
    layer.forward(np.array([0.0, -0.0, 1.0]))
    assert layer.backward(np.ones(3))[0] != 0.0  # the bug the ReLU bitwise property pins down
    relu = Relu()
    relu.forward(np.array([0.0, -0.0, 1.0]))
    np.testing.assert_array_equal(relu.backward(np.ones(3)), [0.0, 0.0, 1.0])

"""The verification engine's own behaviour: numerical_gradient, the checker, its report, Taylor."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import Affine, Relu, ShapeError, Sigmoid, SoftmaxWithLoss
from bpcore._arrays import FloatArray, FloatDType
from bpcore.errors import DtypeError
from bpcore.gradcheck import (
    GradientMismatch,
    HasConstants,
    LossSubject,
    Mode,
    Status,
    assert_gradients,
    check_gradients,
    loss,
    numerical_gradient,
    taylor_test,
    unary,
)
from bpcore.networks import TwoLayerNet
from bpcore.registry import Case, registered

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 3))
B = RNG.standard_normal(3)
X = RNG.standard_normal((5, 4))


def _affine(dtype: FloatDType) -> Affine:
    return Affine(W.astype(dtype), B.astype(dtype))


class _Scaled:
    """An Affine whose dx is scaled by (1 + delta): a wrong backward of known size."""

    def __init__(self, dtype: FloatDType, delta: float) -> None:
        self.inner = _affine(dtype)
        self.W, self.b = self.inner.W, self.inner.b
        self.delta = delta

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout)
        self.dW, self.db = self.inner.dW, self.inner.db
        return dx * (1 + self.delta)


# -- numerical_gradient -----------------------------------------------------------------


def test_numerical_gradient_of_a_quadratic() -> None:
    """The gradient of Σ x² is 2x, exact for a quadratic up to rounding (no truncation error)."""
    x = np.array([[1.0, -2.0], [3.5, 0.25]])
    grad = numerical_gradient(lambda v: float(np.sum(v**2)), x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-9)


def test_numerical_gradient_handles_integer_input_without_truncating_steps() -> None:
    """An integer x is differentiated in float64 (the book's version rounds x ± h back to ints)."""
    x = np.array([1, 2, 3])
    grad = numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3.0 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1, 2, 3])


def test_numerical_gradient_float32_uses_the_step_actually_taken() -> None:
    """A float32 x gets float32's step, and the realised step in the denominator."""
    x = np.array([0.3, -1.7, 2.9], dtype=np.float32)
    grad = numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    # f is evaluated in float64 at the realised float32 points, so only truncation is left:
    # h²/6 times the third derivative of sin (at most 1), with h = cbrt(eps32)·max(1, |x|).
    h = np.cbrt(np.finfo(np.float32).eps) * np.maximum(1.0, np.abs(x.astype(np.float64)))
    error = np.abs(grad - np.cos(x.astype(np.float64)))
    assert np.all(error <= h**2 / 6)
    assert np.any(error > h**2 / 60), "the float32 step, not float64's, was used"


def test_numerical_gradient_supports_the_books_closure_style() -> None:
    """An f that ignores its argument and reads x through a closure still sees every step."""
    x = np.array([1.0, 2.0])
    grad = numerical_gradient(lambda _: float(np.sum(x**2)), x)
    np.testing.assert_allclose(grad, [2.0, 4.0], rtol=1e-9)


def test_numerical_gradient_restores_x_when_f_raises() -> None:
    """If f raises midway, x is left bit-identical to what the caller passed."""
    x = np.array([0.1, 0.2, 0.3])
    original = x.copy()
    calls = 0

    def explode(_: FloatArray) -> float:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom")
        return float(np.sum(x))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(explode, x)
    assert x.tobytes() == original.tobytes()


def test_numerical_gradient_rejects_bad_steps_and_outputs() -> None:
    """Non-positive steps and non-scalar f raise clear errors; complex x raises DtypeError."""
    with pytest.raises(ValueError, match="h > 0"):
        numerical_gradient(lambda v: float(np.sum(v)), np.ones(2), h=0.0)
    with pytest.raises(ShapeError, match="scalar"):
        numerical_gradient(lambda v: v, np.ones(2))
    with pytest.raises(DtypeError, match="complex"):
        numerical_gradient(lambda v: 0.0, np.ones(2, dtype=complex))


def test_network_gradients_against_the_public_numerical_gradient() -> None:
    """The book's gradient_check: TwoLayerNet backprop equals numerical_gradient per parameter."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=1)
    x = np.random.default_rng(2).standard_normal((3, 4))
    t = np.array([0, 2, 1])
    grads = net.gradient(x, t)
    for name, param in net.params.items():
        numeric = numerical_gradient(lambda _: net.loss(x, t), param)
        # Central differences with h = cbrt(eps) ≈ 6e-6: truncation and rounding ≈ 1e-10.
        np.testing.assert_allclose(grads[name], numeric, atol=1e-8, rtol=1e-6)


# -- check_gradients ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correct_layers_pass(mode: Mode, dtype: type[np.floating]) -> None:
    """Affine passes in float64 and float32, element by element and along directions."""
    report = check_gradients(
        unary(_affine, params=("W", "b")),
        {"x": X.astype(dtype)},
        mode=mode,
        rng=3,
    )
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"x", "W", "b"}
    assert all(c.dtype == np.dtype(dtype).name for c in report.checks)


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_relative_error_of_1e_6_is_a_mismatch(mode: Mode) -> None:
    """dx off by a relative 1e-6 fails in float64, naming the input and the worst element."""
    make = unary(lambda dtype: _Scaled(dtype, 1e-6), params=("W", "b"))
    report = check_gradients(make, {"x": X}, mode=mode, rng=3)
    assert not report.passed
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {"x": Status.MISMATCH, "W": Status.PASS, "b": Status.PASS}
    text = str(report)
    assert "GRADIENT MISMATCH" in text
    assert "input 'x'" in text
    assert "tolerance there" in text


def test_assert_gradients_raises_with_the_report() -> None:
    """assert_gradients raises GradientMismatch (an AssertionError) that carries the report."""
    make = unary(lambda dtype: _Scaled(dtype, 1e-3), params=("W", "b"))
    with pytest.raises(GradientMismatch) as caught:
        assert_gradients(make, {"x": X}, rng=0)
    assert isinstance(caught.value, AssertionError)
    assert not caught.value.report.passed
    assert str(caught.value) == str(caught.value.report)


def test_relu_at_zero_is_non_differentiable_not_a_mismatch() -> None:
    """A probe across ReLU's kink is reported as non-differentiable, declared or detected."""
    x = np.array([[0.0, 1.0, -1.0, 1e-9]])
    for kinks in ({"x": (0.0,)}, None):
        report = check_gradients(unary(lambda _: Relu()), {"x": x}, rng=0, kinks=kinks)
        assert report.passed
        assert report.nondifferentiable
        assert report.checks[0].kinks >= 1


def test_a_wrong_one_sided_value_at_a_kink_is_still_a_mismatch() -> None:
    """At a kink, a backward value outside the one-sided derivatives is a mismatch."""

    class Tripled:
        def __init__(self) -> None:
            self.inner = Relu()

        def forward(self, x: FloatArray) -> FloatArray:
            return self.inner.forward(x)

        def backward(self, dout: FloatArray) -> FloatArray:
            mask = self.inner.mask
            assert mask is not None
            return 3 * self.inner.backward(dout) + np.where(mask, 2 * dout, 0)

    x = np.array([[0.0, 1.0]])
    report = check_gradients(unary(lambda _: Tripled()), {"x": x}, rng=0)
    assert not report.passed


def test_float32_reference_is_float64() -> None:
    """A float32 Sigmoid passes against a float64 reference where float32 differences would not."""
    x = np.linspace(-6, 6, 12, dtype=np.float32).reshape(3, 4)
    report = check_gradients(unary(lambda _: Sigmoid()), {"x": x}, rng=0)
    assert report.passed
    assert report.dtype == "float32"


def test_loss_layers_and_their_fudged_version() -> None:
    """SoftmaxWithLoss passes; the book's log(y + 1e-7) loss with (y - t)/N gradient does not."""
    t = np.array([0, 1, 2, 1, 0])
    assert check_gradients(loss(lambda _: SoftmaxWithLoss(), t), {"x": X[:, :3]}, rng=0).passed

    class Fudged:
        def __init__(self) -> None:
            self.inner = SoftmaxWithLoss()

        def forward(self, x: FloatArray, target: npt.NDArray[np.generic]) -> float:
            self.inner.forward(x, target)
            y = self.inner.y
            assert y is not None
            n = y.shape[0]
            return float(-np.sum(np.log(y[np.arange(n), target] + 1e-7)) / n)

        def backward(self, dout: FloatArray) -> FloatArray:
            return self.inner.backward(dout)

    # Confident wrong predictions make y_t small, where the fudge term matters.
    logits = np.array([[8.0, 0.0, 0.0], [0.0, 9.0, 0.0]])
    report = check_gradients(loss(lambda _: Fudged(), np.array([1, 0])), {"x": logits}, rng=0)
    assert not report.passed


# float32 logits and soft targets where y·s - t cancels: each failed a check before the
# layer computed s - 1 in float64 and the checker measured the subject's noise against
# its twin (errors of 1-3 float32 units of |y| against a bound in units of |g|).
CANCELLING_FLOAT32_CASES = [
    (
        [[-8.982769966125488, 6.62170934677124, -2.230945348739624]],
        [[0.04004339873790741, 0.9215668439865112, 0.03838978335261345]],
        0.1810853,
    ),
    (
        [[-3.6794562339782715, -8.895363807678223, 6.2933669090271]],
        [[0.05295766890048981, 0.00011448208533693105, 0.9469278454780579]],
        1.4835385,
    ),
    (
        [[12.28324031829834, 0.36395174264907837]],
        [[0.9256351590156555, 0.07436484098434448]],
        -0.9438259,
    ),
    (
        [[-25.80182647705078, 11.810096740722656]],
        [[5.4818329102380645e-14, 1.0]],
        -1.1220263,
    ),
]


@pytest.mark.parametrize(("x", "t", "dout"), CANCELLING_FLOAT32_CASES)
def test_float32_soft_targets_that_cancel_pass(
    x: list[list[float]], t: list[list[float]], dout: float
) -> None:
    """A correct float32 loss passes where its gradient y·s - t cancels to a few ulps of y."""
    targets = np.array(t, dtype=np.float32)
    for seed in range(5):
        report = check_gradients(
            loss(lambda _: SoftmaxWithLoss(), targets),
            {"x": np.array(x, dtype=np.float32)},
            dout=np.float32(dout),
            rng=seed,
        )
        assert report.passed, str(report)


class _Float32Bias:
    """Sigmoid whose float32 backward is off by a relative 1e-5: a bug only float32 shows."""

    def __init__(self, dtype: FloatDType) -> None:
        self.inner = Sigmoid()
        self.factor = 1 + 1e-5 if dtype == np.float32 else 1.0

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        return np.asarray(self.inner.backward(dout) * self.factor, dtype=dout.dtype)


def test_a_float32_only_bias_is_not_taken_for_rounding_noise() -> None:
    """An error the float32 subject makes at every point is a mismatch, not measured noise."""
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    assert check_gradients(unary(lambda _: Sigmoid()), {"x": x}, rng=0).passed
    for seed in range(5):
        report = check_gradients(unary(_Float32Bias), {"x": x}, rng=seed)
        assert report.checks[0].status is Status.MISMATCH, str(report)


def test_loss_subjects_own_their_targets_and_declare_float_ones() -> None:
    """Soft targets are the subject's own constants; the caller's array is never touched."""
    soft = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    before = soft.tobytes()
    subject = LossSubject(SoftmaxWithLoss(), soft)
    assert isinstance(subject, HasConstants)
    assert set(subject.constants) == {"t"}
    assert not np.shares_memory(subject.constants["t"], soft)
    assert LossSubject(SoftmaxWithLoss(), np.array([0, 1])).constants == {}
    x = np.array([[0.3, -0.2], [1.0, 0.1]], dtype=np.float32)
    assert check_gradients(loss(lambda _: SoftmaxWithLoss(), soft), {"x": x}, rng=0).passed
    assert soft.tobytes() == before


def test_checker_rejects_bad_calls() -> None:
    """A dout of the wrong shape, an unsupported dtype, or a gradient of the wrong shape raise."""
    make = unary(_affine, params=("W", "b"))
    with pytest.raises(ShapeError, match="dout"):
        check_gradients(make, {"x": X}, dout=np.ones(3))
    with pytest.raises(DtypeError, match="float16"):
        check_gradients(make, {"x": X}, dtype=np.float16)

    class WrongShape:
        def forward(self, x: FloatArray) -> FloatArray:
            return x.copy()

        def backward(self, dout: FloatArray) -> FloatArray:
            return dout[:, :1]

    with pytest.raises(ShapeError, match="gradient of shape"):
        check_gradients(unary(lambda _: WrongShape()), {"x": X})


# -- Taylor test -------------------------------------------------------------------------


def test_taylor_remainder_of_a_right_gradient_is_second_order() -> None:
    """Sigmoid and Affine give observed orders near 2."""
    for make, inputs in (
        (unary(lambda _: Sigmoid()), {"x": X}),
        (unary(_affine, params=("W", "b")), {"x": X}),
    ):
        report = taylor_test(make, inputs, rng=0)
        assert report.passed, str(report)
        assert report.observed_order is not None
        assert math.isclose(report.observed_order, 2.0, abs_tol=0.2)


def test_taylor_remainder_of_a_wrong_gradient_is_first_order() -> None:
    """A 1e-6 relative error in dx shows up as order 1, with no tolerance involved."""
    report = taylor_test(
        unary(lambda dtype: _Scaled(dtype, 1e-6), params=("W", "b")), {"x": X}, rng=0
    )
    assert not report.passed
    assert report.observed_order is not None
    assert math.isclose(report.observed_order, 1.0, abs_tol=0.2)
    assert "FIRST ORDER" in str(report)


def test_taylor_test_of_an_affine_map_is_exact_to_rounding() -> None:
    """For ReLU away from its kink the remainder is at rounding level: exact, and passing."""
    x = np.array([[1.5, -2.0, 3.0]])
    report = taylor_test(unary(lambda _: Relu()), {"x": x}, rng=0, first_step=1e-3)
    assert report.observed_order is None
    assert report.passed


def test_a_soft_target_gradient_that_is_rounding_alone_passes() -> None:
    """Scores all 0 and targets 1/3 rounded to float32: the exact gradient s·y - t is 0, the
    float32 one is y's own rounding (u·|y|), and every parameter is 0 or does not move the
    scores, so no nearby point shows that rounding change. The constants' share in the
    gradient, |∂g/∂t|·|t|, is what admits it."""
    spec = next(s for s in registered() if s.name == "TwoLayerNet")
    case = Case(
        spec=spec,
        params={
            "W1": np.array([[0.0]]),
            "b1": np.array([0.02]),
            "W2": np.zeros((1, 3)),
            "b2": np.zeros(3),
        },
        inputs={"x": np.array([[0.0]])},
        target=np.full((1, 3), 1 / 3),
    )
    report = check_gradients(case.factory(np.float32), case.inputs_as(np.float32), rng=0)
    assert report.passed, str(report)
    b2 = next(c for c in report.checks if c.name == "b2")
    assert b2.max_abs_error > 1e-10  # the rounding is really there, and admitted

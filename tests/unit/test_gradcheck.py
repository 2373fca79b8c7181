"""check_gradients and assert_gradients: verdicts, float32, losses, kinks and bad calls."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import Affine, Relu, ShapeError, Sigmoid, SoftmaxWithLoss
from bpcore._arrays import FloatArray, FloatDType
from bpcore.errors import DtypeError
from bpcore.gradcheck import (
    FULL_LIMIT,
    ArrayCheck,
    GradcheckReport,
    GradientMismatch,
    Mode,
    Status,
    assert_gradients,
    check_gradients,
    loss,
    taylor_test,
    unary,
)
from bpcore.gradcheck import _error_model as error_model
from bpcore.registry import Case, registered
from tests.helpers import AFFINE_X as X
from tests.helpers import ScaledAffine as _Scaled
from tests.helpers import affine as _affine
from tests.helpers import assert_error
from tests.user_layers import BatchNorm as _BatchNorm
from tests.user_layers import CenteredSum, centered_sum_oracle

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
    assert "error / tolerance" in text


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


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_float32_only_bias_is_not_taken_for_rounding_noise(mode: Mode) -> None:
    """An error the float32 subject makes at every point is a mismatch, not measured noise,
    element by element and along directions (whose sizes weight each element's share)."""
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    assert check_gradients(unary(lambda _: Sigmoid()), {"x": x}, rng=0, mode=mode).passed
    for seed in range(5):
        report = check_gradients(unary(_Float32Bias), {"x": x}, rng=seed, mode=mode)
        assert report.checks[0].status is Status.MISMATCH, str(report)


def _two_row_batch_norm_check() -> GradcheckReport:
    """The checker on bpcore's float32 BatchNormalization of one feature on two rows,
    x = [-3, 2]: dx is about 6e-8, a few ulps of terms near 1 that cancel."""
    spec = registered(["BatchNormalization"])[0]
    x = np.array([[-3.0], [2.0]])
    case = Case(spec, {"gamma": np.ones(1), "beta": np.zeros(1)}, {"x": x}, None)
    reference = case.reference(np.float32)
    assert reference is not None
    return check_gradients(
        case.factory(np.float32),
        case.inputs_as(np.float32),
        rng=9914219,
        term_sizes=reference.size,
    )


def test_a_float32_gradient_that_cancels_to_a_few_ulps_passes() -> None:
    """Its rounding is measured by rescaling dout (dout_noise) and allowed for."""
    report = _two_row_batch_norm_check()
    assert report.passed, str(report)


def test_dout_factors_close_to_1_leave_that_rounding_unmeasured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With factors within sqrt(eps) of 1 the rounding comes out alike at every factor,
    and the same check fails: the width of dout_noise's factors carries the pass."""
    monkeypatch.setattr(error_model, "DOUT_NOISE_WIDTH", None)
    assert _two_row_batch_norm_check().checks[0].status is Status.MISMATCH


def test_checker_rejects_bad_calls() -> None:
    """A dout of the wrong shape, an unsupported dtype, or a gradient of the wrong shape raise."""
    make = unary(_affine, params=("W", "b"))
    assert_error(
        ShapeError,
        lambda: check_gradients(make, {"x": X}, dout=np.ones(3)),
        callee="check_gradients",
        expected="dout of the output's shape (5, 3)",
        got="shape (3,)",
    )
    assert_error(
        DtypeError,
        lambda: check_gradients(make, {"x": X}, dtype=np.float16),
        callee="check_gradients",
        expected="float32 or float64",
        got="float16",
    )
    assert_error(
        DtypeError,
        lambda: check_gradients(make, {"x": X.astype(complex)}),
        callee="check_gradients",
        expected="`x` to be a real array",
        got="complex128",
    )

    class WrongShape:
        def forward(self, x: FloatArray) -> FloatArray:
            return x.copy()

        def backward(self, dout: FloatArray) -> FloatArray:
            return dout[:, :1]

    assert_error(
        ShapeError,
        lambda: check_gradients(unary(lambda _: WrongShape()), {"x": X}),
        callee="check_gradients",
        expected="WrongShape.backward to return a gradient of shape (5, 4) for 'x'",
        got="shape (5, 1)",
    )


class _HalfPrecisionTwin:
    """A layer whose parameter stays float16 whatever dtype it is built in."""

    def __init__(self) -> None:
        self.W = np.ones(2, dtype=np.float16)
        self.dW = np.zeros(2, dtype=np.float16)

    def forward(self, x: FloatArray) -> FloatArray:
        return np.asarray(x * self.W)

    def backward(self, dout: FloatArray) -> FloatArray:
        return np.asarray(dout * self.W)


def test_a_twin_that_does_not_hold_float64_parameters_is_rejected() -> None:
    """The float64 twin must hold float64 parameters of the subject's shapes."""
    make = unary(lambda _: _HalfPrecisionTwin(), params=("W",))
    assert_error(
        DtypeError,
        lambda: check_gradients(make, {"x": X[:, :2]}),
        callee="check_gradients",
        expected="the float64 twin's parameter 'W' to be float64 of shape (2,)",
        got="float16 of shape (2,)",
    )


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


def _batch_norm(
    gamma: float | tuple[float, float, float], *, scale: float = 1.0
) -> Callable[[FloatDType], _BatchNorm]:
    """The book's batch normalisation of three features with scales ``gamma`` (one value
    for all three, or one each), ``β = 0``, and its input gradient multiplied by
    ``scale`` (a bug, unless it is 1)."""

    class Scaled(_BatchNorm):
        def backward(self, dout: FloatArray) -> FloatArray:
            return np.asarray(super().backward(dout) * scale, dtype=dout.dtype)

    return lambda dtype: Scaled(
        np.broadcast_to(np.asarray(gamma, dtype), 3).copy(), np.zeros(3, dtype)
    )


# x[:, 1] differ by 1/16 around 1.9: the forward computes x - mean(x) with |x| 30 times
# |x - mean(x)|, and the rounding of the mean, one ulp of 1.9 or none depending on the
# point, moves φ by about 30·u64. The central difference carries that divided by h.
_CANCELLING = np.array([[0.0, 1.9375, 0.0], [0.0, 1.875, 0.0]])


def test_a_forward_that_cancels_internally_passes() -> None:
    """The rounding of such a forward jumps between levels from one point to the next and
    exceeds n·u64·S; a probe that misses its tolerance is measured again at seven steps
    between h/2 and 1.7h, and passes where the central difference moves that much."""
    report = check_gradients(unary(_batch_norm(1.0)), {"x": _CANCELLING}, rng=0)
    assert report.passed, str(report)
    x = next(c for c in report.checks if c.name == "x")
    assert x.worst == (1, 1)  # the probe that needed the spread
    assert abs(x.analytic - x.numerical) > 1e-10  # 2.5e-10: the rounding is really there


def test_a_forward_that_cancels_internally_passes_whatever_the_dout() -> None:
    """Where the forward cancels internally, the spread of the central difference comes on
    top of the error model's bound: at each of 64 douts the correct layer passes."""
    for seed in range(64):
        report = check_gradients(unary(_batch_norm(1.0)), {"x": _CANCELLING}, rng=seed)
        assert report.passed, f"rng={seed}: {report}"


def test_a_small_error_where_the_forward_cancels_is_still_a_mismatch() -> None:
    """The spread of the central difference over its steps is the rounding's, some 1e-10:
    a gradient 1e-5 too large (7e-9 at x[1, 1]) stays a mismatch."""
    report = check_gradients(unary(_batch_norm(1.0, scale=1 + 1e-5)), {"x": _CANCELLING}, rng=0)
    x = next(c for c in report.checks if c.name == "x")
    assert x.status is Status.MISMATCH


def test_a_subnormal_float32_parameter_passes() -> None:
    """γ the smallest float32 subnormal η: γ·dout rounds to 0 or η, an error of up to η/2
    that the division by σ = 3e-4 makes 1e-42, far over n·η. Moving γ by ulps changes that
    rounding (a relative move would leave η where it is), so the subject's measured noise
    admits it."""
    eta = float(np.finfo(np.float32).smallest_subnormal)
    report = check_gradients(unary(_batch_norm(eta)), {"x": np.zeros((2, 3), np.float32)}, rng=0)
    assert report.passed, str(report)
    x = next(c for c in report.checks if c.name == "x")
    assert x.max_abs_error > 1e-43  # the rounding is really there, and admitted


def test_a_float32_mean_that_rounds_alike_at_nearby_points_is_measured() -> None:
    """x[:, 0] = (-2.592818, -2.5) in float32: x - mean(x) is 0.0464 with the mean's
    rounding error, 1.2e-7, in it, so x̂ and dγ err by 2.6e-6 relative. Moving x by 4^k
    ulps keeps the residue of their sum (one binade up), so the rounding of the mean
    would never change; moves by a random number of ulps do change it, and the measured
    noise admits the error. A dγ 1e-4 too large is still a mismatch."""

    class ScaledGamma(_BatchNorm):
        scale = 1.0

        def backward(self, dout: FloatArray) -> FloatArray:
            dx = super().backward(dout)
            assert self.dgamma is not None
            self.dgamma = self.dgamma * self.scale
            return dx

    x = np.array([[-2.592818, 0.0, 0.0], [-2.5, 0.0, 0.0]], np.float32)
    for scale, status in [(1.0, Status.PASS), (1 + 1e-4, Status.MISMATCH)]:

        def make(dtype: FloatDType, scale: float = scale) -> ScaledGamma:
            layer = ScaledGamma(np.zeros(3, dtype), np.zeros(3, dtype))
            layer.scale = scale
            return layer

        report = check_gradients(unary(make), {"x": x}, rng=1)
        gamma = next(c for c in report.checks if c.name == "gamma")
        assert gamma.status is status, str(report)


def test_a_subnormal_parameter_does_not_hide_an_error_elsewhere() -> None:
    """γ = (η, 1, 1) with three rows, where x's gradient is not 0: the noise measured in
    the first column is some 1e-42, and a gradient 1e-4 too large in the others is still
    a mismatch."""
    eta = float(np.finfo(np.float32).smallest_subnormal)
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [-1.0, 0.5, 0.25]], np.float32)
    for scale, status in [(1.0, Status.PASS), (1 + 1e-4, Status.MISMATCH)]:
        make = _batch_norm((eta, 1.0, 1.0), scale=scale)
        report = check_gradients(unary(make), {"x": x}, rng=0)
        assert next(c for c in report.checks if c.name == "x").status is status, str(report)


def test_a_float64_gradient_that_is_rounding_alone_passes() -> None:
    """A loss that is exactly 0: backward computes d - mean(d), whose float64 rounding is
    all the gradient there is. Re-running backward with dout scaled by 1 ± 4^k·eps
    measures that rounding (backward is linear in dout), and the tolerance admits it."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        x = rng.uniform(-4, 4, size=(int(rng.integers(1, 4)), 3))
        make = loss(lambda _: CenteredSum(), np.zeros(len(x), dtype=np.int64))
        report = check_gradients(make, {"x": x}, rng=rng)
        assert report.passed, str(report)


# -- probes: steps, directions and kinks ------------------------------------------------


ROOT_EPS64 = float(np.cbrt(np.finfo(np.float64).eps))
"""cbrt(eps64): the checker's step for a value of magnitude at most 1."""


def test_directional_step_moves_the_largest_element_by_the_full_step() -> None:
    """In directional mode the step along a direction v is cbrt(eps64)·max(1, max|θ|)/max|v|,
    so the element v moves most moves as far as full mode would move the largest value."""
    weights, bias, x = np.array([[3.0]]), np.array([0.0]), np.array([[0.5]])
    make = unary(lambda dtype: Affine(weights.astype(dtype), bias.astype(dtype)), params=("W", "b"))
    # With dout = 1, φ = x·W + b has the slopes below; each array is one element, so the
    # direction is one standard normal draw z, recovered from the analytic value g·z.
    slopes = {"x": 3.0, "W": 0.5, "b": 1.0}
    values = {"x": 0.5, "W": 3.0, "b": 0.0}
    shortest = math.inf
    for seed in range(10):
        report = check_gradients(
            make, {"x": x}, dout=np.ones((1, 1)), mode="directional", directions=1, rng=seed
        )
        for check in report.checks:
            assert check.mode == "directional"
            z = check.analytic / slopes[check.name]
            shortest = min(shortest, abs(z))
            expected = ROOT_EPS64 * max(1.0, abs(values[check.name])) / abs(z)
            # z is recovered through one rounded product and the step through one division
            # more: a few units of roundoff, relative.
            assert check.step == pytest.approx(expected, rel=4 * float(np.finfo(np.float64).eps))
    assert shortest < 1, "some direction is shorter than 1, where the step grows past h"


def test_full_mode_steps_each_element_by_cbrt_eps64_times_its_magnitude() -> None:
    """In full mode the probe of θ_i steps by h_i = cbrt(eps64)·max(1, |θ_i|), whatever the
    dtype under test: the report gives the step at its worst element."""
    weights = np.array([[3.0, -0.25], [40.0, 1e-3]])
    bias = np.array([0.5, -7.0])
    x = np.array([[0.5, -2.0], [100.0, 0.125]])
    values = {"x": x, "W": weights, "b": bias}
    make = unary(lambda dtype: Affine(weights.astype(dtype), bias.astype(dtype)), params=("W", "b"))
    for dtype in (np.float64, np.float32):
        for seed in range(3):
            report = check_gradients(make, {"x": x.astype(dtype)}, mode="full", rng=seed)
            for check in report.checks:
                worst = float(values[check.name][check.worst])
                assert check.step == ROOT_EPS64 * max(1.0, abs(worst))


class _WrongSlope:
    """``y = 2x`` with a backward that returns ``3·dout``: a wrong gradient everywhere."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(2 * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(3 * dout)


@pytest.mark.parametrize("offset", [0.0, 1.5, 2.5])
def test_a_declared_kink_never_excuses_a_wrong_slope(offset: float) -> None:
    """A declared kink at or within reach of the point excuses nothing by itself: the
    backward value must still lie between the one-sided slopes, which here are both 2."""
    x = np.array([[0.5]])
    # |x| <= 1, so the largest element of every direction moves by cbrt(eps64) per step.
    kinks = {"x": [0.5 + offset * ROOT_EPS64]}
    for seed in range(5):
        report = check_gradients(
            unary(lambda _: _WrongSlope()),
            {"x": x},
            mode="directional",
            directions=1,
            kinks=kinks,
            rng=seed,
        )
        assert report.checks[0].status is Status.MISMATCH


class _OneElementLayer:
    """``y = φ(x)`` element-wise, with a backward that returns ``dout·slope(x)``."""

    def __init__(
        self, phi: Callable[[np.ndarray], np.ndarray], slope: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        self.phi, self.slope = phi, slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.asarray(self.phi(x))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(dout * self.slope(self.x))


def _one_element_check(
    phi: Callable[[np.ndarray], np.ndarray], slope: Callable[[np.ndarray], np.ndarray], x: float
) -> ArrayCheck:
    """The checker's figures on ``x`` for a one-element layer, in full mode with dout = 1."""
    make = unary(lambda _: _OneElementLayer(phi, slope))
    report = check_gradients(make, {"x": np.array([[x]])}, dout=np.ones((1, 1)), mode="full")
    return report.checks[0]


def _check_one_element(
    phi: Callable[[np.ndarray], np.ndarray], slope: Callable[[np.ndarray], np.ndarray], x: float
) -> Status:
    """The checker's verdict on ``x`` for a one-element layer, in full mode with dout = 1."""
    return _one_element_check(phi, slope, x).status


def test_an_undeclared_kink_is_found_by_its_one_sided_slopes() -> None:
    """At an undeclared kink of |x|, a backward giving the right-hand slope 1 at 0 is put
    down to the kink (its one-sided slopes are -1 and +1), not reported as a mismatch."""
    status = _check_one_element(np.abs, lambda x: np.where(x >= 0, 1.0, -1.0), 0.0)
    assert status is Status.NONDIFFERENTIABLE


def test_only_the_pieces_that_meet_at_a_kink_admit_a_value() -> None:
    """At 0, |x| + |x - 1e-3| has the one-sided slopes -2 and 0; past its second kink,
    some 165 steps away, the slope is 2. A backward value of 1 lies between -2 and 2 but
    not between the slopes of the pieces that meet at the point: a mismatch."""
    status = _check_one_element(
        lambda x: np.abs(x) + np.abs(x - 1e-3), lambda x: np.full_like(x, 1.0), 0.0
    )
    assert status is Status.MISMATCH


def test_a_small_error_on_a_curved_function_is_a_mismatch_not_a_kink() -> None:
    """On the smooth x² a gradient 1e-6 too large lies between the one-sided differences
    2 ± h, yet they close in like h as the step shrinks: curvature, so a mismatch."""
    status = _check_one_element(np.square, lambda x: 2 * x * (1 + 1e-6), 1.0)
    assert status is Status.MISMATCH


@pytest.mark.parametrize(
    ("offset", "status"),
    [(0.0, Status.NONDIFFERENTIABLE), (1.5, Status.NONDIFFERENTIABLE), (2.5, Status.MISMATCH)],
)
def test_a_declared_kink_counts_within_two_steps_along_a_direction(
    offset: float, status: Status
) -> None:
    """On x² at 0.5 a gradient 1e-6 too large lies between the one-sided slopes 2x ± h
    (h about 6e-6): with a kink declared within reach of the point (|x - k| <= 2·h_v·|v|,
    here 2·cbrt(eps64) whatever the direction) it is put down to the kink; declared 2.5
    steps away, the probe is smooth and the error a mismatch, as without a kink."""
    make = unary(lambda _: _OneElementLayer(np.square, lambda x: 2 * x * (1 + 1e-6)))
    kinks = {"x": [0.5 + offset * ROOT_EPS64]}
    for seed in range(5):
        report = check_gradients(
            make, {"x": np.array([[0.5]])}, mode="directional", directions=1, kinks=kinks, rng=seed
        )
        assert report.checks[0].status is status, str(report)


BEND = 1e-6
"""The scale of tanh(x/BEND): at 0 it turns over within a sixth of the checker's step."""


@pytest.mark.parametrize(("error", "status"), [(0.0, Status.PASS), (0.01, Status.MISMATCH)])
def test_a_function_that_bends_within_the_step_is_judged_at_smaller_steps(
    error: float, status: Status
) -> None:
    """tanh(x/c) with c = 1e-6 at 0: at the step h ≈ 6e-6 the central difference is 1/h,
    not the slope 1/c, and |D_2h - D_h| does not bound that. Steps h/4, h/16, ... converge
    (each gap 16 times the next), so the exact slope passes, and one 1 % off still fails:
    the last gap, about 0.3 % of the slope, bounds what a converged step allows. A pass
    reports the smaller step it was judged at: h/4^k, k from 2 (the first gap that can show
    convergence) to 5."""
    check = _one_element_check(
        lambda x: np.tanh(x / BEND), lambda x: (1 + error) / np.cosh(x / BEND) ** 2 / BEND, 0.0
    )
    assert check.status is status
    if status is Status.PASS:
        assert check.step in {ROOT_EPS64 / 4**k for k in range(2, 6)}


def test_a_probe_along_the_elements_at_a_kink_is_judged_at_smaller_steps_too() -> None:
    """A batch-normalized network whose first weights are 0 has constant features there:
    along a W1 element its first normalization turns over within about sqrt(eps) and its
    second within a fraction of that, and the slope jumps at the step's scale, so the
    element is judged by its one-sided slopes. The probe along the elements found so is
    then judged as a smooth one: at the checker's step its central difference is 628
    against a slope of 2008, and only the smaller steps that converge show it right; the
    report gives that probe (one more than W1's two elements) at its smaller step."""
    spec = registered(["MultiLayerNetExtend"])[0]
    params = {
        "W1": np.array([[0.0, 0.0]]),
        "b1": np.zeros(2),
        "gamma1": np.array([1.0, 2.0]),
        "beta1": np.zeros(2),
        "W2": np.ones((2, 3)),
        "b2": np.zeros(3),
        "gamma2": np.ones(3),
        "beta2": np.array([1.0, 0.0, 0.0]),
        "W3": np.array([[0.0, -1.0], [0.0, 0.0], [0.0, 0.0]]),
        "b3": np.zeros(2),
    }
    case = Case(spec, params, {"x": np.array([[0.0], [2.0]])}, np.array([0, 0]))
    reference = case.reference(np.float64)
    assert reference is not None
    report = check_gradients(case.factory(), case.inputs, rng=0, term_sizes=reference.size)
    assert report.passed, str(report)
    w1 = next(c for c in report.checks if c.name == "W1")
    assert w1.at_kinks_together
    assert w1.checked == 3
    assert w1.step < ROOT_EPS64
    assert abs(w1.analytic - w1.numerical) <= w1.tolerance


@pytest.mark.parametrize(
    ("excess", "status"),
    [
        (1.22, Status.NONDIFFERENTIABLE),
        (1.24, Status.NONDIFFERENTIABLE),
        (1.26, Status.MISMATCH),
        (1.5, Status.MISMATCH),
    ],
)
def test_a_kink_excuses_only_values_within_the_one_sided_first_order_error(
    excess: float, status: Status
) -> None:
    """At the kink of |x| + x², with one-sided differences ±(1 + h) at step h and
    ±(1 + h/4) at h/4, a value is put down to the kink only within their first-order
    error, up to 1 + h + |D(h) - D(h/4)|/3 = 1 + 1.25h; beyond that it is a mismatch. The
    rounding allowed on top is some 1e-15 here (S = 0 at x = 0), far below the 0.01h
    = 6e-8 between 1.24h or 1.26h and that bound."""
    h = ROOT_EPS64  # the checker's step at 0
    status_found = _check_one_element(
        lambda x: np.abs(x) + x**2, lambda x: np.full_like(x, 1 + excess * h), 0.0
    )
    assert status_found is status


# -- modes and the caller's data ----------------------------------------------------------


class _Identity:
    """``y = x``: a layer whose every probe is cheap and exact."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.array(x, copy=True)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.array(dout, copy=True)


@pytest.mark.parametrize(
    ("size", "mode", "checked"),
    [(FULL_LIMIT, "full", FULL_LIMIT), (FULL_LIMIT + 1, "directional", 8)],
)
def test_auto_mode_checks_up_to_full_limit_elements_in_full(
    size: int, mode: str, checked: int
) -> None:
    """In "auto" mode an array of up to FULL_LIMIT (1024) elements is checked element by
    element, a larger one along 8 random directions by default."""
    assert FULL_LIMIT == 1024
    x = np.linspace(-1.0, 1.0, size).reshape(1, size)
    report = check_gradients(unary(lambda _: _Identity()), {"x": x}, rng=0)
    (check,) = report.checks
    assert (check.mode, check.checked, check.status) == (mode, checked, Status.PASS)


def test_the_checker_leaves_the_callers_arrays_as_they_were() -> None:
    """The inputs, and parameters that ``make`` hands the float64 twin by reference, are
    stepped in place only while a probe runs and come back bit for bit, -0.0 included. In a
    float32 check the twin's parameters are set to the subject's values, as documented: a
    caller's array handed to the twin then holds those float32-rounded values."""
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((4, 3))
    weights[0, 0] = -0.0
    bias = rng.standard_normal(3)
    x = rng.standard_normal((5, 4))
    before = weights.tobytes(), bias.tobytes(), x.tobytes()

    def make(dtype: FloatDType) -> Affine:
        if dtype == np.float64:
            return Affine(weights, bias)  # the caller's own arrays, by reference
        return Affine(weights.astype(dtype), bias.astype(dtype))

    report = check_gradients(unary(make, params=("W", "b")), {"x": x}, rng=1)
    assert report.passed, str(report)
    assert (weights.tobytes(), bias.tobytes(), x.tobytes()) == before
    rounded = weights.astype(np.float32).astype(np.float64)
    report = check_gradients(unary(make, params=("W", "b")), {"x": x}, dtype=np.float32, rng=1)
    assert report.passed, str(report)
    assert weights.tobytes() == rounded.tobytes()
    assert x.tobytes() == before[2]


def test_the_checker_never_touches_the_global_random_state() -> None:
    """dout and the directions come from ``rng`` (a fresh generator when None): NumPy's
    global random state is neither read nor advanced."""
    # The legacy global functions are what this test watches, hence the noqa comments.
    np.random.seed(5)  # noqa: NPY002
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    make = unary(_affine, params=("W", "b"))
    check_gradients(make, {"x": X}, mode="directional")
    taylor_test(make, {"x": X})
    assert np.array_equal(np.random.random(3), expected)  # noqa: NPY002


class _RecordsDout:
    """Affine that records every dout its backward receives."""

    def __init__(self, dtype: FloatDType, seen: list[np.ndarray]) -> None:
        self.inner = _affine(dtype)
        self.W, self.b = self.inner.W, self.inner.b
        self.seen = seen

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        self.seen.append(np.array(dout, copy=True))
        dx = self.inner.backward(dout)
        self.dW, self.db = self.inner.dW, self.inner.db
        return dx


def test_the_default_dout_is_a_standard_normal_draw_from_rng() -> None:
    """Without dout, check_gradients and taylor_test use rng's first standard normal draw of
    the output's shape (in the dtype under test for the checker)."""
    for checks, dtype in ((True, np.float32), (False, np.float64)):
        seen: list[np.ndarray] = []

        def record(d: FloatDType, seen: list[np.ndarray] = seen) -> _RecordsDout:
            return _RecordsDout(d, seen)

        make = unary(record, params=("W", "b"))
        if checks:
            check_gradients(make, {"x": X.astype(dtype)}, rng=11)
        else:
            taylor_test(make, {"x": X}, rng=11)
        expected = np.random.default_rng(11).standard_normal((5, 3)).astype(dtype)
        assert seen[0].dtype == dtype
        assert seen[0].tobytes() == expected.tobytes()


# A point a nightly run found: rows of zeros, one tiny entry beside them, and one large
# entry elsewhere. CenteredSum's rounding there is linear in the step, so the spread of
# D over its steps shows nothing, and its result (0) says nothing of its terms' size.
_ZERO_LOSS_X = np.zeros((6, 3))
_ZERO_LOSS_X[1, 0] = 2.8764329797831206e-28
_ZERO_LOSS_X[3, 0] = 6.890625


def test_term_sizes_bound_a_forward_that_cancels_internally() -> None:
    """Given the sizes of CenteredSum's terms, its exactly-zero gradient passes where the
    rounding of the sum mimics a derivative of -1.6e-13; the tolerance stays far below
    a real error's size."""
    t = np.zeros(6, dtype=np.intp)
    make = loss(lambda _: CenteredSum(), t)
    sizes = centered_sum_oracle(_ZERO_LOSS_X, t).size
    report = check_gradients(make, {"x": _ZERO_LOSS_X}, rng=0, term_sizes=sizes)
    assert report.passed, str(report)
    assert report.checks[0].tolerance < 1e-8


def test_term_sizes_do_not_hide_a_wrong_gradient() -> None:
    """With the affine terms' sizes |x|·|W| + |b| given, a 1e-6 relative error in dx is
    still a mismatch."""
    layer = _Scaled(np.dtype(np.float64), 1e-6)
    sizes = np.abs(X) @ np.abs(layer.W) + np.abs(layer.b)
    make = unary(lambda dtype: _Scaled(dtype, 1e-6), params=("W", "b"))
    report = check_gradients(make, {"x": X}, rng=0, term_sizes=sizes)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["x"] is Status.MISMATCH


def test_term_sizes_of_another_shape_are_refused() -> None:
    """term_sizes must have the output's shape."""
    assert_error(
        ShapeError,
        lambda: check_gradients(unary(lambda _: Relu()), {"x": X}, term_sizes=np.ones(2)),
        callee="check_gradients",
        expected="term_sizes of the output's shape (5, 4)",
        got="shape (2,)",
    )

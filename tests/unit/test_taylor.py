"""taylor_test and its report: the remainder's observed order, which needs no tolerance."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from bpcore import Affine, Relu, Sigmoid
from bpcore._arrays import FloatArray
from bpcore.gradcheck import TaylorReport, assert_taylor, loss, taylor_test, unary
from tests.helpers import AFFINE_B as B
from tests.helpers import AFFINE_W as W
from tests.helpers import AFFINE_X as X
from tests.helpers import ScaledAffine as _Scaled
from tests.helpers import affine as _affine
from tests.user_layers import CenteredSum, centered_sum_oracle


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


def _affine_sizes(params: Mapping[str, FloatArray], inputs: Mapping[str, FloatArray]) -> FloatArray:
    """``|x|·|W| + |b|``: the size of an affine forward's terms."""
    size: FloatArray = np.abs(inputs["x"]) @ np.abs(params["W"]) + np.abs(params["b"])
    return size


def test_term_sizes_bound_a_loss_that_is_exactly_zero() -> None:
    """At x = 0 a loss that is exactly 0 rounds in proportion to h, which measuring r
    cannot tell from a first order (this direction is one where it cannot); the growth of
    its terms' size, given, lifts every floor above it."""
    t = np.array([0])
    make = loss(lambda _: CenteredSum(), t)
    x = {"x": np.zeros((1, 3))}
    measured = taylor_test(make, x, rng=15)
    sized = taylor_test(
        make, x, rng=15, term_sizes=lambda p, i: centered_sum_oracle(i["x"], t).size
    )
    assert sized.passed, str(sized)
    assert all(b > a for a, b in zip(measured.noise_floors, sized.noise_floors, strict=True))
    assert all(r <= 10 * f for r, f in zip(sized.remainders, sized.noise_floors, strict=True))


def test_term_sizes_do_not_hide_a_wrong_gradient() -> None:
    """With the affine terms' sizes given, a 1e-6 relative error is still first order:
    their growth, h·n·u·|v|·(|W| + |x|), is far below h·1e-6·|g·v|."""
    report = taylor_test(
        unary(lambda dtype: _Scaled(dtype, 1e-6), params=("W", "b")),
        {"x": X},
        rng=0,
        term_sizes=_affine_sizes,
    )
    assert not report.passed
    assert report.observed_order is not None
    assert math.isclose(report.observed_order, 1.0, abs_tol=0.2)


def test_taylor_test_of_an_affine_map_is_exact_to_rounding() -> None:
    """For ReLU away from its kink the remainder is at rounding level: exact, and passing."""
    x = np.array([[1.5, -2.0, 3.0]])
    report = taylor_test(unary(lambda _: Relu()), {"x": x}, rng=0, first_step=1e-3)
    assert report.observed_order is None
    assert report.passed


def test_taylor_test_runs_twenty_halvings_from_a_sixteenth_by_default() -> None:
    """Without step arguments the steps are 2⁻⁴, 2⁻⁵, ..., 2⁻²³: twenty halvings."""
    report = taylor_test(unary(lambda _: Sigmoid()), {"x": np.array([[0.5, -1.0]])}, rng=0)
    assert report.steps == tuple(2.0**-k for k in range(4, 24))
    assert len(report.remainders) == len(report.noise_floors) == 20


def test_taylor_test_evaluates_float32_points_in_float64() -> None:
    """A float32 point is checked in float64: a right gradient passes at second order."""
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    report = taylor_test(unary(lambda _: Sigmoid()), {"x": x}, rng=1)
    assert report.passed
    assert report.observed_order is not None
    assert report.observed_order > 1.5


class _DoutDtypeSigmoid:
    """A user's sigmoid whose backward computes in the dtype of the ``dout`` it is given."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = 1 / (1 + np.exp(-x))
        return np.asarray(self.y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(dout * self.y * (1 - self.y), dtype=np.asarray(dout).dtype)


def test_taylor_test_uses_a_given_dout_as_float64() -> None:
    """A given dout is used, as float64: zeros make every remainder exactly 0, and a float32
    dout gives the report of its float64 value even for a backward that computes in the
    dtype of the dout it receives."""
    x = np.random.default_rng(2).standard_normal((2, 3))
    report = taylor_test(unary(lambda _: Sigmoid()), {"x": x}, dout=np.zeros((2, 3)), rng=3)
    assert report.remainders == (0.0,) * len(report.steps)
    dout32 = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    make = unary(lambda _: _DoutDtypeSigmoid())
    as_given = taylor_test(make, {"x": x}, dout=dout32, rng=5)
    as_float64 = taylor_test(make, {"x": x}, dout=dout32.astype(np.float64), rng=5)
    assert as_given.remainders == as_float64.remainders


def _taylor_report(
    orders: tuple[float, ...], observed: float | None, *, nonfinite: bool = False
) -> TaylorReport:
    return TaylorReport(
        subject="Layer",
        steps=(0.5, 0.25),
        remainders=(1e-2, 2.5e-3),
        noise_floors=(1e-9, 2e-9),
        orders=orders,
        observed_order=observed,
        nonfinite=nonfinite,
    )


@pytest.mark.parametrize(
    ("orders", "observed", "nonfinite", "summary"),
    [
        ((2.0, 2.0, 2.0), 2.0, False, "observed order 2.00: second order"),
        ((1.0, 1.0, 1.0), 1.0, False, "observed order 1.00: FIRST ORDER, the gradient is wrong"),
        ((), None, False, "no remainder rose above its rounding floor: nothing was measured"),
        ((2.0, 2.0, 2.0), 2.0, True, "FAILED: the gradient or a remainder is NaN or infinite"),
    ],
    ids=["second", "first", "none", "nonfinite"],
)
def test_taylor_report_text(
    orders: tuple[float, ...], observed: float | None, nonfinite: bool, summary: str
) -> None:
    """The Taylor report states the order and the verdict, then one row per step; a NaN or
    infinite value fails it whatever the orders say."""
    report = _taylor_report(orders, observed, nonfinite=nonfinite)
    head, *rows = str(report).split("\n")
    assert head == f"Layer Taylor remainder: {summary}"
    assert len(rows) == len(report.steps)
    for row, h, r, floor in zip(
        rows, report.steps, report.remainders, report.noise_floors, strict=True
    ):
        assert row.split() == [f"h={h:.3e}", f"r(h)={r:.3e}", f"floor={floor:.1e}"]


def test_taylor_report_with_ragged_columns_refuses_to_print() -> None:
    """A hand-built report whose columns differ in length is rejected when printed."""
    report = TaylorReport(
        subject="Layer",
        steps=(0.5, 0.25),
        remainders=(1e-2,),
        noise_floors=(1e-9, 2e-9),
        orders=(),
        observed_order=None,
    )
    with pytest.raises(ValueError, match="zip"):
        str(report)


def test_taylor_test_restores_the_subjects_parameters_and_the_inputs() -> None:
    """The parameters that the test moves along v are restored bit for bit afterwards, and
    the caller's inputs are never touched."""
    weights, bias, x = W.copy(), B.copy(), X.copy()
    weights[0, 0] = -0.0
    before = weights.tobytes(), bias.tobytes(), x.tobytes()
    report = taylor_test(unary(lambda _: Affine(weights, bias), params=("W", "b")), {"x": x})
    assert report.passed, str(report)
    assert (weights.tobytes(), bias.tobytes(), x.tobytes()) == before


def test_assert_taylor_returns_the_report_of_taylor_test_by_default() -> None:
    """Without options assert_taylor runs taylor_test's defaults (twenty halvings from
    2⁻⁴) and returns the same report."""
    make = unary(_affine, params=("W", "b"))
    report = assert_taylor(make, {"x": X}, rng=0)
    assert report == taylor_test(make, {"x": X}, rng=0)
    assert report.steps == tuple(2.0**-k for k in range(4, 24))


def test_assert_taylor_passes_every_option_to_taylor_test() -> None:
    """dout, rng, first_step, halvings and term_sizes given to assert_taylor give the report
    taylor_test gives for them (the seed is one whose direction makes the terms' sizes
    grow, so that they lift the floors)."""
    make = unary(_affine, params=("W", "b"))
    dout = np.random.default_rng(6).standard_normal((X.shape[0], W.shape[1]))

    def with_every_option(run: Callable[..., TaylorReport]) -> TaylorReport:
        return run(make, {"x": X}, dout=dout, rng=5, first_step=2.0**-3, halvings=12,
                   term_sizes=_affine_sizes)  # fmt: skip

    report = with_every_option(assert_taylor)
    assert report == with_every_option(taylor_test)
    assert report.steps == tuple(2.0**-k for k in range(3, 15))
    unsized = taylor_test(make, {"x": X}, dout=dout, rng=5, first_step=2.0**-3, halvings=12)
    assert unsized.remainders == report.remainders
    assert unsized.noise_floors != report.noise_floors, "the term sizes changed no floor"
    random_dout = taylor_test(make, {"x": X}, rng=5, first_step=2.0**-3, halvings=12)
    assert random_dout.remainders != report.remainders, "the given dout changed nothing"

"""Exact behaviour that mutation testing found unchecked: the verification engine's reports,
adapters and kink heuristics.

Each test pins down a behaviour that a surviving mutant of ``nox -s mutants`` changed
without any other test noticing (see docs/mutation-testing.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest

from bpcore import Affine, MulLayer, Sigmoid, SoftmaxWithLoss
from bpcore.gradcheck import (
    ArrayCheck,
    GradcheckReport,
    Status,
    TaylorReport,
    binary,
    check_gradients,
    loss,
    network,
    numerical_gradient,
    taylor_test,
    unary,
)
from bpcore.networks import TwoLayerNet


def _exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for the whole message and nothing else."""
    return "^" + re.escape(message) + "$"


# -- the verification engine --------------------------------------------------------------


def test_numerical_gradient_uses_an_explicit_step() -> None:
    """A given step h, scalar or one per element, is the step taken: for Σ x³ the central
    difference is exactly 3x² + h², so the h² term shows which step was used."""
    x = np.array([1.0, 2.0])
    cube = lambda v: float(np.sum(v**3))  # noqa: E731  # a one-line test function
    for h in (0.5, np.array([0.5, 0.25])):
        # x ± h, their cubes and the differences are short dyadic fractions: exact in float64.
        expected = 3 * x**2 + np.broadcast_to(h, x.shape) ** 2
        np.testing.assert_array_equal(numerical_gradient(cube, x, h=h), expected)


def test_numerical_gradient_accepts_any_single_element_result() -> None:
    """f may return a float or any one-element array; both give the same gradient."""
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    as_float = numerical_gradient(lambda v: float(np.sum(v**2)), x)
    as_array = numerical_gradient(lambda v: np.sum(v**2).reshape(1, 1), x)
    np.testing.assert_array_equal(as_array, as_float)


def test_numerical_gradient_hands_f_a_working_copy() -> None:
    """f always receives a float64 working copy, never the caller's array, float64 or not."""
    for x in (np.array([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32), np.array([1, 2])):
        seen: list[bool] = []

        def f(v: np.ndarray, x: np.ndarray = x, seen: list[bool] = seen) -> float:
            seen.append(v.dtype == np.float64 and not np.shares_memory(v, x))
            return float(np.sum(v))

        numerical_gradient(f, x)
        assert seen
        assert all(seen)


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


def _taylor_report(orders: tuple[float, ...], observed: float | None) -> TaylorReport:
    return TaylorReport(
        subject="Layer",
        steps=(0.5, 0.25),
        remainders=(1e-2, 2.5e-3),
        noise_floors=(1e-9, 2e-9),
        orders=orders,
        observed_order=observed,
    )


@pytest.mark.parametrize(
    ("orders", "observed", "summary"),
    [
        ((2.0, 2.0, 2.0), 2.0, "observed order 2.00 (second order)"),
        ((1.0, 1.0, 1.0), 1.0, "observed order 1.00 (FIRST ORDER: the gradient is wrong)"),
        ((), None, "observed order none usable (second order)"),
    ],
    ids=["second", "first", "none"],
)
def test_taylor_report_text(
    orders: tuple[float, ...], observed: float | None, summary: str
) -> None:
    """The Taylor report states the order and the verdict, then one row per step."""
    report = _taylor_report(orders, observed)
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


def _array_check(mode: str, worst: tuple[int, ...], status: Status = Status.PASS) -> ArrayCheck:
    return ArrayCheck(
        name="x",
        role="input",
        status=status,
        mode=mode,
        checked=4,
        max_abs_error=0.0,
        max_rel_error=0.0,
        worst=worst,
        analytic=1.0,
        numerical=1.0,
        step=1e-5,
        tolerance=1e-9,
        dtype="float64",
        kinks=0,
    )


@pytest.mark.parametrize(
    ("mode", "worst", "where"),
    [
        ("directional", (3,), "direction 3"),
        ("full", (2,), "index 2"),
        ("full", (1, 2), "index (1, 2)"),
    ],
)
def test_array_check_names_its_worst_probe(mode: str, worst: tuple[int, ...], where: str) -> None:
    """The report names the worst probe as a direction in directional mode and as an
    element index otherwise (a bare number for 1-D arrays)."""
    lines = _array_check(mode, worst).describe().split("\n")
    assert len(lines) == 3
    assert lines[0] == f"  input 'x' [float64, {mode}, 4 checked]: pass"
    assert lines[1].startswith(f"    worst at {where}: analytic ")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(Status.PASS, "gradients match"), (Status.MISMATCH, "GRADIENT MISMATCH")],
)
def test_gradcheck_report_text(status: Status, verdict: str) -> None:
    """The report's first line names the layer, dtype and verdict; each array follows."""
    check = _array_check("full", (0,), status)
    report = GradcheckReport(subject="Layer", dtype="float64", checks=(check, check))
    lines = str(report).split("\n")
    assert lines[0] == f"Layer (float64): {verdict}"
    assert lines[1:] == check.describe().split("\n") * 2


class _ScaledProduct:
    """``out = w·x·y`` with a parameter ``w`` of shape (1,): a binary layer with parameters."""

    def __init__(self, dtype: np.dtype) -> None:
        self.w = np.array([1.5], dtype=dtype)
        self.dw: np.ndarray | None = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.x, self.y = x, y
        return np.asarray(self.w * x * y)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.dw = np.asarray(np.sum(dout * self.x * self.y), dtype=self.w.dtype).reshape(1)
        return np.asarray(dout * self.w * self.y), np.asarray(dout * self.w * self.x)


def test_binary_adapter_checks_parameters_and_builds_in_both_dtypes() -> None:
    """binary(..., params=...) checks the layer's parameters too, and builds the layer in
    the subject's dtype and in float64 for the reference twin."""
    built: list[np.dtype] = []

    def make(dtype: np.dtype) -> _ScaledProduct:
        built.append(np.dtype(dtype))
        return _ScaledProduct(dtype)

    rng = np.random.default_rng(11)
    inputs: dict[str, np.ndarray] = {
        "x": rng.standard_normal(3).astype(np.float32),
        "y": rng.standard_normal(3),
    }
    report = check_gradients(binary(make, params=("w",)), inputs, dtype=np.float32, rng=12)
    assert {(c.name, c.role) for c in report.checks} == {
        ("x", "input"),
        ("y", "input"),
        ("w", "parameter"),
    }
    assert report.passed
    assert built[:2] == [np.dtype(np.float32), np.dtype(np.float64)]


def test_network_adapter_builds_in_both_dtypes() -> None:
    """network(make, t) builds the network in the subject's dtype and in float64."""
    built: list[np.dtype] = []

    def make(dtype: np.dtype) -> TwoLayerNet:
        built.append(np.dtype(dtype))
        return TwoLayerNet(3, 4, 2, weight_init_std=0.5, rng=13, dtype=dtype)

    x = np.random.default_rng(14).standard_normal((2, 3)).astype(np.float32)
    check_gradients(network(make, np.array([0, 1])), {"x": x}, rng=15)
    assert built[:2] == [np.dtype(np.float32), np.dtype(np.float64)]


def test_checker_reports_each_adapted_layer_by_its_class_name() -> None:
    """binary, loss and network adapters check their layer and report it by class name."""
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((2, 3)), rng.standard_normal(3)
    t = np.array([0, 2])
    cases = [
        (binary(lambda _: MulLayer()), {"x": x, "y": y}, "MulLayer"),
        (loss(lambda _: SoftmaxWithLoss(), t), {"x": x}, "SoftmaxWithLoss"),
        (
            network(lambda dtype: TwoLayerNet(3, 4, 3, weight_init_std=0.5, rng=7, dtype=dtype), t),
            {"x": x},
            "TwoLayerNet",
        ),
    ]
    for make, inputs, name in cases:
        report = check_gradients(make, inputs, rng=8)
        assert report.subject == name
        assert report.passed


class _WeightedSquaredLoss:
    """``L = ½ Σ W·(x - t)²`` with a parameter ``W``: a loss layer that has parameters."""

    def __init__(self, dtype: np.dtype) -> None:
        self.W = np.linspace(0.5, 2.0, 6).reshape(2, 3).astype(dtype)
        self.dW: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.diff = x - t
        return float(0.5 * np.sum(self.W * self.diff**2))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = np.asarray(dout * 0.5 * self.diff**2)
        return np.asarray(dout * self.W * self.diff)


def test_loss_adapter_checks_the_loss_layers_parameters() -> None:
    """loss(..., params=...) checks the named parameters of a loss layer as well as x."""
    t = np.zeros((2, 3))
    x = np.random.default_rng(9).standard_normal((2, 3))
    report = check_gradients(loss(_WeightedSquaredLoss, t, params=("W",)), {"x": x}, rng=10)
    assert {(c.name, c.role) for c in report.checks} == {("x", "input"), ("W", "parameter")}
    assert report.passed


class _ListParameter:
    """A layer whose parameter ``W`` is a list, not an array."""

    def __init__(self) -> None:
        self.W = [1.0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(dout)


class _ForgetfulAffine:
    """An Affine-like layer whose backward never sets ``db``."""

    def __init__(self) -> None:
        self.W, self.b = np.eye(2), np.zeros(2)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ self.W + self.b)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = np.zeros((2, 2))
        return np.asarray(dout @ self.W.T)


def test_a_missing_or_non_array_attribute_is_named() -> None:
    """A gradient attribute never set, or a parameter that is not an array, is reported
    by layer, role, attribute and the type found."""
    x = {"x": np.ones((1, 2))}
    message = (
        "_ForgetfulAffine: expected gradient attribute `db` to be a numpy array, got NoneType."
    )
    with pytest.raises(TypeError, match=_exactly(message)):
        check_gradients(unary(lambda _: _ForgetfulAffine(), params=("W", "b")), x)
    message = "_ListParameter: expected parameter attribute `W` to be a numpy array, got list."
    with pytest.raises(TypeError, match=_exactly(message)):
        check_gradients(unary(lambda _: _ListParameter(), params=("W",)), x)


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


class _WrongSlope:
    """``y = 2x`` with a backward that returns ``3·dout``: a wrong gradient everywhere."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(2 * x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(3 * dout)


@pytest.mark.parametrize(
    ("offset", "status"), [(1.5, Status.NONDIFFERENTIABLE), (2.5, Status.MISMATCH)]
)
def test_directional_probes_excuse_only_kinks_within_two_steps(
    offset: float, status: Status
) -> None:
    """A failing directional probe is put down to a declared kink only when the kink lies
    within two steps of the point; a wrong gradient farther away is a mismatch."""
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
        assert report.checks[0].status is status


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


def _check_one_element(
    phi: Callable[[np.ndarray], np.ndarray], slope: Callable[[np.ndarray], np.ndarray], x: float
) -> Status:
    """The checker's verdict on ``x`` for a one-element layer, in full mode with dout = 1."""
    make = unary(lambda _: _OneElementLayer(phi, slope))
    report = check_gradients(make, {"x": np.array([[x]])}, dout=np.ones((1, 1)), mode="full")
    return report.checks[0].status


def test_an_undeclared_kink_is_found_by_its_one_sided_slopes() -> None:
    """At an undeclared kink of |x|, a backward giving the right-hand slope 1 at 0 is put
    down to the kink (its one-sided slopes are -1 and +1), not reported as a mismatch."""
    status = _check_one_element(np.abs, lambda x: np.where(x >= 0, 1.0, -1.0), 0.0)
    assert status is Status.NONDIFFERENTIABLE


def test_a_small_error_on_a_curved_function_is_a_mismatch_not_a_kink() -> None:
    """On the smooth x² a gradient 1e-6 too large lies between the one-sided differences
    2 ± h, yet they close in like h as the step shrinks: curvature, so a mismatch."""
    status = _check_one_element(np.square, lambda x: 2 * x * (1 + 1e-6), 1.0)
    assert status is Status.MISMATCH


@pytest.mark.parametrize(
    ("excess", "status"), [(1.22, Status.NONDIFFERENTIABLE), (1.5, Status.MISMATCH)]
)
def test_a_kink_excuses_only_values_within_the_one_sided_first_order_error(
    excess: float, status: Status
) -> None:
    """At the kink of |x| + x², with one-sided differences ±(1 + h) at step h and
    ±(1 + h/4) at h/4, a value is put down to the kink only within their first-order
    error, up to 1 + h + |D(h) - D(h/4)|/3 = 1 + 1.25h; beyond that it is a mismatch."""
    h = ROOT_EPS64  # the checker's step at 0
    status_found = _check_one_element(
        lambda x: np.abs(x) + x**2, lambda x: np.full_like(x, 1 + excess * h), 0.0
    )
    assert status_found is status

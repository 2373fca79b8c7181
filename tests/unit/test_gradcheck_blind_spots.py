"""The checker on the bugs that used to slip through: NaN and infinity, arguments edited in
place, wrong values at ties, unlisted parameters and numerical warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bpcore import Affine
from bpcore._arrays import FloatArray, FloatDType
from bpcore.errors import ArgumentError, ArgumentTypeError
from bpcore.gradcheck import (
    GradientMismatch,
    Status,
    TaylorMismatch,
    assert_gradients,
    assert_taylor,
    binary,
    check_gradients,
    discover_parameters,
    loss,
    taylor_test,
    unary,
)
from tests.helpers import assert_error

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3))


class _Filled:
    """``y = 2x`` whose backward returns ``fill`` everywhere (NaN or infinity)."""

    def __init__(self, fill: float) -> None:
        self.fill = fill

    def forward(self, x: FloatArray) -> FloatArray:
        return 2 * x

    def backward(self, dout: FloatArray) -> FloatArray:
        return np.full_like(dout, self.fill)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
def test_a_non_finite_gradient_fails(fill: float) -> None:
    """A backward of NaN or ±inf is a mismatch in both checks, never a pass."""
    report = check_gradients(unary(lambda _: _Filled(fill)), {"x": X}, rng=0)
    assert not report.passed
    assert report.checks[0].status is Status.MISMATCH
    assert report.checks[0].nonfinite == report.checks[0].checked
    assert "NaN or infinite" in str(report)
    with pytest.raises(TaylorMismatch):
        assert_taylor(unary(lambda _: _Filled(fill)), {"x": X}, rng=0)


class _Overflowing:
    """``y = x·s`` for a huge ``s``: the forward overflows to infinity, so no finite
    difference exists."""

    def forward(self, x: FloatArray) -> FloatArray:
        with np.errstate(over="ignore"):
            return x * 1e308 * 1e10

    def backward(self, dout: FloatArray) -> FloatArray:
        with np.errstate(over="ignore"):
            return dout * 1e308 * 1e10


def test_a_non_finite_numerical_gradient_fails() -> None:
    """Where the function itself overflows, the check fails instead of passing on inf."""
    report = check_gradients(unary(lambda _: _Overflowing()), {"x": X}, rng=0)
    assert not report.passed


class _BookRelu:
    """The book's ReLU: backward writes zeros into ``dout``."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: FloatArray) -> FloatArray:
        dout[self.mask] = 0
        return dout


class _CentringAffine:
    """An Affine whose backward centres ``dout`` in place first: every gradient is wrong,
    yet a checker that builds its numerical side from the edited ``dout`` agrees."""

    def __init__(self, dtype: FloatDType) -> None:
        rng = np.random.default_rng(1)
        self.W = rng.standard_normal((3, 2)).astype(dtype)
        self.b = rng.standard_normal(2).astype(dtype)
        self.dW: FloatArray | None = None
        self.db: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: FloatArray) -> FloatArray:
        dout -= dout.mean(axis=0)
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return dout @ self.W.T


def test_a_backward_that_edits_dout_fails_and_names_it() -> None:
    """The book's ReLU and a centring Affine both fail, the report naming `dout`."""
    x = X + np.sign(X) * 0.01  # away from the kink
    for make in (unary(lambda _: _BookRelu()), unary(_CentringAffine)):
        report = check_gradients(make, {"x": x}, rng=0)
        assert not report.passed
        assert "backward modified `dout` in place" in report.problems


class _SortsInputs:
    """``y = 3x``, whose forward sorts its input in place."""

    def forward(self, x: FloatArray) -> FloatArray:
        x.sort(axis=-1)
        return 3 * x

    def backward(self, dout: FloatArray) -> FloatArray:
        return 3 * dout


def test_a_forward_that_edits_its_input_fails_and_names_it() -> None:
    """An input sorted in place by forward is reported by name."""
    report = check_gradients(unary(lambda _: _SortsInputs()), {"x": X}, rng=0)
    assert "forward modified input `x` in place" in report.problems
    assert not report.passed


class _PairMax:
    """Max over pairs of columns: ``y[n, k] = max(x[n, 2k], x[n, 2k + 1])``.

    ``route`` picks where backward sends each ``dout``: ``"first"`` to the first maximum
    (a valid subgradient at ties), ``"last"`` to the window's last element whatever the
    maximum (wrong wherever the last element is not a maximum), ``"every"`` to each
    maximum (wrong at ties: each tied element's value lies among its own one-sided
    derivatives, their sum does not)."""

    def __init__(self, route: str) -> None:
        self.route = route

    def forward(self, x: FloatArray) -> FloatArray:
        self.pairs = x.reshape(x.shape[0], -1, 2)
        return np.max(self.pairs, axis=2)  # type: ignore[no-any-return]  # NumPy's stubs type max as Any

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = np.zeros_like(self.pairs)
        if self.route == "every":
            tied = self.pairs == np.max(self.pairs, axis=2, keepdims=True)
            return np.where(tied, dout[..., None], 0.0).reshape(dout.shape[0], -1)
        if self.route == "first":
            pick = np.argmax(self.pairs, axis=2)
        else:
            pick = np.ones(self.pairs.shape[:2], dtype=np.intp)
        np.put_along_axis(dx, pick[..., None], dout[..., None], axis=2)
        return dx.reshape(dx.shape[0], -1)


def _tied_pairs() -> FloatArray:
    """Windows tied at non-zero values, and windows whose first element is the maximum."""
    return np.array([[1.5, 1.5, -0.7, -0.7, 2.0, -1.0], [0.3, 0.3, 4.0, 1.0, -2.5, -2.5]])


def test_max_over_ties_passes_when_routed_to_a_maximum() -> None:
    """At ties, the gradient of one maximum is a valid subgradient: no failure."""
    report = check_gradients(unary(lambda _: _PairMax("first")), {"x": _tied_pairs()}, rng=0)
    assert report.passed, str(report)
    assert report.checks[0].status is Status.NONDIFFERENTIABLE


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_routed_to_an_element_that_is_not_a_maximum_fails(dtype: type[np.floating]) -> None:
    """Routing to an element that is not a maximum fails, ties elsewhere or not: a tie's
    growing finite-difference noise excuses nothing."""
    x = _tied_pairs().astype(dtype)
    report = check_gradients(unary(lambda _: _PairMax("last")), {"x": x}, rng=0)
    assert not report.passed
    assert report.checks[0].status is Status.MISMATCH
    assert report.checks[0].ratio > 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_routed_to_every_tied_maximum_fails(dtype: type[np.floating]) -> None:
    """Sending a tied window's whole ``dout`` to both maxima fails in full mode: moving the
    tied elements together moves the maximum by the same amount, so every valid
    subgradient sums to ``dout`` over a tie, and this one sums to twice it."""
    x = _tied_pairs().astype(dtype)
    check = check_gradients(unary(lambda _: _PairMax("every")), {"x": x}, rng=0).checks[0]
    assert check.mode == "full"
    assert check.status is Status.MISMATCH
    assert check.at_kinks_together
    assert "kink elements moved together" in check.describe()


class _MixedRelu:
    """ReLU whose backward takes the slope 1 at ``x = 0`` in even columns and 0 in odd
    ones: each is a valid subgradient, but no single piece around the point has both."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout: FloatArray) -> FloatArray:
        at_zero = np.zeros(self.x.shape, dtype=bool)
        at_zero[:, ::2] = self.x[:, ::2] == 0
        return np.where((self.x > 0) | at_zero, dout, 0).astype(dout.dtype)


@pytest.mark.parametrize("seed", range(5))
def test_mixed_subgradients_at_separate_kinks_pass(seed: int) -> None:
    """Where the pieces around the point have different slopes along the kink elements
    together, the joint probe binds nothing: a valid mix of one-sided slopes passes."""
    x = np.zeros((3, 4))
    x[0] = [1.0, -2.0, 0.5, 3.0]
    report = check_gradients(unary(lambda _: _MixedRelu()), {"x": x}, rng=seed)
    assert report.passed, str(report)
    assert report.checks[0].status is Status.NONDIFFERENTIABLE


class _MeanBiasAffine:
    """An Affine whose db is the mean of dout over the batch instead of its sum."""

    def __init__(self, dtype: FloatDType) -> None:
        rng = np.random.default_rng(2)
        self.W = rng.standard_normal((3, 2)).astype(dtype)
        self.b = rng.standard_normal(2).astype(dtype)
        self.dW: FloatArray | None = None
        self.db: FloatArray | None = None
        self.x: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: FloatArray) -> FloatArray:
        assert self.x is not None
        self.dW, self.db = self.x.T @ dout, dout.mean(axis=0)
        return dout @ self.W.T


def test_parameters_are_discovered_the_books_way() -> None:
    """Every float array attribute X with an attribute dX is a parameter, and only those."""
    layer = _MeanBiasAffine(np.dtype(np.float64))
    layer.forward(X)
    assert discover_parameters(layer) == ("W", "b")
    affine = Affine(np.ones((3, 2)), np.zeros(2))
    assert discover_parameters(affine) == ("W", "b")


def test_an_unlisted_parameter_is_checked_anyway() -> None:
    """With params left out, the wrong db is found; listing only W is refused, naming b."""
    report = check_gradients(unary(_MeanBiasAffine), {"x": X}, rng=0)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["b"] is Status.MISMATCH
    assert_error(
        ArgumentError,
        lambda: check_gradients(unary(_MeanBiasAffine, params=("W",)), {"x": X}, rng=0),
        callee="unary",
        expected="every parameter",
        got="['b'] unchecked",
    )


class _BookSigmoid:
    """The book's sigmoid, ``1 / (1 + exp(-x))``, which overflows for x < -709."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * (1.0 - self.out) * self.out


def test_numerical_warnings_are_failures_unless_allowed() -> None:
    """An overflow warning in the layer fails the check and is named; allow_warnings=True
    lets an expected one through."""
    x = np.array([[-800.0, 0.5, 1.0]])
    report = check_gradients(unary(lambda _: _BookSigmoid()), {"x": x}, rng=0)
    assert not report.passed
    assert any("overflow" in problem for problem in report.problems)
    allowed = check_gradients(unary(lambda _: _BookSigmoid()), {"x": x}, rng=0, allow_warnings=True)
    assert allowed.passed, str(allowed)


class _FlaggedProduct:
    """x·2 whose forward raises the warning NumPy gives when a matrix product leaves a
    floating-point flag set: what OpenBLAS does now and then for finite products."""

    def forward(self, x: FloatArray) -> FloatArray:
        warnings.warn("invalid value encountered in matmul", RuntimeWarning, stacklevel=1)
        return x * 2

    def backward(self, dout: FloatArray) -> FloatArray:
        return dout * 2


def test_a_matrix_product_flag_with_finite_results_is_not_a_failure() -> None:
    """A matmul warning is left out of the problems while everything the layer returns
    is finite: OpenBLAS leaves the flags set for finite products now and then."""
    x = np.array([[0.5, -1.0, 2.0]])
    report = check_gradients(unary(lambda _: _FlaggedProduct()), {"x": x}, rng=0)
    assert report.passed, str(report)
    assert report.problems == ()


def test_an_overflowing_matrix_product_still_fails() -> None:
    """float32 x·W of 1e30·1e30 overflows to inf in forward (bpcore's Affine, silently):
    the layer returned an infinity, which is a failure although the gradients themselves
    are finite and the float64 twin's forward is too."""
    W = np.full((3, 2), 1e30, dtype=np.float32)
    b = np.zeros(2, dtype=np.float32)
    x = np.full((1, 3), 1e30, dtype=np.float32)
    report = check_gradients(unary(lambda d: Affine(W.astype(d), b.astype(d))), {"x": x}, rng=0)
    assert not report.passed
    assert "forward returned NaN or infinity for float32 inputs" in report.problems


@pytest.mark.parametrize(
    ("options", "expected", "got"),
    [
        ({"mode": "bogus"}, "`mode` one of", "'bogus'"),
        ({"directions": 0}, "`directions` >= 1", "0"),
        ({"kinks": {"z": [0.0]}}, "`kinks` keys among the inputs ['x']", "['z']"),
    ],
)
def test_options_are_validated_before_anything_runs(
    options: dict[str, object], expected: str, got: str
) -> None:
    """A bad mode, a non-positive number of directions or a kink for no input is refused."""
    assert_error(
        ArgumentError,
        lambda: check_gradients(unary(lambda _: _Filled(1.0)), {"x": X}, **options),  # type: ignore[arg-type]  # the bad option under test
        callee="check_gradients",
        expected=expected,
        got=got,
    )


class _Scale:
    """``out = a·b`` for inputs named by the caller."""

    def forward(self, a: FloatArray, b: FloatArray) -> FloatArray:
        self.a, self.b = a, b
        return a * b

    def backward(self, dout: FloatArray) -> tuple[FloatArray, FloatArray]:
        return dout * self.b, dout * self.a


def test_adapters_take_any_input_names() -> None:
    """binary(..., inputs=("a", "b")) checks inputs called a and b, and a loss its own name."""
    report = assert_gradients(
        binary(lambda _: _Scale(), inputs=("a", "b")), {"a": X, "b": X[::-1].copy()}, rng=0
    )
    assert {c.name for c in report.checks} == {"a", "b"}


def test_a_class_or_an_instance_is_not_a_factory() -> None:
    """Passing a layer class or instance where make(dtype) is expected names the mistake."""
    assert_error(
        ArgumentTypeError,
        lambda: check_gradients(unary(_BookRelu), {"x": X}),  # type: ignore[arg-type]  # the mistake under test
        callee="unary",
        expected="a function make(dtype) -> layer",
        got="the class _BookRelu",
    )
    assert_error(
        ArgumentTypeError,
        lambda: unary(_BookRelu()),  # type: ignore[arg-type]  # the mistake under test
        callee="unary",
        expected="a function make(dtype) -> layer",
        got="a _BookRelu instance",
    )
    assert_error(
        ArgumentTypeError,
        lambda: check_gradients(_BookRelu, {"x": X}),  # type: ignore[arg-type]  # the mistake under test
        callee="check_gradients",
        expected="a function make(dtype) -> layer",
        got="the class _BookRelu",
    )
    assert_error(
        ArgumentTypeError,
        lambda: check_gradients(lambda _: _BookRelu(), {"x": X}),  # type: ignore[arg-type, return-value]  # the mistake under test
        callee="check_gradients",
        expected="(wrap a layer with unary",
        got="a _BookRelu instance",
    )


def test_taylor_raises_in_its_raising_form() -> None:
    """assert_taylor raises TaylorMismatch on a first-order remainder and returns the report
    otherwise."""
    wrong = unary(lambda _: _Filled(3.0))  # y = 2x with a slope of 3
    with pytest.raises(TaylorMismatch) as caught:
        assert_taylor(wrong, {"x": X}, rng=0)
    assert "FIRST ORDER" in str(caught.value)
    assert not taylor_test(wrong, {"x": X}, rng=0).passed


def test_a_loss_layer_that_edits_its_targets_fails() -> None:
    """A loss that sorts its targets in place fails the check, naming `t`."""

    class SortsTargets:
        def forward(self, x: FloatArray, t: np.ndarray) -> float:
            t.sort()
            self.x = x
            return float(np.sum(x))

        def backward(self, dout: FloatArray) -> FloatArray:
            return np.full_like(self.x, float(dout))

    report = check_gradients(loss(lambda _: SortsTargets(), np.array([2, 0, 1, 0])), {"x": X})
    assert "the layer modified the targets `t` in place" in report.problems
    with pytest.raises(GradientMismatch):
        assert_gradients(loss(lambda _: SortsTargets(), np.array([2, 0, 1, 0])), {"x": X})

"""The checker on the bugs that used to slip through: NaN and infinity, arguments edited in
place, wrong values at ties, unlisted parameters and numerical warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bpcore import Affine, Pooling
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


ROOT_EPS64 = float(np.cbrt(np.finfo(np.float64).eps))
"""cbrt(eps64): the checker's step for a value of magnitude at most 1."""


class _AbsBesideAJump:
    """``y = |x| + height·[x >= at]`` element-wise, with a backward that returns
    ``slope·dout``: at the kink of ``|x|`` at 0, whose one-sided slopes are ±1, a valid
    value for ``slope`` in [-1, 1] and a wrong one outside."""

    def __init__(self, at: float, height: float, slope: float = 5.0) -> None:
        self.at, self.height, self.slope = at, height, slope

    def forward(self, x: FloatArray) -> FloatArray:
        return np.abs(x) + np.where(x >= self.at, self.height, 0.0)

    def backward(self, dout: FloatArray) -> FloatArray:
        return self.slope * dout


@pytest.mark.parametrize(
    ("at", "height"),
    [
        # At the point: (φ(0) - φ(-h/4))/(h/4) = 1e303/1.5e-6 overflows (h = cbrt(eps64)).
        (0.0, 1e303),
        # 16.5 steps away: a nearby point's slope (2e303/2h, doubled) overflows, while the
        # differences at the point see only |x|.
        (16.5 * ROOT_EPS64, 2e303),
    ],
)
def test_a_slope_that_overflows_excuses_nothing_at_a_kink(at: float, height: float) -> None:
    """At |x|'s kink a backward value of 5 lies outside the slopes ±1; a jump so high that a
    one-sided difference, or the slope of a piece nearby, is infinite brackets every value,
    so the probe is a mismatch, not a kink."""
    make = unary(lambda _: _AbsBesideAJump(at, height))
    report = check_gradients(make, {"x": np.zeros((1, 1))}, dout=np.ones((1, 1)), mode="full")
    assert not report.passed
    assert report.checks[0].status is Status.MISMATCH


@pytest.mark.parametrize("slope", [-1.0, 1.0])
def test_a_one_sided_slope_is_put_down_to_the_kink_without_looking_further(slope: float) -> None:
    """Either one-sided slope of |x| at 0 passes as a kink on the one-sided differences
    alone, at the very edge of their bracket: the slopes of the pieces nearby, one of them
    infinite here (a jump of 2e303 16.5 steps away), are not needed."""
    make = unary(lambda _: _AbsBesideAJump(16.5 * ROOT_EPS64, 2e303, slope))
    report = check_gradients(make, {"x": np.zeros((1, 1))}, dout=np.ones((1, 1)), mode="full")
    assert report.passed, str(report)
    assert report.checks[0].status is Status.NONDIFFERENTIABLE
    assert report.checks[0].kinks == 1


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


_TIED_DOUT = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
"""A ``dout`` for :func:`_tied_pairs` whose entries over the tied windows sum to exactly
0.25 (0.5 - 1.0 + 1.5 - 0.75)."""

_U64 = float(np.finfo(np.float64).eps) / 2


def test_the_probe_along_tied_maxima_reports_its_own_figures() -> None:
    """A doubled routing fails at the probe that moves the 8 tied elements together, one
    probe more than the 12 elements: its step is cbrt(eps64)·max(1, |θ|) over the tied
    elements (2.5; the untied 4.0 is larger), its analytic value backward summed over them
    (twice the tied windows' dout: 0.5), its numerical value that dout (0.25), and its
    tolerance holds the documented rounding of the differences, n·u64·S/h."""
    x = _tied_pairs()
    layer = _PairMax("every")
    out, grad = layer.forward(x), layer.backward(_TIED_DOUT)
    make = unary(lambda _: _PairMax("every"))
    check = check_gradients(make, {"x": x}, dout=_TIED_DOUT).checks[0]
    assert check.status is Status.MISMATCH
    assert check.at_kinks_together
    assert check.worst == ()
    assert (check.kinks, check.checked) == (8, x.size + 1)
    assert check.step == ROOT_EPS64 * 2.5
    assert check.analytic == 0.5
    assert abs(check.numerical - 0.25) <= check.tolerance
    # S = Σ|f·dout| + Σ|g·x| and n = 12 + 4, the largest array's size plus 4.
    scale = float(np.sum(np.abs(out * _TIED_DOUT)) + np.sum(np.abs(grad * x)))
    assert check.tolerance >= (x.size + 4) * _U64 * scale / check.step


class _PairMaxAndOneMore(_PairMax):
    """``_PairMax("every")`` whose backward also adds half its window's ``dout`` to
    ``x[0, 4]``, the untied maximum 2.0: a second error, apart from the ties."""

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = super().backward(dout)
        dx[0, 4] += 0.5 * dout[0, 2]
        return dx


def test_a_wrong_element_beside_a_doubled_routing_still_fails() -> None:
    """One wrong element, and the tied elements wrong only together: two mismatches that
    leave no doubt (and do not cancel into a pass)."""
    make = unary(lambda _: _PairMaxAndOneMore("every"))
    report = check_gradients(make, {"x": _tied_pairs()}, dout=_TIED_DOUT)
    assert not report.passed
    assert report.checks[0].status is Status.MISMATCH


class _ClippedSquarePairMax(_PairMax):
    """``min(max(pair), 10)²``, the pair maximum routed as :class:`_PairMax` does: a square
    near the point (every |x| <= 4) that the clip flattens far from it."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.m = super().forward(x)
        return np.minimum(self.m, 10.0) ** 2

    def backward(self, dout: FloatArray) -> FloatArray:
        return super().backward(np.where(self.m < 10.0, 2 * self.m, 0.0) * dout)


@pytest.mark.parametrize(
    ("route", "status"), [("first", Status.NONDIFFERENTIABLE), ("every", Status.MISMATCH)]
)
def test_ties_under_a_bounded_square_are_judged_along_the_tied_elements(
    route: str, status: Status
) -> None:
    """Along the tied elements moved together φ is a square near the point, which a central
    difference gets exactly: routing to one maximum passes and routing to every one fails
    there, whatever the clip does far away."""
    make = unary(lambda _: _ClippedSquarePairMax(route))
    check = check_gradients(make, {"x": _tied_pairs()}, dout=_TIED_DOUT).checks[0]
    assert check.status is status


class _TanhPairMax(_PairMax):
    """``tanh(max(pair))``, the pair maximum routed as :class:`_PairMax` does: along the
    tied elements moved together φ is a tanh, not a square."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.m = super().forward(x)
        return np.tanh(self.m)

    def backward(self, dout: FloatArray) -> FloatArray:
        return super().backward(dout / np.cosh(self.m) ** 2)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="known limit (docs/gradcheck-error-model.md, Kinks): along the tied elements "
    "the extrapolated slopes of the nearby pieces keep tanh's third-order term, about "
    "2e-8 here, which exceeds tol + 3·base, so the joint probe binds nothing",
)
def test_ties_under_a_tanh_are_judged_along_the_tied_elements() -> None:
    """Routing every tied maximum the window's gradient under a tanh is wrong along the
    tied elements moved together (twice the slope there), as under a square."""
    make = unary(lambda _: _TanhPairMax("every"))
    check = check_gradients(make, {"x": _tied_pairs()}, dout=_TIED_DOUT).checks[0]
    assert check.status is Status.MISMATCH


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="known limit (docs/gradcheck-error-model.md, Kinks): the middle element's own "
    "one-sided slopes agree (0 and 0, dout cancelling), so it is judged smooth and the "
    "slopes of the pieces only a joint move enters are never consulted",
)
def test_overlapping_max_pooling_at_a_three_way_tie_passes() -> None:
    """Pooling(1, 2, stride=1) at x = 0 with dout (1, -1): backward's (1, -1, 0) is the
    gradient of the piece x0 > x1 > x2, a valid subgradient, though no move of x1 alone
    enters that piece."""
    make = unary(lambda _: Pooling(1, 2, stride=1))
    report = check_gradients(make, {"x": np.zeros((1, 1, 1, 3))}, dout=np.array([[[[1.0, -1.0]]]]))
    assert report.passed, str(report)


class _OverlappingSquaredMax:
    """``y[n, k] = max(x[n, k], x[n, k + 1])²``: windows of two with stride 1, so every
    element but the ends is in two; backward routes each window to its first maximum."""

    def forward(self, x: FloatArray) -> FloatArray:
        self.x = x
        self.first = x[:, :-1] >= x[:, 1:]
        self.m = np.maximum(x[:, :-1], x[:, 1:])
        return self.m**2

    def backward(self, dout: FloatArray) -> FloatArray:
        d = 2 * self.m * dout
        dx = np.zeros_like(self.x)
        dx[:, :-1] += np.where(self.first, d, 0.0)
        dx[:, 1:] += np.where(self.first, 0.0, d)
        return dx


def test_a_value_only_a_move_of_the_neighbours_reaches_is_put_down_to_the_kink() -> None:
    """x = [0.5, 0.5, 0.5] with dout = (1, -2), so 2·max·dout = (1, -2): the middle element
    gets -2 (the first maximum of its second window only), the slope of the piece
    x0 > x1 > x2, which no move of x1 alone enters (its one-sided slopes are -1 and 0). The
    slopes of the pieces around the point, curvature taken out, admit it: all three
    elements are counted at the kink, and the check passes."""
    make = unary(lambda _: _OverlappingSquaredMax())
    report = check_gradients(make, {"x": np.full((1, 3), 0.5)}, dout=np.array([[1.0, -2.0]]))
    assert report.passed, str(report)
    check = report.checks[0]
    assert check.status is Status.NONDIFFERENTIABLE
    assert check.kinks == 3


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

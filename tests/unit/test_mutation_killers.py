"""Exact behaviour that mutation testing found unchecked: whole error messages, the edge
cases of the functions, SoftmaxWithLoss's targets, and the verification engine's reports,
adapters and kink heuristics.

Each test pins down a behaviour that a surviving mutant of ``nox -s mutants`` changed
without any other test noticing (see docs/mutation-testing.md).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from bpcore import (
    AddLayer,
    Affine,
    DomainError,
    DtypeError,
    MulLayer,
    NotForwardedError,
    Relu,
    ShapeError,
    Sigmoid,
    SoftmaxWithLoss,
    TargetError,
    cross_entropy_error,
    log_softmax,
    relu,
    sigmoid,
    softmax,
)
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

U64 = float(np.finfo(np.float64).eps) / 2

COMPLEX = np.array([[1 + 2j, 0j]])
"""A (1, 2) array of a dtype no bpcore computation accepts."""


def _exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for the whole message and nothing else."""
    return "^" + re.escape(message) + "$"


def _dtype_message(where: str, name: str) -> str:
    return (
        f"{where}: expected `{name}` to be a real array (float32, float64, integer or bool), "
        f"got dtype complex128."
    )


def _forwarded_relu() -> Relu:
    layer = Relu()
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_sigmoid() -> Sigmoid:
    layer = Sigmoid()
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_affine() -> Affine:
    layer = Affine(np.ones((2, 2)), np.zeros(2))
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_mul() -> MulLayer:
    layer = MulLayer()
    layer.forward(np.ones((1, 2)), np.ones(2))
    return layer


def _forwarded_add() -> AddLayer:
    layer = AddLayer()
    layer.forward(np.ones((1, 2)), np.ones(2))
    return layer


def _forwarded_loss() -> SoftmaxWithLoss:
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((1, 2)), np.array([0]))
    return layer


# -- error messages: each names the callee, the argument and what was wrong ----------------


DTYPE_CALLS: list[tuple[str, str, Callable[[], object]]] = [
    ("relu", "x", lambda: relu(COMPLEX)),
    ("sigmoid", "x", lambda: sigmoid(COMPLEX)),
    ("softmax", "x", lambda: softmax(COMPLEX)),
    ("log_softmax", "x", lambda: log_softmax(COMPLEX)),
    ("cross_entropy_error", "y", lambda: cross_entropy_error(COMPLEX, np.array([0]))),
    ("cross_entropy_error", "t", lambda: cross_entropy_error(np.array([[0.5, 0.5]]), COMPLEX)),
    ("Relu.forward", "x", lambda: Relu().forward(COMPLEX)),
    ("Relu.backward", "dout", lambda: _forwarded_relu().backward(COMPLEX)),
    ("Sigmoid.forward", "x", lambda: Sigmoid().forward(COMPLEX)),
    ("Sigmoid.backward", "dout", lambda: _forwarded_sigmoid().backward(COMPLEX)),
    ("Affine.forward", "x", lambda: Affine(np.ones((2, 2)), np.zeros(2)).forward(COMPLEX)),
    ("Affine.backward", "dout", lambda: _forwarded_affine().backward(COMPLEX)),
    ("MulLayer.forward", "x", lambda: MulLayer().forward(COMPLEX, np.ones(2))),
    ("MulLayer.forward", "y", lambda: MulLayer().forward(np.ones(2), COMPLEX)),
    ("MulLayer.backward", "dout", lambda: _forwarded_mul().backward(COMPLEX)),
    ("AddLayer.forward", "x", lambda: AddLayer().forward(COMPLEX, np.ones(2))),
    ("AddLayer.forward", "y", lambda: AddLayer().forward(np.ones(2), COMPLEX)),
    ("AddLayer.backward", "dout", lambda: _forwarded_add().backward(COMPLEX)),
    ("SoftmaxWithLoss.forward", "x", lambda: SoftmaxWithLoss().forward(COMPLEX, np.array([0]))),
    (
        "SoftmaxWithLoss.forward",
        "t",
        lambda: SoftmaxWithLoss().forward(np.zeros((1, 2)), COMPLEX),
    ),
    ("SoftmaxWithLoss.backward", "dout", lambda: _forwarded_loss().backward(np.array(1j))),
    ("numerical_gradient", "x", lambda: numerical_gradient(lambda _: 0.0, COMPLEX)),
    ("taylor_test", "x", lambda: taylor_test(unary(lambda _: Relu()), {"x": COMPLEX})),
]


@pytest.mark.parametrize(
    ("where", "name", "call"), DTYPE_CALLS, ids=[f"{w}-{n}" for w, n, _ in DTYPE_CALLS]
)
def test_dtype_errors_name_the_callee_and_the_argument(
    where: str, name: str, call: Callable[[], object]
) -> None:
    """A complex argument raises DtypeError naming the function or method, the argument and
    the dtype, in exactly the documented words."""
    with pytest.raises(DtypeError, match=_exactly(_dtype_message(where, name))):
        call()


NOT_FORWARDED: list[tuple[str, Callable[[], object]]] = [
    ("Relu.backward", lambda: Relu().backward(np.ones(2))),
    ("Sigmoid.backward", lambda: Sigmoid().backward(np.ones(2))),
    ("Affine.backward", lambda: Affine(np.ones((2, 2)), np.zeros(2)).backward(np.ones((1, 2)))),
    ("Affine.grads", lambda: Affine(np.ones((2, 2)), np.zeros(2)).grads),
    ("MulLayer.backward", lambda: MulLayer().backward(np.ones(2))),
    ("AddLayer.backward", lambda: AddLayer().backward(np.ones(2))),
    ("SoftmaxWithLoss.backward", lambda: SoftmaxWithLoss().backward()),
]


@pytest.mark.parametrize(("where", "call"), NOT_FORWARDED, ids=[w for w, _ in NOT_FORWARDED])
def test_backward_before_forward_names_the_method(where: str, call: Callable[[], object]) -> None:
    """Reading gradients before any forward raises NotForwardedError naming the method."""
    message = f"{where}: backward() was called before forward()."
    with pytest.raises(NotForwardedError, match=_exactly(message)):
        call()


@pytest.mark.parametrize(
    ("make", "missing"),
    [
        (_forwarded_mul, "x"),
        (_forwarded_mul, "y"),
        (_forwarded_affine, "x"),
        (_forwarded_affine, "original_x_shape"),
    ],
    ids=["MulLayer-x", "MulLayer-y", "Affine-x", "Affine-original_x_shape"],
)
def test_backward_needs_every_saved_forward_attribute(
    make: Callable[[], MulLayer | Affine], missing: str
) -> None:
    """Backward reports any saved forward attribute reset to None as a missing forward."""
    layer = make()
    setattr(layer, missing, None)
    where = f"{type(layer).__name__}.backward"
    with pytest.raises(
        NotForwardedError, match=_exactly(f"{where}: backward() was called before forward().")
    ):
        layer.backward(np.ones((1, 2)))


def test_sigmoid_backward_needs_its_own_forward() -> None:
    """A Sigmoid whose ``out`` was set by hand, without a forward, still refuses backward."""
    layer = Sigmoid()
    layer.out = np.full(2, 0.5)
    message = "Sigmoid.backward: backward() was called before forward()."
    with pytest.raises(NotForwardedError, match=_exactly(message)):
        layer.backward(np.ones(2))


DOUT_SHAPES: list[tuple[str, Callable[[], object], tuple[int, ...]]] = [
    ("Relu.backward", lambda: _forwarded_relu().backward(np.ones(3)), (1, 2)),
    ("Sigmoid.backward", lambda: _forwarded_sigmoid().backward(np.ones(3)), (1, 2)),
    ("Affine.backward", lambda: _forwarded_affine().backward(np.ones(3)), (1, 2)),
    ("MulLayer.backward", lambda: _forwarded_mul().backward(np.ones(3)), (1, 2)),
    ("AddLayer.backward", lambda: _forwarded_add().backward(np.ones(3)), (1, 2)),
    ("SoftmaxWithLoss.backward", lambda: _forwarded_loss().backward(np.ones(3)), ()),
]


@pytest.mark.parametrize(
    ("where", "call", "expected"), DOUT_SHAPES, ids=[w for w, _, _ in DOUT_SHAPES]
)
def test_wrong_dout_shape_names_the_method_and_both_shapes(
    where: str, call: Callable[[], object], expected: tuple[int, ...]
) -> None:
    """A dout of the wrong shape raises ShapeError with the method, the expected and the
    received shape."""
    message = f"{where}: expected `dout` of shape {expected}, got shape (3,)."
    with pytest.raises(ShapeError, match=_exactly(message)):
        call()


@pytest.mark.parametrize("layer_type", [MulLayer, AddLayer])
def test_incompatible_operands_name_the_layer(layer_type: type[MulLayer] | type[AddLayer]) -> None:
    """Operands that do not broadcast raise ShapeError naming the layer's forward."""
    message = (
        f"{layer_type.__name__}.forward: expected x and y with broadcast-compatible shapes, "
        f"got (2,) and (3,)."
    )
    with pytest.raises(ShapeError, match=_exactly(message)):
        layer_type().forward(np.ones(2), np.ones(3))


@pytest.mark.parametrize("shape", [(), (0,), (2, 0)])
@pytest.mark.parametrize(
    ("where", "function"), [("softmax", softmax), ("log_softmax", log_softmax)]
)
def test_logits_without_a_class_axis_name_the_function(
    where: str, function: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]
) -> None:
    """Scalar logits, or logits with no classes, raise ShapeError naming the function."""
    message = f"{where}: expected logits with a non-empty class axis, got shape {shape}."
    with pytest.raises(ShapeError, match=_exactly(message)):
        function(np.zeros(shape))


@pytest.mark.parametrize("name", ["W", "b"])
def test_affine_parameter_errors_name_the_parameter(name: str) -> None:
    """Affine names ``W`` or ``b`` when a parameter is not a float32/float64 numpy array."""
    params: dict[str, object] = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    as_list: dict[str, object] = {**params, name: np.asarray(params[name]).tolist()}
    message = f"Affine: expected `{name}` to be a float32 or float64 numpy array, got list."
    with pytest.raises(DtypeError, match=_exactly(message)):
        Affine(as_list["W"], as_list["b"])  # type: ignore[arg-type]  # runtime check under test
    as_int: dict[str, object] = {**params, name: np.asarray(params[name]).astype(np.int64)}
    message = f"Affine: expected `{name}` to be a float32 or float64 numpy array, got dtype int64."
    with pytest.raises(DtypeError, match=_exactly(message)):
        Affine(as_int["W"], as_int["b"])  # type: ignore[arg-type]  # as above


# -- the functions -------------------------------------------------------------------------


def test_infinite_logits_raise_no_floating_point_warning() -> None:
    """Infinite logits, as from a diverged network, pass without a floating-point warning:
    +inf takes all the probability, and NaN stays visible in the output."""
    x = np.array([[np.inf, 0.0], [np.nan, 0.0], [-np.inf, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = softmax(x)
        log_softmax(x)
        SoftmaxWithLoss().forward(x, np.array([0, 1, 0]))
    np.testing.assert_array_equal(y[0], [1.0, 0.0])
    assert np.all(np.isnan(y[1:]))


@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (2, 2, 2)])
def test_cross_entropy_error_rejects_y_without_classes_or_of_another_rank(
    shape: tuple[int, ...],
) -> None:
    """cross_entropy_error accepts only (N, C) or (C,) probabilities with C >= 1."""
    message = f"cross_entropy_error: expected y of shape (N, C) or (C,), got shape {shape}."
    with pytest.raises(ShapeError, match=_exactly(message)):
        cross_entropy_error(np.zeros(shape), np.array([0]))


def test_cross_entropy_error_of_a_single_class_is_zero() -> None:
    """With one class the only probability is 1 and the loss is exactly 0."""
    assert cross_entropy_error(np.ones((2, 1)), np.array([0, 0])) == 0.0


@pytest.mark.parametrize(
    "y", [[[1.5, 0.0]], [[-0.5, 1.0]], [[1.0, np.nextafter(1.0, 2.0)]]], ids=str
)
def test_cross_entropy_error_rejects_any_value_outside_the_unit_interval(
    y: list[list[float]],
) -> None:
    """A single value above 1 or below 0 is enough for DomainError, however small the excess."""
    message = "cross_entropy_error: expected probabilities y in [0, 1], got values outside it."
    with pytest.raises(DomainError, match=_exactly(message)):
        cross_entropy_error(np.array(y), np.array([0]))


def test_cross_entropy_error_accepts_the_ends_of_the_unit_interval() -> None:
    """Probabilities of exactly 0 and 1 are valid: certainty on the true class costs 0."""
    assert cross_entropy_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0


@pytest.mark.parametrize(
    "t", [np.zeros(0, dtype=np.intp), np.zeros((0, 3))], ids=["labels", "rows"]
)
def test_cross_entropy_error_of_an_empty_batch(t: np.ndarray) -> None:
    """An empty batch, with labels or with rows, has no mean loss: ShapeError, not NaN."""
    message = "cross-entropy: expected at least one sample, got an empty batch."
    with pytest.raises(ShapeError, match=_exactly(message)):
        cross_entropy_error(np.zeros((0, 3)), t)


def test_cross_entropy_error_counts_zero_times_log_zero_as_zero() -> None:
    """A zero probability where the soft target is also zero contributes 0, not NaN."""
    y = np.array([[0.5, 0.5, 0.0]])
    t = np.array([[0.25, 0.75, 0.0]])
    expected = -(0.25 * np.log(0.5) + 0.75 * np.log(0.5))
    # Both sides round the same two products and one sum of like-signed terms: at most
    # 2·3 roundings of u apart, relative.
    assert cross_entropy_error(y, t) == pytest.approx(expected, rel=6 * U64)


# -- SoftmaxWithLoss and its targets -------------------------------------------------------


def test_soft_target_gradient_uses_the_target_row_sum() -> None:
    """With soft targets, backward is the exact gradient ``s·softmax(x) - t`` where ``s`` is
    the target row's sum, which rounding lets differ from 1 by up to C·eps."""
    eps = float(np.finfo(np.float64).eps)
    t = np.array([[0.5, 0.5 + eps]])  # sums to s = 1 + eps, within the 2·eps allowed for C = 2
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((1, 2)), t)
    s = float(t.sum())
    assert s == 1 + eps
    # Equal logits give softmax = [1/2, 1/2]; s·y - t = [eps/2, -eps/2] is then exact in
    # float64 (every value is a multiple of eps/4 below 2), and so is the assertion.
    np.testing.assert_array_equal(layer.backward(), s * np.full((1, 2), 0.5) - t)
    np.testing.assert_array_equal(layer.backward(), [[eps / 2, -eps / 2]])


def test_softmax_with_loss_keeps_the_validated_targets() -> None:
    """After forward, ``t`` holds the targets as validated: the labels, or the soft rows."""
    labels = np.array([1, 0])
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((2, 2)), labels)
    assert layer.t is not None
    np.testing.assert_array_equal(layer.t, labels)
    assert layer.t.dtype == np.intp
    rows = np.array([[0.25, 0.75], [0.5, 0.5]])
    layer.forward(np.zeros((2, 2)), rows)
    assert layer.t is not None
    np.testing.assert_array_equal(layer.t, rows)


@pytest.mark.parametrize(
    "t",
    [np.array([1, 0], dtype=np.intp), np.array([[0.25, 0.75], [0.5, 0.5]])],
    ids=["labels", "rows"],
)
def test_softmax_with_loss_keeps_a_private_copy_of_the_targets(t: np.ndarray) -> None:
    """Editing ``t`` in place after forward changes neither the saved ``t`` nor backward."""
    layer = SoftmaxWithLoss()
    layer.forward(np.array([[0.0, 1.0], [2.0, -1.0]]), t)
    saved = np.array(layer.t, copy=True)
    dx = layer.backward()
    t[...] = t[::-1]
    np.testing.assert_array_equal(layer.t, saved)
    np.testing.assert_array_equal(layer.backward(), dx)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint16, np.int64])
def test_labels_of_any_integer_dtype_are_kept_as_intp(dtype: type[np.integer]) -> None:
    """Integer labels of any width are validated into intp labels."""
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((2, 3)), np.array([2, 0], dtype=dtype))
    assert layer.t is not None
    assert layer.t.dtype == np.intp
    np.testing.assert_array_equal(layer.t, [2, 0])


def test_one_sample_keeps_its_label_as_a_batch_of_one() -> None:
    """A (C,) input with a scalar label saves the labels a batch of one would: shape (1,)."""
    single = SoftmaxWithLoss()
    single.forward(np.zeros(3), 2)
    assert single.t is not None
    assert single.t.shape == (1,)
    np.testing.assert_array_equal(single.t, [2])


def test_target_rows_off_by_exactly_the_allowance_are_accepted() -> None:
    """A row whose sum is off by exactly C·eps, the rounding allowance, is still valid."""
    eps = float(np.finfo(np.float64).eps)
    t = np.array([[0.5, 0.5 + 2 * eps]])  # C = 2: the sum is 1 + 2·eps, exactly representable
    assert float(t.sum()) - 1.0 == 2 * eps
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((1, 2)), t)
    assert layer.t is not None


def test_float32_target_rows_are_judged_by_their_exact_sum() -> None:
    """Row sums are judged exactly, not in the targets' float32 arithmetic, whose rounding
    would hide an excess over the 2·eps32 allowance of two classes."""
    step = float(np.finfo(np.float32).eps) / 2  # the float32 spacing just above 0.5
    t = np.array([[0.5, 0.5 + 5 * step]], dtype=np.float32)
    exact = float(t.astype(np.float64).sum()) - 1.0
    assert exact == 2.5 * float(np.finfo(np.float32).eps)
    # In float32 the sum 1 + 2.5·eps32 is a tie and rounds to even, 1 + 2·eps32: allowed.
    assert float(t.sum(dtype=np.float32)) - 1.0 == 2 * float(np.finfo(np.float32).eps)
    with pytest.raises(TargetError, match="expected target rows that sum to 1"):
        SoftmaxWithLoss().forward(np.zeros((1, 2), dtype=np.float32), t)


@pytest.mark.parametrize(
    ("rows", "bad"),
    [([[0.5, 0.2, 0.2], [1.0, 0.0, 0.0]], 0), ([[1.0, 0.0, 0.0], [0.6, 0.5, 0.0]], 1)],
    ids=["below-one", "above-one"],
)
def test_a_bad_target_row_is_reported_by_its_sum(rows: list[list[float]], bad: int) -> None:
    """The TargetError quotes the sum of the row that is not a distribution, whether it
    falls short of 1 or exceeds it, not the sum of a valid row."""
    t = np.array(rows)
    quoted = re.escape(f"got a row that sums to {float(t[bad].sum())!r}.") + "$"
    with pytest.raises(TargetError, match=quoted):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), t)


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

"""Exact behaviour that mutation testing found unchecked: whole error messages, the edge
cases of the functions, SoftmaxWithLoss's targets, and the verification engine's reports,
adapters and kink heuristics.

Each test pins down a behaviour that a surviving mutant of ``nox -s mutants`` changed
without any other test noticing (see docs/mutation-testing.md).
"""

from __future__ import annotations

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
    numerical_gradient,
    taylor_test,
    unary,
)

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

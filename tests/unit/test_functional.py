"""The functions relu, sigmoid, softmax, log_softmax and cross_entropy_error: hand-computed
and extreme-input cases, edge cases of cross-entropy, and the errors of each."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from bpcore import (
    DomainError,
    ShapeError,
    SoftmaxWithLoss,
    cross_entropy_error,
    log_softmax,
    relu,
    sigmoid,
    softmax,
)
from tests.helpers import assert_error

U64 = float(np.finfo(np.float64).eps) / 2


def test_relu_function() -> None:
    """relu is max(x, 0) and maps -0.0 to +0.0."""
    y = relu(np.array([-1.0, -0.0, 2.0]))
    np.testing.assert_array_equal(y, [0.0, 0.0, 2.0])
    assert not np.signbit(y[1])


def test_softmax_and_log_softmax_by_hand() -> None:
    """Logits [0, ln 3] give probabilities [1/4, 3/4] and their logs."""
    x = np.array([0.0, math.log(3.0)])
    np.testing.assert_allclose(softmax(x), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(log_softmax(x), [math.log(0.25), math.log(0.75)], rtol=1e-15)


def test_cross_entropy_error_matches_book_examples() -> None:
    """The book's example: y with 0.6 on the true class gives -ln 0.6, for labels and one-hot."""
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.zeros(10)
    t[2] = 1
    assert math.isclose(cross_entropy_error(y, t), -math.log(0.6), rel_tol=1e-15)
    assert math.isclose(cross_entropy_error(y, 2), -math.log(0.6), rel_tol=1e-15)
    batch = np.stack([y, y])
    assert math.isclose(cross_entropy_error(batch, np.array([2, 2])), -math.log(0.6))


@pytest.mark.parametrize("encoding", ["labels", "one-hot"])
def test_cross_entropy_error_computes_float32_probabilities_in_float32(encoding: str) -> None:
    """float32 stays float32: the mean loss of float32 probabilities is computed in
    float32, so the float returned is a float32 number, for labels and one-hot rows."""
    y = np.array([[0.1, 0.9], [0.3, 0.7], [0.7, 0.3]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    t = labels if encoding == "labels" else np.eye(2, dtype=np.float32)[labels]
    loss = cross_entropy_error(y, t)
    assert float(np.float32(loss)) == loss
    # The same probabilities through float64 give a loss that float32 cannot hold: the
    # check above can tell the two precisions apart.
    wide = cross_entropy_error(y.astype(np.float64), t)
    assert float(np.float32(wide)) != wide


def test_cross_entropy_error_zero_probability_is_infinite_not_fudged() -> None:
    """A zero probability on the true class gives inf, the exact loss, with no warning."""
    assert cross_entropy_error(np.array([1.0, 0.0]), 1) == math.inf


@pytest.mark.parametrize("magnitude", [1e3, 1e300, 1e308])
def test_softmax_extreme_logits(magnitude: float) -> None:
    """Logits of ±magnitude give finite probabilities that sum to 1, with no warning."""
    x = np.array([[magnitude, -magnitude, 0.0], [-magnitude, -magnitude, -magnitude]])
    y = softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(y[1], [1 / 3, 1 / 3, 1 / 3], rtol=1e-15)
    log_y = log_softmax(x)
    assert log_y[0, 0] == 0.0
    assert log_y[0, 1] == pytest.approx(-2 * magnitude) or magnitude > 1e307


@pytest.mark.parametrize("magnitude", [1e3, 1e300])
def test_softmax_with_loss_extreme_logits_are_finite_and_exact(magnitude: float) -> None:
    """Against ±magnitude logits the loss is 2·magnitude (or 0) and the gradient is finite."""
    layer = SoftmaxWithLoss()
    x = np.array([[magnitude, -magnitude], [magnitude, -magnitude]])
    loss = layer.forward(x, np.array([1, 0]))
    assert math.isclose(loss, magnitude, rel_tol=1e-15)  # (2·magnitude + 0) / 2
    dx = layer.backward()
    np.testing.assert_allclose(dx, [[0.5, -0.5], [0.0, 0.0]], atol=0)


def test_sigmoid_at_the_float64_limits() -> None:
    """sigmoid(±1e308) is exactly 1 and 0, finite, and warns about nothing."""
    y = sigmoid(np.array([1e308, -1e308, -740.0, 40.0]))
    assert y[0] == 1.0
    assert y[1] == 0.0
    assert 0.0 < y[2] < 1e-300  # deep in the subnormal range, still positive
    assert y[3] == pytest.approx(1 - math.exp(-40), rel=1e-15)


def test_sigmoid_far_negative_keeps_relative_accuracy() -> None:
    """sigmoid(-30) equals exp(-30)/(1 + exp(-30)) to a few ulps, not 1 - (1 - tiny)."""
    expected = math.exp(-30) / (1 + math.exp(-30))
    assert math.isclose(float(sigmoid(np.array(-30.0))), expected, rel_tol=4e-16)


@pytest.mark.parametrize("shape", [(), (0,), (2, 0)])
@pytest.mark.parametrize(
    ("where", "function"), [("softmax", softmax), ("log_softmax", log_softmax)]
)
def test_logits_without_a_class_axis_name_the_function(
    where: str, function: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]
) -> None:
    """Scalar logits, or logits with no classes, raise ShapeError naming the function."""
    assert_error(
        ShapeError,
        lambda: function(np.zeros(shape)),
        callee=where,
        expected="non-empty class axis",
        got=f"shape {shape}",
    )


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
    assert_error(
        ShapeError,
        lambda: cross_entropy_error(np.zeros(shape), np.array([0])),
        callee="cross_entropy_error",
        expected="y of shape (N, C) or (C,)",
        got=f"shape {shape}",
    )


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
    assert_error(
        DomainError,
        lambda: cross_entropy_error(np.array(y), np.array([0])),
        callee="cross_entropy_error",
        expected="probabilities y in [0, 1]",
        got="values outside",
    )


def test_cross_entropy_error_accepts_the_ends_of_the_unit_interval() -> None:
    """Probabilities of exactly 0 and 1 are valid: certainty on the true class costs 0."""
    assert cross_entropy_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0


@pytest.mark.parametrize(
    "t", [np.zeros(0, dtype=np.intp), np.zeros((0, 3))], ids=["labels", "rows"]
)
def test_cross_entropy_error_of_an_empty_batch(t: np.ndarray) -> None:
    """An empty batch, with labels or with rows, has no mean loss: ShapeError, not NaN."""
    assert_error(
        ShapeError,
        lambda: cross_entropy_error(np.zeros((0, 3)), t),
        callee="cross_entropy_error",
        expected="at least one sample",
        got="empty batch",
    )


def test_cross_entropy_error_counts_zero_times_log_zero_as_zero() -> None:
    """A zero probability where the soft target is also zero contributes 0, not NaN."""
    y = np.array([[0.5, 0.5, 0.0]])
    t = np.array([[0.25, 0.75, 0.0]])
    expected = -(0.25 * np.log(0.5) + 0.75 * np.log(0.5))
    # Both sides round the same two products and one sum of like-signed terms: at most
    # 2·3 roundings of u apart, relative.
    assert cross_entropy_error(y, t) == pytest.approx(expected, rel=6 * U64)

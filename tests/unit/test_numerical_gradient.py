"""numerical_gradient: the book's central-difference gradient, for any real x, restoring x."""

from __future__ import annotations

import numpy as np
import pytest

from bpcore import ArgumentError, DtypeError, ShapeError
from bpcore._arrays import FloatArray
from bpcore.gradcheck import numerical_gradient
from bpcore.networks import TwoLayerNet
from tests.helpers import assert_error


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
    assert_error(
        ArgumentError,
        lambda: numerical_gradient(lambda v: float(np.sum(v)), np.ones(2), h=0.0),
        callee="numerical_gradient",
        expected="every step h > 0",
        got="0.0",
    )
    # The smallest step as a plain number, never a NumPy scalar's repr.
    assert_error(
        ArgumentError,
        lambda: numerical_gradient(lambda v: float(np.sum(v)), np.ones(2), h=np.array([1.0, -1.0])),
        callee="numerical_gradient",
        expected="every step h > 0",
        got="-1.0.",
    )
    assert_error(
        ShapeError,
        lambda: numerical_gradient(lambda v: v, np.ones(2)),
        callee="numerical_gradient",
        expected="f to return a scalar",
        got="shape (2,)",
    )
    assert_error(
        DtypeError,
        lambda: numerical_gradient(lambda v: 0.0, np.ones(2, dtype=complex)),
        callee="numerical_gradient",
        expected="`x` to be a real array",
        got="complex128",
    )


@pytest.mark.parametrize(
    ("x", "h", "where"),
    [
        (np.array([1.0, 2.0]), 1e-30, "x = 1.0 at index (0,)"),
        (np.array([0.0, 2.0], dtype=np.float32), np.array([1e-3, 1e-9]), "x = 2.0 at index (1,)"),
        (np.array([1.0, np.inf]), 1e-3, "x = inf at index (1,)"),
    ],
    ids=["float64", "float32", "infinite"],
)
def test_a_step_lost_to_rounding_is_rejected_before_f_runs(
    x: np.ndarray, h: float | np.ndarray, where: str
) -> None:
    """A step so small that x ± h rounds to one value in x's dtype has no quotient: it is
    named, with the element, before f is ever called."""
    calls: list[int] = []

    def f(v: FloatArray) -> float:
        calls.append(1)
        return float(np.sum(v))

    error = assert_error(
        ArgumentError,
        lambda: numerical_gradient(f, x, h=h),
        callee="numerical_gradient",
        expected=f"every step h to change x in {x.dtype}",
        got="lost to rounding",
    )
    assert where in str(error)
    assert calls == []


def test_a_step_that_survives_only_in_float64_is_enough_for_an_integer_x() -> None:
    """An integer x is stepped in float64, so a step far below 1 still moves it."""
    grad = numerical_gradient(lambda v: float(np.sum(3 * v)), np.array([2, 5]), h=2.0**-20)
    np.testing.assert_array_equal(grad, [3.0, 3.0])


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

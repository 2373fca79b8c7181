"""bpcore._finite_difference: the step rule, and central and one-sided differences of a
function that reads the array it is differentiated in, stepped in place."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import strategies as bst
from bpcore._finite_difference import (
    At,
    central_difference,
    central_gradient,
    default_step,
    one_sided_differences,
    step_size,
)
from bpcore.gradcheck import numerical_gradient

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
F64 = np.dtype(np.float64)
EPS64 = float(np.finfo(np.float64).eps)


class BoomError(Exception):
    """What the functions under test raise on purpose."""


def _raising_on(call: int, array: np.ndarray) -> tuple[list[bytes], Callable[[], float]]:
    """An ``f`` that records the array's bytes at each call and raises on call ``call``."""
    seen: list[bytes] = []

    def f() -> float:
        seen.append(array.tobytes())
        if len(seen) == call:
            raise BoomError
        return 0.0

    return seen, f


# -- the step rule ---------------------------------------------------------------------


@given(
    values=bst.float_arrays(
        shape=bst.batch_shapes(max_feature_dims=2), min_value=-1e6, max_value=1e6
    ),
    dtype=st.sampled_from(FLOAT_DTYPES),
)
def test_default_step_is_cbrt_eps_times_the_magnitude(values: np.ndarray, dtype: np.dtype) -> None:
    """The default central-difference step is cbrt(eps)·max(1, |x_i|) for the dtype f
    computes in, as a float64 array, whatever the dtype of the values."""
    root_eps = float(np.cbrt(np.finfo(dtype).eps))
    for given_values in (values, values.astype(np.float32)):
        step = default_step(given_values, dtype)
        assert step.dtype == np.float64
        expected = root_eps * np.maximum(1.0, np.abs(given_values.astype(np.float64)))
        # One float64 product on each side: within one unit roundoff, relative.
        np.testing.assert_allclose(step, expected, rtol=float(np.finfo(np.float64).eps), atol=0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_default_step_is_step_size_at_every_element(dtype: np.dtype) -> None:
    """The array rule and the one-element rule give the same float64 steps, bit for bit."""
    values = np.array([0.0, -0.5, 1.0, -3.25, 1e6, 7e-300])
    expected = [step_size(float(v), dtype) for v in values]
    assert default_step(values, dtype).tolist() == expected


def test_default_step_of_integers_is_that_of_their_float64_values() -> None:
    """Integer values (the book's ``np.array([3, 4])``) get the step of their float64
    values: cbrt(eps64)·max(1, |x|), never a step rounded to an integer."""
    step = default_step(np.array([3, -200, 0]), F64)
    np.testing.assert_array_equal(step, default_step(np.array([3.0, -200.0, 0.0]), F64))
    assert step.dtype == np.float64
    assert 0 < step[0] < 1e-4


# -- central differences at an element -------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_central_difference_divides_by_the_step_actually_taken(dtype: np.dtype) -> None:
    """θ ± h rounds in the array's dtype; dividing by the stored difference keeps the slope
    of a linear f exact, where dividing by 2h would show the rounding."""
    values = np.array([1.3, -0.7, 12.345, 0.1], dtype=dtype)
    slopes = (2.0, -4.0, 0.5, 8.0)  # powers of two: every product s·θ is exact in float64
    rounded = []
    for i, slope in enumerate(slopes):

        def f(i: int = i, slope: float = slope) -> float:
            return slope * float(values[i])

        h = step_size(float(values[i]), dtype)
        # s·θ⁺ - s·θ⁻ = s·(θ⁺ - θ⁻) exactly (Sterbenz), so the quotient is s if and only if
        # the denominator is θ⁺ - θ⁻.
        assert central_difference(f, values, (i,), h) == slope
        upper = float(np.asarray(float(values[i]) + h, dtype=dtype))
        lower = float(np.asarray(float(values[i]) - h, dtype=dtype))
        rounded.append(abs((upper - lower) / (2 * h) - 1))
    # The test tells the two denominators apart: in float32 by ~eps32·|θ|/h ≈ 1e-5.
    assert max(rounded) > (1e-6 if dtype == np.float32 else 0.0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_central_difference_of_a_cubic_carries_the_h_squared_term(dtype: np.dtype) -> None:
    """For x³ with a dyadic step the quotient is exactly 3x² + h²: the step given is the step
    taken, evaluated at θ + h first and θ - h second."""
    values = np.array([1.0, 2.0], dtype=dtype)
    order: list[float] = []

    def f() -> float:
        order.append(float(values[1]))
        return float(np.sum(values.astype(np.float64) ** 3))

    assert central_difference(f, values, (1,), 0.25) == 3 * 2.0**2 + 0.25**2
    assert order == [2.25, 1.75]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("call", [1, 2])
def test_central_difference_restores_the_element_bit_for_bit_when_f_raises(
    dtype: np.dtype, call: int
) -> None:
    """Whether f raises at θ + h or at θ - h, the array is left bit-identical, even a
    negative zero and a NaN with a payload."""
    bits = [0x80000000, 0x3F800000, 0x7FC00123]  # -0.0, 1.0 and a NaN with a payload
    if dtype == np.float64:
        bits = [0x8000000000000000, 0x3FF0000000000000, 0x7FF8000000000123]
    values = np.array(bits, dtype=np.uint32 if dtype == np.float32 else np.uint64).view(dtype)
    before = values.tobytes()
    for index in [(0,), (1,), (2,)]:
        seen, f = _raising_on(call, values)
        with pytest.raises(BoomError):
            central_difference(f, values, index, 0.5)
        if index != (2,):  # NaN + h is NaN again, perhaps with the same bits
            assert seen[-1] != before, "f saw the stepped array"
        assert values.tobytes() == before


def test_central_difference_steps_one_element_only() -> None:
    """Every other element keeps its value while one element is stepped."""
    values = np.arange(6.0).reshape(2, 3)
    snapshots: list[np.ndarray] = []

    def f() -> float:
        snapshots.append(values.copy())
        return 0.0

    central_difference(f, values, (1, 2), 0.5)
    others = np.ones((2, 3), dtype=bool)
    others[1, 2] = False
    for moved, expected in zip(snapshots, (5.5, 4.5), strict=True):
        np.testing.assert_array_equal(moved[others], np.arange(6.0).reshape(2, 3)[others])
        assert moved[1, 2] == expected


# -- along a direction -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_a_unit_direction_gives_the_element_quotient_bit_for_bit(dtype: np.dtype) -> None:
    """Along e_i the direction's step taken, ⟨θ⁺ - θ⁻, e_i⟩ / ⟨e_i, e_i⟩, is the element's."""
    values = np.array([[1.3, -0.7], [12.345, 0.1]], dtype=dtype)

    def f() -> float:
        return float(np.sum(np.sin(values.astype(np.float64))))

    for index in np.ndindex(values.shape):
        unit = np.zeros(values.shape)
        unit[index] = 1.0
        h = step_size(float(values[index]), dtype)
        assert central_difference(f, values, unit, h) == central_difference(f, values, index, h)


def test_a_direction_divides_by_the_step_taken_along_it() -> None:
    """Along v = 3·e_1 in float32 the stored displacement is parallel to v: its projection
    is the step taken, and the quotient of a linear f is exactly ⟨c, v⟩ = 3·c_1, where the
    nominal 2h would be off by the rounding of θ ± 3h."""
    values = np.array([0.5, 1.3, -2.0], dtype=np.float32)
    v = np.array([0.0, 3.0, 0.0])

    def f() -> float:
        return 4.0 * float(values[1])  # exact in float64, and so is every difference

    h = 1e-3
    assert central_difference(f, values, v, h) == 12.0
    upper = float(np.float32(1.3) + np.float32(3 * h))
    lower = float(np.float32(1.3) - np.float32(3 * h))
    assert abs((upper - lower) / (2 * 3 * h) - 1) > 1e-6, "2h would have been visibly off"


def test_a_random_direction_gives_the_directional_derivative() -> None:
    """Along a random v in float64 the quotient of a linear f is ⟨c, v⟩ to about
    u64·|θ|/h: the rounding of θ ± h·v off the direction of v, which no step removes."""
    rng = np.random.default_rng(0)
    values = rng.integers(-64, 64, size=(3, 4)) / 8.0  # few bits: f below is exact
    slopes = 2.0 ** rng.integers(-2, 3, size=(3, 4))
    v = rng.standard_normal((3, 4))

    def f() -> float:
        return float(np.sum(slopes * values))

    h = step_size(float(np.max(np.abs(values))), F64) / float(np.max(np.abs(v)))
    expected = float(np.sum(slopes * v))
    # |θ| <= 8 and h >= 6e-6: u64·8/6e-6 ≈ 1.5e-10 relative to |c|·|v|, which is at most
    # a few times |⟨c, v⟩| here; 1e-8 leaves a factor 10 or more.
    assert central_difference(f, values, v, h) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("call", [1, 2])
def test_central_difference_along_a_direction_restores_the_array_when_f_raises(call: int) -> None:
    """A direction moves every element; all of them come back bit for bit."""
    values = np.array([[0.1, -0.0], [3.0, -7.5]], dtype=np.float32)
    before = values.tobytes()
    seen, f = _raising_on(call, values)
    with pytest.raises(BoomError):
        central_difference(f, values, np.ones((2, 2)), 1e-3)
    assert seen[-1] != before
    assert values.tobytes() == before


# -- one-sided differences -------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "step"), [((0,), 0.5), (np.array([1.0, 0.0]), 0.5)], ids=["element", "direction"]
)
def test_one_sided_differences_are_the_forward_and_backward_quotients(at: At, step: float) -> None:
    """At θ = (1, 5), f = θ₀² has forward (2.25 - 1)/0.5 = 2.5 and backward (1 - 0.25)/0.5
    = 1.5: dyadic, hence exact; and the given centre value is the one used."""
    values = np.array([1.0, 5.0])

    def f() -> float:
        return float(values[0] ** 2)

    assert one_sided_differences(f, values, at, step, 1.0) == (2.5, 1.5)
    assert one_sided_differences(f, values, at, step, 2.0) == (0.5, 3.5)
    np.testing.assert_array_equal(values, [1.0, 5.0])


def test_one_sided_differences_show_a_kink_that_the_central_one_hides() -> None:
    """At the kink of |x| the one-sided slopes are +1 and -1, the central one 0."""
    values = np.array([0.0], dtype=np.float32)

    def f() -> float:
        return float(abs(values[0]))

    h = step_size(0.0, values.dtype)
    assert one_sided_differences(f, values, (0,), h, 0.0) == (1.0, -1.0)
    assert central_difference(f, values, (0,), h) == 0.0


def test_one_sided_differences_divide_by_the_steps_actually_taken() -> None:
    """In float32, θ + h and θ - h round differently; each side divides by its own step,
    so both quotients of a linear f are exact where the nominal h is visibly off."""
    values = np.array([1.3], dtype=np.float32)

    def f() -> float:
        return 4.0 * float(values[0])

    h = 1e-3
    assert one_sided_differences(f, values, (0,), h, f()) == (4.0, 4.0)
    theta = np.float32(1.3)
    taken = (
        float(theta + np.float32(h)) - float(theta),
        float(theta) - float(theta - np.float32(h)),
    )
    assert all(abs(t / h - 1) > 1e-6 for t in taken), "h would have been visibly off"


@pytest.mark.parametrize("call", [1, 2])
def test_one_sided_differences_restore_the_array_when_f_raises(call: int) -> None:
    values = np.array([0.25, -4.0])
    before = values.tobytes()
    seen, f = _raising_on(call, values)
    with pytest.raises(BoomError):
        one_sided_differences(f, values, (1,), 0.5, 0.0)
    assert seen[-1] != before
    assert values.tobytes() == before


# -- every element ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_central_gradient_is_the_central_difference_at_every_element(dtype: np.dtype) -> None:
    """central_gradient steps each element by step_size for the array's dtype."""
    values = np.array([[0.5, -100.0], [3.0, 1e-3]], dtype=dtype)

    def f() -> float:
        return float(np.sum(np.sin(values.astype(np.float64))))

    grad = central_gradient(f, values)
    assert grad.dtype == np.float64
    assert grad.shape == values.shape
    for index in np.ndindex(values.shape):
        h = step_size(float(values[index]), dtype)
        assert grad[index] == central_difference(f, values, index, h)


@pytest.mark.parametrize("call", [1, 4])
def test_central_gradient_restores_the_array_when_f_raises(call: int) -> None:
    values = np.array([0.5, -2.0, 8.0], dtype=np.float32)
    before = values.tobytes()
    seen, f = _raising_on(call, values)
    with pytest.raises(BoomError):
        central_gradient(f, values)
    assert len(seen) == call
    assert values.tobytes() == before


def test_numerical_gradient_steps_an_integer_input_in_float64() -> None:
    """An integer x has no dtype to step in: the float64 working copy is stepped, by the
    float64 rule, so x ± h is never truncated back to an integer."""
    x = np.array([3, -2])
    seen: list[np.ndarray] = []

    def f(v: np.ndarray) -> float:
        seen.append(v.copy())
        return float(np.sum(v**2))

    grad = numerical_gradient(f, x)
    h = default_step(x, F64)
    np.testing.assert_array_equal(seen[0], [3 + h[0], -2])
    np.testing.assert_array_equal(seen[3], [3, -2 - h[1]])
    np.testing.assert_allclose(grad, 2.0 * x, rtol=1e-9)
    np.testing.assert_array_equal(x, [3, -2])

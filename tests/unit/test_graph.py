"""MulLayer and AddLayer: the book's computational-graph examples (apples and oranges),
broadcasting, dtypes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpcore import AddLayer, MulLayer, NotForwardedError, ShapeError
from tests.helpers import assert_error


def test_apple_example() -> None:
    """Two apples at 100 with tax 1.1 cost 220, with the book's gradients 2.2, 110 and 200."""
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = MulLayer(), MulLayer()

    apple_price = mul_apple.forward(apple, apple_num)
    price = mul_tax.forward(apple_price, tax)
    d_apple_price, d_tax = mul_tax.backward(1)
    d_apple, d_apple_num = mul_apple.backward(d_apple_price)

    assert math.isclose(float(price), 220)
    assert math.isclose(float(d_apple), 2.2)
    assert math.isclose(float(d_apple_num), 110)
    assert math.isclose(float(d_tax), 200)


def test_apple_orange_example() -> None:
    """Apples and oranges cost 715, with gradients 2.2, 110, 3.3, 165 and 650."""
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple, mul_orange, add_fruit, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()

    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add_fruit.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)

    d_all_price, d_tax = mul_tax.backward(1)
    d_apple_price, d_orange_price = add_fruit.backward(d_all_price)
    d_orange, d_orange_num = mul_orange.backward(d_orange_price)
    d_apple, d_apple_num = mul_apple.backward(d_apple_price)

    assert math.isclose(float(price), 715)
    assert math.isclose(float(d_apple), 2.2)
    assert math.isclose(float(d_apple_num), 110)
    assert math.isclose(float(d_orange), 3.3)
    assert math.isclose(float(d_orange_num), 165)
    assert math.isclose(float(d_tax), 650)


def test_mul_broadcast_gradients_reduce_to_operand_shapes() -> None:
    """A (2, 3) times (3,) product sends back (2, 3) and the column sums of dout·x."""
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = np.array([10.0, 20.0, 30.0])
    dout = np.array([[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]])
    layer = MulLayer()
    np.testing.assert_array_equal(layer.forward(x, y), x * y)
    dx, dy = layer.backward(dout)
    np.testing.assert_array_equal(dx, dout * y)
    np.testing.assert_array_equal(dy, [1 * 1 + 4 * 0.5, 2 * -1 + 5 * 3, 3 * 2 + 6 * -2])


def test_add_broadcast_gradients_reduce_kept_unit_axes() -> None:
    """A (2, 1) plus (1, 3) sum sends back the row sums and the column sums of dout."""
    dout = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    layer = AddLayer()
    layer.forward(np.zeros((2, 1)), np.zeros((1, 3)))
    dx, dy = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[6.0], [15.0]])
    np.testing.assert_array_equal(dy, [[5.0, 7.0, 9.0]])


def test_add_backward_does_not_alias_dout() -> None:
    """AddLayer's gradients are new arrays: editing them leaves the caller's dout alone."""
    dout = np.ones((2, 2))
    layer = AddLayer()
    layer.forward(np.zeros((2, 2)), np.zeros((2, 2)))
    dx, dy = layer.backward(dout)
    dx += 1
    dy *= 5
    np.testing.assert_array_equal(dout, np.ones((2, 2)))


def test_mixed_dtypes_send_each_gradient_in_its_operand_dtype() -> None:
    """A float32 operand gets a float32 gradient even when the other operand is float64."""
    layer = MulLayer()
    layer.forward(np.ones(3, dtype=np.float32), np.ones(3, dtype=np.float64))
    dx, dy = layer.backward(np.ones(3))
    assert dx.dtype == np.float32
    assert dy.dtype == np.float64


@pytest.mark.parametrize("layer_type", [MulLayer, AddLayer])
def test_graph_layer_errors(layer_type: type[MulLayer] | type[AddLayer]) -> None:
    """Backward before forward, operands that do not broadcast and a wrongly shaped dout
    raise errors naming the layer's method, the shapes expected and the shapes received."""
    name = layer_type.__name__
    layer = layer_type()
    assert_error(NotForwardedError, lambda: layer.backward(1.0), callee=f"{name}.backward")
    assert_error(
        ShapeError,
        lambda: layer.forward(np.ones(2), np.ones(3)),
        callee=f"{name}.forward",
        expected="x and y with broadcast-compatible shapes",
        got="(2,) and (3,)",
    )
    layer.forward(np.ones((2, 3)), np.ones(3))
    assert_error(
        ShapeError,
        lambda: layer.backward(np.ones(3)),
        callee=f"{name}.backward",
        expected="`dout` of shape (2, 3)",
        got="shape (3,)",
    )


def test_scalars_give_0_d_arrays_both_ways() -> None:
    """Python scalars in give a 0-d float64 array out, and 0-d gradients back."""
    for layer in (MulLayer(), AddLayer()):
        out = layer.forward(3, 2.5)
        assert isinstance(out, np.ndarray)
        assert out.shape == ()
        assert out.dtype == np.float64
        for grad in layer.backward(1.0):
            assert isinstance(grad, np.ndarray)
            assert grad.shape == ()
            assert grad.dtype == np.float64

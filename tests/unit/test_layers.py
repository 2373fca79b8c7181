"""Hand-computed cases for Relu, Sigmoid, Affine and SoftmaxWithLoss."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from bpcore import Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss, Tanh, TwoLayerNet, relu
from bpcore._arrays import FloatArray


def test_relu_forward_and_backward_by_hand() -> None:
    """ReLU passes positives, zeroes the rest, and routes dout only where x > 0."""
    x = np.array([[-2.0, 0.0, 3.0], [-0.0, 1.5, -1e-300]])
    layer = Relu()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, [[0.0, 0.0, 3.0], [0.0, 1.5, 0.0]])
    assert not np.any(np.signbit(y)), "-0.0 must come out as +0.0, as the book's mask gives"
    dx = layer.backward(np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 7.0], [0.0, 9.0, 0.0]])


def test_relu_propagates_nan() -> None:
    """A NaN input stays NaN in the output and receives dout, so divergence shows in the loss."""
    layer = Relu()
    y = layer.forward(np.array([np.nan, -1.0, 2.0]))
    assert np.isnan(y[0])
    np.testing.assert_array_equal(y[1:], [0.0, 2.0])
    np.testing.assert_array_equal(layer.backward(np.array([3.0, 4.0, 5.0])), [3.0, 0.0, 5.0])
    assert np.isnan(relu(np.array([np.nan]))[0])


def _affine_forward(x: FloatArray) -> FloatArray:
    return Affine(np.ones((2, 1)), np.zeros(1)).forward(x)


def _affine_backward(dout: FloatArray) -> FloatArray:
    layer = Affine(np.ones((2, 1)), np.zeros(1))
    layer.forward(np.array([[np.inf, 1.0]]))
    layer.backward(dout)
    assert layer.dW is not None
    return layer.dW


def _mul_backward(dout: FloatArray) -> FloatArray:
    layer = MulLayer()
    layer.forward(np.array([0.0, 2.0]), np.array([3.0, 0.0]))
    return np.concatenate(layer.backward(dout))


def _sigmoid_backward(dout: FloatArray) -> FloatArray:
    layer = Sigmoid()
    layer.forward(np.array([np.inf, 0.0]))
    return layer.backward(dout)


def _loss_backward(dout: FloatArray) -> FloatArray:
    layer = SoftmaxWithLoss()
    layer.forward(np.array([[1e308, -1e308]]), np.array([0]))
    return layer.backward(dout)


@pytest.mark.parametrize(
    ("call", "argument", "expected"),
    [
        (_affine_forward, [[1e308, 1e308]], [[np.inf]]),
        (_affine_forward, [[np.inf, -np.inf]], [[np.nan]]),
        (_affine_backward, [[0.0]], [[np.nan], [0.0]]),
        (MulLayer().forward, ([np.inf, 1e200], [0.0, 1e200]), [np.nan, np.inf]),
        (_mul_backward, [np.inf, np.inf], [np.inf, np.nan, np.nan, np.inf]),
        (_sigmoid_backward, [np.inf, np.inf], [np.nan, np.inf]),
        (_loss_backward, np.inf, [[np.nan, np.nan]]),
    ],
    ids=["overflow", "inf - inf", "inf times 0 in dW", "Mul", "Mul backward", "Sigmoid backward",
         "loss backward"],
)  # fmt: skip
def test_extreme_values_give_ieee_results_without_a_warning(
    call: Any, argument: Any, expected: list[Any]
) -> None:
    """Overflow is ±inf and an undefined operation NaN, as IEEE 754 gives them, with no
    RuntimeWarning: under warnings as errors, the same call returns the same values."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        args = argument if isinstance(argument, tuple) else (argument,)
        got = call(*(np.array(a, dtype=np.float64) for a in args))
    np.testing.assert_array_equal(got, np.array(expected))


def test_a_float64_beyond_float32s_range_casts_to_inf_without_a_warning() -> None:
    """A float32 network casts its float64 input: 1e39 becomes inf, silently, and the
    loss shows it."""
    net = TwoLayerNet(2, 3, 2, dtype="float32", rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = net.predict(np.array([[1e39, 1.0]]))
        loss = net.loss(np.array([[1e39, 1.0]]), np.array([0]))
    assert y.dtype == np.float32
    assert not np.isfinite(y).all()
    assert not math.isfinite(loss)


def test_relu_backward_leaves_dout_untouched() -> None:
    """Unlike the book's ReLU, backward does not write zeros into the caller's dout."""
    layer = Relu()
    layer.forward(np.array([-1.0, 1.0]))
    dout = np.array([4.0, 5.0])
    layer.backward(dout)
    np.testing.assert_array_equal(dout, [4.0, 5.0])


def test_sigmoid_by_hand() -> None:
    """Sigmoid at 0 is 1/2 with slope 1/4; at ln 3 it is 3/4 with slope 3/16."""
    layer = Sigmoid()
    y = layer.forward(np.array([0.0, math.log(3.0)]))
    np.testing.assert_allclose(y, [0.5, 0.75], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.array([2.0, 1.0])), [0.5, 3 / 16], rtol=1e-15)


def test_sigmoid_output_edit_does_not_corrupt_backward() -> None:
    """Editing forward's returned array in place leaves backward's saved output intact."""
    layer = Sigmoid()
    y = layer.forward(np.array([0.0]))
    y[...] = 123.0
    np.testing.assert_allclose(layer.backward(np.array([1.0])), [0.25], rtol=1e-15)


def test_affine_by_hand() -> None:
    """y = xW + b, dx = dout Wᵀ, dW = xᵀ dout and db = column sums, on a 2x2 by 2x3 case."""
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([0.5, -1.0, 2.0])
    x = np.array([[1.0, 0.0], [2.0, -1.0]])
    layer = Affine(W, b)
    np.testing.assert_array_equal(layer.forward(x), [[1.5, 1.0, 5.0], [-1.5, -2.0, 2.0]])
    dout = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[-2.0, -2.0], [4.0, 13.0]])
    np.testing.assert_array_equal(layer.dW, [[5.0, 2.0, -1.0], [-2.0, -1.0, 0.0]])
    np.testing.assert_array_equal(layer.db, [3.0, 1.0, -1.0])


def test_affine_flattens_image_batches_and_restores_dx_shape() -> None:
    """An (N, 1, 2, 2) batch is flattened to (N, 4) and dx comes back as (N, 1, 2, 2)."""
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x = rng.standard_normal((5, 1, 2, 2))
    layer = Affine(W, b)
    np.testing.assert_allclose(layer.forward(x), x.reshape(5, 4) @ W + b, rtol=1e-14)
    dx = layer.backward(np.ones((5, 3)))
    assert dx.shape == (5, 1, 2, 2)
    np.testing.assert_allclose(dx.reshape(5, 4), np.ones((5, 3)) @ W.T, rtol=1e-14)


def test_affine_sees_in_place_parameter_updates() -> None:
    """The layer shares W and b with the caller, so an in-place update reaches it."""
    params = {"W": np.eye(2), "b": np.zeros(2)}
    layer = Affine(params["W"], params["b"])
    params["W"] *= 3.0
    params["b"] += 1.0
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 2.0]])), [[4.0, 7.0]])


def test_softmax_with_loss_by_hand_labels() -> None:
    """Logits [0, ln 3] against label 1: softmax [1/4, 3/4], loss ln(4/3), dx = dout·(y - t)."""
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([[0.0, math.log(3.0)]]), np.array([1]))
    assert math.isclose(loss, math.log(4 / 3), rel_tol=1e-15)
    np.testing.assert_allclose(layer.backward(), [[0.25, -0.25]], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(3.0), [[0.75, -0.75]], rtol=1e-15)


def test_softmax_with_loss_batch_mean_and_dout() -> None:
    """A batch of two averages the losses and divides the gradient by N = 2, times dout."""
    x = np.array([[0.0, 0.0], [0.0, math.log(3.0)]])
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, np.array([0, 0]))
    assert math.isclose(loss, (math.log(2) + math.log(4)) / 2, rel_tol=1e-15)
    expected = np.array([[0.5 - 1, 0.5], [0.25 - 1, 0.75]]) / 2 * -0.5
    np.testing.assert_allclose(layer.backward(-0.5), expected, rtol=1e-15)


def test_softmax_with_loss_one_sample_does_not_divide_by_class_count() -> None:
    """A 1-D input of 4 classes is one sample: dx = y - t, not (y - t) / 4 as in the book."""
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros(4), 2)
    np.testing.assert_allclose(layer.backward(), [0.25, 0.25, -0.75, 0.25], rtol=1e-15)


def test_softmax_with_loss_soft_targets() -> None:
    """Soft targets [1/2, 1/2] on equal logits give loss ln 2 and a zero gradient."""
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([[1.0, 1.0]]), np.array([[0.5, 0.5]]))
    assert math.isclose(loss, math.log(2), rel_tol=1e-15)
    np.testing.assert_array_equal(layer.backward(), [[0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_float_dtype(dtype: type[np.floating]) -> None:
    """float32 in gives float32 out, and float64 gives float64, forward and backward."""
    x = np.array([[0.5, -1.0]], dtype=dtype)
    for layer in (Relu(), Sigmoid()):
        assert layer.forward(x).dtype == dtype
        assert layer.backward(np.ones_like(x)).dtype == dtype
    affine = Affine(np.ones((2, 2), dtype=dtype), np.zeros(2, dtype=dtype))
    assert affine.forward(x).dtype == dtype
    assert affine.backward(np.ones((1, 2), dtype=dtype)).dtype == dtype
    assert affine.dW is not None
    assert affine.dW.dtype == dtype
    loss = SoftmaxWithLoss()
    loss.forward(x, np.array([0]))
    assert loss.backward().dtype == dtype


def test_integer_and_bool_inputs_promote_to_float64() -> None:
    """Integer and bool arrays compute in float64."""
    assert Relu().forward(np.array([1, -2], dtype=np.int32)).dtype == np.float64
    assert Sigmoid().forward(np.array([True, False])).dtype == np.float64


def test_softmax_with_loss_logits_of_opposite_extreme_sign() -> None:
    """Logits ±1e308 overflow x - max(x) to -inf, harmlessly and silently: the gradient is
    exactly softmax - t = [-1, 1] and the loss is the true, unrepresentable 2e308 = inf."""
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([[-1e308, 1e308]]), np.array([0]))
    assert loss == math.inf
    np.testing.assert_array_equal(layer.backward(1.0), [[-1.0, 1.0]])


@pytest.mark.parametrize("classes", [(3, 4), (4, 3)])
def test_softmax_with_loss_reused_on_another_class_count(classes: tuple[int, int]) -> None:
    """The same layer, run on N x C and then N x C' logits with the same N, gives what a
    fresh layer gives for the second batch: nothing indexed by the first shape survives."""
    rng = np.random.default_rng(0)
    first, second = (rng.standard_normal((2, c)) for c in classes)
    labels = np.array([0, 2])
    reused, fresh = SoftmaxWithLoss(), SoftmaxWithLoss()
    reused.forward(first, labels)
    reused.backward(1.0)
    assert reused.forward(second, labels) == fresh.forward(second, labels)
    assert reused.backward(0.5).tobytes() == fresh.backward(0.5).tobytes()


SPECIALS = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 5e-324, -5e-324, 1.0, -2.5]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_relu_is_np_where_bit_for_bit(dtype: Any, layout: str) -> None:
    """Forward is where(x <= 0, +0.0, x) and backward where(x <= 0, +0.0, dout), bit for bit:
    -0.0 becomes +0.0, NaN (of either sign) passes, infinities pass, masked infinities are 0."""
    rng = np.random.default_rng(8)
    x = rng.choice(np.array(SPECIALS), size=(6, 8)).astype(dtype)
    dout = rng.choice(np.array(SPECIALS), size=(6, 8)).astype(dtype)
    if layout == "F":
        x, dout = np.asfortranarray(x), np.asfortranarray(dout)
    elif layout == "strided":
        x, dout = np.repeat(x, 2, axis=1)[:, ::2], np.repeat(dout, 2, axis=1)[:, ::2]
    layer = Relu()
    with np.errstate(invalid="ignore"):
        mask = x <= 0
    y = layer.forward(x)
    dx = layer.backward(dout)
    zero = np.dtype(dtype).type(0)
    assert y.tobytes() == np.where(mask, zero, x).tobytes()
    assert dx.tobytes() == np.where(mask, zero, dout).tobytes()
    assert layer.mask is not None
    assert np.array_equal(layer.mask, mask)


def test_softmax_with_loss_does_not_depend_on_memory_layout() -> None:
    """C-ordered, F-ordered and strided logits give the same loss, softmax and gradient."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((7, 5)) * 10
    t = rng.integers(0, 5, size=7)
    soft = rng.random((7, 5))
    soft /= soft.sum(axis=1, keepdims=True)
    for target in (t, soft):
        reference = SoftmaxWithLoss()
        loss = reference.forward(x, target)
        dx = reference.backward(0.5)
        for variant in (np.asfortranarray(x), np.repeat(x, 3, axis=1)[:, ::3]):
            layer = SoftmaxWithLoss()
            assert layer.forward(variant, target) == loss
            assert layer.backward(0.5).tobytes() == dx.tobytes()
            assert layer.y is not None
            assert reference.y is not None
            assert layer.y.tobytes() == reference.y.tobytes()


def test_layers_hold_none_until_forward_then_their_documented_state() -> None:
    """Before forward the saved state is None (Relu.mask, Sigmoid.out, Tanh.out, Affine's dW
    and db, the loss layer's loss, y and t); after it, mask has x's shape, out is the output,
    and loss is the value forward returned."""
    x = np.array([[0.5, -1.0, 0.0]])
    assert Relu().mask is None
    assert Sigmoid().out is None
    assert Tanh().out is None
    affine = Affine(np.ones((3, 2)), np.zeros(2))
    assert (affine.dW, affine.db) == (None, None)
    fresh = SoftmaxWithLoss()
    assert (fresh.loss, fresh.y, fresh.t) == (None, None, None)
    relu = Relu()
    relu.forward(x)
    assert relu.mask is not None
    assert relu.mask.shape == x.shape
    for layer in (Sigmoid(), Tanh()):
        y = layer.forward(x)
        assert layer.out is not None
        assert layer.out.tobytes() == y.tobytes()
    loss_layer = SoftmaxWithLoss()
    assert loss_layer.forward(x, np.array([1])) == loss_layer.loss


def test_tanh_output_edit_does_not_corrupt_backward() -> None:
    """Tanh keeps its own copy for backward: editing forward's result changes nothing."""
    layer = Tanh()
    y = layer.forward(np.array([0.0, 1.0]))
    before = layer.backward(np.ones(2)).copy()
    y[...] = 123.0
    np.testing.assert_array_equal(layer.backward(np.ones(2)), before)


def test_affine_and_mul_keep_references_to_their_inputs() -> None:
    """As in the book, Affine and MulLayer keep references to their inputs for backward:
    editing x in place between forward and backward changes dW (and MulLayer's dy)."""
    x = np.array([[1.0, 2.0]])
    affine = Affine(np.ones((2, 1)), np.zeros(1))
    affine.forward(x)
    x *= 3.0
    affine.backward(np.ones((1, 1)))
    np.testing.assert_array_equal(affine.grads["W"], [[3.0], [6.0]])
    a, b = np.array([2.0]), np.array([5.0])
    mul = MulLayer()
    mul.forward(a, b)
    a[...] = 7.0
    np.testing.assert_array_equal(mul.backward(np.ones(1))[1], [7.0])


def test_affine_params_are_the_arrays_themselves() -> None:
    """Affine.params hands out W and b themselves, not copies."""
    W, b = np.ones((2, 2)), np.zeros(2)
    params = Affine(W, b).params
    assert params["W"] is W
    assert params["b"] is b


def test_affine_backward_without_input_grad_returns_none_and_the_same_parameter_gradients() -> None:
    """backward(dout, input_grad=False) skips dx and returns None, with dW and db bit for
    bit those of the full backward."""
    rng = np.random.default_rng(4)
    W, b, x = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 2))
    full, skipped = Affine(W, b), Affine(W, b)
    full.forward(x)
    skipped.forward(x)
    assert full.backward(dout).shape == x.shape
    assert skipped.backward(dout, input_grad=False) is None
    for key in ("W", "b"):
        assert full.grads[key].tobytes() == skipped.grads[key].tobytes()

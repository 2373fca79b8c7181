"""Network behaviour pinned exactly, as mutation testing showed it was not: accuracy against
soft targets, whole error messages, the fused pass's entry conditions, initialisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import pytest

from bpcore.errors import ArgumentError, ArgumentTypeError, DtypeError, ShapeError, TargetError
from bpcore.layers import Affine
from bpcore.networks import MultiLayerNet, TwoLayerNet
from tests.helpers import raises_exactly


def test_accuracy_against_soft_targets_uses_their_most_likely_class() -> None:
    """With soft target rows, a sample is a hit when its top score is the row's top class."""
    net = TwoLayerNet(3, 4, 3, rng=0)
    x = np.random.default_rng(1).standard_normal((6, 3))
    predicted = np.argmax(net.predict(x), axis=1)
    t = np.full((6, 3), 0.2)
    wanted = predicted.copy()
    wanted[:2] = (predicted[:2] + 1) % 3  # two misses
    t[np.arange(6), wanted] = 0.6
    assert net.accuracy(x, t) == pytest.approx(4 / 6, abs=0)


def test_accuracy_of_an_empty_batch_names_the_network() -> None:
    """An empty batch has no accuracy: ShapeError naming the network's method."""
    net = MultiLayerNet(2, [3], 2, rng=0)
    raises_exactly(
        ShapeError,
        "MultiLayerNet.accuracy: expected at least one sample, got an empty batch.",
        lambda: net.accuracy(np.zeros((0, 2)), np.zeros(0, dtype=np.intp)),
    )


@pytest.mark.parametrize("method", ["gradient", "numerical_gradient"])
def test_non_numeric_x_names_the_method_called(method: str) -> None:
    """A batch of strings is a DtypeError that names the method the caller used."""
    net = TwoLayerNet(2, 3, 2, rng=0)
    call = getattr(net, method)
    raises_exactly(
        DtypeError,
        f"TwoLayerNet.{method}: expected `x` to be a real array (float32, float64, integer or "
        "bool), got dtype <U1.",
        lambda: call(np.array([["a", "b"]]), np.array([0])),
    )


def test_gradient_of_an_empty_batch_is_the_loss_layers_shape_error() -> None:
    """An empty batch is refused by the loss layer, as in the layer-by-layer pass."""
    net = TwoLayerNet(2, 3, 2, rng=0)
    with pytest.raises(ShapeError, match=r"^SoftmaxWithLoss\.forward: expected x of shape"):
        net.gradient(np.zeros((0, 2)), np.zeros(0, dtype=np.intp))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: MultiLayerNet(0, [3], 2),
            "MultiLayerNet: expected `input_size` to be a positive int, got 0.",
        ),
        (
            lambda: MultiLayerNet(4, [3], 0),
            "MultiLayerNet: expected `output_size` to be a positive int, got 0.",
        ),
    ],
    ids=["input_size", "output_size"],
)
def test_size_errors_name_the_argument(call: Callable[[], object], message: str) -> None:
    """A size that is not a positive int is refused naming that argument."""
    raises_exactly(ArgumentError, message, call)


def test_a_zero_weight_std_is_allowed() -> None:
    """weight_init_std = 0 is a valid (if useless) choice: every weight is zero."""
    net = TwoLayerNet(4, 3, 2, weight_init_std=0.0, rng=0)
    assert not np.any(net.params["W1"])
    assert not np.any(net.params["W2"])


def test_the_default_weight_std_is_the_books() -> None:
    """By default the weights are 0.01 · N(0, 1), as in the book, drawn from the rng."""
    net = TwoLayerNet(5, 4, 3, rng=7)
    draws = np.random.default_rng(7)
    np.testing.assert_array_equal(net.params["W1"], 0.01 * draws.standard_normal((5, 4)))
    np.testing.assert_array_equal(net.params["W2"], 0.01 * draws.standard_normal((4, 3)))


def test_fused_pass_leaves_the_first_affine_the_input_shape() -> None:
    """After gradient() on an (N, 3, 4) batch, Affine1 remembers that shape, as its own
    forward would, so a later layer-by-layer backward reshapes dx correctly."""
    net = TwoLayerNet(12, 3, 2, rng=0)
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    net.gradient(x, np.zeros(5, dtype=np.intp))
    first = net.layers["Affine1"]
    assert isinstance(first, Affine)
    assert first.original_x_shape == (5, 3, 4)


def test_layers_given_parameters_of_another_dtype_get_gradients_in_that_dtype() -> None:
    """If a layer's W (or b) is replaced by a float32 array in a float64 network, gradient()
    falls back to the layers' own rules: dW1 (db1) comes back in that dtype."""
    net = TwoLayerNet(4, 3, 2, rng=0)
    first = net.layers["Affine1"]
    assert isinstance(first, Affine)
    first.W = net.params["W1"].astype(np.float32)
    grads = net.gradient(np.ones((2, 4)), np.array([0, 1]))
    assert grads["W1"].dtype == np.float32
    assert grads["b1"].dtype == np.float64
    assert grads["W2"].dtype == np.float64
    first.b = net.params["b1"].astype(np.float32)
    assert net.gradient(np.ones((2, 4)), np.array([0, 1]))["b1"].dtype == np.float32


def test_bad_labels_in_gradient_are_the_loss_layers_target_error() -> None:
    """gradient() refuses a label out of range with the loss layer's own message."""
    net = TwoLayerNet(4, 3, 2, rng=0)
    raises_exactly(
        TargetError,
        "SoftmaxWithLoss.forward: expected class labels in [0, 1], got label 5.",
        lambda: net.gradient(np.zeros((2, 4)), np.array([0, 5])),
    )


def test_non_numeric_x_in_predict_names_predict() -> None:
    """predict() refuses a batch of strings naming itself and the argument x."""
    net = TwoLayerNet(4, 3, 2, rng=0)
    raises_exactly(
        DtypeError,
        "TwoLayerNet.predict: expected `x` to be a real array (float32, float64, integer or "
        "bool), got dtype <U1.",
        lambda: net.predict(np.array([["a"] * 4])),
    )


def test_an_rng_of_the_wrong_type_is_named() -> None:
    """rng must be a Generator, an int seed or None; anything else is named by its type."""
    raises_exactly(
        ArgumentTypeError,
        "TwoLayerNet: expected `rng` to be a numpy.random.Generator, an int seed or None, got str.",
        lambda: TwoLayerNet(4, 3, 2, rng=cast("int", "seed")),
    )


@pytest.mark.parametrize("bad", [-1.0, -1e-300, float("inf"), float("nan"), True])
def test_weight_stds_must_be_finite_and_non_negative(bad: float) -> None:
    """A negative, infinite or NaN std, or a bool, is refused, for either network."""
    raises_exactly(
        ArgumentError,
        f"TwoLayerNet: expected `weight_init_std` to be a finite non-negative float, got {bad!r}.",
        lambda: TwoLayerNet(4, 3, 2, weight_init_std=bad),
    )
    raises_exactly(
        ArgumentError,
        "MultiLayerNet: expected `weight_init` to be one of 'he', 'xavier' or a finite "
        f"non-negative float (a fixed std), got {bad!r}.",
        lambda: MultiLayerNet(4, [3], 2, weight_init=bad),
    )

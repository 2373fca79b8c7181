"""TwoLayerNet and MultiLayerNet: gradients, parameter sharing, dtypes, initialisation,
accuracy, validation, training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import DtypeError, ShapeError, TargetError
from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError, ArgumentTypeError
from bpcore.layers import Affine, Sigmoid
from bpcore.networks import (
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleConvNet,
    TwoLayerNet,
    WeightInit,
)
from tests.helpers import assert_error

Net = TwoLayerNet | MultiLayerNet

# Tolerance of "backprop equals central differences" in float64. The step is
# h = cbrt(eps)·max(1, |p|) ≈ 6.1e-6 for |p| <= 1. The central difference's truncation
# error is h²/6·|f'''| ≈ 6e-12·|f'''|, at most ~1e-10 for these O(1)-weight nets, and
# its rounding error is eps·|loss|/h ≈ 2.2e-16·2/6.1e-6 ≈ 7e-11 (4e-11 per unit loss).
# Observed differences are ~5e-11. atol = 1e-7 and rtol = 1e-6 leave three orders of
# magnitude of margin, while any real backprop error (a missing term, a wrong factor
# or transpose) moves gradients of size 1e-2..1 by far more than 1e-7.
GRAD_RTOL = 1e-6
GRAD_ATOL = 1e-7


def _batch(
    n: int = 3, d: int = 4, c: int = 3, seed: int = 1
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, size=n)


def _assert_gradients_match(net: Net, x: npt.ArrayLike, t: npt.ArrayLike) -> None:
    backprop = net.gradient(x, t)
    numerical = net.numerical_gradient(x, t)
    assert backprop.keys() == numerical.keys() == net.params.keys()
    for key, grad in backprop.items():
        assert grad.shape == net.params[key].shape, key
        # A gradient of all zeros would make the comparison vacuous.
        assert np.max(np.abs(grad)) > 1e-4, key
        np.testing.assert_allclose(
            grad, numerical[key], rtol=GRAD_RTOL, atol=GRAD_ATOL, err_msg=key
        )


def _affines(net: Net) -> list[Affine]:
    """The network's Affine layers, first to last."""
    return [layer for layer in net.layers.values() if isinstance(layer, Affine)]


def _layer_by_layer(
    net: Net, x: npt.ArrayLike, t: npt.ArrayLike
) -> tuple[dict[str, FloatArray], FloatArray]:
    """The parameter gradients and dx from the layers' own forward and backward, one by
    one, as the book computes them."""
    net.loss(x, t)
    dout = net.last_layer.backward(1.0)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    grads: dict[str, FloatArray] = {}
    for i, affine in enumerate(_affines(net), 1):
        assert affine.dW is not None
        assert affine.db is not None
        grads[f"W{i}"], grads[f"b{i}"] = affine.dW, affine.db
    return grads, dout


def test_two_layer_gradient_matches_numerical_with_labels() -> None:
    """TwoLayerNet's backprop gradient equals central differences for integer labels."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=0)
    x, t = _batch()
    _assert_gradients_match(net, x, t)


def test_two_layer_gradient_matches_numerical_with_soft_targets() -> None:
    """TwoLayerNet's backprop gradient equals central differences for soft target rows."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=2)
    x, _ = _batch(seed=3)
    t = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.0, 0.25, 0.75]])
    _assert_gradients_match(net, x, t)


@pytest.mark.parametrize(
    ("activation", "weight_init"),
    [("relu", "he"), ("relu", "xavier"), ("relu", 1.0), ("sigmoid", "xavier"), ("sigmoid", 1.0)],
)
def test_multi_layer_gradient_matches_numerical(
    activation: Literal["relu", "sigmoid"], weight_init: WeightInit
) -> None:
    """MultiLayerNet's backprop gradient equals central differences for each activation/init."""
    net = MultiLayerNet(
        4,
        [5, 4],
        3,
        activation=activation,
        weight_init_std=weight_init,
        rng=np.random.default_rng(4),
    )
    x, t = _batch(seed=5)
    _assert_gradients_match(net, x, t)


def test_softmax_regression_gradient_matches_numerical() -> None:
    """With no hidden layer the single Affine's parameter gradients are still right."""
    net = MultiLayerNet(4, [], 3, weight_init_std=1.0, rng=6)
    x, t = _batch(seed=7)
    _assert_gradients_match(net, x, t)


def test_gradient_equals_full_backprop_bit_for_bit() -> None:
    """Skipping the first Affine's dx leaves dW1 and db1 identical to its full backward."""
    net = MultiLayerNet(4, [5, 6], 3, activation="sigmoid", weight_init_std=1.0, rng=8)
    x, t = _batch(n=7, seed=9)
    grads = net.gradient(x, t)
    net.loss(x, t)
    dout = net.last_layer.backward(1.0)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    for i in (1, 2, 3):
        affine = net.layers[f"Affine{i}"]
        assert isinstance(affine, Affine)
        np.testing.assert_array_equal(grads[f"W{i}"], affine.dW)
        np.testing.assert_array_equal(grads[f"b{i}"], affine.db)


def test_gradient_does_not_compute_the_input_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """gradient() asks the first Affine for its parameter gradients only (input_grad=False)."""
    net = TwoLayerNet(4, 5, 3, rng=10)
    first = net.layers["Affine1"]
    assert isinstance(first, Affine)
    calls: list[bool] = []
    original = first.backward

    def spy(dout: FloatArray, *, input_grad: bool = True) -> FloatArray | None:
        calls.append(input_grad)
        return original(dout, input_grad=input_grad)

    monkeypatch.setattr(first, "backward", spy)
    x, t = _batch(seed=11)
    grads = net.gradient(x, t)
    assert calls == [False]
    assert first.dW is grads["W1"], "the layer's dW must reflect the latest gradient"
    assert first.db is grads["b1"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(5, 12), (5, 3, 4), (1, 12)], ids=["flat", "3-D", "one-sample"])
def test_gradient_is_the_layers_forward_and_backward_bit_for_bit(
    shape: tuple[int, ...], dtype: type[np.floating[Any]]
) -> None:
    """For flat, N-D and one-sample batches, in either dtype, gradient() returns bit for bit
    what the layers' own forward and backward give, in the network's dtype and params' order."""
    net = TwoLayerNet(12, 3, 2, weight_init_std=1.0, rng=0, dtype=dtype)
    twin = TwoLayerNet(12, 3, 2, weight_init_std=1.0, rng=0, dtype=dtype)
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal(shape), rng.integers(0, 2, size=shape[0])
    grads = net.gradient(x, t)
    expected, _ = _layer_by_layer(twin, x, t)
    assert list(grads) == list(net.params)
    for key, grad in grads.items():
        assert grad.dtype == dtype, key
        assert grad.shape == net.params[key].shape, key
        assert grad.tobytes() == expected[key].tobytes(), key


def test_gradient_leaves_the_layers_gradients_equal_to_the_returned_ones() -> None:
    """After gradient(), each Affine layer's dW and db equal the gradients it returned."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=10)
    x, t = _batch(seed=11)
    grads = net.gradient(x, t)
    for i, affine in enumerate(_affines(net), 1):
        assert affine.dW is not None
        assert affine.db is not None
        assert affine.dW.tobytes() == grads[f"W{i}"].tobytes()
        assert affine.db.tobytes() == grads[f"b{i}"].tobytes()


def test_gradient_leaves_every_layer_ready_for_its_own_backward() -> None:
    """After gradient() on an (N, 3, 4) batch every layer holds what its own forward would,
    so a layer-by-layer backward from the loss gives the dx of a fresh layer-by-layer pass,
    in the batch's shape."""
    net = TwoLayerNet(12, 3, 2, weight_init_std=1.0, rng=0)
    twin = TwoLayerNet(12, 3, 2, weight_init_std=1.0, rng=0)
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((5, 3, 4)), rng.integers(0, 2, size=5)
    net.gradient(x, t)
    dout = net.last_layer.backward(1.0)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    _, expected = _layer_by_layer(twin, x, t)
    assert dout.shape == (5, 3, 4)
    assert dout.tobytes() == expected.tobytes()


def test_layers_given_parameters_of_another_dtype_get_gradients_in_that_dtype() -> None:
    """If a layer's W (or b) is replaced by a float32 array in a float64 network, gradient()
    follows the layers' own rules: dW1 (db1) comes back in that dtype."""
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


def test_gradient_of_an_empty_batch_is_the_loss_layers_shape_error() -> None:
    """An empty batch is refused by the loss layer; the error names the method called,
    then the layer that found it."""
    net = TwoLayerNet(2, 3, 2, rng=0)
    error = assert_error(
        ShapeError,
        lambda: net.gradient(np.zeros((0, 2)), np.zeros(0, dtype=np.intp)),
        callee="TwoLayerNet.gradient",
        expected="x of shape (N, C) with N, C >= 1",
        got="shape (0, 2)",
    )
    assert str(error).startswith("TwoLayerNet.gradient: SoftmaxWithLoss.forward: ")


def test_bad_labels_in_gradient_are_the_loss_layers_target_error() -> None:
    """gradient() refuses a label out of range with the loss layer's own error, named
    after the method called."""
    net = TwoLayerNet(4, 3, 2, rng=0)
    error = assert_error(
        TargetError,
        lambda: net.gradient(np.zeros((2, 4)), np.array([0, 5])),
        callee="TwoLayerNet.gradient",
        expected="class labels in [0, 1]",
        got="label 5",
    )
    assert str(error).startswith("TwoLayerNet.gradient: SoftmaxWithLoss.forward: ")


def test_two_layer_predict_matches_numpy_oracle() -> None:
    """TwoLayerNet.predict is relu(x·W1 + b1)·W2 + b2."""
    net = TwoLayerNet(4, 6, 3, weight_init_std=1.0, rng=12)
    p = net.params
    p["b1"] += np.linspace(-1.0, 1.0, 6)  # non-zero biases, so a dropped bias shows
    p["b2"] += np.array([0.5, -0.25, 2.0])
    x = np.random.default_rng(13).standard_normal((5, 4))
    expected = np.maximum(x @ p["W1"] + p["b1"], 0.0) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-13, atol=1e-14)


def test_multi_layer_sigmoid_predict_matches_numpy_oracle() -> None:
    """MultiLayerNet with sigmoid is sigmoid(sigmoid(x·W1 + b1)·W2 + b2)·W3 + b3."""
    net = MultiLayerNet(3, [4, 5], 2, activation="sigmoid", weight_init_std=1.0, rng=14)
    p = net.params
    for key in ("b1", "b2", "b3"):
        p[key] += 0.5

    def sig(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 1.0 / (1.0 + np.exp(-a))

    x = np.random.default_rng(15).standard_normal((6, 3))
    expected = sig(sig(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]) @ p["W3"] + p["b3"]
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-13, atol=1e-14)
    assert list(net.layers) == ["Affine1", "Sigmoid1", "Affine2", "Sigmoid2", "Affine3"]


def test_two_layer_net_has_the_books_structure() -> None:
    """params, layers and last_layer have the book's keys and order."""
    net = TwoLayerNet(4, 5, 3, rng=16)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert [a.shape for a in net.params.values()] == [(4, 5), (5,), (5, 3), (3,)]
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    np.testing.assert_array_equal(net.params["b1"], np.zeros(5))
    np.testing.assert_array_equal(net.params["b2"], np.zeros(3))


def test_params_are_shared_with_layers() -> None:
    """An in-place update of params reaches the Affine layers and changes predict."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=17)
    first, second = net.layers["Affine1"], net.layers["Affine2"]
    assert isinstance(first, Affine)
    assert isinstance(second, Affine)
    assert first.W is net.params["W1"]
    assert first.b is net.params["b1"]
    assert second.W is net.params["W2"]
    assert second.b is net.params["b2"]
    x, t = _batch(seed=18)
    before = net.predict(x)
    grads = net.gradient(x, t)
    for key in net.params:
        net.params[key] -= 0.5 * grads[key]
    after = net.predict(x)
    assert not np.allclose(before, after)
    net.params["b2"] += 1.0  # a constant shift of every score
    np.testing.assert_allclose(net.predict(x), after + 1.0, rtol=1e-14)


def test_numerical_gradient_leaves_params_bit_identical() -> None:
    """Every parameter, -0.0 included, is restored bit for bit after numerical_gradient."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=19)
    net.params["b1"][0] = -0.0
    net.params["W2"][1, 2] = 1e300  # a step of cbrt(eps)·|p| still restores exactly
    originals = {key: array.copy() for key, array in net.params.items()}
    arrays = dict(net.params)
    x, t = _batch(seed=20)
    net.numerical_gradient(x, t)
    for key, array in net.params.items():
        assert array is arrays[key], f"{key} was rebound instead of restored in place"
        assert array.tobytes() == originals[key].tobytes(), key


@pytest.mark.parametrize("failing_call", [1, 2, 9])
def test_numerical_gradient_restores_params_when_loss_raises(
    monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    """If the loss raises mid-perturbation, the perturbed element is put back exactly."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=21)
    originals = {key: array.copy() for key, array in net.params.items()}
    real_loss = net.loss
    calls = 0

    def flaky_loss(x: npt.ArrayLike, t: npt.ArrayLike, train_flg: bool = False) -> float:
        nonlocal calls
        calls += 1
        if calls == failing_call:
            # Prove the test bites: a parameter really is perturbed at this moment.
            assert any(not np.array_equal(net.params[k], originals[k]) for k in originals)
            raise FloatingPointError("loss blew up")
        return real_loss(x, t)

    monkeypatch.setattr(net, "loss", flaky_loss)
    x, t = _batch(seed=22)
    with pytest.raises(FloatingPointError, match="loss blew up"):
        net.numerical_gradient(x, t)
    assert calls == failing_call
    for key, array in net.params.items():
        assert array.tobytes() == originals[key].tobytes(), key


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numerical_gradient_steps_by_cbrt_eps_times_magnitude(
    monkeypatch: pytest.MonkeyPatch, dtype: type[np.floating[Any]]
) -> None:
    """Each parameter element is stepped by ±cbrt(eps)·max(1, |p|), eps of the network's
    dtype, one element at a time, up then down."""
    net = MultiLayerNet(1, [], 3, weight_init_std=1.0, rng=0, dtype=dtype)
    values = [0.5, -100.0, 3.0]
    weights = net.params["W1"]
    weights[0] = values
    seen: list[npt.NDArray[np.float64]] = []

    def loss(x: npt.ArrayLike, t: npt.ArrayLike, train_flg: bool = False) -> float:
        assert train_flg, "the function gradient() differentiates: training mode"
        seen.append(weights[0].astype(np.float64))
        return 0.0

    monkeypatch.setattr(net, "loss", loss)
    net.numerical_gradient(np.zeros((1, 1)), np.array([0]))
    assert len(seen) == 2 * (3 + 3)  # two losses per element of W1 (1, 3) and b1 (3,)
    param = np.array(values, dtype=dtype)
    root_eps = float(np.cbrt(np.finfo(dtype).eps))
    for i, p in enumerate(values):
        upper, lower = seen[2 * i], seen[2 * i + 1]
        others = np.arange(3) != i
        np.testing.assert_array_equal(upper[others], param[others])
        np.testing.assert_array_equal(lower[others], param[others])
        step = root_eps * max(1.0, abs(p))
        # p ± h is stored in the network's dtype, which moves it by up to u·(|p| + h):
        # relative to h = cbrt(eps)·max(1, |p|) at most u·(1/cbrt(eps) + 1), about 1.2e-5 in
        # float32 and 3e-11 in float64, well inside rtol.
        np.testing.assert_allclose([upper[i] - p, p - lower[i]], [step, step], rtol=1e-4)
    for evaluation in seen[6:]:  # b1's steps leave W1 where it was
        np.testing.assert_array_equal(evaluation, param)


def test_numerical_gradient_divides_by_the_step_actually_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In float32, p ± h rounds; dividing by the stored difference keeps a linear loss exact."""
    net = MultiLayerNet(1, [], 3, weight_init_std=1.0, rng=0, dtype=np.float32)
    weights = net.params["W1"]
    weights[0] = [1.3, -0.7, 12.345]
    slopes = np.array([2.0, -3.0, 0.5])

    def loss(x: npt.ArrayLike, t: npt.ArrayLike, train_flg: bool = False) -> float:
        # Evaluated in float64, so the only rounding left is that of the stored p ± h,
        # which is ~1e-5 relative to the step and would show if divided out as 2h.
        return float(slopes @ weights[0].astype(np.float64))

    monkeypatch.setattr(net, "loss", loss)
    grads = net.numerical_gradient(np.zeros((1, 1)), np.array([0]))
    np.testing.assert_allclose(grads["W1"][0], slopes, rtol=1e-12)
    np.testing.assert_array_equal(grads["b1"], np.zeros(3))  # b1 does not enter this loss


def test_numerical_gradient_of_invalid_targets_raises_and_restores() -> None:
    """A TargetError from the loss propagates and leaves the parameters untouched."""
    net = TwoLayerNet(4, 5, 3, rng=23)
    originals = {key: array.copy() for key, array in net.params.items()}
    x, _ = _batch(seed=24)
    with pytest.raises(TargetError):
        net.numerical_gradient(x, np.array([0, 1, 3]))
    for key, array in net.params.items():
        assert array.tobytes() == originals[key].tobytes(), key


def test_same_seed_same_params_different_seed_different_params() -> None:
    """An int seed or a seeded Generator reproduces the params; another seed changes them."""
    a = MultiLayerNet(4, [5], 3, rng=25)
    b = MultiLayerNet(4, [5], 3, rng=np.random.default_rng(25))
    c = MultiLayerNet(4, [5], 3, rng=26)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert not np.array_equal(a.params["W2"], c.params["W2"])


def test_rng_none_and_a_shared_generator_give_fresh_draws() -> None:
    """rng=None draws fresh entropy, and a Generator passed twice advances between nets."""
    assert not np.array_equal(TwoLayerNet(4, 5, 3).params["W1"], TwoLayerNet(4, 5, 3).params["W1"])
    rng = np.random.default_rng(27)
    first, second = TwoLayerNet(4, 5, 3, rng=rng), TwoLayerNet(4, 5, 3, rng=rng)
    assert not np.array_equal(first.params["W1"], second.params["W1"])


def test_networks_do_not_touch_global_random_state() -> None:
    """Building a network, seeded or not, leaves np.random's global stream where it was."""
    # The legacy global functions are what this test watches, hence the noqa comments.
    np.random.seed(28)  # noqa: NPY002
    expected = np.random.random(4)  # noqa: NPY002
    np.random.seed(28)  # noqa: NPY002
    TwoLayerNet(4, 5, 3)
    MultiLayerNet(4, [5], 3, rng=1)
    np.testing.assert_array_equal(np.random.random(4), expected)  # noqa: NPY002


def test_two_layer_net_is_a_one_hidden_layer_multi_layer_net() -> None:
    """TwoLayerNet(std) and MultiLayerNet([h], relu, std) from one seed are the same net."""
    two = TwoLayerNet(4, 5, 3, weight_init_std=0.3, rng=29)
    multi = MultiLayerNet(4, [5], 3, activation="relu", weight_init_std=0.3, rng=29)
    for key in two.params:
        np.testing.assert_array_equal(two.params[key], multi.params[key])
    x, _ = _batch(seed=30)
    np.testing.assert_array_equal(two.predict(x), multi.predict(x))


@pytest.mark.parametrize(
    ("weight_init", "activation", "std1", "std2"),
    [
        ("he", "relu", np.sqrt(2 / 400), np.sqrt(2 / 100)),
        ("relu", "relu", np.sqrt(2 / 400), np.sqrt(2 / 100)),
        ("xavier", "sigmoid", np.sqrt(1 / 400), np.sqrt(1 / 100)),
        ("sigmoid", "sigmoid", np.sqrt(1 / 400), np.sqrt(1 / 100)),
        (0.2, "relu", 0.2, 0.2),
    ],
)
def test_weight_init_scales_by_each_layers_fan_in(
    weight_init: WeightInit,
    activation: Literal["relu", "sigmoid"],
    std1: float,
    std2: float,
) -> None:
    """'relu' and 'he' are sqrt(2/fan_in), 'sigmoid' and 'xavier' sqrt(1/fan_in), a float a
    fixed std, per layer (the book's weight_init_std)."""
    net = MultiLayerNet(400, [100], 300, activation=activation, weight_init_std=weight_init, rng=31)
    # 40 000 and 30 000 normal draws: the sample std is within 1% with near certainty.
    np.testing.assert_allclose(np.std(net.params["W1"]), std1, rtol=0.02)
    np.testing.assert_allclose(np.std(net.params["W2"]), std2, rtol=0.02)
    assert abs(float(np.mean(net.params["W1"]))) < 0.05 * std1


def test_the_books_multi_layer_net_call_runs_unchanged() -> None:
    """The book's keywords build the network, 'ReLU' in any case included."""
    net = MultiLayerNet(
        input_size=784,
        hidden_size_list=[100, 100],
        output_size=10,
        activation="relu",
        weight_init_std=cast(WeightInit, "ReLU"),  # the book lowercases it at run time
    )
    assert [net.params[f"W{i}"].shape for i in (1, 2, 3)] == [(784, 100), (100, 100), (100, 10)]


@pytest.mark.parametrize("make", [lambda: TwoLayerNet(4, 5, 3), lambda: MultiLayerNet(4, [5], 3)])
def test_last_layer_is_also_readable_by_the_books_name(
    make: Callable[[], TwoLayerNet | MultiLayerNet],
) -> None:
    """``lastLayer`` is the network's ``last_layer`` itself, after a loss too."""
    net = make()
    net.loss(np.ones((2, 4)), np.array([0, 2]))
    assert net.lastLayer is net.last_layer
    assert net.lastLayer.loss == net.last_layer.loss


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


def test_float32_network_stays_float32() -> None:
    """A float32 net keeps float32 params, scores and gradients; numerical ones are float64."""
    net = MultiLayerNet(
        4, [5], 3, activation="sigmoid", weight_init_std=1.0, rng=32, dtype=np.float32
    )
    reference = MultiLayerNet(4, [5], 3, activation="sigmoid", weight_init_std=1.0, rng=32)
    x, t = _batch(seed=33)  # a float64 batch, cast by predict
    assert all(p.dtype == np.float32 for p in net.params.values())
    scores = net.predict(x)
    assert scores.dtype == np.float32
    # The float32 net is the float64 net of the same seed, rounded.
    np.testing.assert_allclose(scores, reference.predict(x), rtol=1e-5, atol=1e-5)
    grads = net.gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    numerical = net.numerical_gradient(x, t)
    assert all(g.dtype == np.float64 for g in numerical.values())
    # float32 central differences: h ≈ cbrt(1.2e-7) ≈ 4.9e-3, so the truncation error is
    # h²/6·|f'''| ≈ 4e-6·|f'''| and the rounding error eps·|loss|/h ≈ 3e-5.
    for key, grad in grads.items():
        np.testing.assert_allclose(grad, numerical[key], rtol=1e-2, atol=3e-4, err_msg=key)


def test_accuracy_with_labels_and_one_hot_agree() -> None:
    """accuracy counts argmax hits, the same for labels and their one-hot rows."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=34)
    x = np.random.default_rng(35).standard_normal((8, 4))
    predicted = np.argmax(net.predict(x), axis=1)
    labels = predicted.copy()
    labels[:3] = (predicted[:3] + 1) % 3  # exactly three misses
    assert net.accuracy(x, labels) == pytest.approx(5 / 8, abs=0)
    assert net.accuracy(x, np.eye(3)[labels]) == pytest.approx(5 / 8, abs=0)


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


def test_accuracy_breaks_ties_towards_the_lowest_class_index() -> None:
    """Equal top scores predict the lowest of their classes, and soft rows with equal top
    weights name the lowest of theirs as the target class."""
    net = TwoLayerNet(2, 3, 3, weight_init_std=0.0, rng=0)  # every score is 0
    x = np.ones((4, 2))
    assert net.accuracy(x, np.array([0, 1, 2, 0])) == 0.5
    soft = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    assert net.accuracy(x, soft) == 0.5  # target classes 0, 1, 0, 1
    net.params["b2"][...] = [0.0, 1.0, 1.0]  # classes 1 and 2 tie at the top
    assert net.accuracy(x, np.array([1, 1, 2, 2])) == 0.5


def test_a_float32_network_reads_soft_targets_in_float32() -> None:
    """Soft target rows are read in the network's dtype: weights that differ in float64
    but round to one float32 value tie, and the tie names the lowest class."""
    net = TwoLayerNet(2, 3, 2, weight_init_std=0.0, dtype=np.float32, rng=0)
    net.params["b2"][...] = [0.0, 1.0]  # every sample predicts class 1
    x = np.ones((1, 2))
    soft = np.array([[0.5 - 1e-10, 0.5 + 1e-10]])  # class 1 in float64, a tie in float32
    assert np.float32(soft[0, 0]) == np.float32(soft[0, 1])
    assert net.accuracy(x, soft) == 0.0  # the target is class 0
    float64_net = TwoLayerNet(2, 3, 2, weight_init_std=0.0, rng=0)
    float64_net.params["b2"][...] = [0.0, 1.0]
    assert float64_net.accuracy(x, soft) == 1.0  # class 1 in float64


@pytest.mark.parametrize(
    "make",
    [lambda: TwoLayerNet(4, 5, 3, rng=36), lambda: MultiLayerNet(4, [3], 3, rng=0)],
    ids=["TwoLayerNet", "MultiLayerNet"],
)
def test_accuracy_rejects_an_empty_batch(make: Callable[[], Net]) -> None:
    """An empty batch has no accuracy, so it raises, naming the network's method, instead
    of dividing by zero."""
    net = make()
    assert_error(
        ShapeError,
        lambda: net.accuracy(np.zeros((0, 4)), np.zeros(0, dtype=np.intp)),
        callee=f"{type(net).__name__}.accuracy",
        expected="at least one sample",
        got="empty batch",
    )


def test_gradient_does_not_mutate_x_or_t() -> None:
    """gradient, loss and accuracy leave the caller's x and t (labels or rows) untouched."""
    net = MultiLayerNet(4, [5, 5], 3, weight_init_std=1.0, rng=37)
    x, labels = _batch(seed=38)
    rows = np.eye(3)[labels]
    copies = (x.copy(), labels.copy(), rows.copy())
    net.gradient(x, labels)
    net.gradient(x, rows)
    net.accuracy(x, rows)
    for original, copy in zip((x, labels, rows), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


def test_image_batches_are_flattened_per_sample() -> None:
    """An (N, 1, 2, 2) batch gives the same scores as its (N, 4) reshape."""
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, rng=39)
    x = np.random.default_rng(40).standard_normal((3, 1, 2, 2))
    np.testing.assert_array_equal(net.predict(x), net.predict(x.reshape(3, 4)))


def test_wrong_input_width_raises_shape_error() -> None:
    """x whose samples do not have input_size features is rejected by the first Affine,
    and the error names the method called first."""
    net = TwoLayerNet(4, 5, 3, rng=41)
    error = assert_error(
        ShapeError,
        lambda: net.predict(np.zeros((2, 5))),
        callee="TwoLayerNet.predict",
        expected="(N, 4)",
        got="shape (2, 5)",
    )
    assert str(error).startswith("TwoLayerNet.predict: Affine.forward: ")


NETWORKS_OF_FOUR_INPUTS: dict[str, Callable[[], Net | MultiLayerNetExtend | SimpleConvNet]] = {
    "TwoLayerNet": lambda: TwoLayerNet(4, 3, 2, rng=0),
    "MultiLayerNet": lambda: MultiLayerNet(4, [3], 2, rng=0),
    "MultiLayerNetExtend": lambda: MultiLayerNetExtend(4, [3], 2, use_batchnorm=True, rng=0),
    "SimpleConvNet": lambda: SimpleConvNet(
        (1, 2, 2), {"filter_num": 1, "filter_size": 1}, hidden_size=3, output_size=2, rng=0
    ),
}


@pytest.mark.parametrize("kind", list(NETWORKS_OF_FOUR_INPUTS))
@pytest.mark.parametrize(
    "method", ["predict", "loss", "accuracy", "gradient", "numerical_gradient"]
)
def test_non_numeric_x_names_the_method_called(kind: str, method: str) -> None:
    """A batch of strings is a DtypeError that names the method the caller used, once,
    and x."""
    net = NETWORKS_OF_FOUR_INPUTS[kind]()
    x, t = np.array([["a", "b", "c", "d"]]), np.array([0])
    calls = {
        "predict": lambda: net.predict(x),
        "loss": lambda: net.loss(x, t),
        "accuracy": lambda: net.accuracy(x, t),
        "gradient": lambda: net.gradient(x, t),
        "numerical_gradient": lambda: net.numerical_gradient(x, t),
    }
    error = assert_error(
        DtypeError,
        calls[method],
        callee=f"{kind}.{method}",
        expected="`x` to be a real array",
        got="dtype <U1",
    )
    assert str(error).startswith(f"{kind}.{method}: expected `x`")  # no callee but the method


def test_training_reduces_the_loss() -> None:
    """200 SGD steps on three separated blobs cut the loss tenfold and fit every point."""
    rng = np.random.default_rng(42)
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    t = np.repeat(np.arange(3), 10)
    x = centers[t] + 0.5 * rng.standard_normal((30, 2))
    net = TwoLayerNet(2, 8, 3, weight_init_std=0.1, rng=43)
    initial = net.loss(x, t)
    for _ in range(200):
        grads = net.gradient(x, t)
        for key in net.params:
            net.params[key] -= 0.2 * grads[key]
    final = net.loss(x, t)
    assert final < initial / 10, (initial, final)
    assert net.accuracy(x, t) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "expected", "got"),
    [
        ({"input_size": 0}, "`input_size` to be a positive int", "0"),
        ({"hidden_size": -3}, "`hidden_size` to be a positive int", "-3"),
        ({"output_size": 2.0}, "`output_size` to be a positive int", "2.0"),
        ({"hidden_size": True}, "`hidden_size` to be a positive int", "True"),
        ({"weight_init_std": -0.1}, "`weight_init_std` to be a finite non-negative float", "-0.1"),
        ({"weight_init_std": float("nan")}, "`weight_init_std`", "nan"),
    ],
)
def test_two_layer_net_rejects_invalid_arguments(
    kwargs: dict[str, Any], expected: str, got: str
) -> None:
    """Invalid sizes or std raise ArgumentError naming the argument, expectation and value."""
    arguments: dict[str, Any] = {"input_size": 4, "hidden_size": 5, "output_size": 3}
    arguments.update(kwargs)
    assert_error(
        ArgumentError,
        lambda: TwoLayerNet(**arguments),
        callee="TwoLayerNet",
        expected=expected,
        got=got,
    )


@pytest.mark.parametrize(
    ("kwargs", "expected", "got"),
    [
        ({"input_size": 0}, "`input_size` to be a positive int", "0"),
        ({"output_size": 0}, "`output_size` to be a positive int", "0"),
        ({"hidden_size_list": [5, 0]}, "`hidden_size_list[1]` to be a positive int", "0"),
        ({"hidden_size_list": 5}, "`hidden_size_list` to be a sequence of positive ints", "int 5"),
        ({"activation": "tanh"}, "`activation` to be one of 'relu', 'sigmoid'", "'tanh'"),
        ({"activation": ["relu"]}, "`activation` to be one of 'relu', 'sigmoid'", "['relu']"),
        (
            {"weight_init_std": "glorot"},
            "`weight_init_std` to be one of 'relu' ('he'), 'sigmoid' ('xavier') or a finite",
            "'glorot'",
        ),
        ({"weight_init_std": -1.0}, "`weight_init_std` to be one of 'relu' ('he')", "-1.0"),
    ],
)
def test_multi_layer_net_rejects_invalid_arguments(
    kwargs: dict[str, Any], expected: str, got: str
) -> None:
    """Invalid sizes, activation or weight_init_std raise ArgumentError listing the options."""
    arguments: dict[str, Any] = {"input_size": 4, "hidden_size_list": [5], "output_size": 3}
    arguments.update(kwargs)
    assert_error(
        ArgumentError,
        lambda: MultiLayerNet(**arguments),
        callee="MultiLayerNet",
        expected=expected,
        got=got,
    )


@pytest.mark.parametrize("bad", [-1.0, -1e-300, float("inf"), float("nan"), True])
def test_weight_stds_must_be_finite_and_non_negative(bad: float) -> None:
    """A negative, infinite or NaN std, or a bool, is refused, for either network."""
    assert_error(
        ArgumentError,
        lambda: TwoLayerNet(4, 3, 2, weight_init_std=bad),
        callee="TwoLayerNet",
        expected="`weight_init_std` to be a finite non-negative float",
        got=repr(bad),
    )
    assert_error(
        ArgumentError,
        lambda: MultiLayerNet(4, [3], 2, weight_init_std=bad),
        callee="MultiLayerNet",
        expected="`weight_init_std` to be one of 'relu' ('he'), 'sigmoid' ('xavier') or a finite",
        got=repr(bad),
    )


def test_invalid_dtype_is_rejected() -> None:
    """A dtype other than float32 or float64 raises DtypeError naming it."""
    assert_error(
        DtypeError,
        lambda: TwoLayerNet(4, 5, 3, dtype=np.float16),
        callee="TwoLayerNet",
        expected="`dtype` float32 or float64",
        got="float16",
    )
    assert_error(
        DtypeError,
        lambda: MultiLayerNet(4, [5], 3, dtype=np.int64),
        callee="MultiLayerNet",
        expected="`dtype` float32 or float64",
        got="int64",
    )


@pytest.mark.parametrize(("bad", "got"), [(1.5, "float"), ("seed", "str")])
def test_an_rng_of_the_wrong_type_is_named(bad: object, got: str) -> None:
    """rng must be a Generator, an int seed or None; anything else raises
    ArgumentTypeError naming the network and the type."""
    makers: dict[str, Callable[[], object]] = {
        "TwoLayerNet": lambda: TwoLayerNet(4, 5, 3, rng=cast("int", bad)),
        "MultiLayerNet": lambda: MultiLayerNet(4, [5], 3, rng=cast("int", bad)),
        "MultiLayerNetExtend": lambda: MultiLayerNetExtend(4, [5], 3, rng=cast("int", bad)),
    }
    for callee, make in makers.items():
        assert_error(
            ArgumentTypeError,
            make,
            callee=callee,
            expected="`rng` to be a numpy.random.Generator, an int seed or None",
            got=got,
        )


NETS: list[tuple[str, int, list[int], Literal["relu", "sigmoid"]]] = [
    ("two-layer", 6, [7], "relu"),
    ("relu", 6, [7, 5], "relu"),
    ("sigmoid", 6, [7, 5], "sigmoid"),
    ("softmax regression", 6, [], "relu"),
]


def _net(kind: str, d: int, hidden: list[int], act: Literal["relu", "sigmoid"], dtype: Any) -> Net:
    if kind == "two-layer":
        return TwoLayerNet(d, hidden[0], 4, weight_init_std=1.0, rng=3, dtype=dtype)
    return MultiLayerNet(d, hidden, 4, activation=act, weight_init_std=1.0, rng=3, dtype=dtype)


def _kink_batch(shape: tuple[int, ...], seed: int) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x.flat[0] = 0.0  # a hidden unit or two at exactly the ReLU kink is fine too
    return x, rng.integers(0, 4, size=shape[0]).astype(np.intp)


def _state(net: Net) -> list[bytes]:
    """Every array a layer keeps, as bytes, in layer order."""
    kept: list[bytes] = []
    for layer in [*net.layers.values(), net.last_layer]:
        for name in ("x", "mask", "out", "y", "t", "dW", "db"):
            value = getattr(layer, name, None)
            if isinstance(value, np.ndarray):
                kept.append(name.encode() + np.ascontiguousarray(value).tobytes())
    return kept


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("kind", "d", "hidden", "act"), NETS)
@pytest.mark.parametrize("shape", [(9, 6), (9, 2, 3), (1, 6)])
def test_every_network_gradient_is_layerwise_backprop_bit_for_bit(
    kind: str,
    d: int,
    hidden: list[int],
    act: Literal["relu", "sigmoid"],
    dtype: Any,
    shape: tuple[int, ...],
) -> None:
    """Gradients, loss and every layer's saved state equal those of the layers one by one."""
    x, t = _kink_batch(shape, seed=len(hidden) + shape[0])
    net = _net(kind, d, hidden, act, dtype)
    twin = _net(kind, d, hidden, act, dtype)
    grads = net.gradient(x, t)
    expected, _ = _layer_by_layer(twin, x, t)
    assert grads.keys() == expected.keys()
    for key, grad in grads.items():
        assert grad.dtype == np.dtype(dtype), key
        assert grad.tobytes() == expected[key].tobytes(), key
    assert net.last_layer.loss == twin.last_layer.loss
    assert _state(net) == _state(twin)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_returns_new_arrays_on_every_call(dtype: Any) -> None:
    """A later call never writes into what an earlier one returned, and the arrays
    returned share memory with nothing the caller passed or holds."""
    net = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=5, dtype=dtype)
    x1, t1 = _kink_batch((9, 6), seed=1)
    x2, t2 = _kink_batch((9, 6), seed=2)
    first = net.gradient(x1, t1)
    saved = {k: v.copy() for k, v in first.items()}
    second = net.gradient(x2, t2)
    assert any(not np.array_equal(first[k], second[k]) for k in first), "the batches are moot"
    for key in first:
        assert first[key].tobytes() == saved[key].tobytes(), key
        assert not np.shares_memory(first[key], second[key]), key
        for other in (x2, t2, *net.params.values()):
            assert not np.shares_memory(second[key], other), key
    # Editing the returned arrays in place changes no later result.
    expected = {k: v.copy() for k, v in net.gradient(x1, t1).items()}
    for grad in net.gradient(x1, t1).values():
        grad[...] = 7
    again = net.gradient(x1, t1)
    for key, grad in again.items():
        assert grad.tobytes() == expected[key].tobytes(), key


def test_a_replaced_layer_is_used() -> None:
    """With a layer swapped in ``layers``, gradient() runs the new layer."""
    x, t = _kink_batch((9, 6), seed=5)
    net = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=7)
    twin = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=7)
    relu_grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    net.layers["Relu1"] = Sigmoid()
    twin.layers["Relu1"] = Sigmoid()
    swapped = net.gradient(x, t)
    expected, _ = _layer_by_layer(twin, x, t)
    for key, grad in swapped.items():
        assert grad.tobytes() == expected[key].tobytes(), key
    assert not np.array_equal(swapped["W1"], relu_grads["W1"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_biases_start_at_zero(dtype: type[np.floating]) -> None:
    """Every bias of a new network is zero, whatever the weight initialisation."""
    nets = [
        TwoLayerNet(4, 5, 3, weight_init_std=2.0, rng=1, dtype=dtype),
        MultiLayerNet(4, [5, 6], 3, weight_init_std="xavier", rng=2, dtype=dtype),
        MultiLayerNet(4, [], 3, weight_init_std=0.5, rng=3, dtype=dtype),
    ]
    for net in nets:
        biases = [p for key, p in net.params.items() if key.startswith("b")]
        assert biases
        for bias in biases:
            assert bias.dtype == dtype
            assert not np.any(bias)

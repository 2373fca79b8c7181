"""TwoLayerNet and MultiLayerNet: gradients, parameter sharing, dtypes, validation, training."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import DtypeError, ShapeError, TargetError
from bpcore._finite_difference import central_gradient as central_difference
from bpcore.layers import Affine
from bpcore.networks import MultiLayerNet, TwoLayerNet
from bpcore.networks._sequential import SequentialNet

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


def _assert_gradients_match(net: SequentialNet, x: npt.ArrayLike, t: npt.ArrayLike) -> None:
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
    activation: Literal["relu", "sigmoid"], weight_init: Literal["he", "xavier"] | float
) -> None:
    """MultiLayerNet's backprop gradient equals central differences for each activation/init."""
    net = MultiLayerNet(
        4, [5, 4], 3, activation=activation, weight_init=weight_init, rng=np.random.default_rng(4)
    )
    x, t = _batch(seed=5)
    _assert_gradients_match(net, x, t)


def test_softmax_regression_gradient_matches_numerical() -> None:
    """With no hidden layer the single Affine's parameter gradients are still right."""
    net = MultiLayerNet(4, [], 3, weight_init=1.0, rng=6)
    x, t = _batch(seed=7)
    _assert_gradients_match(net, x, t)


def test_gradient_equals_full_backprop_bit_for_bit() -> None:
    """Skipping the first Affine's dx leaves dW1 and db1 identical to its full backward."""
    net = MultiLayerNet(4, [5, 6], 3, activation="sigmoid", weight_init=1.0, rng=8)
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
    """gradient() never calls the first Affine's backward, whose dx no one needs."""
    net = TwoLayerNet(4, 5, 3, rng=10)
    first = net.layers["Affine1"]

    def forbidden(dout: object) -> None:
        raise AssertionError("Affine1.backward computes dx, which training never reads")

    monkeypatch.setattr(first, "backward", forbidden)
    x, t = _batch(seed=11)
    grads = net.gradient(x, t)
    assert isinstance(first, Affine)
    assert first.dW is grads["W1"], "the layer's dW must reflect the latest gradient"
    assert first.db is grads["b1"]


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
    net = MultiLayerNet(3, [4, 5], 2, activation="sigmoid", weight_init=1.0, rng=14)
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

    def flaky_loss(x: npt.ArrayLike, t: npt.ArrayLike) -> float:
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
def test_central_difference_steps_by_cbrt_eps_times_magnitude(
    dtype: type[np.floating[Any]],
) -> None:
    """Each element is stepped by ±cbrt(eps)·max(1, |p|), one element at a time."""
    values = [0.5, -100.0, 3.0]
    param = np.array(values, dtype=dtype)
    seen: list[npt.NDArray[np.float64]] = []

    def f() -> float:
        seen.append(param.astype(np.float64))
        return 0.0

    central_difference(f, param)
    root_eps = float(np.cbrt(np.finfo(dtype).eps))
    assert len(seen) == 6
    for i, p in enumerate(values):
        upper, lower = seen[2 * i], seen[2 * i + 1]
        others = np.arange(3) != i
        np.testing.assert_array_equal(upper[others], param[others])
        np.testing.assert_array_equal(lower[others], param[others])
        step = root_eps * max(1.0, abs(p))
        np.testing.assert_allclose([upper[i] - p, p - lower[i]], [step, step], rtol=1e-4)


def test_central_difference_divides_by_the_step_actually_taken() -> None:
    """In float32, p ± h rounds; dividing by the stored difference keeps a linear f exact."""
    param = np.array([1.3, -0.7, 12.345], dtype=np.float32)
    slopes = np.array([2.0, -3.0, 0.5])

    def f() -> float:
        # Evaluated in float64, so the only rounding left is that of the stored p ± h,
        # which is ~1e-5 relative to the step and would show if divided out as 2h.
        return float(slopes @ param.astype(np.float64))

    np.testing.assert_allclose(central_difference(f, param), slopes, rtol=1e-12)


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
    multi = MultiLayerNet(4, [5], 3, activation="relu", weight_init=0.3, rng=29)
    for key in two.params:
        np.testing.assert_array_equal(two.params[key], multi.params[key])
    x, _ = _batch(seed=30)
    np.testing.assert_array_equal(two.predict(x), multi.predict(x))


@pytest.mark.parametrize(
    ("weight_init", "activation", "std1", "std2"),
    [
        ("he", "relu", np.sqrt(2 / 400), np.sqrt(2 / 100)),
        ("xavier", "sigmoid", np.sqrt(1 / 400), np.sqrt(1 / 100)),
        (0.2, "relu", 0.2, 0.2),
    ],
)
def test_weight_init_scales_by_each_layers_fan_in(
    weight_init: Literal["he", "xavier"] | float,
    activation: Literal["relu", "sigmoid"],
    std1: float,
    std2: float,
) -> None:
    """He is sqrt(2/fan_in), Xavier sqrt(1/fan_in), a float a fixed std, per layer."""
    net = MultiLayerNet(400, [100], 300, activation=activation, weight_init=weight_init, rng=31)
    # 40 000 and 30 000 normal draws: the sample std is within 1% with near certainty.
    np.testing.assert_allclose(np.std(net.params["W1"]), std1, rtol=0.02)
    np.testing.assert_allclose(np.std(net.params["W2"]), std2, rtol=0.02)
    assert abs(float(np.mean(net.params["W1"]))) < 0.05 * std1


def test_float32_network_stays_float32() -> None:
    """A float32 net keeps float32 params, scores and gradients; numerical ones are float64."""
    net = MultiLayerNet(4, [5], 3, activation="sigmoid", weight_init=1.0, rng=32, dtype=np.float32)
    reference = MultiLayerNet(4, [5], 3, activation="sigmoid", weight_init=1.0, rng=32)
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


def test_accuracy_rejects_an_empty_batch() -> None:
    """An empty batch has no accuracy, so it raises instead of dividing by zero."""
    net = TwoLayerNet(4, 5, 3, rng=36)
    with pytest.raises(ShapeError, match="empty batch"):
        net.accuracy(np.zeros((0, 4)), np.zeros(0, dtype=np.intp))


def test_gradient_does_not_mutate_x_or_t() -> None:
    """gradient, loss and accuracy leave the caller's x and t (labels or rows) untouched."""
    net = MultiLayerNet(4, [5, 5], 3, weight_init=1.0, rng=37)
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
    """x whose samples do not have input_size features is rejected by the first Affine."""
    net = TwoLayerNet(4, 5, 3, rng=41)
    with pytest.raises(ShapeError, match=r"\(N, 4\)"):
        net.predict(np.zeros((2, 5)))


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
    ("kwargs", "message"),
    [
        ({"input_size": 0}, r"`input_size` to be a positive int, got 0"),
        ({"hidden_size": -3}, r"`hidden_size` to be a positive int, got -3"),
        ({"output_size": 2.0}, r"`output_size` to be a positive int, got 2\.0"),
        ({"hidden_size": True}, r"`hidden_size` to be a positive int, got True"),
        ({"weight_init_std": -0.1}, r"`weight_init_std` to be a finite non-negative float"),
        ({"weight_init_std": float("nan")}, r"`weight_init_std` .* got nan"),
    ],
)
def test_two_layer_net_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Invalid sizes or std raise ValueError naming the argument, expectation and value."""
    arguments: dict[str, Any] = {"input_size": 4, "hidden_size": 5, "output_size": 3}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"^TwoLayerNet: expected {message}"):
        TwoLayerNet(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_sizes": [5, 0]}, r"`hidden_sizes\[1\]` to be a positive int, got 0"),
        ({"hidden_sizes": 5}, r"`hidden_sizes` to be a sequence of positive ints, got int 5"),
        ({"activation": "tanh"}, r"`activation` to be one of 'relu', 'sigmoid', got 'tanh'"),
        ({"weight_init": "glorot"}, r"`weight_init` to be one of 'he', 'xavier' or a finite"),
        ({"weight_init": -1.0}, r"`weight_init` to be one of 'he', 'xavier' .* got -1\.0"),
    ],
)
def test_multi_layer_net_rejects_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Invalid sizes, activation or weight_init raise ValueError listing the options."""
    arguments: dict[str, Any] = {"input_size": 4, "hidden_sizes": [5], "output_size": 3}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"^MultiLayerNet: expected {message}"):
        MultiLayerNet(**arguments)


def test_invalid_dtype_and_rng_are_rejected() -> None:
    """A non-float32/64 dtype raises DtypeError and an rng of the wrong type TypeError."""
    with pytest.raises(DtypeError, match="`dtype` float32 or float64"):
        TwoLayerNet(4, 5, 3, dtype=np.float16)
    with pytest.raises(DtypeError, match="`dtype` float32 or float64"):
        MultiLayerNet(4, [5], 3, dtype=np.int64)
    with pytest.raises(TypeError, match=r"`rng` to be a numpy\.random\.Generator"):
        TwoLayerNet(4, 5, 3, rng=1.5)  # type: ignore[arg-type]

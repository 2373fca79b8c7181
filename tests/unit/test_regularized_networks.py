"""Weight decay in every network that offers it, and MultiLayerNetExtend: batch
normalization and dropout in a network, training and inference modes, and the book's
constructor."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pytest

from bpcore.errors import ArgumentError
from bpcore.layers import BatchNormalization
from bpcore.networks import MultiLayerNet, MultiLayerNetExtend, SimpleConvNet
from tests.helpers import assert_error

# backprop against central differences in float64, as tests/unit/test_networks.py derives:
# truncation and rounding near 1e-10 for these O(1) nets, three orders below the tolerance.
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-7


Batch: TypeAlias = tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]
Network: TypeAlias = MultiLayerNet | MultiLayerNetExtend | SimpleConvNet


def _batch(n: int = 6, d: int = 5, c: int = 3) -> Batch:
    rng = np.random.default_rng(4)
    return rng.standard_normal((n, d)), rng.integers(0, c, size=n)


def _images(n: int = 4) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    rng = np.random.default_rng(4)
    return rng.standard_normal((n, 1, 6, 6)), rng.integers(0, 3, size=n)


DECAYED: dict[str, tuple[Callable[[float], Network], tuple[str, ...], Batch]] = {
    "MultiLayerNet": (
        lambda decay: MultiLayerNet(5, [4, 4], 3, weight_decay_lambda=decay, rng=1),
        ("W1", "W2", "W3"),
        _batch(),
    ),
    "MultiLayerNetExtend": (
        lambda decay: MultiLayerNetExtend(
            5, [4, 4], 3, weight_decay_lambda=decay, use_batchnorm=True, rng=1
        ),
        ("W1", "W2", "W3"),
        _batch(),
    ),
    "SimpleConvNet": (
        lambda decay: SimpleConvNet(
            (1, 6, 6), {"filter_num": 2, "filter_size": 3}, 4, 3, weight_decay_lambda=decay, rng=1
        ),
        ("W1", "W2", "W3"),
        _images(),
    ),
}
"""Each network with weight decay: how to build it with a given λ, the weights that
decay (every weight matrix or filter bank, no bias, γ or β), and a batch it takes."""


@pytest.mark.parametrize("name", DECAYED)
def test_weight_decay_adds_half_lambda_times_the_squared_weights_to_the_loss(name: str) -> None:
    """loss = cross-entropy + (λ/2)·Σᵢ ‖Wᵢ‖² over the weights only; the cross-entropy
    alone stays in last_layer.loss."""
    build, weights, (x, t) = DECAYED[name]
    plain, decayed = build(0.0), build(0.3)
    assert sorted(k for k in decayed.params if k.startswith("W")) == sorted(weights)
    squares = math.fsum(float(np.sum(decayed.params[k] ** 2)) for k in weights)
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.15 * squares, rel=1e-14)
    assert decayed.last_layer.loss == pytest.approx(plain.loss(x, t), rel=1e-14)


@pytest.mark.parametrize("name", DECAYED)
def test_weight_decay_adds_lambda_w_to_each_weight_gradient(name: str) -> None:
    """dWᵢ gains λ·Wᵢ, every other gradient is unchanged, and backprop still matches
    central differences."""
    build, weights, (x, t) = DECAYED[name]
    plain = build(0.0).gradient(x, t)
    net = build(0.3)
    grads = net.gradient(x, t)
    for key in grads:
        expected = plain[key] + 0.3 * net.params[key] if key in weights else plain[key]
        np.testing.assert_allclose(grads[key], expected, rtol=1e-14, atol=1e-16, err_msg=key)
    numerical = net.numerical_gradient(x, t)
    for key in grads:
        np.testing.assert_allclose(grads[key], numerical[key], rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize(
    ("options", "layers"),
    [
        ({}, ["Affine1", "Relu1", "Affine2", "Relu2", "Affine3"]),
        ({"use_batchnorm": True},
         ["Affine1", "BatchNorm1", "Relu1", "Affine2", "BatchNorm2", "Relu2", "Affine3"]),
        ({"use_dropout": True},
         ["Affine1", "Relu1", "Dropout1", "Affine2", "Relu2", "Dropout2", "Affine3"]),
        ({"use_dropout": True, "use_batchnorm": True},
         ["Affine1", "BatchNorm1", "Relu1", "Dropout1", "Affine2", "BatchNorm2", "Relu2",
          "Dropout2", "Affine3"]),
    ],
    ids=["plain", "batchnorm", "dropout", "both"],
)  # fmt: skip
def test_extend_stacks_the_books_layers(options: dict[str, bool], layers: list[str]) -> None:
    """Affine, [BatchNorm], activation, [Dropout] per hidden layer, in the book's order; with
    batch normalization gammaᵢ start at ones and betaᵢ at zeros, shared with the layers."""
    net = MultiLayerNetExtend(
        5,
        [4, 4],
        3,
        use_dropout=options.get("use_dropout", False),
        use_batchnorm=options.get("use_batchnorm", False),
        rng=1,
    )
    assert list(net.layers) == layers
    normalized = ["gamma1", "beta1", "gamma2", "beta2"] if options.get("use_batchnorm") else []
    assert sorted(net.params) == sorted(["W1", "b1", "W2", "b2", "W3", "b3", *normalized])
    if options.get("use_batchnorm"):
        for i in (1, 2):
            layer = net.layers[f"BatchNorm{i}"]
            assert isinstance(layer, BatchNormalization)
            assert layer.gamma is net.params[f"gamma{i}"]
            np.testing.assert_array_equal(net.params[f"gamma{i}"], np.ones(4))
            np.testing.assert_array_equal(net.params[f"beta{i}"], np.zeros(4))


def test_without_options_extend_is_multi_layer_net() -> None:
    """No batch normalization and no dropout: the same parameters and scores for a seed."""
    x, t = _batch()
    extend, plain = MultiLayerNetExtend(5, [4], 3, rng=2), MultiLayerNet(5, [4], 3, rng=2)
    for key in plain.params:
        np.testing.assert_array_equal(extend.params[key], plain.params[key])
    np.testing.assert_array_equal(extend.predict(x), plain.predict(x))
    assert extend.loss(x, t) == plain.loss(x, t)  # no weight decay by default
    assert extend.gradient(x, t).keys() == plain.gradient(x, t).keys()


def test_float32_stays_float32_with_batchnorm_and_dropout() -> None:
    """dtype=float32 makes every parameter float32, gammaᵢ and betaᵢ included, and the
    scores and gradients float32."""
    x, t = _batch()
    net = MultiLayerNetExtend(
        5, [4, 4], 3, use_batchnorm=True, use_dropout=True, dtype=np.float32, rng=1
    )
    assert {key: p.dtype for key, p in net.params.items()} == dict.fromkeys(
        net.params, np.dtype(np.float32)
    )
    assert net.predict(x.astype(np.float32), train_flg=True).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x.astype(np.float32), t).values())


def test_dropout_masks_come_from_the_networks_seed() -> None:
    """Two networks built with the same rng draw the same masks: training-mode scores
    agree call after call."""
    x, _ = _batch()
    first, second = (MultiLayerNetExtend(5, [8], 3, use_dropout=True, rng=7) for _ in range(2))
    for _ in range(3):
        np.testing.assert_array_equal(
            first.predict(x, train_flg=True), second.predict(x, train_flg=True)
        )


def test_batchnorm_gradient_matches_central_differences() -> None:
    """With batch normalization (training mode) and weight decay, backprop matches the
    central differences of the same training-mode loss, gamma and beta included."""
    x, t = _batch()
    net = MultiLayerNetExtend(5, [4, 4], 3, weight_decay_lambda=0.1, use_batchnorm=True, rng=3)
    grads, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    assert grads.keys() == numerical.keys() == net.params.keys()
    for key in grads:
        np.testing.assert_allclose(
            grads[key], numerical[key], rtol=GRAD_RTOL, atol=GRAD_ATOL, err_msg=key
        )


def test_predict_is_in_inference_mode_unless_asked() -> None:
    """predict and accuracy use the running statistics and scale by 1 - ratio; they are the
    same call after call. predict(x, train_flg=True) uses the batch and draws masks."""
    x, _ = _batch()
    net = MultiLayerNetExtend(5, [4], 3, use_dropout=True, use_batchnorm=True, rng=5)
    first = net.predict(x)
    np.testing.assert_array_equal(net.predict(x), first)
    np.testing.assert_array_equal(net.predict(x[:2]), first[:2])  # per sample
    assert not np.array_equal(net.predict(x, train_flg=True), net.predict(x, train_flg=True))


def test_only_training_moves_the_running_statistics() -> None:
    """gradient() (training mode) moves BatchNorm's running mean; predict, loss and
    accuracy (inference) leave it."""
    x, t = _batch()
    net = MultiLayerNetExtend(5, [4], 3, use_batchnorm=True, rng=5)
    layer = net.layers["BatchNorm1"]
    assert isinstance(layer, BatchNormalization)
    net.gradient(x, t)
    moved = np.array(layer.running_mean, copy=True)
    assert np.any(moved != 0)
    net.predict(x)
    net.loss(x, t)
    net.accuracy(x, t)
    np.testing.assert_array_equal(layer.running_mean, moved)


def test_the_books_dropout_ration_spelling_is_accepted() -> None:
    """dropout_ration=0.2 (the book's keyword) is dropout_ratio=0.2; giving both is refused."""
    x, _ = _batch()
    book = MultiLayerNetExtend(5, [4], 3, use_dropout=True, dropout_ration=0.2, rng=1)
    ours = MultiLayerNetExtend(5, [4], 3, use_dropout=True, dropout_ratio=0.2, rng=1)
    np.testing.assert_array_equal(book.predict(x), ours.predict(x))
    assert_error(
        ArgumentError,
        lambda: MultiLayerNetExtend(5, [4], 3, dropout_ratio=0.3, dropout_ration=0.2),
        callee="MultiLayerNetExtend",
        expected="one of `dropout_ratio` and the book's `dropout_ration`",
        got="0.3 and 0.2",
    )


@pytest.mark.parametrize(
    ("kwargs", "expected", "got"),
    [
        ({"weight_decay_lambda": -0.1}, "`weight_decay_lambda` to be a finite non-negative",
         "-0.1"),
        ({"weight_decay_lambda": math.inf}, "`weight_decay_lambda` to be a finite non-negative",
         "inf"),
        ({"dropout_ratio": 1.0}, "`dropout_ratio` in [0, 1)", "1.0"),
        ({"activation": "tanh"}, "`activation` to be one of 'relu', 'sigmoid'", "'tanh'"),
    ],
)  # fmt: skip
def test_extend_rejects_bad_arguments(kwargs: dict[str, object], expected: str, got: str) -> None:
    """Each bad argument raises ArgumentError naming it and the value received."""
    assert_error(
        ArgumentError,
        lambda: MultiLayerNetExtend(5, [4], 3, **kwargs),  # type: ignore[arg-type]  # wrong on purpose
        callee="MultiLayerNetExtend",
        expected=expected,
        got=got,
    )

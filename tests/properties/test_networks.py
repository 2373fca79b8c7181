"""Network properties: every documented target encoding, inputs cast to the network's dtype,
N-D inputs flattened per sample, in float32 and float64 and at batches of hundreds."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import MultiLayerNet, SoftmaxWithLoss, TwoLayerNet

FLOAT_DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])
BATCHES = st.one_of(st.integers(1, 6), st.integers(7, 1500))
"""The strategies' small batches, and batches of hundreds."""
ACTIVATIONS: tuple[Literal["relu", "sigmoid"], ...] = ("relu", "sigmoid")


@st.composite
def networks(draw: st.DrawFn, dtype: np.dtype) -> TwoLayerNet | MultiLayerNet:
    """A TwoLayerNet, or a MultiLayerNet of up to two hidden layers with either activation,
    of ``dtype``, with 1 to 6 inputs and 1 to 5 classes."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    if len(sizes) == 3 and draw(st.booleans()):
        return TwoLayerNet(sizes[0], sizes[1], sizes[2], weight_init_std=1.0, rng=seed, dtype=dtype)
    activation = draw(st.sampled_from(ACTIVATIONS))
    return MultiLayerNet(
        sizes[0], sizes[1:-1], sizes[-1], activation=activation, rng=seed, dtype=dtype
    )


def _sizes(net: TwoLayerNet | MultiLayerNet) -> tuple[int, int]:
    """The input width and the class count of ``net``."""
    last = len(net.params) // 2
    return net.params["W1"].shape[0], net.params[f"W{last}"].shape[1]


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_networks_take_labels_one_hot_and_soft_rows(data: st.DataObject, dtype: np.dtype) -> None:
    """loss, gradient and accuracy take integer labels (N,) and one-hot or soft rows (N, C):
    one-hot rows give the labels' results bit for bit, and soft rows the loss layer's loss on
    the scores and the accuracy of their most likely class."""
    net = data.draw(networks(dtype))
    features, classes = _sizes(net)
    n = data.draw(BATCHES)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, features))
    labels = rng.integers(0, classes, size=n)
    one_hot = np.eye(classes)[labels]
    soft = rng.random((n, classes)) + 1e-3
    soft /= soft.sum(axis=1, keepdims=True)

    assert net.loss(x, labels) == net.loss(x, one_hot)
    by_labels = {k: g.copy() for k, g in net.gradient(x, labels).items()}
    by_rows = net.gradient(x, one_hot)
    for key, grad in by_labels.items():
        assert grad.dtype == dtype
        assert grad.tobytes() == by_rows[key].tobytes(), key
    assert net.accuracy(x, labels) == net.accuracy(x, one_hot)

    scores = net.predict(x)
    assert net.loss(x, soft) == SoftmaxWithLoss().forward(scores, soft)
    hits = np.count_nonzero(np.argmax(scores, axis=1) == np.argmax(soft, axis=1))
    assert net.accuracy(x, soft) == hits / n
    assert math.isfinite(net.loss(x, soft))


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_inputs_of_any_real_dtype_are_cast_to_the_networks(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """predict returns scores (N, C) in the network's dtype for float64, float32, integer and
    bool inputs alike: the same scores as for the inputs cast to the network's dtype."""
    net = data.draw(networks(dtype))
    features, classes = _sizes(net)
    n = data.draw(BATCHES)
    given_dtype = data.draw(
        st.sampled_from([np.dtype(t) for t in (np.float64, np.float32, np.int16, np.bool_)])
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = (4 * rng.standard_normal((n, features))).astype(given_dtype)
    scores = net.predict(x)
    assert scores.shape == (n, classes)
    assert scores.dtype == dtype
    assert scores.tobytes() == net.predict(x.astype(dtype)).tobytes()


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_nd_inputs_are_flattened_per_sample(data: st.DataObject, dtype: np.dtype) -> None:
    """An (N, d1, ..., dk) batch with d1·…·dk = input_size gives the scores, loss, gradient
    and accuracy of its (N, input_size) reshape, bit for bit."""
    net = data.draw(networks(dtype))
    features, classes = _sizes(net)
    n = data.draw(BATCHES)
    split = data.draw(st.sampled_from([d for d in range(1, features + 1) if features % d == 0]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    flat = rng.standard_normal((n, features)).astype(dtype)
    shaped = flat.reshape(n, 1, split, features // split)
    t = rng.integers(0, classes, size=n)
    assert net.predict(shaped).tobytes() == net.predict(flat).tobytes()
    assert net.loss(shaped, t) == net.loss(flat, t)
    assert net.accuracy(shaped, t) == net.accuracy(flat, t)
    from_shaped = {k: g.copy() for k, g in net.gradient(shaped, t).items()}
    for key, grad in net.gradient(flat, t).items():
        assert from_shaped[key].tobytes() == grad.tobytes(), key


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_parameters_and_gradients_keep_the_documented_shapes(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """W_i is (sizes[i-1], sizes[i]) and b_i (sizes[i],), in the network's dtype, and each
    gradient has its parameter's shape and dtype."""
    net = data.draw(networks(dtype))
    features, classes = _sizes(net)
    count = len(net.params) // 2
    for i in range(1, count + 1):
        W, b = net.params[f"W{i}"], net.params[f"b{i}"]
        assert W.ndim == 2
        assert b.shape == (W.shape[1],)
        if i > 1:
            assert W.shape[0] == net.params[f"W{i - 1}"].shape[1]
        assert W.dtype == b.dtype == dtype
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = data.draw(BATCHES)
    grads = net.gradient(rng.standard_normal((n, features)), rng.integers(0, classes, n))
    assert grads.keys() == net.params.keys()
    for key, grad in grads.items():
        assert grad.shape == net.params[key].shape
        assert grad.dtype == dtype

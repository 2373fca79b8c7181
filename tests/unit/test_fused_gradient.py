"""The networks' fused gradient and the fast layer kernels behind it.

``gradient()`` runs the whole stack in one pass when the layers are the ones the
network built. It must give, bit for bit, what calling the layers one by one gives,
leave every layer in the same state, hand back new arrays on every call, and step
aside when a layer has been replaced. The ReLU and loss kernels it shares with the
public layers must keep ``np.where``'s exact semantics on every special value.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import Relu, Sigmoid, SoftmaxWithLoss
from bpcore.layers import Affine
from bpcore.networks import MultiLayerNet, TwoLayerNet
from bpcore.optim import SGD

Net = TwoLayerNet | MultiLayerNet
FloatArray = npt.NDArray[np.floating[Any]]

NETS: list[tuple[str, int, list[int], Literal["relu", "sigmoid"]]] = [
    ("two-layer", 6, [7], "relu"),
    ("relu", 6, [7, 5], "relu"),
    ("sigmoid", 6, [7, 5], "sigmoid"),
    ("softmax regression", 6, [], "relu"),
]


def _net(kind: str, d: int, hidden: list[int], act: Literal["relu", "sigmoid"], dtype: Any) -> Net:
    if kind == "two-layer":
        return TwoLayerNet(d, hidden[0], 4, weight_init_std=1.0, rng=3, dtype=dtype)
    return MultiLayerNet(d, hidden, 4, activation=act, weight_init=1.0, rng=3, dtype=dtype)


def _batch(shape: tuple[int, ...], seed: int) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x.flat[0] = 0.0  # a hidden unit or two at exactly the ReLU kink is fine too
    return x, rng.integers(0, 4, size=shape[0]).astype(np.intp)


def _layerwise(net: Net, x: FloatArray, t: npt.ArrayLike) -> dict[str, FloatArray]:
    """The gradient by calling every layer's forward and backward, as the book does."""
    net.loss(x, t)
    dout = net.last_layer.backward(1.0)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    grads = {}
    for i in range(1, len(net.params) // 2 + 1):
        affine = net.layers[f"Affine{i}"]
        assert isinstance(affine, Affine)
        assert affine.dW is not None
        assert affine.db is not None
        grads[f"W{i}"], grads[f"b{i}"] = affine.dW.copy(), affine.db.copy()
    return grads


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
def test_fused_gradient_is_layerwise_backprop_bit_for_bit(
    kind: str,
    d: int,
    hidden: list[int],
    act: Literal["relu", "sigmoid"],
    dtype: Any,
    shape: tuple[int, ...],
) -> None:
    """Gradients, loss and every layer's saved state equal those of the layers one by one."""
    x, t = _batch(shape, seed=len(hidden) + shape[0])
    fused_net = _net(kind, d, hidden, act, dtype)
    layer_net = _net(kind, d, hidden, act, dtype)
    fused = fused_net.gradient(x, t)
    expected = _layerwise(layer_net, x, t)
    assert fused.keys() == expected.keys()
    for key, grad in fused.items():
        assert grad.dtype == np.dtype(dtype), key
        assert grad.tobytes() == expected[key].tobytes(), key
    assert fused_net.last_layer.loss == layer_net.last_layer.loss
    # The first Affine's dx is skipped, so its dW/db were not recomputed by a backward:
    # compare the states that the layer-by-layer run left too.
    assert _state(fused_net) == _state(layer_net)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_returns_new_arrays_on_every_call(dtype: Any) -> None:
    """A later call never writes into what an earlier one returned, and the arrays
    returned share memory with nothing the caller passed or holds."""
    net = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=5, dtype=dtype)
    x1, t1 = _batch((9, 6), seed=1)
    x2, t2 = _batch((9, 6), seed=2)
    first = net.gradient(x1, t1)
    saved = {k: v.copy() for k, v in first.items()}
    second = net.gradient(x2, t2)
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


def test_gradient_leaves_its_arguments_untouched() -> None:
    """x and t are bit-identical after gradient(), also for a float32 net fed float64."""
    net = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=6, dtype=np.float32)
    x, t = _batch((9, 6), seed=3)
    x_before, t_before = x.tobytes(), t.tobytes()
    net.gradient(x, t)
    assert x.tobytes() == x_before
    assert t.tobytes() == t_before


def test_training_with_the_fused_gradient_matches_layerwise_training() -> None:
    """Fifty SGD steps on the fused gradient land exactly where layer-by-layer ones do."""
    x, t = _batch((12, 6), seed=4)
    fused_net = _net("relu", 6, [7, 5], "relu", np.float64)
    layer_net = _net("relu", 6, [7, 5], "relu", np.float64)
    fused_opt, layer_opt = SGD(lr=0.1), SGD(lr=0.1)
    for _ in range(50):
        fused_opt.update(fused_net.params, fused_net.gradient(x, t))
        layer_opt.update(layer_net.params, _layerwise(layer_net, x, t))
    for key, value in fused_net.params.items():
        assert value.tobytes() == layer_net.params[key].tobytes(), key


def test_a_replaced_layer_is_used() -> None:
    """With a layer swapped out of ``layers``, gradient() calls the layers themselves."""
    x, t = _batch((9, 6), seed=5)
    net = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=7)
    twin = TwoLayerNet(6, 7, 4, weight_init_std=1.0, rng=7)
    relu_grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    net.layers["Relu1"] = Sigmoid()
    twin.layers["Relu1"] = Sigmoid()
    swapped = net.gradient(x, t)
    expected = _layerwise(twin, x, t)
    for key, grad in swapped.items():
        assert grad.tobytes() == expected[key].tobytes(), key
    assert not np.array_equal(swapped["W1"], relu_grads["W1"])


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

"""Every numeric entry point, handed well-formed arrays whose values are extreme: the
float limits, subnormals, values beyond float32's range, infinities and NaN. The outcome
is a result without a RuntimeWarning (IEEE 754 arithmetic: what overflows is ±inf, what
is undefined NaN) or a documented BpcoreError naming the callee; an optimizer that
refuses a step has changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bpcore
from bpcore import (
    AddLayer,
    Affine,
    MulLayer,
    MultiLayerNet,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    TwoLayerNet,
)
from bpcore._arrays import FloatArray
from bpcore.gradcheck import check_gradients, taylor_test, unary
from bpcore.optim import SGD, AdaGrad, Adam, Momentum
from bpcore.optim._base import Optimizer
from tests.helpers import result_or_bpcore_error

F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)
EXTREMES = (
    0.0,
    -0.0,
    5e-324,
    -1e-310,
    1e-40,
    1.0,
    -2.5,
    F32_MAX,
    -3.5e38,
    1e39,
    1.5e154,
    -1e200,
    1e308,
    -F64_MAX,
    F64_MAX,
    np.inf,
    -np.inf,
    np.nan,
)
"""Values where arithmetic overflows, underflows or is undefined, in float32 or float64."""

_ELEMENTS = st.one_of(
    st.sampled_from(EXTREMES), st.floats(allow_nan=True, allow_infinity=True, width=64)
)


def _extreme(shape: tuple[int, ...]) -> st.SearchStrategy[FloatArray]:
    """Float32 or float64 arrays of ``shape`` with extreme elements (a float32 array holds
    the float64 values rounded to float32, beyond its range ±inf)."""

    def cast(a: FloatArray, dtype: type[np.floating]) -> FloatArray:
        with np.errstate(over="ignore"):
            return a.astype(dtype)

    base = hnp.arrays(np.float64, shape, elements=_ELEMENTS)
    return st.tuples(base, st.sampled_from([np.float64, np.float32])).map(lambda p: cast(*p))


X = np.linspace(-1, 1, 6).reshape(2, 3)
T = np.array([0, 2])
Call = Callable[[st.DataObject], object]


def _forward_then_backward(make: Callable[[], Relu | Sigmoid | Tanh]) -> Call:
    def call(data: st.DataObject) -> object:
        layer = make()
        layer.forward(data.draw(_extreme((2, 3)), label="x"))
        return layer.backward(data.draw(_extreme((2, 3)), label="dout"))

    return call


def _affine(data: st.DataObject) -> object:
    layer = Affine(data.draw(_extreme((3, 2)), label="W"), data.draw(_extreme((2,)), label="b"))
    layer.forward(data.draw(_extreme((2, 3)), label="x"))
    return layer.backward(data.draw(_extreme((2, 2)), label="dout"))


def _binary(make: Callable[[], MulLayer | AddLayer]) -> Call:
    def call(data: st.DataObject) -> object:
        layer = make()
        layer.forward(
            data.draw(_extreme((2, 3)), label="x"), data.draw(_extreme((2, 3)), label="y")
        )
        return layer.backward(data.draw(_extreme((2, 3)), label="dout"))

    return call


def _softmax_with_loss(data: st.DataObject) -> object:
    layer = SoftmaxWithLoss()
    layer.forward(data.draw(_extreme((2, 3)), label="x"), T)
    return layer.backward(data.draw(st.sampled_from(EXTREMES), label="dout"))


def _probabilities(data: st.DataObject) -> FloatArray:
    """Rows in [0, 1] with extreme small values, or with NaN (a DomainError)."""
    values = st.sampled_from([0.0, 5e-324, 1e-300, 1e-40, 0.5, 1.0, np.nan])
    return data.draw(hnp.arrays(np.float64, (2, 3), elements=values), label="y")


def _network(make: Callable[[str], TwoLayerNet | MultiLayerNet], method: str) -> Call:
    def call(data: st.DataObject) -> object:
        net = make(data.draw(st.sampled_from(["float32", "float64"]), label="dtype"))
        x = data.draw(_extreme((2, 3)), label="x")
        return getattr(net, method)(x) if method == "predict" else getattr(net, method)(x, T)

    return call


def _two_layer(dtype: str) -> TwoLayerNet:
    return TwoLayerNet(3, 4, 3, dtype=dtype, rng=0)


def _multi_layer(dtype: str) -> MultiLayerNet:
    return MultiLayerNet(3, [4, 4], 3, activation="sigmoid", dtype=dtype, rng=0)


# (callee named in the error, call with drawn extreme values)
ENTRY_POINTS: dict[str, tuple[str, Call]] = {
    "Relu": ("Relu.", _forward_then_backward(Relu)),
    "Sigmoid": ("Sigmoid.", _forward_then_backward(Sigmoid)),
    "Tanh": ("Tanh.", _forward_then_backward(Tanh)),
    "Affine": ("Affine.", _affine),
    "MulLayer": ("MulLayer.", _binary(MulLayer)),
    "AddLayer": ("AddLayer.", _binary(AddLayer)),
    "SoftmaxWithLoss": ("SoftmaxWithLoss.", _softmax_with_loss),
    "relu": ("relu", lambda d: bpcore.relu(d.draw(_extreme((2, 3))))),
    "sigmoid": ("sigmoid", lambda d: bpcore.sigmoid(d.draw(_extreme((2, 3))))),
    "softmax": ("softmax", lambda d: bpcore.softmax(d.draw(_extreme((2, 3))))),
    "log_softmax": ("log_softmax", lambda d: bpcore.log_softmax(d.draw(_extreme((2, 3))))),
    "cross_entropy_error": (
        "cross_entropy_error",
        lambda d: bpcore.cross_entropy_error(_probabilities(d), T),
    ),
    "TwoLayerNet.predict": ("TwoLayerNet.predict", _network(_two_layer, "predict")),
    "TwoLayerNet.loss": ("TwoLayerNet.loss", _network(_two_layer, "loss")),
    "TwoLayerNet.accuracy": ("TwoLayerNet.accuracy", _network(_two_layer, "accuracy")),
    "TwoLayerNet.gradient": ("TwoLayerNet.gradient", _network(_two_layer, "gradient")),
    "MultiLayerNet.gradient": ("MultiLayerNet.gradient", _network(_multi_layer, "gradient")),
    "check_gradients": (
        "check_gradients",
        lambda d: check_gradients(unary(lambda _: Sigmoid()), {"x": d.draw(_extreme((2, 3)))}),
    ),
    "taylor_test": (
        "taylor_test",
        lambda d: taylor_test(unary(lambda _: Sigmoid()), {"x": d.draw(_extreme((2, 3)))}),
    ),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
# A quarter of the profile's examples per entry point: 10 in ci, 100 nightly.
@settings(max_examples=max(1, settings().max_examples // 4))
@given(data=st.data())
def test_extreme_values_give_a_result_or_a_bpcore_error(entry: str, data: st.DataObject) -> None:
    """Each entry point at extreme values: a result without a warning, or a BpcoreError
    naming the callee."""
    callee, call = ENTRY_POINTS[entry]
    event(result_or_bpcore_error(callee, lambda: call(data)))


OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "SGD": lambda: SGD(lr=0.5),
    "Momentum": lambda: Momentum(lr=0.5),
    "AdaGrad": lambda: AdaGrad(lr=0.5),
    "Adam": lambda: Adam(lr=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@settings(max_examples=max(1, settings().max_examples // 4))
@given(data=st.data())
def test_an_optimizer_at_extreme_gradients_updates_all_or_nothing(
    name: str, data: st.DataObject
) -> None:
    """Two steps with extreme gradients: each is a result without a warning or a
    BpcoreError that leaves the parameters and the optimizer's state as they were."""
    optimizer = OPTIMIZERS[name]()
    params = {"W": np.ones((2, 3)), "b": np.full(3, -0.5)}
    for step in range(2):
        grads = {
            k: data.draw(_extreme(p.shape), label=f"grads[{k!r}] {step}") for k, p in params.items()
        }
        grads = {k: g.astype(np.float64) for k, g in grads.items()}
        before = {k: p.copy() for k, p in params.items()}
        state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else {}
        outcome = result_or_bpcore_error(f"{name}.update", partial(optimizer.update, params, grads))
        event(outcome)
        if outcome == "error":
            for k, p in params.items():
                np.testing.assert_array_equal(p, before[k])
            after = optimizer.state_dict() if hasattr(optimizer, "state_dict") else {}
            assert state.keys() == after.keys()
            for k, v in state.items():
                np.testing.assert_array_equal(after[k], v)

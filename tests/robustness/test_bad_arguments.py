"""Every public entry point, handed a malformed argument: either a result without a
warning, or a documented BpcoreError whose message names the callee. Never another
exception.

The malformed values are structural: wrong types, ragged and over-deep lists, mappings
where arrays go and the reverse, wrong shapes, ranks and dtypes, empty arrays. Values
that are well formed but extreme (1e308, inf, NaN) are drawn in test_extreme_values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import bpcore
from bpcore import (
    AddLayer,
    Affine,
    MulLayer,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    TwoLayerNet,
)
from bpcore._arrays import FloatArray
from bpcore.checkpoint import load_checkpoint, save_checkpoint
from bpcore.datasets import write_idx
from bpcore.errors import ArgumentError, ArgumentTypeError, DtypeError, ShapeError
from bpcore.gradcheck import check_gradients, numerical_gradient, taylor_test, unary
from bpcore.optim import SGD, AdaGrad, Adam, Momentum
from tests.helpers import assert_error, result_or_bpcore_error

X = np.linspace(-1, 1, 6).reshape(2, 3)
T = np.array([0, 2])


def _nested(depth: int) -> object:
    value: object = 1.0
    for _ in range(depth):
        value = [value]
    return value


_SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
_RAGGED = (
    st.integers(1, 4)
    .flatmap(
        lambda n: st.lists(
            st.lists(st.floats(-2, 2), min_size=n, max_size=n), min_size=1, max_size=3
        )
    )
    .map(lambda rows: [*rows, [0.0] * (len(rows[0]) + 1)])
)

BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "None": st.none(),
    "bool": st.booleans(),
    "text": st.text(max_size=5),
    "bytes": st.binary(max_size=5),
    "mapping": st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    "ragged list": _RAGGED,
    "deep list": st.integers(33, 80).map(_nested),
    "object": st.builds(object),
    "complex array": _SHAPES.map(lambda s: np.ones(s, dtype=np.complex128)),
    "string array": _SHAPES.map(lambda s: np.full(s, "a")),
    "object array": _SHAPES.map(lambda s: np.full(s, None, dtype=object)),
    "float array of any shape": _SHAPES.map(lambda s: np.full(s, 0.5)),
    "float16 array": _SHAPES.map(lambda s: np.full(s, 0.5, dtype=np.float16)),
    "int array of any shape": _SHAPES.map(lambda s: np.ones(s, dtype=np.int64)),
}
"""Malformed values for an array argument, by category."""


def _wrong(value: object) -> Any:
    """``value``, typed as anything: these tests pass what the signatures forbid."""
    return value


def _forwarded(layer: Any, *args: object) -> Any:
    layer.forward(*args)
    return layer


def _net() -> TwoLayerNet:
    return TwoLayerNet(3, 4, 3, rng=0)


def _params() -> dict[str, FloatArray]:
    return {"w": np.ones(3)}


# (callee named in the error, call with the bad value)
ENTRY_POINTS: dict[str, tuple[str, Callable[[object], object]]] = {
    "Relu.forward": ("Relu.forward", lambda v: Relu().forward(v)),  # type: ignore[arg-type]
    "Relu.backward": ("Relu.backward", lambda v: _forwarded(Relu(), X).backward(v)),
    "Sigmoid.forward": ("Sigmoid.forward", lambda v: Sigmoid().forward(v)),  # type: ignore[arg-type]
    "Sigmoid.backward": ("Sigmoid.backward", lambda v: _forwarded(Sigmoid(), X).backward(v)),
    "Tanh.forward": ("Tanh.forward", lambda v: Tanh().forward(v)),  # type: ignore[arg-type]
    "Affine.forward": ("Affine.forward", lambda v: Affine(np.ones((3, 2)), np.ones(2)).forward(v)),  # type: ignore[arg-type]
    "Affine.backward": (
        "Affine.backward",
        lambda v: _forwarded(Affine(np.ones((3, 2)), np.ones(2)), X).backward(v),
    ),
    "Affine(W)": ("Affine", lambda v: Affine(v, np.ones(2))),  # type: ignore[arg-type]
    "MulLayer.forward": ("MulLayer.forward", lambda v: MulLayer().forward(v, X)),  # type: ignore[arg-type]
    "AddLayer.forward": ("AddLayer.forward", lambda v: AddLayer().forward(X, v)),  # type: ignore[arg-type]
    "SoftmaxWithLoss x": ("SoftmaxWithLoss.forward", lambda v: SoftmaxWithLoss().forward(v, T)),  # type: ignore[arg-type]
    "SoftmaxWithLoss t": ("SoftmaxWithLoss.forward", lambda v: SoftmaxWithLoss().forward(X, v)),  # type: ignore[arg-type]
    "SoftmaxWithLoss.backward": (
        "SoftmaxWithLoss.backward",
        lambda v: _forwarded(SoftmaxWithLoss(), X, T).backward(v),
    ),
    "softmax": ("softmax", bpcore.softmax),  # type: ignore[dict-item]
    "log_softmax": ("log_softmax", bpcore.log_softmax),  # type: ignore[dict-item]
    "relu": ("relu", bpcore.relu),  # type: ignore[dict-item]
    "cross_entropy_error y": (
        "cross_entropy_error",
        lambda v: bpcore.cross_entropy_error(v, T),  # type: ignore[arg-type]
    ),
    "cross_entropy_error t": (
        "cross_entropy_error",
        lambda v: bpcore.cross_entropy_error(np.full((2, 3), 1 / 3), v),  # type: ignore[arg-type]
    ),
    "TwoLayerNet.predict": ("TwoLayerNet.predict", lambda v: _net().predict(v)),  # type: ignore[arg-type]
    "TwoLayerNet.loss t": ("TwoLayerNet.loss", lambda v: _net().loss(X, v)),  # type: ignore[arg-type]
    "TwoLayerNet.gradient x": ("TwoLayerNet.gradient", lambda v: _net().gradient(v, T)),  # type: ignore[arg-type]
    "TwoLayerNet(dtype)": ("TwoLayerNet", lambda v: TwoLayerNet(3, 4, 3, dtype=v)),  # type: ignore[arg-type]
    "TwoLayerNet(rng)": ("TwoLayerNet", lambda v: TwoLayerNet(3, 4, 3, rng=v)),  # type: ignore[arg-type]
    "SGD.update params": ("SGD.update", lambda v: SGD().update(v, {"w": np.ones(3)})),  # type: ignore[arg-type]
    "Adam.update grads": ("Adam.update", lambda v: Adam().update(_params(), v)),  # type: ignore[arg-type]
    "Momentum.update grad": ("Momentum.update", lambda v: Momentum().update(_params(), {"w": v})),  # type: ignore[dict-item]
    "AdaGrad.load_state_dict": ("AdaGrad.load_state_dict", lambda v: AdaGrad().load_state_dict(v)),  # type: ignore[arg-type]
    "Adam.load_state_dict": ("Adam.load_state_dict", lambda v: Adam().load_state_dict(v)),  # type: ignore[arg-type]
    "numerical_gradient": (
        "numerical_gradient",
        lambda v: numerical_gradient(lambda a: float(np.sum(a)), v),  # type: ignore[arg-type]
    ),
    "check_gradients": (
        "check_gradients",
        lambda v: check_gradients(unary(lambda _: Relu()), {"x": v}, rng=0),  # type: ignore[dict-item]
    ),
    "taylor_test": ("taylor_test", lambda v: taylor_test(unary(lambda _: Relu()), {"x": v}, rng=0)),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("category", sorted(BAD_VALUES))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
# A quarter of the profile's examples per (entry point, category): 10 in ci, 100 nightly.
@settings(max_examples=max(1, settings().max_examples // 4))
@given(data=st.data())
def test_a_malformed_argument_gives_a_result_or_a_bpcore_error(
    entry: str, category: str, data: st.DataObject
) -> None:
    """Each entry point, each category of malformed value: a result without a warning,
    or a BpcoreError naming the callee."""
    value = data.draw(BAD_VALUES[category], label=category)
    callee, call = ENTRY_POINTS[entry]
    event(result_or_bpcore_error(callee, lambda: call(value)))


@pytest.mark.parametrize(
    ("call", "error", "callee", "expected", "got"),
    [
        (lambda: Relu().forward([[1.0, 2.0], [3.0]]), ShapeError, "Relu.forward",
         "`x` to be a rectangular array of numbers", "a list that is not one"),
        (lambda: SGD().update(_wrong(None), _wrong(None)), ArgumentTypeError, "SGD.update",
         "`params` to be a mapping", "NoneType"),
        (lambda: SGD().update(_wrong([np.ones(2)]), _wrong([np.ones(2)])), ArgumentTypeError,
         "SGD.update",
         "`params` to be a mapping", "list"),
        (lambda: Adam().load_state_dict(_wrong({"iter": "x"})), ArgumentError,
         "Adam.load_state_dict",
         "'iter', a 0-d array holding a whole number", "'x'"),
        (lambda: Adam().load_state_dict(_wrong([1])), ArgumentTypeError, "Adam.load_state_dict",
         "`state` to be a mapping", "list"),
        (lambda: TwoLayerNet(2, 2, 2, rng=-1), ArgumentError, "TwoLayerNet",
         "an `rng` seed >= 0", "-1"),
        (lambda: check_gradients(unary(lambda _: Relu()), {}), ArgumentError, "unary",
         "the inputs to hold 'x'", "names []"),
        (lambda: write_idx(Path("never-written.idx"), _wrong([1, 2])), DtypeError, "write_idx",
         "a numpy array", "list"),
        (lambda: bpcore.cross_entropy_error(np.array([[np.nan, 1.0]]), np.array([1])),
         bpcore.DomainError, "cross_entropy_error", "probabilities y in [0, 1]",
         "values outside it or NaN"),
    ],
    ids=["ragged list", "update(None)", "update(list)", "iter 'x'", "state list", "rng -1",
         "no input x", "write_idx list", "NaN probability"],
)  # fmt: skip
def test_each_formerly_raw_exception_is_a_bpcore_error(
    call: Callable[[], object],
    error: type[bpcore.BpcoreError],
    callee: str,
    expected: str,
    got: str,
) -> None:
    """The calls that once raised NumPy's ValueError, AttributeError or KeyError, or
    returned -0.0 for a NaN probability, raise the documented error naming the callee."""
    assert_error(error, call, callee=callee, expected=expected, got=got)


def test_checkpoint_entry_points_refuse_malformed_arguments(tmp_path: Path) -> None:
    """save_checkpoint with a list for params, load_checkpoint of a directory."""
    path = tmp_path / "c.npz"
    assert_error(
        bpcore.CheckpointError,
        lambda: save_checkpoint(path, _wrong([np.ones(2)])),
        callee=f"save_checkpoint({str(path)!r})",
        expected="`params` to be a mapping",
        got="list",
    )
    assert_error(
        bpcore.CheckpointError,
        lambda: load_checkpoint(tmp_path),
        callee=f"load_checkpoint({str(tmp_path)!r})",
        expected="a regular file",
        got="a directory",
    )

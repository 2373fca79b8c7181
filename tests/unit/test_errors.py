"""Every documented error path: the error types, and messages that name the callee, the
argument, what was expected and what was received."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

import bpcore
import bpcore.errors
import bpcore.gradcheck
import bpcore.properties
import bpcore.training
import bpcore.verify
from bpcore import (
    AddLayer,
    Affine,
    BatchNormalization,
    BpcoreError,
    Convolution,
    DomainError,
    Dropout,
    DtypeError,
    MulLayer,
    MultiLayerNet,
    NotForwardedError,
    Pooling,
    Relu,
    ShapeError,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    TargetError,
    TwoLayerNet,
    col2im,
    cross_entropy_error,
    im2col,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from bpcore.gradcheck import numerical_gradient, taylor_test, unary
from bpcore.optim import SGD
from tests.helpers import assert_error

COMPLEX = np.array([[1 + 2j, 0j]])
"""A (1, 2) array of a dtype no bpcore computation accepts."""


def _forwarded_relu() -> Relu:
    layer = Relu()
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_sigmoid() -> Sigmoid:
    layer = Sigmoid()
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_tanh() -> Tanh:
    layer = Tanh()
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_affine() -> Affine:
    layer = Affine(np.ones((2, 2)), np.zeros(2))
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_mul() -> MulLayer:
    layer = MulLayer()
    layer.forward(np.ones((1, 2)), np.ones(2))
    return layer


def _forwarded_add() -> AddLayer:
    layer = AddLayer()
    layer.forward(np.ones((1, 2)), np.ones(2))
    return layer


def _forwarded_convolution() -> Convolution:
    layer = Convolution(np.ones((1, 1, 1, 1)), np.zeros(1))
    layer.forward(np.ones((1, 1, 1, 2)))
    return layer


def _forwarded_batch_norm() -> BatchNormalization:
    layer = BatchNormalization(np.ones(2), np.zeros(2))
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_dropout() -> Dropout:
    layer = Dropout(rng=0)
    layer.forward(np.ones((1, 2)))
    return layer


def _forwarded_pooling() -> Pooling:
    layer = Pooling(1, 1)
    layer.forward(np.ones((1, 1, 1, 2)))
    return layer


def _forwarded_loss() -> SoftmaxWithLoss:
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((1, 2)), np.array([0]))
    return layer


def test_error_hierarchy() -> None:
    """Each error is a BpcoreError and also the built-in type a NumPy user would catch."""
    assert issubclass(ShapeError, BpcoreError)
    assert issubclass(ShapeError, ValueError)
    assert issubclass(DtypeError, TypeError)
    assert issubclass(NotForwardedError, RuntimeError)
    assert issubclass(TargetError, ValueError)
    assert issubclass(DomainError, ValueError)


BUILTIN_KIND: dict[str, type[Exception]] = {
    "ShapeError": ValueError,
    "TargetError": ValueError,
    "DomainError": ValueError,
    "DatasetError": ValueError,
    "CheckpointError": ValueError,
    "ArgumentError": ValueError,
    "UnusableGradient": ValueError,
    "DtypeError": TypeError,
    "ArgumentTypeError": TypeError,
    "NotForwardedError": RuntimeError,
    "TrainingDiverged": RuntimeError,
    "GradientMismatch": AssertionError,
    "TaylorMismatch": AssertionError,
    "PropertyFailure": AssertionError,
    "LayerCheckFailed": AssertionError,
}
"""Every exception class the public modules export, and the built-in type it also is."""


def test_every_public_error_is_a_bpcore_error_and_its_builtin_kind() -> None:
    """Each exception exported by a public module derives from BpcoreError and from the
    built-in type a NumPy user would catch; those of bpcore.errors are also exported by
    bpcore itself."""
    found: dict[str, type[Exception]] = {}
    modules = (bpcore, bpcore.errors, bpcore.training, bpcore.gradcheck, bpcore.properties)
    for module in (*modules, bpcore.verify):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Exception):
                found[name] = value
    assert set(found) == {"BpcoreError", *BUILTIN_KIND}
    for name, kind in BUILTIN_KIND.items():
        assert issubclass(found[name], BpcoreError), name
        assert issubclass(found[name], kind), name
    for name in bpcore.errors.__all__:
        assert getattr(bpcore, name) is getattr(bpcore.errors, name)


# -- dtypes ---------------------------------------------------------------------------------


DTYPE_CALLS: list[tuple[str, str, Callable[[], object]]] = [
    ("relu", "x", lambda: relu(COMPLEX)),
    ("sigmoid", "x", lambda: sigmoid(COMPLEX)),
    ("softmax", "x", lambda: softmax(COMPLEX)),
    ("log_softmax", "x", lambda: log_softmax(COMPLEX)),
    ("cross_entropy_error", "y", lambda: cross_entropy_error(COMPLEX, np.array([0]))),
    ("cross_entropy_error", "t", lambda: cross_entropy_error(np.array([[0.5, 0.5]]), COMPLEX)),
    ("Relu.forward", "x", lambda: Relu().forward(COMPLEX)),
    ("Relu.backward", "dout", lambda: _forwarded_relu().backward(COMPLEX)),
    ("Sigmoid.forward", "x", lambda: Sigmoid().forward(COMPLEX)),
    ("Sigmoid.backward", "dout", lambda: _forwarded_sigmoid().backward(COMPLEX)),
    ("tanh", "x", lambda: tanh(COMPLEX)),
    ("Tanh.forward", "x", lambda: Tanh().forward(COMPLEX)),
    ("Tanh.backward", "dout", lambda: _forwarded_tanh().backward(COMPLEX)),
    ("Affine.forward", "x", lambda: Affine(np.ones((2, 2)), np.zeros(2)).forward(COMPLEX)),
    ("Affine.backward", "dout", lambda: _forwarded_affine().backward(COMPLEX)),
    ("MulLayer.forward", "x", lambda: MulLayer().forward(COMPLEX, np.ones(2))),
    ("MulLayer.forward", "y", lambda: MulLayer().forward(np.ones(2), COMPLEX)),
    ("MulLayer.backward", "dout", lambda: _forwarded_mul().backward(COMPLEX)),
    ("AddLayer.forward", "x", lambda: AddLayer().forward(COMPLEX, np.ones(2))),
    ("AddLayer.forward", "y", lambda: AddLayer().forward(np.ones(2), COMPLEX)),
    ("AddLayer.backward", "dout", lambda: _forwarded_add().backward(COMPLEX)),
    ("SoftmaxWithLoss.forward", "x", lambda: SoftmaxWithLoss().forward(COMPLEX, np.array([0]))),
    (
        "SoftmaxWithLoss.forward",
        "t",
        lambda: SoftmaxWithLoss().forward(np.zeros((1, 2)), COMPLEX),
    ),
    ("SoftmaxWithLoss.backward", "dout", lambda: _forwarded_loss().backward(np.array(1j))),
    ("im2col", "input_data", lambda: im2col(COMPLEX, 1, 1)),
    ("col2im", "col", lambda: col2im(COMPLEX, (1, 1, 1, 2), 1, 1)),
    (
        "Convolution.forward",
        "x",
        lambda: Convolution(np.ones((1, 1, 1, 1)), np.zeros(1)).forward(COMPLEX),
    ),
    ("Convolution.backward", "dout", lambda: _forwarded_convolution().backward(COMPLEX)),
    ("Pooling.forward", "x", lambda: Pooling(1, 1).forward(COMPLEX)),
    ("Dropout.forward", "x", lambda: Dropout(rng=0).forward(COMPLEX)),
    (
        "BatchNormalization.forward",
        "x",
        lambda: BatchNormalization(np.ones(2), np.zeros(2)).forward(COMPLEX),
    ),
    ("BatchNormalization.backward", "dout", lambda: _forwarded_batch_norm().backward(COMPLEX)),
    ("Dropout.backward", "dout", lambda: _forwarded_dropout().backward(COMPLEX)),
    ("Pooling.backward", "dout", lambda: _forwarded_pooling().backward(COMPLEX)),
    ("numerical_gradient", "x", lambda: numerical_gradient(lambda _: 0.0, COMPLEX)),
    ("taylor_test", "x", lambda: taylor_test(unary(lambda _: Relu()), {"x": COMPLEX})),
]


@pytest.mark.parametrize(
    ("where", "name", "call"), DTYPE_CALLS, ids=[f"{w}-{n}" for w, n, _ in DTYPE_CALLS]
)
def test_dtype_errors_name_the_callee_and_the_argument(
    where: str, name: str, call: Callable[[], object]
) -> None:
    """A complex argument raises DtypeError naming the function or method, the argument, the
    real dtypes accepted and the dtype received."""
    assert_error(
        DtypeError,
        call,
        callee=where,
        expected=f"`{name}` to be a real array (float32, float64, integer or bool)",
        got="dtype complex128",
    )


NON_REAL = [
    np.array([[1 + 2j, 0j]]),
    np.array([["a", "b"]]),
    np.array([[object(), object()]], dtype=object),
    np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[D]"),
]
"""(1, 2) arrays of complex, string, object and datetime dtypes."""

TWO_BY_TWO = np.ones((2, 2))

ENTRY_POINTS: list[tuple[str, str, Callable[[np.ndarray], object]]] = [
    ("relu", "x", relu),
    ("sigmoid", "x", sigmoid),
    ("tanh", "x", tanh),
    ("softmax", "x", softmax),
    ("log_softmax", "x", log_softmax),
    ("cross_entropy_error", "y", lambda bad: cross_entropy_error(bad, np.array([0]))),
    ("Relu.forward", "x", lambda bad: Relu().forward(bad)),
    ("Sigmoid.forward", "x", lambda bad: Sigmoid().forward(bad)),
    ("Tanh.forward", "x", lambda bad: Tanh().forward(bad)),
    ("Affine.forward", "x", lambda bad: Affine(TWO_BY_TWO, np.zeros(2)).forward(bad)),
    ("MulLayer.forward", "x", lambda bad: MulLayer().forward(bad, np.ones(2))),
    ("AddLayer.forward", "y", lambda bad: AddLayer().forward(np.ones(2), bad)),
    ("SoftmaxWithLoss.forward", "x", lambda bad: SoftmaxWithLoss().forward(bad, np.array([0]))),
    ("TwoLayerNet.predict", "x", lambda bad: TwoLayerNet(2, 3, 2).predict(bad)),
    ("MultiLayerNet.loss", "x", lambda bad: MultiLayerNet(2, [3], 2).loss(bad, np.array([0]))),
    ("numerical_gradient", "x", lambda bad: numerical_gradient(lambda _: 0.0, bad)),
]
"""Every function, layer forward and network entry point that takes an array, with the name
of the argument under test."""


@pytest.mark.parametrize("bad", NON_REAL, ids=[str(b.dtype) for b in NON_REAL])
@pytest.mark.parametrize(
    ("callee", "name", "call"), ENTRY_POINTS, ids=[callee for callee, _, _ in ENTRY_POINTS]
)
def test_non_real_inputs_raise_dtype_error(
    callee: str, name: str, call: Callable[[np.ndarray], object], bad: np.ndarray
) -> None:
    """Complex, string, object and datetime inputs raise DtypeError (a TypeError) naming the
    callee, the argument and the dtype, wherever an array enters bpcore."""
    error = assert_error(DtypeError, lambda: call(bad), callee=callee, expected=f"`{name}`",
                         got=f"dtype {bad.dtype}")  # fmt: skip
    assert isinstance(error, TypeError)


# -- backward before forward ----------------------------------------------------------------


NOT_FORWARDED: list[tuple[str, str, Callable[[], object]]] = [
    ("Relu.backward", "Relu.backward", lambda: Relu().backward(np.ones(2))),
    ("Sigmoid.backward", "Sigmoid.backward", lambda: Sigmoid().backward(np.ones(2))),
    ("Tanh.backward", "Tanh.backward", lambda: Tanh().backward(np.ones(2))),
    (
        "Affine.backward",
        "Affine.backward",
        lambda: Affine(np.ones((2, 2)), np.zeros(2)).backward(np.ones((1, 2))),
    ),
    ("Affine.grads", "Affine.grads", lambda: Affine(np.ones((2, 2)), np.zeros(2)).grads),
    ("MulLayer.backward", "MulLayer.backward", lambda: MulLayer().backward(np.ones(2))),
    ("AddLayer.backward", "AddLayer.backward", lambda: AddLayer().backward(np.ones(2))),
    ("SoftmaxWithLoss.backward", "SoftmaxWithLoss.backward", lambda: SoftmaxWithLoss().backward()),
    (
        "SoftmaxWithLoss.backward",
        "SoftmaxWithLoss.backward-non-scalar-dout",
        lambda: SoftmaxWithLoss().backward(np.ones((1, 2))),
    ),
]


@pytest.mark.parametrize(
    ("where", "call"), [(w, c) for w, _, c in NOT_FORWARDED], ids=[i for _, i, _ in NOT_FORWARDED]
)
def test_backward_before_forward_names_the_method(where: str, call: Callable[[], object]) -> None:
    """Reading gradients before any forward raises NotForwardedError naming the method,
    whatever dout is given."""
    assert_error(NotForwardedError, call, callee=where)


@pytest.mark.parametrize(
    ("make", "missing"),
    [
        (_forwarded_mul, "x"),
        (_forwarded_mul, "y"),
        (_forwarded_affine, "x"),
        (_forwarded_affine, "original_x_shape"),
    ],
    ids=["MulLayer-x", "MulLayer-y", "Affine-x", "Affine-original_x_shape"],
)
def test_backward_needs_every_saved_forward_attribute(
    make: Callable[[], MulLayer | Affine], missing: str
) -> None:
    """Backward reports any saved forward attribute reset to None as a missing forward."""
    layer = make()
    setattr(layer, missing, None)
    assert_error(
        NotForwardedError,
        lambda: layer.backward(np.ones((1, 2))),
        callee=f"{type(layer).__name__}.backward",
    )


def test_sigmoid_backward_needs_its_own_forward() -> None:
    """A Sigmoid whose ``out`` was set by hand, without a forward, still refuses backward."""
    layer = Sigmoid()
    layer.out = np.full(2, 0.5)
    assert_error(NotForwardedError, lambda: layer.backward(np.ones(2)), callee="Sigmoid.backward")


# -- shapes ---------------------------------------------------------------------------------


DOUT_SHAPES: list[tuple[str, Callable[[], object], tuple[int, ...]]] = [
    ("Relu.backward", lambda: _forwarded_relu().backward(np.ones(3)), (1, 2)),
    ("Sigmoid.backward", lambda: _forwarded_sigmoid().backward(np.ones(3)), (1, 2)),
    ("Tanh.backward", lambda: _forwarded_tanh().backward(np.ones(3)), (1, 2)),
    ("Affine.backward", lambda: _forwarded_affine().backward(np.ones(3)), (1, 2)),
    ("MulLayer.backward", lambda: _forwarded_mul().backward(np.ones(3)), (1, 2)),
    ("AddLayer.backward", lambda: _forwarded_add().backward(np.ones(3)), (1, 2)),
    ("SoftmaxWithLoss.backward", lambda: _forwarded_loss().backward(np.ones(3)), ()),
    ("Convolution.backward", lambda: _forwarded_convolution().backward(np.ones(3)), (1, 1, 1, 2)),
    ("Pooling.backward", lambda: _forwarded_pooling().backward(np.ones(3)), (1, 1, 1, 2)),
]


@pytest.mark.parametrize(
    ("where", "call", "expected"), DOUT_SHAPES, ids=[w for w, _, _ in DOUT_SHAPES]
)
def test_wrong_dout_shape_names_the_method_and_both_shapes(
    where: str, call: Callable[[], object], expected: tuple[int, ...]
) -> None:
    """A dout that is not shaped like the output raises ShapeError with the method, the
    expected and the received shape."""
    assert_error(
        ShapeError,
        call,
        callee=where,
        expected=f"`dout` of shape {expected}",
        got="shape (3,)",
    )


def test_affine_rejects_bad_parameters_and_inputs() -> None:
    """Affine names the parameter or input and its expected shape or dtype."""
    assert_error(
        ShapeError,
        lambda: Affine(np.ones(3), np.ones(3)),
        callee="Affine",
        expected="`W` of shape (D, M)",
        got="shape (3,)",
    )
    assert_error(
        ShapeError,
        lambda: Affine(np.ones((2, 4)), np.ones(3)),
        callee="Affine",
        expected="`b` of shape (4,)",
        got="shape (3,)",
    )
    assert_error(
        DtypeError,
        lambda: Affine(np.ones((2, 2), dtype=np.int64), np.ones(2)),
        callee="Affine",
        expected="`W`",
        got="dtype int64",
    )
    assert_error(
        DtypeError,
        lambda: Affine([[1.0]], np.ones(1)),  # type: ignore[arg-type]  # the check under test is the runtime one
        callee="Affine",
        expected="`W`",
        got="list",
    )
    layer = Affine(np.ones((6, 2)), np.ones(2))
    assert_error(
        ShapeError,
        lambda: layer.forward(np.ones((3, 5))),
        callee="Affine.forward",
        expected="d1·…·dk = 6",
        got="shape (3, 5)",
    )
    assert_error(
        ShapeError,
        lambda: layer.forward(np.ones(6)),
        callee="Affine.forward",
        expected="(N, 6)",
        got="shape (6,)",
    )


@pytest.mark.parametrize("got", ["list", "dtype int64"])
@pytest.mark.parametrize("name", ["W", "b"])
def test_affine_parameter_errors_name_the_parameter(name: str, got: str) -> None:
    """Affine names ``W`` or ``b`` when a parameter is not a float32/float64 numpy array,
    and what it got instead: a list, or an array of another dtype."""
    params: dict[str, object] = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    value = np.asarray(params[name])
    params[name] = value.tolist() if got == "list" else value.astype(np.int64)
    assert_error(
        DtypeError,
        lambda: Affine(params["W"], params["b"]),  # type: ignore[arg-type]  # runtime check under test
        callee="Affine",
        expected=f"`{name}` to be a float32 or float64 numpy array",
        got=got,
    )


@pytest.mark.parametrize(
    ("t", "expected", "got"),
    [
        (np.array([0, 3]), "class labels in [0, 2]", "label 3"),
        (np.array([-1, 0]), "class labels in [0, 2]", "label -1"),
        (np.array([0.0, 1.0]), "integer dtype", "dtype float64"),
        (np.array([[1.0, 0.0, 0.0], [0.5, 0.2, 0.2]]), "sum to 1", "sums to"),
        (np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]]), "non-negative", "minimum -0.5"),
        (np.array([[np.nan, 0.0, 1.0], [1.0, 0.0, 0.0]]), "finite", "NaN or infinity"),
        (np.array([0, 1, 2]), "targets of shape (2,)", "shape (3,)"),
        (np.ones((2, 4)) / 4, "or (2, 3) (one-hot or soft rows)", "shape (2, 4)"),
    ],
)
def test_bad_targets(t: npt.NDArray[np.generic], expected: str, got: str) -> None:
    """Every kind of bad target raises TargetError with what was expected and received."""
    assert_error(
        TargetError,
        lambda: SoftmaxWithLoss().forward(np.zeros((2, 3)), t),
        callee="SoftmaxWithLoss.forward",
        expected=expected,
        got=got,
    )


@pytest.mark.parametrize("shape", [(), (2, 2, 2), (2, 0), (0, 3)])
def test_bad_logit_shapes(shape: tuple[int, ...]) -> None:
    """SoftmaxWithLoss rejects 0-d, 3-d, empty-class and empty-batch logits."""
    assert_error(
        ShapeError,
        lambda: SoftmaxWithLoss().forward(np.zeros(shape), np.array([0])),
        callee="SoftmaxWithLoss.forward",
        expected="x of shape (N, C) with N, C >= 1",
        got=f"shape {shape}",
    )


def test_cross_entropy_error_rejects_values_outside_probabilities() -> None:
    """cross_entropy_error rejects negative or above-one probabilities with DomainError."""
    assert_error(
        DomainError,
        lambda: bpcore.cross_entropy_error(np.array([1.5, -0.5]), 0),
        callee="cross_entropy_error",
        expected="probabilities y in [0, 1]",
    )


def test_argument_errors_are_bpcore_errors_of_the_builtin_kind() -> None:
    """Bad sizes, hyperparameters and rngs raise ArgumentError/ArgumentTypeError, BpcoreErrors."""
    assert issubclass(bpcore.ArgumentError, ValueError)
    assert issubclass(bpcore.ArgumentTypeError, TypeError)
    assert_error(bpcore.ArgumentError, lambda: SGD(lr=-1.0), callee="SGD", expected="`lr`")
    assert_error(
        bpcore.ArgumentError,
        lambda: TwoLayerNet(4, 0, 3),
        callee="TwoLayerNet",
        expected="`hidden_size`",
        got="0",
    )
    assert_error(
        bpcore.ArgumentTypeError,
        lambda: TwoLayerNet(4, 5, 3, rng="seed"),  # type: ignore[arg-type]  # the runtime check is under test
        callee="TwoLayerNet",
        expected="`rng`",
        got="str",
    )
    assert_error(
        bpcore.ArgumentError,
        lambda: MultiLayerNet(4, [5], 3, activation="tanh"),  # type: ignore[arg-type]  # as above
        callee="MultiLayerNet",
        expected="`activation`",
        got="'tanh'",
    )

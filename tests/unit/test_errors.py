"""Every documented error path: types, messages naming what was expected and received."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pytest

import bpcore
from bpcore import (
    Affine,
    BpcoreError,
    DomainError,
    DtypeError,
    MultiLayerNet,
    NotForwardedError,
    Relu,
    ShapeError,
    Sigmoid,
    SoftmaxWithLoss,
    TargetError,
    TwoLayerNet,
)
from bpcore.optim import SGD


def test_error_hierarchy() -> None:
    """Each error is a BpcoreError and also the built-in type a NumPy user would catch."""
    assert issubclass(ShapeError, BpcoreError)
    assert issubclass(ShapeError, ValueError)
    assert issubclass(DtypeError, TypeError)
    assert issubclass(NotForwardedError, RuntimeError)
    assert issubclass(TargetError, ValueError)
    assert issubclass(DomainError, ValueError)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([1 + 2j]),
        np.array(["a"]),
        np.array([object()], dtype=object),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ],
)
def test_non_real_inputs_raise_dtype_error(bad: npt.NDArray[np.generic]) -> None:
    """Complex, string, object and datetime inputs raise DtypeError naming the dtype."""
    with pytest.raises(
        DtypeError, match=rf"Relu.forward: expected `x` to be a real.*{re.escape(str(bad.dtype))}"
    ):
        Relu().forward(bad)
    with pytest.raises(DtypeError, match="sigmoid"):
        bpcore.sigmoid(bad)
    with pytest.raises(DtypeError, match="softmax"):
        bpcore.softmax(bad)


@pytest.mark.parametrize(
    "layer", [Relu(), Sigmoid(), Affine(np.ones((2, 2)), np.ones(2)), SoftmaxWithLoss()]
)
def test_backward_before_forward(layer: Relu | Sigmoid | Affine | SoftmaxWithLoss) -> None:
    """Backward before any forward raises NotForwardedError naming the layer."""
    with pytest.raises(NotForwardedError, match=rf"{type(layer).__name__}.backward"):
        layer.backward(np.ones((1, 2)))


def test_wrong_dout_shapes() -> None:
    """A dout that is not shaped like the output raises ShapeError with both shapes."""
    relu = Relu()
    relu.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"expected `dout` of shape \(2, 3\), got shape \(3, 2\)"):
        relu.backward(np.ones((3, 2)))
    sigmoid = Sigmoid()
    sigmoid.forward(np.ones(3))
    with pytest.raises(ShapeError, match=r"Sigmoid\.backward"):
        sigmoid.backward(np.ones(4))
    affine = Affine(np.ones((2, 4)), np.ones(4))
    affine.forward(np.ones((3, 2)))
    with pytest.raises(ShapeError, match=r"expected `dout` of shape \(3, 4\)"):
        affine.backward(np.ones((3, 2)))
    loss = SoftmaxWithLoss()
    loss.forward(np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(ShapeError, match=r"expected `dout` of shape \(\), got shape \(2,\)"):
        loss.backward(np.ones(2))


def test_affine_rejects_bad_parameters_and_inputs() -> None:
    """Affine names the parameter or input and its expected shape or dtype."""
    with pytest.raises(ShapeError, match=r"expected `W` of shape \(D, M\), got shape \(3,\)"):
        Affine(np.ones(3), np.ones(3))
    with pytest.raises(ShapeError, match=r"expected `b` of shape \(4,\)"):
        Affine(np.ones((2, 4)), np.ones(3))
    with pytest.raises(DtypeError, match="got dtype int64"):
        Affine(np.ones((2, 2), dtype=np.int64), np.ones(2))
    with pytest.raises(DtypeError, match="got list"):
        Affine([[1.0]], np.ones(1))  # type: ignore[arg-type]  # the check under test is the runtime one
    layer = Affine(np.ones((6, 2)), np.ones(2))
    with pytest.raises(ShapeError, match=r"d1·…·dk = 6, got shape \(3, 5\)"):
        layer.forward(np.ones((3, 5)))
    with pytest.raises(ShapeError, match=r"got shape \(6,\)"):
        layer.forward(np.ones(6))


@pytest.mark.parametrize(
    ("t", "message"),
    [
        (np.array([0, 3]), r"labels in \[0, 2\], got label 3"),
        (np.array([-1, 0]), r"got label -1"),
        (np.array([0.0, 1.0]), "integer dtype, got dtype float64"),
        (np.array([[1.0, 0.0, 0.0], [0.5, 0.2, 0.2]]), "sum to 1"),
        (np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]]), "non-negative"),
        (np.array([[np.nan, 0.0, 1.0], [1.0, 0.0, 0.0]]), "finite"),
        (np.array([0, 1, 2]), r"expected targets of shape \(2,\).*got shape \(3,\)"),
        (np.ones((2, 4)) / 4, r"or \(2, 3\) \(one-hot or soft rows\), got shape \(2, 4\)"),
    ],
)
def test_bad_targets(t: npt.NDArray[np.generic], message: str) -> None:
    """Every kind of bad target raises TargetError with what was expected and received."""
    with pytest.raises(TargetError, match=message):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), t)


def test_bad_logit_shapes() -> None:
    """SoftmaxWithLoss rejects 0-d, 3-d, empty-class and empty-batch logits."""
    for shape in [(), (2, 2, 2), (2, 0), (0, 3)]:
        with pytest.raises(ShapeError, match=re.escape(f"got shape {shape}")):
            SoftmaxWithLoss().forward(np.zeros(shape), np.array([0]))


def test_cross_entropy_error_rejects_values_outside_probabilities() -> None:
    """cross_entropy_error rejects negative or above-one probabilities with DomainError."""
    with pytest.raises(DomainError, match="probabilities y in"):
        bpcore.cross_entropy_error(np.array([1.5, -0.5]), 0)


def test_argument_errors_are_bpcore_errors_of_the_builtin_kind() -> None:
    """Bad sizes, hyperparameters and rngs raise ArgumentError/ArgumentTypeError, BpcoreErrors."""
    assert issubclass(bpcore.ArgumentError, ValueError)
    assert issubclass(bpcore.ArgumentTypeError, TypeError)
    with pytest.raises(bpcore.ArgumentError, match="lr"):
        SGD(lr=-1.0)
    with pytest.raises(bpcore.ArgumentError, match="hidden_size"):
        TwoLayerNet(4, 0, 3)
    with pytest.raises(bpcore.ArgumentTypeError, match="rng"):
        TwoLayerNet(4, 5, 3, rng="seed")  # type: ignore[arg-type]  # the runtime check is under test
    with pytest.raises(bpcore.ArgumentError, match="activation"):
        MultiLayerNet(4, [5], 3, activation="tanh")  # type: ignore[arg-type]  # as above

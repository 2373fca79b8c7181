"""The checker's adapters: unary, binary, loss and network layers seen as Differentiable."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import (
    ArgumentError,
    ArgumentTypeError,
    MulLayer,
    NotForwardedError,
    Sigmoid,
    SoftmaxWithLoss,
)
from bpcore.gradcheck import (
    Factory,
    HasConstants,
    LossSubject,
    NetworkSubject,
    binary,
    check_gradients,
    loss,
    network,
    unary,
)
from bpcore.networks import TwoLayerNet
from tests.helpers import assert_error

CONTRIBUTING = Path(__file__).resolve().parents[2] / "CONTRIBUTING.md"


class _ScaledProduct:
    """``out = w·x·y`` with a parameter ``w`` of shape (1,): a binary layer with parameters."""

    def __init__(self, dtype: np.dtype) -> None:
        self.w = np.array([1.5], dtype=dtype)
        self.dw: np.ndarray | None = None

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.x, self.y = x, y
        return np.asarray(self.w * x * y)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.dw = np.asarray(np.sum(dout * self.x * self.y), dtype=self.w.dtype).reshape(1)
        return np.asarray(dout * self.w * self.y), np.asarray(dout * self.w * self.x)


def test_binary_adapter_checks_parameters_and_builds_in_both_dtypes() -> None:
    """binary(..., params=...) checks the layer's parameters too, and builds the layer in
    the subject's dtype and in float64 for the reference twin."""
    built: list[np.dtype] = []

    def make(dtype: np.dtype) -> _ScaledProduct:
        built.append(np.dtype(dtype))
        return _ScaledProduct(dtype)

    rng = np.random.default_rng(11)
    inputs: dict[str, np.ndarray] = {
        "x": rng.standard_normal(3).astype(np.float32),
        "y": rng.standard_normal(3),
    }
    report = check_gradients(binary(make, params=("w",)), inputs, dtype=np.float32, rng=12)
    assert {(c.name, c.role) for c in report.checks} == {
        ("x", "input"),
        ("y", "input"),
        ("w", "parameter"),
    }
    assert report.passed
    assert built[:2] == [np.dtype(np.float32), np.dtype(np.float64)]


class _Float64Scale:
    """``y = 3x``, annotated for float64 arrays only, as a user may write it."""

    def forward(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 3 * x

    def backward(self, dout: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 3 * dout


def test_a_layer_annotated_for_one_dtype_fits_the_adapter() -> None:
    """A layer typed ``NDArray[np.float64]`` is a UnaryLayer to mypy --strict (this module
    is type-checked) and checks in float64."""
    report = check_gradients(unary(lambda _: _Float64Scale()), {"x": np.ones((2, 3))}, rng=0)
    assert report.passed, str(report)


def test_network_adapter_builds_in_both_dtypes() -> None:
    """network(make, t) builds the network in the subject's dtype and in float64."""
    built: list[np.dtype] = []

    def make(dtype: np.dtype) -> TwoLayerNet:
        built.append(np.dtype(dtype))
        return TwoLayerNet(3, 4, 2, weight_init_std=0.5, rng=13, dtype=dtype)

    x = np.random.default_rng(14).standard_normal((2, 3)).astype(np.float32)
    check_gradients(network(make, np.array([0, 1])), {"x": x}, rng=15)
    assert built[:2] == [np.dtype(np.float32), np.dtype(np.float64)]


def test_checker_reports_each_adapted_layer_by_its_class_name() -> None:
    """binary, loss and network adapters check their layer and report it by class name."""
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((2, 3)), rng.standard_normal(3)
    t = np.array([0, 2])
    cases = [
        (binary(lambda _: MulLayer()), {"x": x, "y": y}, "MulLayer"),
        (loss(lambda _: SoftmaxWithLoss(), t), {"x": x}, "SoftmaxWithLoss"),
        (
            network(lambda dtype: TwoLayerNet(3, 4, 3, weight_init_std=0.5, rng=7, dtype=dtype), t),
            {"x": x},
            "TwoLayerNet",
        ),
    ]
    for make, inputs, name in cases:
        report = check_gradients(make, inputs, rng=8)
        assert report.subject == name
        assert report.passed


class _WeightedSquaredLoss:
    """``L = ½ Σ W·(x - t)²`` with a parameter ``W``: a loss layer that has parameters."""

    def __init__(self, dtype: np.dtype) -> None:
        self.W = np.linspace(0.5, 2.0, 6).reshape(2, 3).astype(dtype)
        self.dW: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.diff = x - t
        return float(0.5 * np.sum(self.W * self.diff**2))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = np.asarray(dout * 0.5 * self.diff**2)
        return np.asarray(dout * self.W * self.diff)


def test_loss_adapter_checks_the_loss_layers_parameters() -> None:
    """loss(..., params=...) checks the named parameters of a loss layer as well as x."""
    t = np.zeros((2, 3))
    x = np.random.default_rng(9).standard_normal((2, 3))
    report = check_gradients(loss(_WeightedSquaredLoss, t, params=("W",)), {"x": x}, rng=10)
    assert {(c.name, c.role) for c in report.checks} == {("x", "input"), ("W", "parameter")}
    assert report.passed


class _ListParameter:
    """A layer whose parameter ``W`` is a list, not an array."""

    def __init__(self) -> None:
        self.W = [1.0]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.asarray(dout)


class _ForgetfulAffine:
    """An Affine-like layer whose backward never sets ``db``."""

    def __init__(self) -> None:
        self.W, self.b = np.eye(2), np.zeros(2)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ self.W + self.b)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = np.zeros((2, 2))
        return np.asarray(dout @ self.W.T)


def test_a_missing_or_non_array_attribute_is_named() -> None:
    """A gradient attribute never set, or a parameter that is not an array, is reported
    by layer, role, attribute and the type found."""
    x = {"x": np.ones((1, 2))}
    error = assert_error(
        ArgumentTypeError,
        lambda: check_gradients(unary(lambda _: _ForgetfulAffine(), params=("W", "b")), x),
        callee="_ForgetfulAffine",
        expected="gradient attribute `db` to be a numpy array",
        got="NoneType",
    )
    assert isinstance(error, TypeError)
    assert_error(
        ArgumentTypeError,
        lambda: check_gradients(unary(lambda _: _ListParameter(), params=("W",)), x),
        callee="_ListParameter",
        expected="parameter attribute `W` to be a numpy array",
        got="list",
    )


def test_loss_subjects_own_their_targets_and_declare_float_ones() -> None:
    """Soft targets are the subject's own constants; the caller's array is never touched."""
    soft = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    before = soft.tobytes()
    subject = LossSubject(SoftmaxWithLoss(), soft)
    assert isinstance(subject, HasConstants)
    assert set(subject.constants) == {"t"}
    assert not np.shares_memory(subject.constants["t"], soft)
    assert LossSubject(SoftmaxWithLoss(), np.array([0, 1])).constants == {}
    x = np.array([[0.3, -0.2], [1.0, 0.1]], dtype=np.float32)
    assert check_gradients(loss(lambda _: SoftmaxWithLoss(), soft), {"x": x}, rng=0).passed
    assert soft.tobytes() == before


class _BookAffine:
    """The book's Affine, as a user would write it: attributes ``W``, ``b``, ``dW``, ``db``."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.asarray(x @ self.W + self.b)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW = np.asarray(self.x.T @ dout)
        self.db = np.asarray(np.sum(dout, axis=0))
        return np.asarray(dout @ self.W.T)


def test_the_contributing_recipe_checks_a_book_style_layer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The "Check your own layers" example of CONTRIBUTING.md runs as written on a book-style
    layer (attributes W and b, gradients dW and db): its gradients match and its Taylor
    remainder is second order."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    block = next(b for b in blocks if "assert_gradients" in b)
    exec(compile(block, str(CONTRIBUTING), "exec"), {"MyAffine": _BookAffine})
    out = capsys.readouterr().out
    assert "_BookAffine (float64): gradients match" in out
    assert ": second order" in out


class _HalfSquaredDistance:
    """``φ = ½·Σ(x - t)²`` for fixed float targets ``t``, declared as the subject's constants;
    it records every ``t`` backward sees."""

    def __init__(self, dtype: np.dtype, t: np.ndarray, seen: list[bytes]) -> None:
        self.t = t.astype(dtype)
        self.seen = seen
        self.x: np.ndarray | None = None

    @property
    def name(self) -> str:
        return "HalfSquaredDistance"

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        return {}

    @property
    def constants(self) -> dict[str, np.ndarray]:
        return {"t": self.t}

    def forward(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        self.x = inputs["x"]
        return np.asarray(0.5 * np.sum((self.x - self.t) ** 2), dtype=self.t.dtype)

    def backward(self, dout: np.ndarray) -> dict[str, np.ndarray]:
        assert self.x is not None
        self.seen.append(self.t.tobytes())
        return {"x": np.asarray(dout * (self.x - self.t), dtype=self.t.dtype)}


def test_a_subjects_own_constants_are_moved_by_an_ulp_and_restored() -> None:
    """A subject of one's own that exposes its fixed float data as ``constants`` (HasConstants)
    has them moved by one ulp while the checker measures float32 rounding, and gets them back
    bit for bit; its gradient x - t, cancelling where x ≈ t, passes."""
    t = np.array([[0.3, -1.2, 2.5]], dtype=np.float32)
    x = t + np.array([[1e-6, -3e-7, 2e-6]], dtype=np.float32)
    subjects: list[_HalfSquaredDistance] = []
    seen: list[bytes] = []

    def make(dtype: np.dtype) -> _HalfSquaredDistance:
        subjects.append(_HalfSquaredDistance(dtype, t, seen if dtype == np.float32 else []))
        return subjects[-1]

    assert isinstance(make(np.dtype(np.float32)), HasConstants)
    report = check_gradients(make, {"x": x}, rng=0)
    assert report.passed, str(report)
    for subject in subjects:
        assert subject.t.tobytes() == t.astype(subject.t.dtype).tobytes()
    bits = t.view(np.int32).astype(np.int64)
    moves = [np.frombuffer(b, dtype=np.int32).astype(np.int64) - bits.reshape(-1) for b in seen]
    assert any(np.any(m != 0) for m in moves), "no backward saw the constants moved"
    assert all(np.all(np.abs(m) <= 1) for m in moves), "a constant moved by more than one ulp"


def test_a_subjects_own_constants_move_one_ulp_either_way_at_random() -> None:
    """While the checker measures the float32 noise, the constants move by one ulp up or
    down at random: some moves of each sign occur, for positive and negative constants."""
    t = np.array([[0.3, -1.2, 2.5]], dtype=np.float32)
    x = t + np.array([[1e-6, -3e-7, 2e-6]], dtype=np.float32)
    seen: list[bytes] = []

    def make(dtype: np.dtype) -> _HalfSquaredDistance:
        return _HalfSquaredDistance(dtype, t, seen if dtype == np.float32 else [])

    assert check_gradients(make, {"x": x}, rng=0).passed
    moves = np.array([np.frombuffer(b, dtype=np.float32) - t.reshape(-1) for b in seen])
    for j, value in enumerate(t.reshape(-1)):
        assert np.any(moves[:, j] > 0), f"the constant {value} never moved up"
        assert np.any(moves[:, j] < 0), f"the constant {value} never moved down"


def test_a_network_subject_differentiates_its_parameters_only() -> None:
    """NetworkSubject's backward is the network's gradient at the last forward's x times the
    scalar dout, with no gradient for x; before a forward it raises NotForwardedError; its
    constants are float targets ({"t": t}), none for labels."""
    net = TwoLayerNet(3, 4, 2, weight_init_std=0.5, rng=0)
    x = np.random.default_rng(1).standard_normal((5, 3))
    labels = np.array([0, 1, 1, 0, 1])
    subject = NetworkSubject(net, labels)
    assert subject.constants == {}
    assert set(NetworkSubject(net, np.eye(2)[labels] * 0.5 + 0.25).constants) == {"t"}
    assert_error(NotForwardedError, lambda: subject.backward(np.array(1.0)), callee="TwoLayerNet")
    loss = subject.forward({"x": x})
    assert float(loss) == net.loss(x, labels)
    grads = subject.backward(np.array(-2.5))
    expected = {k: -2.5 * g for k, g in net.gradient(x, labels).items()}
    assert grads.keys() == expected.keys() == net.params.keys()
    for key, grad in grads.items():
        np.testing.assert_array_equal(grad, expected[key])


_X = np.random.default_rng(16).standard_normal((2, 3))
_T = np.array([0, 2])
ADAPTERS: dict[str, Callable[[Any], Factory]] = {
    "unary": unary,
    "binary": binary,
    "loss": lambda make: loss(make, _T),
    "network": lambda make: network(make, _T),
}
"""Each adapter by the name its errors give, applied to a ``make`` of any kind (the
mistakes under test are not factories)."""


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_each_adapter_names_itself_for_a_layer_where_a_factory_belongs(adapter: str) -> None:
    """An instance refused at once, a class that takes no dtype refused when built, and a
    factory that returns a class: each error names the adapter used and what it got."""
    assert_error(
        ArgumentTypeError,
        lambda: ADAPTERS[adapter](MulLayer()),
        callee=adapter,
        expected="a function make(dtype) -> layer",
        got="a MulLayer instance",
    )
    assert_error(
        ArgumentTypeError,
        lambda: check_gradients(ADAPTERS[adapter](MulLayer), {"x": _X}),
        callee=adapter,
        expected="a function make(dtype) -> layer",
        got="the class MulLayer",
    )
    assert_error(
        ArgumentTypeError,
        lambda: check_gradients(ADAPTERS[adapter](lambda _: MulLayer), {"x": _X}),
        callee=adapter,
        expected="make(dtype) to return a",
        got="the class MulLayer",
    )


@pytest.mark.parametrize(
    ("adapter", "given", "wanted"),
    [("unary", "z", "x"), ("binary", "x", "y"), ("loss", "z", "x"), ("network", "z", "x")],
)
def test_each_adapter_names_itself_for_a_missing_input(
    adapter: str, given: str, wanted: str
) -> None:
    """Inputs without the name the adapter reads are refused naming the adapter, the
    name it wanted and the names given."""
    makers: dict[str, Callable[[np.dtype], object]] = {
        "unary": lambda _: Sigmoid(),
        "binary": lambda _: MulLayer(),
        "loss": lambda _: SoftmaxWithLoss(),
        "network": lambda d: TwoLayerNet(3, 4, 3, weight_init_std=0.5, rng=7, dtype=d),
    }
    assert_error(
        ArgumentError,
        lambda: check_gradients(ADAPTERS[adapter](makers[adapter]), {given: _X}, rng=0),
        callee=adapter,
        expected=f"the inputs to hold {wanted!r}",
        got=f"names [{given!r}]",
    )


def test_binary_and_loss_refuse_params_that_leave_a_parameter_out() -> None:
    """Naming fewer parameters than the layer has is refused by binary and by loss as by
    unary, naming the adapter and the parameter left unchecked."""
    assert_error(
        ArgumentError,
        lambda: check_gradients(
            binary(_ScaledProduct, params=()), {"x": np.ones(3), "y": np.ones(3)}, rng=0
        ),
        callee="binary",
        expected="`params` to list every parameter of _ScaledProduct",
        got="['w'] unchecked",
    )
    assert_error(
        ArgumentError,
        lambda: check_gradients(
            loss(_WeightedSquaredLoss, np.zeros((2, 3)), params=()), {"x": _X}, rng=0
        ),
        callee="loss",
        expected="`params` to list every parameter of _WeightedSquaredLoss",
        got="['W'] unchecked",
    )


def test_unary_and_loss_read_their_input_under_the_name_given() -> None:
    """unary(..., input=...) and loss(..., input=...) check the input of that name."""
    report = check_gradients(unary(lambda _: Sigmoid(), input="a"), {"a": _X}, rng=0)
    assert [c.name for c in report.checks] == ["a"]
    assert report.passed, str(report)
    scores = loss(lambda _: SoftmaxWithLoss(), _T, input="scores")
    report = check_gradients(scores, {"scores": _X}, rng=0)
    assert [c.name for c in report.checks] == ["scores"]
    assert report.passed, str(report)

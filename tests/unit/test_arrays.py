"""The dtype policy: which dtypes bpcore keeps, and how a bad dtype argument is refused."""

from __future__ import annotations

import numpy as np
import pytest

from bpcore import (
    DtypeError,
    MultiLayerNet,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    TwoLayerNet,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from bpcore._arrays import FLOAT_DTYPES, require_float_array, resolve_float_dtype
from bpcore.datasets import load_digits
from tests.helpers import assert_error

BAD_DTYPES: list[object] = ["flaot32", object(), "int32", np.float16, "complex128", "no such"]


def test_float32_and_float64_are_the_kept_dtypes() -> None:
    """The kept dtypes are exactly float32 and float64."""
    assert set(FLOAT_DTYPES) == {np.dtype(np.float32), np.dtype(np.float64)}


@pytest.mark.parametrize("dtype", [np.float32, "float32", "f4", np.dtype(np.float64), "float64"])
def test_float_dtypes_resolve_to_themselves(dtype: object) -> None:
    """Every spelling NumPy reads as float32/float64 resolves to that dtype."""
    assert resolve_float_dtype(dtype, where="f") == np.dtype(dtype)  # type: ignore[call-overload]  # the spellings above are all valid


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_a_misspelt_or_foreign_dtype_is_refused(dtype: object) -> None:
    """A dtype NumPy cannot read, or one bpcore does not keep, raises DtypeError; never float64."""
    assert_error(
        DtypeError,
        lambda: resolve_float_dtype(dtype, where="f"),
        callee="f",
        expected="float32 or float64",
        got=repr(dtype),
    )


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_networks_and_loaders_refuse_a_bad_dtype(dtype: object) -> None:
    """A misspelt dtype builds no network and loads no data: it raises DtypeError."""
    for callee, call in [
        ("TwoLayerNet", lambda: TwoLayerNet(2, 2, 2, dtype=dtype)),  # type: ignore[arg-type]  # the bad argument under test
        ("MultiLayerNet", lambda: MultiLayerNet(2, [2], 2, dtype=dtype)),  # type: ignore[arg-type]  # the bad argument under test
        ("load_digits", lambda: load_digits(dtype=dtype)),  # type: ignore[arg-type]  # the bad argument under test
    ]:
        assert_error(DtypeError, call, callee=callee, expected="float32 or float64")


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ([1.0], "list"),
        (np.ones(1, dtype=np.int64), "dtype int64"),
        (np.ones(1, np.float16), "float16"),
    ],
)
def test_a_held_array_must_already_be_float(value: object, got: str) -> None:
    """An array bpcore holds by reference is never converted: a non-float one is refused."""
    assert_error(
        DtypeError,
        lambda: require_float_array(value, where="f", name="W"),
        callee="f",
        expected="`W` to be a float32 or float64",
        got=got,
    )


def test_a_held_float_array_is_returned_itself() -> None:
    """A float32/float64 array is returned as the same object, not a copy."""
    for dtype in FLOAT_DTYPES:
        w = np.zeros(3, dtype=dtype)
        assert require_float_array(w, where="f", name="W") is w


def test_float64_is_the_default() -> None:
    """Python numbers and lists compute in float64, and the networks, the digits and the
    loss layer's gradient are float64 unless told otherwise."""
    for function in (relu, sigmoid, tanh, softmax, log_softmax):
        assert function([0.5, -1.0]).dtype == np.float64
    for elementwise in (relu, sigmoid, tanh):
        assert elementwise(2.0).dtype == np.float64
    for layer in (Relu(), Sigmoid(), Tanh()):
        assert layer.forward([[1.0, -2.0]]).dtype == np.float64
    loss = SoftmaxWithLoss()
    loss.forward([[1.0, 2.0]], [1])
    assert loss.backward().dtype == np.float64
    for net in (TwoLayerNet(2, 3, 2), MultiLayerNet(2, [3], 2)):
        assert {p.dtype for p in net.params.values()} == {np.dtype(np.float64)}
        assert net.predict([[1, 2]]).dtype == np.float64
    (x, _), _ = load_digits()
    assert x.dtype == np.float64
    assert load_digits(one_hot_label=True)[0][1].dtype == np.float64

"""Optimizer behaviour pinned exactly, as mutation testing showed it was not: whole error
messages, the SGD scratch cache, and the state that ``load_state_dict`` accepts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

import numpy as np
import pytest

from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError, DtypeError, ShapeError
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, StatefulOptimizer
from tests.helpers import raises_exactly

# -- whole messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Adam(beta1=1.0), "Adam: expected `beta1` in [0, 1), got 1.0."),
        (lambda: Adam(beta2=-0.5), "Adam: expected `beta2` in [0, 1), got -0.5."),
        (lambda: Momentum(momentum=1.0), "Momentum: expected `momentum` in [0, 1), got 1.0."),
    ],
    ids=["adam-beta1", "adam-beta2", "momentum"],
)
def test_decay_rate_errors_name_the_class_and_the_argument(
    call: Callable[[], object], message: str
) -> None:
    """A decay rate outside [0, 1) is refused with the class and argument named as written."""
    raises_exactly(ArgumentError, message, call)


@pytest.mark.parametrize("cls", [Adam, AdaGrad, Momentum])
def test_changed_parameter_names_are_reported_whole(cls: Callable[[], StatefulOptimizer]) -> None:
    """After the first update, other parameter names are refused with both differences listed."""
    opt = cls()
    opt.update({"W": np.ones(1), "b": np.ones(1)}, {"W": np.ones(1), "b": np.ones(1)})
    name = cast("type", cls).__name__
    raises_exactly(
        ArgumentError,
        f"{name}.update: expected `params` to have the same keys as `the parameters of the "
        "first update`; missing: ['b'], unexpected: ['c'].",
        lambda: opt.update({"W": np.ones(1), "c": np.ones(1)}, {"W": np.ones(1), "c": np.ones(1)}),
    )


def test_mismatched_keys_are_listed_sorted_as_text() -> None:
    """Key lists are sorted by their text, so keys of mixed types still give the message."""
    params = cast("Mapping[str, FloatArray]", {"a": np.ones(1), 1: np.ones(1), "b": np.ones(1)})
    raises_exactly(
        ArgumentError,
        "SGD.update: expected `grads` to have the same keys as `params`; "
        "missing: [1, 'a', 'b'], unexpected: ['z'].",
        lambda: SGD().update(params, {"z": np.ones(1)}),
    )


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        (
            {"m/W": [1.0], "v/W": np.zeros(1), "iter": np.array(1.0)},
            DtypeError,
            "Adam.load_state_dict: expected `state['m/W']` to be a float32 or float64 numpy "
            "array, got list.",
        ),
        (
            {"m/W": np.zeros(1), "v/X": np.zeros(1), "iter": np.array(1.0)},
            ArgumentError,
            "Adam.load_state_dict: expected `slot 'v'` to have the same keys as `slot 'm'`; "
            "missing: ['W'], unexpected: ['X'].",
        ),
        (
            {"m/W": np.zeros(1), "v/W": np.zeros(1, np.float32), "iter": np.array(1.0)},
            ShapeError,
            "Adam.load_state_dict: expected v/W of shape (1,) and dtype float64 (as m/W), "
            "got (1,) float32.",
        ),
        (
            {"m/W": np.zeros(1), "v/W": np.zeros(1), "iter": np.array(-1.0)},
            ArgumentError,
            "Adam.load_state_dict: expected 'iter', a 0-d array holding a whole number >= 0, "
            "got array(-1.).",
        ),
        (
            {"m/W": np.zeros(1), "v/W": np.zeros(1), "iter": None},
            ArgumentError,
            "Adam.load_state_dict: expected 'iter', a 0-d array holding a whole number >= 0, "
            "got None.",
        ),
    ],
    ids=["not-an-array", "other-keys", "other-dtype", "negative-iter", "iter-none"],
)
def test_adam_load_state_dict_errors_are_whole(
    state: dict[str, object], error: type[Exception], message: str
) -> None:
    """Each way a saved Adam state can be wrong has its own complete message."""
    adam = Adam()
    # A checkpoint read from disk can hold anything; the type says what it should hold.
    raises_exactly(
        error, message, lambda: adam.load_state_dict(cast("Mapping[str, FloatArray]", state))
    )
    assert adam.state_dict() == {"iter": np.array(0.0)}  # nothing changed


def test_adagrad_load_state_dict_names_its_method() -> None:
    """Loading refuses a non-float slot naming AdaGrad.load_state_dict and the key."""
    raises_exactly(
        DtypeError,
        "AdaGrad.load_state_dict: expected `state['h/W']` to be a float32 or float64 numpy array, "
        "got dtype int64.",
        lambda: AdaGrad().load_state_dict({"h/W": cast("FloatArray", np.zeros(1, dtype=np.int64))}),
    )


# -- the state load_state_dict accepts -------------------------------------------------


def test_adam_loads_a_step_count_of_zero() -> None:
    """iter = 0 (no step taken yet) is a valid count; the next update is then step 1."""
    adam, fresh = Adam(lr=0.1), Adam(lr=0.1)
    adam.load_state_dict({"m/W": np.zeros(2), "v/W": np.zeros(2), "iter": np.array(0.0)})
    p, q = np.ones(2), np.ones(2)
    adam.update({"W": p}, {"W": np.array([0.5, -2.0])})
    fresh.update({"W": q}, {"W": np.array([0.5, -2.0])})
    assert p.tobytes() == q.tobytes()
    assert adam.iter == 1


def test_parameter_names_with_a_slash_round_trip() -> None:
    """A parameter named 'layer/W' saves as 'm/layer/W' and loads back: the slot is the
    text before the first slash."""
    adam = Adam(lr=0.1)
    params = {"layer/W": np.ones(2)}
    adam.update(params, {"layer/W": np.array([1.0, -1.0])})
    again = Adam(lr=0.1)
    again.load_state_dict(adam.state_dict())
    assert set(again.m) == {"layer/W"}
    np.testing.assert_array_equal(again.m["layer/W"], adam.m["layer/W"])


@pytest.mark.parametrize("cls", [Adam, AdaGrad, Momentum])
def test_loaded_state_is_a_copy(cls: Callable[[], StatefulOptimizer]) -> None:
    """Editing the arrays that were loaded afterwards leaves the optimizer's state alone."""
    source = cls()
    source.update({"W": np.ones(2)}, {"W": np.array([1.0, -1.0])})
    state = source.state_dict()
    loaded = cls()
    loaded.load_state_dict(state)
    before = loaded.state_dict()
    for value in state.values():
        value[...] = 123.0
    after = loaded.state_dict()
    assert {k: v.tobytes() for k, v in after.items()} == {k: v.tobytes() for k, v in before.items()}


# -- the SGD scratch cache -----------------------------------------------------------------


def test_sgd_scratch_keeps_only_the_current_parameters() -> None:
    """Alternating between networks with other parameter names keeps one buffer per current
    name: the cache cannot grow without bound (its size is the documented promise)."""
    sgd = SGD(lr=0.1)
    for key in ("a", "b", "c", "a"):
        sgd.update({key: np.ones(3)}, {key: np.ones(3)})
        assert set(sgd._scratch) == {key}  # private, but its bound is the point


def test_sgd_scratch_follows_a_change_of_dtype() -> None:
    """A parameter that comes back in another dtype, same name and shape, is updated
    exactly as a fresh SGD would: lr·g is rounded in the parameter's own dtype (a float32
    buffer kept from before would round a float64 step to float32)."""
    rng = np.random.default_rng(0)
    g64 = rng.standard_normal(256)
    sgd = SGD(lr=0.1)
    sgd.update({"W": np.ones(256, dtype=np.float32)}, {"W": g64.astype(np.float32)})
    used = rng.standard_normal(256)
    fresh = used.copy()
    sgd.update({"W": used}, {"W": g64})
    SGD(lr=0.1).update({"W": fresh}, {"W": g64})
    assert used.tobytes() == fresh.tobytes()

"""The optimizers of bpcore.optim: hand-computed steps, in-place updates, dtypes, every
error, and the state that state_dict saves and load_state_dict accepts."""

from __future__ import annotations

import math
import tracemalloc
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import numpy as np
import pytest

from bpcore._arrays import FloatArray
from bpcore.errors import (
    ArgumentError,
    ArgumentTypeError,
    BpcoreError,
    DtypeError,
    ShapeError,
    UnusableGradient,
)
from bpcore.layers import Affine
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, Optimizer, StatefulOptimizer
from tests.helpers import assert_error

Factory = Callable[[], Optimizer]

FACTORIES: list[tuple[str, Factory]] = [
    ("SGD", lambda: SGD(lr=0.1)),
    ("Momentum", lambda: Momentum(lr=0.1, momentum=0.9)),
    ("AdaGrad", lambda: AdaGrad(lr=0.1)),
    ("Adam", lambda: Adam(lr=0.1)),
]
ALL = pytest.mark.parametrize(("name", "make"), FACTORIES, ids=[name for name, _ in FACTORIES])
STATEFUL = pytest.mark.parametrize(
    ("name", "make"), FACTORIES[1:], ids=[name for name, _ in FACTORIES[1:]]
)


U64 = float(np.finfo(np.float64).eps) / 2


def f64(*values: float) -> FloatArray:
    return np.array(values, dtype=np.float64)


def assert_key_error(
    call: Callable[[], object], *, callee: str, expected: str, missing: str, unexpected: str
) -> None:
    """``call()`` raises ArgumentError from ``callee`` for key sets that differ, listing
    the keys missing and the keys not expected."""
    error = assert_error(ArgumentError, call, callee=callee, expected=expected)
    assert f"missing: {missing}, unexpected: {unexpected}" in str(error)


def close(
    actual: FloatArray, expected: FloatArray | Sequence[float] | Sequence[Sequence[float]]
) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


# --- hand-computed steps -----------------------------------------------------------


def test_sgd_three_steps_match_hand_computation() -> None:
    """SGD(lr=0.1) moves p by -0.1*g at each of three steps."""
    p = f64(1.0, -2.0)
    opt = SGD(lr=0.1)
    opt.update({"p": p}, {"p": f64(0.5, 0.25)})
    close(p, [0.95, -2.025])
    opt.update({"p": p}, {"p": f64(1.0, -1.0)})
    close(p, [0.85, -1.925])
    opt.update({"p": p}, {"p": f64(-2.0, 0.0)})
    close(p, [1.05, -1.925])


def test_momentum_three_steps_match_hand_computation() -> None:
    """Momentum(0.1, 0.9) follows v = 0.9 v - 0.1 g, p += v from v = 0."""
    p = f64(1.0, 0.0)
    opt = Momentum(lr=0.1, momentum=0.9)
    opt.update({"p": p}, {"p": f64(1.0, -2.0)})
    close(opt.v["p"], [-0.1, 0.2])
    close(p, [0.9, 0.2])
    opt.update({"p": p}, {"p": f64(2.0, 0.0)})
    close(opt.v["p"], [-0.29, 0.18])
    close(p, [0.61, 0.38])
    opt.update({"p": p}, {"p": f64(-1.0, 1.0)})
    close(opt.v["p"], [-0.161, 0.062])
    close(p, [0.449, 0.442])


def test_adagrad_three_steps_match_hand_computation() -> None:
    """AdaGrad(0.1) accumulates h = sum g^2 and steps 0.1 g / (sqrt(h) + 1e-7)."""
    p = f64(1.0, 2.0)
    opt = AdaGrad(lr=0.1)
    # h = [9, 16]: each coordinate moves by almost exactly lr = 0.1.
    opt.update({"p": p}, {"p": f64(3.0, 4.0)})
    p1 = [1.0 - 0.3 / (3.0 + 1e-7), 2.0 - 0.4 / (4.0 + 1e-7)]
    close(opt.h["p"], [9.0, 16.0])
    close(p, p1)
    # h = [25, 16]; a zero gradient leaves its coordinate exactly where it was.
    opt.update({"p": p}, {"p": f64(4.0, 0.0)})
    p2 = [p1[0] - 0.4 / (5.0 + 1e-7), p1[1]]
    close(opt.h["p"], [25.0, 16.0])
    close(p, p2)
    # h = [25, 25].
    opt.update({"p": p}, {"p": f64(0.0, -3.0)})
    p3 = [p2[0], p2[1] + 0.3 / (5.0 + 1e-7)]
    close(opt.h["p"], [25.0, 25.0])
    close(p, p3)


def test_adam_two_steps_match_hand_computation() -> None:
    """Adam(0.1, 0.9, 0.999) matches the book's bias-corrected-lr form for two steps."""
    p = f64(1.0, -1.0)
    opt = Adam(lr=0.1, beta1=0.9, beta2=0.999)
    opt.update({"p": p}, {"p": f64(0.5, -2.0)})
    # m = 0.1 g, v = 0.001 g^2, lr_1 = 0.1 * sqrt(0.001) / 0.1 = sqrt(0.001).
    lr_1 = math.sqrt(0.001)
    p1 = [
        1.0 - lr_1 * 0.05 / (math.sqrt(0.00025) + 1e-7),
        -1.0 - lr_1 * -0.2 / (math.sqrt(0.004) + 1e-7),
    ]
    assert opt.iter == 1
    close(opt.m["p"], [0.05, -0.2])
    close(opt.v["p"], [0.00025, 0.004])
    close(p, p1)
    # First Adam step is ~lr * sign(g): check the closed form above agrees with that.
    np.testing.assert_allclose(p1, [0.9, -0.9], atol=1e-5)

    opt.update({"p": p}, {"p": f64(-1.0, -2.0)})
    # m = m + 0.1 (g - m) = [0.05 - 0.105, -0.2 - 0.18]
    # v = v + 0.001 (g^2 - v) = [0.00025 + 0.00099975, 0.004 + 0.003996]
    m2 = [-0.055, -0.38]
    v2 = [0.00124975, 0.007996]
    lr_2 = 0.1 * math.sqrt(1.0 - 0.999**2) / (1.0 - 0.9**2)
    p2 = [p1[i] - lr_2 * m2[i] / (math.sqrt(v2[i]) + 1e-7) for i in range(2)]
    assert opt.iter == 2
    close(opt.m["p"], m2)
    close(opt.v["p"], v2)
    close(p, p2)


def test_momentum_zero_is_sgd() -> None:
    """Momentum with momentum=0 takes exactly the SGD step every time."""
    p_m, p_s = f64(1.0, -3.0), f64(1.0, -3.0)
    mom, sgd = Momentum(lr=0.25, momentum=0.0), SGD(lr=0.25)
    for g in (f64(1.0, 2.0), f64(-4.0, 0.5), f64(0.0, 8.0)):
        mom.update({"p": p_m}, {"p": g})
        sgd.update({"p": p_s}, {"p": g})
        np.testing.assert_array_equal(p_m, p_s)


def test_defaults_are_the_books() -> None:
    """Default hyperparameters are the book's: lr 0.01, momentum 0.9, Adam 0.001/0.9/0.999."""
    assert SGD().lr == 0.01
    assert (Momentum().lr, Momentum().momentum) == (0.01, 0.9)
    assert AdaGrad().lr == 0.01
    adam = Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.iter) == (0.001, 0.9, 0.999, 0)


# --- in-place semantics --------------------------------------------------------------


@ALL
def test_update_is_in_place_and_reaches_a_layer(name: str, make: Factory) -> None:
    """The params dict keeps its array objects, and an Affine layer sharing them sees the step."""
    W = np.ones((2, 3))
    b = np.zeros(3)
    layer = Affine(W, b)
    params = layer.params
    before = {k: v.copy() for k, v in params.items()}
    make().update(params, {"W": np.full((2, 3), 0.5), "b": np.full(3, -1.0)})
    assert params["W"] is W
    assert params["b"] is b
    assert layer.W is W
    assert layer.b is b
    assert np.all(before["W"] > layer.W), name
    assert np.all(layer.b > before["b"]), name


@ALL
def test_strided_view_parameter_updates_its_base(name: str, make: Factory) -> None:
    """A non-contiguous view as a parameter is updated in place, so its base array changes."""
    base = np.zeros((3, 4))
    view = base[:, ::2]
    make().update({"p": view}, {"p": np.ones((3, 2))})
    assert np.all(base[:, ::2] < 0.0), name
    np.testing.assert_array_equal(base[:, 1::2], 0.0)


@ALL
def test_grads_are_never_written(name: str, make: Factory) -> None:
    """Read-only gradients are accepted and keep their values over three steps."""
    grads = {"W": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": f64(0.25, -0.75)}
    saved = {k: v.copy() for k, v in grads.items()}
    for g in grads.values():
        # Any write by the optimizer would raise here.
        g.flags.writeable = False
    opt = make()
    params = {"W": np.zeros((2, 2)), "b": np.zeros(2)}
    for _ in range(3):
        opt.update(params, grads)
    for key, g in grads.items():
        np.testing.assert_array_equal(g, saved[key], err_msg=name)


@ALL
def test_gradient_aliasing_its_parameter_equals_a_copied_gradient(name: str, make: Factory) -> None:
    """Passing params[k] itself as grads[k] gives the same result as passing a copy of it."""
    aliased = f64(1.0, -2.0, 3.0)
    copied = aliased.copy()
    opt_a, opt_c = make(), make()
    for _ in range(3):
        opt_a.update({"p": aliased}, {"p": aliased})
        opt_c.update({"p": copied}, {"p": copied.copy()})
    np.testing.assert_array_equal(aliased, copied, err_msg=name)


@ALL
def test_float32_stays_float32(name: str, make: Factory) -> None:
    """float32 params and state stay float32 and track the float64 result to float32 precision."""
    p32 = np.array([[1.0, -2.0], [0.5, 4.0]], dtype=np.float32)
    p64 = p32.astype(np.float64)
    opt32, opt64 = make(), make()
    for g in ([[1.0, 2.0], [-3.0, 0.5]], [[0.5, -1.0], [2.0, 2.0]], [[-1.0, 0.0], [1.0, -4.0]]):
        opt32.update({"p": p32}, {"p": np.array(g, dtype=np.float32)})
        opt64.update({"p": p64}, {"p": np.array(g, dtype=np.float64)})
        assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-6, err_msg=name)
    states: list[FloatArray] = []
    if isinstance(opt32, Momentum):
        states = list(opt32.v.values())
    elif isinstance(opt32, AdaGrad):
        states = list(opt32.h.values())
    elif isinstance(opt32, Adam):
        states = [*opt32.m.values(), *opt32.v.values()]
    assert all(s.dtype == np.float32 for s in states)


@ALL
def test_float64_grads_on_float32_params_keep_float32(name: str, make: Factory) -> None:
    """float64 gradients update float32 parameters without promoting them."""
    p = np.ones(3, dtype=np.float32)
    make().update({"p": p}, {"p": np.full(3, 0.5)})
    assert p.dtype == np.float32
    assert np.all(p < 1.0), name


@ALL
def test_zero_dimensional_parameter(name: str, make: Factory) -> None:
    """A 0-d parameter array is updated in place like any other."""
    p = np.array(2.0)
    make().update({"p": p}, {"p": np.array(1.0)})
    assert p.shape == ()
    assert float(p) < 2.0, name


@ALL
def test_steady_state_steps_allocate_no_arrays(name: str, make: Factory) -> None:
    """After the first step, updates reuse their buffers: peak new memory is far below one array."""
    params = {"W": np.ones((400, 500)), "b": np.zeros(500)}
    grads = {"W": np.full((400, 500), 0.5), "b": np.full(500, 0.25)}
    opt = make()
    opt.update(params, grads)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(3):
            opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One temporary the size of W would be 1.6 MB.
    assert peak - start < 64_000, name


@ALL
def test_implements_the_optimizer_protocol(name: str, make: Factory) -> None:
    """Every optimizer is an instance of the runtime-checkable Optimizer protocol."""
    assert isinstance(make(), Optimizer), name


def test_sgd_accepts_a_different_network_on_each_call() -> None:
    """SGD keeps no state, so consecutive updates may use different keys and shapes."""
    opt = SGD(lr=0.5)
    a = f64(1.0)
    b = np.ones((2, 2))
    opt.update({"a": a}, {"a": f64(1.0)})
    opt.update({"b": b}, {"b": np.ones((2, 2))})
    opt.update({"a": b}, {"a": np.ones((2, 2))})
    close(a, [0.5])
    close(b, np.zeros((2, 2)))


def test_sgd_holds_no_memory_for_networks_it_no_longer_updates() -> None:
    """SGD keeps no state: updating a new network on every call leaves behind at most
    the buffers of the last one, however many networks came before."""
    opt = SGD(lr=0.5)
    grad = np.ones(1_000)
    tracemalloc.start()
    try:
        for i in range(200):
            opt.update({f"p{i}": np.ones(1_000)}, {f"p{i}": grad})
            if i == 9:
                after_ten, _ = tracemalloc.get_traced_memory()
        after_all, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Keeping the buffer of each network passed would add 190 x 8 kB = 1.5 MB.
    assert after_all - after_ten < 64_000


@ALL
def test_an_empty_parameter_is_updated_as_a_no_op(name: str, make: Factory) -> None:
    """A parameter with no elements (shape (0,)) takes part in the update and stays empty;
    the other parameters are updated as usual."""
    empty, w = np.zeros(0), f64(1.0)
    opt = make()
    for _ in range(2):
        opt.update({"e": empty, "w": w}, {"e": np.zeros(0), "w": f64(1.0)})
    assert empty.shape == (0,)
    assert w[0] < 1.0, name


def test_sgd_after_a_change_of_dtype_steps_as_a_fresh_sgd() -> None:
    """A parameter that comes back in another dtype, same name and shape, is updated
    exactly as a fresh SGD would: lr·g is rounded in the parameter's own dtype, not in
    the dtype of the earlier update."""
    rng = np.random.default_rng(0)
    g64 = rng.standard_normal(256)
    sgd = SGD(lr=0.1)
    sgd.update({"W": np.ones(256, dtype=np.float32)}, {"W": g64.astype(np.float32)})
    used = rng.standard_normal(256)
    fresh = used.copy()
    sgd.update({"W": used}, {"W": g64})
    SGD(lr=0.1).update({"W": fresh}, {"W": g64})
    assert used.tobytes() == fresh.tobytes()


def test_lr_can_be_changed_between_steps() -> None:
    """Assigning a new lr changes the next step size."""
    p = f64(1.0)
    opt = SGD(lr=0.5)
    opt.update({"p": p}, {"p": f64(1.0)})
    opt.lr = 0.25
    opt.update({"p": p}, {"p": f64(1.0)})
    close(p, [0.25])


@STATEFUL
def test_state_views_are_read_only(name: str, make: Factory) -> None:
    """The exposed state arrays are read-only views, so callers cannot corrupt the optimizer."""
    opt = make()
    opt.update({"p": f64(1.0)}, {"p": f64(1.0)})
    states: list[FloatArray] = []
    if isinstance(opt, Momentum):
        states = list(opt.v.values())
    elif isinstance(opt, AdaGrad):
        states = list(opt.h.values())
    elif isinstance(opt, Adam):
        states = [*opt.m.values(), *opt.v.values()]
    assert states, name
    for s in states:
        with pytest.raises(ValueError, match="read-only"):
            s[...] = 0.0


# --- hyperparameter errors ----------------------------------------------------------


@pytest.mark.parametrize("lr", [0.0, -0.1, math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("cls", [SGD, Momentum, AdaGrad, Adam])
def test_invalid_lr_is_rejected(cls: Callable[..., Optimizer], lr: float) -> None:
    """An lr that is not finite and positive raises ArgumentError naming the optimizer, lr
    and the value."""
    assert_error(
        ArgumentError,
        lambda: cls(lr=lr),
        callee=cast("type", cls).__name__,
        expected="`lr` to be finite and > 0",
        got=repr(lr),
    )


@pytest.mark.parametrize(
    ("make", "callee", "name"),
    [
        (lambda v: Momentum(momentum=v), "Momentum", "momentum"),
        (lambda v: Adam(beta1=v), "Adam", "beta1"),
        (lambda v: Adam(beta2=v), "Adam", "beta2"),
    ],
    ids=["momentum", "beta1", "beta2"],
)
@pytest.mark.parametrize("value", [-0.1, -0.5, 1.0, 1.5, math.nan, math.inf])
def test_decay_rates_outside_unit_interval_are_rejected(
    make: Callable[[float], Optimizer], callee: str, name: str, value: float
) -> None:
    """momentum, beta1 and beta2 outside [0, 1) raise ArgumentError naming the class, the
    argument and the value."""
    assert_error(
        ArgumentError,
        lambda: make(value),
        callee=callee,
        expected=f"`{name}` in [0, 1)",
        got=repr(value),
    )


def test_decay_rate_zero_is_accepted() -> None:
    """0 is inside [0, 1) for momentum, beta1 and beta2."""
    assert Momentum(momentum=0.0).momentum == 0.0
    adam = Adam(beta1=0.0, beta2=0.0)
    assert (adam.beta1, adam.beta2) == (0.0, 0.0)


@pytest.mark.parametrize("value", ["0.1", True, None, [0.1]])
def test_non_numeric_hyperparameter_is_a_type_error(value: object) -> None:
    """A string, bool, None or list hyperparameter raises ArgumentTypeError naming its type."""
    assert_error(
        ArgumentTypeError,
        lambda: SGD(lr=value),  # type: ignore[arg-type]  # deliberately wrong type to test the runtime check
        callee="SGD",
        expected="`lr` to be a real number",
        got=type(value).__name__,
    )


@pytest.mark.parametrize(
    ("make", "callee", "name"),
    [
        (lambda: Momentum(momentum="0.9"), "Momentum", "momentum"),  # type: ignore[arg-type]  # deliberately wrong type to test the runtime check
        (lambda: Adam(beta1=None), "Adam", "beta1"),  # type: ignore[arg-type]  # deliberately wrong type to test the runtime check
        (lambda: Adam(beta2=[0.999]), "Adam", "beta2"),  # type: ignore[arg-type]  # deliberately wrong type to test the runtime check
    ],
    ids=["momentum", "beta1", "beta2"],
)
def test_a_non_numeric_decay_rate_is_a_type_error_naming_it(
    make: Callable[[], Optimizer], callee: str, name: str
) -> None:
    """A decay rate that is not a real number is refused by the class, naming the rate."""
    assert_error(ArgumentTypeError, make, callee=callee, expected=f"`{name}` to be a real number")


def test_numpy_scalar_hyperparameters_are_accepted() -> None:
    """NumPy scalars count as real numbers and are stored as Python floats."""
    # np.float32 is no `float` subclass for mypy, but it is a numbers.Real at run time.
    opt = Adam(lr=np.float32(0.5), beta1=np.float64(0.5))  # type: ignore[arg-type]
    assert type(opt.lr) is float
    assert opt.lr == 0.5


@pytest.mark.parametrize("cls", [SGD, Momentum, AdaGrad, Adam])
def test_invalid_lr_assignment_is_rejected_and_keeps_old_lr(cls: Callable[[], Optimizer]) -> None:
    """Assigning an invalid lr raises ArgumentError and leaves the previous lr in place."""
    opt = cls()
    assert isinstance(opt, SGD | Momentum | AdaGrad | Adam)
    old = opt.lr

    def assign() -> None:
        opt.lr = -1.0

    assert_error(ArgumentError, assign, callee=type(opt).__name__, expected="`lr`", got="-1.0")
    assert opt.lr == old


# --- update errors -------------------------------------------------------------------


@ALL
def test_missing_gradient_key_is_named(name: str, make: Factory) -> None:
    """A params key without a gradient raises ArgumentError listing it as missing."""
    assert_key_error(
        lambda: make().update({"W": f64(1.0), "b": f64(1.0)}, {"W": f64(1.0)}),
        callee=f"{name}.update",
        expected="`grads` to have the same keys as `params`",
        missing="['b']",
        unexpected="[]",
    )


@ALL
def test_extra_gradient_key_is_named(name: str, make: Factory) -> None:
    """A gradient without a parameter raises ArgumentError listing it as unexpected."""
    assert_key_error(
        lambda: make().update({"W": f64(1.0)}, {"W": f64(1.0), "x": f64(1.0)}),
        callee=f"{name}.update",
        expected="`grads` to have the same keys as `params`",
        missing="[]",
        unexpected="['x']",
    )


def test_mismatched_keys_are_listed_sorted_as_text() -> None:
    """Key lists are sorted by their text, so keys of mixed types are still listed."""
    params = cast("Mapping[str, FloatArray]", {"a": np.ones(1), 1: np.ones(1), "b": np.ones(1)})
    assert_key_error(
        lambda: SGD().update(params, {"z": np.ones(1)}),
        callee="SGD.update",
        expected="`grads` to have the same keys as `params`",
        missing="[1, 'a', 'b']",
        unexpected="['z']",
    )


@ALL
def test_gradient_shape_mismatch_is_a_shape_error(name: str, make: Factory) -> None:
    """A gradient whose shape differs from its parameter's raises ShapeError with both shapes."""
    assert_error(
        ShapeError,
        lambda: make().update({"W": np.zeros((2, 3))}, {"W": np.zeros((3, 2))}),
        callee=f"{name}.update",
        expected="grads['W'] of shape (2, 3)",
        got="shape (3, 2)",
    )


@ALL
@pytest.mark.parametrize(
    ("param", "got"),
    [
        ([1.0, 2.0], "list"),
        (np.array([1, 2]), "dtype int64"),
        (np.array([1.0, 2.0], dtype=np.float16), "dtype float16"),
    ],
)
def test_non_float_parameter_is_a_dtype_error(
    name: str, make: Factory, param: object, got: str
) -> None:
    """A parameter that is not a float32/float64 ndarray raises DtypeError naming it."""
    assert_error(
        DtypeError,
        lambda: make().update({"p": param}, {"p": f64(1.0, 1.0)}),  # type: ignore[dict-item]  # deliberately wrong type to test the runtime check
        callee=f"{name}.update",
        expected="`params['p']` to be a float32 or float64 numpy array",
        got=got,
    )


@ALL
def test_read_only_parameter_is_a_dtype_error(name: str, make: Factory) -> None:
    """A read-only parameter raises DtypeError instead of being silently copied."""
    p = f64(1.0, 2.0)
    p.flags.writeable = False
    assert_error(
        DtypeError,
        lambda: make().update({"p": p}, {"p": f64(1.0, 1.0)}),
        callee=f"{name}.update",
        expected="params['p'] to be a writable array",
        got="read-only",
    )


@ALL
@pytest.mark.parametrize(
    ("grad", "got"),
    [
        ([1.0, 2.0], "list"),
        (np.array([1, 2]), "dtype int64"),
        (np.array([1j, 2j]), "dtype complex128"),
    ],
)
def test_non_float_gradient_is_a_dtype_error(
    name: str, make: Factory, grad: object, got: str
) -> None:
    """A gradient that is not a float32/float64 ndarray raises DtypeError naming it."""
    assert_error(
        DtypeError,
        lambda: make().update({"p": f64(1.0, 2.0)}, {"p": grad}),  # type: ignore[dict-item]  # deliberately wrong type to test the runtime check
        callee=f"{name}.update",
        expected="`grads['p']` to be a float32 or float64 numpy array",
        got=got,
    )


@ALL
def test_rejected_update_changes_nothing(name: str, make: Factory) -> None:
    """When a later key is invalid, earlier parameters are not updated either."""
    a = f64(1.0, 2.0)
    opt = make()
    with pytest.raises(ShapeError):
        opt.update({"a": a, "b": f64(1.0)}, {"a": f64(1.0, 1.0), "b": f64(1.0, 1.0)})
    np.testing.assert_array_equal(a, [1.0, 2.0])
    # The optimizer is still fresh: its first real step matches a new instance's.
    fresh, used = f64(1.0, 2.0), f64(1.0, 2.0)
    make().update({"a": fresh}, {"a": f64(1.0, -1.0)})
    opt.update({"a": used}, {"a": f64(1.0, -1.0)})
    np.testing.assert_array_equal(used, fresh, err_msg=name)


@ALL
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_gradient_is_refused_and_changes_nothing(
    name: str, make: Factory, bad: float
) -> None:
    """A NaN or infinite gradient, even in a later key after a good step, raises
    UnusableGradient naming the key and saying that nothing was updated; parameters and
    state stay as they were."""
    a, b = f64(1.0, 2.0), f64(3.0)
    opt = make()
    opt.update({"a": a, "b": b}, {"a": f64(0.5, 0.5), "b": f64(0.5)})
    before_params = (a.copy(), b.copy())
    before_state = opt.state_dict() if isinstance(opt, StatefulOptimizer) else {}
    error = assert_error(
        UnusableGradient,
        lambda: opt.update({"a": a, "b": b}, {"a": f64(1.0, 1.0), "b": f64(bad)}),
        callee=f"{type(opt).__name__}.update",
        expected="finite gradients",
        got="grads['b']",
    )
    assert str(error).endswith(" (nothing was updated).")
    np.testing.assert_array_equal(a, before_params[0], err_msg=name)
    np.testing.assert_array_equal(b, before_params[1], err_msg=name)
    after_state = opt.state_dict() if isinstance(opt, StatefulOptimizer) else {}
    assert after_state.keys() == before_state.keys()
    for key, value in before_state.items():
        np.testing.assert_array_equal(after_state[key], value, err_msg=f"{name} {key}")


def _assert_unchanged(
    opt: Optimizer, params: Mapping[str, FloatArray], before: Mapping[str, FloatArray]
) -> None:
    """``params`` equal ``before``, and the optimizer's state is what it was."""
    for key, value in before.items():
        if key.startswith("param/"):
            np.testing.assert_array_equal(params[key[6:]], value)
        elif isinstance(opt, StatefulOptimizer):
            np.testing.assert_array_equal(opt.state_dict()[key], value)


def _snapshot(opt: Optimizer, params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    state = opt.state_dict() if isinstance(opt, StatefulOptimizer) else {}
    return {**{f"param/{k}": p.copy() for k, p in params.items()}, **state}


@pytest.mark.parametrize("name", ["Adam", "AdaGrad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_gradient_whose_square_overflows_is_refused_by_adam_and_adagrad(
    name: str, dtype: type[np.floating]
) -> None:
    """Adam's v and AdaGrad's h hold squares: a finite gradient beyond
    ``sqrt(max)`` of its dtype (1.8e19 in float32) is refused, naming the key, with the
    parameters and the state unchanged; just below the limit it is applied."""
    opt: Optimizer = Adam() if name == "Adam" else AdaGrad()
    limit = math.sqrt(float(np.finfo(dtype).max))
    params = {"a": np.ones(2, dtype=dtype), "b": np.ones(2, dtype=dtype)}
    opt.update(params, {k: np.full(2, 0.5, dtype=dtype) for k in params})
    before = _snapshot(opt, params)
    huge = {"a": np.ones(2, dtype=dtype), "b": np.array([1.0, 2 * limit], dtype=dtype)}
    error = assert_error(
        UnusableGradient,
        lambda: opt.update(params, huge),
        callee=f"{name}.update",
        expected="squares",
        got="grads['b']",
    )
    assert str(error).endswith(" (nothing was updated).")
    _assert_unchanged(opt, params, before)
    below = np.array([1.0, np.nextafter(dtype(limit), dtype(0))], dtype=dtype) / 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.update(params, {"a": below, "b": below})
    assert all(np.isfinite(v).all() for v in _snapshot(opt, params).values())


def test_adagrad_refuses_squares_its_running_sum_cannot_hold() -> None:
    """AdaGrad's h only grows: a gradient whose squares would push it past the float
    limit is refused, and nothing changes."""
    opt = AdaGrad()
    params = {"a": f64(1.0, 1.0)}
    opt.load_state_dict({"h/a": f64(1e308, 0.0)})
    before = _snapshot(opt, params)
    assert_error(
        UnusableGradient,
        lambda: opt.update(params, {"a": f64(1e154, 0.0)}),
        callee="AdaGrad.update",
        expected="the running sum h can still hold",
        got="grads['a']",
    )
    _assert_unchanged(opt, params, before)


def test_adagrad_takes_squares_that_fill_its_running_sum_exactly_to_the_float_limit() -> None:
    """The refusal is for squares that would overflow h: squares that bring h exactly to
    the largest float64 are applied."""
    fmax = float(np.finfo(np.float64).max)
    opt = AdaGrad()
    opt.load_state_dict({"h/a": f64(fmax - 2.0**1022)})  # exact: fmax = 2**1023 (2 - 2**-52)
    p = f64(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.update({"a": p}, {"a": f64(2.0**511)})  # its square, 2**1022, is exact
    assert opt.h["a"][0] == fmax
    assert np.isfinite(p).all()


@pytest.mark.parametrize("kind", [SGD, Momentum, AdaGrad, Adam])
def test_an_update_that_overflows_follows_ieee_without_a_warning(
    kind: type[SGD | Momentum | AdaGrad | Adam],
) -> None:
    """A learning rate so large that the step overflows gives ±inf parameters, as IEEE
    754 does, with no RuntimeWarning (which, as an error, would stop a step half done)."""
    opt = kind(lr=1e308)
    p = f64(1.0, -1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.update({"p": p}, {"p": f64(1e100, -1e100)})
    assert np.isinf(p).all()
    assert p[0] < 0 < p[1]


def test_finite_gradients_whose_sum_overflows_are_accepted() -> None:
    """Two gradients of 1e308 sum to inf, yet each is finite: the update goes ahead."""
    p = f64(0.0, 0.0)
    SGD(lr=1e-308).update({"p": p}, {"p": f64(1e308, 1e308)})
    np.testing.assert_allclose(p, [-1.0, -1.0])


def test_adam_accepts_gradients_whose_squares_each_fit_though_their_sum_overflows() -> None:
    """The limit on Adam's gradients is per element: |g| <= sqrt(max) of the dtype, the
    largest magnitude whose square is finite. Two such elements whose squares sum past
    the float limit are applied, and the state stays finite."""
    limit = math.sqrt(float(np.finfo(np.float64).max))
    assert np.isfinite(np.float64(limit) ** 2)  # the limit itself is allowed
    adam, p = Adam(), f64(1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adam.update({"p": p}, {"p": f64(limit, -limit)})
    assert np.isfinite(p).all()
    assert all(np.isfinite(v).all() for v in adam.state_dict().values())


@ALL
def test_grads_that_are_not_a_mapping_are_refused_by_name(name: str, make: Factory) -> None:
    """update refuses a ``grads`` that is not a mapping, naming the method and ``grads``;
    nothing is updated."""
    p = f64(1.0)
    assert_error(
        ArgumentTypeError,
        lambda: make().update({"p": p}, [f64(1.0)]),  # type: ignore[arg-type]  # deliberately wrong type to test the runtime check
        callee=f"{name}.update",
        expected="`grads` to be a mapping",
        got="list",
    )
    close(p, [1.0])


@STATEFUL
def test_state_is_bound_to_the_first_update_keys(name: str, make: Factory) -> None:
    """After the first update, a different key set raises ArgumentError listing both
    differences."""
    opt = make()
    opt.update({"W": f64(1.0), "b": f64(1.0)}, {"W": f64(1.0), "b": f64(1.0)})
    assert_key_error(
        lambda: opt.update({"W": f64(1.0), "c": f64(1.0)}, {"W": f64(1.0), "c": f64(1.0)}),
        callee=f"{name}.update",
        expected="`params` to have the same keys as `the parameters of the first update`",
        missing="['b']",
        unexpected="['c']",
    )


@STATEFUL
def test_state_is_bound_to_the_first_update_shapes(name: str, make: Factory) -> None:
    """After the first update, a parameter of another shape raises ShapeError."""
    opt = make()
    opt.update({"W": f64(1.0)}, {"W": f64(1.0)})
    assert_error(
        ShapeError,
        lambda: opt.update({"W": f64(1.0, 2.0)}, {"W": f64(1.0, 2.0)}),
        callee=f"{name}.update",
        expected="params['W'] of shape (1,) (as in the first update)",
        got="shape (2,)",
    )


@STATEFUL
def test_state_is_bound_to_the_first_update_dtypes(name: str, make: Factory) -> None:
    """After the first update, a parameter of another dtype raises DtypeError."""
    opt = make()
    opt.update({"W": f64(1.0)}, {"W": f64(1.0)})
    p32 = np.ones(1, dtype=np.float32)
    assert_error(
        DtypeError,
        lambda: opt.update({"W": p32}, {"W": p32.copy()}),
        callee=f"{name}.update",
        expected="params['W'] of dtype float64 (as in the first update)",
        got="dtype float32",
    )


def test_rejected_update_does_not_advance_adam() -> None:
    """A rejected Adam update leaves the step counter where it was."""
    opt = Adam()
    opt.update({"W": f64(1.0)}, {"W": f64(1.0)})
    with pytest.raises(ShapeError):
        opt.update({"W": f64(1.0)}, {"W": f64(1.0, 2.0)})
    assert opt.iter == 1


@pytest.mark.parametrize(
    "make",
    [lambda: Momentum(lr=0.1), lambda: AdaGrad(lr=0.1), lambda: Adam(lr=0.1)],
    ids=["momentum", "adagrad", "adam"],
)
def test_state_dict_round_trip_continues_identically(make: Callable[[], StatefulOptimizer]) -> None:
    """A fresh optimizer loaded with another's state_dict takes bit-identical next steps."""
    rng = np.random.default_rng(0)
    grads = [{"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)} for _ in range(4)]
    first = make()
    p1 = {"W": np.ones((2, 3)), "b": np.zeros(3)}
    for g in grads[:2]:
        first.update(p1, g)
    saved = first.state_dict()
    second = make()
    second.load_state_dict(saved)
    p2 = {k: v.copy() for k, v in p1.items()}
    for g in grads[2:]:
        first.update(p1, g)
        second.update(p2, g)
    for key, value in p1.items():
        assert value.tobytes() == p2[key].tobytes()


@pytest.mark.parametrize(
    ("make", "slots"),
    [
        (lambda: SGD(lr=0.1), ()),
        (lambda: Momentum(lr=0.1), ("v",)),
        (lambda: AdaGrad(lr=0.1), ("h",)),
        (lambda: Adam(lr=0.1), ("m", "v")),
    ],
    ids=["SGD", "Momentum", "AdaGrad", "Adam"],
)
def test_state_dict_holds_one_array_per_slot_and_parameter(
    make: Callable[[], StatefulOptimizer], slots: tuple[str, ...]
) -> None:
    """state_dict holds "<slot>/<param>" arrays of each parameter's shape and dtype (none
    before the first update, and always none for SGD), plus Adam's step count as the 0-d
    float64 array "iter"."""
    params: dict[str, FloatArray] = {"W": np.ones((2, 3), dtype=np.float32), "b": np.zeros(3)}
    opt = make()
    extra = {"iter"} if isinstance(opt, Adam) else set()
    assert set(opt.state_dict()) == extra
    opt.update(params, {"W": np.ones((2, 3), dtype=np.float32), "b": np.ones(3)})
    state = opt.state_dict()
    assert set(state) == {f"{slot}/{key}" for slot in slots for key in params} | extra
    for name, value in state.items():
        if name == "iter":
            assert value.shape == ()
            assert value.dtype == np.float64
            assert float(value) == 1.0
        else:
            reference = params[name.split("/")[1]]
            assert (value.shape, value.dtype) == (reference.shape, reference.dtype)


def test_adams_step_count_is_exact_up_to_2_to_the_53() -> None:
    """The step count survives state_dict as a float64 exactly up to 2**53 steps."""
    adam = Adam()
    count = 2**53
    adam.load_state_dict({"m/W": np.zeros(2), "v/W": np.zeros(2), "iter": np.array(float(count))})
    assert adam.iter == count
    assert int(adam.state_dict()["iter"]) == count


def test_adam_is_the_papers_form_with_a_scaled_epsilon() -> None:
    """Folding the bias corrections into lr_t gives the paper's update lr·m̂ / (√v̂ + ε') with
    m̂ = m / (1 - beta1ᵗ), v̂ = v / (1 - beta2ᵗ) and ε' = 1e-7 / √(1 - beta2ᵗ)."""
    rng = np.random.default_rng(3)
    p = rng.standard_normal(5)
    adam = Adam(lr=0.01, beta1=0.8, beta2=0.95)
    m, v, expected = np.zeros(5), np.zeros(5), p.copy()
    for t in range(1, 5):
        g = rng.standard_normal(5)
        adam.update({"p": p}, {"p": g})
        m = 0.8 * m + 0.2 * g
        v = 0.95 * v + 0.05 * g * g
        m_hat, v_hat = m / (1 - 0.8**t), v / (1 - 0.95**t)
        expected -= 0.01 * m_hat / (np.sqrt(v_hat) + 1e-7 / math.sqrt(1 - 0.95**t))
        # Both sides evaluate the same exact step through about ten roundings each, of
        # values no larger than the step itself: 20u relative to its size, per step.
        step_size = 0.01 * np.abs(m_hat) / np.sqrt(v_hat)
        assert np.all(np.abs(p - expected) <= 20 * t * U64 * (np.abs(expected) + step_size))


def test_state_dict_is_a_copy() -> None:
    """Editing a state_dict leaves the optimizer's own state unchanged."""
    opt = Momentum(lr=0.1)
    params = {"W": np.ones(2)}
    opt.update(params, {"W": np.ones(2)})
    state = opt.state_dict()
    state["v/W"][...] = 99.0
    np.testing.assert_array_equal(opt.v["W"], [-0.1, -0.1])


def test_load_state_dict_rejects_mismatched_state() -> None:
    """Unknown or mismatched slots, bad step counts and other parameters raise; nothing changes."""
    adam = Adam()
    where = "Adam.load_state_dict"
    assert_error(
        ArgumentError,
        lambda: adam.load_state_dict({"m/W": np.zeros(2), "v/W": np.zeros(2)}),
        callee=where,
        expected="'iter'",
        got="None",
    )
    assert_key_error(
        lambda: adam.load_state_dict({"m/W": np.zeros(2), "iter": np.array(1.0)}),
        callee=where,
        expected="`slot 'v'` to have the same keys as `slot 'm'`",
        missing="['W']",
        unexpected="[]",
    )
    assert_error(
        ArgumentError,
        lambda: adam.load_state_dict({"x/W": np.zeros(2), "iter": np.array(1.0)}),
        callee=where,
        expected="'<slot>/<param>'",
        got="'x/W'",
    )
    assert_error(
        ShapeError,
        lambda: adam.load_state_dict(
            {"m/W": np.zeros(2), "v/W": np.zeros(3), "iter": np.array(1.0)}
        ),
        callee=where,
        expected="v/W of shape (2,)",
        got="(3,)",
    )
    untouched = adam.state_dict()
    assert list(untouched) == ["iter"]
    assert float(untouched["iter"]) == 0.0
    momentum = Momentum()
    momentum.update({"W": np.ones(2)}, {"W": np.ones(2)})
    assert_error(
        ShapeError,
        lambda: momentum.load_state_dict({"v/W": np.zeros(5)}),
        callee="Momentum.load_state_dict",
        expected="shape",
    )
    np.testing.assert_array_equal(momentum.v["W"], [-0.01, -0.01])
    assert_error(
        ArgumentError,
        lambda: SGD().load_state_dict({"v/W": np.zeros(2)}),
        callee="SGD.load_state_dict",
        expected="an empty state",
        got="'v/W'",
    )


@pytest.mark.parametrize(
    ("state", "error", "expected", "got"),
    [
        (
            {"m/W": [1.0], "v/W": np.zeros(1), "iter": np.array(1.0)},
            DtypeError,
            "`state['m/W']` to be a float32 or float64 numpy array",
            "list",
        ),
        (
            {"m/W": np.zeros(1), "v/W": np.zeros(1, np.float32), "iter": np.array(1.0)},
            ShapeError,
            "v/W of shape (1,) and dtype float64 (as m/W)",
            "(1,) float32",
        ),
        (
            {"m/W": np.zeros(1), "v/W": np.zeros(1), "iter": np.array(-1.0)},
            ArgumentError,
            "'iter', a 0-d array holding a whole number >= 0",
            "array(-1.)",
        ),
        (
            {"m/W": np.zeros(1), "v/W": np.zeros(1), "iter": None},
            ArgumentError,
            "'iter', a 0-d array holding a whole number >= 0",
            "None",
        ),
    ],
    ids=["not-an-array", "other-dtype", "negative-iter", "iter-none"],
)
def test_adam_load_state_dict_names_what_is_wrong(
    state: dict[str, object], error: type[BpcoreError], expected: str, got: str
) -> None:
    """Each way a saved Adam state can be wrong is named: the entry, what it should hold and
    what it holds; the optimizer is left as it was."""
    adam = Adam()
    # A checkpoint read from disk can hold anything; the type says what it should hold.
    assert_error(
        error,
        lambda: adam.load_state_dict(cast("Mapping[str, FloatArray]", state)),
        callee="Adam.load_state_dict",
        expected=expected,
        got=got,
    )
    assert adam.state_dict() == {"iter": np.array(0.0)}  # nothing changed


def test_adam_load_state_dict_lists_slots_of_other_parameters() -> None:
    """A slot saved for other parameters than another slot is refused with both
    differences listed; the optimizer is left as it was."""
    adam = Adam()
    state = {"m/W": np.zeros(1), "v/X": np.zeros(1), "iter": np.array(1.0)}
    assert_key_error(
        lambda: adam.load_state_dict(state),
        callee="Adam.load_state_dict",
        expected="`slot 'v'` to have the same keys as `slot 'm'`",
        missing="['W']",
        unexpected="['X']",
    )
    assert adam.state_dict() == {"iter": np.array(0.0)}


def test_adagrad_load_state_dict_names_its_method() -> None:
    """Loading refuses a non-float slot naming AdaGrad.load_state_dict and the key."""
    assert_error(
        DtypeError,
        lambda: AdaGrad().load_state_dict({"h/W": cast("FloatArray", np.zeros(1, dtype=np.int64))}),
        callee="AdaGrad.load_state_dict",
        expected="`state['h/W']` to be a float32 or float64 numpy array",
        got="dtype int64",
    )


@pytest.mark.parametrize(
    ("make", "state", "expected", "got"),
    [
        (Momentum, {"v/W": f64(math.nan)}, "finite values in 'v/W'", "NaN or infinity"),
        (AdaGrad, {"h/W": f64(math.inf)}, "finite values in 'h/W'", "NaN or infinity"),
        (AdaGrad, {"h/W": f64(1.0, -0.5)}, "'h/W' >= 0", "-0.5"),
        (
            Adam,
            {"m/W": f64(0.0), "v/W": f64(-1e-300), "iter": np.array(1.0)},
            "'v/W' >= 0",
            "-1e-300",
        ),
    ],
    ids=["momentum-nan", "adagrad-inf", "adagrad-negative-h", "adam-negative-v"],
)
def test_a_saved_state_out_of_its_range_is_refused(
    make: Callable[[], StatefulOptimizer],
    state: dict[str, FloatArray],
    expected: str,
    got: str,
) -> None:
    """Every slot must be finite, and the slots that accumulate squares (AdaGrad's h,
    Adam's v) must be >= 0: load_state_dict names the entry and its value, and changes
    nothing."""
    opt = make()
    assert_error(
        ArgumentError,
        lambda: opt.load_state_dict(state),
        callee=f"{type(opt).__name__}.load_state_dict",
        expected=expected,
        got=got,
    )
    assert all(k == "iter" for k in opt.state_dict())  # nothing was loaded


def test_momentum_loads_a_negative_velocity() -> None:
    """Momentum's v is a signed velocity, not a sum of squares: negative values load."""
    momentum = Momentum(lr=0.1, momentum=0.5)
    momentum.load_state_dict({"v/W": f64(-2.0)})
    p = f64(0.0)
    momentum.update({"W": p}, {"W": f64(0.0)})
    close(p, [-1.0])  # v = 0.5 * -2 - 0.1 * 0; p += v


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


@ALL
def test_a_state_that_is_not_a_mapping_is_refused_by_name(name: str, make: Factory) -> None:
    """load_state_dict takes a mapping of names to arrays; anything else raises
    ArgumentTypeError naming the method and `state`."""
    optimizer = make()
    assert isinstance(optimizer, StatefulOptimizer)
    assert_error(
        ArgumentTypeError,
        lambda: optimizer.load_state_dict(cast(Mapping[str, FloatArray], [1])),
        callee=f"{name}.load_state_dict",
        expected="`state` to be a mapping of names to arrays",
        got="list",
    )

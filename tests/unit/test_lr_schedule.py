"""Learning-rate schedules: StepDecay's rates, its text form and errors, and a Trainer that
sets each epoch's rate, a resumed epoch included."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError, ArgumentTypeError
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, Optimizer
from bpcore.training import LrSchedule, StepDecay, StepInfo, Trainer
from tests.helpers import assert_error, toy_data, toy_net

N_TRAIN, N_TEST, BATCH, EPOCHS = 23, 11, 5, 4  # five steps an epoch, the last of 3
STEPS = 5
TRAIN, TEST = toy_data(N_TRAIN, 1), toy_data(N_TEST, 2)
SCHEDULE = StepDecay(0.05, {1: 0.5, 3: 0.1})

OPTIMIZERS: dict[str, Callable[[float], SGD | Momentum | AdaGrad | Adam]] = {
    "sgd": lambda lr: SGD(lr=lr),
    "momentum": lambda lr: Momentum(lr=lr),
    "adagrad": lambda lr: AdaGrad(lr=lr),
    "adam": lambda lr: Adam(lr=lr),
}


# --- StepDecay ---------------------------------------------------------------------------


def test_the_documented_example() -> None:
    """StepDecay(0.001, {10: 0.3, 15: 0.1}): epochs 1-10 at 0.001, 11-15 at 0.0003, then
    0.0001; each factor scales lr itself."""
    schedule = StepDecay(0.001, {15: 0.1, 10: 0.3})
    assert [schedule(e) for e in (1, 10, 11, 15, 16, 100)] == [
        0.001, 0.001, 0.001 * 0.3, 0.001 * 0.3, 0.001 * 0.1, 0.001 * 0.1]  # fmt: skip
    assert schedule.spec == "10:0.3,15:0.1"
    assert schedule.lr == 0.001
    assert schedule.steps == {10: 0.3, 15: 0.1}
    assert list(schedule.steps) == [10, 15]  # by epoch, whatever order they were given in
    assert repr(schedule) == "StepDecay(0.001, {10: 0.3, 15: 0.1})"


def test_no_steps_is_a_constant_rate() -> None:
    """An empty mapping, or the spec '', keeps lr for every epoch."""
    for schedule in (StepDecay(0.2, {}), StepDecay.parse(0.2, ""), StepDecay.parse(0.2, "  ")):
        assert [schedule(e) for e in range(1, 6)] == [0.2] * 5
        assert schedule.spec == ""


_steps = st.dictionaries(
    st.integers(1, 50),
    st.floats(1e-6, 1e3, allow_nan=False, allow_infinity=False),
    max_size=6,
)
_lrs = st.floats(1e-6, 10.0)


@given(lr=_lrs, steps=_steps, epoch=st.integers(1, 60))
def test_each_epoch_trains_at_lr_times_the_factor_of_the_last_step_before_it(
    lr: float, steps: dict[int, float], epoch: int
) -> None:
    """rate(e) = lr · f(m) for the largest step m < e, or lr when there is none: the same
    float, since a factor multiplies lr once."""
    passed = [m for m in steps if m < epoch]
    expected = lr * steps[max(passed)] if passed else lr
    assert StepDecay(lr, steps)(epoch) == expected


@given(lr=_lrs, steps=_steps)
def test_the_spec_reads_back_exactly(lr: float, steps: dict[int, float]) -> None:
    """parse(lr, s.spec) is s: the same lr and the same factors, bit for bit."""
    schedule = StepDecay(lr, steps)
    again = StepDecay.parse(lr, schedule.spec)
    assert again == schedule
    assert again.steps == steps
    assert hash(again) == hash(schedule)


def test_parse_accepts_spaces_and_any_order() -> None:
    assert StepDecay.parse(1.0, " 15: 0.1 , 10 :0.3 ") == StepDecay(1.0, {10: 0.3, 15: 0.1})


def test_schedules_differ_by_lr_or_steps() -> None:
    base = StepDecay(0.1, {2: 0.5})
    assert base != StepDecay(0.2, {2: 0.5})
    assert base != StepDecay(0.1, {3: 0.5})
    assert base != StepDecay(0.1, {2: 0.25})
    assert base != "2:0.5"


@pytest.mark.parametrize(
    ("lr", "steps", "error", "expected", "got"),
    [
        (0.0, {}, ArgumentError, "`lr` to be finite and > 0", "0.0"),
        (math.nan, {}, ArgumentError, "`lr` to be finite and > 0", "nan"),
        ("0.1", {}, ArgumentTypeError, "`lr` to be a real number", "str"),
        (True, {}, ArgumentTypeError, "`lr` to be a real number", "bool"),
        (0.1, [(2, 0.5)], ArgumentTypeError, "`steps` to be a mapping", "list"),
        (0.1, {0: 0.5}, ArgumentError, "epochs of `steps` to be >= 1", "0"),
        (0.1, {2.0: 0.5}, ArgumentTypeError, "epochs of `steps` to be ints", "float 2.0"),
        (0.1, {True: 0.5}, ArgumentTypeError, "epochs of `steps` to be ints", "bool True"),
        (0.1, {2: 0.0}, ArgumentError, "`steps[2]` to be finite and > 0", "0.0"),
        (0.1, {2: -0.5}, ArgumentError, "`steps[2]` to be finite and > 0", "-0.5"),
        (0.1, {2: math.inf}, ArgumentError, "`steps[2]` to be finite and > 0", "inf"),
        (1e300, {2: 1e10}, ArgumentError, "`lr`·`steps[2]` to be finite and > 0", "inf"),
        (1e-300, {2: 1e-30}, ArgumentError, "`lr`·`steps[2]` to be finite and > 0", "0.0"),
    ],
)
def test_a_bad_schedule_is_refused_by_name(
    lr: object, steps: object, error: type[ArgumentError], expected: str, got: str
) -> None:
    assert_error(
        error,
        lambda: StepDecay(lr, steps),  # type: ignore[arg-type]  # wrong types on purpose
        callee="StepDecay",
        expected=expected,
        got=got,
    )


@pytest.mark.parametrize(
    ("spec", "expected", "got"),
    [
        ("10", "EPOCH:FACTOR pairs", "'10'"),
        ("10:0.3,", "EPOCH:FACTOR pairs", "'10:0.3,'"),
        ("ten:0.3", "EPOCH:FACTOR pairs", "'ten:0.3'"),
        ("10:x", "EPOCH:FACTOR pairs", "'10:x'"),
        ("10:0.3,10:0.1", "each epoch once", "epoch 10 twice"),
        ("0:0.3", "epochs of `steps` to be >= 1", "0"),
        ("10:nan", "`steps[10]` to be finite and > 0", "nan"),
        ("10:-1", "`steps[10]` to be finite and > 0", "-1.0"),
    ],
)
def test_parse_refuses_a_malformed_spec_by_name(spec: str, expected: str, got: str) -> None:
    assert_error(
        ArgumentError,
        lambda: StepDecay.parse(0.1, spec),
        callee="StepDecay.parse",
        expected=expected,
        got=got,
    )


def test_parse_refuses_a_spec_that_is_not_text() -> None:
    assert_error(
        ArgumentTypeError,
        lambda: StepDecay.parse(0.1, 10),  # type: ignore[arg-type]  # not a str on purpose
        callee="StepDecay.parse",
        expected="`spec` to be a str",
        got="int",
    )


# --- the Trainer following a schedule -----------------------------------------------------


def _trainer(
    optimizer: Optimizer,
    *,
    schedule: LrSchedule | None = SCHEDULE,
    checkpoint: Path | None = None,
    on_step: Callable[[StepInfo], object] | None = None,
    epochs: int = EPOCHS,
) -> Trainer:
    return Trainer(
        toy_net(3),
        optimizer,
        *TRAIN,
        *TEST,
        batch_size=BATCH,
        epochs=epochs,
        rng=5,
        checkpoint_path=checkpoint,
        on_step=on_step,
        lr_schedule=schedule,
    )


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_step_of_an_epoch_uses_that_epochs_rate(name: str) -> None:
    """The optimizer's lr at each step is schedule(epoch): 0.05, then 0.025 for epochs 2-3,
    then 0.005."""
    optimizer = OPTIMIZERS[name](1.0)
    seen: list[tuple[int, float]] = []
    _trainer(optimizer, on_step=lambda s: seen.append((s.epoch, optimizer.lr))).fit()
    assert seen == [(e, SCHEDULE(e)) for e in range(1, EPOCHS + 1) for _ in range(STEPS)]


def test_the_schedule_is_asked_once_per_epoch_when_the_trainer_is_built() -> None:
    calls: list[int] = []

    def schedule(epoch: int) -> float:
        calls.append(epoch)
        return 0.1

    _trainer(SGD(lr=0.1), schedule=schedule, epochs=6)
    assert calls == [1, 2, 3, 4, 5, 6]


def test_without_a_schedule_the_optimizers_rate_is_left_alone() -> None:
    """No lr_schedule: an lr set between epochs (from on_epoch, say) stays as set."""
    optimizer = SGD(lr=0.1)
    seen: list[float] = []

    def step(info: StepInfo) -> None:
        seen.append(optimizer.lr)
        if info.step == STEPS:
            optimizer.lr /= 2

    _trainer(optimizer, schedule=None, on_step=step).fit()
    assert seen == [0.1 / 2**k for k in range(EPOCHS) for _ in range(STEPS)]


def test_a_schedule_overrides_a_rate_set_between_epochs() -> None:
    optimizer = SGD(lr=0.1)
    seen: list[float] = []

    def step(info: StepInfo) -> None:
        seen.append(optimizer.lr)
        optimizer.lr = 7.0

    _trainer(optimizer, on_step=step).fit()
    assert seen[::STEPS] == [SCHEDULE(e) for e in range(1, EPOCHS + 1)]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("stop_at", [STEPS + 2, 2 * STEPS, 3 * STEPS + 4])
def test_a_resumed_run_follows_the_schedule_bit_for_bit(
    tmp_path: Path, name: str, stop_at: int
) -> None:
    """Stopped mid-epoch 2, after epoch 2, or mid-epoch 4, and resumed by a trainer whose
    fresh optimizer starts at another lr: the parameters end as an uninterrupted run's.
    The resumed epoch must run at its scheduled rate, not at the new optimizer's."""
    straight = toy_net(3)
    Trainer(straight, OPTIMIZERS[name](1.0), *TRAIN, *TEST, batch_size=BATCH, epochs=EPOCHS,
            rng=5, lr_schedule=SCHEDULE).fit()  # fmt: skip

    path = tmp_path / "ck.npz"
    steps = 0

    def interrupt(info: StepInfo) -> None:
        nonlocal steps
        steps += 1
        if steps == stop_at:
            raise KeyboardInterrupt

    first = toy_net(3)
    history = Trainer(first, OPTIMIZERS[name](1.0), *TRAIN, *TEST, batch_size=BATCH,
                      epochs=EPOCHS, rng=5, checkpoint_path=path, on_step=interrupt,
                      lr_schedule=SCHEDULE).fit()  # fmt: skip
    assert history.interrupted
    resumed = toy_net(99)
    trainer = Trainer(resumed, OPTIMIZERS[name](123.0), *TRAIN, *TEST, batch_size=BATCH,
                      epochs=EPOCHS, rng=0, lr_schedule=SCHEDULE)  # fmt: skip
    trainer.resume(path)
    trainer.fit()
    for key, value in straight.params.items():
        np.testing.assert_array_equal(resumed.params[key], value, err_msg=key)


class _NoRate:
    """An optimizer with no ``lr``: a schedule has nothing to set."""

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        for key, p in params.items():
            np.subtract(p, 0.1 * grads[key], out=p)


def test_an_optimizer_without_a_rate_is_refused_with_a_schedule() -> None:
    assert_error(
        ArgumentError,
        lambda: _trainer(_NoRate()),
        callee="Trainer",
        expected="an optimizer with an `lr` attribute",
        got="_NoRate",
    )
    _trainer(_NoRate(), schedule=None).fit()  # without one it trains


@pytest.mark.parametrize(
    ("rate", "error", "expected", "got"),
    [
        (0.0, ArgumentError, "`lr_schedule(3)` to be finite and > 0", "0.0"),
        (-1.0, ArgumentError, "`lr_schedule(3)` to be finite and > 0", "-1.0"),
        (math.nan, ArgumentError, "`lr_schedule(3)` to be finite and > 0", "nan"),
        (math.inf, ArgumentError, "`lr_schedule(3)` to be finite and > 0", "inf"),
        ("0.1", ArgumentTypeError, "`lr_schedule(3)` to be a real number", "str"),
        (None, ArgumentTypeError, "`lr_schedule(3)` to be a real number", "NoneType"),
    ],
)
def test_a_bad_rate_is_refused_before_training_by_epoch(
    rate: object, error: type[ArgumentError], expected: str, got: str
) -> None:
    """Epoch 3's rate is bad: the trainer is refused when built, naming lr_schedule(3)."""

    def schedule(epoch: int) -> float:
        return rate if epoch == 3 else 0.1  # type: ignore[return-value]  # bad on purpose

    assert_error(error, lambda: _trainer(SGD(lr=0.1), schedule=schedule), callee="Trainer",
                 expected=expected, got=got)  # fmt: skip


def test_a_schedule_that_is_not_callable_is_refused() -> None:
    assert_error(
        ArgumentTypeError,
        lambda: _trainer(SGD(lr=0.1), schedule=0.1),  # type: ignore[arg-type]  # on purpose
        callee="Trainer",
        expected="`lr_schedule` to be a function of the epoch",
        got="float",
    )

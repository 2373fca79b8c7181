"""The Trainer: shuffling, determinism, divergence, checkpoints, resume, Ctrl-C and float32."""

from __future__ import annotations

import io
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import final

import numpy as np
import numpy.typing as npt
import pytest

from bpcore._arrays import FloatArray
from bpcore.checkpoint import load_checkpoint, save_checkpoint
from bpcore.errors import BpcoreError, CheckpointError, ShapeError
from bpcore.layers import SoftmaxWithLoss
from bpcore.networks import MultiLayerNet
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, Optimizer
from bpcore.training import (
    CHECKPOINT_FORMAT,
    EpochStats,
    History,
    ProgressBar,
    StepInfo,
    Trainer,
    TrainingDiverged,
)
from tests.helpers import TOY_CLASSES, TOY_FEATURES, toy_data, toy_net

N_TRAIN = 23
N_TEST = 11
BATCH = 5  # 23 = 4 * 5 + 3: every epoch ends with a smaller batch
STEPS = 5
FEATURES, CLASSES = TOY_FEATURES, TOY_CLASSES

TRAIN = toy_data(N_TRAIN, 1)
TEST = toy_data(N_TEST, 2)
_net = toy_net


def _trainer(
    net: MultiLayerNet | _Spy,
    *,
    optimizer: Optimizer | None = None,
    epochs: int = 3,
    seed: int = 7,
    checkpoint: Path | None = None,
    on_step: Callable[[StepInfo], object] | None = None,
    on_epoch: Callable[[EpochStats], object] | None = None,
) -> Trainer:
    return Trainer(
        net,
        SGD(lr=0.1) if optimizer is None else optimizer,
        *TRAIN,
        *TEST,
        batch_size=BATCH,
        epochs=epochs,
        rng=seed,
        checkpoint_path=checkpoint,
        on_step=on_step,
        on_epoch=on_epoch,
    )


@final
class _Spy:
    """A network that records the input batches it is trained on."""

    params: dict[str, FloatArray]
    last_layer: SoftmaxWithLoss
    batches: list[FloatArray]
    _net: MultiLayerNet

    def __init__(self, net: MultiLayerNet) -> None:
        self._net = net
        self.params = net.params
        self.last_layer = net.last_layer
        self.batches = []

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        return self._net.accuracy(x, t)

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        self.batches.append(np.array(x, copy=True))
        return self._net.gradient(x, t)


def _copy(params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {k: p.copy() for k, p in params.items()}


def _assert_same_params(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _without_time(history: History) -> list[tuple[int, float, float, float]]:
    return [(e.epoch, e.train_loss, e.train_acc, e.test_acc) for e in history.epochs]


def test_fit_is_deterministic_for_a_seed() -> None:
    """Two runs with the same seeds end identical (params and history); another seed differs."""
    first, second, other = _net(), _net(), _net()
    h1 = _trainer(first, seed=3).fit()
    h2 = _trainer(second, seed=3).fit()
    _trainer(other, seed=4).fit()
    _assert_same_params(first.params, second.params)
    assert _without_time(h1) == _without_time(h2)
    assert not np.array_equal(first.params["W1"], other.params["W1"])


def test_every_sample_is_visited_once_per_epoch_in_a_new_order() -> None:
    """Each epoch's batches cover every training sample exactly once, shuffled anew each epoch."""
    spy = _Spy(_net())
    trainer = _trainer(spy, epochs=3)
    trainer.fit()
    row_index = {row.tobytes(): i for i, row in enumerate(TRAIN[0])}
    assert len(spy.batches) == 3 * STEPS
    assert [b.shape[0] for b in spy.batches[:STEPS]] == [5, 5, 5, 5, 3]
    orders = []
    for epoch in range(3):
        batches = spy.batches[epoch * STEPS : (epoch + 1) * STEPS]
        visited = [row_index[row.tobytes()] for batch in batches for row in batch]
        assert sorted(visited) == list(range(N_TRAIN))
        np.testing.assert_array_equal(visited, trainer.epoch_order(epoch + 1))
        orders.append(visited)
    assert orders[0] != orders[1] != orders[2]


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses() -> None:
    """An epoch's train_loss weights each batch loss by its size, so every sample counts once."""
    steps: list[StepInfo] = []
    history = _trainer(_net(), epochs=1, on_step=steps.append).fit()
    sizes = [5, 5, 5, 5, 3]
    expected = sum(s.loss * n for s, n in zip(steps, sizes, strict=True)) / N_TRAIN
    assert history.train_loss == [pytest.approx(expected, rel=1e-12)]
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert all(s.steps_per_epoch == STEPS for s in steps)


def test_accuracy_is_evaluated_every_epoch_on_both_sets() -> None:
    """Each epoch records the network's accuracy on the full train and test sets."""
    net = _net()
    recorded: list[tuple[float, float]] = []

    def measure(stats: EpochStats) -> None:
        recorded.append((net.accuracy(*TRAIN), net.accuracy(*TEST)))

    history = _trainer(net, epochs=2, on_epoch=measure).fit()
    assert list(zip(history.train_acc, history.test_acc, strict=True)) == recorded
    assert [e.epoch for e in history.epochs] == [1, 2]


def test_divergence_names_epoch_and_step_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    """A NaN loss raises TrainingDiverged naming epoch and step; the epoch-1 checkpoint stays."""
    path = tmp_path / "run.npz"
    net = _net()
    saved: list[bytes] = []

    def poison(info: StepInfo) -> None:
        if (info.epoch, info.step) == (2, 2):
            net.params["W2"][0, 0] = np.nan

    def remember(stats: EpochStats) -> None:
        saved.append(path.read_bytes())

    trainer = _trainer(net, checkpoint=path, on_step=poison, on_epoch=remember)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 3 of 5") as caught:
        trainer.fit()
    assert isinstance(caught.value, BpcoreError)
    assert isinstance(caught.value, RuntimeError)
    assert (caught.value.epoch, caught.value.step) == (2, 3)
    assert np.isnan(caught.value.loss)
    assert caught.value.checkpoint == path
    assert saved == [path.read_bytes()]
    assert load_checkpoint(path).meta["epoch"] == 1


def test_huge_learning_rate_diverges() -> None:
    """An absurd learning rate makes the loss non-finite, which is reported, not trained on."""
    trainer = _trainer(_net(), optimizer=SGD(lr=1e300), epochs=5)
    with pytest.raises(TrainingDiverged, match="diverged at epoch 1") as caught:
        trainer.fit()
    assert caught.value.checkpoint is None


@pytest.mark.parametrize("where", [("W1", (0, 0)), ("b2", (0,))])
def test_non_finite_parameters_after_an_epoch_are_not_checkpointed(
    tmp_path: Path, where: tuple[str, tuple[int, ...]]
) -> None:
    """Parameters that turn non-finite on an epoch's last step raise before that epoch is saved."""
    path = tmp_path / "run.npz"
    net = _net()
    name, index = where

    def poison(info: StepInfo) -> None:
        # Poisoned on an epoch's last step: the end-of-epoch check must catch it.
        if (info.epoch, info.step) == (2, STEPS):
            net.params[name][index] = np.nan

    with pytest.raises(TrainingDiverged, match=name) as caught:
        _trainer(net, checkpoint=path, on_step=poison).fit()
    assert (caught.value.epoch, caught.value.step) == (2, STEPS)
    assert load_checkpoint(path).meta["epoch"] == 1


OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "sgd": lambda: SGD(lr=0.1),
    "momentum": lambda: Momentum(lr=0.05),
    "adagrad": lambda: AdaGrad(lr=0.05),
    "adam": lambda: Adam(lr=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resume_after_an_epoch_reproduces_the_uninterrupted_run(tmp_path: Path, name: str) -> None:
    """2 epochs + resume + 2 epochs equals 4 epochs bit for bit, optimizer state included."""
    make = OPTIMIZERS[name]
    straight = _net()
    full = _trainer(straight, optimizer=make(), epochs=4).fit()

    path = tmp_path / "run.npz"
    _trainer(_net(), optimizer=make(), epochs=2, checkpoint=path).fit()
    # A differently initialised network and a fresh optimizer: everything must come
    # from the checkpoint.
    resumed = _net(seed=99)
    trainer = _trainer(resumed, optimizer=make(), epochs=4, seed=12345)
    assert trainer.resume(path) == 2
    assert trainer.seed == 7
    history = trainer.fit()
    _assert_same_params(resumed.params, straight.params)
    assert _without_time(history) == _without_time(full)


def test_resume_refuses_optimizer_state_of_another_optimizer(tmp_path: Path) -> None:
    """Adam's saved moments cannot be loaded into Momentum: CheckpointError, nothing changed."""
    path = tmp_path / "run.npz"
    _trainer(_net(), optimizer=Adam(lr=0.01), epochs=1, checkpoint=path).fit()
    net = _net(seed=3)
    before = _copy(net.params)
    momentum = Momentum(lr=0.05)
    with pytest.raises(CheckpointError, match="optimizer state does not fit Momentum"):
        _trainer(net, optimizer=momentum).resume(path)
    _assert_same_params(net.params, before)
    assert momentum.state_dict() == {}


def test_keyboard_interrupt_saves_a_checkpoint_of_the_current_params(tmp_path: Path) -> None:
    """A KeyboardInterrupt from on_step saves the current params and position and returns."""
    path = tmp_path / "run.npz"
    net = _net()
    at_interrupt: dict[str, FloatArray] = {}

    def interrupt(info: StepInfo) -> None:
        if (info.epoch, info.step) == (2, 3):
            at_interrupt.update(_copy(net.params))
            raise KeyboardInterrupt

    history = _trainer(net, checkpoint=path, on_step=interrupt).fit()
    assert history.interrupted
    assert history.checkpoint == path
    assert len(history.epochs) == 1
    checkpoint = load_checkpoint(path)
    _assert_same_params(checkpoint.params, at_interrupt)
    assert checkpoint.meta["epoch"] == 1
    assert checkpoint.meta["batch"] == 3
    assert checkpoint.meta["interrupted"] == 1
    assert checkpoint.meta["format"] == CHECKPOINT_FORMAT


def test_resume_mid_epoch_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    """Resuming a run interrupted at epoch 2, step 3 ends exactly as an uninterrupted run."""
    straight = _net()
    full = _trainer(straight, epochs=3).fit()

    path = tmp_path / "run.npz"

    def interrupt(info: StepInfo) -> None:
        if (info.epoch, info.step) == (2, 3):
            raise KeyboardInterrupt

    assert _trainer(_net(), checkpoint=path, on_step=interrupt).fit().interrupted
    resumed = _net(seed=5)
    trainer = _trainer(resumed, epochs=3)
    assert trainer.resume(load_checkpoint(path)) == 1
    assert trainer.batches_done == 3
    history = trainer.fit()
    _assert_same_params(resumed.params, straight.params)
    assert _without_time(history) == _without_time(full)


def test_sigint_is_deferred_to_the_end_of_the_step(tmp_path: Path) -> None:
    """A real SIGINT during a step stops training after that step, with a checkpoint."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a custom handler here, which the trainer leaves alone")
    path = tmp_path / "run.npz"

    def send_sigint(info: StepInfo) -> None:
        if (info.epoch, info.step) == (1, 2):
            signal.raise_signal(signal.SIGINT)

    history = _trainer(_net(), checkpoint=path, on_step=send_sigint).fit()
    assert history.interrupted
    assert load_checkpoint(path).meta["batch"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@final
class _InterruptedUpdate:
    """An optimizer interrupted half-way through its update of epoch 2."""

    calls: int
    _sgd: SGD

    def __init__(self) -> None:
        self.calls = 0
        self._sgd = SGD(lr=0.1)

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        self.calls += 1
        if self.calls == STEPS + 2:
            first = next(iter(params))
            self._sgd.update({first: params[first]}, {first: grads[first]})
            raise KeyboardInterrupt
        self._sgd.update(params, grads)


def test_interrupt_inside_an_update_propagates_without_a_checkpoint(tmp_path: Path) -> None:
    """A KeyboardInterrupt in the middle of an update is re-raised and the last checkpoint kept."""
    path = tmp_path / "run.npz"
    trainer = _trainer(_net(), optimizer=_InterruptedUpdate(), checkpoint=path)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    meta = load_checkpoint(path).meta
    assert (meta["epoch"], meta["batch"], meta["interrupted"]) == (1, 0, 0)


def test_float32_training_stays_float32() -> None:
    """A float32 network trained on float64 data gets float32 batches and keeps float32 params."""
    spy = _Spy(_net(dtype=np.float32))
    trainer = Trainer(spy, Adam(lr=0.01), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=0)
    history = trainer.fit()
    assert trainer.dtype == np.float32
    assert {b.dtype for b in spy.batches} == {np.dtype(np.float32)}
    assert {p.dtype for p in spy.params.values()} == {np.dtype(np.float32)}
    assert all(np.isfinite(history.train_loss))


def test_float32_checkpoint_round_trips(tmp_path: Path) -> None:
    """A float32 run's checkpoint holds float32 params and resumes into a float32 network."""
    path = tmp_path / "run.npz"
    net = _net(dtype=np.float32)
    _trainer(net, epochs=1, checkpoint=path).fit()
    other = _net(seed=3, dtype=np.float32)
    _trainer(other, epochs=1).resume(path)
    _assert_same_params(other.params, net.params)
    assert load_checkpoint(path).meta["dtype"] == "float32"


def test_resume_rejects_a_checkpoint_not_written_by_a_trainer(tmp_path: Path) -> None:
    """A bare parameter checkpoint is refused and the network is left untouched."""
    path = tmp_path / "bare.npz"
    net = _net()
    save_checkpoint(path, _net(seed=1).params, meta={"epoch": 3})
    before = _copy(net.params)
    with pytest.raises(CheckpointError, match="format"):
        _trainer(net).resume(path)
    _assert_same_params(net.params, before)


def test_resume_mid_epoch_with_another_batch_size_is_refused(tmp_path: Path) -> None:
    """A checkpoint taken part-way through an epoch only resumes with the same batch size."""
    path = tmp_path / "run.npz"

    def interrupt(info: StepInfo) -> None:
        raise KeyboardInterrupt

    _trainer(_net(), checkpoint=path, on_step=interrupt).fit()
    trainer = Trainer(_net(), SGD(), *TRAIN, *TEST, batch_size=BATCH + 1, epochs=2, rng=0)
    with pytest.raises(CheckpointError, match="batch size"):
        trainer.resume(path)


def test_without_a_checkpoint_path_nothing_is_written(tmp_path: Path) -> None:
    """With no checkpoint_path, fit trains and reports no checkpoint."""
    history = _trainer(_net(), epochs=1).fit()
    assert history.checkpoint is None
    assert not history.interrupted
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"epochs": True}, ValueError, "epochs"),
        ({"rng": -1}, ValueError, "rng"),
        ({"meta": {"epoch": 1}}, ValueError, "own keys"),
    ],
)
def test_invalid_settings_are_rejected(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    """Bad batch sizes, epoch counts, seeds and clashing meta keys raise with the setting's name."""
    with pytest.raises(error, match=match):
        Trainer(_net(), SGD(), *TRAIN, *TEST, **kwargs)  # type: ignore[arg-type]  # wrong types on purpose


def test_mismatched_data_lengths_are_rejected() -> None:
    """Inputs and targets of different lengths raise a ShapeError naming the data set."""
    with pytest.raises(ShapeError, match="x_test and t_test"):
        Trainer(_net(), SGD(), *TRAIN, TEST[0], TEST[1][:-1])


def test_progress_bar_draws_and_clears_one_line() -> None:
    """The bar redraws in place with a carriage return and erases itself on clear()."""
    out = io.StringIO()
    bar = ProgressBar(out, epochs=2, width=10, min_interval=0.0)
    bar.update(StepInfo(epoch=1, step=1, steps_per_epoch=4, global_step=1, loss=0.5))
    bar.update(StepInfo(epoch=1, step=4, steps_per_epoch=4, global_step=4, loss=0.25))
    drawn = out.getvalue()
    assert "\n" not in drawn
    assert drawn.split("\r")[1].startswith("epoch 1/2 [##........] 1/4 loss 0.5000")
    # The loss shown is the epoch's running mean: (0.5 + 0.25) / 2.
    assert drawn.split("\r")[2].startswith("epoch 1/2 [##########] 4/4 loss 0.3750")
    bar.clear()
    assert out.getvalue().endswith("\r" + " " * len(drawn.split("\r")[2]) + "\r")


def test_progress_bar_redraws_at_most_once_per_interval() -> None:
    """Within min_interval only an epoch's first step is drawn, and a new epoch resets the mean."""
    out = io.StringIO()
    now = [0.0]
    bar = ProgressBar(out, epochs=2, width=4, min_interval=1.0, clock=lambda: now[0])
    for step, loss in [(1, 1.0), (2, 3.0), (3, 5.0)]:
        bar.update(StepInfo(epoch=1, step=step, steps_per_epoch=4, global_step=step, loss=loss))
    assert out.getvalue().count("\r") == 1
    now[0] = 1.0
    bar.update(StepInfo(epoch=1, step=4, steps_per_epoch=4, global_step=4, loss=7.0))
    bar.update(StepInfo(epoch=2, step=1, steps_per_epoch=4, global_step=5, loss=0.5))
    frames = out.getvalue().split("\r")[1:]
    assert [f.split("loss ")[1].strip() for f in frames] == ["1.0000", "4.0000", "0.5000"]

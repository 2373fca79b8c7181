"""The Trainer's bookkeeping, pinned exactly: evaluation chunks, epoch records, resume edges.

Each test pins one promise of :class:`~bpcore.training.Trainer` that the behavioural tests
in ``test_trainer.py`` left loose: the chunks accuracy is evaluated in, every epoch's
record (not only the first), the step counter, the checkpoint a run reports, where a
divergence leaves the checkpoint, which data shapes are refused, and which malformed
histories a resume refuses.
"""

from __future__ import annotations

import io
import json
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import final

import numpy as np
import numpy.typing as npt
import pytest

from bpcore._arrays import FloatArray
from bpcore.checkpoint import MetaValue, load_checkpoint, save_checkpoint
from bpcore.errors import (
    ArgumentError,
    ArgumentTypeError,
    CheckpointError,
    DtypeError,
    ShapeError,
)
from bpcore.layers import SoftmaxWithLoss
from bpcore.networks import MultiLayerNet
from bpcore.optim import SGD, Momentum
from bpcore.training import (
    EpochStats,
    History,
    ProgressBar,
    StepInfo,
    Trainer,
    TrainingDiverged,
)
from tests.helpers import TOY_CLASSES, TOY_FEATURES, raises_exactly, toy_data, toy_net

FEATURES, CLASSES = TOY_FEATURES, TOY_CLASSES
N_TRAIN, N_TEST, BATCH = 23, 11, 5  # 23 = 4·5 + 3: five steps an epoch, the last of 3
TRAIN, TEST = toy_data(N_TRAIN, 1), toy_data(N_TEST, 2)
_net = toy_net


@final
class _Recorder:
    """A network that records the chunks accuracy is asked about, and can interrupt a gradient."""

    params: dict[str, FloatArray]
    last_layer: SoftmaxWithLoss
    chunks: list[int]
    interrupt_at: int | None
    perfect: bool
    _calls: int

    def __init__(
        self, net: MultiLayerNet, *, interrupt_at: int | None = None, perfect: bool = False
    ) -> None:
        self._net = net
        self.params = net.params
        self.last_layer = net.last_layer
        self.chunks = []
        self.interrupt_at = interrupt_at
        self.perfect = perfect
        self._calls = 0

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        self.chunks.append(np.asarray(x).shape[0])
        return 1.0 if self.perfect else self._net.accuracy(x, t)

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        self._calls += 1
        if self._calls == self.interrupt_at:
            raise KeyboardInterrupt
        return self._net.gradient(x, t)


def test_accuracy_is_counted_over_chunks_of_eval_batch_size() -> None:
    """With eval_batch_size 4, each set is evaluated in order in chunks 4, 4, ..., and the
    epoch's accuracy is the count of hits over all of them, as one call over the whole set."""
    net = _net()
    recorder = _Recorder(net)
    whole: list[tuple[float, float]] = []

    def measure(stats: EpochStats) -> None:
        whole.append((net.accuracy(*TRAIN), net.accuracy(*TEST)))

    trainer = Trainer(
        recorder, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=7,
        eval_batch_size=4, on_epoch=measure,
    )  # fmt: skip
    history = trainer.fit()
    per_epoch = [4, 4, 4, 4, 4, 3, 4, 4, 3]  # 23 training samples, then 11 test samples
    assert recorder.chunks == per_epoch * 2
    assert list(zip(history.train_acc, history.test_acc, strict=True)) == whole


def test_every_epoch_records_its_own_loss_time_and_steps(tmp_path: Path) -> None:
    """Each epoch's train_loss is the sample-weighted mean of that epoch's batch losses,
    its seconds lie within the run's wall time, global_step counts every step once, and
    the History names the checkpoint written."""
    steps: list[StepInfo] = []
    path = tmp_path / "run.npz"
    trainer = Trainer(
        _net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=3, rng=7,
        checkpoint_path=path, on_step=steps.append,
    )  # fmt: skip
    start = time.perf_counter()
    history = trainer.fit()
    wall = time.perf_counter() - start
    sizes = [5, 5, 5, 5, 3]
    for epoch, stats in enumerate(history.epochs, 1):
        losses = [s.loss for s in steps if s.epoch == epoch]
        expected = math.fsum(loss * n for loss, n in zip(losses, sizes, strict=True)) / N_TRAIN
        # The trainer adds the same five positive products in order, within 5u = 6e-16 of
        # the exact sum that fsum gives; 1e-14 is that with room, and far below any term.
        assert stats.train_loss == pytest.approx(expected, rel=1e-14)
        assert 0.0 < stats.seconds <= wall
    assert [s.global_step for s in steps] == list(range(1, 16))
    assert history.checkpoint == path
    assert load_checkpoint(path).meta["global_step"] == 15


def test_a_one_sample_training_set_trains() -> None:
    """N = 1 is a valid set: one step of one sample per epoch."""
    x, t = TRAIN[0][:1], TRAIN[1][:1]
    history = Trainer(_net(), SGD(lr=0.1), x, t, *TEST, batch_size=BATCH, epochs=2, rng=7).fit()
    assert [e.epoch for e in history.epochs] == [1, 2]


@pytest.mark.parametrize(
    ("x", "t", "shapes"),
    [
        (np.zeros((0, FEATURES)), np.zeros(0, np.int64), "(0, 4) and (0,)"),
        (np.zeros((3, FEATURES)), np.int64(1), "(3, 4) and ()"),
        (np.zeros((3, FEATURES)), np.float64(1.0), "(3, 4) and ()"),
        (np.float64(1.0), np.zeros(3, np.int64), "() and (3,)"),
    ],
    ids=["empty", "scalar-labels", "scalar-float-targets", "scalar-inputs"],
)
def test_empty_or_scalar_data_is_refused(x: npt.ArrayLike, t: npt.ArrayLike, shapes: str) -> None:
    """An empty set, scalar targets or scalar inputs raise ShapeError naming both shapes."""
    message = (
        "Trainer: expected x_train and t_train to hold the same number N >= 1 of samples "
        f"along axis 0, got shapes {shapes}."
    )
    raises_exactly(ShapeError, message, lambda: Trainer(_net(), SGD(lr=0.1), x, t, *TEST))


def test_defaults_are_batch_100_for_20_epochs() -> None:
    """The documented defaults: batch_size 100, epochs 20."""
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST)
    assert (trainer.batch_size, trainer.epochs) == (100, 20)


@pytest.mark.parametrize("resumed", [False, True], ids=["fresh", "resumed"])
def test_an_interrupt_before_the_first_update_still_saves(tmp_path: Path, resumed: bool) -> None:
    """A KeyboardInterrupt in the first gradient of a run (fresh, or just resumed) comes
    before any update, so the parameters are whole: fit saves them and returns."""
    path = tmp_path / "run.npz"
    net = _net()
    if resumed:
        Trainer(net, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=1, rng=7,
                checkpoint_path=path).fit()  # fmt: skip
    before = {k: p.copy() for k, p in net.params.items()}
    trainer = Trainer(
        _Recorder(net, interrupt_at=1), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH,
        epochs=2, rng=7, checkpoint_path=path,
    )  # fmt: skip
    if resumed:
        assert trainer.resume(path) == 1
    history = _fit_or_fail(trainer)
    assert history.interrupted
    assert history.checkpoint == path
    saved = load_checkpoint(path)
    assert saved.meta["interrupted"] == 1
    assert saved.meta["epoch"] == (1 if resumed else 0)
    for key, value in before.items():
        np.testing.assert_array_equal(saved.params[key], value)


def test_a_run_stopped_after_an_epochs_last_step_resumes(tmp_path: Path) -> None:
    """Stopped after step 5 of 5, before the epoch's evaluation, the checkpoint has
    batch = steps_per_epoch: resuming it finishes as the uninterrupted run does."""
    path = tmp_path / "run.npz"

    def stop_at_the_last_step(info: StepInfo) -> None:
        if (info.epoch, info.step) == (1, 5):
            raise KeyboardInterrupt

    def trainer(net: MultiLayerNet, **kwargs: object) -> Trainer:
        return Trainer(
            net, Momentum(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=7,
            checkpoint_path=path, **kwargs,  # type: ignore[arg-type]  # on_step only
        )  # fmt: skip

    whole = _net()
    expected = trainer(whole).fit()
    stopped = _net()
    assert _fit_or_fail(trainer(stopped, on_step=stop_at_the_last_step)).interrupted
    assert load_checkpoint(path).meta["batch"] == 5
    resumed_net = _net()
    resumed = trainer(resumed_net)
    assert resumed.resume(path) == 0
    assert resumed.batches_done == 5
    history = resumed.fit()
    assert [(e.train_loss, e.train_acc) for e in history.epochs] == [
        (e.train_loss, e.train_acc) for e in expected.epochs
    ]
    for key, value in whole.params.items():
        np.testing.assert_array_equal(resumed_net.params[key], value)


@pytest.mark.parametrize("written", ["kept", "none-yet", "no-path"])
def test_divergence_says_where_the_checkpoint_stands(tmp_path: Path, written: str) -> None:
    """The TrainingDiverged message says which checkpoint is kept, or why there is none."""
    path = tmp_path / "run.npz"
    net = _net()
    poison_epoch = 2 if written == "kept" else 1

    def poison(info: StepInfo) -> None:
        if (info.epoch, info.step) == (poison_epoch, 1):
            net.params["W2"][0, 0] = np.nan

    trainer = Trainer(
        net, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=7, on_step=poison,
        checkpoint_path=None if written == "no-path" else path,
    )  # fmt: skip
    kept = {
        "kept": f"the last checkpoint, {path}, is kept as it was",
        "none-yet": f"no checkpoint was written to {path}",
        "no-path": "no checkpoint path was set",
    }[written]
    message = (
        f"training diverged at epoch {poison_epoch}, step 2 of 5: the mini-batch loss is nan; "
        f"{kept}. A smaller learning rate usually helps."
    )
    raises_exactly(TrainingDiverged, message, trainer.fit)


BAD_ROWS = {
    "short": [1, 0.5, 0.5, 0.5],
    "bool": [1, True, 0.5, 0.5, 1.0],
    "nan": [1, math.nan, 0.5, 0.5, 1.0],
    "string": [1, "0.5", 0.5, 0.5, 1.0],
    "index": [2, 0.5, 0.5, 0.5, 1.0],
    "object": {"epoch": 1},
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_resume_refuses_a_malformed_history_row(tmp_path: Path, kind: str) -> None:
    """Each way a history row can be wrong (length, a bool, a non-finite or non-number
    value, the epoch number, not a list) is a CheckpointError naming the row."""
    path = tmp_path / "run.npz"
    net = _net()
    Trainer(net, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=1, rng=7,
            checkpoint_path=path).fit()  # fmt: skip
    saved = load_checkpoint(path)
    row = BAD_ROWS[kind]
    save_checkpoint(path, saved.params, meta={**saved.meta, "history": json.dumps([row])})
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, rng=7)
    message = (
        f"Trainer.resume({str(path)!r}): expected meta 'history' row 0 to be "
        f"[1, loss, train_acc, test_acc, seconds], got {json.loads(json.dumps(row))!r}."
    )
    raises_exactly(CheckpointError, message, lambda: trainer.resume(path))


def _fit_or_fail(trainer: Trainer) -> History:
    """``trainer.fit()``, with an interrupt that escapes it turned into a test failure
    (pytest would otherwise take it for the user's Ctrl-C and stop the whole run)."""
    try:
        return trainer.fit()
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt escaped fit: it took whole parameters for half-updated")


def test_a_perfect_network_scores_exactly_one_in_any_chunking() -> None:
    """Accuracy is a count of hits over all N samples: a network right on every chunk
    scores exactly 1.0 on both sets, whatever eval_batch_size cuts them into."""
    recorder = _Recorder(_net(), perfect=True)
    history = Trainer(
        recorder, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=1, rng=7,
        eval_batch_size=4,
    ).fit()  # fmt: skip
    assert (history.train_acc, history.test_acc) == ([1.0], [1.0])


def test_the_default_eval_batch_size_is_10_000() -> None:
    """10,001 samples are evaluated in chunks of 10,000 and 1 by default."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10_001, FEATURES))
    t = rng.integers(0, CLASSES, 10_001)
    recorder = _Recorder(_net())
    Trainer(recorder, SGD(lr=0.1), x, t, *TEST, batch_size=10_001, epochs=1, rng=7).fit()
    assert recorder.chunks == [10_000, 1, 11]


def test_the_elapsed_time_of_a_stopped_epoch_carries_into_its_resumed_record(
    tmp_path: Path,
) -> None:
    """A checkpoint written mid-epoch keeps the epoch's elapsed seconds; the resumed epoch's
    record adds the time after resuming to them."""
    path = tmp_path / "run.npz"

    def stop(info: StepInfo) -> None:
        if info.step == 2:
            time.sleep(0.05)  # a measurable share of the epoch, counted by step 3's clock
        if info.step == 3:
            raise KeyboardInterrupt

    start = time.perf_counter()
    assert _fit_or_fail(
        Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=1, rng=7,
                checkpoint_path=path, on_step=stop)
    ).interrupted  # fmt: skip
    first_wall = time.perf_counter() - start
    elapsed = load_checkpoint(path).meta["elapsed"]
    assert isinstance(elapsed, float)
    assert 0.05 <= elapsed <= first_wall
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=1, rng=7)
    trainer.resume(path)
    start = time.perf_counter()
    (record,) = trainer.fit().epochs
    assert elapsed <= record.seconds <= elapsed + (time.perf_counter() - start)


def test_sigint_is_deferred_by_default() -> None:
    """handle_sigint defaults to True: a SIGINT inside a step lets the step finish."""
    finished: list[int] = []

    def interrupt(info: StepInfo) -> None:
        if info.step == 2:
            signal.raise_signal(signal.SIGINT)
        finished.append(info.step)

    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, on_step=interrupt)
    assert _fit_or_fail(trainer).interrupted
    assert finished == [1, 2]


def test_one_hot_float_targets_train_as_labels_do() -> None:
    """Float one-hot rows are cast once to the network's dtype and train bit for bit as the
    labels they encode."""
    one_hot = np.eye(CLASSES)[TRAIN[1]]
    by_rows, by_labels = _net(), _net()
    Trainer(by_rows, SGD(lr=0.1), TRAIN[0], one_hot, *TEST, batch_size=BATCH, epochs=2,
            rng=7).fit()  # fmt: skip
    Trainer(by_labels, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=7).fit()
    for key, value in by_labels.params.items():
        np.testing.assert_array_equal(by_rows.params[key], value)


def test_float_targets_are_judged_in_the_networks_dtype() -> None:
    """float64 soft rows given to a float32 network are cast to float32 first, so their
    row sums need only be float32-exact (1 + 1e-9 is accepted)."""
    net = MultiLayerNet(FEATURES, (8,), CLASSES, rng=0, dtype=np.float32)
    soft = np.full((N_TRAIN, CLASSES), 1 / 3)
    soft[:, 0] += 1e-9  # far above float64's row-sum allowance, far below float32's
    history = Trainer(net, SGD(lr=0.1), TRAIN[0], soft, *TEST, batch_size=BATCH, epochs=1,
                      rng=7).fit()  # fmt: skip
    assert len(history.epochs) == 1


def test_a_generator_rng_gives_its_next_draw_as_the_seed() -> None:
    """rng=Generator: the seed is the generator's next draw in [0, 2**63)."""
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, rng=np.random.default_rng(5))
    assert trainer.seed == int(np.random.default_rng(5).integers(0, 2**63))


@final
class _Silent:
    """A network whose gradient leaves no loss behind."""

    def __init__(self, net: MultiLayerNet) -> None:
        self._net = net
        self.params = net.params
        self.last_layer = SoftmaxWithLoss()

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        return self._net.accuracy(x, t)

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        return self._net.gradient(x, t)


def test_setting_errors_are_exact() -> None:
    """Each refused setting is named with what was received."""
    net = _net()

    def make(**kwargs: object) -> Callable[[], object]:
        return lambda: Trainer(net, SGD(lr=0.1), *TRAIN, *TEST, **kwargs)  # type: ignore[arg-type]  # deliberately wrong

    for name in ("batch_size", "epochs", "eval_batch_size"):
        raises_exactly(
            ArgumentError, f"Trainer: expected `{name}` to be a positive int, got 0.",
            make(**{name: 0}),
        )  # fmt: skip
    raises_exactly(
        ArgumentError,
        "Trainer: expected `rng` to be a numpy.random.Generator, a non-negative int seed or "
        "None, got 'seed'.",
        make(rng="seed"),
    )
    raises_exactly(
        DtypeError,
        "Trainer: expected `x_train` to be a real array (float32, float64, integer or bool), "
        "got dtype complex128.",
        lambda: Trainer(net, SGD(lr=0.1), TRAIN[0].astype(complex), TRAIN[1], *TEST),
    )
    mixed: dict[str, FloatArray] = {"W": np.ones(2), "b": np.ones(2, np.float32)}
    raises_exactly(
        DtypeError,
        "Trainer: expected the network's parameters to share one float dtype, "
        "got ['float32', 'float64'].",
        lambda: Trainer(_Params(mixed), SGD(lr=0.1), *TRAIN, *TEST),
    )
    raises_exactly(
        DtypeError,
        "Trainer: expected the network's parameters to share one float dtype, got no parameters.",
        lambda: Trainer(_Params({}), SGD(lr=0.1), *TRAIN, *TEST),
    )
    raises_exactly(
        DtypeError,
        "Trainer: expected float32 or float64 parameters, got float16.",
        lambda: Trainer(_Params({"W": np.ones(2, np.float16)}), SGD(lr=0.1), *TRAIN, *TEST),
    )
    raises_exactly(
        ArgumentTypeError,
        "Trainer: expected _Silent.gradient to leave the batch loss in last_layer.loss, got None.",
        Trainer(_Silent(net), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH).fit,
    )


@final
class _Params:
    """Just enough of a network to be refused for its parameters."""

    def __init__(self, params: dict[str, FloatArray]) -> None:
        self.params = params
        self.last_layer = SoftmaxWithLoss()

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        raise AssertionError("never reached")

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        raise AssertionError("never reached")


def _tampered(tmp_path: Path, **changes: MetaValue) -> Path:
    """A trainer checkpoint stopped at epoch 2, step 2 (batch size 5), with ``changes``."""
    path = tmp_path / "run.npz"

    def stop(info: StepInfo) -> None:
        if (info.epoch, info.step) == (2, 2):
            raise KeyboardInterrupt

    Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, rng=7, checkpoint_path=path,
            on_step=stop).fit()  # fmt: skip
    saved = load_checkpoint(path)
    save_checkpoint(path, saved.params, meta={**saved.meta, **changes})
    return path


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"format": "other"}, "expected meta 'format' 'bpcore.training/1' (a checkpoint "
         "written by bpcore.training.Trainer), got 'other'."),
        ({"epoch": -1}, "expected meta 'epoch' to be a non-negative int, got -1."),
        ({"loss_sum": "x"}, "expected meta 'loss_sum' to be a finite number, got 'x'."),
        ({"history": 3}, "expected meta 'history' to be a JSON string."),
        ({"history": "[]"}, "expected 1 history rows (meta 'epoch'), got 0."),
        ({"history": "not json"}, "expected meta 'history' to hold JSON, got Expecting value: "
         "line 1 column 1 (char 0)."),
        ({"history": '{"rows": 1}'}, "expected meta 'history' to be a JSON list."),
        ({"batch_size": 4}, "the checkpoint stopped after batch 2 of epoch 2 with batch size 4 "
         "and 23 training samples; resuming it needs the same, got batch size 5 and 23 "
         "samples."),
    ],
    ids=["format", "epoch", "loss_sum", "history-type", "history-rows", "history-json",
         "history-list", "batch-size"],
)  # fmt: skip
def test_resume_errors_are_exact(
    tmp_path: Path, changes: dict[str, MetaValue], problem: str
) -> None:
    """Each way a trainer checkpoint's metadata can be wrong has its own exact message."""
    path = _tampered(tmp_path, **changes)
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, rng=7)
    raises_exactly(
        CheckpointError, f"Trainer.resume({str(path)!r}): {problem}", lambda: trainer.resume(path)
    )


def test_resume_refuses_a_batch_beyond_the_epoch(tmp_path: Path) -> None:
    """A checkpoint claiming more batches than an epoch has is refused."""
    path = _tampered(tmp_path, batch=6)
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, rng=7)
    raises_exactly(
        CheckpointError,
        f"Trainer.resume({str(path)!r}): expected meta 'batch' <= 5, got 6.",
        lambda: trainer.resume(path),
    )


def test_resuming_a_loaded_checkpoint_names_it_checkpoint(tmp_path: Path) -> None:
    """Given a loaded Checkpoint rather than a path, the messages call it 'checkpoint'."""
    loaded = load_checkpoint(_tampered(tmp_path, format="other"))
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, rng=7)
    raises_exactly(
        CheckpointError,
        "Trainer.resume('checkpoint'): expected meta 'format' 'bpcore.training/1' (a checkpoint "
        "written by bpcore.training.Trainer), got 'other'.",
        lambda: trainer.resume(loaded),
    )


def _step(epoch: int, step: int, loss: float = 0.5, steps: int = 10) -> StepInfo:
    return StepInfo(epoch=epoch, step=step, steps_per_epoch=steps, global_step=step, loss=loss)


def test_progress_bar_defaults_are_30_characters_and_a_tenth_of_a_second() -> None:
    """By default the bar is 30 characters wide and redraws at most every 0.1 s."""
    out = io.StringIO()
    now = [0.0]
    bar = ProgressBar(out, epochs=1, clock=lambda: now[0])
    bar.update(_step(1, 1))
    now[0] = 0.05
    bar.update(_step(1, 2))
    now[0] = 0.1
    bar.update(_step(1, 3))
    frames = out.getvalue().split("\r")[1:]
    assert frames == [
        "epoch 1/1 [###...........................] 1/10 loss 0.5000",
        "epoch 1/1 [#########.....................] 3/10 loss 0.5000",
    ]


def test_progress_bar_draws_a_first_update_mid_epoch_at_once() -> None:
    """A bar that starts mid-epoch (a resumed run) draws its first update immediately, and
    then waits min_interval from that draw, on any clock."""
    out = io.StringIO()
    now = [10.0]
    bar = ProgressBar(out, epochs=1, width=10, min_interval=1.0, clock=lambda: now[0])
    bar.update(_step(1, 3))
    now[0] = 10.5
    bar.update(_step(1, 4))
    assert out.getvalue().split("\r")[1:] == ["epoch 1/1 [###.......] 3/10 loss 0.5000"]


def test_progress_bar_pads_a_shorter_line_on_the_right_and_clears_only_what_it_drew() -> None:
    """A shorter line is padded after its end to cover the previous one; clear() erases a
    shown line once and writes nothing when no line is shown."""
    out = io.StringIO()
    bar = ProgressBar(out, epochs=2, width=10, min_interval=0.0)
    bar.clear()
    assert out.getvalue() == ""
    bar.update(_step(1, 10))
    bar.update(_step(2, 1))
    longer, shorter = out.getvalue().split("\r")[1:]
    assert shorter == "epoch 2/2 [#.........] 1/10 loss 0.5000 "
    assert len(shorter) == len(longer)
    bar.clear()
    bar.clear()
    # The erase covers the last line drawn; its padding is blank already.
    erase = " " * len(shorter.rstrip())
    assert out.getvalue().endswith(longer + "\r" + shorter + "\r" + erase + "\r")

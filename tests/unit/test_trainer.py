"""The Trainer: shuffling, epoch records, evaluation, divergence, checkpoints, resume and Ctrl-C."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import final

import numpy as np
import numpy.typing as npt
import pytest

from bpcore._arrays import FloatArray
from bpcore.checkpoint import MetaValue, load_checkpoint, save_checkpoint
from bpcore.errors import (
    ArgumentError,
    ArgumentTypeError,
    BpcoreError,
    CheckpointError,
    DtypeError,
    ShapeError,
    UnusableGradient,
)
from bpcore.layers import SoftmaxWithLoss
from bpcore.networks import MultiLayerNet, TwoLayerNet
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, Optimizer
from bpcore.training import (
    CHECKPOINT_FORMAT,
    EpochStats,
    History,
    StepInfo,
    TrainableNetwork,
    Trainer,
    TrainingDiverged,
    TrainingState,
)
from tests.helpers import TOY_CLASSES, TOY_FEATURES, assert_error, toy_data, toy_net

N_TRAIN, N_TEST, BATCH = 23, 11, 5  # 23 = 4·5 + 3: five steps an epoch, the last of 3
STEPS = 5
FEATURES, CLASSES = TOY_FEATURES, TOY_CLASSES
TRAIN, TEST = toy_data(N_TRAIN, 1), toy_data(N_TEST, 2)
_net = toy_net

OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "sgd": lambda: SGD(lr=0.1),
    "momentum": lambda: Momentum(lr=0.05),
    "adagrad": lambda: AdaGrad(lr=0.05),
    "adam": lambda: Adam(lr=0.01),
}


def _trainer(
    net: TrainableNetwork,
    *,
    optimizer: Optimizer | None = None,
    epochs: int = 3,
    seed: int = 7,
    checkpoint: Path | None = None,
    on_step: Callable[[StepInfo], object] | None = None,
    on_epoch: Callable[[EpochStats], object] | None = None,
    eval_batch_size: int = 10_000,
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
        eval_batch_size=eval_batch_size,
    )


@final
class _Recorder:
    """A network that records its training batches and evaluation chunks; it can interrupt
    a gradient, or score every chunk perfectly."""

    params: dict[str, FloatArray]
    last_layer: SoftmaxWithLoss
    batches: list[FloatArray]
    chunks: list[int]
    loss_chunks: list[int]
    interrupt_at: int | None
    perfect: bool
    _net: MultiLayerNet

    def __init__(
        self, net: MultiLayerNet, *, interrupt_at: int | None = None, perfect: bool = False
    ) -> None:
        self._net = net
        self.params = net.params
        self.last_layer = net.last_layer
        self.batches = []
        self.chunks = []
        self.loss_chunks = []
        self.interrupt_at = interrupt_at
        self.perfect = perfect

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        self.chunks.append(np.asarray(x).shape[0])
        return 1.0 if self.perfect else self._net.accuracy(x, t)

    def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        self.loss_chunks.append(np.asarray(x).shape[0])
        return self._net.loss(x, t)

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        self.batches.append(np.array(x, copy=True))
        if len(self.batches) == self.interrupt_at:
            raise KeyboardInterrupt
        return self._net.gradient(x, t)


def _copy(params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {k: p.copy() for k, p in params.items()}


def _assert_same_params(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _without_time(history: History) -> list[tuple[int, float, float, float, float | None]]:
    return [(e.epoch, e.train_loss, e.train_acc, e.test_acc, e.test_loss) for e in history.epochs]


def _saved_state(path: Path) -> TrainingState:
    return TrainingState.from_meta(load_checkpoint(path).meta)


def _fit_or_fail(trainer: Trainer) -> History:
    """``trainer.fit()``, with an interrupt that escapes it turned into a test failure
    (pytest would otherwise take it for the user's Ctrl-C and stop the whole run)."""
    try:
        return trainer.fit()
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt escaped fit: it took whole parameters for half-updated")


def _stop_at(epoch: int, step: int) -> Callable[[StepInfo], None]:
    """An on_step callback that raises KeyboardInterrupt after ``(epoch, step)``."""

    def stop(info: StepInfo) -> None:
        if (info.epoch, info.step) == (epoch, step):
            raise KeyboardInterrupt

    return stop


# --- shuffling and determinism ------------------------------------------------------


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
    """Each epoch's batches cover every training sample exactly once, in epoch_order's
    order, shuffled anew each epoch; the last batch is the smaller one."""
    spy = _Recorder(_net())
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


def test_epoch_order_is_the_documented_permutation() -> None:
    """Epoch e visits the samples in np.random.default_rng([seed, e]).permutation(N), an
    (N,) int64 array."""
    trainer = _trainer(_net(), seed=123)
    for epoch in (1, 2, 7):
        order = trainer.epoch_order(epoch)
        assert order.dtype == np.int64
        expected = np.random.default_rng([123, epoch]).permutation(N_TRAIN)
        np.testing.assert_array_equal(order, expected)


def test_rng_none_draws_a_fresh_seed_and_a_two_layer_net_trains() -> None:
    """rng=None gives every trainer a fresh seed; a TwoLayerNet is a trainable network."""
    seeds = {Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST).seed for _ in range(3)}
    assert len(seeds) == 3
    net = TwoLayerNet(FEATURES, 6, CLASSES, weight_init_std=0.5, rng=0)
    history = Trainer(net, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=1).fit()
    assert len(history.epochs) == 2


def test_a_checkpoint_that_cannot_be_written_is_an_os_error(tmp_path: Path) -> None:
    """fit lets the file system's error through when the checkpoint cannot be written."""
    trainer = _trainer(_net(), epochs=1, checkpoint=tmp_path / "missing" / "run.npz")
    with pytest.raises(OSError, match="No such file or directory"):
        trainer.fit()


def test_a_generator_rng_gives_its_next_draw_as_the_seed() -> None:
    """rng=Generator: the seed is the generator's next draw in [0, 2**63)."""
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, rng=np.random.default_rng(5))
    assert trainer.seed == int(np.random.default_rng(5).integers(0, 2**63))


def test_defaults_are_batch_100_for_20_epochs() -> None:
    """The documented defaults: batch_size 100, epochs 20."""
    trainer = Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST)
    assert (trainer.batch_size, trainer.epochs) == (100, 20)


def test_a_one_sample_training_set_trains() -> None:
    """N = 1 is a valid set: one step of one sample per epoch."""
    x, t = TRAIN[0][:1], TRAIN[1][:1]
    history = Trainer(_net(), SGD(lr=0.1), x, t, *TEST, batch_size=BATCH, epochs=2, rng=7).fit()
    assert [e.epoch for e in history.epochs] == [1, 2]


# --- epoch records and evaluation ---------------------------------------------------


def test_every_epoch_records_its_own_loss_time_and_steps(tmp_path: Path) -> None:
    """Each epoch's train_loss is the sample-weighted mean of that epoch's batch losses,
    its seconds lie within the run's wall time, steps count 1..5 in every epoch and
    global_step counts every step once."""
    steps: list[StepInfo] = []
    path = tmp_path / "run.npz"
    trainer = _trainer(_net(), checkpoint=path, on_step=steps.append)
    start = time.perf_counter()
    history = trainer.fit()
    wall = time.perf_counter() - start
    sizes = [5, 5, 5, 5, 3]
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    for epoch, stats in enumerate(history.epochs, 1):
        losses = [s.loss for s in steps if s.epoch == epoch]
        expected = math.fsum(loss * n for loss, n in zip(losses, sizes, strict=True)) / N_TRAIN
        # The trainer adds the same five positive products in order, within 5u = 6e-16 of
        # the exact sum that fsum gives; 1e-14 is that with room, and far below any term.
        assert stats.train_loss == pytest.approx(expected, rel=1e-14)
        assert 0.0 < stats.seconds <= wall
    assert [s.step for s in steps] == [1, 2, 3, 4, 5] * 3
    assert {s.steps_per_epoch for s in steps} == {STEPS}
    assert [s.global_step for s in steps] == list(range(1, 16))
    assert _saved_state(path).global_step == 15


def test_accuracy_is_counted_over_chunks_of_eval_batch_size() -> None:
    """With eval_batch_size 4, each set is evaluated in order in chunks 4, 4, ..., and the
    epoch's accuracy is the count of hits over all of them, as one call over the whole set."""
    net = _net()
    recorder = _Recorder(net)
    whole: list[tuple[float, float]] = []

    def measure(stats: EpochStats) -> None:
        whole.append((net.accuracy(*TRAIN), net.accuracy(*TEST)))

    history = _trainer(recorder, epochs=2, eval_batch_size=4, on_epoch=measure).fit()
    per_epoch = [4, 4, 4, 4, 4, 3, 4, 4, 3]  # 23 training samples, then 11 test samples
    assert recorder.chunks == per_epoch * 2
    assert list(zip(history.train_acc, history.test_acc, strict=True)) == whole


def test_the_test_loss_is_the_mean_loss_over_the_test_set() -> None:
    """After each epoch the test loss is network.loss over the whole test set; in chunks
    of eval_batch_size it is the chunks' losses weighed by their sizes."""
    net = _net()
    whole: list[float] = []
    history = _trainer(net, epochs=2, on_epoch=lambda _: whole.append(net.loss(*TEST))).fit()
    assert history.test_loss == whole  # one chunk (eval_batch_size 10,000 > 11): exact

    net = _net()
    recorder = _Recorder(net)
    whole = []
    history = _trainer(
        recorder, epochs=2, eval_batch_size=4, on_epoch=lambda _: whole.append(net.loss(*TEST))
    ).fit()
    assert recorder.loss_chunks == [4, 4, 3] * 2  # the test set only
    # Per chunk, the mean of <= 4 positive losses of a 3-class softmax over logits from dot
    # products of 4 and 8 terms: each within some 20 u of its value however BLAS groups the
    # rows, so the weighted sum of positive means is within about 30 u = 3e-15. A relative
    # 1e-13 is that with a wide margin, and far below the 1e-2 any error in the weighting makes.
    assert history.test_loss == pytest.approx(whole, rel=1e-13)


def test_a_perfect_network_scores_exactly_one_in_any_chunking() -> None:
    """Accuracy is a count of hits over all N samples: a network right on every chunk
    scores exactly 1.0 on both sets, whatever eval_batch_size cuts them into."""
    recorder = _Recorder(_net(), perfect=True)
    history = _trainer(recorder, epochs=1, eval_batch_size=4).fit()
    assert (history.train_acc, history.test_acc) == ([1.0], [1.0])


def test_the_default_eval_batch_size_is_10_000() -> None:
    """10,001 samples are evaluated in chunks of 10,000 and 1 by default."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10_001, FEATURES))
    t = rng.integers(0, CLASSES, 10_001)
    recorder = _Recorder(_net())
    Trainer(recorder, SGD(lr=0.1), x, t, *TEST, batch_size=10_001, epochs=1, rng=7).fit()
    assert recorder.chunks == [10_000, 1, 11]


# --- data and dtypes ----------------------------------------------------------------


def test_float32_training_stays_float32() -> None:
    """A float32 network trained on float64 data gets float32 batches and keeps float32 params."""
    spy = _Recorder(_net(dtype=np.float32))
    trainer = Trainer(spy, Adam(lr=0.01), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=0)
    history = trainer.fit()
    assert trainer.dtype == np.float32
    assert {b.dtype for b in spy.batches} == {np.dtype(np.float32)}
    assert {p.dtype for p in spy.params.values()} == {np.dtype(np.float32)}
    assert all(np.isfinite(history.train_loss))


def test_one_hot_float_targets_train_as_labels_do() -> None:
    """Float one-hot rows are cast once to the network's dtype and train bit for bit as the
    labels they encode."""
    one_hot = np.eye(CLASSES)[TRAIN[1]]
    by_rows, by_labels = _net(), _net()
    Trainer(by_rows, SGD(lr=0.1), TRAIN[0], one_hot, *TEST, batch_size=BATCH, epochs=2,
            rng=7).fit()  # fmt: skip
    Trainer(by_labels, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=7).fit()
    _assert_same_params(by_rows.params, by_labels.params)


def test_float_targets_are_judged_in_the_networks_dtype() -> None:
    """float64 soft rows given to a float32 network are cast to float32 first, so their
    row sums need only be float32-exact (1 + 1e-9 is accepted)."""
    net = MultiLayerNet(FEATURES, (8,), CLASSES, rng=0, dtype=np.float32)
    soft = np.full((N_TRAIN, CLASSES), 1 / 3)
    soft[:, 0] += 1e-9  # far above float64's row-sum allowance, far below float32's
    history = Trainer(net, SGD(lr=0.1), TRAIN[0], soft, *TEST, batch_size=BATCH, epochs=1,
                      rng=7).fit()  # fmt: skip
    assert len(history.epochs) == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_data_in_the_networks_dtype_is_used_without_a_copy_and_never_written(
    dtype: type[np.floating],
) -> None:
    """Inputs already in the network's dtype are the trainer's data themselves (an edit made
    after the Trainer is built reaches the batches), and fit never writes to them."""
    x, t = TRAIN[0].astype(dtype), TRAIN[1].copy()
    recorder = _Recorder(_net(dtype=dtype))
    trainer = Trainer(recorder, SGD(lr=0.1), x, t, *TEST, batch_size=N_TRAIN, epochs=1, rng=7)
    x[...] = 0.5  # every sample now has the same features
    before = x.tobytes(), t.tobytes()
    trainer.fit()
    assert np.all(recorder.batches[0] == 0.5)
    assert (x.tobytes(), t.tobytes()) == before


@pytest.mark.parametrize("rng", [None, 5, "generator"])
def test_training_never_touches_the_global_random_state(rng: object) -> None:
    """Shuffling draws from its own generators, whatever rng is: NumPy's global random
    state is neither read nor advanced by building a trainer and fitting."""
    # The legacy global functions are what this test watches, hence the noqa comments.
    np.random.seed(11)  # noqa: NPY002
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(11)  # noqa: NPY002
    seed = np.random.default_rng(2) if rng == "generator" else rng
    assert seed is None or isinstance(seed, int | np.random.Generator)
    Trainer(_net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=seed).fit()
    assert np.array_equal(np.random.random(3), expected)  # noqa: NPY002


# --- refused settings ---------------------------------------------------------------


@final
class _Params:
    """Just enough of a network to be refused for its parameters."""

    def __init__(self, params: dict[str, FloatArray]) -> None:
        self.params = params
        self.last_layer = SoftmaxWithLoss()

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        raise AssertionError("never reached")

    loss = accuracy

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        raise AssertionError("never reached")


@pytest.mark.parametrize(
    ("kwargs", "expected", "got"),
    [
        ({"batch_size": 0}, "`batch_size` to be a positive int", "0"),
        ({"batch_size": 2.0}, "`batch_size` to be a positive int", "2.0"),
        ({"epochs": 0}, "`epochs` to be a positive int", "0"),
        ({"epochs": True}, "`epochs` to be a positive int", "True"),
        ({"eval_batch_size": -1}, "`eval_batch_size` to be a positive int", "-1"),
        ({"rng": -1}, "`rng` to be a numpy.random.Generator, a non-negative int seed", "-1"),
        ({"rng": "seed"}, "`rng` to be a numpy.random.Generator", "'seed'"),
        ({"rng": True}, "`rng` to be a numpy.random.Generator", "True"),
        ({"meta": {"epoch": 1, "note": "x"}}, "`meta` keys other than the trainer's", "['epoch']"),
    ],
)
def test_a_refused_setting_is_named_with_what_was_given(
    kwargs: dict[str, object], expected: str, got: str
) -> None:
    """Bad sizes, epoch counts, seeds and meta keys that clash with the training state raise
    ArgumentError naming the setting and the value received."""
    assert_error(
        ArgumentError,
        lambda: Trainer(_net(), SGD(), *TRAIN, *TEST, **kwargs),  # type: ignore[arg-type]  # wrong on purpose
        callee="Trainer",
        expected=expected,
        got=got,
    )


@pytest.mark.parametrize(
    ("params", "expected", "got"),
    [
        ({"W": np.ones(2), "b": np.ones(2, np.float32)}, "to share one float dtype",
         "['float32', 'float64']"),
        ({}, "to share one float dtype", "no parameters"),
        ({"W": np.ones(2, np.float16)}, "parameters to be float32 or float64", "float16"),
    ],
    ids=["mixed", "none", "float16"],
)  # fmt: skip
def test_parameters_not_of_one_float_dtype_are_refused(
    params: dict[str, FloatArray], expected: str, got: str
) -> None:
    """The trainer computes in its network's one dtype, float32 or float64."""
    assert_error(
        DtypeError,
        lambda: Trainer(_Params(params), SGD(lr=0.1), *TRAIN, *TEST),
        callee="Trainer",
        expected=expected,
        got=got,
    )


def test_complex_inputs_are_refused() -> None:
    """Inputs must be real numbers."""
    assert_error(
        DtypeError,
        lambda: Trainer(_net(), SGD(lr=0.1), TRAIN[0].astype(complex), TRAIN[1], *TEST),
        callee="Trainer",
        expected="`x_train` to be a real array",
        got="complex128",
    )


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
    assert_error(
        ShapeError,
        lambda: Trainer(_net(), SGD(lr=0.1), x, t, *TEST),
        callee="Trainer",
        expected="x_train and t_train to hold the same number N >= 1 of samples",
        got=f"shapes {shapes}",
    )


def test_mismatched_data_lengths_are_refused() -> None:
    """Test inputs and targets of different lengths raise ShapeError naming the test set."""
    assert_error(
        ShapeError,
        lambda: Trainer(_net(), SGD(), *TRAIN, TEST[0], TEST[1][:-1]),
        callee="Trainer",
        expected="x_test and t_test to hold the same number",
        got="shapes (11, 4) and (10,)",
    )


@final
class _Silent:
    """A network whose gradient leaves no loss behind."""

    def __init__(self, net: MultiLayerNet) -> None:
        self._net = net
        self.params = net.params
        self.last_layer = SoftmaxWithLoss()

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        return self._net.accuracy(x, t)

    def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        return self._net.loss(x, t)

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        return self._net.gradient(x, t)


def test_a_gradient_that_leaves_no_loss_is_refused() -> None:
    """fit needs each batch's loss in last_layer.loss; a network that leaves None is named."""
    assert_error(
        ArgumentTypeError,
        _trainer(_Silent(_net())).fit,
        callee="Trainer",
        expected="_Silent.gradient to leave the batch loss in last_layer.loss",
        got="None",
    )


# --- divergence ---------------------------------------------------------------------


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
    assert _saved_state(path).epochs_done == 1


@pytest.mark.parametrize(
    ("value", "optimizer", "reason"),
    [
        (np.inf, SGD(lr=0.1), "expected finite gradients"),
        (1e200, Adam(), "expected gradients whose squares float64 can hold"),
    ],
    ids=["infinite", "square overflows"],
)
def test_a_refused_gradient_with_a_finite_loss_is_divergence_with_nothing_updated(
    value: float, optimizer: Optimizer, reason: str
) -> None:
    """The optimizer refuses the step; the trainer reports divergence with the
    optimizer's reason, naming the gradient, at that step, with the parameters as
    before it."""
    net = _net()

    class RefusedGradient:
        params = net.params
        last_layer = net.last_layer

        def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
            return net.accuracy(x, t)

        def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
            return net.loss(x, t)

        def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
            grads = net.gradient(x, t)
            grads["b1"][0] = value
            return grads

    before = _copy(net.params)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 1 of 5: ") as caught:
        _trainer(RefusedGradient(), optimizer=optimizer).fit()
    assert reason in str(caught.value)
    assert "grads['b1']" in str(caught.value)
    _assert_same_params(net.params, before)


@pytest.mark.parametrize("written", ["kept", "none-yet", "no-path"])
def test_divergence_says_where_the_checkpoint_stands(tmp_path: Path, written: str) -> None:
    """The TrainingDiverged message names the epoch, the step, the loss and which checkpoint
    is kept, or why there is none, and suggests a smaller learning rate."""
    path = tmp_path / "run.npz"
    net = _net()
    poison_epoch = 2 if written == "kept" else 1

    def poison(info: StepInfo) -> None:
        if (info.epoch, info.step) == (poison_epoch, 1):
            net.params["W2"][0, 0] = np.nan

    trainer = _trainer(
        net, epochs=2, on_step=poison, checkpoint=None if written == "no-path" else path
    )
    kept = {
        "kept": f"the last checkpoint, {path}, is kept as it was",
        "none-yet": f"no checkpoint was written to {path}",
        "no-path": "no checkpoint path was set",
    }[written]
    with pytest.raises(TrainingDiverged) as caught:
        trainer.fit()
    message = str(caught.value)
    assert f"training diverged at epoch {poison_epoch}, step 2 of 5" in message
    assert "the mini-batch loss is nan" in message
    assert kept in message
    assert "A smaller learning rate usually helps." in message
    assert caught.value.checkpoint == (path if written == "kept" else None)


class _RefusingOptimizer:
    """SGD that refuses its ``refuse``-th update with an UnusableGradient quoting a
    parameter name that holds ": "."""

    calls: int
    refuse: int
    _sgd: SGD

    def __init__(self, refuse: int) -> None:
        self.calls, self.refuse, self._sgd = 0, refuse, SGD(lr=0.1)

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        self.calls += 1
        if self.calls == self.refuse:
            raise UnusableGradient(
                "Custom.update: expected finite gradients, got NaN in grads['fc: W'] "
                "(nothing was updated)."
            )
        self._sgd.update(params, grads)


def test_divergence_quotes_the_optimizers_whole_reason() -> None:
    """The optimizer's reason is quoted whole after its callee, with its final period
    replaced by the message's own punctuation."""
    with pytest.raises(TrainingDiverged) as caught:
        _trainer(_net(), optimizer=_RefusingOptimizer(refuse=2)).fit()
    assert (
        "training diverged at epoch 1, step 2 of 5: expected finite gradients, got NaN in "
        "grads['fc: W'] (nothing was updated); no checkpoint path was set."
    ) in str(caught.value)


def test_after_a_refused_step_the_parameters_are_whole_and_an_interrupt_saves_them(
    tmp_path: Path,
) -> None:
    """A refused update changes nothing, so the trainer's parameters stay whole: a
    ``fit`` continued after the divergence saves them when it is interrupted before its
    first update."""
    path = tmp_path / "run.npz"
    net = _net()

    class InterruptibleNet:
        params = net.params
        last_layer = net.last_layer
        interrupt = False

        def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
            return net.accuracy(x, t)

        def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
            return net.loss(x, t)

        def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
            if self.interrupt:
                raise KeyboardInterrupt
            return net.gradient(x, t)

    wrapped = InterruptibleNet()
    trainer = _trainer(wrapped, optimizer=_RefusingOptimizer(refuse=3), checkpoint=path)
    with pytest.raises(TrainingDiverged, match="epoch 1, step 3 of 5"):
        trainer.fit()
    before = _copy(net.params)
    wrapped.interrupt = True
    history = _fit_or_fail(trainer)
    assert history.interrupted
    state = _saved_state(path)
    assert (state.epochs_done, state.batches_done, state.interrupted) == (0, 2, True)
    _assert_same_params(load_checkpoint(path).params, before)


def test_a_diverging_step_is_not_applied() -> None:
    """TrainingDiverged is raised before the update of the step whose loss is not finite:
    the parameters are those that gave that loss, bit for bit."""
    net = _net()
    poisoned: dict[str, FloatArray] = {}

    def poison(info: StepInfo) -> None:
        if (info.epoch, info.step) == (1, 2):
            net.params["W2"][0, 0] = np.nan
            poisoned.update(_copy(net.params))

    with pytest.raises(TrainingDiverged, match="epoch 1, step 3 of 5"):
        _trainer(net, on_step=poison).fit()
    assert {k: p.tobytes() for k, p in net.params.items()} == {
        k: p.tobytes() for k, p in poisoned.items()
    }


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
    assert math.isnan(caught.value.loss)  # no loss was non-finite: a parameter was
    assert _saved_state(path).epochs_done == 1


# --- checkpoints --------------------------------------------------------------------


def test_without_a_checkpoint_path_nothing_is_written(tmp_path: Path) -> None:
    """With no checkpoint_path, fit trains and reports no checkpoint."""
    history = _trainer(_net(), epochs=1).fit()
    assert history.checkpoint is None
    assert not history.interrupted
    assert list(tmp_path.iterdir()) == []


def test_each_epochs_checkpoint_records_the_run_and_the_callers_meta(tmp_path: Path) -> None:
    """After each epoch the checkpoint holds the parameters, the run's TrainingState and the
    caller's meta; History names the file."""
    path = tmp_path / "run.npz"
    net = _net()
    seen: list[tuple[TrainingState, dict[str, MetaValue]]] = []

    def inspect(stats: EpochStats) -> None:
        checkpoint = load_checkpoint(path)
        _assert_same_params(checkpoint.params, net.params)
        seen.append((TrainingState.from_meta(checkpoint.meta), checkpoint.meta))

    trainer = Trainer(
        net, SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, epochs=2, rng=7,
        checkpoint_path=path, on_epoch=inspect, meta={"note": "toy", "width": 8},
    )  # fmt: skip
    history = trainer.fit()
    assert history.checkpoint == path
    assert [state.epochs_done for state, _ in seen] == [1, 2]
    state, meta = seen[-1]
    assert state.history == history.epochs
    assert (state.batches_done, state.seed, state.batch_size, state.train_size) == (0, 7, 5, 23)
    assert (state.global_step, state.interrupted) == (10, False)
    assert state.dtype == np.dtype(np.float64)
    assert meta["format"] == CHECKPOINT_FORMAT
    assert (meta["note"], meta["width"]) == ("toy", 8)


def test_float32_checkpoint_round_trips(tmp_path: Path) -> None:
    """A float32 run's checkpoint holds float32 params and resumes into a float32 network."""
    path = tmp_path / "run.npz"
    net = _net(dtype=np.float32)
    _trainer(net, epochs=1, checkpoint=path).fit()
    other = _net(seed=3, dtype=np.float32)
    _trainer(other, epochs=1).resume(path)
    _assert_same_params(other.params, net.params)
    assert _saved_state(path).dtype == np.float32


# --- resume -------------------------------------------------------------------------


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


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resume_mid_epoch_reproduces_the_uninterrupted_run(tmp_path: Path, name: str) -> None:
    """Resuming a run interrupted at epoch 2, step 3 ends exactly as an uninterrupted run."""
    make = OPTIMIZERS[name]
    straight = _net()
    full = _trainer(straight, optimizer=make()).fit()

    path = tmp_path / "run.npz"
    stopped = _trainer(_net(), optimizer=make(), checkpoint=path, on_step=_stop_at(2, 3))
    assert _fit_or_fail(stopped).interrupted
    resumed = _net(seed=5)
    trainer = _trainer(resumed, optimizer=make())
    assert trainer.resume(load_checkpoint(path)) == 1
    assert (trainer.epochs_done, trainer.batches_done) == (1, 3)
    history = trainer.fit()
    _assert_same_params(resumed.params, straight.params)
    assert _without_time(history) == _without_time(full)


def test_a_run_stopped_after_an_epochs_last_step_resumes(tmp_path: Path) -> None:
    """Stopped after step 5 of 5, before the epoch's evaluation, the checkpoint has
    batch = steps_per_epoch: resuming it finishes as the uninterrupted run does."""
    path = tmp_path / "run.npz"
    whole = _net()
    expected = _trainer(whole, optimizer=Momentum(lr=0.1), epochs=2).fit()
    stopped = _trainer(
        _net(), optimizer=Momentum(lr=0.1), epochs=2, checkpoint=path, on_step=_stop_at(1, 5)
    )
    assert _fit_or_fail(stopped).interrupted
    assert _saved_state(path).batches_done == 5
    resumed_net = _net()
    resumed = _trainer(resumed_net, optimizer=Momentum(lr=0.1), epochs=2)
    assert resumed.resume(path) == 0
    assert resumed.batches_done == 5
    history = resumed.fit()
    assert [(e.train_loss, e.train_acc) for e in history.epochs] == [
        (e.train_loss, e.train_acc) for e in expected.epochs
    ]
    _assert_same_params(resumed_net.params, whole.params)


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
    assert _fit_or_fail(_trainer(_net(), epochs=1, checkpoint=path, on_step=stop)).interrupted
    first_wall = time.perf_counter() - start
    elapsed = _saved_state(path).elapsed
    assert 0.05 <= elapsed <= first_wall
    trainer = _trainer(_net(), epochs=1)
    trainer.resume(path)
    start = time.perf_counter()
    (record,) = trainer.fit().epochs
    assert elapsed <= record.seconds <= elapsed + (time.perf_counter() - start)


# --- refused resumes ----------------------------------------------------------------


def _tampered(tmp_path: Path, **changes: MetaValue) -> Path:
    """A trainer checkpoint stopped at epoch 2, step 2 (batch size 5), with ``changes``."""
    path = tmp_path / "run.npz"
    _trainer(_net(), checkpoint=path, on_step=_stop_at(2, 2)).fit()
    saved = load_checkpoint(path)
    save_checkpoint(path, saved.params, meta={**saved.meta, **changes})
    return path


def test_resume_rejects_a_checkpoint_not_written_by_a_trainer(tmp_path: Path) -> None:
    """A bare parameter checkpoint is refused, named by its path, and the network is left
    untouched."""
    path = tmp_path / "bare.npz"
    net = _net()
    save_checkpoint(path, _net(seed=1).params, meta={"epoch": 3})
    before = _copy(net.params)
    assert_error(
        CheckpointError,
        lambda: _trainer(net).resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected=f"meta 'format' {CHECKPOINT_FORMAT!r}",
        got="None",
    )
    _assert_same_params(net.params, before)


def test_resume_refuses_a_malformed_training_state_and_changes_nothing(tmp_path: Path) -> None:
    """Metadata that TrainingState refuses is refused by resume, which names the file and
    keeps the network, position and seed as they were."""
    path = _tampered(tmp_path, epoch=-1)
    net = _net(seed=4)
    before = _copy(net.params)
    trainer = _trainer(net, seed=11)
    assert_error(
        CheckpointError,
        lambda: trainer.resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="meta 'epoch' to be a non-negative int",
        got="-1",
    )
    _assert_same_params(net.params, before)
    assert (trainer.seed, trainer.epochs_done, trainer.batches_done) == (11, 0, 0)


def test_resuming_a_loaded_checkpoint_names_it_checkpoint(tmp_path: Path) -> None:
    """Given a loaded Checkpoint rather than a path, the messages call it 'checkpoint'."""
    loaded = load_checkpoint(_tampered(tmp_path, format="other"))
    assert_error(
        CheckpointError,
        lambda: _trainer(_net()).resume(loaded),
        callee="Trainer.resume('checkpoint')",
        expected=f"meta 'format' {CHECKPOINT_FORMAT!r}",
        got="'other'",
    )


def test_resume_mid_epoch_with_another_batch_size_is_refused(tmp_path: Path) -> None:
    """A checkpoint taken part-way through an epoch only resumes with the same batch size
    and training-set size, since the batches it skipped depend on both."""
    path = _tampered(tmp_path)
    trainer = Trainer(_net(), SGD(), *TRAIN, *TEST, batch_size=BATCH + 1, epochs=2, rng=0)
    assert_error(
        CheckpointError,
        lambda: trainer.resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="batch size 5 and 23 training samples",
        got="batch size 6 and 23 samples",
    )
    assert "stopped after batch 2 of epoch 2" in str(
        assert_error(
            CheckpointError, lambda: trainer.resume(path), callee=f"Trainer.resume({str(path)!r})"
        )
    )
    fewer = Trainer(_net(), SGD(), TRAIN[0][:-1], TRAIN[1][:-1], *TEST, batch_size=BATCH)
    assert_error(
        CheckpointError,
        lambda: fewer.resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="batch size 5 and 23 training samples",
        got="batch size 5 and 22 samples",
    )


def test_resume_after_a_whole_epoch_may_change_the_batch_size(tmp_path: Path) -> None:
    """Between epochs no batch was skipped, so another batch size resumes."""
    path = tmp_path / "run.npz"
    _trainer(_net(), epochs=1, checkpoint=path).fit()
    trainer = Trainer(_net(), SGD(), *TRAIN, *TEST, batch_size=BATCH + 1, epochs=2, rng=0)
    assert trainer.resume(path) == 1
    assert len(trainer.fit().epochs) == 2


def test_resume_refuses_a_checkpoint_of_another_dtype(tmp_path: Path) -> None:
    """float64 parameters are not resumed into a float32 network (nor rounded into it)."""
    path = tmp_path / "run.npz"
    _trainer(_net(), epochs=1, checkpoint=path).fit()
    net = _net(dtype=np.float32)
    before = _copy(net.params)
    assert_error(
        CheckpointError,
        lambda: _trainer(net).resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="float32 parameters",
        got="'float64'",
    )
    _assert_same_params(net.params, before)


def test_resume_refuses_optimizer_state_of_another_optimizer(tmp_path: Path) -> None:
    """Adam's saved moments cannot be loaded into Momentum: CheckpointError, nothing changed."""
    path = tmp_path / "run.npz"
    _trainer(_net(), optimizer=Adam(lr=0.01), epochs=1, checkpoint=path).fit()
    net = _net(seed=3)
    before = _copy(net.params)
    momentum = Momentum(lr=0.05)
    assert_error(
        CheckpointError,
        lambda: _trainer(net, optimizer=momentum).resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="optimizer state that Momentum accepts",
        got="state it refuses",
    )
    _assert_same_params(net.params, before)
    assert momentum.state_dict() == {}


def test_resume_with_optimizer_state_false_starts_the_optimizer_fresh(tmp_path: Path) -> None:
    """optimizer_state=False restores parameters and position and leaves another
    optimizer's state out: Momentum starts from zero velocity after an Adam run."""
    path = tmp_path / "run.npz"
    _trainer(_net(), optimizer=Adam(lr=0.01), epochs=1, checkpoint=path).fit()
    net = _net(seed=3)
    momentum = Momentum(lr=0.05)
    assert _trainer(net, optimizer=momentum).resume(path, optimizer_state=False) == 1
    _assert_same_params(net.params, load_checkpoint(path).params)
    assert momentum.state_dict() == {}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_resume_refuses_a_non_finite_parameter_and_changes_nothing(
    tmp_path: Path, bad: float
) -> None:
    """A NaN or infinite parameter in the file is refused, naming it, before anything is
    restored."""
    path = tmp_path / "run.npz"
    _trainer(_net(), epochs=1, checkpoint=path).fit()
    saved = load_checkpoint(path)
    params = {k: v.copy() for k, v in saved.params.items()}
    params["b1"][0] = bad
    save_checkpoint(path, params, meta=saved.meta, state=saved.state)
    net = _net(seed=3)
    before = _copy(net.params)
    assert_error(
        CheckpointError,
        lambda: _trainer(net).resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="finite parameters",
        got="'param/b1'",
    )
    _assert_same_params(net.params, before)


def test_resume_refuses_a_negative_second_moment_and_changes_nothing(tmp_path: Path) -> None:
    """Adam's v averages squares: a negative v in the file is refused by Adam, and the
    network keeps its parameters."""
    path = tmp_path / "run.npz"
    _trainer(_net(), optimizer=Adam(lr=0.01), epochs=1, checkpoint=path).fit()
    saved = load_checkpoint(path)
    state = {k: v.copy() for k, v in saved.state.items()}
    state["v/W1"][0, 0] = -1.0
    save_checkpoint(path, saved.params, meta=saved.meta, state=state)
    net = _net(seed=3)
    before = _copy(net.params)
    adam = Adam(lr=0.01)
    error = assert_error(
        CheckpointError,
        lambda: _trainer(net, optimizer=adam).resume(path),
        callee=f"Trainer.resume({str(path)!r})",
        expected="optimizer state that Adam accepts",
    )
    assert "'v/W1' >= 0" in str(error)
    _assert_same_params(net.params, before)
    assert adam.state_dict()["iter"] == 0


def test_resume_refuses_parameters_of_another_network_and_keeps_the_optimizer(
    tmp_path: Path,
) -> None:
    """A checkpoint whose parameters do not fit the network is a CheckpointError, and the
    optimizer keeps its own state, not the checkpoint's moments."""
    path = tmp_path / "run.npz"
    _trainer(_net(), optimizer=Adam(lr=0.01), epochs=1, checkpoint=path).fit()
    wider = MultiLayerNet(FEATURES, (9,), CLASSES, rng=0)
    adam = Adam(lr=0.01)
    fresh = adam.state_dict()
    assert_error(
        CheckpointError,
        lambda: _trainer(wider, optimizer=adam).resume(path),
        callee="restore_into",
        expected="shape (4, 9)",
        got="shape (4, 8)",
    )
    _assert_same_params(adam.state_dict(), fresh)


# --- Ctrl-C -------------------------------------------------------------------------


def test_keyboard_interrupt_saves_a_checkpoint_of_the_current_params(tmp_path: Path) -> None:
    """A KeyboardInterrupt from on_step saves the current params and position and returns."""
    path = tmp_path / "run.npz"
    net = _net()
    at_interrupt: dict[str, FloatArray] = {}

    def interrupt(info: StepInfo) -> None:
        if (info.epoch, info.step) == (2, 3):
            at_interrupt.update(_copy(net.params))
            raise KeyboardInterrupt

    history = _fit_or_fail(_trainer(net, checkpoint=path, on_step=interrupt))
    assert history.interrupted
    assert history.checkpoint == path
    assert len(history.epochs) == 1
    checkpoint = load_checkpoint(path)
    _assert_same_params(checkpoint.params, at_interrupt)
    state = TrainingState.from_meta(checkpoint.meta)
    assert (state.epochs_done, state.batches_done, state.interrupted) == (1, 3, True)


@pytest.mark.parametrize("resumed", [False, True], ids=["fresh", "resumed"])
def test_an_interrupt_before_the_first_update_still_saves(tmp_path: Path, resumed: bool) -> None:
    """A KeyboardInterrupt in the first gradient of a run (fresh, or just resumed) comes
    before any update, so the parameters are whole: fit saves them and returns."""
    path = tmp_path / "run.npz"
    net = _net()
    if resumed:
        _trainer(net, epochs=1, checkpoint=path).fit()
    before = _copy(net.params)
    trainer = _trainer(_Recorder(net, interrupt_at=1), epochs=2, checkpoint=path)
    if resumed:
        assert trainer.resume(path) == 1
    history = _fit_or_fail(trainer)
    assert history.interrupted
    assert history.checkpoint == path
    saved = load_checkpoint(path)
    state = TrainingState.from_meta(saved.meta)
    assert state.interrupted
    assert state.epochs_done == (1 if resumed else 0)
    _assert_same_params(saved.params, before)


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
    state = _saved_state(path)
    assert (state.epochs_done, state.batches_done, state.interrupted) == (1, 0, False)


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler, which the trainer replaces; put back afterwards."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a custom handler here, which the trainer leaves alone")
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _sigint_at_step_2(finished: list[int], *, times: int = 1) -> Callable[[StepInfo], None]:
    """An on_step callback that sends SIGINT ``times`` times in step 2, then notes the step."""

    def send(info: StepInfo) -> None:
        if info.step == 2:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)
        finished.append(info.step)

    return send


@pytest.mark.usefixtures("default_sigint")
def test_a_sigint_stops_training_at_the_end_of_the_step_by_default(tmp_path: Path) -> None:
    """handle_sigint defaults to True: a SIGINT inside step 2 lets the step finish, then
    fit saves that position and returns; Python's handler is back afterwards."""
    path = tmp_path / "run.npz"
    finished: list[int] = []
    trainer = _trainer(_net(), checkpoint=path, on_step=_sigint_at_step_2(finished))
    history = _fit_or_fail(trainer)
    assert history.interrupted
    assert finished == [1, 2]
    assert _saved_state(path).batches_done == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("default_sigint")
def test_a_second_sigint_interrupts_at_once(tmp_path: Path) -> None:
    """The second SIGINT is not deferred: it interrupts step 2's callback where it is."""
    path = tmp_path / "run.npz"
    finished: list[int] = []
    trainer = _trainer(_net(), checkpoint=path, on_step=_sigint_at_step_2(finished, times=2))
    assert _fit_or_fail(trainer).interrupted
    assert finished == [1]
    assert _saved_state(path).batches_done == 2


@pytest.mark.usefixtures("default_sigint")
def test_without_sigint_handling_a_sigint_interrupts_at_once(tmp_path: Path) -> None:
    """handle_sigint=False leaves SIGINT to Python: the first one interrupts at once."""
    path = tmp_path / "run.npz"
    finished: list[int] = []
    trainer = Trainer(
        _net(), SGD(lr=0.1), *TRAIN, *TEST, batch_size=BATCH, rng=7, checkpoint_path=path,
        on_step=_sigint_at_step_2(finished), handle_sigint=False,
    )  # fmt: skip
    assert _fit_or_fail(trainer).interrupted
    assert finished == [1]


@pytest.mark.usefixtures("default_sigint")
def test_an_applications_own_sigint_handler_is_left_alone() -> None:
    """A SIGINT handler the application installed keeps handling SIGINT during fit."""
    caught: list[int] = []

    def own(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    signal.signal(signal.SIGINT, own)
    finished: list[int] = []
    history = _trainer(_net(), epochs=1, on_step=_sigint_at_step_2(finished)).fit()
    assert not history.interrupted
    assert finished == [1, 2, 3, 4, 5]
    assert caught == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is own

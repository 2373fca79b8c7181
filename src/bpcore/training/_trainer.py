"""Mini-batch training of a bpcore network: shuffling, evaluation, checkpoints, resume, Ctrl-C."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final, Protocol, TypeAlias, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FLOAT_DTYPES, FloatArray, FloatDType, as_dtype, resolve_float_dtype
from bpcore.checkpoint import Checkpoint, MetaValue, load_checkpoint, restore_into, save_checkpoint
from bpcore.errors import ArgumentError, ArgumentTypeError, CheckpointError, DtypeError, ShapeError
from bpcore.optim import Optimizer, StatefulOptimizer
from bpcore.training._errors import TrainingDiverged
from bpcore.training._history import (
    EpochStats,
    History,
    StepInfo,
    history_from_json,
    history_to_json,
)

__all__ = ["CHECKPOINT_FORMAT", "LossLayer", "OnEpoch", "OnStep", "TrainableNetwork", "Trainer"]

CHECKPOINT_FORMAT: Final = "bpcore.training/1"
"""The value of meta ``"format"`` in every checkpoint a :class:`Trainer` writes."""

OnStep: TypeAlias = Callable[[StepInfo], object]
"""Called after every optimizer step; its return value is ignored."""

OnEpoch: TypeAlias = Callable[[EpochStats], object]
"""Called after every epoch, once its checkpoint is written; its return value is ignored."""

# Keys the trainer writes to a checkpoint's meta; caller meta may not reuse them.
_TRAINER_KEYS = frozenset(
    {
        "format",
        "epoch",
        "batch",
        "seed",
        "batch_size",
        "train_size",
        "global_step",
        "loss_sum",
        "elapsed",
        "interrupted",
        "dtype",
        "history",
    }
)
_SEED_BOUND = 2**63


class LossLayer(Protocol):
    """The loss layer of a network, which keeps the value of its last forward pass."""

    @property
    def loss(self) -> float | None:
        """The loss computed by the last forward pass, or ``None`` before the first."""
        ...


class TrainableNetwork(Protocol):
    """What :class:`Trainer` needs of a network; :class:`~bpcore.networks.TwoLayerNet` and
    :class:`~bpcore.networks.MultiLayerNet` have it.

    ``params`` holds every parameter array, all of one float dtype, and the
    optimizer updates them in place. ``gradient(x, t)`` runs a forward pass,
    which leaves the batch's loss in ``last_layer.loss``, so the trainer gets
    each batch's loss without a second forward pass.
    """

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The parameter arrays by name."""
        ...

    @property
    def last_layer(self) -> LossLayer:
        """The loss layer, whose ``loss`` is set by every forward pass."""
        ...

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """The fraction of the samples of ``x`` classified as ``t`` says."""
        ...

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> Mapping[str, FloatArray]:
        """The gradient of the loss on ``(x, t)`` for every parameter, keyed like ``params``."""
        ...


@final
@dataclass
class _Position:
    """Where training stands: what a checkpoint must record to continue exactly from it."""

    epochs_done: int
    batches_done: int  # batches of epoch `epochs_done + 1` already applied
    global_step: int
    loss_sum: float  # Σ batch loss · batch size over those batches
    elapsed: float  # seconds spent in the unfinished epoch so far
    updating: bool  # inside optimizer.update: the parameters may be half-updated


@final
@dataclass
class _StopRequest:
    requested: bool = False


@contextlib.contextmanager
def _deferred_sigint(enabled: bool) -> Iterator[_StopRequest]:
    """Turn the first Ctrl-C into a stop request that training honours between steps.

    A ``KeyboardInterrupt`` raised in the middle of ``optimizer.update`` would leave
    some parameters updated and others not, and such a state is not worth saving.
    So while this is active, the first SIGINT only sets ``requested``; a second one
    raises ``KeyboardInterrupt`` at once. Only the main thread can set signal
    handlers, and a handler the application installed itself is left alone.
    """
    request = _StopRequest()
    if (
        not enabled
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield request
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        request.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _positive_int(value: object, *, name: str) -> int:
    # bool is an int subclass, but `batch_size=True` is a bug, not a size.
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value > 0:
        return int(value)
    raise ArgumentError(f"Trainer: expected `{name}` to be a positive int, got {value!r}.")


def _resolve_seed(rng: object) -> int:
    """The base seed from which every epoch's shuffling generator is derived."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, _SEED_BOUND))
    if rng is None:
        return int(np.random.default_rng().integers(0, _SEED_BOUND))
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    raise ArgumentError(
        "Trainer: expected `rng` to be a numpy.random.Generator, a non-negative int seed "
        f"or None, got {rng!r}."
    )


def _network_dtype(params: Mapping[str, FloatArray]) -> FloatDType:
    dtypes = {p.dtype for p in params.values()}
    if len(dtypes) != 1:
        raise DtypeError(
            f"Trainer: expected the network's parameters to share one float dtype, "
            f"got {sorted(str(d) for d in dtypes) or 'no parameters'}."
        )
    (dtype,) = dtypes
    if dtype not in FLOAT_DTYPES:
        raise DtypeError(f"Trainer: expected float32 or float64 parameters, got {dtype}.")
    return resolve_float_dtype(dtype, where="Trainer")


def _targets(t: npt.ArrayLike, dtype: FloatDType) -> npt.NDArray[np.generic]:
    array: npt.NDArray[np.generic] = np.asarray(t)
    if array.dtype.kind == "f":
        # One-hot or soft rows: cast once here instead of in every batch's loss.
        return np.asarray(array, dtype=dtype, order="C")
    return array


def _meta_int(meta: Mapping[str, MetaValue], key: str, where: str) -> int:
    value = meta.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise CheckpointError(
        f"{where}: expected meta {key!r} to be a non-negative int, got {value!r}."
    )


def _meta_float(meta: Mapping[str, MetaValue], key: str, where: str) -> float:
    value = meta.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise CheckpointError(f"{where}: expected meta {key!r} to be a finite number, got {value!r}.")


@final
class Trainer:
    """Trains ``network`` with ``optimizer`` on mini-batches of ``(x_train, t_train)``.

    Each epoch visits every training sample exactly once: the samples are
    shuffled by a permutation drawn from ``np.random.default_rng([seed, epoch])``
    and cut into ``ceil(N / batch_size)`` batches (the last one smaller if
    ``batch_size`` does not divide ``N``). Each step computes the gradient by
    backpropagation, checks that the batch loss is finite and applies
    ``optimizer.update(network.params, grads)``. After each epoch the accuracy
    on the whole training and test sets is measured (in chunks of
    ``eval_batch_size`` samples, to bound memory), the epoch is recorded and,
    if ``checkpoint_path`` is set, a checkpoint is written there atomically.

    Shapes: ``x_train`` ``(N, ...)`` and ``x_test`` ``(M, ...)``, whatever the
    network accepts; ``t_train`` ``(N,)`` integer labels or ``(N, C)`` rows, and
    likewise ``t_test``. The inputs (and float targets) are converted to the
    network's dtype once, here, so a float32 network trains in float32 without
    a conversion per batch. Arrays already in that dtype are used without a copy
    and never written to.

    ``rng`` fixes the shuffling: an int is the seed itself, a Generator gives one
    draw that becomes the seed, ``None`` a fresh random seed. The seed is stored
    in every checkpoint, and since each epoch's order depends only on the seed and
    the epoch number, training resumed with :meth:`resume` visits the batches an
    uninterrupted run would. (The network's initial weights come from the rng the
    network itself was built with.)

    Resuming reproduces an uninterrupted run bit for bit: the checkpoint holds the
    parameters, the epoch, the number of batches already applied, the seed and,
    for a :class:`~bpcore.optim.StatefulOptimizer` (all of bpcore's), the
    optimizer's state (velocities, moments, step count).

    Ctrl-C: while :meth:`fit` runs in the main thread, the first SIGINT is turned
    into a request to stop after the current step (a second one interrupts at
    once); disable this with ``handle_sigint=False``. On a stop request, or a
    ``KeyboardInterrupt`` raised between steps (by ``on_step``, say), ``fit``
    writes a checkpoint of the current parameters and position, if
    ``checkpoint_path`` is set, and returns a :class:`History` with
    ``interrupted=True``. A ``KeyboardInterrupt`` that arrives inside
    ``optimizer.update``, or when a parameter is no longer finite, propagates
    without a checkpoint, since the parameters are then not worth saving.

    ``meta`` is extra metadata (say, how the network was built) stored in every
    checkpoint; its keys must differ from the ones the trainer writes.

    Raises:
        ValueError: ``batch_size``, ``epochs`` or ``eval_batch_size`` is not a
            positive int, ``rng`` is not usable, or ``meta`` reuses a trainer key.
        ShapeError: a data set is empty, or its inputs and targets differ in length.
        DtypeError: the parameters are not all float32 or all float64, or the
            inputs are not real numbers.
    """

    _network: TrainableNetwork
    _optimizer: Optimizer
    _x_train: FloatArray
    _t_train: npt.NDArray[np.generic]
    _x_test: FloatArray
    _t_test: npt.NDArray[np.generic]
    _dtype: FloatDType
    _batch_size: int
    _epochs: int
    _eval_batch_size: int
    _seed: int
    _checkpoint_path: Path | None
    _on_step: OnStep | None
    _on_epoch: OnEpoch | None
    _meta: dict[str, MetaValue]
    _handle_sigint: bool
    _position: _Position
    _history: list[EpochStats]
    _last_saved: Path | None

    def __init__(
        self,
        network: TrainableNetwork,
        optimizer: Optimizer,
        x_train: npt.ArrayLike,
        t_train: npt.ArrayLike,
        x_test: npt.ArrayLike,
        t_test: npt.ArrayLike,
        *,
        batch_size: int = 100,
        epochs: int = 20,
        rng: np.random.Generator | int | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        on_step: OnStep | None = None,
        on_epoch: OnEpoch | None = None,
        meta: Mapping[str, MetaValue] | None = None,
        eval_batch_size: int = 10_000,
        handle_sigint: bool = True,
    ) -> None:
        self._network = network
        self._optimizer = optimizer
        self._dtype = _network_dtype(network.params)
        self._x_train, self._t_train = self._data(x_train, t_train, name="train")
        self._x_test, self._t_test = self._data(x_test, t_test, name="test")
        self._batch_size = _positive_int(batch_size, name="batch_size")
        self._epochs = _positive_int(epochs, name="epochs")
        self._eval_batch_size = _positive_int(eval_batch_size, name="eval_batch_size")
        self._seed = _resolve_seed(rng)
        self._checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self._on_step = on_step
        self._on_epoch = on_epoch
        extra = dict(meta or {})
        clash = sorted(extra.keys() & _TRAINER_KEYS)
        if clash:
            raise ArgumentError(f"Trainer: `meta` may not use the trainer's own keys {clash}.")
        self._meta = extra
        self._handle_sigint = handle_sigint
        self._position = _Position(0, 0, 0, 0.0, 0.0, updating=False)
        self._history = []
        self._last_saved = None

    def _data(
        self, x: npt.ArrayLike, t: npt.ArrayLike, *, name: str
    ) -> tuple[FloatArray, npt.NDArray[np.generic]]:
        # order="C", not ascontiguousarray, which would report a 0-d x as shape (1,).
        xs = np.asarray(as_dtype(x, self._dtype, where="Trainer", name=f"x_{name}"), order="C")
        ts = _targets(t, self._dtype)
        if xs.ndim == 0 or ts.ndim == 0 or xs.shape[0] == 0 or xs.shape[0] != ts.shape[0]:
            raise ShapeError(
                f"Trainer: expected x_{name} and t_{name} to hold the same number N >= 1 of "
                f"samples along axis 0, got shapes {xs.shape} and {ts.shape}."
            )
        return xs, ts

    @property
    def seed(self) -> int:
        """The seed of the shuffling (from ``rng``, or from the checkpoint after :meth:`resume`)."""
        return self._seed

    @property
    def epochs(self) -> int:
        """The number of epochs :meth:`fit` trains up to, counting those already done."""
        return self._epochs

    @property
    def batch_size(self) -> int:
        """The number of samples per mini-batch (the last batch of an epoch may be smaller)."""
        return self._batch_size

    @property
    def steps_per_epoch(self) -> int:
        """``ceil(N / batch_size)``: the number of mini-batches in an epoch."""
        return -(-int(self._x_train.shape[0]) // self._batch_size)

    @property
    def epochs_done(self) -> int:
        """The number of completed epochs, those of a resumed checkpoint included."""
        return self._position.epochs_done

    @property
    def batches_done(self) -> int:
        """The number of mini-batches of the unfinished epoch already applied (0 between epochs)."""
        return self._position.batches_done

    @property
    def history(self) -> tuple[EpochStats, ...]:
        """The records of the completed epochs, those of a resumed checkpoint included."""
        return tuple(self._history)

    @property
    def dtype(self) -> FloatDType:
        """The network's dtype, which the data were converted to."""
        return self._dtype

    def epoch_order(self, epoch: int) -> npt.NDArray[np.int64]:
        """The ``(N,)`` permutation of training-sample indices visited by ``epoch`` (from 1)."""
        generator = np.random.default_rng([self._seed, epoch])
        return generator.permutation(self._x_train.shape[0]).astype(np.int64, copy=False)

    def resume(self, checkpoint: Checkpoint | str | os.PathLike[str]) -> int:
        """Restore the parameters and position saved by a :class:`Trainer`; return its epoch.

        ``checkpoint`` is a loaded :class:`~bpcore.checkpoint.Checkpoint` or a
        path. The parameters are copied into ``network.params`` in place; the
        seed, the number of completed epochs (returned), the batches already
        applied in the next epoch and the history are taken from its metadata,
        so the next :meth:`fit` continues where the saved run stopped. Nothing is
        changed unless the whole checkpoint is valid.

        Raises:
            CheckpointError: the file cannot be read, was not written by a
                trainer, does not match the network's parameters, or stopped
                mid-epoch with another batch size or training-set size (the
                remaining batches would then not be the ones it skipped).
        """
        loaded = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        meta = loaded.meta
        source = checkpoint if not isinstance(checkpoint, Checkpoint) else "checkpoint"
        where = f"Trainer.resume({str(source)!r})"
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{where}: expected meta 'format' {CHECKPOINT_FORMAT!r} (a checkpoint written "
                f"by bpcore.training.Trainer), got {meta.get('format')!r}."
            )
        epochs_done = _meta_int(meta, "epoch", where)
        batches_done = _meta_int(meta, "batch", where)
        seed = _meta_int(meta, "seed", where)
        global_step = _meta_int(meta, "global_step", where)
        loss_sum = _meta_float(meta, "loss_sum", where)
        elapsed = _meta_float(meta, "elapsed", where)
        history_text = meta.get("history")
        if not isinstance(history_text, str):
            raise CheckpointError(f"{where}: expected meta 'history' to be a JSON string.")
        history = history_from_json(history_text, where=where)
        if len(history) != epochs_done:
            raise CheckpointError(
                f"{where}: expected {epochs_done} history rows (meta 'epoch'), got {len(history)}."
            )
        if batches_done:
            saved = (_meta_int(meta, "batch_size", where), _meta_int(meta, "train_size", where))
            current = (self._batch_size, self._x_train.shape[0])
            if saved != current:
                raise CheckpointError(
                    f"{where}: the checkpoint stopped after batch {batches_done} of epoch "
                    f"{epochs_done + 1} with batch size {saved[0]} and {saved[1]} training "
                    f"samples; resuming it needs the same, got batch size {current[0]} and "
                    f"{current[1]} samples."
                )
            if batches_done > self.steps_per_epoch:
                raise CheckpointError(
                    f"{where}: expected meta 'batch' <= {self.steps_per_epoch}, got {batches_done}."
                )
        self._restore(loaded, where)
        self._seed = seed
        self._position = _Position(
            epochs_done, batches_done, global_step, loss_sum, elapsed, updating=False
        )
        self._history = list(history)
        return epochs_done

    def fit(self) -> History:
        """Train until :attr:`epochs` epochs are done; return every epoch's record.

        Continues from the position :meth:`resume` restored, if it was called.
        While it runs, NumPy's floating-point warnings (overflow, invalid, divide)
        are silenced, since non-finite values are detected and reported here.

        Raises:
            TrainingDiverged: a batch loss, or a parameter after an epoch, is NaN
                or infinite. The update is not applied and no checkpoint is written.
            OSError: the checkpoint could not be written.
        """
        # Overflow and NaN are detected below and reported as TrainingDiverged, with
        # the epoch and step; NumPy's warnings about them would only add noise (or,
        # with warnings as errors, replace that report with a less useful one).
        with (
            _deferred_sigint(self._handle_sigint) as stop,
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            try:
                while self._position.epochs_done < self._epochs:
                    self._run_epoch(stop)
            except KeyboardInterrupt:
                # Half-updated or non-finite parameters are not worth a checkpoint:
                # keep the last good one and let the interrupt through.
                if self._position.updating or self._non_finite_params():
                    raise
                self._save(interrupted=True)
                return History(tuple(self._history), interrupted=True, checkpoint=self._last_saved)
        return History(tuple(self._history), interrupted=False, checkpoint=self._last_saved)

    def _run_epoch(self, stop: _StopRequest) -> None:
        """Run the rest of the current epoch, evaluate, record and checkpoint it."""
        pos = self._position
        epoch = pos.epochs_done + 1
        steps = self.steps_per_epoch
        size = self._batch_size
        order = self.epoch_order(epoch)
        params = self._network.params
        start = time.perf_counter() - pos.elapsed
        for k in range(pos.batches_done, steps):
            batch = order[k * size : (k + 1) * size]
            grads = self._network.gradient(self._x_train[batch], self._t_train[batch])
            loss = self._batch_loss(epoch, k + 1)
            pos.updating = True
            self._optimizer.update(params, grads)
            pos.updating = False
            pos.batches_done = k + 1
            pos.global_step += 1
            pos.loss_sum += loss * batch.shape[0]
            pos.elapsed = time.perf_counter() - start
            if self._on_step is not None:
                self._on_step(StepInfo(epoch, k + 1, steps, pos.global_step, loss))
            if stop.requested:
                raise KeyboardInterrupt
        self._require_finite_params(epoch, steps)
        stats = EpochStats(
            epoch=epoch,
            train_loss=pos.loss_sum / self._x_train.shape[0],
            train_acc=self._accuracy(self._x_train, self._t_train),
            test_acc=self._accuracy(self._x_test, self._t_test),
            seconds=time.perf_counter() - start,
        )
        self._history.append(stats)
        self._position = _Position(epoch, 0, pos.global_step, 0.0, 0.0, updating=False)
        self._save(interrupted=False)
        if self._on_epoch is not None:
            self._on_epoch(stats)
        if stop.requested:
            raise KeyboardInterrupt

    def _batch_loss(self, epoch: int, step: int) -> float:
        loss = self._network.last_layer.loss
        if loss is None:
            raise ArgumentTypeError(
                f"Trainer: expected {type(self._network).__name__}.gradient to leave the "
                f"batch loss in last_layer.loss, got None."
            )
        if not math.isfinite(loss):
            raise self._diverged(epoch, step, loss, f"the mini-batch loss is {loss}")
        return float(loss)

    def _non_finite_params(self) -> list[str]:
        return [k for k, p in self._network.params.items() if not np.isfinite(p).all()]

    def _require_finite_params(self, epoch: int, step: int) -> None:
        bad = self._non_finite_params()
        if bad:
            # The last update made them non-finite; its loss was finite, so check
            # here rather than let NaN parameters reach the epoch's checkpoint.
            raise self._diverged(epoch, step, math.nan, f"parameters {bad} became NaN or infinite")

    def _diverged(self, epoch: int, step: int, loss: float, what: str) -> TrainingDiverged:
        path = self._checkpoint_path
        checkpoint = self._last_saved
        if checkpoint is not None:
            kept = f"the last checkpoint, {checkpoint}, is kept as it was"
        elif path is not None:
            kept = f"no checkpoint was written to {path}"
        else:
            kept = "no checkpoint path was set"
        return TrainingDiverged(
            f"training diverged at epoch {epoch}, step {step} of {self.steps_per_epoch}: "
            f"{what}; {kept}. A smaller learning rate usually helps.",
            epoch=epoch,
            step=step,
            loss=loss,
            checkpoint=checkpoint,
        )

    def _accuracy(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        n = int(x.shape[0])
        chunk = self._eval_batch_size
        hits = 0
        for s in range(0, n, chunk):
            part = min(chunk, n - s)
            # accuracy() returns hits / part; rounding recovers the exact count.
            hits += round(self._network.accuracy(x[s : s + part], t[s : s + part]) * part)
        return hits / n

    def _restore(self, loaded: Checkpoint, where: str) -> None:
        """Put the parameters and, if it keeps any, the optimizer's state back; all or nothing."""
        optimizer = self._optimizer
        if not isinstance(optimizer, StatefulOptimizer):
            restore_into(self._network.params, loaded)
            return
        before = optimizer.state_dict()
        try:
            optimizer.load_state_dict(loaded.state)
            restore_into(self._network.params, loaded)
        except (ValueError, TypeError) as error:
            optimizer.load_state_dict(before)
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(
                f"{where}: the saved optimizer state does not fit {type(optimizer).__name__}: "
                f"{error}"
            ) from error

    def _save(self, *, interrupted: bool) -> None:
        path = self._checkpoint_path
        if path is None:
            return
        pos = self._position
        meta: dict[str, MetaValue] = dict(self._meta)
        meta.update(
            {
                "format": CHECKPOINT_FORMAT,
                "epoch": pos.epochs_done,
                "batch": pos.batches_done,
                "seed": self._seed,
                "batch_size": self._batch_size,
                "train_size": int(self._x_train.shape[0]),
                "global_step": pos.global_step,
                "loss_sum": pos.loss_sum,
                "elapsed": pos.elapsed,
                "interrupted": int(interrupted),
                "dtype": str(self._dtype),
                "history": history_to_json(tuple(self._history)),
            }
        )
        state = (
            self._optimizer.state_dict() if isinstance(self._optimizer, StatefulOptimizer) else None
        )
        self._last_saved = save_checkpoint(path, self._network.params, meta=meta, state=state)

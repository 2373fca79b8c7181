"""The training loop: mini-batches, evaluation, a checkpoint per epoch, resume and Ctrl-C."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, ieee_arithmetic
from bpcore.checkpoint import Checkpoint, MetaValue, load_checkpoint, restore_into, save_checkpoint
from bpcore.errors import ArgumentTypeError, CheckpointError, UnusableGradient
from bpcore.optim import Optimizer, StatefulOptimizer
from bpcore.training._checks import (
    Tunable,
    caller_meta,
    learning_rates,
    network_dtype,
    positive_int,
    resolve_seed,
    training_data,
)
from bpcore.training._errors import TrainingDiverged
from bpcore.training._history import EpochStats, History, StepInfo
from bpcore.training._network import TrainableNetwork
from bpcore.training._schedule import LrSchedule
from bpcore.training._sigint import StopRequest, deferred_sigint
from bpcore.training._state import TrainingState

__all__ = ["OnEpoch", "OnStep", "Trainer"]

OnStep: TypeAlias = Callable[[StepInfo], object]
"""Called after every optimizer step; its return value is ignored."""

OnEpoch: TypeAlias = Callable[[EpochStats], object]
"""Called after every epoch, once its checkpoint is written; its return value is ignored."""


EVAL_BATCH_SIZE: Final = 10_000
"""The samples a :class:`Trainer` evaluates at once by default (``eval_batch_size``)."""


@final
@dataclass
class _Position:
    """Where the loop stands in the current epoch; a checkpoint records all but ``updating``."""

    epochs_done: int
    batches_done: int  # batches of epoch `epochs_done + 1` already applied
    global_step: int
    loss_sum: float  # Σ batch loss · batch size over those batches
    elapsed: float  # seconds spent in the unfinished epoch so far
    updating: bool  # inside optimizer.update: the parameters may be half-updated


@final
class Trainer:
    """Trains ``network`` with ``optimizer`` on shuffled mini-batches, with a checkpoint per epoch.

    Epoch ``e`` (from 1) visits the ``N`` training samples once, in the order
    ``np.random.default_rng([seed, e]).permutation(N)`` cut into ``ceil(N / batch_size)``
    batches (the last one smaller if ``batch_size`` does not divide ``N``). A step takes
    the gradient by backpropagation, checks that the batch loss is finite and applies
    ``optimizer.update(network.params, grads)``. After each epoch the hits on the whole
    training and test sets are counted, and the mean loss over the test set taken, in
    chunks of ``eval_batch_size`` samples (each chunk's ``network.loss`` weighed by its
    size); the epoch is recorded and, if ``checkpoint_path`` is set,
    a checkpoint is written there atomically. The count is that of one ``accuracy`` call
    over the whole set, except for samples whose two top scores lie within rounding of
    each other: BLAS may round a sample's scores differently in a chunk of another size,
    so such a sample can count differently under another ``eval_batch_size``.

    Shapes: ``x_train`` ``(N, ...)``, ``t_train`` ``(N,)`` integer labels or ``(N, C)``
    rows, and likewise ``x_test``, ``t_test``. Inputs and float targets are converted
    once to the network's dtype; arrays already in it are used without a copy and never
    written to.

    ``rng``: an int is the seed, a Generator gives one draw as the seed, ``None`` a fresh
    seed (the initial weights come from the network's own rng). A checkpoint holds the
    parameters, a :class:`~bpcore.training.TrainingState` and, for a
    :class:`~bpcore.optim.StatefulOptimizer`, the optimizer's state, so :meth:`resume`
    reproduces an uninterrupted run bit for bit.

    Ctrl-C: while :meth:`fit` runs in the main thread, the first SIGINT stops training
    after the current step and a second one at once (``handle_sigint=False`` turns this
    off). A stop, or a ``KeyboardInterrupt`` between steps (from ``on_step``, say), saves
    a checkpoint and returns a :class:`History` with ``interrupted=True``; one inside
    ``optimizer.update``, or with non-finite parameters, propagates without one.

    ``lr_schedule``: the learning rate of each epoch, ``lr_schedule(e)`` for epoch ``e``
    (from 1), such as a :class:`~bpcore.training.StepDecay`. It is called for every epoch
    when the trainer is built, and each rate must be finite and ``> 0``. Before each epoch,
    a resumed part-done one included, ``optimizer.lr`` is set to that epoch's rate, so a
    resumed run follows the schedule as an uninterrupted one does. A checkpoint does not
    record the schedule: give the resuming trainer the same one. Without it, the
    optimizer's ``lr`` is left alone.

    ``meta``: extra metadata (say, how the network was built) stored in every checkpoint;
    its keys must not be those of :attr:`TrainingState.KEYS <bpcore.training.TrainingState>`.

    Raises:
        ArgumentError: ``batch_size``, ``epochs`` or ``eval_batch_size`` is not a
            positive int, ``rng`` is not usable, ``meta`` reuses a trainer key,
            ``lr_schedule`` gives a rate that is not finite and ``> 0``, or the optimizer
            has no ``lr`` for it to set.
        ArgumentTypeError: ``lr_schedule`` is not callable or gives a non-number.
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
    _rates: tuple[Tunable, tuple[float, ...]] | None
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
        eval_batch_size: int = EVAL_BATCH_SIZE,
        handle_sigint: bool = True,
        lr_schedule: LrSchedule | None = None,
    ) -> None:
        self._network = network
        self._optimizer = optimizer
        self._dtype = network_dtype(network.params)
        self._x_train, self._t_train = training_data(x_train, t_train, self._dtype, name="train")
        self._x_test, self._t_test = training_data(x_test, t_test, self._dtype, name="test")
        self._batch_size = positive_int(batch_size, name="batch_size")
        self._epochs = positive_int(epochs, name="epochs")
        self._eval_batch_size = positive_int(eval_batch_size, name="eval_batch_size")
        self._seed = resolve_seed(rng)
        self._checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self._on_step = on_step
        self._on_epoch = on_epoch
        self._meta = caller_meta(meta)
        self._rates = (
            None if lr_schedule is None else learning_rates(optimizer, lr_schedule, self._epochs)
        )
        self._handle_sigint = handle_sigint
        self._position = _Position(0, 0, 0, 0.0, 0.0, updating=False)
        self._history = []
        self._last_saved = None

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

    def resume(
        self, checkpoint: Checkpoint | str | os.PathLike[str], *, optimizer_state: bool = True
    ) -> int:
        """Continue from ``checkpoint`` (a path or a loaded one); return its completed epochs.

        The parameters are copied into ``network.params`` in place, the optimizer's state
        is loaded (unless ``optimizer_state`` is false: an optimizer other than the saved
        one starts fresh), and the seed, position and history come from its
        :class:`~bpcore.training.TrainingState`, so the next :meth:`fit` goes on where
        the saved run stopped. Nothing changes unless the whole checkpoint fits.

        Raises:
            CheckpointError: the file cannot be read, was not written by a trainer, does
                not fit the network's parameters or the optimizer, holds a NaN or
                infinite parameter or optimizer state the optimizer refuses (a negative
                second moment), or stopped mid-epoch with another batch size or
                training-set size.
        """
        loaded = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        source = checkpoint if not isinstance(checkpoint, Checkpoint) else "checkpoint"
        where = f"Trainer.resume({str(source)!r})"
        state = TrainingState.from_meta(loaded.meta, where=where)
        if state.dtype != self._dtype:
            raise CheckpointError(
                f"{where}: expected a checkpoint of {self._dtype} parameters (the network's), "
                f"got meta 'dtype' {str(state.dtype)!r}."
            )
        saved = (state.batch_size, state.train_size)
        current = (self._batch_size, int(self._x_train.shape[0]))
        if state.batches_done and saved != current:
            # The skipped batches of a part-done epoch depend on both.
            raise CheckpointError(
                f"{where}: expected batch size {saved[0]} and {saved[1]} training samples, "
                f"as when the checkpoint stopped after batch {state.batches_done} of epoch "
                f"{state.epochs_done + 1}, got batch size {current[0]} and {current[1]} samples."
            )
        self._restore(loaded, where, optimizer_state=optimizer_state)
        self._seed = state.seed
        self._position = _Position(
            state.epochs_done,
            state.batches_done,
            state.global_step,
            state.loss_sum,
            state.elapsed,
            updating=False,
        )
        self._history = list(state.history)
        return state.epochs_done

    def fit(self) -> History:
        """Train until :attr:`epochs` epochs are done; return every epoch's record.

        Continues from the position :meth:`resume` restored, if it was called. NumPy's
        floating-point warnings are silenced meanwhile: non-finite values raise below.

        Raises:
            TrainingDiverged: a batch loss, or a parameter after an epoch, is NaN or
                infinite; the update is not applied and no checkpoint is written.
            ArgumentTypeError: ``network.gradient`` left no loss in ``last_layer.loss``.
            OSError: the checkpoint could not be written.
        """
        # Overflow and NaN are detected below and reported as TrainingDiverged, with
        # the epoch and step; NumPy's warnings about them would only add noise (or,
        # with warnings as errors, replace that report with a less useful one).
        with (
            deferred_sigint(self._handle_sigint) as stop,
            ieee_arithmetic(),
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

    def _run_epoch(self, stop: StopRequest) -> None:
        """Run the rest of the current epoch, evaluate, record and checkpoint it."""
        pos = self._position
        epoch = pos.epochs_done + 1
        steps = self.steps_per_epoch
        size = self._batch_size
        order = self.epoch_order(epoch)
        if self._rates is not None:
            tunable, rates = self._rates
            tunable.lr = rates[epoch - 1]
        params = self._network.params
        start = time.perf_counter() - pos.elapsed
        for k in range(pos.batches_done, steps):
            batch = order[k * size : (k + 1) * size]
            grads = self._network.gradient(self._x_train[batch], self._t_train[batch])
            loss = self._batch_loss(epoch, k + 1)
            pos.updating = True
            try:
                self._optimizer.update(params, grads)
            except UnusableGradient as refused:
                # bpcore's optimizers refuse such a gradient and change nothing.
                pos.updating = False
                reason = str(refused).partition(": ")[2].rstrip(".")
                raise self._diverged(epoch, k + 1, loss, reason) from None
            # Still True if anything else escaped the update: its parameters may be half
            # updated, and no checkpoint may be written of them.
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
            test_loss=self._mean_loss(self._x_test, self._t_test),
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

    def _chunks(self, n: int) -> Iterator[slice]:
        """The evaluation chunks of ``n`` samples, in order, of ``eval_batch_size`` or fewer."""
        for start in range(0, n, self._eval_batch_size):
            yield slice(start, min(start + self._eval_batch_size, n))

    def _accuracy(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        hits = 0
        for part in self._chunks(int(x.shape[0])):
            # accuracy() returns hits / size; rounding recovers the exact count.
            hits += round(self._network.accuracy(x[part], t[part]) * (part.stop - part.start))
        return hits / int(x.shape[0])

    def _mean_loss(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        total = 0.0
        for part in self._chunks(int(x.shape[0])):
            total += float(self._network.loss(x[part], t[part])) * (part.stop - part.start)
        return total / int(x.shape[0])

    def _restore(self, loaded: Checkpoint, where: str, *, optimizer_state: bool) -> None:
        """Put the parameters and, if it keeps any and ``optimizer_state``, the optimizer's
        state back; all or nothing."""
        params = self._network.params
        for key, value in loaded.params.items():
            if not np.all(np.isfinite(value)):
                raise CheckpointError(
                    f"{where}: expected finite parameters, got NaN or infinity in 'param/{key}'."
                )
        before = {key: p.copy() for key, p in params.items()}
        restore_into(params, loaded)  # checks every array before it writes any
        optimizer = self._optimizer
        if not isinstance(optimizer, StatefulOptimizer) or not optimizer_state:
            return
        try:
            # Loaded last: a started optimizer cannot be put back to an empty state.
            optimizer.load_state_dict(loaded.state)
        except (ValueError, TypeError) as error:
            for key, p in params.items():
                np.copyto(p, before[key])
            raise CheckpointError(
                f"{where}: expected optimizer state that {type(optimizer).__name__} accepts, "
                f"got state it refuses: {error}"
            ) from error

    def _save(self, *, interrupted: bool) -> None:
        path = self._checkpoint_path
        if path is None:
            return
        pos = self._position
        training = TrainingState(
            epochs_done=pos.epochs_done,
            batches_done=pos.batches_done,
            seed=self._seed,
            batch_size=self._batch_size,
            train_size=int(self._x_train.shape[0]),
            global_step=pos.global_step,
            loss_sum=pos.loss_sum,
            elapsed=pos.elapsed,
            interrupted=interrupted,
            dtype=self._dtype,
            history=tuple(self._history),
        )
        meta = {**self._meta, **training.to_meta()}
        state = (
            self._optimizer.state_dict() if isinstance(self._optimizer, StatefulOptimizer) else None
        )
        self._last_saved = save_checkpoint(path, self._network.params, meta=meta, state=state)

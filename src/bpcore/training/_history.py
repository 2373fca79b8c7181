"""What a training run records: an :class:`EpochStats` per epoch, gathered in a :class:`History`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import final

__all__ = ["EpochStats", "History", "StepInfo"]


@final
@dataclass(frozen=True)
class StepInfo:
    """One optimizer step, as passed to a trainer's ``on_step`` callback.

    Attributes:
        epoch: the epoch the step belongs to, counted from 1.
        step: the step within the epoch, from 1 to ``steps_per_epoch``.
        steps_per_epoch: the number of mini-batches in an epoch.
        global_step: the number of steps taken since training began (resumes included).
        loss: the mean loss of the step's mini-batch, computed before the update.
    """

    epoch: int
    step: int
    steps_per_epoch: int
    global_step: int
    loss: float


@final
@dataclass(frozen=True)
class EpochStats:
    """The record of one completed epoch.

    Attributes:
        epoch: the epoch number, counted from 1.
        train_loss: the mean over the epoch's samples of the loss each had in its
            mini-batch, computed before that batch's update (so it lags the
            end-of-epoch parameters a little). Every sample counts once, so a
            smaller last batch weighs in proportion to its size.
        train_acc: the accuracy on the whole training set after the epoch.
        test_acc: the accuracy on the whole test set after the epoch.
        seconds: wall time of the epoch's steps and its evaluations (not the checkpoint write).
        test_loss: the network's mean loss over the whole test set after the epoch, or
            ``None`` for an epoch read from a checkpoint of format ``bpcore.training/1``,
            which did not record it.
    """

    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    seconds: float
    test_loss: float | None = None


@final
@dataclass(frozen=True)
class History:
    """The result of :meth:`~bpcore.training.Trainer.fit`.

    Attributes:
        epochs: one record per completed epoch, in order, including the epochs
            of earlier runs when training resumed from a checkpoint.
        interrupted: ``True`` if a ``KeyboardInterrupt`` stopped training early.
        checkpoint: the checkpoint file last written, or ``None`` if none was.
    """

    epochs: tuple[EpochStats, ...]
    interrupted: bool
    checkpoint: Path | None

    @property
    def train_loss(self) -> list[float]:
        """The per-epoch mean training loss, one value per epoch."""
        return [e.train_loss for e in self.epochs]

    @property
    def train_acc(self) -> list[float]:
        """The per-epoch training accuracy."""
        return [e.train_acc for e in self.epochs]

    @property
    def test_acc(self) -> list[float]:
        """The per-epoch test accuracy."""
        return [e.test_acc for e in self.epochs]

    @property
    def test_loss(self) -> list[float | None]:
        """The per-epoch mean test loss (``None`` where an older checkpoint lacks it)."""
        return [e.test_loss for e in self.epochs]

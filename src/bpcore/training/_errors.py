"""The error a training run raises when its loss stops being a finite number."""

from __future__ import annotations

from pathlib import Path
from typing import final

from bpcore.errors import BpcoreError

__all__ = ["TrainingDiverged"]


@final
# The name says what happened to the run, as StopIteration does; "Error" would add nothing.
class TrainingDiverged(BpcoreError, RuntimeError):  # noqa: N818
    """The loss (or a parameter) became NaN or infinite, so training stopped.

    Raised before the offending update is applied. The checkpoint of the last
    completed epoch, if one was written, is left as it was: a diverged run never
    overwrites it.

    Attributes:
        epoch: the epoch in which training diverged, counted from 1.
        step: the step within that epoch, counted from 1.
        loss: the offending loss value (``nan``, ``inf`` or ``-inf``), or ``nan`` if
            it was a parameter that became non-finite.
        checkpoint: the last good checkpoint, or ``None`` if none was written.
    """

    epoch: int
    step: int
    loss: float
    checkpoint: Path | None

    def __init__(
        self, message: str, *, epoch: int, step: int, loss: float, checkpoint: Path | None
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.loss = loss
        self.checkpoint = checkpoint

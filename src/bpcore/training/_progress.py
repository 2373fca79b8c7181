"""A one-line text progress bar for the steps of an epoch, with no dependencies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO, final

from bpcore.training._history import StepInfo

__all__ = ["ProgressBar"]


@final
class ProgressBar:
    """Draws ``epoch 3/20 [#######.......] 21/45 loss 0.1234`` on one line of ``stream``.

    The loss shown is the mean of the epoch's batch losses so far, which is
    steadier than the last batch's.

    Use :meth:`update` as a trainer's ``on_step`` callback and call :meth:`clear`
    before printing anything else to the same terminal (for instance from
    ``on_epoch``). The line is redrawn in place with a carriage return, at most
    once every ``min_interval`` seconds (plus the first step of each epoch), so a
    fast epoch of thousands of steps does not spend its time writing to the terminal.
    It writes nothing else, so a caller decides whether to show it at all, typically
    only when ``stream.isatty()``.
    """

    _stream: TextIO
    _epochs: int
    _width: int
    _min_interval: float
    _clock: Callable[[], float]
    _last_draw: float
    _shown: int
    _epoch: int
    _loss_sum: float
    _losses: int

    def __init__(
        self,
        stream: TextIO,
        *,
        epochs: int,
        width: int = 30,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a bar for a run of ``epochs`` epochs, ``width`` characters between brackets."""
        self._stream = stream
        self._epochs = epochs
        self._width = width
        self._min_interval = min_interval
        self._clock = clock
        self._last_draw = -float("inf")
        self._shown = 0
        self._epoch = 0
        self._loss_sum = 0.0
        self._losses = 0

    def update(self, info: StepInfo) -> None:
        """Redraw the line for ``info`` if the first step of an epoch or enough time has passed."""
        if info.epoch != self._epoch:
            self._epoch = info.epoch
            self._loss_sum = 0.0
            self._losses = 0
        self._loss_sum += info.loss
        self._losses += 1
        now = self._clock()
        if info.step != 1 and now - self._last_draw < self._min_interval:
            return
        self._last_draw = now
        filled = self._width * info.step // info.steps_per_epoch
        bar = "#" * filled + "." * (self._width - filled)
        line = (
            f"epoch {info.epoch}/{self._epochs} [{bar}] "
            f"{info.step}/{info.steps_per_epoch} loss {self._loss_sum / self._losses:.4f}"
        )
        # Pad with spaces so a shorter line fully covers the previous one.
        self._stream.write("\r" + line.ljust(self._shown))
        self._stream.flush()
        self._shown = len(line)

    def clear(self) -> None:
        """Erase the line, if one is shown, and leave the cursor at its start."""
        if self._shown:
            self._stream.write("\r" + " " * self._shown + "\r")
            self._stream.flush()
            self._shown = 0

"""Ctrl-C during training: the first SIGINT becomes a request to stop between steps."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import final

__all__ = ["StopRequest", "deferred_sigint"]


@final
@dataclass
class StopRequest:
    """Set when the user asked training to stop; the loop checks it after every step."""

    requested: bool = False


@contextlib.contextmanager
def deferred_sigint(enabled: bool) -> Iterator[StopRequest]:
    """Turn the first SIGINT into ``requested = True``; a second one raises at once.

    A ``KeyboardInterrupt`` raised in the middle of ``optimizer.update`` would leave
    some parameters updated and others not, a state not worth saving; deferring it
    to the end of the step avoids that. Nothing is installed when ``enabled`` is
    false, outside the main thread (only it can set signal handlers), or when the
    application has a SIGINT handler of its own. Python's default handler is back
    in place on exit.
    """
    request = StopRequest()
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

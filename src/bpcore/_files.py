"""Opening files for reading without blocking on what is not a regular file."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import final


@final
class NotRegular(Exception):  # noqa: N818  # internal: carries a message to the caller's error
    """The path is a directory, a FIFO, a device or a socket; ``str`` says which."""


@contextmanager
def open_regular(path: str | os.PathLike[str]) -> Iterator[io.BufferedReader[io.FileIO]]:
    """Open ``path`` for reading in binary if it is a regular file.

    The file is opened non-blocking and checked with ``fstat`` before anything is read,
    so a FIFO without a writer is refused at once instead of waiting forever, and a
    device such as ``/dev/zero`` is never read.

    Raises:
        FileNotFoundError: there is nothing at ``path``.
        NotRegular: it is a directory, a FIFO, a device or a socket.
        OSError: it cannot be opened (permissions, a loop of links).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(f"expected a regular file, got {_kind(mode)}")
        os.set_blocking(fd, True)
        handle = io.BufferedReader(io.FileIO(fd, "rb"))  # yielded below, in a with
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def _kind(mode: int) -> str:
    """What a file that is not regular is, by its ``st_mode``."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"

"""``bpcore download``: fetch a dataset's files, checked against pinned SHA-256 digests."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO, final

from bpcore import datasets
from bpcore.cli._common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``download`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "download",
        help="download MNIST into a folder",
        description=(
            "Download the four gzip-compressed MNIST files into DIR. Each file is checked "
            "against its pinned size and SHA-256 before it gets its final name; files "
            "already there and correct are kept, and an interrupted download resumes. "
            "Train on them with 'bpcore train --dataset mnist' (with the same --data-dir "
            "if you gave one)."
        ),
    )
    parser.add_argument("dataset", choices=("mnist",), help="the dataset to download")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"folder to download into (default: {datasets.default_data_dir('mnist')}, "
        f"under ${datasets.DATA_DIR_VARIABLE} if set)",
    )
    parser.add_argument(
        "--base-url",
        default=datasets.DEFAULT_MIRROR,
        metavar="URL",
        help=f"the mirror to download from (default: {datasets.DEFAULT_MIRROR})",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress line (it is only shown when stderr is a terminal anyway)",
    )
    return parser


@final
class _Progress:
    """Shows ``name  3.1/9.9 MB`` on one terminal line, redrawn at most ten times a second."""

    _stream: TextIO
    _last: float
    _shown: int

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = -float("inf")
        self._shown = 0

    def __call__(self, name: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        line = f"{name}  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        self._stream.write("\r" + line.ljust(self._shown) + ("\n" if finished else ""))
        self._stream.flush()
        self._shown = 0 if finished else len(line)


def run(args: argparse.Namespace) -> int:
    """Download the files and print their paths, one per line; return 0."""
    progress = None if args.quiet or not sys.stderr.isatty() else _Progress(sys.stderr)
    # Looked up on the package at call time, so the function can be replaced in tests.
    paths = datasets.download_mnist(args.data_dir, base_url=args.base_url, progress=progress)
    for path in paths:
        print(path)
    return 0

"""Shared machinery of the benchmarks: interleaved timing, medians, tables, environment.

Every benchmark measures its candidates *in one run*, interleaved round by round
(in a shuffled order every round), and reports medians and ratios side by side: a
ratio of two medians from the same run, and the median of the per-round ratios
(each round times the candidates back to back, so a slow patch of the machine
affects both sides of that round's ratio). Nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from bpcore._threads import blas_threads as _limit

UNSET_VARIABLE = "BPCORE_BENCH_UNSET"
"""Set by ``nox -s bench``: the OPENBLAS_* variables it removed, as ``NAME=value`` pairs."""


# -- environment ----------------------------------------------------------------------


def blas_info() -> list[dict[str, object]]:
    """threadpoolctl's description of every BLAS/OpenMP pool NumPy (and torch) loaded."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")  # a dependency of bpcore
    except ImportError:
        return []
    info: list[dict[str, object]] = threadpoolctl.threadpool_info()
    return info


def blas_threads() -> int:
    """The thread count of the BLAS NumPy uses (1 if threadpoolctl is missing)."""
    for pool in blas_info():
        if pool.get("user_api") == "blas":
            threads = pool.get("num_threads")
            if isinstance(threads, int):
                return threads
    return 1


def limit_blas_threads(threads: int | None) -> object | None:
    """Limit NumPy's BLAS to ``threads`` threads (threadpoolctl) until the result is dropped.

    ``None`` keeps the library's default (one thread per core). Keep the returned
    object alive for as long as the limit should hold.
    """
    return None if threads is None else _limit(threads)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: run NumPy's BLAS (and PyTorch) with ``N`` threads instead of the default."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads (default: the library's, one per core); 1 is steadier on a busy machine",
    )


def removed_openblas_settings() -> dict[str, str]:
    """The OPENBLAS_* variables that ``nox -s bench`` removed, with their original values."""
    text = os.environ.get(UNSET_VARIABLE, "")
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return dict(pairs)


def print_environment(title: str) -> None:
    """Print what a benchmark ran on: Python, NumPy, BLAS library and kernel, threads, load."""
    print(f"\n=== {title} ===")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    pools = blas_info()
    if not pools:
        print("BLAS: threadpoolctl not importable; library and kernel unknown")
    for pool in pools:
        print(
            f"{pool.get('user_api')}: {pool.get('internal_api')} {pool.get('version')}, "
            f"kernel {pool.get('architecture')}, {pool.get('num_threads')} threads, "
            f"threading {pool.get('threading_layer')} "
            f"({os.path.basename(str(pool.get('filepath')))})"
        )
    removed = removed_openblas_settings()
    current = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    if removed:
        listed = ", ".join(f"{k}={v}" for k, v in sorted(removed.items()))
        print(f"OPENBLAS settings unset for this benchmark (by nox -s bench): {listed}")
    print(f"OPENBLAS_* in effect: {current or 'none'}")
    print(f"load average before: {_load()}")


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def print_load_after() -> None:
    """Print the load average at the end: other processes competing for the cores show here."""
    print(f"load average after: {_load()}")


# -- timing ---------------------------------------------------------------------------


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect, then keep the cyclic garbage collector out of the timed region."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Candidate:
    """One thing to time: ``timed(k)`` does ``k`` units of work and returns the seconds taken.

    The time is measured where the work runs, which for :func:`local` candidates is
    this process and for others (PyTorch) a worker process.
    """

    name: str
    timed: Callable[[int], float]


def local(name: str, run: Callable[[], object], *, warm: bool = True) -> Candidate:
    """A candidate whose unit of work is one call of ``run`` in this process.

    With ``warm``, each sample first makes one untimed call, so that it measures
    back-to-back calls (as training makes them) and not the cache misses left by the
    previous candidate.
    """

    def timed(k: int) -> float:
        if warm:
            run()
        start = time.perf_counter()
        for _ in range(k):
            run()
        return time.perf_counter() - start

    return Candidate(name, timed)


@dataclass(frozen=True)
class Timings:
    """Per-call seconds of every candidate, one sample per round, rounds aligned."""

    samples: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def quartiles(self, name: str) -> tuple[float, float]:
        q = statistics.quantiles(self.samples[name], n=4, method="inclusive")
        return q[0], q[2]

    def ratio_of_medians(self, a: str, b: str) -> float:
        return self.median(a) / self.median(b)

    def paired_ratios(self, a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(self.samples[a], self.samples[b], strict=True)]

    def paired_ratio(self, a: str, b: str) -> tuple[float, float, float]:
        """Median and quartiles of the per-round ratios ``a / b``."""
        ratios = self.paired_ratios(a, b)
        q = statistics.quantiles(ratios, n=4, method="inclusive")
        return statistics.median(ratios), q[0], q[2]


def calibrate(candidate: Candidate, *, target: float) -> int:
    """How many calls make one sample of at least ``target`` seconds (at least 1)."""
    candidate.timed(1)
    k = 1
    while True:
        elapsed = candidate.timed(k)
        if elapsed >= target / 4 or k >= 4096:
            break
        k *= 4
    return max(1, math.ceil(target * k / max(elapsed, 1e-9)))


def interleave(
    candidates: Sequence[Candidate], *, rounds: int, sample_seconds: float = 0.004
) -> Timings:
    """Time every candidate once per round, in a random order drawn anew each round.

    Each sample is ``k`` back-to-back calls (``k`` calibrated per candidate so a
    sample lasts ``sample_seconds``; 1 without calibration if that is 0), divided by
    ``k``: the per-call time. The order is shuffled (with a fixed seed) so that no
    candidate always follows the same one.
    """
    inner = {
        c.name: calibrate(c, target=sample_seconds) if sample_seconds > 0 else 1 for c in candidates
    }
    samples: dict[str, list[float]] = {c.name: [] for c in candidates}
    order = random.Random(0)
    with quiet_gc():
        for _ in range(rounds):
            for c in order.sample(list(candidates), len(candidates)):
                k = inner[c.name]
                samples[c.name].append(c.timed(k) / k)
    return Timings(samples)


# -- printing -------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    """A duration with a unit that keeps 3-4 significant digits."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_bytes(size: float) -> str:
    """A size in MiB (or KiB below 1 MiB)."""
    if size >= 2**20:
        return f"{size / 2**20:.2f} MiB"
    return f"{size / 2**10:.1f} KiB"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print an aligned text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    sys.stdout.flush()


def verdict(value: float, target: float) -> str:
    """``met`` or ``MISSED`` for a ratio that should be at most ``target``."""
    return "met" if value <= target else "MISSED"

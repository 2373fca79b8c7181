"""How many BLAS threads NumPy's matrix products use: the commands' setting, and the
benchmarks'."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Final

import threadpoolctl  # type: ignore[import-untyped]  # the package ships no type information

DEFAULT_BLAS_THREADS: Final = 1
"""bpcore's networks multiply small matrices: one BLAS thread costs little on an idle
machine, and when another process holds a core, two threads wait on each other."""


def blas_threads(count: int) -> AbstractContextManager[object]:
    """Limit NumPy's BLAS to ``count`` threads while the context is open; ``0`` leaves the
    BLAS library's own setting."""
    if count == 0:
        return nullcontext()
    limiter: AbstractContextManager[object] = threadpoolctl.threadpool_limits(
        limits=count, user_api="blas"
    )
    return limiter

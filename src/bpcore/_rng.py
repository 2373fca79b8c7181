"""Random generators from what callers pass: a Generator, an int seed or ``None``."""

from __future__ import annotations

import numpy as np

from bpcore.errors import ArgumentError, ArgumentTypeError


def resolve_rng(rng: object, *, where: str) -> np.random.Generator:
    """Return ``rng`` itself, a new generator seeded with the int ``rng``, or a fresh one."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool | np.bool_):
        if rng < 0:
            raise ArgumentError(f"{where}: expected an `rng` seed >= 0, got {int(rng)}.")
        return np.random.default_rng(int(rng))
    raise ArgumentTypeError(
        f"{where}: expected `rng` to be a numpy.random.Generator, an int seed or None, "
        f"got {type(rng).__name__}."
    )

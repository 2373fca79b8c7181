"""A seeded, stratified train/test split of class-labelled samples."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["stratified_split"]

IndexArray = npt.NDArray[np.intp]


def stratified_split(
    labels: npt.NDArray[np.integer], *, test_fraction: float, rng: np.random.Generator
) -> tuple[IndexArray, IndexArray]:
    """Split sample indices into ``(train, test)``, each an ``(M,)`` intp array.

    Every class with ``n >= 2`` samples sends ``test_fraction · n`` of them, rounded half
    up and clamped to ``[1, n - 1]``, to the test set, so each class keeps the requested
    proportion to within one sample and appears on both sides; a class of one
    sample stays in training. Which samples go where, and the order of each side,
    depend only on ``rng``.
    """
    train_parts: list[IndexArray] = []
    test_parts: list[IndexArray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = _test_count(members.size, test_fraction)
        test_parts.append(members[:n_test])
        train_parts.append(members[n_test:])
    # Without the shuffle each side would list its samples class by class.
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return train, test


def _test_count(n: int, test_fraction: float) -> int:
    """How many of a class's ``n`` samples go to the test set."""
    if n < 2:
        return 0
    # Half-up rounding: Python's round() would round 0.5 to even and bias the split.
    return min(max(math.floor(test_fraction * n + 0.5), 1), n - 1)

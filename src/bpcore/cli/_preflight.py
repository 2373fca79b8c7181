"""What ``bpcore train`` checks before its first step, and says after its last.

Everything a run will need later (the checkpoint's folder, the plot's file name, the
labels, the memory for the network) is checked before training, so that a mistake costs
a second, not an epoch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bpcore._targets import validate_targets
from bpcore.checkpoint import stale_temporaries
from bpcore.cli._common import UsageError
from bpcore.errors import TargetError

__all__ = [
    "check_checkpoint_path",
    "check_labels",
    "check_memory",
    "check_plot_path",
    "near_chance",
    "remove_stale_temporaries",
]

ARRAYS_PER_PARAMETER = 5
"""Copies of every parameter a run holds at once: the parameter, its gradient, two
optimizer slots (Adam's moments) and the scratch buffer the optimizers update through."""


def check_checkpoint_path(path: Path) -> None:
    """Raise a UsageError unless ``path`` names a file in an existing, writable folder."""
    if path.is_dir():
        raise UsageError(f"--checkpoint {path}: expected a file name, got a directory.")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--checkpoint {path}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--checkpoint {path}: the folder {folder} is not writable.")


def check_plot_path(path: Path, formats: Sequence[str]) -> None:
    """Raise a UsageError unless ``path`` is a file name whose suffix is one of
    ``formats``, in an existing, writable folder."""
    if path.is_dir():
        raise UsageError(f"--plot {path}: expected a file name, got a directory.")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: the folder {path.parent} does not exist.")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(f"--plot {path}: the folder {path.parent} is not writable.")
    if path.suffix.lstrip(".").lower() not in formats:
        raise UsageError(
            f"--plot {path}: expected a file name ending in one of "
            f"{', '.join('.' + f for f in formats)}, got {path.suffix or 'no suffix'!r}."
        )


def check_labels(t: npt.ArrayLike, classes: int, *, name: str) -> None:
    """Raise a UsageError unless the labels ``t`` are valid targets for ``classes`` classes."""
    labels = np.asarray(t)
    try:
        validate_targets(
            labels,
            n=len(labels),
            c=classes,
            one_sample=False,
            dtype=np.dtype(np.float64),
            where=f"the {name} labels",
        )
    except TargetError as exc:
        raise UsageError(str(exc)) from exc


def check_memory(count: int, itemsize: int, *, option: str) -> None:
    """Raise a UsageError if a network of ``count`` parameters needs more memory than the
    machine has: :data:`ARRAYS_PER_PARAMETER` arrays of every parameter."""
    need = ARRAYS_PER_PARAMETER * count * itemsize
    have = _physical_memory()
    if have is not None and need > have:
        raise UsageError(
            f"{option}: expected a network that fits in this machine's {have / 2**30:.1f} GiB, "
            f"got {count:,} parameters, which need {need / 2**30:.1f} GiB to train."
        )


def _physical_memory() -> int | None:
    """The machine's physical memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def remove_stale_temporaries(path: Path) -> int:
    """Delete what an interrupted save of the checkpoint ``path`` left; return how many."""
    removed = 0
    for stale in stale_temporaries(path):
        try:
            stale.unlink()
        except OSError:
            continue
        removed += 1
    return removed


def near_chance(accuracy: float, classes: int) -> bool:
    """Whether ``accuracy`` is within half a chance level of guessing (1/classes)."""
    return accuracy <= 1.5 / classes

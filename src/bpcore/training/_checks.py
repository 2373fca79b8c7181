"""The checks of a :class:`~bpcore.training.Trainer`'s arguments, each raising a named error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FLOAT_DTYPES, FloatArray, FloatDType, as_dtype, to_array
from bpcore.checkpoint import MetaValue
from bpcore.errors import ArgumentError, ArgumentTypeError, DtypeError, ShapeError
from bpcore.optim._checks import positive_finite
from bpcore.training._state import TrainingState

__all__ = [
    "Tunable",
    "caller_meta",
    "learning_rates",
    "network_dtype",
    "positive_int",
    "resolve_seed",
    "training_data",
]

_WHERE: Final = "Trainer"
_SEED_BOUND: Final = 2**63


def positive_int(value: object, *, name: str) -> int:
    """``value`` as an int, or :class:`ArgumentError` unless it is an int >= 1."""
    # bool is an int subclass, but `batch_size=True` is a bug, not a size.
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value > 0:
        return int(value)
    raise ArgumentError(f"{_WHERE}: expected `{name}` to be a positive int, got {value!r}.")


def resolve_seed(rng: object) -> int:
    """The base seed every epoch's shuffling generator is derived from.

    An int >= 0 is the seed itself, a Generator gives its next draw in ``[0, 2**63)``,
    ``None`` a fresh random seed; anything else is an :class:`ArgumentError`.
    """
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, _SEED_BOUND))
    if rng is None:
        return int(np.random.default_rng().integers(0, _SEED_BOUND))
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    raise ArgumentError(
        f"{_WHERE}: expected `rng` to be a numpy.random.Generator, a non-negative int seed "
        f"or None, got {rng!r}."
    )


def network_dtype(params: Mapping[str, FloatArray]) -> FloatDType:
    """The one float dtype of all of ``params``, or :class:`DtypeError`."""
    dtypes = {p.dtype for p in params.values()}
    if len(dtypes) != 1:
        raise DtypeError(
            f"{_WHERE}: expected the network's parameters to share one float dtype, "
            f"got {sorted(str(d) for d in dtypes) or 'no parameters'}."
        )
    (dtype,) = dtypes
    for kept in FLOAT_DTYPES:
        if dtype == kept:
            return kept
    raise DtypeError(
        f"{_WHERE}: expected the network's parameters to be "
        f"{' or '.join(map(str, FLOAT_DTYPES))}, got {dtype}."
    )


def training_data(
    x: npt.ArrayLike, t: npt.ArrayLike, dtype: FloatDType, *, name: str
) -> tuple[FloatArray, npt.NDArray[np.generic]]:
    """``(x, t)`` as C-ordered arrays, ``x`` and float targets in ``dtype``.

    Shapes: ``x`` ``(N, ...)``, ``t`` ``(N,)`` labels or ``(N, C)`` rows, N >= 1.
    Arrays already in that form are returned without a copy.

    Raises:
        DtypeError: ``x`` is not real numbers.
        ShapeError: the set is empty, or ``x`` and ``t`` differ in length.
    """
    # order="C", not ascontiguousarray, which would report a 0-d x as shape (1,).
    xs = np.asarray(as_dtype(x, dtype, where=_WHERE, name=f"x_{name}"), order="C")
    ts: npt.NDArray[np.generic] = to_array(t, where=_WHERE, name=f"t_{name}")
    if ts.dtype.kind == "f":
        # One-hot or soft rows: cast once here instead of in every batch's loss.
        ts = np.asarray(ts, dtype=dtype, order="C")
    if xs.ndim == 0 or ts.ndim == 0 or xs.shape[0] == 0 or xs.shape[0] != ts.shape[0]:
        raise ShapeError(
            f"{_WHERE}: expected x_{name} and t_{name} to hold the same number N >= 1 of "
            f"samples along axis 0, got shapes {xs.shape} and {ts.shape}."
        )
    return xs, ts


def caller_meta(meta: Mapping[str, MetaValue] | None) -> dict[str, MetaValue]:
    """A copy of ``meta``, or :class:`ArgumentError` if it uses a key of the training state."""
    extra = dict(meta or {})
    clash = sorted(extra.keys() & TrainingState.KEYS)
    if clash:
        raise ArgumentError(
            f"{_WHERE}: expected `meta` keys other than the trainer's own "
            f"{sorted(TrainingState.KEYS)}, got {clash}."
        )
    return extra


@runtime_checkable
class Tunable(Protocol):
    """An optimizer whose learning rate can be set: all of bpcore's, and the book's."""

    lr: float


def learning_rates(
    optimizer: object, schedule: object, epochs: int
) -> tuple[Tunable, tuple[float, ...]]:
    """``optimizer`` and ``schedule(e)`` for the epochs ``e = 1 .. epochs``, each rate
    checked finite and ``> 0``.

    Raises:
        ArgumentTypeError: ``schedule`` is not callable, or returns a non-number.
        ArgumentError: ``optimizer`` has no ``lr`` to set, or a rate is not finite and ``> 0``.
    """
    if not callable(schedule):
        raise ArgumentTypeError(
            f"{_WHERE}: expected `lr_schedule` to be a function of the epoch, "
            f"got {type(schedule).__name__}."
        )
    if not isinstance(optimizer, Tunable):
        raise ArgumentError(
            f"{_WHERE}: expected an optimizer with an `lr` attribute to follow `lr_schedule`, "
            f"got {type(optimizer).__name__}, which has none."
        )
    return optimizer, tuple(
        positive_finite(schedule(epoch), where=_WHERE, name=f"lr_schedule({epoch})")
        for epoch in range(1, epochs + 1)
    )

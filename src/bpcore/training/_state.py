"""The training state a checkpoint records: its meta keys, a typed record, and to/from meta."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, Final, TypeGuard, final

from bpcore._arrays import FLOAT_DTYPES, FloatDType
from bpcore.checkpoint import MetaValue
from bpcore.errors import CheckpointError
from bpcore.training._history import EpochStats

__all__ = ["CHECKPOINT_FORMAT", "TrainingState"]

CHECKPOINT_FORMAT: Final = "bpcore.training/2"
"""The value of meta ``"format"`` in every checkpoint a :class:`~bpcore.training.Trainer` writes."""

# Format 1 (bpcore 0.1) had no test loss: its history rows end at `seconds`. It is read,
# never written.
_ROW_LENGTHS: Final[Mapping[str, int]] = {
    "bpcore.training/1": len(fields(EpochStats)) - 1,
    CHECKPOINT_FORMAT: len(fields(EpochStats)),
}
_DTYPES: Final[Mapping[str, FloatDType]] = {str(dtype): dtype for dtype in FLOAT_DTYPES}


@final
@dataclass(frozen=True)
class TrainingState:
    """Where a training run stands: all a checkpoint must record to continue it exactly.

    :meth:`to_meta` writes it as checkpoint metadata and :meth:`from_meta` reads it
    back; the keys are :attr:`KEYS`. :meth:`from_meta` also reads format
    ``"bpcore.training/1"``, whose history rows lack ``test_loss`` (read as ``None``).

    ==================  ================  ==============================================
    meta key            field             value
    ==================  ================  ==============================================
    ``"format"``                          :data:`CHECKPOINT_FORMAT`
    ``"epoch"``         ``epochs_done``   int >= 0
    ``"batch"``         ``batches_done``  int, 0 <= batch <= ceil(train_size / batch_size)
    ``"seed"``          ``seed``          int >= 0
    ``"batch_size"``    ``batch_size``    int >= 1
    ``"train_size"``    ``train_size``    int >= 1
    ``"global_step"``   ``global_step``   int >= 0
    ``"loss_sum"``      ``loss_sum``      finite float
    ``"elapsed"``       ``elapsed``       finite float
    ``"interrupted"``   ``interrupted``   0 or 1
    ``"dtype"``         ``dtype``         ``"float32"`` or ``"float64"``
    ``"history"``       ``history``       JSON list of ``[epoch, loss, train_acc,
                                          test_acc, seconds, test_loss]``, one row per
                                          done epoch; ``test_loss`` may be ``null``
    ==================  ================  ==============================================

    Attributes:
        epochs_done: the number of completed epochs.
        batches_done: the mini-batches of epoch ``epochs_done + 1`` already applied.
        seed: the seed every epoch's shuffling is derived from.
        batch_size: the samples per mini-batch.
        train_size: the number of training samples.
        global_step: the optimizer steps taken since training began.
        loss_sum: Σ batch loss · batch size over the ``batches_done`` batches.
        elapsed: the seconds spent in the unfinished epoch so far.
        interrupted: whether the state was saved because the run was interrupted.
        dtype: the network's float dtype.
        history: one record per completed epoch.
    """

    KEYS: ClassVar[frozenset[str]] = frozenset(
        {
            "format",
            "epoch",
            "batch",
            "seed",
            "batch_size",
            "train_size",
            "global_step",
            "loss_sum",
            "elapsed",
            "interrupted",
            "dtype",
            "history",
        }
    )

    epochs_done: int
    batches_done: int
    seed: int
    batch_size: int
    train_size: int
    global_step: int
    loss_sum: float
    elapsed: float
    interrupted: bool
    dtype: FloatDType
    history: tuple[EpochStats, ...]

    @property
    def steps_per_epoch(self) -> int:
        """``ceil(train_size / batch_size)``: the number of mini-batches in an epoch."""
        return -(-self.train_size // self.batch_size)

    def to_meta(self) -> dict[str, MetaValue]:
        """The state as checkpoint metadata: exactly the keys of :attr:`KEYS`."""
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epochs_done,
            "batch": self.batches_done,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "train_size": self.train_size,
            "global_step": self.global_step,
            "loss_sum": self.loss_sum,
            "elapsed": self.elapsed,
            "interrupted": int(self.interrupted),
            "dtype": str(self.dtype),
            "history": json.dumps(
                [
                    [e.epoch, e.train_loss, e.train_acc, e.test_acc, e.seconds, e.test_loss]
                    for e in self.history
                ],
                allow_nan=False,
            ),
        }

    @classmethod
    def from_meta(
        cls, meta: Mapping[str, MetaValue], *, where: str = "TrainingState.from_meta"
    ) -> TrainingState:
        """Read the state that :meth:`to_meta` wrote; other keys of ``meta`` are ignored.

        ``where`` names the caller in error messages.

        Raises:
            CheckpointError: ``meta`` was not written by a trainer (wrong ``"format"``),
                lacks a key, or holds a value outside the range the table gives; the
                message names the key, what was expected and what it held.
        """
        form = meta.get("format")
        if not isinstance(form, str) or form not in _ROW_LENGTHS:
            raise CheckpointError(
                f"{where}: expected meta 'format' {CHECKPOINT_FORMAT!r} (a checkpoint written "
                f"by bpcore.training.Trainer), got {form!r}."
            )
        state = cls(
            epochs_done=_count(meta, "epoch", where),
            batches_done=_count(meta, "batch", where),
            seed=_count(meta, "seed", where),
            batch_size=_count(meta, "batch_size", where, least=1),
            train_size=_count(meta, "train_size", where, least=1),
            global_step=_count(meta, "global_step", where),
            loss_sum=_finite(meta, "loss_sum", where),
            elapsed=_finite(meta, "elapsed", where),
            interrupted=_flag(meta, "interrupted", where),
            dtype=_dtype(meta, "dtype", where),
            history=_history(meta, "history", where, length=_ROW_LENGTHS[form]),
        )
        if len(state.history) != state.epochs_done:
            raise CheckpointError(
                f"{where}: expected {state.epochs_done} history rows (meta 'epoch'), "
                f"got {len(state.history)}."
            )
        if state.batches_done > state.steps_per_epoch:
            raise CheckpointError(
                f"{where}: expected meta 'batch' <= {state.steps_per_epoch}, "
                f"got {state.batches_done}."
            )
        return state


def _held(meta: Mapping[str, MetaValue], key: str) -> str:
    """What ``meta`` holds at ``key``, as an error message shows it."""
    return repr(meta[key]) if key in meta else "no such key"


def _count(meta: Mapping[str, MetaValue], key: str, where: str, *, least: int = 0) -> int:
    value = meta.get(key)
    # bool is an int subclass, and JSON keeps it a bool: True is not a count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= least:
        return value
    what = "a non-negative int" if least == 0 else f"an int >= {least}"
    raise CheckpointError(f"{where}: expected meta {key!r} to be {what}, got {_held(meta, key)}.")


def _finite(meta: Mapping[str, MetaValue], key: str, where: str) -> float:
    value = meta.get(key)
    if _finite_number(value):
        return float(value)
    raise CheckpointError(
        f"{where}: expected meta {key!r} to be a finite number, got {_held(meta, key)}."
    )


def _flag(meta: Mapping[str, MetaValue], key: str, where: str) -> bool:
    value = meta.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    raise CheckpointError(f"{where}: expected meta {key!r} to be 0 or 1, got {_held(meta, key)}.")


def _dtype(meta: Mapping[str, MetaValue], key: str, where: str) -> FloatDType:
    value = meta.get(key)
    if isinstance(value, str) and value in _DTYPES:
        return _DTYPES[value]
    raise CheckpointError(
        f"{where}: expected meta {key!r} to be one of {sorted(_DTYPES)}, got {_held(meta, key)}."
    )


def _history(
    meta: Mapping[str, MetaValue], key: str, where: str, *, length: int
) -> tuple[EpochStats, ...]:
    text = meta.get(key)
    if not isinstance(text, str):
        raise CheckpointError(
            f"{where}: expected meta {key!r} to be a JSON string, got {_held(meta, key)}."
        )
    try:
        rows: object = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"{where}: expected meta {key!r} to hold JSON, got {exc}.") from exc
    if not isinstance(rows, list):
        raise CheckpointError(
            f"{where}: expected meta {key!r} to be a JSON list, got {type(rows).__name__}."
        )
    epochs: list[EpochStats] = []
    for index, row in enumerate(rows):
        if not (
            isinstance(row, list)
            and len(row) == length
            and all(_finite_number(v) for v in row[:5])
            and (length == 5 or row[5] is None or _finite_number(row[5]))
            and row[0] == index + 1
        ):
            shape = ", ".join(
                ["loss", "train_acc", "test_acc", "seconds", "test_loss"][: length - 1]
            )
            raise CheckpointError(
                f"{where}: expected meta {key!r} row {index} to be [{index + 1}, {shape}], "
                f"got {row!r}."
            )
        epochs.append(
            EpochStats(
                epoch=int(row[0]),
                train_loss=float(row[1]),
                train_acc=float(row[2]),
                test_acc=float(row[3]),
                seconds=float(row[4]),
                test_loss=None if length == 5 or row[5] is None else float(row[5]),
            )
        )
    return tuple(epochs)


def _finite_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass, and JSON keeps it a bool: True is not a number here.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

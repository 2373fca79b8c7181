"""TrainingState: what a checkpoint records of a run, written and read back as meta."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from bpcore.checkpoint import MetaValue
from bpcore.errors import CheckpointError
from bpcore.training import CHECKPOINT_FORMAT, EpochStats, TrainingState
from tests.helpers import assert_error

HISTORY = (
    EpochStats(1, 1.25, 0.5, 0.25, 0.75, test_loss=1.5),
    EpochStats(2, 0.5, 0.75, 0.625, 0.5, test_loss=0.875),
)
STATE = TrainingState(
    epochs_done=2,
    batches_done=3,
    seed=7,
    batch_size=5,
    train_size=23,
    global_step=13,
    loss_sum=4.5,
    elapsed=0.25,
    interrupted=True,
    dtype=np.dtype(np.float32),
    history=HISTORY,
)
# The metadata of STATE exactly as checkpoints of format bpcore.training/2 hold it: any
# change here breaks the resume of every checkpoint already written.
META: dict[str, MetaValue] = {
    "format": "bpcore.training/2",
    "epoch": 2,
    "batch": 3,
    "seed": 7,
    "batch_size": 5,
    "train_size": 23,
    "global_step": 13,
    "loss_sum": 4.5,
    "elapsed": 0.25,
    "interrupted": 1,
    "dtype": "float32",
    "history": "[[1, 1.25, 0.5, 0.25, 0.75, 1.5], [2, 0.5, 0.75, 0.625, 0.5, 0.875]]",
}
# Format 1, written before the test loss was recorded: the same state without it.
META_1: dict[str, MetaValue] = {
    **META,
    "format": "bpcore.training/1",
    "history": "[[1, 1.25, 0.5, 0.25, 0.75], [2, 0.5, 0.75, 0.625, 0.5]]",
}
WHERE = "TrainingState.from_meta"


def test_to_meta_writes_the_format_checkpoints_hold() -> None:
    """to_meta writes every field under its key, in the types of the on-disk format."""
    meta = STATE.to_meta()
    assert meta == META
    assert {key: type(value) for key, value in meta.items()} == {
        key: type(value) for key, value in META.items()
    }
    assert META["format"] == CHECKPOINT_FORMAT


def test_a_format_1_checkpoint_reads_with_no_test_loss() -> None:
    """Checkpoints written before the test loss was recorded still resume: their epochs
    read with test_loss None, and written again they keep None as JSON null."""
    old = TrainingState.from_meta(META_1)
    assert old == replace(STATE, history=tuple(replace(e, test_loss=None) for e in HISTORY))
    rewritten = old.to_meta()
    assert rewritten["format"] == CHECKPOINT_FORMAT
    assert json.loads(str(rewritten["history"]))[0] == [1, 1.25, 0.5, 0.25, 0.75, None]
    assert TrainingState.from_meta(rewritten) == old


def test_keys_are_exactly_those_to_meta_writes() -> None:
    """KEYS, the keys a trainer reserves in a checkpoint's meta, are the ones it writes."""
    assert set(STATE.to_meta()) == TrainingState.KEYS


def test_from_meta_reads_back_what_to_meta_wrote() -> None:
    """from_meta(to_meta(s)) == s, and keys of other writers are ignored."""
    assert TrainingState.from_meta(META) == STATE
    assert TrainingState.from_meta({**META, "dataset": "digits", "lr": 0.1}) == STATE
    fresh = replace(STATE, epochs_done=0, batches_done=0, interrupted=False, history=())
    assert TrainingState.from_meta(fresh.to_meta()) == fresh


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_dtype_round_trips_as_the_same_numpy_dtype(dtype: type[np.floating]) -> None:
    """Both float dtypes come back as numpy dtypes equal to the saved one."""
    state = replace(STATE, dtype=np.dtype(dtype))
    assert TrainingState.from_meta(state.to_meta()).dtype == np.dtype(dtype)


def test_float_values_round_trip_bit_for_bit() -> None:
    """loss_sum, elapsed and the history's floats survive JSON exactly."""
    awkward = (EpochStats(1, 0.1 + 0.2, 1 / 3, 2 / 3, math.pi, test_loss=math.e),)
    state = replace(STATE, epochs_done=1, loss_sum=1e-300, elapsed=1 / 7, history=awkward)
    assert TrainingState.from_meta(state.to_meta()) == state


def test_steps_per_epoch_rounds_up() -> None:
    """23 samples in batches of 5 are 5 steps; 25 in batches of 5 are 5 too."""
    assert STATE.steps_per_epoch == 5
    assert replace(STATE, train_size=25).steps_per_epoch == 5
    assert replace(STATE, train_size=26).steps_per_epoch == 6


def test_a_checkpoint_not_written_by_a_trainer_is_refused_by_its_format() -> None:
    """Without the trainer's format, from_meta names what it expected and what it found."""
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta({"epoch": 3}),
        callee=WHERE,
        expected=f"meta 'format' {CHECKPOINT_FORMAT!r}",
        got="None",
    )
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta({**META, "format": "bpcore.training/3"}),
        callee=WHERE,
        expected=f"meta 'format' {CHECKPOINT_FORMAT!r}",
        got="'bpcore.training/3'",
    )


BAD_VALUES: list[tuple[str, MetaValue | None, str]] = [
    ("epoch", -1, "a non-negative int"),
    ("epoch", 1.0, "a non-negative int"),
    ("epoch", True, "a non-negative int"),
    ("batch", "3", "a non-negative int"),
    ("seed", -7, "a non-negative int"),
    ("batch_size", 0, "an int >= 1"),
    ("train_size", 0, "an int >= 1"),
    ("global_step", None, "a non-negative int"),
    ("loss_sum", "x", "a finite number"),
    ("loss_sum", True, "a finite number"),
    ("elapsed", 1e400, "a finite number"),
    ("interrupted", 2, "0 or 1"),
    ("interrupted", True, "0 or 1"),
    ("dtype", "float16", "one of ['float32', 'float64']"),
    ("dtype", "f4", "one of ['float32', 'float64']"),
    ("history", 3, "a JSON string"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_a_value_out_of_its_range_is_refused(
    key: str, value: MetaValue | None, expected: str
) -> None:
    """Each key has its range; a value outside it (or a missing key, None here) is refused,
    naming the key, the range and the value."""
    meta = {k: v for k, v in META.items() if k != key}
    if value is not None:
        meta[key] = value
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta(meta, where="Trainer.resume('run.npz')"),
        callee="Trainer.resume('run.npz')",
        expected=f"meta {key!r} to be {expected}",
        got="no such key" if value is None else repr(value),
    )


def test_a_history_of_another_length_than_the_epochs_is_refused() -> None:
    """The history must hold one row per completed epoch."""
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta({**META, "history": "[[1, 1.25, 0.5, 0.25, 0.75, 1.5]]"}),
        callee=WHERE,
        expected="2 history rows",
        got="1",
    )


def test_a_history_that_is_not_a_json_list_is_refused() -> None:
    """History text that is not JSON, or JSON that is not a list, is refused."""
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta({**META, "history": "not json"}),
        callee=WHERE,
        expected="meta 'history' to hold JSON",
        got="Expecting value",
    )
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta({**META, "history": '{"rows": 1}'}),
        callee=WHERE,
        expected="meta 'history' to be a JSON list",
        got="dict",
    )


BAD_ROWS: dict[str, object] = {
    "short": [1, 0.5, 0.5, 0.5, 1.0],
    "long": [1, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0],
    "bool": [1, True, 0.5, 0.5, 1.0, 1.0],
    "nan": [1, math.nan, 0.5, 0.5, 1.0, 1.0],
    "string": [1, "0.5", 0.5, 0.5, 1.0, 1.0],
    "null": [1, 0.5, 0.5, None, 1.0, 1.0],
    "index": [2, 0.5, 0.5, 0.5, 1.0, 1.0],
    "test loss bool": [1, 0.5, 0.5, 0.5, 1.0, False],
    "test loss inf": [1, 0.5, 0.5, 0.5, 1.0, math.inf],
    "test loss string": [1, 0.5, 0.5, 0.5, 1.0, "1"],
    "object": {"epoch": 1},
}
# Format 1 rows have five entries; the sixth is not optional there.
BAD_ROWS_1: dict[str, object] = {
    "short": [1, 0.5, 0.5, 0.5],
    "long": [1, 0.5, 0.5, 0.5, 1.0, 1.0],
    "nan": [1, 0.5, 0.5, 0.5, math.nan],
    "index": [2, 0.5, 0.5, 0.5, 1.0],
}


@pytest.mark.parametrize(
    ("meta", "row", "form"),
    [(META, row, "loss, train_acc, test_acc, seconds, test_loss") for row in BAD_ROWS.values()]
    + [(META_1, row, "loss, train_acc, test_acc, seconds") for row in BAD_ROWS_1.values()],
    ids=[f"2-{kind}" for kind in BAD_ROWS] + [f"1-{kind}" for kind in BAD_ROWS_1],
)
def test_a_malformed_history_row_is_refused(
    meta: dict[str, MetaValue], row: object, form: str
) -> None:
    """Each way a row can be wrong (length, a bool, a non-finite or non-number value, the
    epoch number, not a list) is refused, naming the row and its expected form; only the
    test loss may be null."""
    one_epoch = {**meta, "epoch": 1, "batch": 0, "history": json.dumps([row])}
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta(one_epoch),
        callee=WHERE,
        expected=f"meta 'history' row 0 to be [1, {form}]",
        got=repr(json.loads(json.dumps(row))),
    )


def test_a_null_test_loss_is_read_as_none() -> None:
    """A format-2 row may hold null for its test loss (an epoch first saved by format 1)."""
    meta = {**META, "epoch": 1, "batch": 0, "history": "[[1, 0.5, 0.5, 0.5, 1.0, null]]"}
    assert TrainingState.from_meta(meta).history == (EpochStats(1, 0.5, 0.5, 0.5, 1.0),)


def test_a_batch_beyond_the_end_of_the_epoch_is_refused() -> None:
    """23 samples in batches of 5 make 5 steps: 'batch' 5 is an epoch's last step, 6 is
    impossible."""
    assert TrainingState.from_meta({**META, "batch": 5}).batches_done == 5
    assert_error(
        CheckpointError,
        lambda: TrainingState.from_meta({**META, "batch": 6}),
        callee=WHERE,
        expected="meta 'batch' <= 5",
        got="6",
    )

"""bpcore.checkpoint, pinned exactly: temporary names, durability, key sets, member order, messages.

``test_checkpoint.py`` covers round trips and every kind of damaged file; these tests pin
what it left loose: a temporary name that is taken is never written, the directory is
fsynced after the rename, a key set that differs only by missing (or only by extra) names
is refused, the ``meta`` member may come first, cleaning up never hides the error that
stopped a save, and every message names the file.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bpcore._arrays import FloatArray
from bpcore.checkpoint import Checkpoint, load_checkpoint, restore_into, save_checkpoint
from bpcore.errors import CheckpointError, DtypeError
from tests.helpers import raises_exactly

F64 = np.dtype(np.float64)


def _params() -> dict[str, FloatArray]:
    return {"W": np.arange(6.0).reshape(2, 3), "b": np.ones(3)}


def _names(values: list[str]) -> Iterator[str]:
    yield from values


def test_a_taken_temporary_name_is_skipped_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the first temporary name exists, the save takes the next one and never opens
    the existing file (O_EXCL): someone else's file keeps its bytes."""
    target = tmp_path / "c.npz"
    taken = tmp_path / f".c.npz.{'a' * 16}.tmp"
    taken.write_bytes(b"someone else's")
    names = _names(["a" * 16, "b" * 16])
    monkeypatch.setattr("secrets.token_hex", lambda _: next(names))
    save_checkpoint(target, _params())
    assert taken.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name, "c.npz"]
    np.testing.assert_array_equal(load_checkpoint(target).params["W"], _params()["W"])


def test_no_free_temporary_name_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After 100 taken names, save_checkpoint raises FileExistsError naming the target."""
    target = tmp_path / "c.npz"
    (tmp_path / f".c.npz.{'c' * 16}.tmp").write_bytes(b"")
    monkeypatch.setattr("secrets.token_hex", lambda _: "c" * 16)
    message = (
        f"save_checkpoint({str(target)!r}): could not create a unique temporary file "
        "next to it after 100 attempts."
    )
    raises_exactly(FileExistsError, message, lambda: save_checkpoint(target, _params()))
    assert not target.exists()


@pytest.mark.skipif(not hasattr(os, "O_DIRECTORY"), reason="directories open only on POSIX")
def test_the_file_then_its_directory_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data are fsynced before the rename and the directory after it, so the rename
    itself survives a crash."""
    synced: list[bool] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr("os.fsync", recording_fsync)
    save_checkpoint(tmp_path / "c.npz", _params())
    assert synced == [False, True]


def test_a_directory_that_cannot_be_opened_does_not_fail_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory fsync is best effort: the checkpoint is complete and in place by then."""
    real_open = os.open

    def no_directories(path: object, flags: int, *args: int) -> int:
        if Path(str(path)) == tmp_path:
            raise PermissionError("directories may not be opened here")
        return real_open(path, flags, *args)  # type: ignore[arg-type]  # path is str or Path

    monkeypatch.setattr("os.open", no_directories)
    target = save_checkpoint(tmp_path / "c.npz", _params())
    np.testing.assert_array_equal(load_checkpoint(target).params["b"], np.ones(3))


def test_cleanup_keeps_the_error_that_stopped_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the temporary file is already gone when a failed save cleans up, the caller
    still sees the failure itself, not the missing file."""
    target = tmp_path / "c.npz"

    def vanishing_replace(source: str | os.PathLike[str], _: object) -> None:
        os.unlink(source)
        raise OSError("the disk went away")

    monkeypatch.setattr("os.replace", vanishing_replace)
    raises_exactly(OSError, "the disk went away", lambda: save_checkpoint(target, _params()))
    assert list(tmp_path.iterdir()) == []


def test_expected_names_missing_only_or_extra_only_are_refused(tmp_path: Path) -> None:
    """`expected` must match the file's names exactly: a name missing from the file, or a
    name the file has beyond it, is each a CheckpointError on its own."""
    path = save_checkpoint(tmp_path / "c.npz", _params())
    where = f"load_checkpoint({str(path)!r})"
    more = {"W": ((2, 3), F64), "b": ((3,), F64), "c": ((1,), F64)}
    raises_exactly(
        CheckpointError,
        f"{where}: expected parameters ['W', 'b', 'c']; missing from the file: ['c'], "
        "not expected: [].",
        lambda: load_checkpoint(path, expected=more),
    )
    fewer = {"W": ((2, 3), F64)}
    raises_exactly(
        CheckpointError,
        f"{where}: expected parameters ['W']; missing from the file: [], not expected: ['b'].",
        lambda: load_checkpoint(path, expected=fewer),
    )


def test_restore_into_refuses_missing_only_or_extra_only(tmp_path: Path) -> None:
    """restore_into needs the same names on both sides; either difference alone is refused
    and nothing is written."""
    saved = Checkpoint(params=_params(), meta={})
    more = {**_params(), "c": np.zeros(1)}
    raises_exactly(
        CheckpointError,
        "restore_into: expected the checkpoint to hold parameters ['W', 'b', 'c']; "
        "missing from the checkpoint: ['c'], not in params: [].",
        lambda: restore_into(more, saved),
    )
    fewer = {"W": np.zeros((2, 3))}
    raises_exactly(
        CheckpointError,
        "restore_into: expected the checkpoint to hold parameters ['W']; "
        "missing from the checkpoint: [], not in params: ['b'].",
        lambda: restore_into(fewer, saved),
    )
    np.testing.assert_array_equal(fewer["W"], np.zeros((2, 3)))


def test_meta_may_come_first_in_the_archive(tmp_path: Path) -> None:
    """An archive whose `meta` member precedes the parameters loads them all."""
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in (("meta", np.array('{"k": 1}')), ("param/W", np.arange(3.0))):
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, value, allow_pickle=False)
    loaded = load_checkpoint(path)
    assert loaded.meta == {"k": 1}
    np.testing.assert_array_equal(loaded.params["W"], np.arange(3.0))


def test_save_errors_name_the_file(tmp_path: Path) -> None:
    """Every refusal of save_checkpoint names the file it would have written."""
    path = tmp_path / "c.npz"
    where = f"save_checkpoint({str(path)!r})"
    raises_exactly(
        CheckpointError,
        f"{where}: expected parameter names to be str, got int 1.",
        lambda: save_checkpoint(path, {1: np.ones(1)}),  # type: ignore[dict-item]  # the point
    )
    bad_meta: list[tuple[str, dict[object, object]]] = [
        ("expected meta keys to be str, got int 2.", {2: 1}),
        ("expected meta['k'] to be int, float or str, got list.", {"k": [1]}),
        ("expected meta['k'] to be finite (JSON has no NaN or infinity), got inf.",
         {"k": float("inf")}),
    ]  # fmt: skip
    for message, meta in bad_meta:
        raises_exactly(
            CheckpointError,
            f"{where}: {message}",
            lambda m=meta: save_checkpoint(path, _params(), meta=m),  # type: ignore[misc]  # mypy cannot infer a default-argument lambda
        )
    raises_exactly(
        DtypeError,
        f"{where}: expected `state['v']` to be a float32 or float64 numpy array, got dtype int64.",
        lambda: save_checkpoint(path, _params(), state={"v": np.ones(2, np.int64)}),
    )
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    """An unreadable member and meta that is not JSON are reported with the file's name."""
    path = tmp_path / "c.npz"
    where = f"load_checkpoint({str(path)!r})"
    with zipfile.ZipFile(path, "w") as archive, archive.open("meta.npy", "w") as member:
        np.lib.format.write_array(member, np.array("not json"), allow_pickle=False)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(f"{where}: expected key 'meta' to hold JSON, got ")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("param/W.npy", b"\x93NUMPY garbage")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(
        f"{where}: key 'param/W' is unreadable (corrupt, truncated or pickled data): "
    )


def test_restore_into_names_a_bad_target() -> None:
    """A target that is not a float array is named, with restore_into as the caller."""
    raises_exactly(
        DtypeError,
        "restore_into: expected `params['W']` to be a float32 or float64 numpy array, got list.",
        lambda: restore_into({"W": [1.0]}, Checkpoint(params={"W": np.ones(1)}, meta={})),  # type: ignore[dict-item]  # the point
    )

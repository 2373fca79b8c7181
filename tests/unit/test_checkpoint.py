"""bpcore.checkpoint: round trips, the archive format, durable writes, load errors, restore_into."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
import pytest

import bpcore
from bpcore._arrays import FloatArray, FloatDType
from bpcore.checkpoint import (
    Checkpoint,
    load_checkpoint,
    restore_into,
    save_checkpoint,
    stale_temporaries,
)
from bpcore.errors import CheckpointError, DtypeError
from bpcore.layers import Affine
from tests.helpers import assert_error

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)


def network_params(dtype: FloatDType) -> dict[str, FloatArray]:
    rng = np.random.default_rng(0)
    return {
        "W1": rng.standard_normal((3, 4)).astype(dtype),
        "b1": rng.standard_normal(4).astype(dtype),
        "W2": rng.standard_normal((4, 2)).astype(dtype),
        "b2": np.zeros(2, dtype=dtype),
    }


def shapes_of(params: dict[str, FloatArray]) -> dict[str, tuple[tuple[int, ...], FloatDType]]:
    return {k: (v.shape, v.dtype) for k, v in params.items()}


def write_npz(
    path: Path, arrays: dict[str, np.ndarray[tuple[int, ...], np.dtype[np.generic]]]
) -> None:
    """Write an arbitrary .npz (pickling allowed) to build malformed checkpoints."""
    with path.open("wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # the stub checks **kwds against `allow_pickle: bool`; no key here is "allow_pickle"


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def _params() -> dict[str, FloatArray]:
    return {"W": np.arange(6.0).reshape(2, 3), "b": np.ones(3)}


def _where(function: str, path: Path) -> str:
    return f"{function}({str(path)!r})"


# --- round trips --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_round_trip_preserves_values_dtypes_and_meta(tmp_path: Path, dtype: FloatDType) -> None:
    """Saved parameters and metadata load back bit-for-bit with the same dtypes."""
    params = network_params(dtype)
    meta: dict[str, int | float | str] = {
        "epoch": 7,
        "loss": 0.125,
        "optimizer": "Adam",
        "best": True,
    }
    path = tmp_path / "ckpt.npz"
    assert save_checkpoint(path, params, meta=meta) == path
    loaded = load_checkpoint(path, expected=shapes_of(params))
    assert loaded.params.keys() == params.keys()
    for key, value in params.items():
        assert loaded.params[key].dtype == dtype
        np.testing.assert_array_equal(loaded.params[key], value)
    assert loaded.meta == meta
    assert type(loaded.meta["epoch"]) is int
    assert type(loaded.meta["loss"]) is float
    assert type(loaded.meta["best"]) is bool


def test_file_layout_is_param_keys_and_json_meta(tmp_path: Path) -> None:
    """The archive holds `param/<name>` arrays and a 0-d unicode `meta` JSON string, no pickle."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones((2, 2))}, meta={"step": 3})
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["meta.npy", "param/W.npy"]
    with np.load(path, allow_pickle=False) as archive:
        raw = archive["meta"]
        assert raw.shape == ()
        assert raw.dtype.kind == "U"
        assert json.loads(str(raw)) == {"step": 3}


def test_state_arrays_round_trip_beside_the_parameters(tmp_path: Path) -> None:
    """Arrays passed as `state` are stored as `state/<name>` and come back in
    Checkpoint.state, separate from the parameters."""
    path = tmp_path / "c.npz"
    params = {"W": np.arange(6.0).reshape(2, 3)}
    state = {"v/W": np.full((2, 3), 0.5, dtype=np.float32), "iter": np.array(7.0)}
    save_checkpoint(path, params, state=state)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == [
            "meta.npy",
            "param/W.npy",
            "state/iter.npy",
            "state/v/W.npy",
        ]
    loaded = load_checkpoint(path)
    assert loaded.params.keys() == {"W"}
    assert loaded.state.keys() == {"v/W", "iter"}
    np.testing.assert_array_equal(loaded.state["v/W"], state["v/W"])
    assert loaded.state["v/W"].dtype == np.float32
    assert float(loaded.state["iter"]) == 7.0


def test_meta_defaults_to_empty(tmp_path: Path) -> None:
    """Without meta the checkpoint loads with an empty metadata dict and no state."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2)})
    loaded = load_checkpoint(path)
    assert (loaded.meta, loaded.state) == ({}, {})


def test_empty_params_round_trip(tmp_path: Path) -> None:
    """A checkpoint with no parameters (metadata only) is valid."""
    path = save_checkpoint(tmp_path / "c.npz", {}, meta={"note": "empty"})
    loaded = load_checkpoint(path)
    assert loaded.params == {}
    assert loaded.meta == {"note": "empty"}


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


def test_string_path_and_no_suffix_added(tmp_path: Path) -> None:
    """A str path is accepted and used as given, with no `.npz` appended."""
    target = tmp_path / "weights.ckpt"
    returned = save_checkpoint(str(target), {"W": np.ones(2)})
    assert returned == target
    assert siblings(target) == ["weights.ckpt"]
    np.testing.assert_array_equal(load_checkpoint(str(target)).params["W"], [1.0, 1.0])


def test_loaded_arrays_are_fresh_and_writable(tmp_path: Path) -> None:
    """Loaded parameter arrays do not alias the saved ones and can be trained further."""
    params = {"W": np.ones(3)}
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.npz", params))
    w = loaded.params["W"]
    assert w.flags.writeable
    assert not np.shares_memory(w, params["W"])


def test_non_contiguous_parameter_is_saved_by_value(tmp_path: Path) -> None:
    """A strided view is saved with its own values and shape."""
    base = np.arange(12.0).reshape(3, 4)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.npz", {"v": base[:, ::2]}))
    np.testing.assert_array_equal(loaded.params["v"], [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]])


def test_saved_file_has_normal_permissions(tmp_path: Path) -> None:
    """The checkpoint gets 0666 minus the umask, not the 0600 of a private temp file."""
    if os.name != "posix":
        pytest.skip("POSIX permission bits")
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(1)})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- durable writes -----------------------------------------------------------------


def test_failed_write_keeps_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing the archive fails midway, the old checkpoint is intact and no temp remains."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2)}, meta={"epoch": 1})
    old_bytes = path.read_bytes()

    def half_write_then_fail(file: IO[bytes], *args: object, **kwargs: object) -> None:
        file.write(b"PK\x03\x04 partial archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"W": np.zeros(2)}, meta={"epoch": 2})
    assert path.read_bytes() == old_bytes
    assert siblings(path) == ["c.npz"]
    assert load_checkpoint(path).meta == {"epoch": 1}


def test_failed_replace_keeps_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final rename fails, the previous checkpoint is intact and the temp file is removed."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2)})
    old_bytes = path.read_bytes()

    def refuse(src: object, dst: object) -> None:
        raise PermissionError("rename refused")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match="rename refused"):
        save_checkpoint(path, {"W": np.zeros(2)})
    assert path.read_bytes() == old_bytes
    assert siblings(path) == ["c.npz"]
    np.testing.assert_array_equal(load_checkpoint(path).params["W"], np.ones(2))


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
    with pytest.raises(OSError, match=r"^the disk went away$") as caught:
        save_checkpoint(target, _params())
    assert type(caught.value) is OSError
    assert list(tmp_path.iterdir()) == []


def test_interrupt_during_write_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt while the data are flushed propagates and still leaves no temp
    file and no target."""

    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2)})
    assert siblings(tmp_path / "c.npz") == []


# Saves a 16 MB checkpoint over and over, after printing "ready" once the first is in
# place. Version v holds the values v % 2, built beforehand, so that almost all of the
# loop's time is spent inside save_checkpoint.
_SAVE_FOREVER = textwrap.dedent(
    """
    import signal
    import sys
    import numpy as np
    from bpcore.checkpoint import save_checkpoint

    # Python turns SIGINT into KeyboardInterrupt only if its parent did not ignore the
    # signal; a test runner's worker may, and its children inherit that. Restore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    path, values, version = sys.argv[1], [np.zeros(2_000_000), np.ones(2_000_000)], 0
    while True:
        save_checkpoint(path, {"W": values[version % 2]}, meta={"v": version})
        if version == 0:
            print("ready", flush=True)
        version += 1
    """
)


def _kill_mid_save(path: Path, signum: signal.Signals) -> None:
    """Run a process that keeps saving to ``path`` and stop it with ``signum`` mid-stream."""
    env = {**os.environ, "PYTHONPATH": str(Path(bpcore.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", _SAVE_FOREVER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(0.3)  # several saves' worth: the signal lands in one of them
        child.send_signal(signum)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _assert_one_whole_version(path: Path) -> int:
    """``path`` loads, and its values are those of the version its meta names."""
    loaded = load_checkpoint(path)
    version = loaded.meta["v"]
    assert isinstance(version, int)
    np.testing.assert_array_equal(loaded.params["W"], np.full(2_000_000, float(version % 2)))
    return version


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_ctrl_c_in_the_middle_of_saving_leaves_a_whole_checkpoint_and_no_temp_file(
    tmp_path: Path,
) -> None:
    """A process stopped by SIGINT while it saves leaves the last complete checkpoint,
    loadable, and removes the unfinished temporary file."""
    path = tmp_path / "c.npz"
    _kill_mid_save(path, signal.SIGINT)
    _assert_one_whole_version(path)
    assert siblings(path) == ["c.npz"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_kill_in_the_middle_of_saving_leaves_a_whole_checkpoint(tmp_path: Path) -> None:
    """SIGKILL gives no chance to clean up, but the checkpoint at the path is still one
    complete version, and a temporary file left behind does not stop the next save nor
    is it touched by it."""
    path = tmp_path / "c.npz"
    _kill_mid_save(path, signal.SIGKILL)
    _assert_one_whole_version(path)
    leftovers = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "c.npz"}
    assert all(name.startswith(".c.npz.") and name.endswith(".tmp") for name in leftovers)
    save_checkpoint(path, {"W": np.ones(2_000_000)}, meta={"v": -1})
    assert _assert_one_whole_version(path) == -1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "c.npz"} == leftovers


def _draw_tokens(monkeypatch: pytest.MonkeyPatch, *tokens: str) -> list[str]:
    """Make the random part of the temporary names ``tokens`` in turn (the last one
    repeating), so that a save meets the names taken on purpose; returns the tokens drawn."""
    drawn: list[str] = []

    def token_hex(nbytes: int | None = None) -> str:
        drawn.append(tokens[min(len(drawn), len(tokens) - 1)])
        return drawn[-1]

    monkeypatch.setattr("secrets.token_hex", token_hex)
    return drawn


def test_a_file_with_a_temporary_name_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save whose first temporary name is taken (by a file a killed save left) writes
    under another name: the file is neither overwritten nor removed, nor does it stop
    the save."""
    stale = tmp_path / ".c.npz.0123456789abcdef.tmp"
    stale.write_bytes(b"half a checkpoint")
    drawn = _draw_tokens(monkeypatch, "0123456789abcdef", "fedcba9876543210")
    path = save_checkpoint(tmp_path / "c.npz", _params())
    assert drawn == ["0123456789abcdef", "fedcba9876543210"]  # the name was met, and skipped
    assert stale.read_bytes() == b"half a checkpoint"
    assert siblings(path) == [stale.name, "c.npz"]
    np.testing.assert_array_equal(load_checkpoint(path).params["W"], _params()["W"])


def test_a_save_that_finds_every_temporary_name_taken_fails_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If every name tried is taken, the save raises FileExistsError naming the checkpoint,
    after a bounded number of tries; the existing checkpoint and the file in the way are
    left as they were."""
    path = save_checkpoint(tmp_path / "c.npz", _params())
    stale = tmp_path / ".c.npz.0123456789abcdef.tmp"
    stale.write_bytes(b"half a checkpoint")
    drawn = _draw_tokens(monkeypatch, "0123456789abcdef")
    with pytest.raises(FileExistsError) as caught:
        save_checkpoint(path, {"W": np.zeros(2)})
    assert str(caught.value).startswith(f"{_where('save_checkpoint', path)}: ")
    assert 1 < len(drawn) <= 1_000
    assert stale.read_bytes() == b"half a checkpoint"
    assert siblings(path) == [stale.name, "c.npz"]
    np.testing.assert_array_equal(load_checkpoint(path).params["W"], _params()["W"])


# Saves once with os.replace turned into an immediate exit: the process dies between
# writing the temporary file and renaming it, with no chance to clean up.
_DIE_BEFORE_RENAME = textwrap.dedent(
    """
    import os
    import sys
    import numpy as np
    from bpcore.checkpoint import save_checkpoint

    os.replace = lambda src, dst: os._exit(3)
    save_checkpoint(sys.argv[1], {"W": np.ones(3)})
    """
)


def test_stale_temporaries_finds_what_a_save_killed_before_its_rename_left(
    tmp_path: Path,
) -> None:
    """A save that dies after writing its temporary file and before renaming it leaves
    that file, and stale_temporaries lists exactly it."""
    path = tmp_path / "c.npz"
    env = {**os.environ, "PYTHONPATH": str(Path(bpcore.__file__).parents[1])}
    died = subprocess.run(
        [sys.executable, "-c", _DIE_BEFORE_RENAME, str(path)], env=env, timeout=60, check=False
    )
    assert died.returncode == 3
    left = list(tmp_path.iterdir())
    assert len(left) == 1
    assert stale_temporaries(path) == left


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


def test_a_replaced_checkpoint_keeps_its_permissions(tmp_path: Path) -> None:
    """Saving over a read-only (0444) checkpoint leaves it read-only, with the new data."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.zeros(2)})
    path.chmod(0o444)
    save_checkpoint(path, {"W": np.ones(2)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    np.testing.assert_array_equal(load_checkpoint(path).params["W"], np.ones(2))


def test_stale_temporaries_lists_only_what_an_interrupted_save_leaves(tmp_path: Path) -> None:
    """A save killed before its rename leaves '.<name>.<16 hex>.tmp'; stale_temporaries
    lists exactly those of the given checkpoint, nothing else in the folder."""
    path = tmp_path / "c.npz"
    left = [tmp_path / ".c.npz.0123456789abcdef.tmp", tmp_path / ".c.npz.fedcba9876543210.tmp"]
    others = [
        tmp_path / ".d.npz.0123456789abcdef.tmp",
        tmp_path / ".c.npz.xyz.tmp",
        tmp_path / "c.npz",
    ]
    for p in (*left, *others):
        p.write_bytes(b"")
    assert stale_temporaries(path) == sorted(left)


def test_successful_overwrite_leaves_no_temp_file(tmp_path: Path) -> None:
    """Overwriting a checkpoint replaces its contents and leaves no other file behind."""
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"W": np.ones(2)})
    save_checkpoint(path, {"W": np.full(2, 5.0)})
    assert siblings(path) == ["c.npz"]
    np.testing.assert_array_equal(load_checkpoint(path).params["W"], [5.0, 5.0])


def test_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    """Saving into a directory that does not exist raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        save_checkpoint(tmp_path / "absent" / "c.npz", {"W": np.ones(2)})


# --- save errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (np.ones(2, dtype=np.int64), "dtype int64"),
        (np.ones(2, dtype=np.float16), "dtype float16"),
        ([1.0, 2.0], "list"),
        (np.array([None], dtype=object), "dtype object"),
    ],
)
def test_save_rejects_non_float_parameters(tmp_path: Path, value: object, got: str) -> None:
    """A parameter that is not a float32/float64 ndarray raises DtypeError naming it, and
    nothing is written."""
    path = tmp_path / "c.npz"
    assert_error(
        DtypeError,
        lambda: save_checkpoint(path, {"W": value}),  # type: ignore[dict-item]  # deliberately wrong type to test the runtime check
        callee=_where("save_checkpoint", path),
        expected="`params['W']` to be a float32 or float64 numpy array",
        got=got,
    )
    assert siblings(path) == []


def test_save_rejects_non_float_state(tmp_path: Path) -> None:
    """A state array that is not float32/float64 raises DtypeError naming it, and nothing
    is written."""
    path = tmp_path / "c.npz"
    assert_error(
        DtypeError,
        lambda: save_checkpoint(path, _params(), state={"v": np.ones(2, np.int64)}),
        callee=_where("save_checkpoint", path),
        expected="`state['v']` to be a float32 or float64 numpy array",
        got="dtype int64",
    )
    assert siblings(path) == []


@pytest.mark.parametrize(
    ("meta", "expected", "got"),
    [
        ({"epoch": [1, 2]}, "meta['epoch'] to be int, float or str", "list"),
        ({"epoch": np.int64(3)}, "meta['epoch'] to be int, float or str", "int64"),
        ({"loss": float("nan")}, "meta['loss'] to be finite", "nan"),
        ({"loss": float("inf")}, "meta['loss'] to be finite", "inf"),
        ({3: "x"}, "meta keys to be str", "int 3"),
    ],
)
def test_save_rejects_bad_meta(
    tmp_path: Path, meta: dict[object, object], expected: str, got: str
) -> None:
    """Metadata that JSON cannot round-trip exactly raises CheckpointError naming the key,
    and nothing is written."""
    path = tmp_path / "c.npz"
    assert_error(
        CheckpointError,
        lambda: save_checkpoint(path, {"W": np.ones(1)}, meta=meta),  # type: ignore[arg-type]  # deliberately wrong types to test the runtime check
        callee=_where("save_checkpoint", path),
        expected=expected,
        got=got,
    )
    assert siblings(path) == []


@pytest.mark.parametrize(
    ("params", "state", "role", "got"),
    [
        (None, None, "params", "NoneType"),
        ([np.ones(1)], None, "params", "list"),
        ({"W": np.ones(1)}, [np.ones(1)], "state", "list"),
    ],
    ids=["params-none", "params-list", "state-list"],
)
def test_save_rejects_params_or_state_that_are_not_mappings(
    tmp_path: Path, params: object, state: object, role: str, got: str
) -> None:
    """``params`` (and ``state``, unless it is None) must map names to arrays; anything
    else raises CheckpointError naming the argument, and nothing is written."""
    path = tmp_path / "c.npz"
    assert_error(
        CheckpointError,
        lambda: save_checkpoint(path, params, state=state),  # type: ignore[arg-type]  # deliberately wrong types to test the runtime check
        callee=_where("save_checkpoint", path),
        expected=f"`{role}` to be a mapping",
        got=got,
    )
    assert siblings(path) == []


def test_save_rejects_non_string_parameter_names(tmp_path: Path) -> None:
    """A non-str parameter name raises CheckpointError instead of coming back as a string."""
    path = tmp_path / "c.npz"
    assert_error(
        CheckpointError,
        lambda: save_checkpoint(path, {0: np.ones(1)}),  # type: ignore[dict-item]  # deliberately wrong key type to test the runtime check
        callee=_where("save_checkpoint", path),
        expected="parameter names to be str",
        got="int 0",
    )
    assert siblings(path) == []


# --- load errors --------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """Loading a path that does not exist raises CheckpointError naming the file."""
    path = tmp_path / "nope.npz"
    error = assert_error(
        CheckpointError, lambda: load_checkpoint(path), callee=_where("load_checkpoint", path)
    )
    assert "the file does not exist" in str(error)


def test_truncated_file_at_every_length(tmp_path: Path) -> None:
    """A valid checkpoint cut at any byte raises CheckpointError, never a raw zip or EOF error."""
    path = save_checkpoint(tmp_path / "c.npz", network_params(F64), meta={"epoch": 1})
    data = path.read_bytes()
    for n in range(len(data)):
        path.write_bytes(data[:n])
        assert_error(
            CheckpointError, lambda: load_checkpoint(path), callee=_where("load_checkpoint", path)
        )


def test_corrupted_member_data(tmp_path: Path) -> None:
    """Flipped bytes inside an array fail the zip CRC and raise CheckpointError naming the key."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.zeros(64)})
    data = bytearray(path.read_bytes())
    # The zeros of W are stored uncompressed; corrupt some of them.
    start = data.index(bytes(64))
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    error = assert_error(
        CheckpointError, lambda: load_checkpoint(path), callee=_where("load_checkpoint", path)
    )
    assert "key 'param/W' is unreadable" in str(error)


def test_a_damaged_npy_header_is_reported_with_its_key(tmp_path: Path) -> None:
    """A member whose .npy header is garbage is reported as unreadable, with its key."""
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("param/W.npy", b"\x93NUMPY garbage")
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected=".npy format 1.0, 2.0 or 3.0",
        got="(32, 103)",  # the version bytes of b"\x93NUMPY garbage"
    )
    assert "key 'param/W' is unreadable" in str(error)


def test_not_an_npz_file(tmp_path: Path) -> None:
    """A text file raises CheckpointError saying it is not a readable .npz checkpoint."""
    path = tmp_path / "c.npz"
    path.write_text("definitely not a zip archive")
    error = assert_error(
        CheckpointError, lambda: load_checkpoint(path), callee=_where("load_checkpoint", path)
    )
    assert "not a readable .npz checkpoint" in str(error)


def test_single_npy_file(tmp_path: Path) -> None:
    """A bare .npy array raises CheckpointError asking for an .npz archive."""
    path = tmp_path / "c.npz"
    with path.open("wb") as f:
        np.save(f, np.ones(3))
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected="an .npz archive",
        got="a single .npy array",
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory path raises CheckpointError, not IsADirectoryError."""
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(tmp_path),
        callee=_where("load_checkpoint", tmp_path),
    )
    assert "not a readable .npz checkpoint" in str(error)


def test_pickled_object_array_is_refused(tmp_path: Path) -> None:
    """An object array (which needs pickle) raises CheckpointError and is never unpickled."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.array([{"evil": 1}], dtype=object), "meta": np.array("{}")})
    error = assert_error(
        CheckpointError, lambda: load_checkpoint(path), callee=_where("load_checkpoint", path)
    )
    assert "key 'param/W' is unreadable" in str(error)
    assert "allow_pickle=False" in str(error)


@pytest.mark.parametrize("key", ["param/W", "state/v"])
def test_non_float_array_in_file(tmp_path: Path, key: str) -> None:
    """An integer parameter or state array raises CheckpointError naming the key and dtype."""
    path = tmp_path / "c.npz"
    write_npz(path, {key: np.arange(3), "meta": np.array("{}")})
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected="a float32 or float64 array",
        got="dtype int64",
    )
    assert f"key {key!r}" in str(error)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    """A key outside `meta`, `param/<name>` and `state/<name>` raises CheckpointError naming
    it, and does not call the readable archive unreadable."""
    path = tmp_path / "c.npz"
    write_npz(path, {"W": np.ones(3), "meta": np.array("{}")})
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected="only keys 'meta', 'param/<name>' and 'state/<name>'",
        got="key 'W'",
    )
    assert "not a readable" not in str(error)


def test_non_npy_member_in_archive(tmp_path: Path) -> None:
    """A zip member that is not a .npy file raises CheckpointError instead of returning bytes."""
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta", b"{}")
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected="a .npy array",
        got="a bytes member",
    )


def test_missing_meta(tmp_path: Path) -> None:
    """An archive without `meta` raises CheckpointError listing the keys it has."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.ones(3)})
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected="key 'meta'",
        got="['param/W']",
    )


@pytest.mark.parametrize(
    ("meta", "expected", "got"),
    [
        (np.array(["{}", "{}"]), "key 'meta' to be a 0-d unicode array holding JSON",
         "shape (2,)"),
        (np.array(3.0), "key 'meta' to be a 0-d unicode array holding JSON",
         "shape () and dtype float64"),
        (np.array("{not json"), "key 'meta' to hold JSON", "Expecting property name"),
        (np.array("not json"), "key 'meta' to hold JSON", "Expecting value"),
        (np.array("[1, 2]"), "key 'meta' to hold a JSON object", "list"),
        (np.array('{"a": [1]}'), "meta['a'] to be int, float or str", "list"),
        (np.array('{"a": null}'), "meta['a'] to be int, float or str", "NoneType"),
    ],
)  # fmt: skip
def test_malformed_meta(
    tmp_path: Path,
    meta: np.ndarray[tuple[int, ...], np.dtype[np.generic]],
    expected: str,
    got: str,
) -> None:
    """A `meta` entry that is not a JSON object of int/float/str raises CheckpointError."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.ones(3), "meta": meta})
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where("load_checkpoint", path),
        expected=expected,
        got=got,
    )


# --- expected shapes and dtypes -----------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "difference"),
    [
        ({"W1": ((2,), F64), "b1": ((2,), F64)},
         "missing from the file: ['b1'], not expected: ['b9']"),
        ({"W1": ((2,), F64), "b1": ((2,), F64), "b9": ((2,), F64)},
         "missing from the file: ['b1'], not expected: []"),
        ({"W1": ((2,), F64)}, "missing from the file: [], not expected: ['b9']"),
    ],
    ids=["both", "missing-only", "extra-only"],
)  # fmt: skip
def test_expected_names_must_match_exactly(
    tmp_path: Path, expected: dict[str, tuple[tuple[int, ...], FloatDType]], difference: str
) -> None:
    """`expected` must match the file's names exactly: a name missing from the file, a
    name beyond it, or both, is refused, listing the differences."""
    path = save_checkpoint(tmp_path / "c.npz", {"W1": np.ones(2), "b9": np.ones(2)})
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(path, expected=expected),
        callee=_where("load_checkpoint", path),
        expected=f"parameters {sorted(expected)}",
        got="['W1', 'b9']",
    )
    assert difference in str(error)


def test_expected_shape_mismatch(tmp_path: Path) -> None:
    """A wrong shape raises CheckpointError naming the key, expected and received shape."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones((2, 3))})
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(path, expected={"W": ((3, 2), F64)}),
        callee=_where("load_checkpoint", path),
        expected="shape (3, 2) and dtype float64",
        got="shape (2, 3) and dtype float64",
    )
    assert "key 'param/W'" in str(error)


def test_expected_dtype_mismatch(tmp_path: Path) -> None:
    """A float32 file loaded where float64 is expected raises CheckpointError naming both dtypes."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2, dtype=np.float32)})
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path, expected={"W": ((2,), F64)}),
        callee=_where("load_checkpoint", path),
        expected="shape (2,) and dtype float64",
        got="shape (2,) and dtype float32",
    )


# --- restore_into -------------------------------------------------------------------


def test_restore_into_copies_in_place_and_keeps_identity(tmp_path: Path) -> None:
    """restore_into writes into the existing arrays, so a layer holding them sees the values."""
    saved = {"W": np.arange(6.0).reshape(2, 3), "b": np.array([1.0, 2.0, 3.0])}
    path = save_checkpoint(tmp_path / "c.npz", saved)
    W, b = np.zeros((2, 3)), np.zeros(3)
    layer = Affine(W, b)
    params = layer.params
    restore_into(params, load_checkpoint(path))
    assert params["W"] is W
    assert layer.W is W
    assert layer.b is b
    np.testing.assert_array_equal(layer.W, saved["W"])
    np.testing.assert_array_equal(layer.b, saved["b"])
    np.testing.assert_array_equal(layer.forward(np.ones((1, 2))), [[4.0, 7.0, 10.0]])


def test_restore_into_float32(tmp_path: Path) -> None:
    """float32 parameters are restored bit-for-bit and stay float32."""
    saved = network_params(F32)
    path = save_checkpoint(tmp_path / "c.npz", saved)
    params = {k: np.zeros_like(v) for k, v in saved.items()}
    restore_into(params, load_checkpoint(path))
    for key, value in saved.items():
        assert params[key].dtype == F32
        np.testing.assert_array_equal(params[key], value)


@pytest.mark.parametrize(
    ("targets", "difference"),
    [
        ({"W": np.zeros(2), "b": np.zeros(2)},
         "missing from the checkpoint: ['b'], not in params: ['c']"),
        ({"W": np.zeros(2), "b": np.zeros(2), "c": np.zeros(2)},
         "missing from the checkpoint: ['b'], not in params: []"),
        ({"W": np.zeros(2)}, "missing from the checkpoint: [], not in params: ['c']"),
    ],
    ids=["both", "missing-only", "extra-only"],
)  # fmt: skip
def test_restore_into_needs_the_same_names_and_changes_nothing_otherwise(
    targets: dict[str, FloatArray], difference: str
) -> None:
    """Names that differ on either side, or both, raise CheckpointError listing them, and
    no array is written."""
    checkpoint = Checkpoint(params={"W": np.ones(2), "c": np.ones(2)}, meta={})
    error = assert_error(
        CheckpointError,
        lambda: restore_into(targets, checkpoint),
        callee="restore_into",
        expected=f"parameters {sorted(targets)}",
        got="['W', 'c']",
    )
    assert difference in str(error)
    np.testing.assert_array_equal(targets["W"], [0.0, 0.0])


def test_restore_into_shape_mismatch_changes_nothing() -> None:
    """A later shape mismatch raises CheckpointError before earlier arrays are written."""
    checkpoint = Checkpoint(params={"a": np.ones(2), "b": np.ones((2, 2))}, meta={})
    a = np.zeros(2)
    error = assert_error(
        CheckpointError,
        lambda: restore_into({"a": a, "b": np.zeros(2)}, checkpoint),
        callee="restore_into",
        expected="shape (2,) and dtype float64 (as in params)",
        got="shape (2, 2)",
    )
    assert "key 'param/b'" in str(error)
    np.testing.assert_array_equal(a, [0.0, 0.0])


def test_restore_into_dtype_mismatch_is_not_silently_cast() -> None:
    """float64 values are not rounded into float32 parameters: CheckpointError names both dtypes."""
    checkpoint = Checkpoint(params={"W": np.ones(2)}, meta={})
    target = np.zeros(2, dtype=np.float32)
    assert_error(
        CheckpointError,
        lambda: restore_into({"W": target}, checkpoint),
        callee="restore_into",
        expected="dtype float32 (as in params)",
        got="shape (2,) and dtype float64",
    )
    np.testing.assert_array_equal(target, [0.0, 0.0])


def test_restore_into_read_only_target() -> None:
    """A read-only target array raises DtypeError instead of being replaced."""
    W = np.zeros(2)
    W.flags.writeable = False
    assert_error(
        DtypeError,
        lambda: restore_into({"W": W}, Checkpoint(params={"W": np.ones(2)}, meta={})),
        callee="restore_into",
        expected="params['W'] to be a writable array",
        got="a read-only one",
    )


@pytest.mark.parametrize(
    ("target", "got"), [(np.zeros(2, dtype=np.int64), "dtype int64"), ([1.0, 2.0], "list")]
)
def test_restore_into_non_float_target(target: object, got: str) -> None:
    """A target that is not a float array raises DtypeError naming it."""
    assert_error(
        DtypeError,
        lambda: restore_into({"W": target}, Checkpoint(params={"W": np.ones(2)}, meta={})),  # type: ignore[dict-item]  # deliberately wrong type to test the runtime check
        callee="restore_into",
        expected="`params['W']` to be a float32 or float64 numpy array",
        got=got,
    )


def test_the_archive_is_uncompressed(tmp_path: Path) -> None:
    """Every member of a checkpoint is stored, not deflated: an uncompressed .npz."""
    path = save_checkpoint(
        tmp_path / "c.npz", {"W": np.zeros((50, 50))}, meta={"a": 1}, state={"v/W": np.ones(3)}
    )
    with zipfile.ZipFile(path) as zf:
        assert {info.compress_type for info in zf.infolist()} == {zipfile.ZIP_STORED}

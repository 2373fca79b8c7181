"""Unit tests for bpcore.checkpoint: round trips, atomic writes, every load error, restore_into."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from bpcore._arrays import FloatArray, FloatDType
from bpcore.checkpoint import Checkpoint, load_checkpoint, restore_into, save_checkpoint
from bpcore.errors import CheckpointError, DtypeError
from bpcore.layers import Affine

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


def test_meta_defaults_to_empty(tmp_path: Path) -> None:
    """Without meta the checkpoint loads with an empty metadata dict."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2)})
    assert load_checkpoint(path).meta == {}


def test_empty_params_round_trip(tmp_path: Path) -> None:
    """A checkpoint with no parameters (metadata only) is valid."""
    path = save_checkpoint(tmp_path / "c.npz", {}, meta={"note": "empty"})
    loaded = load_checkpoint(path)
    assert loaded.params == {}
    assert loaded.meta == {"note": "empty"}


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


# --- atomic writes ------------------------------------------------------------------


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


def test_interrupt_during_write_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt during fsync propagates and still leaves no temp file and no target."""

    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2)})
    assert siblings(tmp_path / "c.npz") == []


def test_successful_overwrite_leaves_no_temp_file(tmp_path: Path) -> None:
    """Overwriting a checkpoint replaces its contents and leaves no other file behind."""
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"W": np.ones(2)})
    save_checkpoint(path, {"W": np.full(2, 5.0)})
    assert siblings(path) == ["c.npz"]
    np.testing.assert_array_equal(load_checkpoint(path).params["W"], [5.0, 5.0])


def test_invalid_input_creates_no_file(tmp_path: Path) -> None:
    """Rejected parameters raise before anything is written."""
    with pytest.raises(DtypeError):
        save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2, dtype=np.int64)})
    assert siblings(tmp_path / "c.npz") == []


def test_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    """Saving into a directory that does not exist raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        save_checkpoint(tmp_path / "absent" / "c.npz", {"W": np.ones(2)})


# --- save errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (
            np.ones(2, dtype=np.int64),
            r"`params\['W'\]` to be a float32 or float64 numpy array, got dtype int64",
        ),
        (
            np.ones(2, dtype=np.float16),
            r"`params\['W'\]` to be a float32 or float64 numpy array, got dtype float16",
        ),
        ([1.0, 2.0], r"`params\['W'\]` to be a float32 or float64 numpy array, got list"),
        (
            np.array([None], dtype=object),
            r"`params\['W'\]` to be a float32 or float64 numpy array, got dtype object",
        ),
    ],
)
def test_save_rejects_non_float_parameters(tmp_path: Path, value: object, match: str) -> None:
    """A parameter that is not a float32/float64 ndarray raises DtypeError naming it."""
    with pytest.raises(DtypeError, match=rf"save_checkpoint\('.*c\.npz'\): expected {match}"):
        save_checkpoint(tmp_path / "c.npz", {"W": value})  # type: ignore[dict-item]  # deliberately wrong type to test the runtime check


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"epoch": [1, 2]}, r"meta\['epoch'\] to be int, float or str, got list"),
        ({"epoch": np.int64(3)}, r"meta\['epoch'\] to be int, float or str, got int64"),
        ({"loss": float("nan")}, r"meta\['loss'\] to be finite .*got nan"),
        ({"loss": float("inf")}, r"meta\['loss'\] to be finite .*got inf"),
        ({3: "x"}, r"meta keys to be str, got int 3"),
    ],
)
def test_save_rejects_bad_meta(tmp_path: Path, meta: dict[object, object], match: str) -> None:
    """Metadata that JSON cannot round-trip exactly raises CheckpointError naming the key."""
    with pytest.raises(CheckpointError, match=match):
        save_checkpoint(tmp_path / "c.npz", {"W": np.ones(1)}, meta=meta)  # type: ignore[arg-type]  # deliberately wrong types to test the runtime check
    assert siblings(tmp_path / "c.npz") == []


def test_save_rejects_non_string_parameter_names(tmp_path: Path) -> None:
    """A non-str parameter name raises CheckpointError instead of coming back as a string."""
    with pytest.raises(CheckpointError, match="expected parameter names to be str, got int 0"):
        save_checkpoint(tmp_path / "c.npz", {0: np.ones(1)})  # type: ignore[dict-item]  # deliberately wrong key type to test the runtime check


# --- load errors --------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """Loading a path that does not exist raises CheckpointError naming the file."""
    path = tmp_path / "nope.npz"
    with pytest.raises(
        CheckpointError, match=r"load_checkpoint\('.*nope\.npz'\): the file does not exist"
    ):
        load_checkpoint(path)


def test_truncated_file_at_every_length(tmp_path: Path) -> None:
    """A valid checkpoint cut at any byte raises CheckpointError, never a raw zip or EOF error."""
    path = save_checkpoint(tmp_path / "c.npz", network_params(F64), meta={"epoch": 1})
    data = path.read_bytes()
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match=r"load_checkpoint\('.*c\.npz'\)"):
            load_checkpoint(path)


def test_corrupted_member_data(tmp_path: Path) -> None:
    """Flipped bytes inside an array fail the zip CRC and raise CheckpointError naming the key."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.zeros(64)})
    data = bytearray(path.read_bytes())
    # The zeros of W are stored uncompressed; corrupt some of them.
    start = data.index(bytes(64))
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"key 'param/W' is unreadable"):
        load_checkpoint(path)


def test_not_an_npz_file(tmp_path: Path) -> None:
    """A text file raises CheckpointError saying it is not a readable .npz checkpoint."""
    path = tmp_path / "c.npz"
    path.write_text("definitely not a zip archive")
    with pytest.raises(CheckpointError, match=r"not a readable \.npz checkpoint"):
        load_checkpoint(path)


def test_single_npy_file(tmp_path: Path) -> None:
    """A bare .npy array raises CheckpointError asking for an .npz archive."""
    path = tmp_path / "c.npz"
    with path.open("wb") as f:
        np.save(f, np.ones(3))
    with pytest.raises(
        CheckpointError, match=r"expected an \.npz archive, got a single \.npy array"
    ):
        load_checkpoint(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory path raises CheckpointError, not IsADirectoryError."""
    with pytest.raises(CheckpointError, match=r"not a readable \.npz checkpoint"):
        load_checkpoint(tmp_path)


def test_pickled_object_array_is_refused(tmp_path: Path) -> None:
    """An object array (which needs pickle) raises CheckpointError and is never unpickled."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.array([{"evil": 1}], dtype=object), "meta": np.array("{}")})
    with pytest.raises(CheckpointError, match=r"key 'param/W' is unreadable .*allow_pickle=False"):
        load_checkpoint(path)


def test_non_float_parameter_in_file(tmp_path: Path) -> None:
    """An integer parameter array raises CheckpointError naming the key and dtype."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.arange(3), "meta": np.array("{}")})
    with pytest.raises(
        CheckpointError,
        match=r"key 'param/W': expected a float32 or float64 array, got dtype int64",
    ):
        load_checkpoint(path)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    """A key outside `meta`, `param/<name>` and `state/<name>` raises CheckpointError naming it."""
    path = tmp_path / "c.npz"
    write_npz(path, {"W": np.ones(3), "meta": np.array("{}")})
    with pytest.raises(
        CheckpointError,
        match=r"expected only keys 'meta', 'param/<name>' and 'state/<name>', got key 'W'",
    ):
        load_checkpoint(path)


def test_non_npy_member_in_archive(tmp_path: Path) -> None:
    """A zip member that is not a .npy file raises CheckpointError instead of returning bytes."""
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta", b"{}")
    with pytest.raises(
        CheckpointError, match=r"key 'meta': expected a \.npy array, got a bytes member"
    ):
        load_checkpoint(path)


def test_missing_meta(tmp_path: Path) -> None:
    """An archive without `meta` raises CheckpointError."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.ones(3)})
    with pytest.raises(CheckpointError, match="expected key 'meta', but the file has none"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        (np.array(["{}", "{}"]), r"0-d unicode array holding JSON, got shape \(2,\)"),
        (np.array(3.0), r"0-d unicode array holding JSON, got shape \(\) and dtype float64"),
        (np.array("{not json"), "expected key 'meta' to hold JSON"),
        (np.array("[1, 2]"), "to hold a JSON object, got list"),
        (np.array('{"a": [1]}'), r"meta\['a'\] to be int, float or str, got list"),
        (np.array('{"a": null}'), r"meta\['a'\] to be int, float or str, got NoneType"),
    ],
)
def test_malformed_meta(
    tmp_path: Path, meta: np.ndarray[tuple[int, ...], np.dtype[np.generic]], match: str
) -> None:
    """A `meta` entry that is not a JSON object of int/float/str raises CheckpointError."""
    path = tmp_path / "c.npz"
    write_npz(path, {"param/W": np.ones(3), "meta": meta})
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


# --- expected shapes and dtypes ---------------------------------------------------------


def test_expected_missing_and_extra_keys(tmp_path: Path) -> None:
    """Names differing from `expected` raise CheckpointError listing missing and unexpected ones."""
    path = save_checkpoint(tmp_path / "c.npz", {"W1": np.ones(2), "b9": np.ones(2)})
    expected = {"W1": ((2,), F64), "b1": ((2,), F64)}
    with pytest.raises(
        CheckpointError, match=r"missing from the file: \['b1'\], not expected: \['b9'\]"
    ):
        load_checkpoint(path, expected=expected)


def test_expected_shape_mismatch(tmp_path: Path) -> None:
    """A wrong shape raises CheckpointError naming the file, key, expected and received shape."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones((2, 3))})
    with pytest.raises(
        CheckpointError,
        match=r"load_checkpoint\('.*c\.npz'\): key 'param/W': expected shape \(3, 2\) and dtype "
        r"float64, got shape \(2, 3\) and dtype float64",
    ):
        load_checkpoint(path, expected={"W": ((3, 2), F64)})


def test_expected_dtype_mismatch(tmp_path: Path) -> None:
    """A float32 file loaded where float64 is expected raises CheckpointError naming both dtypes."""
    path = save_checkpoint(tmp_path / "c.npz", {"W": np.ones(2, dtype=np.float32)})
    with pytest.raises(
        CheckpointError,
        match=r"expected shape \(2,\) and dtype float64, got shape \(2,\) and dtype float32",
    ):
        load_checkpoint(path, expected={"W": ((2,), F64)})


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


def test_restore_into_key_mismatch_changes_nothing(tmp_path: Path) -> None:
    """Differing names raise CheckpointError listing them, and no array is written."""
    checkpoint = Checkpoint(params={"W": np.ones(2), "c": np.ones(2)}, meta={})
    W = np.zeros(2)
    with pytest.raises(
        CheckpointError, match=r"missing from the checkpoint: \['b'\], not in params: \['c'\]"
    ):
        restore_into({"W": W, "b": np.zeros(2)}, checkpoint)
    np.testing.assert_array_equal(W, [0.0, 0.0])


def test_restore_into_shape_mismatch_changes_nothing() -> None:
    """A later shape mismatch raises CheckpointError before earlier arrays are written."""
    checkpoint = Checkpoint(params={"a": np.ones(2), "b": np.ones((2, 2))}, meta={})
    a = np.zeros(2)
    with pytest.raises(
        CheckpointError,
        match=r"key 'param/b': expected shape \(2,\) and dtype float64 \(as in params\), "
        r"got shape \(2, 2\)",
    ):
        restore_into({"a": a, "b": np.zeros(2)}, checkpoint)
    np.testing.assert_array_equal(a, [0.0, 0.0])


def test_restore_into_dtype_mismatch_is_not_silently_cast() -> None:
    """float64 values are not rounded into float32 parameters: CheckpointError names both dtypes."""
    checkpoint = Checkpoint(params={"W": np.ones(2)}, meta={})
    with pytest.raises(
        CheckpointError, match=r"dtype float32 \(as in params\), got shape \(2,\) and dtype float64"
    ):
        restore_into({"W": np.zeros(2, dtype=np.float32)}, checkpoint)


def test_restore_into_read_only_target() -> None:
    """A read-only target array raises DtypeError instead of being replaced."""
    W = np.zeros(2)
    W.flags.writeable = False
    with pytest.raises(
        DtypeError, match=r"restore_into: expected params\['W'\] to be a writable array"
    ):
        restore_into({"W": W}, Checkpoint(params={"W": np.ones(2)}, meta={}))


def test_restore_into_non_float_target() -> None:
    """An integer target array raises DtypeError naming it."""
    with pytest.raises(
        DtypeError, match=r"`params\['W'\]` to be a float32 or float64 numpy array, got dtype int64"
    ):
        restore_into(
            {"W": np.zeros(2, dtype=np.int64)}, Checkpoint(params={"W": np.ones(2)}, meta={})
        )


def test_state_arrays_round_trip_beside_the_parameters(tmp_path: Path) -> None:
    """Arrays passed as `state` come back in Checkpoint.state, separate from the parameters."""
    path = tmp_path / "c.npz"
    params = {"W": np.arange(6.0).reshape(2, 3)}
    state = {"v/W": np.full((2, 3), 0.5, dtype=np.float32), "iter": np.array(7.0)}
    save_checkpoint(path, params, state=state)
    loaded = load_checkpoint(path)
    assert loaded.params.keys() == {"W"}
    assert loaded.state.keys() == {"v/W", "iter"}
    np.testing.assert_array_equal(loaded.state["v/W"], state["v/W"])
    assert loaded.state["v/W"].dtype == np.float32
    assert float(loaded.state["iter"]) == 7.0


def test_non_float_state_is_refused_on_save(tmp_path: Path) -> None:
    """A state array that is not float32/float64 raises DtypeError and writes nothing."""
    path = tmp_path / "c.npz"
    with pytest.raises(DtypeError, match=r"`state\[.iter.\]`"):
        save_checkpoint(path, {"W": np.ones(2)}, state={"iter": np.array(3)})
    assert not path.exists()

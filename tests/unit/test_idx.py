"""Tests of the IDX reader and writer."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from bpcore.datasets import read_idx, write_idx
from bpcore.errors import DatasetError, DtypeError, ShapeError
from tests.helpers import assert_error

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _sample(dtype: type[np.generic]) -> npt.NDArray[np.generic]:
    """A (2, 3, 4) array of ``dtype`` with distinct values, negatives where the dtype allows."""
    values = np.arange(24).reshape(2, 3, 4)
    if np.dtype(dtype).kind != "u":
        values = values - 12
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("name", ["data.idx", "data.idx.gz"])
def test_round_trip_keeps_values_shape_and_dtype(
    tmp_path: Path, dtype: type[np.generic], name: str
) -> None:
    """Writing then reading an array gives back the same values, shape and native dtype."""
    array = _sample(dtype)
    write_idx(tmp_path / name, array)
    result = read_idx(tmp_path / name)
    assert result.dtype == np.dtype(dtype)
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_writer_emits_the_documented_header(tmp_path: Path) -> None:
    """write_idx writes two zero bytes, the dtype code, ndim, big-endian sizes, then the data."""
    write_idx(tmp_path / "a.idx", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    expected = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    assert (tmp_path / "a.idx").read_bytes() == expected


def test_gz_suffix_compresses_the_file(tmp_path: Path) -> None:
    """A path ending in .gz gets a gzip stream whose content is the raw IDX bytes."""
    array = np.array([7, 8, 9], dtype=np.int16)
    write_idx(tmp_path / "raw.idx", array)
    write_idx(tmp_path / "packed.idx.gz", array)
    packed = (tmp_path / "packed.idx.gz").read_bytes()
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == (tmp_path / "raw.idx").read_bytes()


def test_reads_a_hand_built_big_endian_file(tmp_path: Path) -> None:
    """A big-endian int16 file built byte by byte decodes to the intended values."""
    header = bytes([0, 0, 0x0B, 1, 0, 0, 0, 3])
    data = (-2).to_bytes(2, "big", signed=True) + (258).to_bytes(2, "big") + bytes(2)
    (tmp_path / "h.idx").write_bytes(header + data)
    np.testing.assert_array_equal(read_idx(tmp_path / "h.idx"), np.array([-2, 258, 0]))


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    """A gzip file without .gz, and a raw file named .gz, both read correctly."""
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "a.gz", array)
    (tmp_path / "a.gz").rename(tmp_path / "compressed-without-suffix")
    write_idx(tmp_path / "plain", array)
    (tmp_path / "plain").rename(tmp_path / "raw-with-suffix.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed-without-suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-with-suffix.gz"), array)


def test_result_is_writable(tmp_path: Path) -> None:
    """The returned array owns writable memory rather than viewing the read-only file bytes."""
    write_idx(tmp_path / "w.idx", np.zeros(4, dtype=np.float32))
    result = read_idx(tmp_path / "w.idx")
    result[0] = 1.0
    assert result[0] == 1.0


def _write_with_tail(path: Path, tail: bytes, *, drop: int = 0) -> None:
    """Write a (2, 2) uint8 IDX file with ``drop`` data bytes removed and ``tail`` appended."""
    content = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4])
    path.write_bytes(content[: len(content) - drop] + tail)


def test_truncated_data_names_file_and_byte_counts(tmp_path: Path) -> None:
    """A file one data byte short raises DatasetError naming it, 4 bytes expected and 3 received."""
    path = tmp_path / "short.idx"
    _write_with_tail(path, b"", drop=1)
    with pytest.raises(DatasetError, match=r"short\.idx.*expected 4 data bytes.*got 3"):
        read_idx(path)


def test_trailing_bytes_are_rejected(tmp_path: Path) -> None:
    """A file with bytes past its announced data raises DatasetError with both counts."""
    path = tmp_path / "long.idx"
    _write_with_tail(path, b"\x00\x00")
    with pytest.raises(DatasetError, match=r"long\.idx.*expected 4 data bytes.*got 6"):
        read_idx(path)


@pytest.mark.parametrize(
    ("content", "expected", "got"),
    [
        (b"\x00", "a 4-byte IDX header", "a file of 1 bytes"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x00", "starting with two zero bytes", "01000801"),
        (
            b"\x00\x00\x0a\x01\x00\x00\x00\x00",
            "an IDX dtype code in {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}",
            "0x0A",
        ),
        (
            b"\x00\x00\x08\x03\x00\x00\x00\x01",
            "a 16-byte header for 3 dimensions",
            "a file of 8 bytes",
        ),
    ],
)
def test_bad_headers_raise_dataset_error(
    tmp_path: Path, content: bytes, expected: str, got: str
) -> None:
    """A short header, wrong magic, unknown dtype code or cut-off size list raises
    DatasetError saying what was expected and what the file holds."""
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    assert_error(
        DatasetError, lambda: read_idx(path), callee="read_idx", expected=expected, got=got
    )


def test_corrupt_gzip_raises_dataset_error(tmp_path: Path) -> None:
    """Bytes that start like gzip but are not a gzip stream raise DatasetError, not OSError."""
    path = tmp_path / "corrupt.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip data at all")
    error = assert_error(
        DatasetError,
        lambda: read_idx(path),
        callee="read_idx",
        expected="valid gzip data",
        got="gzip stream (Unknown compression method)",
    )
    assert "corrupt.gz" in str(error)
    assert not isinstance(error, OSError)


def test_truncated_gzip_raises_dataset_error(tmp_path: Path) -> None:
    """A gzip stream cut in half raises DatasetError rather than EOFError."""
    write_idx(tmp_path / "whole.gz", np.arange(1000, dtype=np.int32))
    whole = (tmp_path / "whole.gz").read_bytes()
    (tmp_path / "half.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match=r"half\.gz"):
        read_idx(tmp_path / "half.gz")


def test_missing_file_raises_dataset_error(tmp_path: Path) -> None:
    """Reading a path that does not exist raises DatasetError naming it."""
    with pytest.raises(DatasetError, match=r"absent\.idx"):
        read_idx(tmp_path / "absent.idx")


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.complex128, np.bool_])
def test_writer_rejects_dtypes_idx_cannot_hold(tmp_path: Path, dtype: type[np.generic]) -> None:
    """write_idx raises DtypeError for dtypes that have no IDX code, and writes nothing."""
    assert_error(
        DtypeError,
        lambda: write_idx(tmp_path / "x.idx", np.zeros(3, dtype=dtype)),
        callee="write_idx",
        expected="dtype uint8, int8, int16, int32, float32 or float64",
        got=f"dtype {np.dtype(dtype)}",
    )
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_what_is_not_an_array(tmp_path: Path) -> None:
    """A list is a DtypeError saying to convert it with an explicit dtype; nothing is written."""
    assert_error(
        DtypeError,
        lambda: write_idx(tmp_path / "x.idx", [1, 2, 3]),  # type: ignore[arg-type]  # a list on purpose
        callee="write_idx",
        expected="a numpy array",
        got="list (the file's dtype comes from the array's: convert with "
        "np.asarray(..., dtype=...) first)",
    )
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_zero_dimensional_arrays(tmp_path: Path) -> None:
    """write_idx raises ShapeError for a 0-d array, which IDX has no sizes for."""
    assert_error(
        ShapeError,
        lambda: write_idx(tmp_path / "x.idx", np.array(5, dtype=np.uint8)),
        callee="write_idx",
        expected="1 to 255 dimensions",
        got="shape ()",
    )


def test_writer_replaces_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    """Overwriting a file leaves only the new content and no temporary file in the folder."""
    path = tmp_path / "x.idx"
    write_idx(path, np.array([1], dtype=np.uint8))
    write_idx(path, np.array([2, 3], dtype=np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["x.idx"]
    np.testing.assert_array_equal(read_idx(path), [2, 3])


@pytest.mark.parametrize("temporary_gone", [False, True])
def test_failed_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, temporary_gone: bool
) -> None:
    """If the final rename fails, the old file is intact, the temporary file is removed,
    and the rename's error is raised, even if the temporary was already gone."""
    path = tmp_path / "x.idx"
    write_idx(path, np.array([1], dtype=np.uint8))
    before = path.read_bytes()

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if temporary_gone:
            os.remove(src)  # as a temp-file cleaner might
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk went away"):
        write_idx(path, np.array([9, 9, 9], dtype=np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.idx"]


@pytest.mark.parametrize("dtype", [">i2", ">f4", ">f8", "<i4"])
def test_writer_takes_either_byte_order(tmp_path: Path, dtype: str) -> None:
    """An array of any byte order is written as IDX's big-endian values and reads back
    equal, as a native-endian array."""
    array = _sample(np.int16).astype(dtype)
    write_idx(tmp_path / "x.idx", array)
    result = read_idx(tmp_path / "x.idx")
    assert result.dtype.isnative
    assert result.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(result, array)


def test_writer_rejects_a_dimension_of_2_to_the_32(tmp_path: Path) -> None:
    """A dimension of 2**32 or more has no IDX size: ShapeError, and nothing is written."""
    huge = np.broadcast_to(np.uint8(0), (2**32,))  # no memory behind it
    with pytest.raises(ShapeError, match=r"each of size below 2\*\*32"):
        write_idx(tmp_path / "x.idx", huge)
    assert list(tmp_path.iterdir()) == []


def test_writer_takes_a_dimension_of_2_to_the_32_minus_1(tmp_path: Path) -> None:
    """2**32 - 1 is the largest IDX size: shape (2**32 - 1, 0) (no data bytes) round-trips."""
    array = np.zeros((2**32 - 1, 0), dtype=np.uint8)
    write_idx(tmp_path / "x.idx", array)
    result = read_idx(tmp_path / "x.idx")
    assert result.shape == (2**32 - 1, 0)
    assert result.dtype == np.uint8


def test_gz_files_carry_no_timestamp(tmp_path: Path) -> None:
    """The gzip header's MTIME field (bytes 4-7) is zero, so the same array always gives
    the same bytes whenever it is written."""
    write_idx(tmp_path / "x.idx.gz", np.arange(10, dtype=np.uint8))
    assert (tmp_path / "x.idx.gz").read_bytes()[4:8] == bytes(4)


def test_the_temporary_file_is_a_hidden_file_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data are written to ``.<name>.<random>.tmp`` in the target's folder (the
    convention of save_checkpoint), not in the system temp folder, and renamed into place."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no such folder"))
    renamed: list[tuple[Path, Path]] = []
    replace = os.replace

    def recording_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renamed.append((Path(src), Path(dst)))
        replace(src, dst)

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(os, "replace", recording_replace)
    write_idx(tmp_path / "out" / "x.idx", np.arange(3, dtype=np.uint8))
    [(temp, target)] = renamed
    assert target == tmp_path / "out" / "x.idx"
    assert temp.parent == target.parent
    assert temp.name.startswith(".x.idx.")
    assert temp.name.endswith(".tmp")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.idx"]

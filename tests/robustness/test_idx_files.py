"""read_idx on hostile files: a DatasetError naming the file, read within the bounds the
header sets, never a device or a FIFO read, never a gzip stream inflated past its data."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from bpcore.datasets import read_idx, write_idx
from bpcore.errors import DatasetError
from tests.helpers import raised_within


def _header(shape: tuple[int, ...], code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


def test_a_gzip_stream_longer_than_its_header_is_refused_after_one_extra_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 16-byte image followed by 64 MiB of zeros, compressed to some 64 KiB: refused as
    longer than announced, having decompressed the data and one byte more, not 64 MiB."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(_header((4, 4)) + bytes(16) + bytes(64 * 2**20)))
    assert path.stat().st_size < 2**20
    handed: list[int] = []
    read = gzip.GzipFile.read  # readinto reads through it too

    def counted_read(self: gzip.GzipFile, size: int = -1) -> bytes:
        data = read(self, size)
        handed.append(len(data))
        return data

    monkeypatch.setattr(gzip.GzipFile, "read", counted_read)
    with pytest.raises(DatasetError, match=r"bomb\.gz.*expected 16 data bytes.*got more than 16"):
        read_idx(path)
    assert sum(handed) <= len(_header((4, 4))) + 16 + 1


def test_a_header_announcing_more_than_max_bytes_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    """A gzip file announcing 2**32 - 1 images of 2**16 x 2**16 bytes is refused from its
    header; a file within max_bytes is read."""
    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(_header((2**32 - 1, 2**16, 2**16))))
    with pytest.raises(DatasetError, match=r"huge\.gz.*expected at most max_bytes=1073741824"):
        read_idx(path)
    small = tmp_path / "small.idx"
    write_idx(small, np.arange(16, dtype=np.uint8).reshape(4, 4))
    with pytest.raises(DatasetError, match=r"at most max_bytes=15 data bytes.*announcing 16"):
        read_idx(small, max_bytes=15)
    assert read_idx(small, max_bytes=16).shape == (4, 4)


def test_a_raw_header_announcing_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    """A raw file's announced size is checked against the file's size before allocating."""
    path = tmp_path / "liar.idx"
    path.write_bytes(_header((10**9,)) + bytes(10))
    with pytest.raises(DatasetError, match=r"liar\.idx.*expected 1000000000 data bytes.*got 10"):
        read_idx(path)


def test_a_device_is_refused_unread() -> None:
    """/dev/zero would read forever: it is refused as not a regular file."""
    with pytest.raises(DatasetError, match=r"/dev/zero.*expected a regular file, got a character"):
        read_idx("/dev/zero")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO without a writer is refused at once, not waited on."""
    path = tmp_path / "images.idx"
    os.mkfifo(path)
    error = raised_within(lambda: read_idx(path), seconds=30)
    assert isinstance(error, DatasetError)
    assert "expected a regular file, got a FIFO" in str(error)


def test_a_gzip_stream_cut_anywhere_is_a_dataset_error(tmp_path: Path) -> None:
    """A gzip file cut at any byte, header included, is a DatasetError naming it."""
    whole = gzip.compress(_header((8,)) + bytes(range(8)))
    path = tmp_path / "cut.gz"
    for cut in range(1, len(whole)):
        path.write_bytes(whole[:cut])
        with pytest.raises(DatasetError, match=r"cut\.gz"):
            read_idx(path)


def test_a_gzip_stream_that_hands_out_few_bytes_per_read_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decompressor that fills at most 7 bytes per readinto call (as a stream may)
    still yields the whole array, header and data."""
    array = np.arange(100, dtype=np.int32).reshape(4, 25)
    write_idx(tmp_path / "x.idx.gz", array)
    readinto = gzip.GzipFile.readinto

    def short_readinto(self: gzip.GzipFile, buffer: memoryview) -> int:
        return readinto(self, memoryview(buffer)[:7])

    monkeypatch.setattr(gzip.GzipFile, "readinto", short_readinto)
    result = read_idx(tmp_path / "x.idx.gz")
    assert result.dtype == np.int32
    np.testing.assert_array_equal(result, array)

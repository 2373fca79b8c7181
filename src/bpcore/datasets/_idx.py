"""Reading and writing IDX files, the format MNIST ships in.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of
dimensions), one big-endian ``uint32`` size per dimension, then the values in
C order, big-endian. Files may be gzip-compressed; compression is recognised by
the gzip magic bytes, not by the file name.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib
from pathlib import Path
from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from bpcore._files import NotRegular, open_regular
from bpcore.errors import DatasetError, DtypeError, ShapeError

__all__ = ["IdxArray", "read_idx", "write_idx"]

IdxArray: TypeAlias = npt.NDArray[np.generic]
"""An array read from an IDX file: uint8, int8, int16, int32, float32 or float64."""

_CODE_TO_DTYPE: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_CODE = {dtype.newbyteorder("="): code for code, dtype in _CODE_TO_DTYPE.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_SIZE = 2**32 - 1


class _Stream(Protocol):
    """What :func:`read_idx` reads from: a raw file or a :class:`gzip.GzipFile`."""

    def read(self, size: int = ..., /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int: ...


MAX_BYTES = 2**30
"""The most data bytes :func:`read_idx` reads by default (1 GiB; MNIST's largest file
holds 47 MB)."""


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> IdxArray:
    """Read an IDX file, raw or gzip-compressed, into a native-endian array.

    The result has the file's shape (one axis per IDX dimension) and the dtype its
    code names: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
    ``0x0D`` float32, ``0x0E`` float64. It is a fresh, writable array.

    Reading is bounded by the header: the data bytes it announces are checked against
    ``max_bytes`` (and, for a raw file, against the file's size) before anything is
    allocated, and no more than one byte beyond them is ever decompressed, so a small
    gzip file cannot expand into memory. Peak memory is about twice the data size.

    Raises:
        DatasetError: naming the file, if it is missing, not a regular file (a FIFO or
            a device is refused without being read), corrupt gzip, has a bad magic
            number or unknown dtype code, announces more than ``max_bytes`` data bytes,
            or holds more or fewer data bytes than its header announces.
    """
    file = Path(path)
    try:
        with open_regular(file) as handle:
            if handle.read(2) == _GZIP_MAGIC:
                handle.seek(0)
                with gzip.GzipFile(fileobj=handle) as stream:
                    return _read_stream(stream, file, None, max_bytes)
            handle.seek(0)
            return _read_stream(handle, file, os.fstat(handle.fileno()).st_size, max_bytes)
    except NotRegular as exc:
        raise DatasetError(f"read_idx: {file}: {exc}.") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(
            f"read_idx: {file}: expected valid gzip data, got a corrupt or truncated "
            f"gzip stream ({str(exc) or type(exc).__name__})."
        ) from exc
    except OSError as exc:
        raise DatasetError(f"read_idx: {file}: cannot read the file ({exc}).") from exc


def _read_stream(stream: _Stream, file: Path, size: int | None, max_bytes: int) -> IdxArray:
    """The array in ``stream``: header first, then exactly the data bytes it announces.

    ``size`` is the file's size for a raw file (the data must fill it), ``None`` for a
    decompressed stream (one byte is read past the data to find a tail).
    """
    magic = _read_exactly(stream, 4)
    if len(magic) < 4:
        raise DatasetError(
            f"read_idx: {file}: expected a 4-byte IDX header, got a file of {len(magic)} bytes."
        )
    if magic[:2] != b"\x00\x00":
        raise DatasetError(
            f"read_idx: {file}: expected an IDX magic number starting with two zero bytes, "
            f"got {magic.hex()}."
        )
    code, ndim = magic[2], magic[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise DatasetError(
            f"read_idx: {file}: expected an IDX dtype code in {{{known}}}, got 0x{code:02X}."
        )
    header_len = 4 + 4 * ndim
    sizes = _read_exactly(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DatasetError(
            f"read_idx: {file}: expected a {header_len}-byte header for {ndim} dimensions, "
            f"got a file of {4 + len(sizes)} bytes."
        )
    shape = tuple(int(s) for s in np.frombuffer(sizes, dtype=">u4"))
    dtype = _CODE_TO_DTYPE[code]
    expected = math.prod(shape) * dtype.itemsize
    native = dtype.newbyteorder("=")
    if expected > max_bytes:
        raise DatasetError(
            f"read_idx: {file}: expected at most max_bytes={max_bytes} data bytes, got a "
            f"header announcing {expected} for shape {shape} of {native}."
        )
    if size is not None and size - header_len != expected:
        raise DatasetError(
            f"read_idx: {file}: expected {expected} data bytes for shape {shape} of "
            f"{native}, got {size - header_len}."
        )
    data = _read_exactly(stream, expected)
    if len(data) != expected or (size is None and stream.read(1)):
        got = len(data) if len(data) != expected else f"more than {expected}"
        raise DatasetError(
            f"read_idx: {file}: expected {expected} data bytes for shape {shape} of "
            f"{native}, got {got}."
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(native)


def _read_exactly(stream: _Stream, count: int) -> bytearray:
    """Up to ``count`` bytes of ``stream``, read into one buffer: fewer only where it ends."""
    buffer = bytearray(count)
    view = memoryview(buffer)
    filled = 0
    while filled < count:
        n = stream.readinto(view[filled:])
        if not n:
            break
        filled += n
    del view
    del buffer[filled:]
    return buffer


def write_idx(path: str | os.PathLike[str], array: npt.NDArray[np.generic]) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends with ``.gz``.

    ``array`` must be uint8, int8, int16, int32, float32 or float64 (any byte
    order) with 1 to 255 dimensions, each smaller than 2**32. The file is written
    to a hidden temporary file, ``.<name>.<random>.tmp`` in the same folder, and
    renamed into place, so ``path`` never holds a partial file.
    """
    if not isinstance(array, np.ndarray):
        raise DtypeError(
            f"write_idx: expected a numpy array, got {type(array).__name__} (the file's "
            "dtype comes from the array's: convert with np.asarray(..., dtype=...) first)."
        )
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _DTYPE_TO_CODE:
        raise DtypeError(
            "write_idx: expected an array of dtype uint8, int8, int16, int32, float32 or "
            f"float64, got dtype {array.dtype}."
        )
    if not 1 <= array.ndim <= 255 or any(size > _MAX_SIZE for size in array.shape):
        raise ShapeError(
            "write_idx: expected 1 to 255 dimensions, each of size below 2**32, "
            f"got shape {array.shape}."
        )
    code = _DTYPE_TO_CODE[dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    target = Path(path)
    if target.name.endswith(".gz"):
        # mtime=0 makes the bytes depend on the array alone, so rewrites are reproducible.
        payload = gzip.compress(payload, mtime=0)
    _write_atomically(target, payload)


def _write_atomically(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` through a temporary file and :func:`os.replace`."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- closed before the rename below
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise

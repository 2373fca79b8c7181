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
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

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


def read_idx(path: str | os.PathLike[str]) -> IdxArray:
    """Read an IDX file, raw or gzip-compressed, into a native-endian array.

    The result has the file's shape (one axis per IDX dimension) and the dtype its
    code names: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
    ``0x0D`` float32, ``0x0E`` float64. It is a fresh, writable array.

    Raises :class:`~bpcore.errors.DatasetError` naming the file if it is missing,
    is corrupt gzip, has a bad magic number or unknown dtype code, or holds more or
    fewer data bytes than its header announces.
    """
    file = Path(path)
    content = _read_bytes(file)
    if len(content) < 4:
        raise DatasetError(
            f"read_idx: {file}: expected a 4-byte IDX header, got a file of {len(content)} bytes."
        )
    if content[:2] != b"\x00\x00":
        raise DatasetError(
            f"read_idx: {file}: expected an IDX magic number starting with two zero bytes, "
            f"got {content[:4].hex()}."
        )
    code, ndim = content[2], content[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise DatasetError(
            f"read_idx: {file}: expected an IDX dtype code in {{{known}}}, got 0x{code:02X}."
        )
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise DatasetError(
            f"read_idx: {file}: expected a {header_len}-byte header for {ndim} dimensions, "
            f"got a file of {len(content)} bytes."
        )
    shape = tuple(int(s) for s in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    expected = math.prod(shape) * dtype.itemsize
    received = len(content) - header_len
    if received != expected:
        raise DatasetError(
            f"read_idx: {file}: expected {expected} data bytes for shape {shape} of "
            f"{dtype.newbyteorder('=')}, got {received}."
        )
    data = np.frombuffer(content, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: npt.NDArray[np.generic]) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends with ``.gz``.

    ``array`` must be uint8, int8, int16, int32, float32 or float64 (any byte
    order) with 1 to 255 dimensions, each smaller than 2**32. The file is written
    to a temporary file in the same folder and renamed into place, so ``path``
    never holds a partial file.
    """
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


def _read_bytes(file: Path) -> bytes:
    """The file's content, decompressed if it starts with the gzip magic bytes."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DatasetError(f"read_idx: {file}: cannot read the file ({exc}).") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"read_idx: {file}: expected valid gzip data, got a corrupt or truncated "
            f"gzip stream ({str(exc) or type(exc).__name__})."
        ) from exc


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

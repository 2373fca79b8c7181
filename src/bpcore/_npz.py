"""Reading uncompressed ``.npz`` archives in bounded time and memory, without pickle.

The checkpoint format is an archive of *stored* (uncompressed) ``.npy`` members, so
every byte a member's array holds is a byte of the file: nothing is decompressed, and an
array is allocated only after its header's shape and dtype have been checked to need
exactly the bytes the member holds. Reading a file of ``B`` bytes therefore allocates
about ``2·B`` for the data (a member's bytes and the array copied from them) besides
the arrays returned, plus what the zip and ``.npy`` header parsers hold (a few hundred
KiB at most, measured by ``benchmarks/fuzz_checkpoint.py``), and reads nothing beyond
the file.

Failures raise :class:`Unreadable`, whose message says what was expected and what was
found; the caller adds the file's name and turns it into its own error.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
from collections.abc import Iterator
from typing import IO, final

import numpy as np
import numpy.typing as npt

MAX_MEMBERS = 4096
"""The most members an archive may hold: far more than any network's parameters and
state, few enough that the member table stays small."""

MAX_HEADER = 10_000
"""The longest ``.npy`` header read, in bytes (NumPy's own default limit)."""

# What zipfile and the .npy header parser raise for damaged data: a bad directory, local
# header or CRC (BadZipFile), a truncated member (EOFError), a bad header (ValueError,
# SyntaxError from its literal parser, TokenError from the tokenizer it falls back to), a
# field that does not unpack (struct.error), an unknown compression method
# (NotImplementedError) or encryption (RuntimeError).
DAMAGE = (
    tokenize.TokenError,
    OSError,
    EOFError,
    ValueError,
    SyntaxError,
    zipfile.BadZipFile,
    struct.error,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)


@final
class Unreadable(Exception):  # noqa: N818  # internal: carries a message to the caller's error
    """The archive, or the member ``key`` when given, cannot be read; ``str`` says why."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def read_npz(handle: IO[bytes]) -> Iterator[tuple[str, npt.NDArray[np.generic] | None]]:
    """Yield ``(key, array)`` for each member of the stored ``.npz`` archive in ``handle``.

    ``key`` is the member's name without ``.npy``; a member not named ``*.npy`` is
    yielded unread, as ``None``. Arrays are fresh and writable.

    Raises:
        Unreadable: the archive is damaged, has more than :data:`MAX_MEMBERS` members, a
            name twice, a compressed or encrypted member, a member larger than the file,
            an object dtype (which needs pickle), or a header whose shape and dtype do not
            need exactly the member's bytes; ``key`` names the member where there is one.
    """
    size = os.fstat(handle.fileno()).st_size
    try:
        archive = zipfile.ZipFile(handle)
    except DAMAGE as exc:
        raise Unreadable(f"not a readable .npz checkpoint: {exc}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise Unreadable(f"expected at most {MAX_MEMBERS} members, got {len(members)}")
        names = [m.filename for m in members]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise Unreadable(f"expected each member once, got {twice} more than once")
        for member in members:
            key = member.filename.removesuffix(".npy")
            if not member.filename.endswith(".npy"):
                yield key, None
                continue
            try:
                yield key, _read_member(archive, member, size)
            except Unreadable as exc:
                raise Unreadable(str(exc), key) from exc
            except DAMAGE as exc:
                raise Unreadable(f"corrupt, truncated or pickled data: {exc}", key) from exc


def _read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int
) -> npt.NDArray[np.generic]:
    """The array in one stored ``.npy`` member, its header checked before any allocation."""
    if member.flag_bits & 0x1:
        raise Unreadable("expected an unencrypted member, got an encrypted one")
    if member.compress_type != zipfile.ZIP_STORED:
        raise Unreadable(
            f"expected a stored (uncompressed) member, got compression method "
            f"{member.compress_type}"
        )
    if member.file_size != member.compress_size or member.file_size > size:
        raise Unreadable(
            f"expected a stored member of at most the file's {size} bytes, got one "
            f"claiming {member.file_size} bytes ({member.compress_size} stored)"
        )
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                stream, max_header_size=MAX_HEADER
            )
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                stream, max_header_size=MAX_HEADER
            )
        else:
            raise Unreadable(f"expected .npy format 1.0, 2.0 or 3.0, got {version}")
        if dtype.hasobject:
            raise Unreadable(
                f"expected an array of numbers, got dtype {dtype}, which holds Python "
                "objects that only pickle can read (pickle is never used: allow_pickle=False)"
            )
        header = stream.tell()
        count = math.prod(shape)
        need = count * dtype.itemsize
        if need != member.file_size - header:
            raise Unreadable(
                f"expected the {need} bytes that the header's shape {shape} and dtype "
                f"{dtype} need, got {member.file_size - header} bytes"
            )
        data = stream.read(need)
        if len(data) != need or stream.read(1):  # reading to the end checks the CRC
            raise Unreadable(f"expected {need} bytes of data, got {len(data)}")
    flat = np.frombuffer(data, dtype=dtype, count=count)
    array = flat.reshape(shape, order="F") if fortran else flat.reshape(shape)
    return array.copy()

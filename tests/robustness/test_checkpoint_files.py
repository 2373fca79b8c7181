"""load_checkpoint on any bytes: an exact load or a CheckpointError naming the file, in
bounded time and memory, whatever the file claims."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore._arrays import FloatArray
from bpcore._npz import MAX_MEMBERS
from bpcore.checkpoint import Checkpoint, MetaValue, load_checkpoint, save_checkpoint
from bpcore.errors import CheckpointError
from tests.helpers import assert_error, raised_within

PARAMS = {
    "W1": np.arange(12.0).reshape(3, 4),
    "b1": np.linspace(-1, 1, 4, dtype=np.float32),
}
STATE = {"v": np.full((3, 4), 0.5)}
META: dict[str, MetaValue] = {"epoch": 3, "lr": 0.1, "optimizer": "adam"}


def _where(path: Path) -> str:
    return f"load_checkpoint({str(path)!r})"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a small valid checkpoint."""
    path = tmp_path_factory.mktemp("good") / "c.npz"
    return save_checkpoint(path, PARAMS, meta=META, state=STATE).read_bytes()


def _is_the_original(loaded: Checkpoint) -> bool:
    """Whether a load gave back exactly what was saved: names, dtypes and values."""

    def same(a: dict[str, FloatArray], b: dict[str, FloatArray]) -> bool:
        return a.keys() == b.keys() and all(
            a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a
        )

    return (
        same(dict(loaded.params), PARAMS)
        and same(dict(loaded.state), STATE)
        and (dict(loaded.meta) == META)
    )


def _outcome(path: Path, data: bytes) -> str:
    """``"exact"`` or ``"refused"``; anything else fails the test that calls it."""
    path.write_bytes(data)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        message = str(error)
    else:
        assert _is_the_original(loaded), f"a damaged file loaded other values: {loaded}"
        return "exact"
    assert message.startswith(_where(path)), message
    return "refused"


def test_every_single_byte_flip_is_an_exact_load_or_refused(good: bytes, tmp_path: Path) -> None:
    """Every byte of a valid checkpoint inverted in turn: each variant loads exactly what
    was saved (a byte no reader looks at) or raises CheckpointError naming the file."""
    path = tmp_path / "c.npz"
    outcomes = {"exact": 0, "refused": 0}
    for i in range(len(good)):
        data = bytearray(good)
        data[i] ^= 0xFF
        outcomes[_outcome(path, bytes(data))] += 1
    assert outcomes["refused"] > len(good) // 2  # the reader does look at most bytes


@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=8),
    cut=st.none() | st.integers(0, 10**6),
)
def test_random_flips_and_cuts_are_an_exact_load_or_refused(
    good: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    flips: list[tuple[int, int]],
    cut: int | None,
) -> None:
    """Up to eight bytes XORed with random values, then perhaps a truncation."""
    data = bytearray(good)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    if cut is not None:
        data = data[: cut % len(data)]
    _outcome(tmp_path_factory.mktemp("fuzz") / "c.npz", bytes(data))


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A version 1.0 .npy header claiming ``shape`` and ``descr``, without any data."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def _archive(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _meta() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array("{}"))
    return buffer.getvalue()


def test_a_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path: Path) -> None:
    """A 10¹²-element float64 header over a few bytes of data is refused by comparing the
    bytes it needs with the bytes the member holds, before any allocation."""
    path = tmp_path / "c.npz"
    path.write_bytes(
        _archive({"param/W.npy": _npy_header((10**12,)) + bytes(16), "meta.npy": _meta()})
    )
    error = assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where(path),
        expected="8000000000000 bytes",
        got="16 bytes",
    )
    assert "key 'param/W'" in str(error)


def test_a_header_the_tokenizer_cannot_read_is_refused(tmp_path: Path) -> None:
    """One flipped byte turned '(' into '×' in a real checkpoint's header: NumPy's parser
    then fails in the tokenizer (TokenError, no ValueError); refused like any damage."""
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': \u00d764, 16), }"
    raw = text.encode("latin-1")
    raw += b" " * (63 - (len(raw) + 10) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + bytes(64 * 16 * 8)
    path = tmp_path / "c.npz"
    path.write_bytes(_archive({"param/W1.npy": member, "meta.npy": _meta()}))
    error = assert_error(CheckpointError, lambda: load_checkpoint(path), callee=_where(path))
    assert "key 'param/W1' is unreadable" in str(error)


@pytest.mark.parametrize(
    ("compression", "method"),
    [(zipfile.ZIP_DEFLATED, 8), (zipfile.ZIP_BZIP2, 12), (zipfile.ZIP_LZMA, 14)],
    ids=["deflate", "bzip2", "lzma"],
)
def test_a_compressed_member_is_refused_unread(
    tmp_path: Path, compression: int, method: int
) -> None:
    """The format stores members uncompressed; a compressed one (64 MiB of zeros that
    compress to a few KiB: a bomb) is refused from its directory entry, never inflated."""
    path = tmp_path / "c.npz"
    bomb = _npy_header((8 * 2**20,)) + bytes(64 * 2**20)
    path.write_bytes(_archive({"param/W.npy": bomb, "meta.npy": _meta()}, compression))
    assert path.stat().st_size < 2**20
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where(path),
        expected="a stored (uncompressed) member",
        got=f"compression method {method}",
    )


def test_an_encrypted_member_is_refused(good: bytes, tmp_path: Path) -> None:
    """The encryption flag set on a member (one bit of its directory entry) is refused
    with that named, not left to zipfile's RuntimeError."""
    data = bytearray(good)
    central = data.index(b"PK\x01\x02")  # the first central directory entry
    data[central + 8] |= 0x01  # its general purpose flags: bit 0, encrypted
    path = tmp_path / "c.npz"
    path.write_bytes(bytes(data))
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where(path),
        expected="an unencrypted member",
        got="an encrypted one",
    )


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    """More members than MAX_MEMBERS is refused before any member is read."""
    path = tmp_path / "c.npz"
    members = {f"state/s{i}.npy": b"" for i in range(MAX_MEMBERS + 1)}
    path.write_bytes(_archive(members))
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where(path),
        expected=f"at most {MAX_MEMBERS} members",
        got=f"{MAX_MEMBERS + 1}",
    )


def test_a_member_named_twice_is_refused(tmp_path: Path) -> None:
    """Two members of one name would leave it to the reader which one counts: refused."""
    path = tmp_path / "c.npz"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("param/W.npy", _npy_header((0,)))
        with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile's own
            archive.writestr("param/W.npy", _npy_header((0,)))
        archive.writestr("meta.npy", _meta())
    path.write_bytes(buffer.getvalue())
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where(path),
        expected="each member once",
        got="['param/W.npy'] more than once",
    )


def test_deeply_nested_meta_is_refused(tmp_path: Path) -> None:
    """A meta of 100,000 nested lists exhausts the JSON parser's stack: refused."""
    buffer = io.BytesIO()
    np.save(buffer, np.array('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    path = tmp_path / "c.npz"
    path.write_bytes(_archive({"meta.npy": buffer.getvalue()}))
    assert_error(
        CheckpointError,
        lambda: load_checkpoint(path),
        callee=_where(path),
        expected="key 'meta' to hold a flat JSON object",
        got="nesting too deep to parse",
    )
    assert json.loads('{"a": 1}')  # the parser itself is fine afterwards


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO in place of the checkpoint is refused at once, not read (which would wait
    for a writer forever)."""
    path = tmp_path / "c.npz"
    os.mkfifo(path)
    error = raised_within(lambda: load_checkpoint(path), seconds=30)
    assert isinstance(error, CheckpointError)
    assert str(error).startswith(_where(path))
    assert "expected a regular file, got a FIFO" in str(error)

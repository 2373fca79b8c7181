"""Downloading the MNIST files, checked against pinned sizes and SHA-256 digests."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Protocol, final

from bpcore.datasets._folders import default_data_dir
from bpcore.errors import ArgumentError, ArgumentTypeError, DatasetError

__all__ = [
    "DEADLINE_SECONDS",
    "DEFAULT_MIRROR",
    "MNIST_FILES",
    "FileSpec",
    "HttpResponse",
    "Opener",
    "download_mnist",
]

DEFAULT_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
"""Where :func:`download_mnist` fetches from unless given another ``base_url``."""

_CHUNK = 1 << 20
_TIMEOUT_SECONDS = 60.0

DEADLINE_SECONDS = 1800.0
"""How long :func:`download_mnist` may take in all, by default: the 11.6 MB of MNIST at
6.5 kB/s. A server that trickles bytes is stopped there, its bytes kept for resuming."""

# Errors of the local file system, as opposed to the network's.
_LOCAL_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR,
     errno.ENOTDIR, errno.EEXIST}
)  # fmt: skip


@final
@dataclass(frozen=True)
class FileSpec:
    """The expected byte size and lowercase hex SHA-256 digest of one downloaded file."""

    size: int
    sha256: str


# The sizes and digests TensorFlow Datasets pins for DEFAULT_MIRROR; other MNIST
# mirrors serve byte-identical files, so they verify against the same table.
MNIST_FILES: Mapping[str, FileSpec] = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": FileSpec(
            9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": FileSpec(
            28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": FileSpec(
            1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": FileSpec(
            4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    }
)
"""The four gzip-compressed MNIST IDX files, as published by Y. LeCun and C. Cortes."""


class HeaderLookup(Protocol):
    """Case-insensitive header access, as ``http.client.HTTPMessage`` provides."""

    def get(self, name: str, /) -> str | None: ...


class HttpResponse(Protocol):
    """The part of :class:`http.client.HTTPResponse` that downloading uses."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> HeaderLookup: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


Opener = Callable[[urllib.request.Request], HttpResponse]
"""Sends a request and returns the response; raises ``OSError`` (``URLError``) on failure."""

Progress = Callable[[str, int, int], object]
"""Called as ``progress(file_name, bytes_so_far, total_bytes)`` while a file downloads."""


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str = DEFAULT_MIRROR,
    opener: Opener | None = None,
    progress: Progress | None = None,
    files: Mapping[str, FileSpec] | None = None,
    deadline: float = DEADLINE_SECONDS,
) -> list[Path]:
    """Download the MNIST files into ``data_dir`` and return their paths.

    ``data_dir`` is :func:`default_data_dir` ``("mnist")`` by default, where
    :func:`load_mnist` looks for them.

    Each name of ``files`` (default :data:`MNIST_FILES`) is fetched from
    ``base_url + name``. A file already in ``data_dir`` with the right SHA-256 is
    kept without any request. Bytes stream into ``<name>.part``, which is renamed
    to ``<name>`` only once its size and SHA-256 match, so ``data_dir`` never
    holds a partial or corrupt file under the final name. An interrupted download
    resumes from its ``.part`` with an HTTP Range request if the server answers
    206, and starts over if it answers 200.

    ``opener`` replaces :func:`urllib.request.urlopen` (with a 60 s timeout per read);
    ``progress`` is called as ``progress(name, bytes_so_far, total_bytes)``; the whole
    call stops after ``deadline`` seconds (:data:`DEADLINE_SECONDS` by default).

    Raises:
        DatasetError: a network or HTTP error, or the deadline passed (the ``.part``
            is kept for resuming, a download cut short included); a size or checksum
            mismatch (the ``.part`` is deleted); ``data_dir`` or a ``.part`` that
            cannot be written, named with the reason (no space, permissions, a
            directory in the way). Folders the call created are removed again when it
            fails before any byte is kept.
        ArgumentError: ``base_url`` is empty, ``deadline`` is not positive, or a name of
            ``files`` is not a plain file name (it would write outside ``data_dir``).
        ArgumentTypeError: ``base_url`` is not a string.
    """
    names = MNIST_FILES if files is None else files
    _check_arguments(base_url, names, deadline)
    folder = default_data_dir("mnist") if data_dir is None else Path(data_dir)
    created = _make_folder(folder)
    fetch = opener if opener is not None else _urlopen
    prefix = base_url if base_url.endswith("/") else base_url + "/"
    stop = time.monotonic() + deadline
    paths: list[Path] = []
    try:
        for name, spec in names.items():
            target = folder / name
            if not (target.is_file() and _sha256(target) == spec.sha256):
                _fetch(prefix + name, target, spec, fetch, progress, stop)
            paths.append(target)
    except BaseException:
        _remove_if_empty(created)
        raise
    return paths


def _check_arguments(base_url: object, names: Iterable[object], deadline: object) -> None:
    """Raise for a ``base_url``, file name or deadline that cannot be used."""
    where = "download_mnist"
    if not isinstance(base_url, str):
        raise ArgumentTypeError(
            f"{where}: expected `base_url` to be a str, got {type(base_url).__name__}."
        )
    if not base_url:
        raise ArgumentError(f"{where}: expected a non-empty `base_url`, got ''.")
    if isinstance(deadline, bool) or not (isinstance(deadline, int | float) and deadline > 0):
        raise ArgumentError(f"{where}: expected `deadline` > 0 seconds, got {deadline!r}.")
    for name in names:
        plain = (
            isinstance(name, str)
            and name not in ("", ".", "..")
            and "\\" not in name
            and Path(name).name == name
        )
        if not plain:
            raise ArgumentError(
                f"{where}: expected plain file names in `files`, got {name!r} (a path "
                "would be written outside data_dir)."
            )


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(
            f"download_mnist: expected a folder to download into at {folder}, got "
            f"{type(exc).__name__}: {exc.strerror or exc}."
        ) from exc
    return missing


def _remove_if_empty(created: list[Path]) -> None:
    """Remove the folders a failed call created, deepest first, if nothing is in them."""
    for path in created:
        with contextlib.suppress(OSError):
            path.rmdir()


def _urlopen(request: urllib.request.Request) -> HttpResponse:
    response: HttpResponse = urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS)
    return response


def _fetch(
    url: str,
    target: Path,
    spec: FileSpec,
    opener: Opener,
    progress: Progress | None,
    stop: float,
) -> None:
    """Download ``url`` into ``target`` through ``target.part``, resuming when possible."""
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if offset >= spec.size:
        # A .part this long cannot be a prefix of the file: start over.
        part.unlink()
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with closing(opener(request)) as response:
            offset = _resume_offset(response, offset, url, part)
            with part.open("ab" if offset else "wb") as out:
                _stream(
                    response,
                    out,
                    done=offset,
                    total=spec.size,
                    name=target.name,
                    progress=progress,
                    stop=stop,
                )
                out.flush()
                os.fsync(out.fileno())
    except OSError as exc:
        if _is_local(exc):
            raise _local_error(exc, part) from exc
        raise _network_error(exc, url, part) from exc
    except http.client.HTTPException as exc:
        raise _network_error(exc, url, part) from exc
    _verify(part, spec, url)
    os.replace(part, target)


def _is_local(exc: OSError) -> bool:
    """Whether ``exc`` comes from the local file system rather than the network."""
    if isinstance(exc, urllib.error.URLError | TimeoutError | ConnectionError):
        return False
    return exc.errno in _LOCAL_ERRNOS


def _local_error(exc: OSError, part: Path) -> DatasetError:
    """The error for a ``.part`` that cannot be written, saying why (not the network)."""
    return DatasetError(
        f"download_mnist: expected to write {part}, got {type(exc).__name__}: "
        f"{exc.strerror or exc}. Free some space, fix the folder's permissions or remove "
        "what is in the way."
    )


def _network_error(exc: OSError | http.client.HTTPException, url: str, part: Path) -> DatasetError:
    """The error to raise for a failed request, after tidying up what it leaves behind."""
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()
        if exc.code == 416:
            # The server has fewer bytes than the .part: it cannot be resumed.
            part.unlink(missing_ok=True)
    kept = part.stat().st_size if part.is_file() else 0
    resume = (
        f" The {kept} bytes received so far are kept in {part}; the next call resumes."
        if kept
        else ""
    )
    return DatasetError(
        f"download_mnist: expected to download {url}, got {type(exc).__name__}: {exc}. "
        f"Check the network connection, or use another mirror (base_url, or --base-url "
        f"on the command line).{resume}"
    )


def _resume_offset(response: HttpResponse, offset: int, url: str, part: Path) -> int:
    """Where the response body starts in the file: ``offset`` for 206, 0 for 200."""
    if response.status == 200:
        return 0
    content_range = response.headers.get("Content-Range") or ""
    if response.status == 206 and offset and content_range.startswith(f"bytes {offset}-"):
        return offset
    part.unlink(missing_ok=True)
    raise DatasetError(
        f"download_mnist: expected {url} to answer 200, or 206 from byte {offset}, "
        f"got status {response.status} (Content-Range {content_range!r}); "
        f"the partial download was removed, so the next call starts over."
    )


def _stream(
    response: HttpResponse,
    out: BinaryIO,
    *,
    done: int,
    total: int,
    name: str,
    progress: Progress | None,
    stop: float,
) -> None:
    """Copy the body to ``out``, stopping once past ``total`` bytes (a wrong file) or at
    the monotonic time ``stop`` (a :class:`TimeoutError`, what is written kept)."""
    if progress is not None:
        progress(name, done, total)
    # read1 returns what has arrived instead of waiting for a whole chunk, so a server
    # that trickles bytes meets the deadline check below.
    read = getattr(response, "read1", response.read)
    while done <= total:
        if time.monotonic() > stop:
            raise TimeoutError(f"the deadline passed after {done} of {total} bytes")
        chunk = read(_CHUNK)
        if not chunk:
            break
        out.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(name, done, total)


def _verify(part: Path, spec: FileSpec, url: str) -> None:
    """Raise unless ``part``'s size and SHA-256 match ``spec``: a short ``part`` (the body
    ended early) is kept for resuming, a long or wrong one deleted."""
    size = part.stat().st_size
    if size < spec.size:
        raise DatasetError(
            f"download_mnist: expected {url} to have {spec.size} bytes, got {size} before "
            f"the body ended. They are kept in {part}; the next call resumes."
        )
    digest = _sha256(part) if size == spec.size else None
    if digest == spec.sha256:
        return
    part.unlink()
    got = f"{size} bytes" if digest is None else f"SHA-256 {digest}"
    expected = f"{spec.size} bytes" if digest is None else f"SHA-256 {spec.sha256}"
    raise DatasetError(
        f"download_mnist: expected {url} to have {expected}, got {got}; the download "
        f"was deleted. The mirror may serve a different file: try another base_url."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()

"""Downloading the MNIST files, checked against pinned sizes and SHA-256 digests."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Protocol, final

from bpcore.errors import DatasetError

__all__ = [
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
    data_dir: str | os.PathLike[str],
    *,
    base_url: str = DEFAULT_MIRROR,
    opener: Opener | None = None,
    progress: Progress | None = None,
    files: Mapping[str, FileSpec] | None = None,
) -> list[Path]:
    """Download the MNIST files into ``data_dir`` and return their paths.

    Each name of ``files`` (default :data:`MNIST_FILES`) is fetched from
    ``base_url + name``. A file already in ``data_dir`` with the right SHA-256 is
    kept without any request. Bytes stream into ``<name>.part``, which is renamed
    to ``<name>`` only once its size and SHA-256 match, so ``data_dir`` never
    holds a partial or corrupt file under the final name. An interrupted download
    resumes from its ``.part`` with an HTTP Range request if the server answers
    206, and starts over if it answers 200.

    ``opener`` replaces :func:`urllib.request.urlopen` (with a 60 s timeout);
    ``progress`` is called as ``progress(name, bytes_so_far, total_bytes)``.

    Raises :class:`~bpcore.errors.DatasetError` on a network or HTTP error (the
    ``.part`` is kept for resuming) and on a size or checksum mismatch (the
    ``.part`` is deleted).
    """
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fetch = opener if opener is not None else _urlopen
    prefix = base_url if base_url.endswith("/") else base_url + "/"
    paths: list[Path] = []
    for name, spec in (MNIST_FILES if files is None else files).items():
        target = folder / name
        if not (target.is_file() and _sha256(target) == spec.sha256):
            _fetch(prefix + name, target, spec, fetch, progress)
        paths.append(target)
    return paths


def _urlopen(request: urllib.request.Request) -> HttpResponse:
    response: HttpResponse = urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS)
    return response


def _fetch(
    url: str, target: Path, spec: FileSpec, opener: Opener, progress: Progress | None
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
                    response, out, done=offset, total=spec.size, name=target.name, progress=progress
                )
                out.flush()
                os.fsync(out.fileno())
    except (OSError, http.client.HTTPException) as exc:
        raise _network_error(exc, url, part) from exc
    _verify(part, spec, url)
    os.replace(part, target)


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
        f"Check the network connection, or pass another base_url.{resume}"
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
) -> None:
    """Copy the body to ``out``, stopping once past ``total`` bytes (a wrong file)."""
    if progress is not None:
        progress(name, done, total)
    while done <= total:
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        out.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(name, done, total)


def _verify(part: Path, spec: FileSpec, url: str) -> None:
    """Delete ``part`` and raise unless its size and SHA-256 match ``spec``."""
    size = part.stat().st_size
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

"""Tests of download_mnist against an in-memory fake server; no test touches the network."""

from __future__ import annotations

import email.message
import hashlib
import io
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bpcore.datasets import (
    DEFAULT_MIRROR,
    MNIST_FILE_NAMES,
    MNIST_FILES,
    FileSpec,
    default_data_dir,
    download_mnist,
    load_mnist,
    write_idx,
)
from bpcore.errors import ArgumentError, ArgumentTypeError, BpcoreError, DatasetError
from tests.helpers import assert_error

BASE = "https://mirror.invalid/mnist/"
PAYLOADS = {
    "alpha.gz": bytes(range(256)) * 40,
    "beta.gz": b"small file",
}


def _spec(payload: bytes) -> FileSpec:
    return FileSpec(size=len(payload), sha256=hashlib.sha256(payload).hexdigest())


SPECS = {name: _spec(payload) for name, payload in PAYLOADS.items()}


@dataclass
class FakeResponse:
    """A response with the status, headers, read and close of http.client.HTTPResponse."""

    status: int
    headers: dict[str, str]
    body: io.BytesIO
    fail_after: int | None = None
    closed: bool = False

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` body bytes, or raise once ``fail_after`` bytes were sent."""
        if self.fail_after is not None and self.body.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        limit = size if self.fail_after is None else min(size, self.fail_after - self.body.tell())
        return self.body.read(limit)

    def close(self) -> None:
        """Mark the response closed."""
        self.closed = True


@dataclass
class FakeServer:
    """Serves ``files`` by URL, honouring Range requests unless told not to."""

    files: dict[str, bytes]
    honour_range: bool = True
    fail_after: int | None = None
    requests: list[urllib.request.Request] = field(default_factory=list)
    responses: list[FakeResponse] = field(default_factory=list)

    def __call__(self, request: urllib.request.Request) -> FakeResponse:
        """Answer ``request`` with 200, or 206 for a honoured Range header."""
        self.requests.append(request)
        payload = self.files[request.full_url]
        status, start, headers = 200, 0, {}
        wanted = request.get_header("Range")
        if wanted is not None and self.honour_range:
            match = re.fullmatch(r"bytes=(\d+)-", wanted)
            assert match is not None
            start = int(match.group(1))
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(payload) - 1}/{len(payload)}"
        response = FakeResponse(status, headers, io.BytesIO(payload[start:]), self.fail_after)
        self.responses.append(response)
        return response


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any real urlopen call fail the test instead of reaching the network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def server() -> FakeServer:
    """A fake server holding PAYLOADS under BASE."""
    return FakeServer({BASE + name: payload for name, payload in PAYLOADS.items()})


def _download(folder: Path, opener: Callable[[urllib.request.Request], FakeResponse]) -> list[Path]:
    return download_mnist(folder, base_url=BASE, opener=opener, files=SPECS)


def test_the_default_folder_is_the_one_load_mnist_reads(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without data_dir, the files land in $BPCORE_DATA_DIR/mnist, which is also
    load_mnist's default."""
    monkeypatch.setenv("BPCORE_DATA_DIR", str(tmp_path / "root"))
    paths = download_mnist(base_url=BASE, opener=server, files=SPECS)
    assert [p.parent for p in paths] == [tmp_path / "root" / "mnist"] * len(PAYLOADS)
    assert default_data_dir("mnist") == tmp_path / "root" / "mnist"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"BPCORE_DATA_DIR": "/data/bp", "XDG_CACHE_HOME": "/cache"}, "/data/bp/mnist"),
        ({"BPCORE_DATA_DIR": "", "XDG_CACHE_HOME": "/cache"}, "/cache/bpcore/mnist"),
        ({"BPCORE_DATA_DIR": "", "XDG_CACHE_HOME": ""}, "~/.cache/bpcore/mnist"),
    ],
)
def test_the_default_data_dir_follows_the_environment(
    environment: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$BPCORE_DATA_DIR first, then $XDG_CACHE_HOME/bpcore, then ~/.cache/bpcore."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert default_data_dir("mnist") == Path(expected).expanduser()


def test_downloads_every_file_and_returns_paths(tmp_path: Path, server: FakeServer) -> None:
    """Each file lands under its name with the served bytes, with no .part left behind."""
    paths = _download(tmp_path / "new" / "dir", server)
    assert paths == [tmp_path / "new" / "dir" / name for name in PAYLOADS]
    for path in paths:
        assert path.read_bytes() == PAYLOADS[path.name]
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted(PAYLOADS)
    assert [r.get_header("Range") for r in server.requests] == [None, None]
    assert all(response.closed for response in server.responses)


def test_resumes_a_partial_file_with_a_range_request(tmp_path: Path, server: FakeServer) -> None:
    """A .part of 1000 bytes is resumed with Range bytes=1000- and completed correctly."""
    (tmp_path / "alpha.gz.part").write_bytes(PAYLOADS["alpha.gz"][:1000])
    _download(tmp_path, server)
    assert server.requests[0].get_header("Range") == "bytes=1000-"
    assert server.responses[0].status == 206
    assert (tmp_path / "alpha.gz").read_bytes() == PAYLOADS["alpha.gz"]
    assert not (tmp_path / "alpha.gz.part").exists()


def test_restarts_when_the_server_ignores_range(tmp_path: Path, server: FakeServer) -> None:
    """A 200 answer to a Range request overwrites the .part instead of appending to it."""
    server.honour_range = False
    (tmp_path / "alpha.gz.part").write_bytes(PAYLOADS["alpha.gz"][:1000])
    _download(tmp_path, server)
    assert server.requests[0].get_header("Range") == "bytes=1000-"
    assert (tmp_path / "alpha.gz").read_bytes() == PAYLOADS["alpha.gz"]


@pytest.mark.parametrize("length", [10, 50])
def test_overlong_part_is_discarded(tmp_path: Path, server: FakeServer, length: int) -> None:
    """A .part at least as long as the file (10 bytes) is dropped and fetched afresh
    without Range."""
    (tmp_path / "beta.gz.part").write_bytes(b"x" * length)
    _download(tmp_path, server)
    assert server.requests[1].get_header("Range") is None
    assert (tmp_path / "beta.gz").read_bytes() == PAYLOADS["beta.gz"]


def test_checksum_mismatch_deletes_the_download(tmp_path: Path, server: FakeServer) -> None:
    """Bytes of the right size but wrong SHA-256 raise DatasetError and leave no file."""
    server.files[BASE + "beta.gz"] = b"SMALL FILE"
    with pytest.raises(DatasetError, match=SPECS["beta.gz"].sha256) as info:
        _download(tmp_path, server)
    assert hashlib.sha256(b"SMALL FILE").hexdigest() in str(info.value)
    assert not (tmp_path / "beta.gz").exists()
    assert not (tmp_path / "beta.gz.part").exists()


def test_size_mismatch_deletes_the_download(tmp_path: Path, server: FakeServer) -> None:
    """A body longer than the pinned size raises DatasetError naming both sizes."""
    server.files[BASE + "beta.gz"] = b"small file, then much more than expected"
    with pytest.raises(DatasetError, match=r"beta\.gz to have 10 bytes, got 4\d bytes"):
        _download(tmp_path, server)
    assert not (tmp_path / "beta.gz.part").exists()


def test_files_already_present_are_not_fetched(tmp_path: Path) -> None:
    """Files whose SHA-256 already matches are kept and the opener is never called."""
    for name, payload in PAYLOADS.items():
        (tmp_path / name).write_bytes(payload)

    def unreachable(request: urllib.request.Request) -> FakeResponse:
        raise AssertionError(f"unexpected request for {request.full_url}")

    paths = _download(tmp_path, unreachable)
    assert [p.read_bytes() for p in paths] == list(PAYLOADS.values())


def test_present_but_corrupt_file_is_replaced(tmp_path: Path, server: FakeServer) -> None:
    """A final file with the wrong checksum is downloaded again and replaced."""
    (tmp_path / "beta.gz").write_bytes(b"stale data")
    _download(tmp_path, server)
    assert (tmp_path / "beta.gz").read_bytes() == PAYLOADS["beta.gz"]
    assert [r.full_url for r in server.requests] == [BASE + "alpha.gz", BASE + "beta.gz"]


def test_network_error_becomes_dataset_error(tmp_path: Path) -> None:
    """A URLError from the opener raises DatasetError naming the URL and the cause, and
    the remedy by the names the library and the command line give it."""

    def offline(request: urllib.request.Request) -> FakeResponse:
        raise urllib.error.URLError("Name or service not known")

    error = assert_error(
        DatasetError,
        lambda: _download(tmp_path, offline),
        callee="download_mnist",
        expected="to download " + BASE + "alpha.gz",
        got="URLError: <urlopen error Name or service not known>",
    )
    assert isinstance(error.__cause__, urllib.error.URLError)
    assert "base_url" in str(error)
    assert str(error).endswith("(base_url, or --base-url on the command line).")
    assert "kept" not in str(error)
    assert list(tmp_path.iterdir()) == []


def test_http_error_status_is_reported(tmp_path: Path) -> None:
    """An HTTP 404 raises DatasetError that includes the status code."""

    def not_found(request: urllib.request.Request) -> FakeResponse:
        headers = email.message.Message()
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", headers, None)

    with pytest.raises(DatasetError, match=r"404"):
        _download(tmp_path, not_found)


def test_interrupted_download_keeps_part_and_resumes(tmp_path: Path, server: FakeServer) -> None:
    """A connection reset keeps the received bytes in .part, and the next call finishes them."""
    server.fail_after = 3000
    with pytest.raises(DatasetError, match=r"3000 bytes received so far are kept"):
        _download(tmp_path, server)
    assert (tmp_path / "alpha.gz.part").read_bytes() == PAYLOADS["alpha.gz"][:3000]
    server.fail_after = None
    _download(tmp_path, server)
    assert server.requests[-2].get_header("Range") == "bytes=3000-"
    assert (tmp_path / "alpha.gz").read_bytes() == PAYLOADS["alpha.gz"]


def test_wrong_content_range_discards_the_part(tmp_path: Path) -> None:
    """A 206 answer that starts at another byte than asked raises and removes the .part."""
    payload = PAYLOADS["alpha.gz"]

    def misaligned(request: urllib.request.Request) -> FakeResponse:
        headers = {"Content-Range": f"bytes 0-{len(payload) - 1}/{len(payload)}"}
        return FakeResponse(206, headers, io.BytesIO(payload))

    (tmp_path / "alpha.gz.part").write_bytes(payload[:10])
    with pytest.raises(DatasetError, match=r"206 from byte 10, got status 206"):
        _download(tmp_path, misaligned)
    assert not (tmp_path / "alpha.gz.part").exists()


def test_progress_reports_growing_counts_to_the_total(tmp_path: Path, server: FakeServer) -> None:
    """The progress callback sees each file's byte count rise to its full size."""
    calls: list[tuple[str, int, int]] = []
    download_mnist(
        tmp_path,
        base_url=BASE,
        opener=server,
        files=SPECS,
        progress=lambda name, done, total: calls.append((name, done, total)),
    )
    alpha = [call for call in calls if call[0] == "alpha.gz"]
    assert alpha[0] == ("alpha.gz", 0, len(PAYLOADS["alpha.gz"]))
    assert alpha[-1] == ("alpha.gz", len(PAYLOADS["alpha.gz"]), len(PAYLOADS["alpha.gz"]))
    assert [done for _, done, _ in alpha] == sorted(done for _, done, _ in alpha)


def test_base_url_without_trailing_slash(tmp_path: Path, server: FakeServer) -> None:
    """A base_url missing its final slash still yields base/name URLs."""
    download_mnist(tmp_path, base_url=BASE.rstrip("/"), opener=server, files=SPECS)
    assert [r.full_url for r in server.requests] == [BASE + name for name in PAYLOADS]


def test_pinned_table_covers_the_four_mnist_files() -> None:
    """MNIST_FILES pins a size and a 64-hex-digit SHA-256 for each gzip MNIST file."""
    assert list(MNIST_FILES) == [f"{name}.gz" for name in MNIST_FILE_NAMES]
    for spec in MNIST_FILES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.size > 0
    assert MNIST_FILES["t10k-labels-idx1-ubyte.gz"].size == 4542
    assert DEFAULT_MIRROR.startswith("https://")


def test_downloaded_files_load_with_load_mnist(tmp_path: Path) -> None:
    """Files fetched by download_mnist are exactly what load_mnist reads back."""
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    t_train = rng.integers(0, 10, size=12, dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    t_test = rng.integers(0, 10, size=4, dtype=np.uint8)
    source = tmp_path / "source"
    source.mkdir()
    for name, array in zip(MNIST_FILE_NAMES, [x_train, t_train, x_test, t_test], strict=True):
        write_idx(source / f"{name}.gz", array)
    payloads = {path.name: path.read_bytes() for path in source.iterdir()}
    server = FakeServer({BASE + name: data for name, data in payloads.items()})
    specs = {name: _spec(data) for name, data in payloads.items()}
    target = tmp_path / "target"
    download_mnist(target, base_url=BASE, opener=server, files=specs)
    (x_loaded, t_loaded), (x_test_loaded, t_test_loaded) = load_mnist(
        normalize=False, flatten=False, data_dir=target
    )
    np.testing.assert_array_equal(x_loaded[:, 0], x_train)
    np.testing.assert_array_equal(t_loaded, t_train)
    np.testing.assert_array_equal(x_test_loaded[:, 0], x_test)
    np.testing.assert_array_equal(t_test_loaded, t_test)


def test_without_an_opener_urlopen_is_used_with_a_60_second_timeout(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no opener, each request goes to urllib.request.urlopen with timeout=60."""
    timeouts: list[object] = []

    def urlopen(request: urllib.request.Request, *, timeout: object) -> FakeResponse:
        timeouts.append(timeout)
        return server(request)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    download_mnist(tmp_path, base_url=BASE, files=SPECS)
    assert timeouts == [60.0] * len(SPECS)


def test_the_default_mirror_is_where_files_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without base_url every file is requested from DEFAULT_MIRROR + its name."""
    urls: list[str] = []
    payloads = {DEFAULT_MIRROR + name: payload for name, payload in PAYLOADS.items()}
    served = FakeServer(payloads)

    def opener(request: urllib.request.Request) -> FakeResponse:
        urls.append(request.full_url)
        return served(request)

    download_mnist(tmp_path, opener=opener, files=SPECS)
    assert urls == [DEFAULT_MIRROR + name for name in SPECS]


# --- bounds, diagnosis and arguments ----------------------------------------------------


def test_a_server_that_trickles_is_stopped_at_the_deadline_and_the_bytes_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    """A clock that moves a second per read and a 5 s deadline: the download stops with
    a DatasetError, what arrived stays in .part, and the next call resumes from it."""
    ticks = iter(range(10**6))
    clock = SimpleNamespace(monotonic=lambda: float(next(ticks)))
    monkeypatch.setattr("bpcore.datasets._download.time", clock)
    trickle = FakeServer(server.files)

    def one_byte_at_a_time(request: urllib.request.Request) -> FakeResponse:
        response = trickle(request)
        read = response.read
        response.read = lambda size=-1, /: read(1)  # type: ignore[method-assign]  # a slow server
        return response

    with pytest.raises(DatasetError, match=r"deadline passed.*kept in"):
        download_mnist(tmp_path, base_url=BASE, opener=one_byte_at_a_time, files=SPECS, deadline=5)
    kept = (tmp_path / "alpha.gz.part").read_bytes()
    assert 0 < len(kept) < len(PAYLOADS["alpha.gz"])
    monkeypatch.undo()
    _download(tmp_path, server)
    assert (tmp_path / "alpha.gz").read_bytes() == PAYLOADS["alpha.gz"]


def test_a_body_that_ends_early_is_kept_for_resuming(tmp_path: Path, server: FakeServer) -> None:
    """A connection that closes cleanly after 1,000 of 10,240 bytes: DatasetError, the
    bytes kept (not deleted as a wrong file), and the next call completes the file."""
    payload = PAYLOADS["alpha.gz"]

    def cut(request: urllib.request.Request) -> FakeResponse:
        return FakeResponse(200, {}, io.BytesIO(payload[:1000]))

    with pytest.raises(DatasetError, match=r"got 1000 before the body ended.*kept in"):
        _download(tmp_path, cut)
    assert (tmp_path / "alpha.gz.part").read_bytes() == payload[:1000]
    _download(tmp_path, server)
    assert (tmp_path / "alpha.gz").read_bytes() == payload


def test_a_part_that_is_a_directory_is_named_not_blamed_on_the_network(
    tmp_path: Path, server: FakeServer
) -> None:
    """A directory where alpha.gz.part goes: the error names it and the reason, and
    says nothing about the network connection."""
    (tmp_path / "alpha.gz.part").mkdir()
    error = assert_error(
        DatasetError,
        lambda: _download(tmp_path, server),
        callee="download_mnist",
        got="IsADirectoryError: Is a directory. Free some space, fix the folder's permissions "
        "or remove what is in the way.",
    )
    message = str(error)
    assert "alpha.gz.part" in message
    assert "IsADirectoryError" in message
    assert "network" not in message


@pytest.mark.parametrize(
    "name", ["../evil.bin", "sub/evil.bin", "sub\\evil.bin", "/tmp/evil.bin", "..", ".", ""]
)
def test_a_file_name_that_is_a_path_is_refused(tmp_path: Path, name: str) -> None:
    """files={'../evil.bin': ...} would write outside data_dir: ArgumentError, no request."""
    folder = tmp_path / "data"

    def never(request: urllib.request.Request) -> FakeResponse:
        raise AssertionError("no request may be made")

    assert_error(
        ArgumentError,
        lambda: download_mnist(folder, base_url=BASE, opener=never, files={name: SPECS["beta.gz"]}),
        callee="download_mnist",
        expected="plain file names",
        got=f"{name!r} (a path would be written outside data_dir)",
    )
    assert not folder.exists()


@pytest.mark.parametrize(
    ("base_url", "error", "message"),
    [(None, ArgumentTypeError, "`base_url` to be a str, got NoneType"),
     (b"https://", ArgumentTypeError, "`base_url` to be a str, got bytes"),
     ("", ArgumentError, "non-empty `base_url`")],
)  # fmt: skip
def test_a_base_url_that_is_not_a_url_is_refused(
    tmp_path: Path, base_url: object, error: type[BpcoreError], message: str
) -> None:
    """base_url None, bytes or '' is refused before any folder is made or request sent."""
    assert_error(
        error,
        lambda: download_mnist(tmp_path / "data", base_url=base_url, files=SPECS),  # type: ignore[arg-type]  # not a str on purpose
        callee="download_mnist",
        expected=message.partition(", got ")[0],
        got=message.partition(", got ")[2] or None,
    )
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("deadline", [0, 0.0, -1.0, True, "60"])
def test_a_deadline_that_is_not_a_positive_number_is_refused(
    tmp_path: Path, deadline: object
) -> None:
    """deadline 0, negative, a bool or a string is an ArgumentError naming the value,
    raised before any folder is made."""
    assert_error(
        ArgumentError,
        lambda: download_mnist(tmp_path / "data", base_url=BASE, files=SPECS, deadline=deadline),  # type: ignore[arg-type]  # not a float on purpose
        callee="download_mnist",
        expected="`deadline` > 0 seconds",
        got=repr(deadline),
    )
    assert not (tmp_path / "data").exists()


def test_a_deadline_below_one_second_is_allowed(tmp_path: Path, server: FakeServer) -> None:
    """Any positive deadline is accepted: 0.5 s is plenty for the in-memory server."""
    paths = download_mnist(tmp_path, base_url=BASE, opener=server, files=SPECS, deadline=0.5)
    assert [p.read_bytes() for p in paths] == list(PAYLOADS.values())


def test_a_data_dir_that_is_a_file_is_a_dataset_error(tmp_path: Path, server: FakeServer) -> None:
    """A file where the folder goes is a DatasetError naming it, not FileExistsError."""
    (tmp_path / "data").write_bytes(b"")
    assert_error(
        DatasetError,
        lambda: _download(tmp_path / "data", server),
        callee="download_mnist",
        expected="a folder to download into",
        got="FileExistsError: File exists.",
    )


def test_a_failed_download_removes_the_folders_it_made(tmp_path: Path) -> None:
    """Nothing received and the folders new: the call leaves nothing behind."""

    def offline(request: urllib.request.Request) -> FakeResponse:
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(DatasetError):
        _download(tmp_path / "new" / "mnist", offline)
    assert list(tmp_path.iterdir()) == []


def _http_error(code: int) -> Callable[[urllib.request.Request], FakeResponse]:
    def fail(request: urllib.request.Request) -> FakeResponse:
        raise urllib.error.HTTPError(request.full_url, code, "Error", email.message.Message(), None)

    return fail


def test_an_http_error_while_resuming_keeps_the_part(tmp_path: Path) -> None:
    """A 404 or 503 answer to a Range request keeps the .part, and says so, for the
    next call to resume."""
    (tmp_path / "alpha.gz.part").write_bytes(PAYLOADS["alpha.gz"][:1000])
    for code in (404, 503):
        assert_error(
            DatasetError,
            lambda code=code: _download(tmp_path, _http_error(code)),  # type: ignore[misc]  # default binds the loop value
            callee="download_mnist",
            got=f"HTTPError: HTTP Error {code}: Error",
        )
        assert (tmp_path / "alpha.gz.part").read_bytes() == PAYLOADS["alpha.gz"][:1000]


def test_an_unsatisfiable_range_discards_the_part(tmp_path: Path) -> None:
    """A 416 answer (the server has fewer bytes than the .part) deletes the .part, so the
    next call starts over; a 416 with no .part at all is still a DatasetError."""
    (tmp_path / "alpha.gz.part").write_bytes(PAYLOADS["alpha.gz"][:1000])
    error = assert_error(
        DatasetError,
        lambda: _download(tmp_path, _http_error(416)),
        callee="download_mnist",
        got="HTTPError: HTTP Error 416",
    )
    assert not (tmp_path / "alpha.gz.part").exists()
    assert "kept" not in str(error)
    assert_error(
        DatasetError,
        lambda: _download(tmp_path, _http_error(416)),
        callee="download_mnist",
        got="HTTPError: HTTP Error 416",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_206_to_a_request_without_range_is_refused(tmp_path: Path) -> None:
    """206 without Content-Range to a fresh request: DatasetError quoting the empty
    header, and no .part left behind."""

    def partial(request: urllib.request.Request) -> FakeResponse:
        return FakeResponse(206, {}, io.BytesIO(PAYLOADS["alpha.gz"]))

    assert_error(
        DatasetError,
        lambda: _download(tmp_path, partial),
        callee="download_mnist",
        expected="answer 200, or 206 from byte 0",
        got="status 206 (Content-Range '')",
    )
    assert list(tmp_path.iterdir()) == []


def _trickle(
    server: FakeServer, extra: bytes = b""
) -> Callable[[urllib.request.Request], FakeResponse]:
    """An opener whose responses send ``extra`` after the body, one byte per read."""

    def opener(request: urllib.request.Request) -> FakeResponse:
        response = server(request)
        response.body = io.BytesIO(response.body.read() + extra)
        read = response.read
        response.read = lambda size=-1, /: read(min(size, 1))  # type: ignore[method-assign]  # a slow server
        return response

    return opener


def test_progress_counts_every_byte_of_a_trickled_body(tmp_path: Path, server: FakeServer) -> None:
    """A body that arrives a byte at a time is reported as 0, 1, 2, ... up to its size."""
    calls: list[tuple[str, int, int]] = []
    download_mnist(
        tmp_path,
        base_url=BASE,
        opener=_trickle(server),
        files={"beta.gz": SPECS["beta.gz"]},
        progress=lambda name, done, total: calls.append((name, done, total)),
    )
    size = len(PAYLOADS["beta.gz"])
    assert calls == [("beta.gz", done, size) for done in range(size + 1)]
    assert (tmp_path / "beta.gz").read_bytes() == PAYLOADS["beta.gz"]


def test_bytes_past_the_pinned_size_are_refused_even_after_a_correct_prefix(
    tmp_path: Path, server: FakeServer
) -> None:
    """The right 10 bytes followed by one more, sent a byte at a time: a size mismatch
    and no file, not a file cut at 10 bytes."""
    assert_error(
        DatasetError,
        lambda: download_mnist(
            tmp_path,
            base_url=BASE,
            opener=_trickle(server, b"!"),
            files={"beta.gz": SPECS["beta.gz"]},
        ),
        callee="download_mnist",
        expected="to have 10 bytes",
        got="11 bytes",
    )
    assert list(tmp_path.iterdir()) == []


class BufferedResponse(FakeResponse):
    """A response like http.client's: read(n) waits for n bytes, read1(n) returns what
    has arrived (here 3 bytes at a time). Here read fails the test instead of waiting."""

    def read(self, size: int = -1, /) -> bytes:
        """Refuse to wait for bytes that have not arrived."""
        raise AssertionError("read() would block until the whole chunk arrives")

    def read1(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` of the bytes that have arrived."""
        return self.body.read(min(size, 3))


def test_a_response_with_read1_is_read_as_bytes_arrive(tmp_path: Path) -> None:
    """http.client's read(n) waits for all n bytes; download_mnist uses read1 where the
    response has it, so it never waits for a chunk a trickling server will not fill."""

    def opener(request: urllib.request.Request) -> FakeResponse:
        return BufferedResponse(200, {}, io.BytesIO(PAYLOADS["beta.gz"]))

    paths = download_mnist(
        tmp_path, base_url=BASE, opener=opener, files={"beta.gz": SPECS["beta.gz"]}
    )
    assert paths[0].read_bytes() == PAYLOADS["beta.gz"]


def test_the_deadline_is_not_passed_at_its_exact_instant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    """A clock that reads 0 when the call starts and 5.0 from then on, with deadline=5:
    the deadline has not passed yet, so the download completes."""
    readings = iter([0.0])
    clock = SimpleNamespace(monotonic=lambda: next(readings, 5.0))
    monkeypatch.setattr("bpcore.datasets._download.time", clock)
    paths = download_mnist(tmp_path, base_url=BASE, opener=server, files=SPECS, deadline=5)
    assert [p.read_bytes() for p in paths] == list(PAYLOADS.values())

"""Saving and loading network parameters as ``.npz`` checkpoints, atomically and without pickle.

File format: an uncompressed NumPy ``.npz`` archive (every member stored, none
compressed) holding

* ``param/<name>``: one float32 or float64 array per parameter,
* ``state/<name>``: other float32 or float64 arrays, such as an optimizer's state, and
* ``meta``: a 0-d unicode array whose value is a JSON object mapping strings to
  ints, floats or strings (``{}`` when there is no metadata).

What the metadata means is up to the writer (a trainer's keys are those of
:class:`~bpcore.training.TrainingState`). Nothing is pickled, so
:func:`load_checkpoint` reads with ``allow_pickle=False`` and a checkpoint from an
untrusted source cannot run code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeAlias, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import (
    FLOAT_DTYPES,
    FloatArray,
    FloatDType,
    is_float_array,
    require_float_array,
)
from bpcore._files import NotRegular, open_regular
from bpcore._npz import DAMAGE, Unreadable, read_npz
from bpcore.errors import CheckpointError, DtypeError

__all__ = [
    "Checkpoint",
    "MetaValue",
    "load_checkpoint",
    "restore_into",
    "save_checkpoint",
    "stale_temporaries",
]

MetaValue: TypeAlias = int | float | str
"""The type of a checkpoint metadata value."""

_PARAM_PREFIX = "param/"
_STATE_PREFIX = "state/"
_META_KEY = "meta"
_TEMP_ATTEMPTS = 100
_TOKEN_BYTES = 8  # random bytes in a temporary file's name, written as hex
_FLOAT_NAMES = " or ".join(map(str, FLOAT_DTYPES))
_NPY_MAGIC = b"\x93NUMPY"


@final
@dataclass(frozen=True, eq=False)
class Checkpoint:
    """The contents of a checkpoint file.

    Attributes:
        params: the parameter arrays by name (fresh, writable arrays owned by the checkpoint).
        meta: the metadata saved with them.
        state: other named float arrays saved with them, such as an optimizer's state
            (empty when none were saved).
    """

    params: dict[str, FloatArray]
    meta: dict[str, MetaValue]
    state: dict[str, FloatArray] = field(default_factory=dict)


def _temp_name(target: Path, token: str) -> Path:
    """The name :func:`save_checkpoint` writes ``target`` under before renaming it."""
    return target.with_name(f".{target.name}.{token}.tmp")


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """The temporary files an interrupted :func:`save_checkpoint` of ``path`` left behind
    (a save killed between writing and renaming: SIGKILL, power loss), sorted.

    Only names of the exact form ``save_checkpoint`` writes are listed; nothing else in
    the folder. Deleting them is safe when no save of ``path`` is running.
    """
    target = Path(path)
    token = f"[0-9a-f]{{{2 * _TOKEN_BYTES}}}"
    pattern = re.compile(re.escape(f".{target.name}.") + token + re.escape(".tmp"))
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    return sorted(p for p in entries if pattern.fullmatch(p.name) and p.is_file())


def _create_temp(target: Path) -> tuple[int, Path]:
    """Create and open a new temporary file next to ``target``; return its descriptor and path.

    Unlike :func:`tempfile.mkstemp` (always mode 0600), the file is created with
    mode 0666 filtered by the umask, so the renamed checkpoint gets the same
    permissions as any file the user writes directly.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TEMP_ATTEMPTS):
        candidate = _temp_name(target, secrets.token_hex(_TOKEN_BYTES))
        try:
            return os.open(candidate, flags, 0o666), candidate
        except FileExistsError:
            continue
    raise FileExistsError(
        f"save_checkpoint({str(target)!r}): could not create a unique temporary file "
        f"next to it after {_TEMP_ATTEMPTS} attempts."
    )


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX. Best effort: Windows cannot open
    # directories and some file systems reject fsync on them, and the checkpoint
    # is already complete and in place when this runs.
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _meta_json(meta: Mapping[str, MetaValue], path: Path) -> str:
    for key, value in meta.items():
        if not isinstance(key, str):
            raise CheckpointError(
                f"save_checkpoint({str(path)!r}): expected meta keys to be str, "
                f"got {type(key).__name__} {key!r}."
            )
        if not isinstance(value, (int, float, str)):
            raise CheckpointError(
                f"save_checkpoint({str(path)!r}): expected meta[{key!r}] to be int, float or str, "
                f"got {type(value).__name__}."
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise CheckpointError(
                f"save_checkpoint({str(path)!r}): expected meta[{key!r}] to be finite "
                f"(JSON has no NaN or infinity), got {value!r}."
            )
    return json.dumps(dict(meta), allow_nan=False)


def save_checkpoint(
    path: str | os.PathLike[str],
    params: Mapping[str, FloatArray],
    *,
    meta: Mapping[str, MetaValue] | None = None,
    state: Mapping[str, FloatArray] | None = None,
) -> Path:
    """Write ``params``, ``meta`` and ``state`` to the ``.npz`` checkpoint ``path`` atomically.

    ``state`` holds any other float arrays to keep with the parameters (an
    optimizer's :meth:`~bpcore.optim.StatefulOptimizer.state_dict`). Returns ``path``.

    The archive is written to a new temporary file ``.<name>.<random>.tmp`` in
    the same directory, flushed and fsynced, then renamed over ``path`` with
    :func:`os.replace`. If anything fails, the temporary file is removed and an
    existing file at ``path`` is left as it was. ``path`` is used as given (no
    ``.npz`` suffix is added). Metadata values round-trip with their Python
    type (``bool`` is an ``int`` and stays a ``bool``).

    Raises:
        DtypeError: a parameter or state array is not a float32 or float64 numpy array.
        CheckpointError: ``params`` (or a ``state`` other than None) is not a
            mapping, a parameter name is not a ``str``, or ``meta`` has a non-``str``
            key, a value that is not int/float/str, or a non-finite float.
        OSError: the file system refused the write (nothing was replaced);
            ``FileExistsError`` if every temporary name tried was taken.
    """
    target = Path(path)
    for role, given in (("params", params), ("state", state)):
        if not isinstance(given, Mapping) and not (role == "state" and given is None):
            raise CheckpointError(
                f"save_checkpoint({str(target)!r}): expected `{role}` to be a mapping of "
                f"names to arrays, got {type(given).__name__}."
            )
    arrays: dict[str, np.ndarray[tuple[int, ...], np.dtype[np.generic]]] = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise CheckpointError(
                f"save_checkpoint({str(target)!r}): expected parameter names to be str, "
                f"got {type(name).__name__} {name!r}."
            )
        require_float_array(
            value, where=f"save_checkpoint({str(target)!r})", name=f"params[{name!r}]"
        )
        arrays[_PARAM_PREFIX + name] = value
    for name, value in ({} if state is None else state).items():
        require_float_array(
            value, where=f"save_checkpoint({str(target)!r})", name=f"state[{name!r}]"
        )
        arrays[_STATE_PREFIX + name] = value
    arrays[_META_KEY] = np.array(_meta_json({} if meta is None else meta, target))

    directory = target.parent
    fd, tmp_name = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as tmp:
            # The stub types `**kwds` against the `allow_pickle: bool` keyword as well;
            # our keys are "meta" and "param/<name>", never "allow_pickle".
            np.savez(tmp, **arrays)  # type: ignore[arg-type]
            tmp.flush()
            os.fsync(tmp.fileno())
        with contextlib.suppress(FileNotFoundError):
            # A replaced checkpoint keeps its permissions (read-only stays read-only).
            os.chmod(tmp_name, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp_name, target)
    except BaseException:
        # BaseException too: a KeyboardInterrupt mid-write must not leave a stray temp file.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)
    return target


def _refuse_npy(handle: IO[bytes], where: str) -> None:
    """Raise a CheckpointError if ``handle`` holds a single ``.npy`` array; rewind it."""
    if handle.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
        raise CheckpointError(f"{where}: expected an .npz archive, got a single .npy array.")
    handle.seek(0)


def _float_member(raw: npt.NDArray[np.generic], key: str, where: str) -> FloatArray:
    """``raw`` if it is a float32 or float64 array, else a CheckpointError naming ``key``."""
    if not is_float_array(raw):
        raise CheckpointError(
            f"{where}: key {key!r}: expected a {_FLOAT_NAMES} array, got dtype {raw.dtype}."
        )
    return raw


def _read_meta(
    raw: np.ndarray[tuple[int, ...], np.dtype[np.generic]], where: str
) -> dict[str, MetaValue]:
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise CheckpointError(
            f"{where}: expected key 'meta' to be a 0-d unicode array holding JSON, "
            f"got shape {raw.shape} and dtype {raw.dtype}."
        )
    text = str(raw[()])
    try:
        decoded: object = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"{where}: expected key 'meta' to hold JSON, got {exc}.") from exc
    except RecursionError as exc:  # nesting deeper than the parser's stack
        raise CheckpointError(
            f"{where}: expected key 'meta' to hold a flat JSON object, got nesting too deep "
            "to parse."
        ) from exc
    if not isinstance(decoded, dict):
        raise CheckpointError(
            f"{where}: expected key 'meta' to hold a JSON object, got {type(decoded).__name__}."
        )
    meta: dict[str, MetaValue] = {}
    for key, value in decoded.items():
        if not isinstance(value, (int, float, str)):
            raise CheckpointError(
                f"{where}: expected meta[{key!r}] to be int, float or str, "
                f"got {type(value).__name__}."
            )
        meta[str(key)] = value
    return meta


def _check_expected(
    params: Mapping[str, FloatArray],
    expected: Mapping[str, tuple[tuple[int, ...], FloatDType]],
    where: str,
) -> None:
    missing = sorted(expected.keys() - params.keys())
    extra = sorted(params.keys() - expected.keys())
    if missing or extra:
        raise CheckpointError(
            f"{where}: expected parameters {sorted(expected)}, got {sorted(params)} "
            f"(missing from the file: {missing}, not expected: {extra})."
        )
    for name, (shape, dtype) in expected.items():
        array = params[name]
        want_shape = tuple(shape)
        want_dtype = np.dtype(dtype)
        if array.shape != want_shape or array.dtype != want_dtype:
            raise CheckpointError(
                f"{where}: key 'param/{name}': expected shape {want_shape} and dtype "
                f"{want_dtype}, got shape {array.shape} and dtype {array.dtype}."
            )


def _read_archive(
    source: Path, where: str
) -> tuple[dict[str, FloatArray], dict[str, FloatArray], dict[str, MetaValue] | None]:
    """The parameters, state and meta of the archive at ``source``, keys checked."""
    params: dict[str, FloatArray] = {}
    state: dict[str, FloatArray] = {}
    meta: dict[str, MetaValue] | None = None
    with open_regular(source) as handle:
        _refuse_npy(handle, where)
        for key, raw in read_npz(handle):
            if key != _META_KEY and not key.startswith((_PARAM_PREFIX, _STATE_PREFIX)):
                raise CheckpointError(
                    f"{where}: expected only keys 'meta', 'param/<name>' and "
                    f"'state/<name>', got key {key!r}."
                )
            if raw is None:
                raise CheckpointError(
                    f"{where}: key {key!r}: expected a .npy array, got a bytes member."
                )
            if key == _META_KEY:
                meta = _read_meta(raw, where)
            elif key.startswith(_STATE_PREFIX):
                state[key.removeprefix(_STATE_PREFIX)] = _float_member(raw, key, where)
            else:
                params[key.removeprefix(_PARAM_PREFIX)] = _float_member(raw, key, where)
    return params, state, meta


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected: Mapping[str, tuple[tuple[int, ...], FloatDType]] | None = None,
) -> Checkpoint:
    """Read the checkpoint at ``path`` (without pickle) and return its parameters and metadata.

    If ``expected`` is given, it maps every parameter name to its required
    ``(shape, dtype)``: the file must hold exactly those names, each with
    exactly that shape and dtype.

    Any bytes give an exact load or a CheckpointError, in bounded time and memory: the
    members are stored, not compressed, so each array is allocated only after its
    header has been checked to need exactly the bytes its member holds; reading a file
    of ``B`` bytes allocates about ``2·B`` for the data, plus the parsers' fixed few
    hundred KiB. A path that is not a regular file
    (a FIFO, a device, a directory) is refused without being read.

    Raises:
        CheckpointError: the file is missing, not a regular file, unreadable, not an
            ``.npz`` archive, truncated or corrupt; has a compressed or encrypted
            member, too many members or a name twice; holds pickled data, a key
            other than ``meta``, ``param/<name>`` and ``state/<name>``, an array that
            is not float32/float64, or bad metadata (nested too deep included); or does
            not match ``expected``. The message names the file and, where there is
            one, the key.
    """
    source = Path(path)
    where = f"load_checkpoint({str(source)!r})"
    try:
        params, state, meta = _read_archive(source, where)
    except CheckpointError:
        raise  # already names the file; a ValueError, so DAMAGE below would wrap it again
    except FileNotFoundError as exc:
        raise CheckpointError(f"{where}: the file does not exist.") from exc
    except NotRegular as exc:
        raise CheckpointError(f"{where}: not a readable .npz checkpoint: {exc}.") from exc
    except Unreadable as exc:
        if exc.key is None:
            raise CheckpointError(f"{where}: not a readable .npz checkpoint: {exc}.") from exc
        raise CheckpointError(f"{where}: key {exc.key!r} is unreadable ({exc}).") from exc
    except DAMAGE as exc:
        raise CheckpointError(f"{where}: not a readable .npz checkpoint: {exc}") from exc
    if meta is None:
        keys = sorted([*(_PARAM_PREFIX + k for k in params), *(_STATE_PREFIX + k for k in state)])
        raise CheckpointError(f"{where}: expected key 'meta', got only keys {keys}.")
    if expected is not None:
        _check_expected(params, expected, where)
    return Checkpoint(params=params, meta=meta, state=state)


def restore_into(params: Mapping[str, FloatArray], checkpoint: Checkpoint) -> None:
    """Copy ``checkpoint.params`` into the existing arrays of ``params``, in place.

    Every array keeps its identity, so layers holding references to
    ``params[k]`` see the restored values. All names, shapes and dtypes are
    checked before any array is written, so a mismatch leaves ``params``
    untouched. No dtype conversion is done: restoring float64 values into
    float32 parameters is a mismatch, not a silent rounding.

    Raises:
        CheckpointError: the names differ, or a shape or dtype differs.
        DtypeError: a target in ``params`` is not a writable float32/float64 numpy array.
    """
    where = "restore_into"
    source = checkpoint.params
    missing = sorted(params.keys() - source.keys())
    extra = sorted(source.keys() - params.keys())
    if missing or extra:
        raise CheckpointError(
            f"{where}: expected the checkpoint to hold parameters {sorted(params)}, "
            f"got {sorted(source)} (missing from the checkpoint: {missing}, "
            f"not in params: {extra})."
        )
    for name, target in params.items():
        require_float_array(target, where=where, name=f"params[{name!r}]")
        if not target.flags.writeable:
            raise DtypeError(
                f"{where}: expected params[{name!r}] to be a writable array, got a read-only one."
            )
        value = source[name]
        if value.shape != target.shape or value.dtype != target.dtype:
            raise CheckpointError(
                f"{where}: key 'param/{name}': expected shape {target.shape} and dtype "
                f"{target.dtype} (as in params), got shape {value.shape} and dtype {value.dtype}."
            )
    for name, target in params.items():
        np.copyto(target, source[name])

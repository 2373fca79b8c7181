"""Small helpers that several test modules share."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from bpcore import Affine
from bpcore._arrays import FloatArray, FloatDType
from bpcore.datasets import write_idx
from bpcore.errors import BpcoreError
from bpcore.networks import MultiLayerNet


def sum_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Brute-force oracle: sum ``a`` down to ``shape``, one broadcast axis at a time."""
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and a.shape[axis] != 1:
            a = a.sum(axis=axis, keepdims=True)
    return a


def assert_error(
    error: type[BpcoreError],
    call: Callable[[], object],
    *,
    callee: str,
    expected: str | None = None,
    got: str | None = None,
) -> BpcoreError:
    """``call()`` raises ``error``, whose message names ``callee`` and says what was
    expected and what was received.

    A bpcore message reads ``"<callee>: expected <what>, got <what>."``: ``callee`` must
    be exactly what stands before the first ``": "`` (and nowhere after it),
    ``expected`` after the word "expected" and ``got`` after the word "got" (each a
    substring, so the rest of the wording may change).
    Returns the exception for further checks.
    """
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    head, sep, body = message.partition(": ")
    assert sep, f"no callee before ': ' in {message!r}"
    assert head == callee, f"callee {callee!r} not named first in {message!r}"
    assert f"{callee}: " not in body, f"callee named twice in {message!r}"
    for word, part in (("expected", expected), ("got", got)):
        if part is not None:
            assert word in body, f"no {word!r} in {message!r}"
            assert part in body.partition(word)[2], f"{word} {part!r} missing in {message!r}"
    return caught.value


_AFFINE_RNG = np.random.default_rng(0)
AFFINE_W = _AFFINE_RNG.standard_normal((4, 3))
AFFINE_B = _AFFINE_RNG.standard_normal(3)
AFFINE_X = _AFFINE_RNG.standard_normal((5, 4))
"""An Affine layer's parameters and a batch for it, shared by the checker's tests."""


def affine(dtype: FloatDType) -> Affine:
    """The Affine layer of :data:`AFFINE_W` and :data:`AFFINE_B` in ``dtype``."""
    return Affine(AFFINE_W.astype(dtype), AFFINE_B.astype(dtype))


class ScaledAffine:
    """An Affine whose dx is scaled by (1 + delta): a wrong backward of known size."""

    def __init__(self, dtype: FloatDType, delta: float) -> None:
        self.inner = affine(dtype)
        self.W, self.b = self.inner.W, self.inner.b
        self.delta = delta

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout)
        self.dW, self.db = self.inner.dW, self.inner.db
        return dx * (1 + self.delta)


TOY_FEATURES, TOY_CLASSES = 4, 3
"""The input width and class count of :func:`toy_data` and :func:`toy_net`."""


def toy_data(n: int, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``n`` distinct random inputs, labelled by a rule a small net can learn."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, TOY_FEATURES))
    t = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, t


def toy_net(seed: int = 0, dtype: type[np.floating] = np.float64) -> MultiLayerNet:
    """A ReLU network with 8 hidden units for :func:`toy_data`."""
    return MultiLayerNet(TOY_FEATURES, (8,), TOY_CLASSES, rng=seed, dtype=dtype)


def raised_within(call: Callable[[], object], seconds: float) -> BaseException | None:
    """Run ``call`` in a daemon thread and return what it raised (``None`` if it returned);
    fail the test if it is still running after ``seconds`` (blocked on a FIFO, say)."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # handed to the calling thread
            raised.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), f"the call was still running after {seconds} s"
    return raised[0] if raised else None


def write_fake_mnist(folder: Path, *, n_train: int = 40, n_test: int = 12) -> None:
    """Random 28x28 images and labels in MNIST's four gzip-compressed files, in ``folder``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, np.uint8))


def result_or_bpcore_error(callee: str, call: Callable[[], object]) -> str:
    """``"result"`` or ``"error"``: ``call()`` returns without a warning, or raises a
    BpcoreError whose message begins with ``callee``; a warning or another exception
    fails the test."""
    message = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except BpcoreError as error:
            message = str(error)
    assert not caught, [str(w.message) for w in caught]
    if message is not None:
        assert message.startswith(callee), f"{callee!r} not named first: {message}"
        return "error"
    return "result"


PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_MNIST_CANDIDATES = ("$BPCORE_MNIST_DIR", "../shared/data/mnist")
"""Where the real MNIST files are looked for: the variable, then a folder beside the project."""


def real_mnist_dir() -> Path:
    """The folder holding the real MNIST files, or skip the test with the places looked in."""
    import os  # noqa: PLC0415  # only the tests that need real MNIST call this

    given = os.environ.get("BPCORE_MNIST_DIR")
    folder = Path(given) if given else PROJECT_ROOT.parent / "shared" / "data" / "mnist"
    if (
        not (folder / "t10k-labels-idx1-ubyte.gz").exists()
        and not (folder / "t10k-labels-idx1-ubyte").exists()
    ):
        pytest.skip(
            f"real MNIST not found in {folder} (set BPCORE_MNIST_DIR, or place the files in "
            "../shared/data/mnist beside the project)"
        )
    return folder

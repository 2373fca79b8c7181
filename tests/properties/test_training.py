"""Trainer properties: an epoch's accuracy is a count of hits over the whole set, evaluated
chunk by chunk, for sets larger than the default evaluation chunk, every target encoding and
both float dtypes."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hypothesis import given
from hypothesis import strategies as st

from bpcore.networks import MultiLayerNet
from bpcore.optim import SGD
from bpcore.training import Trainer
from tests.helpers import TOY_CLASSES, toy_data, toy_net

FLOAT_DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])
DEFAULT_EVAL_BATCH = 10_000
SET_SIZES = st.one_of(st.integers(1, 50), st.integers(DEFAULT_EVAL_BATCH - 2, 25_000))
"""Small sets, and sets around and well beyond the default evaluation chunk of 10,000."""


def _targets(labels: npt.NDArray[np.int64], encoding: str, seed: int) -> np.ndarray:
    """``labels`` as given, as one-hot rows, or as soft rows whose most likely class they are."""
    if encoding == "labels":
        return labels
    rows: npt.NDArray[np.float64] = np.eye(TOY_CLASSES)[labels]
    if encoding == "one-hot":
        return rows
    noise = np.random.default_rng(seed).random((labels.size, TOY_CLASSES))
    soft = rows + 0.4 * noise  # the label keeps the largest weight: 1 + 0.4·r > 0.4·r'
    normalised: npt.NDArray[np.float64] = soft / soft.sum(axis=1, keepdims=True)
    return normalised


def _fragile(net: MultiLayerNet, x: np.ndarray) -> npt.NDArray[np.bool_]:
    """Samples whose top two scores lie within rounding of each other: ``4·B`` apart, where
    ``B`` bounds how far a score computed in the network's dtype strays from the exact one.

    For ``scores = relu(x·W1 + b1)·W2 + b2`` with sizes ``M1 = |x|·|W1| + |b1|`` and
    ``M2 = M1·|W2| + |b2|``, the first layer rounds ``D + 1`` times (``(D + 1)·u·M1``, passed
    on through |W2|, and ReLU is 1-Lipschitz) and the second ``H + 1`` times: ``B = n·u·M2``
    with ``n = D + H + 4``. Two computations of a row (in chunks of different sizes) differ
    by up to ``2B`` per score, so their argmax can differ only where the gap is ``<= 4B``.
    """
    x64 = np.asarray(x, dtype=net.params["W1"].dtype).astype(np.float64)
    W1, b1, W2, b2 = (np.abs(net.params[k].astype(np.float64)) for k in ("W1", "b1", "W2", "b2"))
    m2 = (np.abs(x64) @ W1 + b1) @ W2 + b2
    n = W1.shape[0] + W1.shape[1] + 4
    bound = n * float(np.finfo(net.params["W1"].dtype).eps) / 2 * m2.max(axis=1)
    scores = np.sort(net.predict(x).astype(np.float64), axis=1)
    fragile: npt.NDArray[np.bool_] = scores[:, -1] - scores[:, -2] <= 4 * bound
    return fragile


@given(
    n=SET_SIZES,
    chunks=st.one_of(st.none(), st.integers(1, 40)),
    encoding=st.sampled_from(["labels", "one-hot", "soft"]),
    dtype=FLOAT_DTYPES,
    seed=st.integers(0, 2**32 - 1),
)
def test_an_epochs_accuracy_counts_the_hits_of_every_chunk(
    n: int, chunks: int | None, encoding: str, dtype: np.dtype, seed: int
) -> None:
    """train_acc and test_acc are each a count of hits over the whole set divided by its size,
    the hits counted chunk by chunk of eval_batch_size samples (10,000 by default): exactly
    the sum of the network's accuracy times the size of each chunk. They equal the accuracy
    of one call over the whole set, but for samples within rounding of a tie, whose scores
    may round differently in a chunk of another size."""
    x, labels = toy_data(n, seed % 1000)
    t = _targets(labels, encoding, seed)
    x_test, labels_test = toy_data(7, 1 + seed % 1000)
    t_test = _targets(labels_test, encoding, seed + 1)
    net = toy_net(seed=seed % 1000, dtype=dtype.type)
    data = (x, t, x_test, t_test)
    if chunks is None:
        chunk = DEFAULT_EVAL_BATCH
        trainer = Trainer(net, SGD(lr=0.1), *data, batch_size=n, epochs=1, rng=seed)
    else:
        chunk = math.ceil(n / chunks)
        trainer = Trainer(net, SGD(lr=0.1), *data, batch_size=n, epochs=1, rng=seed,
                          eval_batch_size=chunk)  # fmt: skip
    history = trainer.fit()
    sets = (
        (history.train_acc[0], x, labels, t),
        (history.test_acc[0], x_test, labels_test, t_test),
    )
    for accuracy, xs, wanted, ts in sets:
        size = xs.shape[0]
        hits = sum(
            int(
                np.count_nonzero(
                    np.argmax(net.predict(xs[s : s + chunk]), axis=1) == wanted[s : s + chunk]
                )
            )
            for s in range(0, size, chunk)
        )
        assert accuracy == hits / size
        whole = int(np.count_nonzero(np.argmax(net.predict(xs), axis=1) == wanted))
        assert net.accuracy(xs, ts) == whole / size
        assert abs(hits - whole) <= np.count_nonzero(_fragile(net, xs))

"""Benchmark: the SimpleConvNet training step against the book's, PyTorch's and its GEMM floor.

A step is ``grads = net.gradient(x, t)`` then ``SGD.update(net.params, grads)`` on the
book's SimpleConvNet for MNIST (1x28x28 images, 30 filters of 5x5, 2x2 max pooling, 100
hidden units, 10 classes), batch 100, float64 and float32. It is timed, interleaved in
one run, against

* the book's step: the same network built from the book's layers (``tests/book_layers.py``:
  its ``im2col``/``col2im`` Convolution, im2col Pooling, ReLU, Affine, softmax loss) in
  the book's loop, with the book's ``params[key] -= lr * grads[key]``, on its own copy
  of the same weights;
* PyTorch eager on the CPU (``Conv2d``, ``MaxPool2d``, ``Linear``, ``optim.SGD``), same
  weights, batch and thread count, when ``torch`` is importable;
* the step's GEMM floor: the products no im2col implementation avoids (the convolution
  ``col·Wᵀ`` and its filter gradient ``doutᵀ·col``, the hidden layer's three, the
  output layer's three; a first layer needs no input gradient), alone, into preallocated
  outputs.

A second table times Convolution alone, forward and backward with the input gradient,
against its own three products (``col·Wᵀ``, ``doutᵀ·col``, ``dout·W``) and against the
book's Convolution. Run ``python benchmarks/bench_conv.py [--quick]`` (``nox -s bench``
runs it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _harness import (
    Candidate,
    Timings,
    add_threads_option,
    blas_threads,
    fmt_seconds,
    interleave,
    limit_blas_threads,
    local,
    print_environment,
    print_load_after,
    print_table,
    verdict,
)
from _torch_worker import TorchWorker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.book_layers
from tests import book_layers as book  # importable once the path is set

from bpcore.layers import Convolution
from bpcore.networks import SimpleConvNet
from bpcore.optim import SGD

LR = 0.01
BATCH = 100
IMAGE = (1, 28, 28)
BPCORE = "bpcore step"
BOOK = "book's step"
FLOOR = "GEMM floor (8 products)"
TORCH = "torch eager step"
BOOK_TARGET = 0.5  # at least 2x faster than the book's step
TORCH_TARGET = 1.5  # within 1.5x of PyTorch's float32 step
Array = npt.NDArray[np.floating[Any]]


def make_batch(dtype: np.dtype[Any]) -> tuple[Array, npt.NDArray[np.intp]]:
    rng = np.random.default_rng(1)
    x = rng.random((BATCH, *IMAGE)).astype(dtype)  # pixel intensities in [0, 1]
    t = rng.integers(0, 10, size=BATCH).astype(np.intp)
    return x, t


class BookConvNet:
    """The book's ``SimpleConvNet``: its layers, its gradient loop, its update."""

    def __init__(self, params: dict[str, Array]) -> None:
        self.params = {k: v.copy() for k, v in params.items()}
        p = self.params
        self.layers: list[Any] = [
            book.Convolution(p["W1"], p["b1"]),
            book.Relu(),
            book.Pooling(2, 2, stride=2),
            book.Affine(p["W2"], p["b2"]),
            book.Relu(),
            book.Affine(p["W3"], p["b3"]),
        ]
        self.last_layer = book.SoftmaxWithLoss()

    def gradient(self, x: Array, t: npt.NDArray[np.intp]) -> dict[str, Array]:
        out = x
        for layer in self.layers:
            out = layer.forward(out)
        self.last_layer.forward(out, t)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for i, index in enumerate((0, 3, 5), start=1):
            grads[f"W{i}"], grads[f"b{i}"] = self.layers[index].dW, self.layers[index].db
        return grads

    def step(self, x: Array, t: npt.NDArray[np.intp]) -> None:
        grads = self.gradient(x, t)
        for key in ("W1", "b1", "W2", "b2", "W3", "b3"):
            self.params[key] -= LR * grads[key]


def check_same_gradients(net: SimpleConvNet, twin: BookConvNet, x: Array, t: Any) -> None:
    """Require the book's network to compute bpcore's gradients (within rounding): a
    comparison of two different computations would compare nothing."""
    ours, theirs = net.gradient(x, t), twin.gradient(x, t)
    u = float(np.finfo(x.dtype).eps) / 2
    for key, grad in ours.items():
        # Each element sums at most N·OH·OW = 57,600 products, in another order.
        bound = 16 * 57_600 * u * float(np.max(np.abs(grad)))
        error = float(np.max(np.abs(grad.astype(np.float64) - theirs[key])))
        if error > bound:
            raise AssertionError(f"the book's {key} gradient is off by {error:.3g} > {bound:.3g}")


def floor_candidate(net: SimpleConvNet, x: Array, t: npt.NDArray[np.intp]) -> Candidate:
    """The eight products of the step on the step's own arrays, into preallocated outputs."""
    net.gradient(x, t)
    p = net.params
    dtype = p["W1"].dtype
    fn = p["W1"].shape[0]
    col = book.im2col(x, 5, 5)  # (N·24·24, 25)
    w1 = p["W1"].reshape(fn, -1)
    conv = np.empty((col.shape[0], fn), dtype)
    dconv = np.ascontiguousarray(conv)
    dw1 = np.empty(w1.shape, dtype)
    pooled = np.ascontiguousarray(
        np.random.default_rng(2).random((BATCH, p["W2"].shape[0])).astype(dtype)
    )
    hidden = np.empty((BATCH, p["W2"].shape[1]), dtype)
    scores = np.empty((BATCH, 10), dtype)
    dscores = np.ones((BATCH, 10), dtype)
    dhidden = np.empty_like(hidden)
    dpooled = np.empty_like(pooled)
    dw2, dw3 = np.empty(p["W2"].shape, dtype), np.empty(p["W3"].shape, dtype)

    def floor() -> None:
        np.matmul(col, w1.T, out=conv)
        np.matmul(pooled, p["W2"], out=hidden)
        np.matmul(hidden, p["W3"], out=scores)
        np.matmul(hidden.T, dscores, out=dw3)
        np.matmul(dscores, p["W3"].T, out=dhidden)
        np.matmul(pooled.T, dhidden, out=dw2)
        np.matmul(dhidden, p["W2"].T, out=dpooled)
        np.matmul(dconv.T, col, out=dw1)

    return local(FLOOR, floor)


def torch_candidate(
    worker: TorchWorker, net: SimpleConvNet, x: Array, t: Any, folder: Path
) -> Candidate:
    path = folder / f"conv-{x.dtype.name}.npz"
    np.savez(path, x=x, t=t, **net.params)
    threads = worker.setup(path, blas_threads())
    return Candidate(f"{TORCH} ({threads} thr)", worker.timed)


def ratio(timings: Timings, a: str, b: str) -> str:
    paired, low, high = timings.paired_ratio(a, b)
    return f"{paired:.3f} [{low:.2f}–{high:.2f}]"


def run_step(
    dtype: np.dtype[Any], worker: TorchWorker | None, rounds: int, folder: Path
) -> list[str]:
    x, t = make_batch(dtype)
    net = SimpleConvNet(IMAGE, rng=0, dtype=dtype, weight_init_std="he")
    twin = BookConvNet(net.params)
    check_same_gradients(net, twin, x, t)
    optimizer = SGD(lr=LR)

    def ours() -> None:
        optimizer.update(net.params, net.gradient(x, t))

    candidates = [
        local(BPCORE, ours),
        local(BOOK, lambda: twin.step(x, t)),
        floor_candidate(net, x, t),
    ]
    torch_name = None
    if worker is not None:
        candidates.append(torch_candidate(worker, net, x, t, folder))
        torch_name = candidates[-1].name
    timings = interleave(candidates, rounds=rounds, sample_seconds=0.05)
    rows = []
    for c in candidates:
        low, high = timings.quartiles(c.name)
        rows.append([
            c.name,
            fmt_seconds(timings.median(c.name)),
            f"{fmt_seconds(low)} – {fmt_seconds(high)}",
            ratio(timings, c.name, FLOOR),
            "" if torch_name is None else ratio(timings, c.name, torch_name),
        ])  # fmt: skip
    print_table(
        f"SimpleConvNet step, batch {BATCH}, {dtype.name}: medians of {rounds} interleaved rounds",
        ["candidate", "median", "quartiles", "÷ floor paired [IQR]", "÷ torch paired [IQR]"],
        rows,
    )
    book_ratio = timings.paired_ratio(BPCORE, BOOK)[0]
    summary = [
        dtype.name,
        f"{book_ratio:.3f}×",
        f"≤ {BOOK_TARGET}",
        verdict(book_ratio, BOOK_TARGET),
    ]
    if torch_name is None:
        return [*summary, "torch not importable", "", ""]
    torch_ratio = timings.paired_ratio(BPCORE, torch_name)[0]
    if dtype == np.float32:
        return [
            *summary,
            f"{torch_ratio:.3f}×",
            f"≤ {TORCH_TARGET}",
            verdict(torch_ratio, TORCH_TARGET),
        ]
    return [*summary, f"{torch_ratio:.3f}×", "(no target)", ""]


def run_layer(dtype: np.dtype[Any], rounds: int) -> list[str]:
    """Convolution alone, forward and backward with dx, against its three products."""
    rng = np.random.default_rng(3)
    x = rng.random((BATCH, 30, 12, 12)).astype(dtype)  # a second conv layer's input
    weights = (rng.standard_normal((30, 30, 3, 3)) * 0.1).astype(dtype)
    bias = np.zeros(30, dtype)
    layer, twin = Convolution(weights, bias), book.Convolution(weights.copy(), bias.copy())
    dout = rng.standard_normal(layer.forward(x).shape).astype(dtype)
    col = book.im2col(x, 3, 3)
    w = weights.reshape(30, -1)
    rows = np.ascontiguousarray(dout.transpose(0, 2, 3, 1).reshape(-1, 30))
    out, dw, dcol = (
        np.empty((col.shape[0], 30), dtype),
        np.empty(w.shape, dtype),
        np.empty(col.shape, dtype),
    )

    def ours() -> None:
        layer.forward(x)
        layer.backward(dout)

    def theirs() -> None:
        twin.forward(x)
        twin.backward(dout)

    def floor() -> None:
        np.matmul(col, w.T, out=out)
        np.matmul(rows.T, col, out=dw)
        np.matmul(rows, w, out=dcol)

    candidates = [
        local("bpcore Convolution", ours),
        local("book's Convolution", theirs),
        local("its 3 products", floor),
    ]
    timings = interleave(candidates, rounds=rounds, sample_seconds=0.02)
    table = []
    for c in candidates:
        table.append(
            [c.name, fmt_seconds(timings.median(c.name)), ratio(timings, c.name, "its 3 products")]
        )
    print_table(
        f"Convolution 30→30 of 3x3 on {BATCH}x30x12x12, forward + backward with dx, {dtype.name}",
        ["candidate", "median", "÷ floor paired [IQR]"],
        table,
    )
    ours_name, book_name, floor_name = (c.name for c in candidates)
    return [
        dtype.name,
        f"{timings.paired_ratio(ours_name, floor_name)[0]:.3f}×",
        f"{timings.paired_ratio(ours_name, book_name)[0]:.3f}×",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only (a smoke run)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns")
    add_threads_option(parser)
    args, _ = parser.parse_known_args()  # nox -s bench hands every benchmark the same options
    rounds = 5 if args.quick else 31
    limiter = limit_blas_threads(args.threads)
    print_environment("SimpleConvNet step against the book's, PyTorch's and the GEMM floor")
    worker: TorchWorker | None = None
    if not args.no_torch:
        worker = TorchWorker()
        if worker.start():
            print(worker.description)
        else:
            print(f"{worker.description}: the PyTorch columns are skipped")
            worker = None
    steps, layers = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for dtype in (np.dtype(np.float64), np.dtype(np.float32)):
                steps.append(run_step(dtype, worker, rounds, Path(tmp)))
            for dtype in (np.dtype(np.float64), np.dtype(np.float32)):
                layers.append(run_layer(dtype, rounds))
    finally:
        if worker is not None:
            worker.close()
    print_table(
        "Summary: bpcore step ÷ the book's and ÷ torch's (medians of per-round ratios)",
        ["dtype", "÷ book", "target", "", "÷ torch", "target", ""],
        steps,
    )
    print_table(
        "Summary: Convolution fwd+bwd ÷ its products, ÷ the book's",
        ["dtype", "÷ floor", "÷ book"],
        layers,
    )
    print_load_after()
    del limiter


if __name__ == "__main__":
    main()

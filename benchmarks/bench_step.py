"""Benchmarks 1 and 2: one training step of TwoLayerNet against its GEMM floor and PyTorch.

A step is what the trainer does per mini-batch: ``grads = net.gradient(x, t)`` then
``SGD.update(net.params, grads)``. It is timed, interleaved in one run, against

* the GEMM floor: the five matrix products the step cannot avoid (``x@W1``, ``h@W2``,
  ``dout@W2ᵀ``, ``hᵀ@dout``, ``xᵀ@dh``), alone, on the same arrays, into preallocated
  outputs;
* the bare NumPy step: the same step's arithmetic in the fewest plain NumPy calls
  (no validation, no loss value, every array preallocated), on its own copy of the
  weights. It is what any NumPy implementation of the step at least costs, so a
  ratio to the floor below the bare step's is out of NumPy's reach;
* PyTorch eager on the CPU (``nn.Linear``, ``ReLU``, ``cross_entropy``, ``optim.SGD``),
  same weights, batch and thread count, when ``torch`` is importable.

Sizes: 784-50-10 at batch 100 and 784-1000-10 at batch 1000, float64 and float32.
Run ``python benchmarks/bench_step.py [--quick]`` (``nox -s bench`` runs it).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
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

from bpcore.layers import SoftmaxWithLoss
from bpcore.networks import TwoLayerNet
from bpcore.optim import SGD

LR = 0.01
INPUT, CLASSES = 784, 10
BPCORE = "bpcore step"
GRADIENT = "  of which gradient()"
UPDATE = "  of which SGD.update"
LOSS = "  loss layer alone (fwd+bwd)"
FLOOR = "GEMM floor (5 products)"
BARE = "bare NumPy step (no checks)"
TORCH = "torch eager step"


@dataclass(frozen=True)
class Config:
    hidden: int
    batch: int
    rounds: int
    sample_seconds: float
    floor_target: float
    torch_target: float

    @property
    def label(self) -> str:
        return f"{INPUT}-{self.hidden}-{CLASSES} batch {self.batch}"


CONFIGS = (
    # Samples of about one step each: the median then ignores the steps that another
    # process's burst of CPU use stalled, where a mean over many steps would not.
    Config(
        hidden=50, batch=100, rounds=1000, sample_seconds=2e-4, floor_target=1.3, torch_target=0.5
    ),
    Config(
        hidden=1000, batch=1000, rounds=31, sample_seconds=2e-3, floor_target=1.1, torch_target=1.25
    ),
)


def make_batch(
    dtype: np.dtype[Any], batch: int
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.intp]]:
    rng = np.random.default_rng(1)
    # MNIST-like: pixel intensities in [0, 1], ten classes.
    x = rng.random((batch, INPUT)).astype(dtype)
    t = rng.integers(0, CLASSES, size=batch).astype(np.intp)
    return x, t


def bpcore_candidates(
    net: TwoLayerNet, x: npt.NDArray[np.floating[Any]], t: npt.NDArray[np.intp]
) -> list[Candidate]:
    optimizer = SGD(lr=LR)
    params = net.params
    last: list[dict[str, npt.NDArray[np.floating[Any]]]] = [net.gradient(x, t)]

    def step() -> None:
        grads = net.gradient(x, t)
        optimizer.update(params, grads)

    def gradient() -> None:
        last[0] = net.gradient(x, t)

    def update() -> None:
        optimizer.update(params, last[0])

    scores = net.predict(x)
    loss_layer = SoftmaxWithLoss()

    def loss() -> None:
        loss_layer.forward(scores, t)
        loss_layer.backward(1.0)

    return [
        local(BPCORE, step),
        local(GRADIENT, gradient),
        local(UPDATE, update),
        local(LOSS, loss),
    ]


def floor_candidate(
    net: TwoLayerNet, x: npt.NDArray[np.floating[Any]], t: npt.NDArray[np.intp]
) -> Candidate:
    """The five products of the step on the step's own arrays, into preallocated outputs."""
    net.gradient(x, t)
    W1, W2 = net.params["W1"], net.params["W2"]
    dtype = W1.dtype
    n, hidden = x.shape[0], W1.shape[1]
    h = np.maximum(x @ W1 + net.params["b1"], 0)  # the step's hidden activation
    dout = net.last_layer.backward(1.0)  # the step's gradient at the scores
    a1 = np.empty((n, hidden), dtype)
    scores = np.empty((n, CLASSES), dtype)
    dh = np.empty((n, hidden), dtype)
    dW2 = np.empty(W2.shape, dtype)
    dW1 = np.empty(W1.shape, dtype)

    def floor() -> None:
        np.matmul(x, W1, out=a1)
        np.matmul(h, W2, out=scores)
        np.matmul(dout, W2.T, out=dh)
        np.matmul(h.T, dout, out=dW2)
        np.matmul(x.T, dh, out=dW1)

    return local(FLOOR, floor)


def bare_candidate(
    net: TwoLayerNet, x: npt.NDArray[np.floating[Any]], t: npt.NDArray[np.intp]
) -> Candidate:
    """The step's arithmetic in the fewest plain NumPy calls, on preallocated arrays.

    Forward ``a = x·W1 + b1``, ``h = max(a, 0)``, ``s = h·W2 + b2``; the softmax
    cross-entropy gradient ``δ = (softmax(s) - onehot(t)) / N`` in place; backward
    ``dW2 = hᵀ·δ``, ``db2 = Σδ``, ``dh = (δ·W2ᵀ) ⊙ [a > 0]``, ``dW1 = xᵀ·dh``, ``db1 = Σdh``;
    then ``p -= lr·g``. No validation, no loss value, no NaN or -0.0 care: a lower
    bound for a NumPy step, not a usable one. Its own copy of the weights, so it
    does not move bpcore's.
    """
    W1, b1, W2, b2 = (net.params[k].copy() for k in ("W1", "b1", "W2", "b2"))
    n, hidden, dtype = x.shape[0], W1.shape[1], W1.dtype
    h = np.empty((n, hidden), dtype)
    keep = np.empty((n, hidden), np.bool_)
    delta = np.empty((n, CLASSES), dtype)
    row_max = np.empty((n, 1), dtype)
    row_sum = np.empty((n, 1), dtype)
    dh = np.empty((n, hidden), dtype)
    dW1, db1 = np.empty_like(W1), np.empty_like(b1)
    dW2, db2 = np.empty_like(W2), np.empty_like(b2)
    at_label = np.arange(n) * CLASSES + t  # flat indices of the targets
    updates = ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2))

    def bare() -> None:
        np.matmul(x, W1, out=h)
        np.add(h, b1, out=h)
        np.greater(h, 0, out=keep)
        np.maximum(h, 0, out=h)
        np.matmul(h, W2, out=delta)
        np.add(delta, b2, out=delta)
        np.maximum.reduce(delta, axis=1, keepdims=True, out=row_max)
        np.subtract(delta, row_max, out=delta)
        np.exp(delta, out=delta)
        np.add.reduce(delta, axis=1, keepdims=True, out=row_sum)
        np.divide(delta, row_sum, out=delta)
        flat = delta.reshape(-1)
        flat[at_label] -= 1
        np.divide(delta, n, out=delta)
        np.matmul(h.T, delta, out=dW2)
        np.add.reduce(delta, axis=0, out=db2)
        np.matmul(delta, W2.T, out=dh)
        np.multiply(dh, keep, out=dh)
        np.matmul(x.T, dh, out=dW1)
        np.add.reduce(dh, axis=0, out=db1)
        for param, grad in updates:
            np.multiply(grad, LR, out=grad)
            np.subtract(param, grad, out=param)

    return local(BARE, bare)


def torch_candidate(
    worker: TorchWorker,
    net: TwoLayerNet,
    x: npt.NDArray[np.floating[Any]],
    t: npt.NDArray[np.intp],
    folder: Path,
) -> Candidate:
    """The same step in PyTorch eager mode (worker process): same weights, batch, lr, threads."""
    path = folder / f"step-{x.dtype.name}-{x.shape[0]}.npz"
    p = net.params
    np.savez(path, x=x, t=t, W1=p["W1"], b1=p["b1"], W2=p["W2"], b2=p["b2"])
    threads = worker.setup(path, blas_threads())
    return Candidate(f"{TORCH} ({threads} thr)", worker.timed)


def ratio_cells(timings: Timings, name: str, reference: str | None) -> list[str]:
    if reference is None or (name in (GRADIENT, UPDATE, LOSS, BARE) and reference != FLOOR):
        return ["", ""]
    paired, low, high = timings.paired_ratio(name, reference)
    return [
        f"{timings.ratio_of_medians(name, reference):.3f}×",
        f"{paired:.3f} [{low:.2f}–{high:.2f}]",
    ]


def run_config(
    config: Config, dtype: np.dtype[Any], worker: TorchWorker | None, scale: float, folder: Path
) -> tuple[Timings, str | None]:
    """Time the step, its parts, the floor and (if available) torch; print their table."""
    x, t = make_batch(dtype, config.batch)
    net = TwoLayerNet(INPUT, config.hidden, CLASSES, rng=0, dtype=dtype)
    candidates = [
        *bpcore_candidates(net, x, t),
        bare_candidate(net, x, t),
        floor_candidate(net, x, t),
    ]
    torch_name = None
    if worker is not None:
        candidates.append(torch_candidate(worker, net, x, t, folder))
        torch_name = candidates[-1].name
    rounds = max(5, round(config.rounds * scale))
    timings = interleave(candidates, rounds=rounds, sample_seconds=config.sample_seconds)
    rows = []
    for c in candidates:
        low, high = timings.quartiles(c.name)
        rows.append(
            [
                c.name,
                fmt_seconds(timings.median(c.name)),
                f"{fmt_seconds(low)} – {fmt_seconds(high)}",
                *ratio_cells(timings, c.name, FLOOR),
                *ratio_cells(timings, c.name, torch_name),
            ]
        )
    print_table(
        f"{config.label}, {dtype.name}: per-step medians of {rounds} interleaved rounds",
        [
            "candidate",
            "median",
            "quartiles",
            "÷ floor",
            "÷ floor paired [IQR]",
            "÷ torch",
            "÷ torch paired [IQR]",
        ],
        rows,
    )
    floor, step = timings.median(FLOOR), timings.median(BPCORE)
    print(
        f"budget for everything but the five products at ≤ {config.floor_target}× the floor: "
        f"{fmt_seconds((config.floor_target - 1) * floor)}; spent: step - floor = "
        f"{fmt_seconds(step - floor)}, of which SGD.update {fmt_seconds(timings.median(UPDATE))} "
        f"and the loss layer about {fmt_seconds(timings.median(LOSS))}; the bare NumPy step "
        f"spends {fmt_seconds(timings.median(BARE) - floor)} beyond the floor"
    )
    return timings, torch_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only (a smoke run)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns")
    add_threads_option(parser)
    args, _ = parser.parse_known_args()  # nox -s bench hands every benchmark the same options
    scale = 0.1 if args.quick else 1.0
    limiter = limit_blas_threads(args.threads)
    print_environment("Benchmarks 1-2: training step against the GEMM floor and PyTorch")
    worker: TorchWorker | None = None
    if args.no_torch:
        print("torch skipped (--no-torch)")
    else:
        worker = TorchWorker()
        if worker.start():
            print(worker.description)
        else:
            print(f"{worker.description}: the PyTorch columns are skipped")
            worker = None
    summary = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for config in CONFIGS:
                for dtype in (np.dtype(np.float64), np.dtype(np.float32)):
                    timings, torch_name = run_config(config, dtype, worker, scale, Path(tmp))
                    summary.append(summary_row(config, dtype, timings, torch_name))
    finally:
        if worker is not None:
            worker.close()
    print_table(
        "Summary: bpcore step ÷ GEMM floor and ÷ torch (median of per-round ratios); "
        "bare NumPy step ÷ floor, the least a NumPy step costs",
        ["size", "dtype", "÷ floor", "target", "", "bare ÷ floor", "÷ torch", "target", ""],
        summary,
    )
    print_load_after()
    del limiter


def summary_row(
    config: Config, dtype: np.dtype[Any], timings: Timings, torch_name: str | None
) -> list[str]:
    floor_ratio = timings.paired_ratio(BPCORE, FLOOR)[0]
    cells = [
        config.label,
        dtype.name,
        f"{floor_ratio:.3f}×",
        f"≤ {config.floor_target}",
        verdict(floor_ratio, config.floor_target),
        f"{timings.paired_ratio(BARE, FLOOR)[0]:.3f}×",
    ]
    if torch_name is None:
        return [*cells, "torch not importable", "", ""]
    torch_ratio = timings.paired_ratio(BPCORE, torch_name)[0]
    if dtype == np.float32:
        target = config.torch_target
        return [*cells, f"{torch_ratio:.3f}×", f"≤ {target}", verdict(torch_ratio, target)]
    return [*cells, f"{torch_ratio:.3f}×", "(no target)", ""]


if __name__ == "__main__":
    main()

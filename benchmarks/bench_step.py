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
FLOOR_WRITE = "floor + one write of W1"
FLOOR_WRITE_COPY = "floor + same write, W1 copy"
BARE = "bare NumPy step (no checks)"
BARE_CALLS = "  its calls but the products"
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


def floor_candidates(
    net: TwoLayerNet, x: npt.NDArray[np.floating[Any]], t: npt.NDArray[np.intp]
) -> list[Candidate]:
    """The five products of the step on the step's own arrays, into preallocated outputs.

    Also the products followed by one pass that writes ``W1`` (``W1 - 0``, which keeps
    every bit), and by the same pass over a private copy of ``W1`` that no product reads.
    Any SGD step writes ``W1`` after the products have read it; with two BLAS threads
    both cores read ``W1``, so the write must first take its cache lines back from the
    other core. The two rows measure that cost, which an SGD step in NumPy cannot
    avoid: how large it is depends on where the machine's two virtual cores run (on
    the machines measured it moved between about 10 and 50 µs at float64, batch 100,
    from one run to the next).
    """
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
    W1_copy = W1.copy()
    zero = dtype.type(0)

    def floor() -> None:
        np.matmul(x, W1, out=a1)
        np.matmul(h, W2, out=scores)
        np.matmul(dout, W2.T, out=dh)
        np.matmul(h.T, dout, out=dW2)
        np.matmul(x.T, dh, out=dW1)

    def floor_write() -> None:
        floor()
        np.subtract(W1, zero, out=W1)  # x - (+0.0) is x, bit for bit, -0.0 and NaN included

    def floor_write_copy() -> None:
        floor()
        np.subtract(W1_copy, zero, out=W1_copy)

    return [
        local(FLOOR, floor),
        local(FLOOR_WRITE, floor_write),
        local(FLOOR_WRITE_COPY, floor_write_copy),
    ]


def bare_candidates(
    net: TwoLayerNet, x: npt.NDArray[np.floating[Any]], t: npt.NDArray[np.intp]
) -> list[Candidate]:
    """The step's arithmetic in the fewest plain NumPy calls we know, on preallocated arrays.

    Forward ``a = x·W1 + b1``, ``h = max(a, 0)``, ``s = h·W2 + b2``; then the softmax
    cross-entropy gradient with the learning rate folded in,
    ``δ = -lr · (softmax(s) - onehot(t)) / N``, so that the products give ``-lr`` times
    each gradient: ``ΔW2 = hᵀ·δ``, ``Δb2 = Σδ``, ``dh = (δ·W2ᵀ) ⊙ [a > 0]``,
    ``ΔW1 = xᵀ·dh``, ``Δb1 = Σdh``; then ``p += Δp`` (one pass per parameter, where
    ``p -= lr·g`` takes two). No validation, no loss value, no NaN or -0.0 care: a lower
    bound for an SGD step in NumPy, not a usable one. It works on its own copy of the
    weights, so it does not move bpcore's; one step of it is checked against one of
    bpcore's before it is timed.

    Two candidates: the whole bare step, and its calls other than the five products
    alone, on the same arrays, which then hold what the previous call left in them
    (values of the same size: timing does not depend on them). The second shows what
    the calls cost with no product beside them; if that alone is more than a target
    leaves beside the floor, the target is beyond a NumPy step made of these calls.
    That holds at batch 100, where every array stays in the core's cache. At batch 1000
    the arrays outgrow it, and a call alone may find its operand colder than the same
    call right after the product that wrote it, so there the figure can overstate.
    """
    W1, b1, W2, b2 = (net.params[k].copy() for k in ("W1", "b1", "W2", "b2"))
    n, hidden, dtype = x.shape[0], W1.shape[1], W1.dtype
    h = np.empty((n, hidden), dtype)
    keep = np.empty((n, hidden), np.bool_)
    delta = np.empty((n, CLASSES), dtype)
    row_max = np.empty((n, 1), dtype)
    row_scale = np.empty((n, 1), dtype)
    dh = np.empty((n, hidden), dtype)
    params = (W1, b1, W2, b2)
    steps = tuple(np.empty_like(p) for p in params)  # -lr times each gradient
    dW1, db1, dW2, db2 = steps
    at_label = np.arange(n) * CLASSES + t  # flat indices of the targets
    scale, unscale = dtype.type(-LR / n), dtype.type(LR / n)

    def step(products: bool) -> None:
        if products:
            np.matmul(x, W1, out=h)
        np.add(h, b1, out=h)
        np.greater(h, 0, out=keep)
        np.maximum(h, 0, out=h)
        if products:
            np.matmul(h, W2, out=delta)
        np.add(delta, b2, out=delta)
        np.maximum.reduce(delta, axis=1, keepdims=True, out=row_max)
        np.subtract(delta, row_max, out=delta)
        np.exp(delta, out=delta)
        np.add.reduce(delta, axis=1, keepdims=True, out=row_scale)
        np.divide(scale, row_scale, out=row_scale)  # -lr / (N · Σ e), per row
        np.multiply(delta, row_scale, out=delta)
        delta.reshape(-1)[at_label] += unscale
        if products:
            np.matmul(h.T, delta, out=dW2)
        np.add.reduce(delta, axis=0, out=db2)
        if products:
            np.matmul(delta, W2.T, out=dh)
        np.multiply(dh, keep, out=dh)
        if products:
            np.matmul(x.T, dh, out=dW1)
        np.add.reduce(dh, axis=0, out=db1)
        for param, change in zip(params, steps, strict=True):
            np.add(param, change, out=param)

    before = [p.copy() for p in params]
    step(products=True)
    check_bare_step(net, x, t, dict(zip(("W1", "b1", "W2", "b2"), steps, strict=True)))
    for param, start in zip(params, before, strict=True):
        param[...] = start
    return [
        local(BARE, lambda: step(products=True)),
        local(BARE_CALLS, lambda: step(products=False)),
    ]


def check_bare_step(
    net: TwoLayerNet,
    x: npt.NDArray[np.floating[Any]],
    t: npt.NDArray[np.intp],
    changes: dict[str, npt.NDArray[np.floating[Any]]],
) -> None:
    """Require the bare step's parameter changes to be ``-lr`` times bpcore's gradients.

    A lower bound that computed something else would bound nothing. The two differ
    only in rounding: summation orders, and where ``lr`` and ``1/N`` are applied. Each
    gradient element is a sum of at most ``max(D, N)`` products, so each path is off by
    at most about ``max(D, N)·u`` relative to the sum of their magnitudes; ``16·max(D, N)·u``
    of the largest change (about 1e-12 in float64, 6e-4 in float32) still catches a wrong
    term, sign or scale, which moves a change by its own size.
    """
    grads = net.gradient(x, t)
    u = float(np.finfo(x.dtype).eps) / 2
    terms = max(x.shape[0], x.shape[1])
    for key, change in changes.items():
        expected = -LR * grads[key].astype(np.float64)
        error = float(np.max(np.abs(change - expected)))
        size = float(np.max(np.abs(expected)))
        if error > 16 * terms * u * size:
            raise AssertionError(
                f"the bare step's change of {key} is not -lr times bpcore's gradient: "
                f"off by {error:.3g}, against changes of up to {size:.3g}"
            )


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
    parts = (GRADIENT, UPDATE, LOSS, BARE_CALLS, FLOOR_WRITE, FLOOR_WRITE_COPY)
    if reference is None or (name in parts and reference != FLOOR):
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
        *bare_candidates(net, x, t),
        *floor_candidates(net, x, t),
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
        f"spends {fmt_seconds(timings.median(BARE) - floor)} beyond the floor, its calls but the "
        f"products alone {fmt_seconds(timings.median(BARE_CALLS))}; one write of W1 "
        f"after the products costs {fmt_seconds(timings.median(FLOOR_WRITE) - floor)}, the same "
        f"write to a copy no product reads {fmt_seconds(timings.median(FLOOR_WRITE_COPY) - floor)}"
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
        "bare NumPy step ÷ floor, the least a NumPy step costs; 1 + its calls but the "
        "products ÷ floor, the least with no cost from running the two together",
        [
            "size",
            "dtype",
            "÷ floor",
            "target",
            "",
            "bare ÷ floor",
            "1 + calls ÷ floor",
            "÷ torch",
            "target",
            "",
        ],
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
        f"{1 + timings.paired_ratio(BARE_CALLS, FLOOR)[0]:.3f}×",
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

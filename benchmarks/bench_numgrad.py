"""Benchmark 3: backpropagation against the numerical gradient, TwoLayerNet 784-50-10, batch 100.

``TwoLayerNet.numerical_gradient`` perturbs every one of the 39,760 parameters twice,
each time evaluating the loss on the whole batch: far too slow to time in full on
every run. So the numerical gradient is timed on a subset of the parameters (whole
rows of ``W1`` and ``W2`` and all of ``b1`` and ``b2``), with the very function
``numerical_gradient`` uses (``central_gradient``, perturbing the network's own
arrays in place through views), and its cost is **extrapolated** linearly to all
parameters: every element costs the same two loss evaluations. The subset's
estimates are also compared with backprop, so the timing is of a correct gradient.
Run ``python benchmarks/bench_numgrad.py [--quick]``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import numpy.typing as npt
from _harness import (
    add_threads_option,
    fmt_seconds,
    interleave,
    limit_blas_threads,
    local,
    print_environment,
    print_load_after,
    print_table,
)

from bpcore._finite_difference import central_gradient  # what numerical_gradient runs
from bpcore.networks import TwoLayerNet

INPUT, HIDDEN, CLASSES, BATCH = 784, 50, 10, 100
BACKPROP = "backprop: gradient()"
NUMERICAL = "numerical: subset"
W1_ROWS, W2_ROWS = 4, 4  # the subset: 4 rows of W1 (200), 4 of W2 (40), all of b1, b2 (60)


def subset_views(net: TwoLayerNet) -> dict[str, npt.NDArray[np.floating[Any]]]:
    """Views of the parameter elements timed: writes through them reach the layers."""
    p = net.params
    return {"W1": p["W1"][:W1_ROWS], "b1": p["b1"], "W2": p["W2"][:W2_ROWS], "b2": p["b2"]}


def run(dtype: np.dtype[Any], scale: float) -> list[str]:
    rng = np.random.default_rng(1)
    x = rng.random((BATCH, INPUT)).astype(dtype)
    t = rng.integers(0, CLASSES, size=BATCH)
    net = TwoLayerNet(INPUT, HIDDEN, CLASSES, weight_init_std=0.1, rng=0, dtype=dtype)
    views = subset_views(net)
    subset = sum(v.size for v in views.values())
    total = sum(p.size for p in net.params.values())

    def loss() -> float:
        return net.loss(x, t)

    def numerical() -> dict[str, npt.NDArray[np.float64]]:
        return {name: central_gradient(loss, view) for name, view in views.items()}

    def backprop() -> None:
        net.gradient(x, t)

    # Correctness first: the subset's estimates against backprop.
    grads = net.gradient(x, t)
    estimates = numerical()
    worst = 0.0
    for name, estimate in estimates.items():
        analytic = np.asarray(grads[name][: estimate.shape[0]], dtype=np.float64)
        scale_ = float(np.max(np.abs(analytic))) or 1.0
        worst = max(worst, float(np.max(np.abs(analytic - estimate))) / scale_)

    timings = interleave(
        [local(BACKPROP, backprop), local(NUMERICAL, numerical)],
        rounds=max(5, round(40 * scale)),
        # One backprop call per sample, as in bench_step: the median of short samples
        # is robust to the stalls other processes cause; a numerical sample is one subset.
        sample_seconds=2e-4,
    )
    per_element = timings.median(NUMERICAL) / subset
    full = per_element * total
    back = timings.median(BACKPROP)
    rows = [
        [BACKPROP, "all", fmt_seconds(back), "1", ""],
        [
            f"{NUMERICAL} (measured)",
            f"{subset} of {total}",
            fmt_seconds(timings.median(NUMERICAL)),
            f"{timings.ratio_of_medians(NUMERICAL, BACKPROP):,.0f}",
            f"{timings.paired_ratio(NUMERICAL, BACKPROP)[0]:,.0f}",
        ],
        ["numerical: per element (2 losses)", "1", fmt_seconds(per_element), "", ""],
        [
            "numerical: all parameters (EXTRAPOLATED)",
            f"{total}",
            fmt_seconds(full),
            f"{full / back:,.0f}",
            "",
        ],
    ]
    print_table(
        f"TwoLayerNet {INPUT}-{HIDDEN}-{CLASSES}, batch {BATCH}, {dtype.name}: medians of "
        f"{len(timings.samples[BACKPROP])} interleaved rounds; subset estimates agree with "
        f"backprop to {worst:.1e} (max abs error / max |grad|)",
        ["gradient", "elements", "median", "÷ backprop", "÷ backprop paired"],
        rows,
    )
    return [dtype.name, fmt_seconds(back), fmt_seconds(full), f"{full / back:,.0f}×"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only (a smoke run)")
    add_threads_option(parser)
    args, _ = parser.parse_known_args()  # nox -s bench hands every benchmark the same options
    limiter = limit_blas_threads(args.threads)
    print_environment("Benchmark 3: backprop against the numerical gradient")
    print(
        f"The numerical gradient is timed on {W1_ROWS} rows of W1, {W2_ROWS} of W2 and all of "
        "b1, b2, and extrapolated linearly (x total/subset) to every parameter."
    )
    scale = 0.2 if args.quick else 1.0
    summary = [run(np.dtype(d), scale) for d in (np.float64, np.float32)]
    print_table(
        "Summary: one backprop gradient against one full numerical gradient (extrapolated)",
        ["dtype", "backprop", "numerical (extrapolated)", "numerical ÷ backprop"],
        summary,
    )
    print_load_after()
    del limiter


if __name__ == "__main__":
    main()

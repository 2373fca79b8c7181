"""Benchmark 6: peak memory of the training step at 784-1000-10, batch 1000, and its growth.

``tracemalloc`` traces every allocation made through Python's allocators, and NumPy
reports its array buffers to it (in its own domain), so the traced memory is the
arrays plus the Python objects. Tracing starts before the batch and the network are
made, so the peak counts everything a training loop holds. The loop is the trainer's:
``grads = net.gradient(x, t); SGD.update(net.params, grads)``, where ``grads`` keeps the
previous step's gradients alive until the next call returns, as in the trainer.

* Peak: the largest traced total during a step (``reset_peak`` before each step),
  against the arrays the step needs: parameters, their gradients, and the
  activations -- the batch ``x``, the hidden activation ``h`` ``(N, H)``, the scores
  ``(N, C)`` -- and their backward counterparts ``dh`` ``(N, H)`` and ``dscores``.
* Growth: the traced total after each step must not grow once the loop is warm
  (buffers allocated on the first steps are reused after that). Python's small
  objects (a float, a dict) come and go by tens of bytes, so "no growth" is judged as
  *bounded*: the later half of the steps never exceeds the earlier half's maximum;
  the least-squares trend in bytes per step is printed beside it.

Run ``python benchmarks/bench_memory.py [--steps K]``.
"""

from __future__ import annotations

import argparse
import tracemalloc
from typing import Any

import numpy as np
from _harness import (
    add_threads_option,
    fmt_bytes,
    limit_blas_threads,
    print_environment,
    print_load_after,
    print_table,
    verdict,
)

from bpcore.networks import TwoLayerNet
from bpcore.optim import SGD

INPUT, HIDDEN, CLASSES, BATCH = 784, 1000, 10, 1000
WARM = 3  # steps after which nothing new may be allocated for good
PEAK_TARGET = 1.5


def needed_bytes(dtype: np.dtype[Any]) -> list[tuple[str, int]]:
    """The arrays a step cannot do without, by part, in bytes."""
    size = dtype.itemsize
    params = (INPUT * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES) * size
    return [
        ("parameters W1, b1, W2, b2", params),
        ("gradients dW1, db1, dW2, db2", params),
        (f"batch x ({BATCH}, {INPUT})", BATCH * INPUT * size),
        (f"activation h ({BATCH}, {HIDDEN})", BATCH * HIDDEN * size),
        (f"scores ({BATCH}, {CLASSES})", BATCH * CLASSES * size),
        (f"backward dh ({BATCH}, {HIDDEN})", BATCH * HIDDEN * size),
        (f"backward dscores ({BATCH}, {CLASSES})", BATCH * CLASSES * size),
    ]


def run(dtype: np.dtype[Any], steps: int) -> list[str]:
    tracemalloc.start()
    rng = np.random.default_rng(1)
    x = rng.random((BATCH, INPUT)).astype(dtype)
    t = rng.integers(0, CLASSES, size=BATCH)
    net = TwoLayerNet(INPUT, HIDDEN, CLASSES, rng=0, dtype=dtype)
    optimizer = SGD(lr=0.01)
    params = net.params
    # Preallocated, so that recording the figures allocates nothing inside the loop.
    currents = np.zeros(steps, dtype=np.int64)
    peaks = np.zeros(steps, dtype=np.int64)
    setup = tracemalloc.get_traced_memory()[0]
    grads = None
    for k in range(steps):
        tracemalloc.reset_peak()
        grads = net.gradient(x, t)
        optimizer.update(params, grads)
        currents[k], peaks[k] = tracemalloc.get_traced_memory()
    del grads
    tracemalloc.stop()

    parts = needed_bytes(dtype)
    needed = sum(b for _, b in parts)
    steady = [int(c) for c in currents[WARM:]]
    half = len(steady) // 2
    bounded = max(steady[half:]) <= max(steady[:half])
    trend = float(np.polyfit(np.arange(len(steady)), np.asarray(steady, dtype=np.float64), 1)[0])
    peak = int(max(peaks))
    rows = [[name, fmt_bytes(b), ""] for name, b in parts]
    rows += [
        ["needed in all", fmt_bytes(needed), "1.00×"],
        ["traced after setup (x, parameters)", fmt_bytes(setup), f"{setup / needed:.2f}×"],
        [
            f"traced after each step, steps {WARM + 1}-{steps}",
            f"{fmt_bytes(min(steady))} – {fmt_bytes(max(steady))}",
            f"{max(steady) / needed:.2f}×",
        ],
        ["peak during a step (largest of all steps)", fmt_bytes(peak), f"{peak / needed:.2f}×"],
        ["peak of the first step", fmt_bytes(int(peaks[0])), f"{peaks[0] / needed:.2f}×"],
        [
            f"after-step range, steps {WARM + 1}-{steps}",
            f"{max(steady) - min(steady):,d} B",
            "",
        ],
        [
            f"trend over steps {WARM + 1}-{steps}",
            f"{trend:+.1f} B/step",
            "bounded" if bounded else "GROWS",
        ],
    ]
    print_table(
        f"TwoLayerNet {INPUT}-{HIDDEN}-{CLASSES}, batch {BATCH}, {dtype.name}: "
        f"tracemalloc over {steps} steps",
        ["", "bytes", "÷ needed"],
        rows,
    )
    ratio = peak / needed
    return [
        dtype.name,
        fmt_bytes(needed),
        fmt_bytes(peak),
        f"{ratio:.2f}×",
        f"≤ {PEAK_TARGET}",
        verdict(ratio, PEAK_TARGET),
        f"{trend:+.1f} B/step, {'bounded' if bounded else 'GROWS'}",
        "met" if bounded else "MISSED",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps to trace")
    parser.add_argument("--quick", action="store_true", help="trace 12 steps")
    add_threads_option(parser)
    args, _ = parser.parse_known_args()  # nox -s bench hands every benchmark the same options
    steps = 12 if args.quick else max(WARM + 4, args.steps)
    limiter = limit_blas_threads(args.threads)
    print_environment("Benchmark 6: peak memory and growth of the training step")
    print(f"numpy reports array allocations to tracemalloc in domain {np.lib.tracemalloc_domain}")
    summary = [run(np.dtype(d), steps) for d in (np.float64, np.float32)]
    print_table(
        "Summary: peak traced memory of a step against the arrays it needs, and growth",
        ["dtype", "needed", "peak", "÷ needed", "target", "", "growth", ""],
        summary,
    )
    print_load_after()
    del limiter


if __name__ == "__main__":
    main()

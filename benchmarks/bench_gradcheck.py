"""Benchmark 4: the gradient checker's cost, full against directional mode, 10 to 10⁵ elements.

``bpcore.gradcheck.check_gradients`` on a Sigmoid layer (smooth, so no kink
re-examination muddies the cost) with inputs of ``n`` elements, ``mode="full"``
(four evaluations of ``φ = ⟨f(x), dout⟩`` per element: O(n²) in all) against
``mode="directional"`` (``4k`` evaluations for ``k = 8`` random directions: O(n)).

Full mode is measured while one check stays under a time budget; beyond that it is
**extrapolated** as ``t_full(n) = n · (a + 4·t_φ(n))``: full mode evaluates ``φ``
exactly four times per element (at ``±h`` and ``±2h``), ``t_φ(n)`` (copy the input,
nudge one element, forward, ``⟨·, dout⟩``) is measured at every size, and the
per-element overhead ``a`` is fitted on the largest size measured in full. The model
is checked on each measured size, predicted from the size below it.
Run ``python benchmarks/bench_gradcheck.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

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

from bpcore.gradcheck import Mode, check_gradients, unary
from bpcore.layers import Sigmoid

SIZES = (10, 100, 1_000, 10_000, 100_000)
FULL_BUDGET = 5.0  # seconds one full check may take to be measured rather than extrapolated


def make_input(n: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(n)
    return rng.uniform(-4.0, 4.0, size=(max(1, n // 10), min(n, 10)))


def check(mode: Mode, x: npt.NDArray[np.float64]) -> Callable[[], object]:
    factory = unary(lambda dtype: Sigmoid())

    def run() -> object:
        report = check_gradients(factory, {"x": x}, rng=0, mode=mode)
        if not report.passed:
            raise AssertionError(f"the check failed, so its time means nothing:\n{report}")
        return report

    return run


def phi_seconds(x: npt.NDArray[np.float64]) -> float:
    """One evaluation of φ as the checker makes it for an input: copy, nudge, forward, ⟨·,dout⟩."""
    layer = Sigmoid()
    dout = np.random.default_rng(0).standard_normal(x.shape)

    def phi() -> float:
        moved = x.copy()
        moved.flat[0] += 1e-5
        return float(np.sum(np.asarray(layer.forward(moved), dtype=np.float64) * dout))

    phi()
    reps = max(5, min(2000, int(2e6 // max(1, x.size))))
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            phi()
        samples.append((time.perf_counter() - start) / reps)
    return float(np.median(samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller budget")
    add_threads_option(parser)
    args, _ = parser.parse_known_args()  # nox -s bench hands every benchmark the same options
    limiter = limit_blas_threads(args.threads)
    budget = 1.0 if args.quick else FULL_BUDGET
    print_environment("Benchmark 4: gradient checker cost, full against directional mode")
    print(
        "Subject: Sigmoid, float64; directional mode with its default 8 directions. Full mode "
        f"is measured while one check takes under {budget:g} s and EXTRAPOLATED beyond "
        "(marked *) as t_full(n) = n·(a + 4·t_phi(n)): 4 evaluations of phi per element, "
        "t_phi measured at each size, the per-element overhead a fitted on the largest size "
        "measured in full; 'model ÷ measured' checks it on each measured size from the one below."
    )
    rows = []
    overhead: float | None = None  # a, from the largest size measured in full
    for n in SIZES:
        x = make_input(n)
        t_phi = phi_seconds(x)
        directional = check("directional", x)
        full = check("full", x)
        start = time.perf_counter()
        directional()
        single_dir = time.perf_counter() - start
        predicted = None if overhead is None else n * (overhead + 4 * t_phi)
        measure_full = predicted is None or predicted <= budget
        if measure_full:
            start = time.perf_counter()
            full()
            single_full = time.perf_counter() - start
            rounds = max(1, min(15, int(budget / max(single_full + single_dir, 1e-6))))
            if args.quick:
                rounds = min(rounds, 3)
            timings = interleave(
                [local("full", full, warm=False), local("directional", directional, warm=False)],
                rounds=rounds,
                sample_seconds=0.0,
            )
            t_full, t_dir = timings.median("full"), timings.median("directional")
            overhead = t_full / n - 4 * t_phi
            check_model = "" if predicted is None else f"{predicted / t_full:.2f}"
            full_cell = fmt_seconds(t_full)
            label = f"{rounds} rounds"
        else:
            assert predicted is not None
            timings = interleave(
                [local("directional", directional, warm=False)],
                rounds=3 if args.quick else 5,
                sample_seconds=0.0,
            )
            t_dir, t_full = timings.median("directional"), predicted
            check_model = ""
            full_cell = f"{fmt_seconds(t_full)} *"
            label = f"{len(timings.samples['directional'])} rounds"
        rows.append(
            [
                f"{n:,}",
                full_cell,
                fmt_seconds(t_dir),
                f"{t_full / t_dir:,.1f}×",
                fmt_seconds(t_phi),
                check_model,
                label,
            ]
        )
    print_table(
        "check_gradients medians by input size (* = extrapolated, see above)",
        [
            "elements",
            "full",
            "directional",
            "full ÷ directional",
            "t_phi",
            "model ÷ measured",
            "samples",
        ],
        rows,
    )
    print_load_after()
    del limiter


if __name__ == "__main__":
    main()

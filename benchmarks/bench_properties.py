"""Benchmark 5: wall time of the property suite on the ``ci`` Hypothesis profile.

Runs ``python -m pytest tests/properties`` with ``HYPOTHESIS_PROFILE=ci`` as a
subprocess (as ``nox -s tests`` does, minus the unit tests), ``--runs`` times, and
reports the median wall time, the slowest tests of the last run and pytest's
summary. The subprocess gets the environment CI has: if ``nox -s bench`` unset
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` for the other benchmarks, they are put
back for this one. Run ``python benchmarks/bench_properties.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import (
    fmt_seconds,
    print_environment,
    print_load_after,
    print_table,
    removed_openblas_settings,
)

ROOT = Path(__file__).resolve().parent.parent


def run_suite() -> tuple[float, str, int]:
    """One run: wall seconds, pytest's output, exit code."""
    env = dict(os.environ)
    env.update(removed_openblas_settings())  # CI runs the suite with the machine's settings
    env["HYPOTHESIS_PROFILE"] = "ci"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/properties",
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=8",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.stdout + done.stderr, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="how many times to run the suite")
    parser.add_argument("--quick", action="store_true", help="run the suite once")
    args, _ = parser.parse_known_args()  # nox -s bench hands every benchmark the same options
    print_environment("Benchmark 5: property suite wall time, HYPOTHESIS_PROFILE=ci")
    restored = removed_openblas_settings()
    if restored:
        print(f"the suite runs with the machine's settings restored: {restored}")
    runs = []
    times = []
    output = ""
    for i in range(1 if args.quick else max(1, args.runs)):
        seconds, output, code = run_suite()
        times.append(seconds)
        summary = next(
            (line for line in reversed(output.splitlines()) if re.search(r"passed|failed", line)),
            "(no summary)",
        )
        runs.append([f"run {i + 1}", fmt_seconds(seconds), f"exit {code}", summary.strip("= ")])
    rows = [*runs, ["median", fmt_seconds(statistics.median(times)), "", ""]]
    print_table(
        "pytest tests/properties (subprocess, wall time including start-up)",
        ["run", "wall", "result", "pytest summary"],
        rows,
    )
    slowest = [line for line in output.splitlines() if re.match(r"\d+\.\d+s (call|setup) ", line)]
    if slowest:
        print("\nslowest tests of the last run (pytest --durations):")
        print("\n".join(slowest))
    print_load_after()


if __name__ == "__main__":
    main()

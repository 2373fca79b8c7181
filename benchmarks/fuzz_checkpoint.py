"""Every single-byte flip and every truncation of a real trainer checkpoint, loaded.

``python benchmarks/fuzz_checkpoint.py [--hidden 16]``

Trains one epoch of ``bpcore train``'s digits network (Adam, so the file holds moments
too), then loads every variant: each byte XORed with 0xFF, and the file cut at every
length. Prints how many variants loaded exactly what was saved, how many were refused
with a CheckpointError, and how many did anything else (which must be 0), with the
slowest load and the largest peak of memory any load allocated (tracemalloc, which
sees NumPy's allocations).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bpcore._arrays import FloatArray
from bpcore.checkpoint import Checkpoint, load_checkpoint
from bpcore.cli import main
from bpcore.errors import CheckpointError


def _same(a: Checkpoint, b: Checkpoint) -> bool:
    def arrays(x: dict[str, FloatArray], y: dict[str, FloatArray]) -> bool:
        return x.keys() == y.keys() and all(
            x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]) for k in x
        )

    return arrays(a.params, b.params) and arrays(a.state, b.state) and a.meta == b.meta


def _load(target: Path, data: bytes, original: Checkpoint) -> tuple[str, float, int]:
    """Load ``data`` from ``target``: the outcome, the seconds and the most memory the
    load allocated at once, over what was allocated before it."""
    target.write_bytes(data)
    held = tracemalloc.get_traced_memory()[0]  # what the fuzz itself holds: not the load's
    tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        loaded = load_checkpoint(target)
    except CheckpointError:
        outcome = "CheckpointError"
    except Exception:  # counted: the figure that must stay 0
        outcome = "anything else"
    else:
        outcome = "exact load" if _same(loaded, original) else "anything else"
    seconds = time.perf_counter() - start
    return outcome, seconds, tracemalloc.get_traced_memory()[1] - held


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="16", help="hidden sizes of the network trained")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ck.npz"
        run = ["train", "--hidden", args.hidden, "--epochs", "1", "--quiet"]
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                code = main([*run, "--checkpoint", str(path)])
            finally:
                sys.stdout = stdout
        if code != 0:
            print(f"training the checkpoint failed with exit code {code}")
            return 1
        good = path.read_bytes()
        original = load_checkpoint(path)
        variants: list[bytes] = []
        for i in range(len(good)):
            flipped = bytearray(good)
            flipped[i] ^= 0xFF
            variants.append(bytes(flipped))
        variants.extend(good[:n] for n in range(len(good)))
        outcomes = {"exact load": 0, "CheckpointError": 0, "anything else": 0}
        target = Path(folder) / "variant.npz"
        costs: list[tuple[float, int, int]] = []  # (seconds, peak bytes, variant)
        tracemalloc.start()
        for index, data in enumerate(variants):
            outcome, seconds, peak = _load(target, data, original)
            outcomes[outcome] += 1
            costs.append((seconds, peak, index))
        # The first loads also pay for lazy imports (the .npy header parser's tokenizer):
        # the worst cases are measured again, warm, and the largest of those reported.
        worst = sorted(costs, reverse=True)[:20] + sorted(costs, key=lambda c: -c[1])[:20]
        again = [_load(target, variants[index], original)[1:] for _, _, index in worst]
        tracemalloc.stop()
        slowest = max(seconds for seconds, _ in again)
        peak = max(peak for _, peak in again)
    print(f"checkpoint: {len(good):,} bytes (bpcore train --hidden {args.hidden}, adam)")
    print(f"variants: {len(variants):,} ({len(good):,} byte flips, {len(good):,} truncations)")
    for name, count in outcomes.items():
        print(f"  {name:16s} {count:>7,}")
    print(f"slowest load: {slowest * 1e3:.2f} ms (tracemalloc on; the 40 worst, warm)")
    print(f"largest peak allocation of one load: {peak / 1024:.1f} KiB")
    return 0 if outcomes["anything else"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main_())

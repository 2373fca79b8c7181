"""How small a backward error the gradient checker catches, in float64.

A wrong backward of known size is built by scaling an Affine layer's ``dx`` by
``1 + δ``. For each ``δ`` in ``1e-6 … 1e-12`` the checker runs on ``--trials`` random
Affine cases (``W`` of shape (4, 3), ``x`` of shape (3, 4), entries uniform in ±3) and
the table gives how many it flags as a mismatch. This is a measurement of the gate's
resolution, not a benchmark of speed. Run ``python benchmarks/gate_sensitivity.py``.
"""

from __future__ import annotations

import argparse

import numpy as np

from bpcore import Affine
from bpcore._arrays import FloatArray, FloatDType
from bpcore.gradcheck import check_gradients, unary


class ScaledAffine:
    """Affine whose input gradient is scaled by ``1 + delta``."""

    def __init__(self, W: FloatArray, b: FloatArray, delta: float) -> None:
        self.inner = Affine(W, b)
        self.W, self.b = W, b
        self.delta = delta
        self.dW: FloatArray | None = None
        self.db: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        return self.inner.forward(x)

    def backward(self, dout: FloatArray) -> FloatArray:
        dx = self.inner.backward(dout)
        self.dW, self.db = self.inner.dW, self.inner.db
        return dx * (1 + self.delta)


def caught(delta: float, trials: int, seed: int) -> int:
    """How many of ``trials`` random cases the checker flags for a relative error ``delta``."""
    rng = np.random.default_rng(seed)
    flagged = 0
    for trial in range(trials):
        W = rng.uniform(-3, 3, (4, 3))
        b = rng.uniform(-3, 3, 3)
        x = rng.uniform(-3, 3, (3, 4))

        def make(dtype: FloatDType, W: FloatArray = W, b: FloatArray = b) -> ScaledAffine:
            return ScaledAffine(W.astype(dtype), b.astype(dtype), delta)

        report = check_gradients(unary(make, params=("W", "b")), {"x": x}, rng=trial)
        flagged += not report.passed
    return flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'relative error δ':>18}  caught (of {args.trials})")
    for k in range(6, 13):
        delta = 10.0**-k
        print(f"{delta:>18.0e}  {caught(delta, args.trials, args.seed)}")


if __name__ == "__main__":
    main()

"""The sigmoid layer."""

from __future__ import annotations

from typing import final

from bpcore._arrays import FloatArray
from bpcore.functional import sigmoid_pair
from bpcore.layers._elementwise import ElementwiseActivation


@final
class Sigmoid(ElementwiseActivation):
    """``y = 1 / (1 + exp(-x))`` element-wise; ``dx = dout · y · (1 - y)``.

    The forward is stable for every finite input, and ``1 - y`` is computed as ``σ(-x)``,
    not by subtraction, so the gradient keeps its relative accuracy in both tails (the
    book's ``1 - y`` is 0 for ``x ≳ 37`` in float64).

    Attributes:
        out: the layer's private copy of the last forward output ``y``, or ``None``.
    """

    @staticmethod
    def value_and_slope(x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(σ(x), σ(x)·σ(-x))``."""
        y, complement = sigmoid_pair(x)
        return y, y * complement

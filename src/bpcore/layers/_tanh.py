"""The tanh layer."""

from __future__ import annotations

from typing import final

from bpcore._arrays import FloatArray
from bpcore.functional import tanh_pair
from bpcore.layers._elementwise import ElementwiseActivation


@final
class Tanh(ElementwiseActivation):
    """``y = tanh(x)`` element-wise; ``dx = dout · (1 - y²)``.

    ``1 - y²`` is computed as ``sech²(x)`` from ``exp(-2|x|)``, not by subtraction, so the
    gradient keeps its relative accuracy in both tails (``1 - y²`` rounds to 0 for
    ``|x| ≳ 19`` in float64).

    Attributes:
        out: the layer's private copy of the last forward output ``y``, or ``None``.
    """

    @staticmethod
    def value_and_slope(x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(tanh(x), sech²(x))``."""
        return tanh_pair(x)

"""The book's SimpleConvNet: convolution, ReLU, max pooling, Affine, ReLU, Affine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._args import non_negative_int, positive_int
from bpcore._arrays import FloatArray, as_dtype, resolve_float_dtype
from bpcore._rng import resolve_rng
from bpcore.errors import ArgumentError, ShapeError
from bpcore.layers import Affine, Convolution, Pooling, Relu
from bpcore.networks._init import (
    WeightInit,
    check_size,
    check_std,
    check_weight_init,
    weight_std,
)
from bpcore.networks._sequential import SequentialNet, StackLayer

CONV_DEFAULTS: Mapping[str, int] = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
"""The book's ``conv_param``: 30 filters of 5×5, no padding, stride 1."""


def _image_dims(value: object, *, where: str) -> tuple[int, int, int]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 3:
        c, h, w = (check_size(d, where=where, name="input_dim") for d in value)
        return c, h, w
    raise ArgumentError(
        f"{where}: expected `input_dim` (C, H, W) of 3 positive ints, got {value!r}."
    )


def _conv_param(value: object, *, where: str) -> dict[str, int]:
    if not isinstance(value, Mapping) or not set(value) <= set(CONV_DEFAULTS):
        raise ArgumentError(
            f"{where}: expected `conv_param` a dict with keys among {sorted(CONV_DEFAULTS)}, "
            f"got {value!r}."
        )
    merged = {**CONV_DEFAULTS, **value}
    return {
        "filter_num": positive_int(merged["filter_num"], where=where, name="filter_num"),
        "filter_size": positive_int(merged["filter_size"], where=where, name="filter_size"),
        "pad": non_negative_int(merged["pad"], where=where, name="pad"),
        "stride": positive_int(merged["stride"], where=where, name="stride"),
    }


@final
class SimpleConvNet(SequentialNet):
    """``Convolution, ReLU, 2×2 max pooling, Affine, ReLU, Affine``, the book's ``SimpleConvNet``.

    With ``input_dim = (C, H, W)`` and ``conv_param`` (``filter_num`` ``FN``,
    ``filter_size`` ``F``, ``pad`` ``P``, ``stride`` ``S``; the book's 30, 5, 0, 1 for
    keys left out): ``W1`` is ``(FN, C, F, F)``, ``b1`` ``(FN,)``; the convolution gives
    ``(N, FN, OH, OW)`` with ``OH = (H + 2P - F) // S + 1`` (``OW`` alike), the pooling
    (2×2, stride 2) ``(N, FN, OH // 2, OW // 2)``; ``W2`` is ``(FN·(OH//2)·(OW//2),
    hidden_size)`` and ``W3`` ``(hidden_size, output_size)``, with biases ``b2``, ``b3``.
    The loss is softmax cross-entropy plus ``(λ/2)·(‖W1‖² + ‖W2‖² + ‖W3‖²)``
    (``λ = weight_decay_lambda``, 0 as in the book).

    ``x`` is ``(N, C, H, W)``, or ``(N, C·H·W)`` (flattened images, as the loaders give
    them), and ``t`` integer labels ``(N,)`` or one-hot/soft rows ``(N, output_size)``.
    Weights start as ``std · z``, ``z ~ N(0, 1)`` from ``rng``, with ``weight_init_std`` a
    float (the book's 0.01) or ``"relu"``/``"he"`` (``sqrt(2/n)``), ``"sigmoid"``/
    ``"xavier"`` (``sqrt(1/n)``) for each layer's fan-in ``n`` (``C·F·F`` for the
    convolution); biases start at zero.

    Attributes:
        params: ``W1, b1, W2, b2, W3, b3``, shared by reference with the layers.
        layers: ``Conv1``, ``Relu1``, ``Pool1``, ``Affine1``, ``Relu2``, ``Affine2``.
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` on the scores.

    Raises:
        ArgumentError: ``input_dim`` is not three positive ints, ``conv_param`` has other
            keys or values out of range, the filter does not fit the padded image or
            leaves nothing to pool, or a size, ``weight_init_std`` or
            ``weight_decay_lambda`` is out of range.
        ArgumentTypeError: ``rng`` is not a Generator, an int or ``None``.
        DtypeError: ``dtype`` is not float32 or float64.
    """

    input_dim: tuple[int, int, int]

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: Mapping[str, int] = CONV_DEFAULTS,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: WeightInit = 0.01,
        *,
        weight_decay_lambda: float = 0.0,
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        where = "SimpleConvNet"
        c, h, w = _image_dims(input_dim, where=where)
        conv = _conv_param(conv_param, where=where)
        hidden = check_size(hidden_size, where=where, name="hidden_size")
        classes = check_size(output_size, where=where, name="output_size")
        init = check_weight_init(weight_init_std, where=where)
        decay = check_std(weight_decay_lambda, where=where, name="weight_decay_lambda")
        net_dtype = resolve_float_dtype(dtype, where=where)
        generator = resolve_rng(rng, where=where)
        fn, f, pad, stride = conv["filter_num"], conv["filter_size"], conv["pad"], conv["stride"]
        oh, ow = (h + 2 * pad - f) // stride + 1, (w + 2 * pad - f) // stride + 1
        if oh < 2 or ow < 2:  # a filter larger than the padded image leaves oh or ow <= 0
            raise ArgumentError(
                f"{where}: expected a {f}x{f} filter to leave at least 2x2 to pool in a "
                f"{h}x{w} image padded by {pad} at stride {stride}, got "
                f"{max(oh, 0)}x{max(ow, 0)}."
            )
        pooled = fn * (oh // 2) * (ow // 2)
        shapes = {"W1": (fn, c, f, f), "W2": (pooled, hidden), "W3": (hidden, classes)}
        fan_in = {"W1": c * f * f, "W2": pooled, "W3": hidden}
        params: dict[str, FloatArray] = {}
        for i, key in enumerate(shapes, 1):
            std = weight_std(init, fan_in[key])
            params[key] = (std * generator.standard_normal(shapes[key])).astype(net_dtype)
            params[f"b{i}"] = np.zeros(shapes[key][0 if i == 1 else 1], dtype=net_dtype)
        layers: dict[str, StackLayer] = {
            "Conv1": Convolution(params["W1"], params["b1"], stride=stride, pad=pad),
            "Relu1": Relu(),
            "Pool1": Pooling(2, 2, stride=2),
            "Affine1": Affine(params["W2"], params["b2"]),
            "Relu2": Relu(),
            "Affine2": Affine(params["W3"], params["b3"]),
        }
        owners = {
            "W1": ("Conv1", "W"),
            "b1": ("Conv1", "b"),
            "W2": ("Affine1", "W"),
            "b2": ("Affine1", "b"),
            "W3": ("Affine2", "W"),
            "b3": ("Affine2", "b"),
        }
        self.input_dim = (c, h, w)
        super().__init__(
            layers, owners, net_dtype, decayed=("W1", "W2", "W3"), weight_decay_lambda=decay
        )

    def _cast(self, x: npt.ArrayLike, *, method: str) -> FloatArray:
        where = f"SimpleConvNet.{method}"
        images = as_dtype(x, self._dtype, where=where, name="x")
        c, h, w = self.input_dim
        if images.ndim == 2 and images.shape[1] == c * h * w:
            return images.reshape(images.shape[0], c, h, w)
        if images.ndim != 4 or images.shape[1:] != self.input_dim:
            raise ShapeError(
                f"{where}: expected x of shape (N, {c}, {h}, {w}) or (N, {c * h * w}), "
                f"got shape {images.shape}."
            )
        return images

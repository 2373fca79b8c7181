"""The book's two-layer network: Affine, ReLU, Affine, softmax with cross-entropy."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import resolve_float_dtype
from bpcore._rng import resolve_rng
from bpcore.layers import Relu
from bpcore.networks._init import check_size, check_std, init_params
from bpcore.networks._sequential import SequentialNet, dense_stack


@final
class TwoLayerNet(SequentialNet):
    """``scores = relu(x · W1 + b1) · W2 + b2``, trained on softmax cross-entropy.

    The API of the book's ``two_layer_net.py`` (chapter 5). Shapes: ``W1`` is
    ``(input_size, hidden_size)``, ``b1`` ``(hidden_size,)``, ``W2``
    ``(hidden_size, output_size)``, ``b2`` ``(output_size,)``; ``x`` is
    ``(N, input_size)`` (or ``(N, d1, ..., dk)`` with ``d1·…·dk = input_size``) and
    the scores are ``(N, output_size)``. ``t`` is integer labels ``(N,)`` or
    one-hot/soft rows ``(N, output_size)``.

    Weights start as ``weight_init_std · z``, ``z ~ N(0, 1)`` drawn from ``rng`` (a
    :class:`numpy.random.Generator`, an int seed, or ``None`` for fresh entropy;
    NumPy's global random state is never used); biases start at zero. ``dtype``
    (float64 or float32) is the dtype of the parameters, the activations and the
    gradients; inputs are cast to it.

    Attributes:
        params: ``{"W1", "b1", "W2", "b2"}``, shared by reference with the Affine
            layers: update them in place (``params[k] -= lr * grads[k]``).
        layers: ``Affine1``, ``Relu1``, ``Affine2``, in forward order.
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` on the scores.

    Raises:
        ValueError: a size is not a positive int, or ``weight_init_std`` is not a
            finite non-negative float.
        TypeError: ``rng`` is not a Generator, an int or ``None``.
        bpcore.DtypeError: ``dtype`` is not float32 or float64.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        where = "TwoLayerNet"
        sizes = [
            check_size(input_size, where=where, name="input_size"),
            check_size(hidden_size, where=where, name="hidden_size"),
            check_size(output_size, where=where, name="output_size"),
        ]
        std = check_std(weight_init_std, where=where, name="weight_init_std")
        net_dtype = resolve_float_dtype(dtype, where=where)
        generator = resolve_rng(rng, where=where)
        params = init_params(sizes, [std, std], generator, net_dtype)
        layers, owners, _ = dense_stack(params, Relu)
        super().__init__(layers, owners, net_dtype)

"""A fully connected network of any depth, with ReLU or sigmoid and He/Xavier initialisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import resolve_float_dtype
from bpcore._rng import resolve_rng
from bpcore.errors import ArgumentError
from bpcore.layers import Relu, Sigmoid
from bpcore.networks._init import (
    WeightInit,
    check_size,
    check_sizes,
    check_weight_init,
    init_params,
    weight_std,
)
from bpcore.networks._sequential import SequentialNet

_ACTIVATIONS: dict[str, type[Relu] | type[Sigmoid]] = {"relu": Relu, "sigmoid": Sigmoid}


@final
class MultiLayerNet(SequentialNet):
    """``L = len(hidden_size_list) + 1`` Affine layers with ReLU or sigmoid between them.

    With ``sizes = [input_size, *hidden_size_list, output_size]``, ``Wᵢ`` has shape
    ``(sizes[i-1], sizes[i])`` and ``bᵢ`` shape ``(sizes[i],)`` for ``i = 1..L``, and

    ``hᵢ = act(hᵢ₋₁ · Wᵢ + bᵢ)`` for ``i < L`` (``h₀ = x``), ``scores = h_{L-1} · W_L + b_L``,

    trained on softmax cross-entropy. ``x`` is ``(N, input_size)`` (or
    ``(N, d1, ..., dk)``, flattened per sample), the scores are ``(N, output_size)``
    and ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, output_size)``.
    An empty ``hidden_size_list`` gives softmax regression.

    Weights start as ``stdᵢ · z``, ``z ~ N(0, 1)`` drawn from ``rng`` (a Generator,
    an int seed or ``None``; never NumPy's global state), with ``stdᵢ`` from
    ``weight_init_std`` and the fan-in ``n = sizes[i-1]``: ``"relu"`` or ``"he"`` gives
    ``sqrt(2/n)``, ``"sigmoid"`` or ``"xavier"`` ``sqrt(1/n)``, a float is used as is
    (the book's names and options). Biases start at zero. ``dtype`` (float64 or
    float32) is the dtype of the parameters, activations and gradients.

    Attributes:
        params: ``{"W1", "b1", ..., "W{L}", "b{L}"}``, shared by reference with the
            Affine layers: update them in place (``params[k] -= lr * grads[k]``).
        layers: ``Affine1``, ``Relu1`` (or ``Sigmoid1``), ..., ``Affine{L}``, in forward order.
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` on the scores.

    Raises:
        ValueError: a size is not a positive int, or ``activation`` or
            ``weight_init_std`` is not one of the options.
        TypeError: ``rng`` is not a Generator, an int or ``None``.
        bpcore.DtypeError: ``dtype`` is not float32 or float64.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        *,
        activation: Literal["relu", "sigmoid"] = "relu",
        weight_init_std: WeightInit = "relu",
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        where = "MultiLayerNet"
        sizes = [
            check_size(input_size, where=where, name="input_size"),
            *check_sizes(hidden_size_list, where=where, name="hidden_size_list"),
            check_size(output_size, where=where, name="output_size"),
        ]
        # Callers without a type checker can pass anything, unhashable values included.
        choice: object = activation
        layer_class = _ACTIVATIONS.get(choice) if isinstance(choice, str) else None
        if layer_class is None:
            raise ArgumentError(
                f"{where}: expected `activation` to be one of 'relu', 'sigmoid', "
                f"got {activation!r}."
            )
        init = check_weight_init(weight_init_std, where=where)
        net_dtype = resolve_float_dtype(dtype, where=where)
        generator = resolve_rng(rng, where=where)
        stds = [weight_std(init, fan_in) for fan_in in sizes[:-1]]
        params = init_params(sizes, stds, generator, net_dtype)
        super().__init__(params, layer_class, net_dtype)

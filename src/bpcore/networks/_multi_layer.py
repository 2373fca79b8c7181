"""Fully connected networks of any depth: the book's MultiLayerNet and MultiLayerNetExtend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, final

import numpy as np
import numpy.typing as npt

from bpcore._args import unit_interval
from bpcore._arrays import FloatArray, FloatDType, resolve_float_dtype
from bpcore._rng import resolve_rng
from bpcore.errors import ArgumentError
from bpcore.layers import Dropout, Relu, Sigmoid
from bpcore.networks._init import (
    WeightInit,
    check_size,
    check_sizes,
    check_std,
    check_weight_init,
    init_params,
    weight_std,
)
from bpcore.networks._sequential import SequentialNet, dense_stack

_ACTIVATIONS: dict[str, type[Relu] | type[Sigmoid]] = {"relu": Relu, "sigmoid": Sigmoid}


@dataclass(frozen=True)
class _Dense:
    """What both dense networks build from their arguments."""

    params: dict[str, FloatArray]
    activation: type[Relu] | type[Sigmoid]
    dtype: FloatDType
    rng: np.random.Generator
    decay: float
    hidden: int


def _dense(
    where: str,
    input_size: object,
    hidden_size_list: object,
    output_size: object,
    activation: object,
    weight_init_std: object,
    weight_decay_lambda: object,
    rng: object,
    dtype: object,
) -> _Dense:
    sizes = [
        check_size(input_size, where=where, name="input_size"),
        *check_sizes(hidden_size_list, where=where, name="hidden_size_list"),
        check_size(output_size, where=where, name="output_size"),
    ]
    # Callers without a type checker can pass anything, unhashable values included.
    layer_class = _ACTIVATIONS.get(activation) if isinstance(activation, str) else None
    if layer_class is None:
        raise ArgumentError(
            f"{where}: expected `activation` to be one of 'relu', 'sigmoid', got {activation!r}."
        )
    init = check_weight_init(weight_init_std, where=where)
    decay = check_std(weight_decay_lambda, where=where, name="weight_decay_lambda")
    net_dtype = resolve_float_dtype(dtype, where=where)
    generator = resolve_rng(rng, where=where)
    stds = [weight_std(init, fan_in) for fan_in in sizes[:-1]]
    params = init_params(sizes, stds, generator, net_dtype)
    return _Dense(params, layer_class, net_dtype, generator, decay, len(sizes) - 2)


@final
class MultiLayerNet(SequentialNet):
    """``L`` Affine layers with ReLU or sigmoid between them, the book's ``MultiLayerNet``.

    ``hᵢ = act(hᵢ₋₁ · Wᵢ + bᵢ)`` for ``i < L`` (``h₀ = x``), ``scores = h_{L-1} · W_L + b_L``.
    An empty ``hidden_size_list`` gives softmax regression.

    With ``sizes = [input_size, *hidden_size_list, output_size]``, ``Wᵢ`` has shape
    ``(sizes[i-1], sizes[i])`` and ``bᵢ`` shape ``(sizes[i],)`` for ``i = 1..L``,
    ``L = len(hidden_size_list) + 1``. ``x`` is ``(N, input_size)`` (or
    ``(N, d1, ..., dk)``, flattened per sample), the scores are ``(N, output_size)`` and
    ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, output_size)``; the loss
    is softmax cross-entropy plus ``(λ/2) Σᵢ ‖Wᵢ‖²`` (``λ = weight_decay_lambda``), whose
    gradient adds ``λ·Wᵢ`` to each ``dWᵢ``.

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
        ArgumentError: a size is not a positive int, ``activation`` or
            ``weight_init_std`` is not one of the options, or ``weight_decay_lambda`` is
            not a finite float >= 0.
        ArgumentTypeError: ``rng`` is not a Generator, an int or ``None``.
        DtypeError: ``dtype`` is not float32 or float64.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        *,
        activation: Literal["relu", "sigmoid"] = "relu",
        weight_init_std: WeightInit = "relu",
        weight_decay_lambda: float = 0.0,
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        dense = _dense(
            "MultiLayerNet",
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            rng,
            dtype,
        )
        layers, owners, _ = dense_stack(dense.params, dense.activation)
        super().__init__(
            layers,
            owners,
            dense.dtype,
            decayed=[key for key in dense.params if key.startswith("W")],
            weight_decay_lambda=dense.decay,
        )


@final
class MultiLayerNetExtend(SequentialNet):
    """The book's ``MultiLayerNetExtend``: :class:`MultiLayerNet` with batch normalization, dropout.

    Each hidden layer is ``Affine``, then with ``use_batchnorm`` a
    :class:`~bpcore.BatchNormalization` (``γᵢ`` starting at ones, ``βᵢ`` at zeros),
    the activation, then with ``use_dropout`` a :class:`~bpcore.Dropout` of
    ``dropout_ratio`` (the book spells it ``dropout_ration``; both names are accepted),
    whose masks come from the network's ``rng``. Both run in training mode in
    :meth:`gradient` and in inference mode in :meth:`predict`, :meth:`loss` and
    :meth:`accuracy` unless ``train_flg=True`` is passed. The sizes, the
    initialisation, the weight decay and the dtype are those of :class:`MultiLayerNet`.

    Attributes:
        params: ``W1, b1, ..., W{L}, b{L}`` and, with batch normalization, ``gamma1,
            beta1, ..., gamma{L-1}, beta{L-1}``, shared by reference with the layers.
        layers: ``Affine1``, ``BatchNorm1``, ``Relu1``, ``Dropout1``, ..., ``Affine{L}``.
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` on the scores.

    Raises:
        ArgumentError: as :class:`MultiLayerNet`, or ``dropout_ratio`` is not in
            ``[0, 1)``, or both spellings of it are given.
        ArgumentTypeError: ``rng`` is not a Generator, an int or ``None``.
        DtypeError: ``dtype`` is not float32 or float64.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: Literal["relu", "sigmoid"] = "relu",
        weight_init_std: WeightInit = "relu",
        weight_decay_lambda: float = 0.0,
        use_dropout: bool = False,
        dropout_ratio: float = 0.5,
        use_batchnorm: bool = False,
        *,
        dropout_ration: float | None = None,
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        where = "MultiLayerNetExtend"
        if dropout_ration is not None:
            if dropout_ratio != 0.5:
                raise ArgumentError(
                    f"{where}: expected one of `dropout_ratio` and the book's `dropout_ration`, "
                    f"got both ({dropout_ratio!r} and {dropout_ration!r})."
                )
            dropout_ratio = dropout_ration
        ratio = unit_interval(dropout_ratio, where=where, name="dropout_ratio")
        dense = _dense(
            where,
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            rng,
            dtype,
        )
        params = dict(dense.params)
        if use_batchnorm:
            for i in range(1, dense.hidden + 1):
                width = params[f"b{i}"].shape[0]
                params[f"gamma{i}"] = np.ones(width, dtype=dense.dtype)
                params[f"beta{i}"] = np.zeros(width, dtype=dense.dtype)
        generator = dense.rng
        layers, owners, modes = dense_stack(
            params,
            dense.activation,
            batch_norm=bool(use_batchnorm),
            dropout=(lambda: Dropout(ratio, rng=generator)) if use_dropout else None,
        )
        super().__init__(
            layers,
            owners,
            dense.dtype,
            modes=modes,
            decayed=[key for key in params if key.startswith("W")],
            weight_decay_lambda=dense.decay,
        )

"""The stack of layers that every bpcore network is: Affine, activation, ..., Affine, loss."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, as_dtype, require_forwarded
from bpcore._targets import validate_targets
from bpcore.errors import ShapeError
from bpcore.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from bpcore.networks._numgrad import central_difference

Layer: TypeAlias = Affine | Relu | Sigmoid
"""A layer of a network's stack (the loss layer is kept apart, as in the book)."""


class SequentialNet:
    """A fully connected classifier: ``L`` Affine layers with an activation ``act`` between them.

    With ``h₀ = x`` of shape ``(N, D)`` (or ``(N, d1, ..., dk)``, flattened per sample):

    * ``aᵢ = hᵢ₋₁ · Wᵢ + bᵢ`` for ``i = 1..L`` and ``hᵢ = act(aᵢ)`` for ``i < L``;
    * the scores are ``s = a_L`` of shape ``(N, C)``;
    * the loss is ``loss = -(1/N) Σₙ Σ_c t[n, c] · log softmax(s)[n, c]``.

    Attributes:
        params: ``{"W1": W1, "b1": b1, ..., "W{L}": ..., "b{L}": ...}``, the *same*
            arrays the Affine layers hold, so updating them in place
            (``params[k] -= lr * grads[k]``) trains the network. Rebinding a key
            (``params[k] = new_array``) detaches it from the layers.
        layers: the layers in forward order: ``Affine1``, ``Relu1`` (or ``Sigmoid1``), ...,
            ``Affine{L}``.
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` applied to the scores.
    """

    params: dict[str, FloatArray]
    layers: dict[str, Layer]
    last_layer: SoftmaxWithLoss

    _affines: tuple[Affine, ...]
    _dtype: FloatDType

    def __init__(
        self,
        params: dict[str, FloatArray],
        activation: type[Relu] | type[Sigmoid],
        dtype: FloatDType,
    ) -> None:
        """Build the stack around ``params`` (``W1, b1, ..., W{L}, b{L}``), by reference."""
        self.params = params
        self._dtype = dtype
        count = len(params) // 2
        self._affines = tuple(Affine(params[f"W{i}"], params[f"b{i}"]) for i in range(1, count + 1))
        self.layers = {}
        for i, affine in enumerate(self._affines, 1):
            self.layers[f"Affine{i}"] = affine
            if i < count:
                self.layers[f"{activation.__name__}{i}"] = activation()
        self.last_layer = SoftmaxWithLoss()

    def _cast(self, x: npt.ArrayLike, *, method: str) -> FloatArray:
        # Casting at the entrance keeps a float32 network float32 end to end: the
        # layers keep their input's dtype, so a float64 batch would otherwise
        # promote every activation after the first Affine.
        return as_dtype(x, self._dtype, where=f"{type(self).__name__}.{method}", name="x")

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        """Return the scores ``s`` of shape ``(N, C)``, in the network's dtype, for ``x``.

        The scores are logits: apply :func:`~bpcore.softmax` for probabilities.
        """
        out = self._cast(x, method="predict")
        for layer in self.layers.values():
            out = layer.forward(out)
        return out

    def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the mean cross-entropy ``loss`` of ``softmax(predict(x))`` against ``t``.

        ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, C)``.
        """
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the fraction of samples whose highest score is the target class.

        ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, C)``, whose
        ``argmax`` is the target class. Ties go to the lowest class index.
        """
        where = f"{type(self).__name__}.accuracy"
        scores = self.predict(x)
        n, c = scores.shape
        if n == 0:
            raise ShapeError(f"{where}: expected at least one sample, got an empty batch.")
        targets = validate_targets(t, n=n, c=c, one_sample=False, dtype=scores.dtype, where=where)
        predicted = np.argmax(scores, axis=1)
        if targets.dist is None:
            hits = predicted == targets.labels
        else:
            hits = predicted == np.argmax(targets.dist, axis=1)
        return float(np.count_nonzero(hits) / n)

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        """Return ``∂loss/∂p`` for every parameter ``p`` by backpropagation, keyed like ``params``.

        With ``δ_L = (softmax(s) - t) / N`` (``(N, C)``) and, going down,
        ``δᵢ₋₁ = (δᵢ · Wᵢᵀ) ⊙ act'(aᵢ₋₁)``:
        ``dWᵢ = hᵢ₋₁ᵀ · δᵢ`` of shape ``Wᵢ.shape`` and ``dbᵢ = Σₙ δᵢ[n]`` of shape ``bᵢ.shape``.

        The gradients have the network's dtype. ``x`` and ``t`` are not modified.
        The Affine layers' ``dW`` and ``db`` are left equal to the returned arrays.
        """
        self.loss(x, t)
        dout = self.last_layer.backward(1.0)
        stack = list(self.layers.values())
        for layer in reversed(stack[1:]):
            dout = layer.backward(dout)
        # The input gradient δ₁ · W1ᵀ is an (N, D) product that training never reads,
        # so the first Affine gets only its parameter gradients, computed as its
        # backward computes them. Everything here is in the network's dtype (x is cast
        # in predict), so no cast is needed to match Affine.backward bit for bit.
        first = self._affines[0]
        x2 = require_forwarded(first.x, where=f"{type(self).__name__}.gradient")
        first.dW = np.asarray(x2.T @ dout, dtype=first.W.dtype)
        first.db = np.asarray(np.sum(dout, axis=0), dtype=first.b.dtype)
        grads: dict[str, FloatArray] = {}
        for i, affine in enumerate(self._affines, 1):
            layer_grads = affine.grads
            grads[f"W{i}"] = layer_grads["W"]
            grads[f"b{i}"] = layer_grads["b"]
        return grads

    def numerical_gradient(
        self, x: npt.ArrayLike, t: npt.ArrayLike
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Return ``∂loss/∂p`` estimated by central differences, keyed like ``params``.

        Each element ``p`` of each parameter is set in place to ``p ± h`` with
        ``h = cbrt(eps) · max(1, |p|)`` (``eps`` of the network's dtype) and the
        estimate is ``(loss(p⁺) - loss(p⁻)) / (p⁺ - p⁻)`` with ``p± = p ± h`` as stored in
        that dtype (``2h`` apart in exact arithmetic); every element is restored bit
        for bit afterwards, also when the loss raises. Two forward passes per parameter
        element: meant for checking :meth:`gradient` on small networks.

        The loss is computed in the network's dtype; the estimates are float64.
        """
        x_net = self._cast(x, method="numerical_gradient")

        def loss() -> float:
            return self.loss(x_net, t)

        return {key: central_difference(loss, param) for key, param in self.params.items()}

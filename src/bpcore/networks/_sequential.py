"""The stack of layers that every bpcore network is: Affine, activation, ..., Affine, loss."""

from __future__ import annotations

import math
from typing import TypeAlias, TypeVar, cast

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, as_dtype, require_forwarded
from bpcore._finite_difference import central_gradient
from bpcore._targets import validate_targets
from bpcore.errors import ShapeError
from bpcore.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss

_Scalar = TypeVar("_Scalar", bound=np.generic)

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
    _activations: tuple[Relu | Sigmoid, ...]
    _stack: tuple[Layer, ...]
    _loss_layer: SoftmaxWithLoss
    _dtype: FloatDType
    _buffers: dict[str, npt.NDArray[np.generic]]
    _grad_keys: tuple[tuple[str, str], ...]
    _delta_names: tuple[str, ...]
    _one: FloatArray

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
        self._activations = tuple(activation() for _ in range(count - 1))
        self.layers = {}
        for i, affine in enumerate(self._affines, 1):
            self.layers[f"Affine{i}"] = affine
            if i < count:
                self.layers[f"{activation.__name__}{i}"] = self._activations[i - 1]
        self.last_layer = SoftmaxWithLoss()
        self._stack = tuple(self.layers.values())
        self._loss_layer = self.last_layer
        self._buffers = {}
        self._grad_keys = tuple((f"W{i}", f"b{i}") for i in range(1, count + 1))
        self._delta_names = tuple(f"delta{i}" for i in range(count))
        self._one = np.asarray(1.0, dtype=dtype)  # the loss's dout in gradient()

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

        The gradients have the network's dtype and are new arrays on every call (a later
        call never writes to the arrays an earlier one returned). ``x`` and ``t`` are not
        modified. The Affine layers' ``dW`` and ``db`` are left equal to (the same objects
        as) the returned arrays, and every layer is left in the state its own
        ``forward``/``backward`` would leave: the results, layer states included, are bit
        for bit those of running the layers one by one.

        The input gradient ``δ₁ · W1ᵀ``, an ``(N, D)`` product that training never reads, is
        not computed. While the network's layers are the ones it was built with, the
        pass runs fused: validation once at the entrance, bias and ReLU applied in place to
        each new pre-activation (which becomes the next layer's input, as with the layers),
        and the scores and backward deltas written into buffers the network owns and reuses
        from call to call (never returned, never kept by a layer). Otherwise it calls each
        layer's ``forward`` and ``backward``.
        """
        xa = self._cast(x, method="gradient")
        d_in: int = self._affines[0].W.shape[0]
        if (
            xa.ndim >= 2
            and xa.shape[0] > 0
            and math.prod(xa.shape[1:]) == d_in
            and self._stock_layers()
        ):
            return self._fused_gradient(xa.reshape(xa.shape[0], d_in), xa.shape, t)
        # Unusual inputs (which raise the layers' own errors) or a modified stack.
        return self._layerwise_gradient(xa, t)

    def _stock_layers(self) -> bool:
        """Whether the layers are still the ones built in ``__init__``, in the network's dtype."""
        # Tuple equality compares identity first: these are the very same layer objects.
        if self.last_layer is not self._loss_layer or tuple(self.layers.values()) != self._stack:
            return False
        dtype = self._dtype
        for affine in self._affines:
            if affine.W.dtype != dtype or affine.b.dtype != dtype:
                return False
        return True

    def _buffer(
        self, name: str, shape: tuple[int, int], dtype: np.dtype[_Scalar]
    ) -> npt.NDArray[_Scalar]:
        """The network's own scratch array ``name``, reused across calls of the same shape."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = np.empty(shape, dtype=dtype)
            self._buffers[name] = buffer
        return cast("npt.NDArray[_Scalar]", buffer)

    def _fused_gradient(
        self, x2: FloatArray, x_shape: tuple[int, ...], t: npt.ArrayLike
    ) -> dict[str, FloatArray]:
        """:meth:`gradient` for ``x2`` of shape ``(N, D)``, N >= 1, as one pass over the stack.

        Each step is the operation the layer's own ``forward``/``backward`` performs, on
        the same operands in the same order, so the results are bit-identical; what is
        saved is the validation of every layer call, the dx of the first Affine, and the
        temporaries: each new ``aᵢ`` gets its bias and ReLU in place, and the scores and the
        deltas ``δᵢ · Wᵢᵀ`` go into network-owned buffers, the deltas masked in place.
        """
        n = x2.shape[0]
        affines = self._affines
        activations = self._activations
        loss_layer = self.last_layer
        classes: int = affines[-1].W.shape[1]
        targets = validate_targets(
            t, n=n, c=classes, one_sample=False, dtype=self._dtype, where="SoftmaxWithLoss.forward"
        )
        # Let go of the previous call's arrays before this call allocates its own.
        for affine in affines:
            affine.x = affine.dW = affine.db = None
        for activation in activations:
            if isinstance(activation, Relu):
                activation.mask = None

        # Forward: hᵢ = act(hᵢ₋₁ · Wᵢ + bᵢ), each a new array the next Affine keeps as its x.
        inputs = [x2]
        h = x2
        shape = x_shape
        for affine, activation in zip(affines, activations, strict=False):
            affine.x, affine.original_x_shape = h, shape
            a: FloatArray = h @ affine.W
            a += affine.b
            if isinstance(activation, Relu):
                h = activation._forward_owned(a)
            else:
                h = activation.forward(a)
            inputs.append(h)
            shape = h.shape
        last = affines[-1]
        last.x, last.original_x_shape = h, shape
        scores = np.matmul(h, last.W, out=self._buffer("scores", (n, classes), self._dtype))
        scores += last.b
        loss_layer._forward_validated(scores, targets, scores.shape)

        # Backward: δ_L from the loss, then dWᵢ, dbᵢ and δᵢ₋₁ = act'(δᵢ · Wᵢᵀ) going down.
        delta = loss_layer._delta(self._one)
        grads: dict[str, FloatArray] = {}
        for i in range(len(affines) - 1, -1, -1):
            affine, h_in = affines[i], inputs[i]
            w_key, b_key = self._grad_keys[i]
            grads[w_key] = affine.dW = h_in.T @ delta
            grads[b_key] = affine.db = np.add.reduce(delta, axis=0)  # np.sum, minus its wrapper
            if i == 0:
                break
            d_h = np.matmul(
                delta, affine.W.T, out=self._buffer(self._delta_names[i], h_in.shape, self._dtype)
            )
            activation = activations[i - 1]
            if isinstance(activation, Relu):
                delta = activation._backward_owned(d_h)
            else:
                delta = activation.backward(d_h)
        # In the order of params, as the layer-by-layer path returns them.
        return {key: grads[key] for pair in self._grad_keys for key in pair}

    def _collect_grads(self) -> dict[str, FloatArray]:
        grads: dict[str, FloatArray] = {}
        for (w_key, b_key), affine in zip(self._grad_keys, self._affines, strict=True):
            layer_grads = affine.grads
            grads[w_key] = layer_grads["W"]
            grads[b_key] = layer_grads["b"]
        return grads

    def _layerwise_gradient(self, x: FloatArray, t: npt.ArrayLike) -> dict[str, FloatArray]:
        """:meth:`gradient` by calling every layer's ``forward`` and ``backward`` in turn."""
        self.loss(x, t)
        dout = self.last_layer.backward(1.0)
        stack = list(self.layers.values())
        for layer in reversed(stack[1:]):
            dout = layer.backward(dout)
        # The input gradient δ₁ · W1ᵀ is an (N, D) product that training never reads,
        # so the first Affine gets only its parameter gradients, computed as its
        # backward computes them, cast to its parameters' dtypes as it casts them: this
        # path also serves stacks whose layers were given parameters of another dtype.
        first = self._affines[0]
        x2 = require_forwarded(first.x, where=f"{type(self).__name__}.gradient")
        first.dW = np.asarray(x2.T @ dout, dtype=first.W.dtype)
        first.db = np.asarray(np.sum(dout, axis=0), dtype=first.b.dtype)
        return self._collect_grads()

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

        return {key: central_gradient(loss, param) for key, param in self.params.items()}

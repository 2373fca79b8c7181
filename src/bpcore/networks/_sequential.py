"""The stack of layers every bpcore network is: Affine, activation, ..., Affine, loss."""

from __future__ import annotations

import abc
from typing import Protocol, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, as_dtype, require_forwarded
from bpcore._finite_difference import central_gradient
from bpcore._targets import validate_targets
from bpcore.errors import BpcoreError, ShapeError
from bpcore.layers import Affine, SoftmaxWithLoss


@final
class _CalledAs:
    """Name the network method a layer's error came through: ``"<Net>.<method>: "`` before
    the layer's own message, which keeps the layer that found the problem. (A class, not
    a generator: it runs on every training step.)"""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, BpcoreError) and not str(exc).startswith(f"{self.where}:"):
            raise type(exc)(f"{self.where}: {exc}") from exc


class Layer(Protocol):
    """A layer of a network's stack: ``forward(x)`` and ``backward(dout)`` on arrays."""

    def forward(self, x: FloatArray, /) -> FloatArray:
        """The layer's output for ``x``."""
        ...

    def backward(self, dout: FloatArray, /) -> FloatArray:
        """The gradient with respect to the last forward's ``x``."""
        ...


class SequentialNet(abc.ABC):
    """A fully connected classifier: ``L`` Affine layers with an activation ``act`` between them.

    With ``h₀ = x`` of shape ``(N, D)`` (or ``(N, d1, ..., dk)``, flattened per sample),
    ``aᵢ = hᵢ₋₁ · Wᵢ + bᵢ`` for ``i = 1..L``, ``hᵢ = act(aᵢ)`` for ``i < L``, scores
    ``s = a_L`` of shape ``(N, C)`` and ``loss = -(1/N) Σₙ Σ_c t[n, c] · log softmax(s)[n, c]``.

    Attributes:
        params: ``{"W1": W1, "b1": b1, ..., "W{L}": ..., "b{L}": ...}``, the *same* arrays
            the Affine layers hold: updating them in place (``params[k] -= lr * grads[k]``)
            trains the network; rebinding a key detaches it from the layers.
        layers: the layers in forward order: ``Affine1``, ``Relu1`` (or another
            activation), ..., ``Affine{L}``.
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` applied to the scores; also
            readable as ``lastLayer``, the book's name.
    """

    params: dict[str, FloatArray]
    layers: dict[str, Layer]
    last_layer: SoftmaxWithLoss
    _affines: tuple[Affine, ...]
    _dtype: FloatDType

    @abc.abstractmethod
    def __init__(
        self, params: dict[str, FloatArray], activation: type[Layer], dtype: FloatDType
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

    @property
    def lastLayer(self) -> SoftmaxWithLoss:  # noqa: N802  # the book's name, kept for its code
        """:attr:`last_layer`, by the name the book's networks give it."""
        return self.last_layer

    def _cast(self, x: npt.ArrayLike, *, method: str) -> FloatArray:
        # The layers keep their input's dtype: casting once at the entrance keeps a float32
        # network float32 end to end.
        return as_dtype(x, self._dtype, where=f"{type(self).__name__}.{method}", name="x")

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        """Return the scores (logits) of shape ``(N, C)`` for ``x``, in the network's dtype."""
        with _CalledAs(f"{type(self).__name__}.predict"):
            return self._scores(self._cast(x, method="predict"))

    def _scores(self, x: FloatArray) -> FloatArray:
        out = x
        for layer in self.layers.values():
            out = layer.forward(out)
        return out

    def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the mean cross-entropy of ``softmax(predict(x))`` against ``t``.

        ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, C)``.
        """
        with _CalledAs(f"{type(self).__name__}.loss"):
            return self.last_layer.forward(self._scores(self._cast(x, method="loss")), t)

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the fraction of samples whose highest score is the target class.

        ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, C)``, whose ``argmax`` is
        the target class. Ties go to the lowest class index.

        Raises:
            ShapeError: the batch is empty.
        """
        where = f"{type(self).__name__}.accuracy"
        with _CalledAs(where):
            scores = self._scores(self._cast(x, method="accuracy"))
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

        The book's loop: ``loss(x, t)``, then ``backward`` through ``last_layer`` and the
        layers in reverse. With ``δ_L = (softmax(s) - t) / N`` and
        ``δᵢ₋₁ = (δᵢ · Wᵢᵀ) ⊙ act'(aᵢ₋₁)``: ``dWᵢ = hᵢ₋₁ᵀ · δᵢ`` and ``dbᵢ = Σₙ δᵢ[n]``.
        The first layer skips its input gradient (``input_grad=False``).

        The gradients have the network's dtype, are new arrays on every call and are the
        Affine layers' ``dW`` and ``db``. ``x`` and ``t`` are not modified.
        """
        with _CalledAs(f"{type(self).__name__}.gradient"):
            self.last_layer.forward(self._scores(self._cast(x, method="gradient")), t)
        dout = self.last_layer.backward(np.asarray(1.0, dtype=self._dtype))
        first, *rest = self.layers.values()
        for layer in reversed(rest):
            dout = layer.backward(dout)
        if isinstance(first, Affine):
            first.backward(dout, input_grad=False)
        else:
            first.backward(dout)
        grads: dict[str, FloatArray] = {}
        for i, affine in enumerate(self._affines, 1):
            grads[f"W{i}"] = require_forwarded(affine.dW, where="gradient")
            grads[f"b{i}"] = require_forwarded(affine.db, where="gradient")
        return grads

    def numerical_gradient(
        self, x: npt.ArrayLike, t: npt.ArrayLike
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Return ``∂loss/∂p`` estimated by central differences, keyed like ``params``.

        Each parameter element ``p`` is set in place to ``p ± h``, ``h = cbrt(eps)·max(1, |p|)``
        in the network's dtype, and restored bit for bit afterwards, also when the loss
        raises. Two forward passes per element: for checking :meth:`gradient` on small
        networks. The loss is computed in the network's dtype; the estimates are float64.
        """
        x_net = self._cast(x, method="numerical_gradient")

        def loss() -> float:
            return self.loss(x_net, t)

        return {key: central_gradient(loss, param) for key, param in self.params.items()}

"""The stack of layers every bpcore network is: its layers in order, then softmax cross-entropy."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, cast, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, as_dtype
from bpcore._finite_difference import central_gradient
from bpcore._targets import validate_targets
from bpcore.errors import BpcoreError, ShapeError
from bpcore.layers import Affine, Convolution, SoftmaxWithLoss


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


class ModeLayer(Protocol):
    """A layer that behaves differently in training: ``forward(x, train_flg)``."""

    def forward(self, x: FloatArray, /, train_flg: bool = True) -> FloatArray:
        """The layer's output for ``x`` in training (``train_flg``) or inference mode."""
        ...

    def backward(self, dout: FloatArray, /) -> FloatArray:
        """The gradient with respect to the last forward's ``x``."""
        ...


class ParameterLayer(Protocol):
    """A layer with parameters: ``params`` and, after a backward, ``grads`` by name."""

    @property
    def params(self) -> dict[str, FloatArray]:
        """The parameter arrays by the layer's own names."""
        ...

    @property
    def grads(self) -> dict[str, FloatArray]:
        """The last backward's gradients, keyed like :attr:`params`."""
        ...


StackLayer = Layer | ModeLayer


class SequentialNet(abc.ABC):
    """A classifier whose layers run in order, then softmax cross-entropy; the book's interface.

    With ``h₀ = x`` and the layers ``f₁, …, f_L``, the scores are ``s = f_L(…f₁(x))`` of
    shape ``(N, C)`` and the loss is ``-(1/N) Σₙ Σ_c t[n, c] · log softmax(s)[n, c]``
    ``+ (λ/2) Σ_W ‖W‖²`` over the weights the network decays (the book's weight decay;
    ``λ = weight_decay_lambda``, 0 by default). Layers such as BatchNormalization and
    Dropout run in training mode in :meth:`gradient` and, by default, in inference mode
    in :meth:`predict`, :meth:`loss` and :meth:`accuracy`.

    Attributes:
        params: every parameter by the network's name (``W1``, ``b1``, ``gamma1``, …),
            the *same* arrays the layers hold: updating them in place
            (``params[k] -= lr * grads[k]``) trains the network; rebinding a key detaches
            it from the layers.
        layers: the layers in forward order, by name (``Affine1``, ``Relu1``, …).
        last_layer: the :class:`~bpcore.SoftmaxWithLoss` applied to the scores; also
            readable as ``lastLayer``, the book's name. Its ``loss`` is the cross-entropy
            alone, without the weight decay.
        weight_decay_lambda: ``λ``.
    """

    params: dict[str, FloatArray]
    layers: dict[str, StackLayer]
    last_layer: SoftmaxWithLoss
    weight_decay_lambda: float
    _owners: tuple[tuple[str, ParameterLayer, str], ...]
    _mode_layers: dict[str, ModeLayer]
    _decayed: tuple[str, ...]
    _dtype: FloatDType

    @abc.abstractmethod
    def __init__(
        self,
        layers: dict[str, StackLayer],
        owners: Mapping[str, tuple[str, str]],
        dtype: FloatDType,
        *,
        modes: Iterable[str] = (),
        decayed: Iterable[str] = (),
        weight_decay_lambda: float = 0.0,
    ) -> None:
        """Run ``layers`` in order; ``owners[key] = (layer name, the layer's parameter name)``
        for every network parameter; ``modes`` names the layers that take ``train_flg``;
        ``decayed`` the parameters the weight decay adds."""
        self.layers = layers
        # The builders declare which layers have parameters and which take a mode.
        self._owners = tuple(
            (key, cast(ParameterLayer, layers[name]), attribute)
            for key, (name, attribute) in owners.items()
        )
        self.params = {key: layer.params[attribute] for key, layer, attribute in self._owners}
        self._mode_layers = {name: cast(ModeLayer, layers[name]) for name in modes}
        self._decayed = tuple(decayed)
        self.weight_decay_lambda = weight_decay_lambda
        self._dtype = dtype
        self.last_layer = SoftmaxWithLoss()

    @property
    def lastLayer(self) -> SoftmaxWithLoss:  # noqa: N802  # the book's name, kept for its code
        """:attr:`last_layer`, by the name the book's networks give it."""
        return self.last_layer

    def _cast(self, x: npt.ArrayLike, *, method: str) -> FloatArray:
        # The layers keep their input's dtype: casting once at the entrance keeps a float32
        # network float32 end to end.
        return as_dtype(x, self._dtype, where=f"{type(self).__name__}.{method}", name="x")

    def predict(self, x: npt.ArrayLike, train_flg: bool = False) -> FloatArray:
        """Return the scores (logits) of shape ``(N, C)`` for ``x``, in the network's dtype."""
        with _CalledAs(f"{type(self).__name__}.predict"):
            return self._scores(self._cast(x, method="predict"), train_flg)

    def _scores(self, x: FloatArray, train_flg: bool) -> FloatArray:
        out = x
        for name, layer in self.layers.items():
            mode_layer = self._mode_layers.get(name)
            out = layer.forward(out) if mode_layer is None else mode_layer.forward(out, train_flg)
        return out

    def _decay(self) -> float:
        """``(λ/2) Σ_W ‖W‖²`` over the decayed weights, in float64."""
        if not self.weight_decay_lambda:
            return 0.0
        squares = sum(float(np.vdot(self.params[k], self.params[k])) for k in self._decayed)
        return 0.5 * self.weight_decay_lambda * squares

    def loss(self, x: npt.ArrayLike, t: npt.ArrayLike, train_flg: bool = False) -> float:
        """Return the mean cross-entropy of ``softmax(predict(x))`` against ``t``, plus the
        weight decay.

        ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, C)``.
        """
        with _CalledAs(f"{type(self).__name__}.loss"):
            scores = self._scores(self._cast(x, method="loss"), train_flg)
            return self.last_layer.forward(scores, t) + self._decay()

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the fraction of samples whose highest score is the target class.

        ``t`` is integer labels ``(N,)`` or one-hot/soft rows ``(N, C)``, whose ``argmax``
        (in the network's dtype) is the target class. Ties go to the lowest class index.
        Layers run in inference mode.

        Raises:
            ShapeError: the batch is empty.
        """
        where = f"{type(self).__name__}.accuracy"
        with _CalledAs(where):
            scores = self._scores(self._cast(x, method="accuracy"), False)
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

        The book's loop: the loss in training mode, then ``backward`` through
        ``last_layer`` and the layers in reverse; each decayed weight ``W`` gets ``λ·W``
        added. A first Affine or Convolution skips its input gradient
        (``input_grad=False``).

        The gradients have the network's dtype and are new arrays on every call. ``x``
        and ``t`` are not modified.
        """
        with _CalledAs(f"{type(self).__name__}.gradient"):
            self.last_layer.forward(self._scores(self._cast(x, method="gradient"), True), t)
        dout = self.last_layer.backward(np.asarray(1.0, dtype=self._dtype))
        first, *rest = self.layers.values()
        for layer in reversed(rest):
            dout = layer.backward(dout)
        if isinstance(first, Affine | Convolution):
            first.backward(dout, input_grad=False)
        else:
            first.backward(dout)
        grads = {key: layer.grads[attribute] for key, layer, attribute in self._owners}
        if self.weight_decay_lambda:
            for key in self._decayed:
                grads[key] = (
                    grads[key] + self._dtype.type(self.weight_decay_lambda) * self.params[key]
                )
        return grads

    def numerical_gradient(
        self, x: npt.ArrayLike, t: npt.ArrayLike
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Return ``∂loss/∂p`` estimated by central differences, keyed like ``params``.

        Each parameter element ``p`` is set in place to ``p ± h``, ``h = cbrt(eps)·max(1, |p|)``
        in the network's dtype, and restored bit for bit afterwards, also when the loss
        raises. Two forward passes per element, in training mode (the function
        :meth:`gradient` differentiates; with dropout each pass draws its own mask): for
        checking :meth:`gradient` on small networks. The loss is computed in the
        network's dtype; the estimates are float64.
        """
        x_net = self._cast(x, method="numerical_gradient")

        def loss() -> float:
            return self.loss(x_net, t, train_flg=True)

        return {key: central_gradient(loss, param) for key, param in self.params.items()}


def dense_stack(
    params: Mapping[str, FloatArray],
    activation: type[Layer],
    *,
    batch_norm: bool = False,
    dropout: Callable[[], ModeLayer] | None = None,
) -> tuple[dict[str, StackLayer], dict[str, tuple[str, str]], list[str]]:
    """The layers ``Affine1, [BatchNorm1,] Activation1, [Dropout1,] …, Affine{L}`` around
    ``params`` (``W1, b1, …`` and, with ``batch_norm``, ``gamma1, beta1, …``), their
    owners and the names of the layers that take ``train_flg``."""
    from bpcore.layers import BatchNormalization  # noqa: PLC0415  # keeps this module's imports light

    count = sum(1 for key in params if key.startswith("W"))
    layers: dict[str, StackLayer] = {}
    owners: dict[str, tuple[str, str]] = {}
    modes: list[str] = []
    for i in range(1, count + 1):
        layers[f"Affine{i}"] = Affine(params[f"W{i}"], params[f"b{i}"])
        owners[f"W{i}"], owners[f"b{i}"] = (f"Affine{i}", "W"), (f"Affine{i}", "b")
        if i == count:
            break
        if batch_norm:
            layers[f"BatchNorm{i}"] = BatchNormalization(params[f"gamma{i}"], params[f"beta{i}"])
            owners[f"gamma{i}"] = (f"BatchNorm{i}", "gamma")
            owners[f"beta{i}"] = (f"BatchNorm{i}", "beta")
            modes.append(f"BatchNorm{i}")
        layers[f"{activation.__name__}{i}"] = activation()
        if dropout is not None:
            layers[f"Dropout{i}"] = dropout()
            modes.append(f"Dropout{i}")
    return layers, owners, modes

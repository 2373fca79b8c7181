"""How the checker sees a layer: a differentiable function of named float arrays.

A :class:`Differentiable` wraps one layer instance. ``forward`` evaluates it at
given input values with the parameters it currently holds; ``backward`` returns
the gradient of ``⟨forward(...), dout⟩`` with respect to every input and every
parameter, by name. The adapters below turn the book's three layer shapes --
unary (``Relu``), binary (``MulLayer``) and losses (``SoftmaxWithLoss``) -- into
this form, and read parameters the book's way: attribute ``W`` with gradient ``dW``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeAlias, cast, final, runtime_checkable

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType
from bpcore.errors import ArgumentTypeError, NotForwardedError


class Differentiable(Protocol):
    """A layer viewed as ``y = f(inputs; parameters)`` with a hand-written backward."""

    @property
    def name(self) -> str:
        """A short name for reports, usually the layer's class name."""
        ...

    @property
    def parameters(self) -> Mapping[str, FloatArray]:
        """The live parameter arrays by name; the checker perturbs them in place."""
        ...

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        """Evaluate at ``inputs`` (by name) and return the output (0-d for a loss)."""
        ...

    def backward(self, dout: FloatArray) -> dict[str, FloatArray]:
        """Gradients of ``⟨output, dout⟩`` for each input and parameter, after ``forward``."""
        ...


Factory: TypeAlias = Callable[[FloatDType], Differentiable]
"""Builds the subject in a given dtype, with the same parameter values every call."""


@runtime_checkable
class HasConstants(Protocol):
    """A :class:`Differentiable` that also computes with fixed float data, such as soft targets.

    The checker does not differentiate in these constants, but moves them by one ulp
    (in place, restoring them) to measure their share in the rounding of the gradient:
    that is how ``s·y - t`` with ``y ≈ t`` gets its due in float32 (see
    docs/gradcheck-error-model.md). A subject without fixed float data need not
    implement this.
    """

    @property
    def constants(self) -> Mapping[str, FloatArray]:
        """The subject's own fixed float arrays by name (live: moved in place)."""
        ...


def _own_constant(t: npt.ArrayLike) -> npt.NDArray[np.generic]:
    """A private copy of fixed data: the checker may move the twin's copy in place."""
    return np.array(t, copy=True)


def _float_constants(t: npt.NDArray[np.generic]) -> dict[str, FloatArray]:
    """``{"t": t}`` for float targets (which the layer computes with), else ``{}``."""
    if t.dtype.kind == "f":
        return {"t": cast("FloatArray", t)}
    return {}


class UnaryLayer(Protocol):
    """``forward(x) -> y`` and ``backward(dout) -> dx``, like ``Relu`` or ``Affine``."""

    def forward(self, x: FloatArray, /) -> FloatArray: ...
    def backward(self, dout: FloatArray, /) -> FloatArray: ...


class BinaryLayer(Protocol):
    """``forward(x, y) -> out`` and ``backward(dout) -> (dx, dy)``, like ``MulLayer``."""

    def forward(self, x: FloatArray, y: FloatArray, /) -> FloatArray: ...
    def backward(self, dout: FloatArray, /) -> tuple[FloatArray, FloatArray]: ...


class LossLayer(Protocol):
    """``forward(x, t) -> float`` and ``backward(dout) -> dx``, like ``SoftmaxWithLoss``."""

    def forward(self, x: FloatArray, t: npt.NDArray[np.generic], /) -> float: ...
    def backward(self, dout: FloatArray, /) -> FloatArray: ...


class _LayerSubject(abc.ABC):
    """What the three layer adapters share: a name, and parameters read the book's way
    (attribute ``W``, gradient ``dW`` after backward)."""

    def __init__(self, layer: object, params: Sequence[str]) -> None:
        self._layer = layer
        self._param_names = tuple(params)

    @property
    def name(self) -> str:
        """The layer's class name."""
        return type(self._layer).__name__

    @property
    def parameters(self) -> Mapping[str, FloatArray]:
        """The live parameter arrays, by attribute name.

        Raises:
            ArgumentTypeError: a parameter attribute is not a NumPy array.
        """
        return {n: self._attribute(n, "parameter") for n in self._param_names}

    @abc.abstractmethod
    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        """Evaluate the layer at ``inputs``."""

    @abc.abstractmethod
    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        """Run the layer's backward and return the gradient of each input."""

    def backward(self, dout: FloatArray) -> dict[str, FloatArray]:
        """The input gradients, then ``d<name>`` for each parameter ``name``.

        Raises:
            ArgumentTypeError: a gradient attribute ``d<name>`` is not a NumPy array.
        """
        grads = self._input_gradients(dout)
        grads.update({n: self._attribute("d" + n, "gradient") for n in self._param_names})
        return grads

    def _attribute(self, attribute: str, role: str) -> FloatArray:
        value = getattr(self._layer, attribute, None)
        if not isinstance(value, np.ndarray):
            raise ArgumentTypeError(
                f"{self.name}: expected {role} attribute `{attribute}` to be a numpy array, "
                f"got {type(value).__name__}."
            )
        return value


@final
class UnarySubject(_LayerSubject):
    """A :class:`UnaryLayer` with input ``x``."""

    def __init__(self, layer: UnaryLayer, *, params: Sequence[str] = ()) -> None:
        super().__init__(layer, params)
        self.layer = layer

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        return np.asarray(self.layer.forward(inputs["x"]))

    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        return {"x": np.asarray(self.layer.backward(dout))}


@final
class BinarySubject(_LayerSubject):
    """A :class:`BinaryLayer` with inputs ``x`` and ``y``."""

    def __init__(self, layer: BinaryLayer, *, params: Sequence[str] = ()) -> None:
        super().__init__(layer, params)
        self.layer = layer

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        return np.asarray(self.layer.forward(inputs["x"], inputs["y"]))

    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        dx, dy = self.layer.backward(dout)
        return {"x": np.asarray(dx), "y": np.asarray(dy)}


@final
class LossSubject(_LayerSubject):
    """A :class:`LossLayer` with input ``x``; the targets ``t`` are fixed, not differentiated."""

    def __init__(self, layer: LossLayer, t: npt.ArrayLike, *, params: Sequence[str] = ()) -> None:
        super().__init__(layer, params)
        self.layer = layer
        self.t = _own_constant(t)

    @property
    def constants(self) -> Mapping[str, FloatArray]:
        """Float targets, which the loss computes with: ``{"t": t}``; labels: ``{}``."""
        return _float_constants(self.t)

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        return np.asarray(self.layer.forward(inputs["x"], self.t), dtype=inputs["x"].dtype)

    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        return {"x": np.asarray(self.layer.backward(dout))}


class Network(Protocol):
    """The book's network interface: ``params``, ``loss(x, t)`` and ``gradient(x, t)``."""

    @property
    def params(self) -> Mapping[str, FloatArray]: ...
    def loss(self, x: FloatArray, t: npt.NDArray[np.generic], /) -> float: ...
    def gradient(
        self, x: FloatArray, t: npt.NDArray[np.generic], /
    ) -> Mapping[str, FloatArray]: ...


@final
class NetworkSubject:
    """A :class:`Network` seen as ``loss(x; params)``; only the parameters are differentiated.

    The network's ``gradient`` is the gradient of the loss itself, so backward scales it
    by the scalar ``dout``. The input ``x`` gets no gradient: networks skip it on purpose.
    """

    def __init__(self, network: Network, t: npt.ArrayLike) -> None:
        self.network = network
        self.t = _own_constant(t)
        self._x: FloatArray | None = None

    @property
    def constants(self) -> Mapping[str, FloatArray]:
        """Float targets, which the loss computes with: ``{"t": t}``; labels: ``{}``."""
        return _float_constants(self.t)

    @property
    def name(self) -> str:
        return type(self.network).__name__

    @property
    def parameters(self) -> Mapping[str, FloatArray]:
        return self.network.params

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        self._x = inputs["x"]
        dtype = next(iter(self.network.params.values())).dtype
        return np.asarray(self.network.loss(self._x, self.t), dtype=dtype)

    def backward(self, dout: FloatArray) -> dict[str, FloatArray]:
        """The network's ``gradient`` at the last forward's ``x``, times the scalar ``dout``.

        Raises:
            NotForwardedError: ``forward`` has not run yet.
        """
        if self._x is None:
            raise NotForwardedError(f"{self.name}: backward() was called before forward().")
        scale = np.asarray(dout)
        return {
            k: np.asarray(g * scale, dtype=g.dtype)
            for k, g in self.network.gradient(self._x, self.t).items()
        }


def unary(make: Callable[[FloatDType], UnaryLayer], *, params: Sequence[str] = ()) -> Factory:
    """Turn ``make(dtype) -> layer`` for a unary layer into a checker :data:`Factory`.

    ``params`` names the parameter attributes (``("W", "b")`` for the book's Affine);
    backward must set ``d<name>`` for each.
    """
    return lambda dtype: UnarySubject(make(dtype), params=params)


def binary(make: Callable[[FloatDType], BinaryLayer], *, params: Sequence[str] = ()) -> Factory:
    """Turn ``make(dtype) -> layer`` for a binary layer into a checker :data:`Factory`."""
    return lambda dtype: BinarySubject(make(dtype), params=params)


def loss(
    make: Callable[[FloatDType], LossLayer], t: npt.ArrayLike, *, params: Sequence[str] = ()
) -> Factory:
    """Turn ``make(dtype) -> layer`` for a loss layer, with fixed targets ``t``, into a Factory.

    ``t`` is passed as given to the subject and to its float64 twin: to check a float32
    layer against soft targets, pass them already rounded to float32, so that both
    evaluate the same loss.
    """
    return lambda dtype: LossSubject(make(dtype), t, params=params)


def network(make: Callable[[FloatDType], Network], t: npt.ArrayLike) -> Factory:
    """Turn ``make(dtype) -> network``, with fixed targets ``t``, into a checker Factory."""
    return lambda dtype: NetworkSubject(make(dtype), t)

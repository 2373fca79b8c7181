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
from typing import Any, Protocol, TypeAlias, TypeVar, cast, final, runtime_checkable

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType
from bpcore.errors import ArgumentError, ArgumentTypeError, NotForwardedError


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


_T = TypeVar("_T")

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


@runtime_checkable
class ReportsAlterations(Protocol):
    """A subject that hands its layer private copies of fixed data (targets) and can say
    which ones the layer modified."""

    def altered(self) -> tuple[str, ...]:
        """What the layer modified in place since the subject was made, as report lines."""
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
    """``forward(x) -> y`` and ``backward(dout) -> dx``, like ``Relu`` or ``Affine``.

    The arguments are typed ``NDArray[Any]`` so that a layer annotated for one dtype
    (``NDArray[np.float64]``) fits: the checker hands it arrays of the dtype it builds it
    in.
    """

    def forward(self, x: npt.NDArray[Any], /) -> FloatArray: ...
    def backward(self, dout: npt.NDArray[Any], /) -> FloatArray: ...


class BinaryLayer(Protocol):
    """``forward(x, y) -> out`` and ``backward(dout) -> (dx, dy)``, like ``MulLayer``;
    arguments typed as in :class:`UnaryLayer`."""

    def forward(self, x: npt.NDArray[Any], y: npt.NDArray[Any], /) -> FloatArray: ...
    def backward(self, dout: npt.NDArray[Any], /) -> tuple[FloatArray, FloatArray]: ...


class LossLayer(Protocol):
    """``forward(x, t) -> float`` and ``backward(dout) -> dx``, like ``SoftmaxWithLoss``;
    arguments typed as in :class:`UnaryLayer`."""

    def forward(self, x: npt.NDArray[Any], t: npt.NDArray[Any], /) -> float: ...
    def backward(self, dout: npt.NDArray[Any], /) -> FloatArray: ...


def discover_parameters(layer: object) -> tuple[str, ...]:
    """The book-style parameters of ``layer``: every float array attribute ``X`` for which
    the layer also has an attribute ``dX`` (its gradient, set by backward), sorted."""
    found = []
    for name, value in vars(layer).items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and hasattr(layer, "d" + name):
            found.append(name)
    return tuple(sorted(found))


class _LayerSubject(abc.ABC):
    """What the three layer adapters share: a name, and parameters read the book's way
    (attribute ``W``, gradient ``dW`` after backward), found by :func:`discover_parameters`
    unless named."""

    def __init__(self, layer: object, params: Sequence[str] | None, *, where: str) -> None:
        if isinstance(layer, type) or not callable(getattr(layer, "forward", None)):
            raise ArgumentTypeError(
                f"{where}: expected make(dtype) to return a layer instance with forward and "
                f"backward, got {_describe(layer)}."
            )
        self._layer = layer
        discovered = discover_parameters(layer)
        if params is None:
            self._param_names = discovered
        else:
            unlisted = sorted(set(discovered) - set(params))
            if unlisted:
                raise ArgumentError(
                    f"{where}: expected `params` to list every parameter of "
                    f"{type(layer).__name__} (discovered {list(discovered)}), got "
                    f"{list(params)}, which leaves {unlisted} unchecked."
                )
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


def _describe(value: object) -> str:
    """How an error names a value a factory was expected to be or return."""
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"a {type(value).__name__} instance"


def _checked_maker(make: object, *, where: str) -> None:
    """Refuse an instance where a function ``make(dtype) -> layer`` is expected."""
    if not callable(make):
        raise ArgumentTypeError(
            f"{where}: expected `make` to be a function make(dtype) -> layer, got "
            f"{_describe(make)}; wrap it: {where}(lambda dtype: ...)."
        )


def call_maker(make: Callable[[FloatDType], _T], dtype: FloatDType, *, where: str) -> _T:
    """``make(dtype)``, with a clear error when ``make`` is a class that takes no dtype."""
    try:
        return make(dtype)
    except TypeError as exc:
        if not isinstance(make, type):
            raise
        raise ArgumentTypeError(
            f"{where}: expected `make` to be a function make(dtype) -> layer, got "
            f"{_describe(make)}, which cannot be called with a dtype ({exc}); wrap it: "
            f"{where}(lambda dtype: {make.__name__}(...))."
        ) from exc


class _Targets:
    """Fixed targets, handed to the layer as a fresh copy on each call and compared after.

    ``t`` itself is the subject's: the checker may move it by an ulp (as a constant) between
    calls; what the layer does to its copy is compared with that copy as it was handed.
    """

    def __init__(self, t: npt.ArrayLike) -> None:
        self.t = _own_constant(t)
        self._handed: tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]] | None = None
        self._altered: list[str] = []

    def hand(self) -> npt.NDArray[np.generic]:
        """A fresh copy of ``t`` for the layer."""
        self.check()
        kept, handed = self.t.copy(), self.t.copy()
        self._handed = (kept, handed)
        return handed

    def check(self) -> None:
        """Note if the layer changed the copy it was handed last."""
        if self._handed is not None:
            kept, handed = self._handed
            if handed.tobytes() != kept.tobytes():
                message = "the layer modified the targets `t` in place"
                if message not in self._altered:
                    self._altered.append(message)

    def altered(self) -> tuple[str, ...]:
        """What the layer modified, as report lines."""
        self.check()
        return tuple(self._altered)


def _input(inputs: Mapping[str, FloatArray], name: str, adapter: str) -> FloatArray:
    """Input ``name`` of ``inputs``, or an ArgumentError naming the adapter and the names
    given (``check_gradients(unary(...), {})`` has no ``"x"``)."""
    try:
        return inputs[name]
    except KeyError:
        raise ArgumentError(
            f"{adapter}: expected the inputs to hold {name!r}, got names {sorted(inputs)}."
        ) from None


@final
class UnarySubject(_LayerSubject):
    """A :class:`UnaryLayer` with one input, named ``input`` (``"x"`` by default)."""

    def __init__(
        self, layer: UnaryLayer, *, params: Sequence[str] | None = None, input: str = "x"
    ) -> None:
        super().__init__(layer, params, where="unary")
        self.layer = layer
        self.input = input

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        return np.asarray(self.layer.forward(_input(inputs, self.input, "unary")))

    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        return {self.input: np.asarray(self.layer.backward(dout))}


@final
class BinarySubject(_LayerSubject):
    """A :class:`BinaryLayer` with two inputs, named ``inputs`` (``("x", "y")`` by default)."""

    def __init__(
        self,
        layer: BinaryLayer,
        *,
        params: Sequence[str] | None = None,
        inputs: tuple[str, str] = ("x", "y"),
    ) -> None:
        super().__init__(layer, params, where="binary")
        self.layer = layer
        self.inputs = inputs

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        first, second = (_input(inputs, name, "binary") for name in self.inputs)
        return np.asarray(self.layer.forward(first, second))

    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        d_first, d_second = self.layer.backward(dout)
        first, second = self.inputs
        return {first: np.asarray(d_first), second: np.asarray(d_second)}


@final
class LossSubject(_LayerSubject):
    """A :class:`LossLayer` with one input, named ``input``; the targets ``t`` are fixed,
    not differentiated, and handed to the layer as a fresh copy on every call."""

    def __init__(
        self,
        layer: LossLayer,
        t: npt.ArrayLike,
        *,
        params: Sequence[str] | None = None,
        input: str = "x",
    ) -> None:
        super().__init__(layer, params, where="loss")
        self.layer = layer
        self.input = input
        self._targets = _Targets(t)

    @property
    def t(self) -> npt.NDArray[np.generic]:
        """The subject's own copy of the targets."""
        return self._targets.t

    @property
    def constants(self) -> Mapping[str, FloatArray]:
        """Float targets, which the loss computes with: ``{"t": t}``; labels: ``{}``."""
        return _float_constants(self.t)

    def altered(self) -> tuple[str, ...]:
        """Whether the layer modified the targets it was handed."""
        return self._targets.altered()

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        x = _input(inputs, self.input, "loss")
        return np.asarray(self.layer.forward(x, self._targets.hand()), dtype=x.dtype)

    def _input_gradients(self, dout: FloatArray) -> dict[str, FloatArray]:
        return {self.input: np.asarray(self.layer.backward(dout))}


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
        if isinstance(network, type) or not callable(getattr(network, "gradient", None)):
            raise ArgumentTypeError(
                f"network: expected make(dtype) to return a network with params, loss and "
                f"gradient, got {_describe(network)}."
            )
        self.network = network
        self._targets = _Targets(t)
        self._x: FloatArray | None = None

    @property
    def t(self) -> npt.NDArray[np.generic]:
        """The subject's own copy of the targets."""
        return self._targets.t

    @property
    def constants(self) -> Mapping[str, FloatArray]:
        """Float targets, which the loss computes with: ``{"t": t}``; labels: ``{}``."""
        return _float_constants(self.t)

    def altered(self) -> tuple[str, ...]:
        """Whether the network modified the targets it was handed."""
        return self._targets.altered()

    @property
    def name(self) -> str:
        return type(self.network).__name__

    @property
    def parameters(self) -> Mapping[str, FloatArray]:
        return self.network.params

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        self._x = _input(inputs, "x", "network")
        dtype = next(iter(self.network.params.values())).dtype
        return np.asarray(self.network.loss(self._x, self._targets.hand()), dtype=dtype)

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
            for k, g in self.network.gradient(self._x, self._targets.hand()).items()
        }


def unary(
    make: Callable[[FloatDType], UnaryLayer],
    *,
    params: Sequence[str] | None = None,
    input: str = "x",
) -> Factory:
    """Turn ``make(dtype) -> layer`` for a one-input layer into a checker :data:`Factory`.

    ``params`` names the parameter attributes, each with gradient ``d<name>`` after
    backward; by default every float array attribute ``X`` with an attribute ``dX`` is one
    (:func:`discover_parameters`), and naming fewer than that is an error. ``input``
    names the input in ``inputs`` and ``kinks``.

    Raises:
        ArgumentTypeError: ``make`` is not callable, or is a class that takes no dtype.
    """
    _checked_maker(make, where="unary")
    return lambda dtype: UnarySubject(
        call_maker(make, dtype, where="unary"), params=params, input=input
    )


def binary(
    make: Callable[[FloatDType], BinaryLayer],
    *,
    params: Sequence[str] | None = None,
    inputs: tuple[str, str] = ("x", "y"),
) -> Factory:
    """Turn ``make(dtype) -> layer`` for a two-input layer into a checker :data:`Factory`.

    ``inputs`` names the two inputs, in ``forward``'s order; ``params`` as in :func:`unary`.

    Raises:
        ArgumentTypeError: ``make`` is not callable, or is a class that takes no dtype.
    """
    _checked_maker(make, where="binary")
    return lambda dtype: BinarySubject(
        call_maker(make, dtype, where="binary"), params=params, inputs=inputs
    )


def loss(
    make: Callable[[FloatDType], LossLayer],
    t: npt.ArrayLike,
    *,
    params: Sequence[str] | None = None,
    input: str = "x",
) -> Factory:
    """Turn ``make(dtype) -> layer`` for a loss layer, with fixed targets ``t``, into a Factory.

    ``t`` is handed to the subject and to its float64 twin as given (a fresh copy each
    call): to check a float32 layer against soft targets, pass them already rounded to
    float32, so that both evaluate the same loss. ``params`` and ``input`` as in :func:`unary`.

    Raises:
        ArgumentTypeError: ``make`` is not callable, or is a class that takes no dtype.
    """
    _checked_maker(make, where="loss")
    return lambda dtype: LossSubject(
        call_maker(make, dtype, where="loss"), t, params=params, input=input
    )


def network(make: Callable[[FloatDType], Network], t: npt.ArrayLike) -> Factory:
    """Turn ``make(dtype) -> network``, with fixed targets ``t``, into a checker Factory.

    Raises:
        ArgumentTypeError: ``make`` is not callable, or is a class that takes no dtype.
    """
    _checked_maker(make, where="network")
    return lambda dtype: NetworkSubject(call_maker(make, dtype, where="network"), t)

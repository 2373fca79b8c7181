"""What a layer declaration is: a :class:`LayerSpec`, the :class:`Case` it draws, and the
:class:`Reference` its oracle returns.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast, final

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError
from bpcore.gradcheck import (
    BinaryLayer,
    BinarySubject,
    Differentiable,
    Factory,
    LossLayer,
    LossSubject,
    Network,
    NetworkSubject,
    UnaryLayer,
    UnarySubject,
)


@final
@dataclass(frozen=True)
class Reference:
    """An oracle's forward value and the size of its terms, both float64, of one shape."""

    value: FloatArray
    size: FloatArray


Oracle = Callable[
    [Mapping[str, FloatArray], Mapping[str, FloatArray], "npt.NDArray[np.generic] | None"],
    Reference,
]
"""``oracle(params, inputs, target) -> Reference``, all float64 (targets as given)."""


Kind: TypeAlias = Literal["unary", "binary", "loss", "network"]
Arrays: TypeAlias = dict[str, FloatArray]
Drawn: TypeAlias = tuple[Arrays, Arrays, "npt.NDArray[np.generic] | None"]
"""What a spec's strategy draws: parameters, inputs and (for a loss) targets, all float64."""


@final
@dataclass(frozen=True, eq=False)
class LayerSpec:
    """Everything the generic properties need to know about one layer.

    Attributes:
        name: the registry key, usually the class name.
        kind: ``"unary"`` (``forward(x)``), ``"binary"`` (``forward(x, y)``),
            ``"loss"`` (``forward(x, t) -> float``) or ``"network"`` (the book's
            ``params``, ``loss(x, t)`` and ``gradient(x, t)``; parameters only are
            differentiated).
        construct: builds a fresh layer from parameter arrays (already in the dtype
            under test); for parameterless layers it ignores its argument.
        draw: a zero-argument callable returning the Hypothesis strategy for
            ``(params, inputs, target)``, all float64 (targets integer or float).
        param_names: parameter attributes, each with gradient ``d<name>`` after backward.
        kinks: input name to the values where the layer is not differentiable.
        per_sample: output row ``n`` (or loss term ``n``) depends on input row ``n`` only.
        smooth: twice differentiable wherever the inputs are drawn (for the Taylor test).
        oracle: an independent reference for the forward, ``oracle(params, inputs,
            target) -> Reference`` on float64 values (see :mod:`bpcore._declarations`);
            without one, ``forward_matches_its_oracle`` has nothing to compare with and
            the finite-difference checks only test backward against this very forward.
    """

    name: str
    kind: Kind
    construct: Callable[[Mapping[str, FloatArray]], object]
    draw: Callable[[], st.SearchStrategy[Drawn]]
    param_names: tuple[str, ...] = ()
    kinks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    per_sample: bool = True
    smooth: bool = True
    oracle: Oracle | None = None

    @property
    def scalar_output(self) -> bool:
        """Whether the output is one number (a loss) rather than an array per sample."""
        return self.kind in ("loss", "network")

    @property
    def input_gradients(self) -> bool:
        """Whether backward returns gradients for the inputs (networks skip them)."""
        return self.kind != "network"

    def cases(self) -> st.SearchStrategy[Case]:
        """The spec's strategy, as :class:`Case` objects."""
        return self.draw().map(lambda d: Case(spec=self, params=d[0], inputs=d[1], target=d[2]))

    def subject(self, layer: object, target: npt.ArrayLike | None) -> Differentiable:
        """Wrap a layer built by :attr:`construct` for the gradient checker."""
        # The spec's kind is the declaration of the layer's call shape; the generic
        # properties are what test that the layer honours it.
        if self.kind == "unary":
            return UnarySubject(cast(UnaryLayer, layer), params=self.param_names)
        if self.kind == "binary":
            return BinarySubject(cast(BinaryLayer, layer), params=self.param_names)
        if target is None:
            raise ArgumentError(f"{self.name}: a {self.kind} case needs targets, got None.")
        if self.kind == "network":
            return NetworkSubject(cast(Network, layer), target)
        return LossSubject(cast(LossLayer, layer), target, params=self.param_names)


@final
@dataclass(frozen=True, eq=False)
class Case:
    """One drawn example: a spec with concrete float64 parameters, inputs and targets."""

    spec: LayerSpec
    params: Arrays
    inputs: Arrays
    target: npt.NDArray[np.generic] | None

    def layer(self, dtype: npt.DTypeLike = np.float64) -> object:
        """A fresh layer with this case's parameters, cast to ``dtype``."""
        return self.spec.construct({n: np.array(p, dtype=dtype) for n, p in self.params.items()})

    def subject(self, dtype: npt.DTypeLike = np.float64) -> Differentiable:
        """A fresh layer in ``dtype``, wrapped for the gradient checker."""
        return self.spec.subject(self.layer(dtype), self.target)

    def factory(self, dtype: npt.DTypeLike = np.float64) -> Factory:
        """A gradient-checker factory for checking in ``dtype``.

        Float targets are rounded to ``dtype`` first, for the subject and its float64
        twin alike: a float32 layer sees float32 targets, and the twin must evaluate the
        same function, not one with the unrounded targets.
        """
        target = self.target_as(dtype)
        return lambda d: self.spec.subject(self.layer(d), target)

    def inputs_as(self, dtype: npt.DTypeLike) -> Arrays:
        """The inputs cast to ``dtype``."""
        return {n: np.asarray(v, dtype=dtype) for n, v in self.inputs.items()}

    def target_as(self, dtype: npt.DTypeLike) -> npt.NDArray[np.generic] | None:
        """The targets, float ones rounded to ``dtype`` (labels as they are)."""
        if self.target is not None and self.target.dtype.kind == "f":
            return self.target.astype(dtype)
        return self.target

    def reference(self, dtype: npt.DTypeLike) -> Reference | None:
        """The spec's oracle on exactly the data a layer in ``dtype`` sees, or ``None``."""
        if self.spec.oracle is None:
            return None

        def seen(arrays: Arrays) -> Arrays:
            return {n: np.asarray(v, dtype=dtype).astype(np.float64) for n, v in arrays.items()}

        return self.spec.oracle(seen(self.params), seen(self.inputs), self.target_as(dtype))

    def __repr__(self) -> str:
        shapes = {n: v.shape for n, v in {**self.params, **self.inputs}.items()}
        target = None if self.target is None else self.target.shape
        return f"Case({self.spec.name}, shapes={shapes}, target={target})"

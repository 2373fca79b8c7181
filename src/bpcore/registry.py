"""The layer registry: declare a layer once, and every generic property checks it.

A :class:`LayerSpec` says how to build the layer from parameters, which Hypothesis
strategy draws its parameters, inputs and targets, where it has kinks, and what it
promises (per-sample, smooth). :func:`register` adds a spec; the property suite,
``bpcore verify`` and :func:`bpcore.strategies.registry_cases` iterate over them.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import _oracles as oracles
from bpcore import strategies as bst
from bpcore._arrays import FloatArray
from bpcore._oracles import Oracle, Reference
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
from bpcore.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from bpcore.networks import MultiLayerNet, TwoLayerNet

Kind: TypeAlias = Literal["unary", "binary", "loss", "network"]
Arrays: TypeAlias = dict[str, FloatArray]
Drawn: TypeAlias = tuple[Arrays, Arrays, "npt.NDArray[np.generic] | None"]
"""What a spec's strategy draws: parameters, inputs and (for a loss) targets, all float64."""

RELU_MARGIN = 1e-3
"""How far registry inputs stay from ReLU's kink. The checker's probes reach
``2·cbrt(eps64)·max(1, |x|) ≈ 1.2e-5·max(1, |x|)``, so at ``|x| <= 8`` this margin keeps
every probe on one side; the kink itself is covered by the ReLU-specific properties."""


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
            target) -> Reference`` on float64 values (see :mod:`bpcore._oracles`);
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


_REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add ``spec`` to the registry (replacing a spec of the same name) and return it."""
    _REGISTRY[spec.name] = spec
    return spec


def registered(names: Sequence[str] | None = None) -> list[LayerSpec]:
    """The registered specs in registration order, or those named (``KeyError``-free:
    an unknown name raises ``ValueError`` listing the known ones)."""
    if names is None:
        return list(_REGISTRY.values())
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise ArgumentError(f"unknown layer(s) {unknown}; registered: {sorted(_REGISTRY)}.")
    return [_REGISTRY[n] for n in names]


# -- the core layers -----------------------------------------------------------------


def _unary_inputs(strategy: st.SearchStrategy[FloatArray]) -> st.SearchStrategy[Drawn]:
    return strategy.map(lambda x: ({}, {"x": x}, None))


_SHAPES = bst.batch_shapes(max_feature_dims=2)

register(
    LayerSpec(
        name="Relu",
        kind="unary",
        construct=lambda _: Relu(),
        draw=lambda: _unary_inputs(
            bst.float_arrays(shape=_SHAPES, kinks=(0.0,), margin=RELU_MARGIN)
        ),
        kinks={"x": (0.0,)},
        smooth=False,
        oracle=oracles.relu,
    )
)
register(
    LayerSpec(
        name="Sigmoid",
        kind="unary",
        construct=lambda _: Sigmoid(),
        draw=lambda: _unary_inputs(
            bst.float_arrays(shape=_SHAPES, min_value=-20.0, max_value=20.0)
        ),
        oracle=oracles.sigmoid,
    )
)
register(
    LayerSpec(
        name="Affine",
        kind="unary",
        construct=lambda p: Affine(p["W"], p["b"]),
        draw=lambda: bst.affine_cases().map(lambda c: ({"W": c[0], "b": c[1]}, {"x": c[2]}, None)),
        param_names=("W", "b"),
        oracle=oracles.affine,
    )
)


@st.composite
def _loss_cases(draw: st.DrawFn) -> Drawn:
    n = draw(st.integers(1, 5))
    classes = draw(st.integers(1, 6))
    x = draw(bst.float_arrays(shape=(n, classes), min_value=-10.0, max_value=10.0))
    kind = draw(st.sampled_from(["labels", "one-hot", "soft", "one-sample"]))
    target: npt.NDArray[np.generic]
    if kind == "labels":
        target = draw(bst.class_labels(n=n, classes=classes))
    elif kind == "one-hot":
        target = draw(bst.one_hot_targets(n=n, classes=classes))
    elif kind == "soft":
        target = draw(bst.soft_targets(n=n, classes=classes))
    else:
        return {}, {"x": x[0]}, np.asarray(draw(st.integers(0, classes - 1)), dtype=np.intp)
    return {}, {"x": x}, target


register(
    LayerSpec(
        name="SoftmaxWithLoss",
        kind="loss",
        construct=lambda _: SoftmaxWithLoss(),
        draw=_loss_cases,
        oracle=oracles.softmax_with_loss,
    )
)


@st.composite
def _broadcast_pair(draw: st.DrawFn) -> Drawn:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    x = draw(bst.float_arrays(shape=shapes.input_shapes[0], min_value=-4.0, max_value=4.0))
    y = draw(bst.float_arrays(shape=shapes.input_shapes[1], min_value=-4.0, max_value=4.0))
    return {}, {"x": x, "y": y}, None


register(
    LayerSpec(
        name="MulLayer",
        kind="binary",
        construct=lambda _: MulLayer(),
        draw=_broadcast_pair,
        per_sample=False,
        oracle=oracles.multiply,
    )
)
register(
    LayerSpec(
        name="AddLayer",
        kind="binary",
        construct=lambda _: AddLayer(),
        draw=_broadcast_pair,
        per_sample=False,
        oracle=oracles.add,
    )
)


# -- the networks --------------------------------------------------------------------


def _network_params(sizes: Sequence[int]) -> st.SearchStrategy[Arrays]:
    """Weights and biases for layer sizes ``sizes``, keyed ``W1, b1, W2, ...``."""
    pairs = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
        pairs.append(
            st.tuples(
                st.just(i),
                bst.float_arrays(shape=(fan_in, fan_out), min_value=-2.0, max_value=2.0),
                bst.float_arrays(shape=(fan_out,), min_value=-1.0, max_value=1.0),
            )
        )
    return st.tuples(*pairs).map(
        lambda drawn: {k: v for i, w, b in drawn for k, v in ((f"W{i}", w), (f"b{i}", b))}
    )


NETWORK_MARGIN = 1e-2
"""How far a ReLU network's hidden pre-activations stay from 0 in registry cases.

With ``|x| <= 3``, ``|W| <= 2``, ``|b| <= 1`` and at most 5 units per layer, activations
stay below ``5·3·2 + 1 = 31`` after the first layer and ``5·31·2 + 1 = 311`` after the
second, so a probe of ``2h = 2·cbrt(eps64)·max(1, |θ|) <= 2.4e-5`` on any parameter
moves a pre-activation by at most ``2.4e-5 · 311 ≈ 7.5e-3``: under this margin, no probe
crosses a hidden kink. Without it, two kinks ``1e-266`` apart (Hypothesis finds them)
leave a slope no finite difference can see."""


def _clear_hidden_kinks(params: Arrays, x: FloatArray, margin: float) -> Arrays:
    """Shift hidden biases so that every hidden pre-activation is at least ``margin`` from 0.

    For each unit, the first shift in ``0, +2m, -2m, +4m, ...`` that clears every sample
    is used; with ``N`` samples one of the first ``2N + 1`` shifts always does.
    """
    params = {k: v.copy() for k, v in params.items()}
    depth = len(params) // 2
    h = x
    for i in range(1, depth):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        for unit in range(a.shape[1]):
            for k in range(2 * a.shape[0] + 2):
                shift = (k + 1) // 2 * 2 * margin * (1 if k % 2 else -1)
                if np.all(np.abs(a[:, unit] + shift) >= margin):
                    params[f"b{i}"][unit] += shift
                    a[:, unit] += shift
                    break
        h = np.maximum(a, 0.0)
    return params


@st.composite
def _network_cases(draw: st.DrawFn, *, depth: int, relu: bool) -> Drawn:
    sizes = [draw(st.integers(1, 5)) for _ in range(depth + 1)]
    sizes[-1] = draw(st.integers(2, 4))  # classes
    params = draw(_network_params(sizes))
    n = draw(st.integers(1, 4))
    x = draw(bst.float_arrays(shape=(n, sizes[0]), min_value=-3.0, max_value=3.0))
    if relu:
        params = _clear_hidden_kinks(params, x, NETWORK_MARGIN)
    target: npt.NDArray[np.generic] = draw(
        st.one_of(
            bst.class_labels(n=n, classes=sizes[-1]),
            bst.soft_targets(n=n, classes=sizes[-1]),
        )
    )
    return params, {"x": x}, target


def _sizes(params: Mapping[str, FloatArray]) -> list[int]:
    depth = len(params) // 2
    return [params["W1"].shape[0], *(params[f"W{i}"].shape[1] for i in range(1, depth + 1))]


def _load(network: TwoLayerNet | MultiLayerNet, params: Mapping[str, FloatArray]) -> object:
    for name, value in params.items():
        np.copyto(network.params[name], value)
    return network


def _two_layer(params: Mapping[str, FloatArray]) -> object:
    sizes = _sizes(params)
    net = TwoLayerNet(sizes[0], sizes[1], sizes[2], rng=0, dtype=params["W1"].dtype)
    return _load(net, params)


def _multi_layer(
    activation: Literal["relu", "sigmoid"],
) -> Callable[[Mapping[str, FloatArray]], object]:
    def construct(params: Mapping[str, FloatArray]) -> object:
        sizes = _sizes(params)
        net = MultiLayerNet(
            sizes[0],
            sizes[1:-1],
            sizes[-1],
            activation=activation,
            rng=0,
            dtype=params["W1"].dtype,
        )
        return _load(net, params)

    return construct


register(
    LayerSpec(
        name="TwoLayerNet",
        kind="network",
        construct=_two_layer,
        draw=lambda: _network_cases(depth=2, relu=True),
        kinks={},
        smooth=False,
        oracle=oracles.network("relu"),
    )
)
register(
    LayerSpec(
        name="MultiLayerNet-sigmoid",
        kind="network",
        construct=_multi_layer("sigmoid"),
        draw=lambda: _network_cases(depth=3, relu=False),
        oracle=oracles.network("sigmoid"),
    )
)
register(
    LayerSpec(
        name="MultiLayerNet-relu",
        kind="network",
        construct=_multi_layer("relu"),
        draw=lambda: _network_cases(depth=3, relu=True),
        smooth=False,
        oracle=oracles.network("relu"),
    )
)

__all__ = [
    "NETWORK_MARGIN",
    "RELU_MARGIN",
    "Case",
    "Kind",
    "LayerSpec",
    "Oracle",
    "Reference",
    "register",
    "registered",
]

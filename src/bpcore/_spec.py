"""What a layer declaration is: a :class:`LayerSpec`, the :class:`Case` it draws, the
:class:`Reference` its oracle returns and the :class:`Errors` it promises; and
:func:`layer_spec`, the comfortable way to write one for your own layer.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast, final

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from bpcore import strategies as bst
from bpcore._arrays import FloatArray
from bpcore._finite_difference import root_eps
from bpcore.errors import ArgumentError, ArgumentTypeError, ShapeError
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

__all__ = [
    "Arrays",
    "Case",
    "Drawn",
    "Errors",
    "Kind",
    "LayerSpec",
    "Oracle",
    "Reference",
    "Shape",
    "Targets",
    "kink_margin",
    "layer_spec",
]


@final
@dataclass(frozen=True)
class Reference:
    """An oracle's forward value and the size of its terms, both float64, of one shape.

    ``size`` sets the rounding bound ``n·u·size`` that ``forward_matches_its_oracle``
    allows: the sum of the absolute values of the terms each output element is computed
    from (``Σ_k |x_k·W_k| + |b|`` for an affine map, ``|x| + |mean|`` for a centring),
    which ``|value|`` understates wherever the terms cancel.
    """

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

Shape: TypeAlias = tuple[int | None, ...]
"""An array shape to draw from; every ``None`` is the batch size, one draw per example
shared by every input and parameter of that example."""

Targets: TypeAlias = (
    Literal["labels", "one-hot", "soft"]
    | Callable[[Mapping[str, FloatArray]], st.SearchStrategy[npt.NDArray[np.generic]]]
)
"""How a loss's targets are drawn: class labels, one-hot or soft rows for an input ``x``
of shape ``(N, C)``, or a function of the drawn inputs returning a strategy."""


@final
@dataclass(frozen=True)
class Errors:
    """The exception types a layer promises for bad calls, which the generic property
    ``bad_calls_raise_clear_errors`` checks (subclasses count).

    The defaults are the built-in types a NumPy user expects; bpcore's own layers
    declare its subclasses (:class:`~bpcore.errors.NotForwardedError`, ...).

    Attributes:
        not_forwarded: raised by ``backward`` before any ``forward``; its message names
            the layer.
        bad_shape: raised by ``backward`` for a ``dout`` of the wrong shape (and by a
            network's ``loss`` for an input of the wrong width); its message gives the
            shape received.
        bad_target: raised by a network's ``loss`` for a label out of range.
    """

    not_forwarded: type[Exception] = RuntimeError
    bad_shape: type[Exception] = ValueError
    bad_target: type[Exception] = ValueError


@final
@dataclass(frozen=True, eq=False)
class LayerSpec:
    """Everything the generic properties need to know about one layer.

    :func:`layer_spec` builds one from a factory and shapes; the fields below are the
    general form, which bpcore's own declarations use.

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
        param_names: parameter attributes, each with gradient ``d<name>`` after
            backward; ``None`` means the names of the drawn parameters.
        kinks: input or parameter name to the values where the layer is not
            differentiable.
        per_sample: output row ``n`` (or loss term ``n``) depends on input row ``n`` only.
        smooth: twice differentiable wherever the inputs are drawn (for the Taylor test).
        oracle: an independent reference for the forward, ``oracle(params, inputs,
            target) -> Reference`` on float64 values (see :mod:`bpcore._declarations`);
            without one, ``forward_matches_its_oracle`` has nothing to compare with and
            the finite-difference checks only test backward against this very forward.
        errors: the exception types the layer raises for bad calls.
        budget: the share of the Hypothesis profile's ``max_examples`` each generic
            property draws for this layer (at least one example): below 1 for a layer
            whose oracle or cases cost much more per example than the others'.
    """

    name: str
    kind: Kind
    construct: Callable[[Mapping[str, FloatArray]], object]
    draw: Callable[[], st.SearchStrategy[Drawn]]
    param_names: tuple[str, ...] | None = None
    kinks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    per_sample: bool = True
    smooth: bool = True
    oracle: Oracle | None = None
    errors: Errors = Errors()
    budget: float = 1.0

    def __post_init__(self) -> None:
        budget: object = self.budget  # callers without a type checker pass anything
        if not (
            isinstance(budget, int | float)
            and not isinstance(budget, bool)
            and math.isfinite(budget)
            and budget > 0
        ):
            raise ArgumentError(
                f"LayerSpec: expected `budget` to be a finite number > 0, got {budget!r}."
            )

    def examples(self, profile: int) -> int:
        """The examples a generic property draws for this layer under a profile of
        ``profile``: ``max(1, round(profile·budget))``."""
        return max(1, round(profile * self.budget))

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

    def subject(
        self,
        layer: object,
        target: npt.ArrayLike | None,
        *,
        params: Sequence[str] | None = None,
    ) -> Differentiable:
        """Wrap a layer built by :attr:`construct` for the gradient checker.

        ``params`` names the parameters when :attr:`param_names` is ``None`` (a case
        passes the names it drew).

        Raises:
            ArgumentError: a loss or network case without targets.
        """
        # The spec's kind is the declaration of the layer's call shape; the generic
        # properties are what test that the layer honours it.
        names = self.param_names if self.param_names is not None else tuple(params or ())
        if self.kind == "unary":
            return UnarySubject(cast(UnaryLayer, layer), params=names)
        if self.kind == "binary":
            return BinarySubject(cast(BinaryLayer, layer), params=names)
        if target is None:
            raise ArgumentError(f"{self.name}: expected targets for a {self.kind} case, got None.")
        if self.kind == "network":
            return NetworkSubject(cast(Network, layer), target)
        return LossSubject(cast(LossLayer, layer), target, params=names)


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

    def wrap(self, layer: object, target: npt.ArrayLike | None) -> Differentiable:
        """``layer`` (built for this case) wrapped for the checker, with targets ``target``."""
        return self.spec.subject(layer, target, params=tuple(self.params))

    def subject(self, dtype: npt.DTypeLike = np.float64) -> Differentiable:
        """A fresh layer in ``dtype``, wrapped for the gradient checker."""
        return self.wrap(self.layer(dtype), self.target)

    def factory(self, dtype: npt.DTypeLike = np.float64) -> Factory:
        """A gradient-checker factory for checking in ``dtype``.

        Float targets are rounded to ``dtype`` first, for the subject and its float64
        twin alike: a float32 layer sees float32 targets, and the twin must evaluate the
        same function, not one with the unrounded targets.
        """
        target = self.target_as(dtype)
        return lambda d: self.wrap(self.layer(d), target)

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


# -- layer_spec: a declaration from a factory and shapes ----------------------------------

_INPUT_NAMES: dict[Kind, tuple[str, ...]] = {
    "unary": ("x",),
    "binary": ("x", "y"),
    "loss": ("x",),
    "network": ("x",),
}
"""The input names each kind's adapter passes to the layer, in order."""

_BATCH = (1, 6)
"""The batch sizes ``None`` axes draw from by default, as :func:`bpcore.strategies.batch_shapes`."""


def kink_margin(min_value: float, max_value: float) -> float:
    """How far drawn values stay from a declared kink: twice the checker's reach.

    A probe at ``θ`` with step ``h = cbrt(eps64)·max(1, |θ|)`` evaluates the layer up to
    ``2h`` away (the ``D_2h`` difference), so inputs drawn at least ``2h`` from a kink are
    compared with the tolerance instead of being excused as straddling it. The margin
    doubles that reach at the largest ``|θ|`` drawn, so that rounding the inputs to
    float32 (a relative ``6e-8``, far below the reach's ``1.2e-5``) cannot bring a value
    back inside it.
    """
    largest = max(1.0, abs(min_value), abs(max_value))
    return 2 * (2 * root_eps(np.dtype(np.float64)) * largest)


def layer_spec(
    factory: Callable[..., object],
    *,
    name: str | None = None,
    kind: Kind | None = None,
    inputs: Mapping[str, Shape | st.SearchStrategy[FloatArray]] | None = None,
    params: Mapping[str, Shape | st.SearchStrategy[FloatArray]] | None = None,
    targets: Targets | None = None,
    cases: st.SearchStrategy[Drawn] | None = None,
    min_value: float = -8.0,
    max_value: float = 8.0,
    batch: tuple[int, int] = _BATCH,
    kinks: Mapping[str, Sequence[float]] | None = None,
    per_sample: bool = True,
    smooth: bool | None = None,
    oracle: Callable[..., object] | None = None,
    errors: Errors | None = None,
    budget: float = 1.0,
) -> LayerSpec:
    """Declare your own layer for the generic properties, from a factory and shapes.

    The layer follows the book: ``forward(x)`` / ``backward(dout) -> dx`` (unary),
    ``forward(x, y)`` / ``backward(dout) -> (dx, dy)`` (binary) or ``forward(x, t) ->
    float`` / ``backward(dout=1) -> dx`` (loss); each parameter ``p`` is an attribute
    with gradient ``dp`` after backward. Networks (``params``, ``loss(x, t)``,
    ``gradient(x, t)``) are ``kind="network"``.

    Args:
        factory: builds a fresh layer; called with the drawn parameter arrays as
            keyword arguments (``factory(W=..., b=...)``), in the dtype under test
            (float32 or float64); with no parameters, ``factory()``.
        name: the name in reports; by default the factory's ``__name__``.
        kind: ``"unary"``, ``"binary"``, ``"loss"`` or ``"network"``; by default
            ``"binary"`` for inputs ``x`` and ``y``, else ``"unary"``.
        inputs: input name to a shape or to a Hypothesis strategy of float64 arrays.
            Shapes are drawn with :func:`bpcore.strategies.float_arrays` in
            ``[min_value, max_value]``, each ``None`` axis being the batch size. The
            names are the adapter's: ``x`` (and ``y`` for a binary layer). Default:
            ``x`` of shape ``(N, d1)`` or ``(N, d1, d2)`` with every size in ``1..6``
            (two such arrays of one shape for a binary layer, ``(N, C)`` for a loss).
        params: parameter name to a shape or a strategy, like ``inputs``.
        targets: a loss's or network's targets: ``"labels"`` (the default for a loss),
            ``"one-hot"`` or ``"soft"`` rows for ``x`` of shape ``(N, C)``, or
            ``targets(inputs) -> strategy``. Networks need one.
        cases: instead of ``inputs``, ``params`` and ``targets``, one strategy of
            ``(params, inputs, target)`` for shapes that depend on each other.
        min_value, max_value: the range values are drawn from.
        batch: the batch sizes ``None`` axes draw from, ``(low, high)``.
        kinks: input or parameter name to the values where the layer is not
            differentiable (``{"x": [0.0]}`` for ReLU). Values drawn from shapes stay
            :func:`kink_margin` away from them, so the gradient check compares them
            instead of excusing them.
        per_sample: output row ``n`` depends on input row ``n`` only (enables the
            batch-independence property; ``False`` for batch normalisation).
        smooth: twice differentiable wherever inputs are drawn (enables the Taylor
            test); by default, whether no kinks are declared.
        oracle: an independent forward: called with the parameters, inputs and (as
            ``t``) targets as float64 keyword arguments, it returns the expected output,
            or a :class:`Reference` with the size of its terms when the output cancels
            (the bound is ``n·u·size``; a bare value counts as its own size).
        errors: the exception types the layer raises for bad calls (default: the
            built-in ``RuntimeError``, ``ValueError``, ``ValueError``).
        budget: the share of the profile's examples each property draws (see
            :class:`LayerSpec`).

    Returns:
        A :class:`LayerSpec` for :func:`bpcore.verify.check_layer`, the pytest plugin
        and ``bpcore verify``.

    Raises:
        ArgumentTypeError: ``factory`` or ``oracle`` is not callable, or an input,
            parameter or targets source is neither a shape nor a strategy.
        ArgumentError: input names that the kind's adapter does not pass, ``cases``
            together with ``inputs``, ``params`` or ``targets``, a kind without the
            targets it needs, ``kinks`` on a smooth layer or for a name that is neither
            an input nor a parameter, an empty value range or batch range, or a
            negative or non-integer size in a shape.
    """
    where = "layer_spec"
    if not callable(factory):
        raise ArgumentTypeError(f"{where}: expected a callable factory, got {factory!r}.")
    if oracle is not None and not callable(oracle):
        raise ArgumentTypeError(f"{where}: expected a callable oracle, got {oracle!r}.")
    label = name if name is not None else str(getattr(factory, "__name__", repr(factory)))
    if not (math.isfinite(min_value) and math.isfinite(max_value) and min_value < max_value):
        raise ArgumentError(
            f"{where}: expected finite min_value < max_value, got {min_value!r} and {max_value!r}."
        )
    if not (1 <= batch[0] <= batch[1]):
        raise ArgumentError(
            f"{where}: expected batch (low, high) with 1 <= low <= high, got {batch}."
        )
    declared = {k: tuple(float(v) for v in vs) for k, vs in (kinks or {}).items()}
    if smooth is None:
        smooth = not declared
    if declared and smooth:
        raise ArgumentError(
            f"{where}: expected smooth=False for a layer with kinks, got smooth=True and "
            f"kinks {declared}."
        )
    chosen: Kind = kind if kind is not None else _default_kind(inputs)
    if cases is not None:
        if inputs is not None or params is not None or targets is not None:
            raise ArgumentError(
                f"{where}: expected either cases or inputs/params/targets, got both."
            )
        strategy = cases
        param_names: tuple[str, ...] | None = None
    else:
        draw_inputs = dict(inputs) if inputs is not None else None
        _check_names(where, chosen, draw_inputs)
        target_source = _target_source(where, chosen, targets)
        drawn_params = dict(params or {})
        for role, sources in (("input", draw_inputs or {}), ("parameter", drawn_params)):
            for key, source in sources.items():
                _check_source(where, role, key, source)
        known = [*(draw_inputs or _INPUT_NAMES[chosen]), *drawn_params]
        strays = sorted(set(declared) - set(known))
        if strays:
            raise ArgumentError(
                f"{where}: expected kinks for the inputs and parameters {known}, "
                f"got kinks for {strays}."
            )
        strategy = _drawn(
            kind=chosen,
            inputs=draw_inputs,
            params=drawn_params,
            targets=target_source,
            values=(min_value, max_value),
            batch=batch,
            kinks=declared,
        )
        param_names = tuple(drawn_params)
    return LayerSpec(
        name=label,
        kind=chosen,
        construct=lambda p: factory(**p),
        draw=lambda: strategy,
        param_names=param_names,
        kinks=declared,
        per_sample=per_sample,
        smooth=smooth,
        oracle=None if oracle is None else _keyword_oracle(label, oracle),
        errors=errors if errors is not None else Errors(),
        budget=budget,
    )


def _default_kind(inputs: Mapping[str, object] | None) -> Kind:
    return "binary" if inputs is not None and set(inputs) == {"x", "y"} else "unary"


def _check_names(where: str, kind: Kind, inputs: Mapping[str, object] | None) -> None:
    if inputs is None:
        if kind == "network":
            raise ArgumentError(
                f"{where}: expected inputs={{'x': shape}} for a network, got no inputs."
            )
        return
    expected = _INPUT_NAMES[kind]
    if tuple(sorted(inputs)) != tuple(sorted(expected)):
        raise ArgumentError(
            f"{where}: expected inputs named {list(expected)} for a {kind} layer (the adapter "
            f"passes them in that order), got {list(inputs)}."
        )


def _target_source(where: str, kind: Kind, targets: Targets | None) -> Targets | None:
    if kind in ("unary", "binary"):
        if targets is not None:
            raise ArgumentError(
                f"{where}: expected no targets for a {kind} layer, got {targets!r}."
            )
        return None
    if targets is None:
        if kind == "network":
            raise ArgumentError(
                f"{where}: expected targets for a network (a function of the inputs returning "
                "a strategy, since the class count is the network's), got None."
            )
        return "labels"
    if callable(targets) or targets in ("labels", "one-hot", "soft"):
        return targets
    raise ArgumentTypeError(
        f"{where}: expected targets 'labels', 'one-hot', 'soft' or a function of the inputs, "
        f"got {targets!r}."
    )


def _check_source(where: str, role: str, key: str, source: object) -> None:
    if isinstance(source, st.SearchStrategy):
        return
    if not isinstance(source, tuple):
        raise ArgumentTypeError(
            f"{where}: expected {role} {key!r} to be a shape tuple or a strategy, "
            f"got {type(source).__name__}."
        )
    for size in source:
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise ArgumentError(
                f"{where}: expected {role} {key!r} to have sizes that are ints >= 0 or None, "
                f"got {source}."
            )


def _drawn(
    *,
    kind: Kind,
    inputs: Mapping[str, Shape | st.SearchStrategy[FloatArray]] | None,
    params: Mapping[str, Shape | st.SearchStrategy[FloatArray]],
    targets: Targets | None,
    values: tuple[float, float],
    batch: tuple[int, int],
    kinks: Mapping[str, tuple[float, ...]],
) -> st.SearchStrategy[Drawn]:
    """The strategy of ``(params, inputs, target)`` that :func:`layer_spec` declares."""
    low, high = values
    margin = kink_margin(low, high)

    def array(
        draw: st.DrawFn, key: str, source: Shape | st.SearchStrategy[FloatArray], n: int
    ) -> FloatArray:
        if isinstance(source, st.SearchStrategy):
            return np.asarray(draw(source), dtype=np.float64)
        shape = tuple(n if size is None else size for size in source)
        # Only kinks whose margin fits inside the range can be kept away from; the
        # checker still excuses probes that reach the others.
        inside = [k for k in kinks.get(key, ()) if low <= k - margin and k + margin <= high]
        return draw(
            bst.float_arrays(
                shape=shape, min_value=low, max_value=high, kinks=inside, margin=margin
            )
        )

    @st.composite
    def build(draw: st.DrawFn) -> Drawn:
        n = draw(st.integers(*batch))
        if inputs is None:
            features = draw(
                bst.batch_shapes(
                    min_batch=batch[0],
                    max_batch=batch[1],
                    max_feature_dims=1 if kind == "loss" else 2,
                )
            )
            names = _INPUT_NAMES[kind]
            drawn_inputs = {key: array(draw, key, features, n) for key in names}
        else:
            drawn_inputs = {key: array(draw, key, source, n) for key, source in inputs.items()}
        drawn_params = {key: array(draw, key, source, n) for key, source in params.items()}
        target = None if targets is None else draw(_targets(targets, drawn_inputs))
        return drawn_params, drawn_inputs, target

    return build()


def _targets(
    targets: Targets, inputs: Mapping[str, FloatArray]
) -> st.SearchStrategy[npt.NDArray[np.generic]]:
    if callable(targets):
        return targets(inputs)
    x = inputs["x"]
    if x.ndim != 2:
        raise ShapeError(
            f"layer_spec: expected x of shape (N, C) for {targets!r} targets, got shape {x.shape}."
        )
    n, classes = x.shape
    if targets == "labels":
        return bst.class_labels(n=n, classes=classes)
    if targets == "one-hot":
        return bst.one_hot_targets(n=n, classes=classes)
    return bst.soft_targets(n=n, classes=classes)


def _keyword_oracle(name: str, oracle: Callable[..., object]) -> Oracle:
    """A user's ``oracle(**params, **inputs, t=target)`` as an :data:`Oracle`."""

    def reference(
        params: Mapping[str, FloatArray],
        inputs: Mapping[str, FloatArray],
        target: npt.NDArray[np.generic] | None,
    ) -> Reference:
        arguments: dict[str, object] = {**params, **inputs}
        if target is not None:
            arguments["t"] = target
        result = oracle(**arguments)
        if isinstance(result, Reference):
            value, size = result.value, result.size
        else:
            value = np.asarray(result, dtype=np.float64)
            size = np.abs(value)
        value = np.asarray(value, dtype=np.float64)
        size = np.asarray(size, dtype=np.float64)
        if size.shape != value.shape:
            raise ShapeError(
                f"{name} oracle: expected a size of the value's shape {value.shape}, "
                f"got shape {size.shape}."
            )
        return Reference(value=value, size=size)

    return reference

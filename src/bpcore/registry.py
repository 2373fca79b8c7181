"""The layer registry: declare a layer once, and every generic property checks it.

A :class:`LayerSpec` says how to build the layer, which strategy draws its parameters,
inputs and targets, where its kinks are, what it promises and, through its oracle, what
its forward should be. bpcore's own specs are declared in :mod:`bpcore._declarations` and
:mod:`bpcore._declarations_ch67`;
:func:`register` adds more, :func:`registered` lists them and :func:`registry_cases`
draws from them. Registered specs are no special case: the property suite and
``bpcore verify`` check them with :mod:`bpcore.verify`, the functions that check anyone's
spec (:func:`bpcore.verify.layer_spec` declares one).

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from bpcore import _declarations_ch67  # noqa: F401  # appends the chapter 6-7 specs to SPECS
from bpcore._declarations import NETWORK_MARGIN, RELU_MARGIN, SPECS
from bpcore._spec import Case, Errors, Kind, LayerSpec, Oracle, Reference
from bpcore.errors import ArgumentError, ArgumentTypeError

_REGISTRY: dict[str, LayerSpec] = {spec.name: spec for spec in SPECS}


def register(spec: LayerSpec) -> LayerSpec:
    """Add ``spec`` to the registry (replacing a spec of the same name) and return it.

    Raises:
        ArgumentTypeError: ``spec`` is not a :class:`LayerSpec`.
    """
    if not isinstance(spec, LayerSpec):
        raise ArgumentTypeError(
            f"register: expected a LayerSpec (see bpcore.verify.layer_spec), "
            f"got {type(spec).__name__}."
        )
    _REGISTRY[spec.name] = spec
    return spec


def registered(names: Sequence[str] | None = None) -> list[LayerSpec]:
    """The registered specs in registration order, or those named.

    Raises:
        ArgumentError: a name is not registered (the message lists the known ones).
    """
    if names is None:
        return list(_REGISTRY.values())
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise ArgumentError(
            f"registered: expected names of registered layers {sorted(_REGISTRY)}, "
            f"got unknown {unknown}."
        )
    return [_REGISTRY[n] for n in names]


def registry_cases(*, names: Sequence[str] | None = None) -> st.SearchStrategy[Case]:
    """Cases from the registry: a registered layer, its parameters, inputs and targets.

    ``names`` restricts the draw to those registered layers (all of them by default).
    """
    return st.sampled_from(registered(names)).flatmap(lambda spec: spec.cases())


__all__ = [
    "NETWORK_MARGIN",
    "RELU_MARGIN",
    "Case",
    "Errors",
    "Kind",
    "LayerSpec",
    "Oracle",
    "Reference",
    "register",
    "registered",
    "registry_cases",
]

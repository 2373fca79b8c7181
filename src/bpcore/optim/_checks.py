"""Validation shared by the optimizers: hyperparameters, and params/grads at each step.

Every check runs before any array is written, so a rejected ``update`` leaves
the parameters and the optimizer's state exactly as they were.
"""

from __future__ import annotations

import math
import numbers
import types
from collections.abc import Iterable, Mapping
from typing import final, overload

import numpy as np

from bpcore._arrays import FloatArray, is_float_array, require_float_array
from bpcore.errors import (
    ArgumentError,
    ArgumentTypeError,
    DtypeError,
    ShapeError,
    UnusableGradient,
)

Step = list[tuple[str, FloatArray, FloatArray]]
"""``(name, param, grad)`` triples in the order of ``params``, all validated."""


def _real(value: object, *, where: str, name: str) -> float:
    # bool is an int subclass, but `lr=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(
            f"{where}: expected `{name}` to be a real number, got {type(value).__name__}."
        )
    return float(value)


def positive_finite(value: object, *, where: str, name: str) -> float:
    """Return ``value`` as a float if it is finite and ``> 0``; raise otherwise."""
    x = _real(value, where=where, name=name)
    if not (math.isfinite(x) and x > 0.0):
        raise ArgumentError(f"{where}: expected `{name}` to be finite and > 0, got {value!r}.")
    return x


@final
class LearningRate:
    """An optimizer's ``lr`` attribute: finite and ``> 0``, checked on every assignment.

    Declared once in the class body (``lr = LearningRate()``), it keeps the value in
    ``_lr`` (which ``update`` reads) and names the owning class in its errors.
    """

    _private: str
    _owner: str

    def __set_name__(self, owner: type, name: str) -> None:
        self._private = f"_{name}"
        self._owner = owner.__name__

    @overload
    def __get__(self, instance: None, owner: type) -> LearningRate: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> float: ...
    def __get__(self, instance: object, owner: type | None = None) -> LearningRate | float:
        """The learning rate (the descriptor itself on the class)."""
        if instance is None:
            return self
        value: float = getattr(instance, self._private)  # set by __set__, always a float
        return value

    def __set__(self, instance: object, value: float) -> None:
        setattr(instance, self._private, positive_finite(value, where=self._owner, name="lr"))


def unit_interval(value: object, *, where: str, name: str) -> float:
    """Return ``value`` as a float if it lies in ``[0, 1)``; raise otherwise."""
    x = _real(value, where=where, name=name)
    if not 0.0 <= x < 1.0:
        raise ArgumentError(f"{where}: expected `{name}` in [0, 1), got {value!r}.")
    return x


def require_mapping(value: object, *, where: str, name: str) -> Mapping[str, object]:
    """``value`` if it is a mapping (a dict of arrays by name); ArgumentTypeError otherwise."""
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(
            f"{where}: expected `{name}` to be a mapping of names to arrays, "
            f"got {type(value).__name__}."
        )
    return value


def _names(keys: Iterable[str]) -> str:
    return "[" + ", ".join(repr(k) for k in sorted(keys, key=str)) + "]"


def _require_same_keys(
    reference: Mapping[str, object],
    other: Mapping[str, object],
    *,
    where: str,
    ref_name: str,
    other_name: str,
) -> None:
    if reference.keys() == other.keys():
        return
    missing = reference.keys() - other.keys()
    extra = other.keys() - reference.keys()
    raise ArgumentError(
        f"{where}: expected `{other_name}` to have the same keys as `{ref_name}`; "
        f"missing: {_names(missing)}, unexpected: {_names(extra)}."
    )


def _float_array(value: object, *, where: str, role: str, key: str) -> FloatArray:
    # The label `role[key]` is only formatted for an error: this runs on every update.
    if is_float_array(value):
        return value
    return require_float_array(value, where=where, name=f"{role}[{key!r}]")


def checked_step(
    params: Mapping[str, FloatArray],
    grads: Mapping[str, FloatArray],
    *,
    where: str,
    squares: bool = False,
) -> Step:
    """Validate one ``update`` call and return its ``(name, param, grad)`` triples.

    Raises :class:`ArgumentError` when the key sets differ, :class:`UnusableGradient`
    when a gradient holds a NaN or an infinity (or, with ``squares``, an element whose
    square overflows), :class:`DtypeError` when a parameter is not a writable
    float32/float64 array or a gradient not a float32/float64 array, and
    :class:`ShapeError` when shapes differ. Call it under
    :func:`~bpcore._arrays.ieee_arithmetic`: its sums may overflow.
    """
    require_mapping(params, where=where, name="params")
    require_mapping(grads, where=where, name="grads")
    _require_same_keys(params, grads, where=where, ref_name="params", other_name="grads")
    step: Step = []
    for key, p_obj in params.items():
        p = _float_array(p_obj, where=where, role="params", key=key)
        if not p.flags.writeable:
            # Updating a copy instead would silently detach the layer holding `p`.
            raise DtypeError(
                f"{where}: expected params[{key!r}] to be a writable array, got a read-only one."
            )
        g = _float_array(grads[key], where=where, role="grads", key=key)
        if g.shape != p.shape:
            raise ShapeError(
                f"{where}: expected grads[{key!r}] of shape {p.shape} (the shape of "
                f"params[{key!r}]), got shape {g.shape}."
            )
        _require_usable(g, where=where, key=key, squares=squares)
        step.append((key, p, g))
    return step


def _require_usable(g: FloatArray, *, where: str, key: str, squares: bool) -> None:
    """Raise :class:`UnusableGradient` if ``g`` holds a NaN or an infinity (an update from
    it would write NaN into the parameters and the state), or, with ``squares``, an
    element whose square overflows ``g``'s dtype (a second moment would be infinite)."""
    # One pass: a finite sum of squares means every element and its square are finite.
    if math.isfinite(float(np.vdot(g, g))):
        return
    if not bool(np.all(np.isfinite(g))):
        raise UnusableGradient(
            f"{where}: expected finite gradients, got NaN or infinity in grads[{key!r}] "
            "(nothing was updated)."
        )
    limit = math.sqrt(float(np.finfo(g.dtype).max))
    largest = float(np.max(np.abs(g)))
    if squares and largest > limit:
        raise UnusableGradient(
            f"{where}: expected gradients whose squares {g.dtype} can hold (|g| <= "
            f"{limit:.4g}), got |g| up to {largest:.4g} in grads[{key!r}] (nothing was "
            "updated)."
        )


def require_room(total: FloatArray, g: FloatArray, *, where: str, key: str) -> None:
    """Raise :class:`UnusableGradient` unless adding ``g``'s squares to the running sum
    ``total`` (AdaGrad's ``h``, ``>= 0``) keeps every element finite."""
    room = float(np.finfo(total.dtype).max) - float(np.max(total, initial=0.0))
    squares = float(np.vdot(g, g))  # at least each element's square
    if squares > room:
        raise UnusableGradient(
            f"{where}: expected gradients whose squares the running sum h can still hold "
            f"in {total.dtype} (at most {room:.4g} in all), got {squares:.4g} in "
            f"grads[{key!r}] (nothing was updated)."
        )


def check_state(state: Mapping[str, FloatArray], step: Step, *, where: str) -> None:
    """Require ``step`` to update exactly the arrays ``state`` was allocated for.

    The first ``update`` fixes the parameter names, shapes and dtypes of a
    stateful optimizer; a later call that differs is a different network, and
    silently resetting or reusing accumulated state for it would be wrong.
    """
    _require_same_keys(
        state,
        {key: p for key, p, _ in step},
        where=where,
        ref_name="the parameters of the first update",
        other_name="params",
    )
    for key, p, _ in step:
        s = state[key]
        if p.shape != s.shape:
            raise ShapeError(
                f"{where}: expected params[{key!r}] of shape {s.shape} (as in the first update), "
                f"got shape {p.shape}."
            )
        if p.dtype != s.dtype:
            raise DtypeError(
                f"{where}: expected params[{key!r}] of dtype {s.dtype} (as in the first update), "
                f"got dtype {p.dtype}."
            )


def readonly_view(arrays: Mapping[str, FloatArray]) -> Mapping[str, FloatArray]:
    """Return a read-only mapping of read-only views of ``arrays`` (for inspecting state)."""
    views: dict[str, FloatArray] = {}
    for key, array in arrays.items():
        view = array.view()
        view.flags.writeable = False
        views[key] = view
    return types.MappingProxyType(views)


@final
class Slots:
    """Per-parameter state buffers of a stateful optimizer, by slot name (``"v"``, ...).

    Every slot holds one array per parameter, of its shape and dtype, allocated as
    zeros on the first :meth:`prepare` and reused afterwards; later steps must update
    the same parameters (see :func:`check_state`).
    """

    def __init__(self, *names: str, where: str) -> None:
        self._where = where
        self._slots: dict[str, dict[str, FloatArray]] = {name: {} for name in names}
        self._started = False

    def prepare(self, step: Step) -> None:
        """Allocate the buffers for ``step``'s parameters, or check they are the same ones."""
        if self._started:
            check_state(next(iter(self._slots.values())), step, where=self._where)
            return
        for name in self._slots:
            self._slots[name] = {key: np.zeros_like(p) for key, p, _ in step}
        self._started = True

    def __getitem__(self, name: str) -> dict[str, FloatArray]:
        """The buffers of slot ``name``, by parameter name (empty before the first step)."""
        return self._slots[name]

    def export(self, *names: str) -> dict[str, FloatArray]:
        """Copies of slots ``names`` as ``{"<slot>/<param>": array}`` (scratch is left out)."""
        return {f"{slot}/{key}": a.copy() for slot in names for key, a in self._slots[slot].items()}

    def load(
        self, state: Mapping[str, FloatArray], *names: str, nonnegative: tuple[str, ...] = ()
    ) -> None:
        """Replace slots ``names`` from :meth:`export`'s format; other slots are rebuilt as zeros.

        Every slot must hold the same parameter names with one shape and float dtype each,
        finite values (and none below 0 in the slots ``nonnegative``, which accumulate
        squares), and a started optimizer must keep its parameters; otherwise
        ``ValueError`` (or :class:`ShapeError`/:class:`DtypeError`) is raised and nothing
        changes.
        """
        where = self._where.replace(".update", ".load_state_dict")
        require_mapping(state, where=where, name="state")
        loaded: dict[str, dict[str, FloatArray]] = {slot: {} for slot in names}
        for full_key, value in state.items():
            slot, _, key = full_key.partition("/")
            if slot not in loaded or not key:
                raise ArgumentError(
                    f"{where}: expected keys '<slot>/<param>' with slot in {list(names)}, "
                    f"got {full_key!r}."
                )
            array = _float_array(value, where=where, role="state", key=full_key)
            if not np.all(np.isfinite(array)):
                raise ArgumentError(
                    f"{where}: expected finite values in {full_key!r}, got NaN or infinity."
                )
            if slot in nonnegative and np.any(array < 0):
                raise ArgumentError(
                    f"{where}: expected {full_key!r} >= 0 (it accumulates squares), "
                    f"got {float(np.min(array))!r}."
                )
            loaded[slot][key] = array
        reference = loaded[names[0]]
        for slot in names[1:]:
            _require_same_keys(
                reference,
                loaded[slot],
                where=where,
                ref_name=f"slot {names[0]!r}",
                other_name=f"slot {slot!r}",
            )
            for key, array in loaded[slot].items():
                if array.shape != reference[key].shape or array.dtype != reference[key].dtype:
                    raise ShapeError(
                        f"{where}: expected {slot}/{key} of shape {reference[key].shape} and "
                        f"dtype {reference[key].dtype} (as {names[0]}/{key}), "
                        f"got {array.shape} {array.dtype}."
                    )
        if self._started:
            current = [(key, p, p) for key, p in next(iter(self._slots.values())).items()]
            check_state(reference, current, where=where)
        for slot in self._slots:
            source = loaded.get(slot, reference)
            self._slots[slot] = {
                key: (np.array(a, copy=True) if slot in loaded else np.zeros_like(a))
                for key, a in source.items()
            }
        self._started = bool(reference)

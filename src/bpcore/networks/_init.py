"""Validation of network constructor arguments, and weight initialisation.

Weights are drawn as ``std · z`` with ``z ~ N(0, 1)`` from a caller-supplied
:class:`numpy.random.Generator`, never from NumPy's global random state, and
biases start at zero, as in the book. The standard deviation ``std`` is either
fixed or chosen from the layer's fan-in ``n`` (the size of the layer feeding it),
with the book's chapter 6 definitions:

* ``"he"``: ``std = sqrt(2 / n)``, for ReLU;
* ``"xavier"``: ``std = sqrt(1 / n)``, for sigmoid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np

from bpcore._arrays import FloatArray, FloatDType
from bpcore.errors import ArgumentError

WeightInit: TypeAlias = Literal["he", "relu", "xavier", "sigmoid"] | float
"""A weight initialisation: a name (``"relu"`` is ``"he"``, ``"sigmoid"`` is ``"xavier"``)
or a fixed standard deviation."""

_Resolved: TypeAlias = Literal["he", "xavier"] | float
"""``"he"``, ``"xavier"`` or a fixed standard deviation."""

_NAMED_INITS = {"he": "he", "relu": "he", "xavier": "xavier", "sigmoid": "xavier"}


def check_size(value: object, *, where: str, name: str) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise ``ValueError``."""
    # bool is an int subclass, but `True` as a layer width is a bug, not a size.
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        size = int(value)
        if size > 0:
            return size
    raise ArgumentError(f"{where}: expected `{name}` to be a positive int, got {value!r}.")


def check_sizes(values: object, *, where: str, name: str) -> list[int]:
    """Return ``values`` as a list of positive ints (possibly empty), else raise ``ValueError``."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise ArgumentError(
            f"{where}: expected `{name}` to be a sequence of positive ints, "
            f"got {type(values).__name__} {values!r}."
        )
    return [check_size(v, where=where, name=f"{name}[{i}]") for i, v in enumerate(values)]


def _finite_non_negative(value: object) -> float | None:
    """``value`` as a ``float`` if it is a finite real ``>= 0`` (not a bool), else ``None``."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    ):
        std = float(value)
        if math.isfinite(std) and std >= 0:
            return std
    return None


def check_std(value: object, *, where: str, name: str) -> float:
    """Return ``value`` as a ``float`` if it is a finite, non-negative real, else raise."""
    std = _finite_non_negative(value)
    if std is None:
        raise ArgumentError(
            f"{where}: expected `{name}` to be a finite non-negative float, got {value!r}."
        )
    return std


def check_weight_init(value: object, *, where: str) -> _Resolved:
    """Return ``"he"`` (also for ``"relu"``), ``"xavier"`` (also for ``"sigmoid"``) or a
    fixed std as a ``float``, else raise :class:`ArgumentError`. Names are matched
    without regard to case, as in the book."""
    if isinstance(value, str) and value.lower() in _NAMED_INITS:
        return "he" if _NAMED_INITS[value.lower()] == "he" else "xavier"
    std = _finite_non_negative(value)
    if std is None:
        raise ArgumentError(
            f"{where}: expected `weight_init_std` to be one of 'relu' ('he'), 'sigmoid' "
            f"('xavier') or a finite non-negative float (a fixed std), got {value!r}."
        )
    return std


def weight_std(weight_init: _Resolved, fan_in: int) -> float:
    """The standard deviation of a weight matrix fed by ``fan_in`` units."""
    if weight_init == "he":
        return math.sqrt(2.0 / fan_in)
    if weight_init == "xavier":
        return math.sqrt(1.0 / fan_in)
    return weight_init


def init_params(
    sizes: Sequence[int], stds: Sequence[float], rng: np.random.Generator, dtype: FloatDType
) -> dict[str, FloatArray]:
    """Draw ``W{i}`` ``(sizes[i-1], sizes[i])`` as ``stds[i-1] · N(0, 1)``; ``b{i}`` are zeros.

    The normals are drawn in float64 and then rounded to ``dtype``, so a float32
    network is the float64 network of the same seed, rounded.
    """
    params: dict[str, FloatArray] = {}
    for i, (fan_in, fan_out, std) in enumerate(zip(sizes[:-1], sizes[1:], stds, strict=True), 1):
        params[f"W{i}"] = (std * rng.standard_normal((fan_in, fan_out))).astype(dtype)
        params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
    return params

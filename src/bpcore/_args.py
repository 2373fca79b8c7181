"""Checks of the scalar arguments that layers, ops and networks take: sizes, strides, pads."""

from __future__ import annotations

import math

import numpy as np

from bpcore.errors import ArgumentError


def _int_or_none(value: object) -> int | None:
    # bool is an int subclass, but `stride=True` is a bug, not a stride.
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return int(value)
    return None


def positive_int(value: object, *, where: str, name: str) -> int:
    """``value`` as an ``int``, or :class:`ArgumentError` unless it is an integer >= 1."""
    number = _int_or_none(value)
    if number is None or number < 1:
        raise ArgumentError(f"{where}: expected `{name}` to be a positive int, got {value!r}.")
    return number


def non_negative_int(value: object, *, where: str, name: str) -> int:
    """``value`` as an ``int``, or :class:`ArgumentError` unless it is an integer >= 0."""
    number = _int_or_none(value)
    if number is None or number < 0:
        raise ArgumentError(f"{where}: expected `{name}` to be an int >= 0, got {value!r}.")
    return number


def unit_interval(value: object, *, where: str, name: str, closed: bool = False) -> float:
    """``value`` as a ``float``, or :class:`ArgumentError` unless it lies in ``[0, 1)``
    (``[0, 1]`` with ``closed``)."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    ):
        number = float(value)
        if math.isfinite(number) and number >= 0 and (number <= 1 if closed else number < 1):
            return number
    interval = "[0, 1]" if closed else "[0, 1)"
    raise ArgumentError(f"{where}: expected `{name}` in {interval}, got {value!r}.")


def positive_float(value: object, *, where: str, name: str) -> float:
    """``value`` as a ``float``, or :class:`ArgumentError` unless it is finite and > 0."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    ):
        number = float(value)
        if math.isfinite(number) and number > 0:
            return number
    raise ArgumentError(f"{where}: expected `{name}` to be a finite float > 0, got {value!r}.")

"""Array conversion and validation shared by every layer and op.

The dtype policy lives here, in one place:

* float64 and float32 arrays keep their dtype (float32 training depends on it);
* other real floating dtypes (float16, longdouble) compute in float64;
* bool and integer inputs are promoted to float64;
* complex, object, string, datetime and every other dtype raise :class:`DtypeError`.

So does the policy on extreme values: arithmetic follows IEEE 754 without a
RuntimeWarning (:func:`ieee_arithmetic`). What overflows, a cast to float32 included, is
±inf, what is undefined NaN, and both propagate; the Trainer stops where they reach the
loss or a parameter, and the optimizers refuse them.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from bpcore.errors import DtypeError, NotForwardedError, ShapeError

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
"""A float32 or float64 NumPy array: the only arrays bpcore computes with."""

FloatDType: TypeAlias = np.dtype[np.floating[Any]]

_T = TypeVar("_T")

FLOAT_DTYPES: tuple[FloatDType, FloatDType] = (np.dtype(np.float32), np.dtype(np.float64))
"""The dtypes bpcore computes in and stores parameters in: float32 and float64."""


def ieee_arithmetic() -> np.errstate:
    """The floating-point state every layer, op and optimizer computes in: overflow,
    invalid operations and division by zero give IEEE 754's ±inf and NaN, silently."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def is_float_array(value: object) -> TypeGuard[FloatArray]:
    """Whether ``value`` is a NumPy array of one of :data:`FLOAT_DTYPES`."""
    return isinstance(value, np.ndarray) and value.dtype in FLOAT_DTYPES


def require_float_array(value: object, *, where: str, name: str) -> FloatArray:
    """Return ``value`` itself if it is a float32/float64 array, else raise :class:`DtypeError`.

    For arrays bpcore must hold by reference (parameters, optimizer state): converting
    would copy, and a copy would silently cut the caller's in-place updates off.
    """
    if is_float_array(value):
        return value
    got = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
    raise DtypeError(
        f"{where}: expected `{name}` to be a float32 or float64 numpy array, got {got}."
    )


def resolve_float_dtype(dtype: object, *, where: str, name: str = "dtype") -> FloatDType:
    """Return ``dtype`` as float32 or float64, or raise :class:`DtypeError`.

    Anything NumPy cannot read as a dtype (a misspelt name, an arbitrary object) is an
    error too, never a silent float64.
    """
    try:
        resolved = np.dtype(dtype)  # type: ignore[call-overload]  # any object: judged below
    except (TypeError, ValueError):
        resolved = None
    if resolved is not None:
        for kept in FLOAT_DTYPES:
            if resolved == kept:
                return kept
    raise DtypeError(f"{where}: expected `{name}` float32 or float64, got {dtype!r}.")


MAX_DIMS = 32
"""The most dimensions an input may have: NumPy iterates and broadcasts over at most 32."""


def to_array(value: npt.ArrayLike, *, where: str, name: str) -> npt.NDArray[np.generic]:
    """``np.asarray(value)``, or a :class:`ShapeError` where NumPy cannot make an array of
    it (ragged or too deeply nested lists, objects whose conversion raises) or the array
    has more than :data:`MAX_DIMS` dimensions."""
    if isinstance(value, np.ndarray):
        array = value
    else:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ShapeError(
                f"{where}: expected `{name}` to be a rectangular array of numbers, got a "
                f"{type(value).__name__} that is not one ({exc})."
            ) from exc
    if array.ndim > MAX_DIMS:
        raise ShapeError(
            f"{where}: expected `{name}` with at most {MAX_DIMS} dimensions, got {array.ndim}."
        )
    return array


def float_dtype_for(value: npt.ArrayLike, *, where: str, name: str) -> FloatDType:
    """Return the dtype bpcore computes ``value`` in, or raise :class:`DtypeError`
    (:class:`ShapeError` for what is no array at all, see :func:`to_array`)."""
    dtype = to_array(value, where=where, name=name).dtype
    for kept in FLOAT_DTYPES:
        if dtype == kept:
            return kept
    if dtype.kind in "biuf":
        return np.dtype(np.float64)
    raise DtypeError(
        f"{where}: expected `{name}` to be a real array (float32, float64, integer or bool), "
        f"got dtype {dtype}."
    )


def as_float_array(value: npt.ArrayLike, *, where: str, name: str) -> FloatArray:
    """Convert ``value`` to a float32/float64 array under the dtype policy.

    The result may share memory with ``value`` when no conversion is needed:
    callers must treat it as read-only.
    """
    array = to_array(value, where=where, name=name)
    dtype = float_dtype_for(array, where=where, name=name)
    if is_float_array(array):
        return array
    with ieee_arithmetic():  # a float64 beyond float32's range casts to ±inf
        return np.asarray(array, dtype=dtype)


def as_dtype(value: npt.ArrayLike, dtype: FloatDType, *, where: str, name: str) -> FloatArray:
    """Check ``value`` against the dtype policy, then convert it to ``dtype``.

    The result may share memory with ``value``: callers must treat it as read-only.
    """
    array = to_array(value, where=where, name=name)
    float_dtype_for(array, where=where, name=name)
    if is_float_array(array) and array.dtype == dtype:
        return array
    with ieee_arithmetic():  # a float64 beyond float32's range casts to ±inf
        return np.asarray(array, dtype=dtype)


def computing_dtype(*arrays: FloatArray) -> FloatDType:
    """The dtype a layer computes in from its input and parameters: theirs when they
    share one, else NumPy's promotion of them (float32 with float64 is float64)."""
    first = arrays[0].dtype
    if all(a.dtype == first for a in arrays[1:]):
        return first
    promoted: FloatDType = np.result_type(*arrays)
    return promoted


def require_shape(array: FloatArray, shape: tuple[int, ...], *, where: str, name: str) -> None:
    """Raise :class:`ShapeError` unless ``array.shape == shape``."""
    if array.shape != shape:
        raise ShapeError(f"{where}: expected `{name}` of shape {shape}, got shape {array.shape}.")


def require_forwarded(state: _T | None, *, where: str) -> _T:
    """Return a layer's saved forward state, or raise :class:`NotForwardedError` if it has none."""
    if state is None:
        raise NotForwardedError(f"{where}: backward() was called before forward().")
    return state

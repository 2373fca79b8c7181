"""Validation of classification targets, shared by the loss layer and the loss functions.

A target is either

* class labels: an integer array of shape ``(N,)`` (or a scalar for one sample), or
* distributions: a real array of shape ``(N, C)`` (or ``(C,)``) whose rows are
  non-negative and sum to 1 -- one-hot rows or soft targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType, float_dtype_for, to_array
from bpcore.errors import TargetError

LabelArray: TypeAlias = npt.NDArray[np.intp]


@final
@dataclass(frozen=True, eq=False)
class Targets:
    """Validated targets of a batch of ``n`` samples over ``c`` classes.

    Exactly one of ``labels`` (shape ``(n,)``) and ``dist`` (shape ``(n, c)``) is set.
    Both are private copies, so a caller that later mutates its ``t`` cannot
    change a saved backward pass.
    """

    labels: LabelArray | None
    dist: FloatArray | None


def row_sum_tolerance(classes: int, dtype: FloatDType) -> float:
    """How far a valid distribution's row sum may stray from 1 through rounding alone.

    Normalising ``C`` entries rounds each by at most ``u = eps/2`` (relative), and
    summing them in floating point adds at most ``(C - 1)·u``; in all ``(2C - 1)·u``,
    which ``C·eps`` bounds.
    """
    return classes * float(np.finfo(dtype).eps)


def validate_targets(
    t: npt.ArrayLike, *, n: int, c: int, one_sample: bool, dtype: FloatDType, where: str
) -> Targets:
    """Check ``t`` against a batch of ``n`` samples and ``c`` classes and return a private copy.

    ``one_sample`` means the scores were 1-D, so labels are a scalar and a
    distribution is a single row of shape ``(c,)``.
    """
    t_arr = to_array(t, where=where, name="t")
    label_shape: tuple[int, ...] = () if one_sample else (n,)
    dist_shape: tuple[int, ...] = (c,) if one_sample else (n, c)
    if t_arr.shape == label_shape:
        return Targets(labels=_validate_labels(t_arr, c=c, where=where).reshape(n), dist=None)
    if t_arr.shape == dist_shape:
        dist = _validate_distributions(t_arr, dtype=dtype, where=where).reshape(n, c)
        if np.all((dist == 0) | (dist == 1)):
            # One-hot rows are labels in another form: take the same (more accurate)
            # path, so that the two give bit-identical losses and gradients.
            return Targets(labels=np.argmax(dist, axis=1).astype(np.intp), dist=None)
        return Targets(labels=None, dist=dist)
    raise TargetError(
        f"{where}: expected targets of shape {label_shape} (integer class labels) or "
        f"{dist_shape} (one-hot or soft rows), got shape {t_arr.shape}."
    )


def _validate_labels(t: npt.NDArray[np.generic], *, c: int, where: str) -> LabelArray:
    if t.dtype.kind not in "iu":
        raise TargetError(
            f"{where}: expected class labels of an integer dtype, got dtype {t.dtype}; "
            f"pass one-hot or soft targets with a class axis instead."
        )
    if t.size:
        # The ufuncs' own reductions: t.min() and t.max() add a Python wrapper each.
        low, high = int(np.minimum.reduce(t)), int(np.maximum.reduce(t))
        if low < 0 or high >= c:
            bad = low if low < 0 else high
            raise TargetError(f"{where}: expected class labels in [0, {c - 1}], got label {bad}.")
    return np.array(t, dtype=np.intp, copy=True)


def _validate_distributions(
    t: npt.NDArray[np.generic], *, dtype: FloatDType, where: str
) -> FloatArray:
    t_dtype = float_dtype_for(t, where=where, name="t")
    values = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise TargetError(f"{where}: expected finite target rows, got NaN or infinity.")
    if np.any(values < 0):
        raise TargetError(
            f"{where}: expected non-negative target rows, got minimum {float(np.min(values))!r}."
        )
    classes = values.shape[-1]
    # Judge the sums of the caller's values in float64, against the rounding that the
    # targets' own dtype allows (float16's too, though it computes in float64); the cast
    # to the logits' dtype comes after.
    own: FloatDType = t.dtype if t.dtype.kind == "f" else t_dtype  # type: ignore[assignment]  # a float dtype: kind "f"
    sums = np.asarray(np.sum(values, axis=-1))
    tolerance = row_sum_tolerance(classes, own)
    worst = float(np.max(np.abs(sums - 1.0))) if sums.size else 0.0
    if worst > tolerance:
        raise TargetError(
            f"{where}: expected target rows that sum to 1 (within {tolerance:.1e}), "
            f"got a row that sums to {float(sums.flat[int(np.argmax(np.abs(sums - 1.0)))])!r}."
        )
    return np.array(t, dtype=dtype, copy=True)

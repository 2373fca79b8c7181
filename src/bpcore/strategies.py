"""Hypothesis strategies for checking NumPy layers: shapes, inputs, logits, targets, parameters.

Every strategy takes keyword-only arguments, validates them when it is *built*
(raising :class:`hypothesis.errors.InvalidArgument`), and is typed. They are used
by bpcore's own property suite and work for anyone's layers.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from bpcore._arrays import FloatArray, FloatDType, resolve_float_dtype
from bpcore.errors import DtypeError

__all__ = [
    "EXTREME_MAGNITUDES",
    "affine_cases",
    "batch_shapes",
    "class_labels",
    "float_arrays",
    "kink_arrays",
    "logits",
    "one_hot_targets",
    "separated_arrays",
    "soft_targets",
    "upstream_gradients",
]

LabelArray: TypeAlias = npt.NDArray[np.intp]
AffineCase: TypeAlias = tuple[FloatArray, FloatArray, FloatArray]

EXTREME_MAGNITUDES: tuple[float, ...] = (1e3, 1e10, 1e50, 1e100, 1e200, 1e300)
"""Logit magnitudes that break naive softmax implementations."""


def _check_dtype(dtype: npt.DTypeLike) -> FloatDType:
    try:
        return resolve_float_dtype(dtype, where="bpcore.strategies")
    except DtypeError as exc:  # Hypothesis's own error for a bad strategy argument
        raise InvalidArgument(str(exc)) from None


def _width(dtype: FloatDType) -> Literal[32, 64]:
    """Hypothesis's float width for ``dtype``, so every drawn value is exact in it."""
    return 32 if dtype == np.float32 else 64


def _inward(low: float, high: float, dtype: FloatDType) -> tuple[float, float]:
    """``[low, high]`` narrowed to its ends that ``dtype`` represents: Hypothesis draws
    float32 values only between float32 bounds. Raises InvalidArgument when ``dtype`` has
    no value in the interval."""
    with np.errstate(over="ignore"):  # a float64 bound beyond float32's range rounds to inf
        lo, hi = np.asarray(low, dtype=dtype), np.asarray(high, dtype=dtype)
    if float(lo) < low:
        lo = np.nextafter(lo, np.asarray(np.inf, dtype=dtype))
    if float(hi) > high:
        hi = np.nextafter(hi, np.asarray(-np.inf, dtype=dtype))
    if lo > hi:
        raise InvalidArgument(f"expected a {dtype} value in [{low!r}, {high!r}], got none.")
    return float(lo), float(hi)


def _check_positive_range(name: str, low: int, high: int, *, minimum: int = 1) -> None:
    if low < minimum or high < low:
        raise InvalidArgument(
            f"expected {minimum} <= min_{name} <= max_{name}, "
            f"got min_{name}={low}, max_{name}={high}."
        )


def batch_shapes(
    *,
    min_batch: int = 1,
    max_batch: int = 6,
    min_features: int = 1,
    max_features: int = 6,
    min_feature_dims: int = 1,
    max_feature_dims: int = 1,
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes ``(N, d1, ..., dk)``: a batch axis, then ``k`` feature axes of bounded sizes."""
    _check_positive_range("batch", min_batch, max_batch)
    _check_positive_range("features", min_features, max_features)
    _check_positive_range("feature_dims", min_feature_dims, max_feature_dims)
    return st.tuples(
        st.integers(min_batch, max_batch),
        st.lists(
            st.integers(min_features, max_features),
            min_size=min_feature_dims,
            max_size=max_feature_dims,
        ),
    ).map(lambda pair: (pair[0], *pair[1]))


def _push_away(
    values: FloatArray, kinks: Sequence[float], margin: float, *, allow_subnormal: bool
) -> FloatArray:
    """Move every value closer than ``margin`` to a kink out to the first value of the array's
    dtype that is at least ``margin`` away (and normal, unless subnormals are allowed).

    ``kink ± margin`` is computed in float64 and may round back inside the margin in
    float32 (or to 0 for a margin below float32's range), so the result is stepped
    outwards one representable value at a time until it is clear.
    """
    dtype = values.dtype
    info = np.finfo(dtype)
    moved = np.array(values, dtype=np.float64)
    for kink in kinks:
        near = np.abs(moved - kink) < margin
        side = np.where(moved[near] >= kink, 1.0, -1.0)
        candidate = np.asarray(kink + side * margin, dtype=dtype)
        inside = np.abs(candidate.astype(np.float64) - kink) < margin
        while np.any(inside):
            # The target must be of the same dtype, or nextafter steps in float64.
            outward = np.asarray(side[inside] * np.inf, dtype=dtype)
            candidate[inside] = np.nextafter(candidate[inside], outward)
            inside = np.abs(candidate.astype(np.float64) - kink) < margin
        if not allow_subnormal:
            # Subnormals only arise next to 0: the smallest normal lies further out still.
            subnormal = (candidate != 0) & (np.abs(candidate) < info.tiny)
            candidate[subnormal] = np.copysign(info.tiny, candidate[subnormal])
        moved[near] = candidate
    return moved.astype(dtype)


def float_arrays(
    *,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    dtype: npt.DTypeLike = np.float64,
    min_value: float = -8.0,
    max_value: float = 8.0,
    allow_subnormal: bool = False,
    kinks: Sequence[float] = (),
    margin: float = 0.0,
) -> st.SearchStrategy[FloatArray]:
    """Well-conditioned float arrays: finite, within ``[min_value, max_value]``, no subnormals
    by default, and at least ``margin`` away from every value in ``kinks``.

    Values inside a margin are pushed out to its edge, so the margin is exact, not
    approximate, and the bounds still hold (the margin must fit inside them).
    """
    chosen = _check_dtype(dtype)
    if not (math.isfinite(min_value) and math.isfinite(max_value) and min_value < max_value):
        raise InvalidArgument(
            f"expected finite min_value < max_value, got {min_value!r} and {max_value!r}."
        )
    if margin < 0 or not math.isfinite(margin):
        raise InvalidArgument(f"expected a finite margin >= 0, got {margin!r}.")
    ordered = sorted(kinks)
    if margin and any(b - a < 2 * margin for a, b in itertools.pairwise(ordered)):
        raise InvalidArgument(
            f"expected kinks at least 2·margin = {2 * margin!r} apart, got {ordered}."
        )
    for kink in kinks:
        if margin and not (min_value <= kink - margin and kink + margin <= max_value):
            raise InvalidArgument(
                f"expected kink ± margin inside [{min_value}, {max_value}], "
                f"got kink {kink!r} with margin {margin!r}."
            )
    low, high = _inward(min_value, max_value, chosen)
    elements = st.floats(
        min_value=low,
        max_value=high,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=allow_subnormal,
        width=_width(chosen),
    )
    arrays = hnp.arrays(chosen, shape, elements=elements)
    if margin and kinks:
        return arrays.map(lambda a: _push_away(a, kinks, margin, allow_subnormal=allow_subnormal))
    return arrays


def kink_arrays(
    *,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    kinks: Sequence[float] = (0.0, -0.0),
    dtype: npt.DTypeLike = np.float64,
    min_value: float = -8.0,
    max_value: float = 8.0,
) -> st.SearchStrategy[FloatArray]:
    """Arrays that deliberately contain kink values (by default ``0.0`` and ``-0.0``).

    Every element is a kink value or an ordinary float, and at least one element of a
    non-empty array is a kink value.
    """
    chosen = _check_dtype(dtype)
    if not kinks:
        raise InvalidArgument("expected at least one kink value, got none.")
    ordinary = st.floats(
        *_inward(min_value, max_value, chosen), allow_subnormal=False, width=_width(chosen)
    )
    elements = st.one_of(st.sampled_from(tuple(kinks)), ordinary)

    @st.composite
    def build(draw: st.DrawFn) -> FloatArray:
        array = draw(hnp.arrays(chosen, shape, elements=elements))
        if array.size:
            flat = array.reshape(-1)
            flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from(tuple(kinks)))
        return array

    return build()


def separated_arrays(
    *,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    spacing: float = 1e-2,
    dtype: npt.DTypeLike = np.float64,
    min_value: float = -8.0,
    max_value: float = 8.0,
) -> st.SearchStrategy[FloatArray]:
    """Arrays whose elements differ pairwise by at least ``spacing`` (before rounding to
    ``dtype``): no ties anywhere.

    For layers whose kinks are where two inputs tie (a maximum, a sort, a median): every
    element is distinct, so each finite-difference probe smaller than ``spacing / 2``
    stays on one piece. The values are a random permutation of evenly spaced levels,
    each moved by a random fraction of a quarter ``spacing``, and lie in
    ``[min_value, max_value]``, which must hold ``size`` levels.
    """
    chosen = _check_dtype(dtype)
    if not (math.isfinite(spacing) and spacing > 0):
        raise InvalidArgument(f"expected a finite spacing > 0, got {spacing!r}.")
    low, high = _inward(min_value, max_value, chosen)
    step = 1.25 * spacing  # a quarter of spacing of jitter leaves spacing between levels

    def room(size: int) -> float:
        free = high - low - step * max(size - 1, 0) - 0.25 * spacing
        if free < 0:
            raise InvalidArgument(
                f"expected [{min_value}, {max_value}] to hold {size} values {spacing} apart."
            )
        return free

    if isinstance(shape, tuple):
        room(math.prod(shape))  # a fixed shape is checked when the strategy is built
    shapes = shape if isinstance(shape, st.SearchStrategy) else st.just(shape)

    @st.composite
    def build(draw: st.DrawFn) -> FloatArray:
        drawn = draw(shapes)
        size = math.prod(drawn)
        start = draw(st.floats(low, low + room(size)))
        order = np.asarray(draw(st.permutations(range(size))), dtype=np.float64)
        jitter = draw(hnp.arrays(np.float64, (size,), elements=st.floats(0.0, 0.25 * spacing)))
        values = start + order * step + jitter
        return np.asarray(values.reshape(drawn), dtype=chosen)

    return build()


def logits(
    *,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    dtype: npt.DTypeLike = np.float64,
    magnitudes: Sequence[float] = EXTREME_MAGNITUDES,
    moderate: float = 10.0,
) -> st.SearchStrategy[FloatArray]:
    """Logit arrays mixing moderate values (``|x| <= moderate``) with ``±m`` for ``m`` in
    ``magnitudes`` (``1e3`` up to ``1e300`` by default), all finite in ``dtype``."""
    chosen = _check_dtype(dtype)
    largest = float(np.finfo(chosen).max)
    if any(not (0 < m <= largest) for m in magnitudes):
        raise InvalidArgument(
            f"expected magnitudes in (0, {largest:.3g}] for {chosen}, got {list(magnitudes)}."
        )
    extremes = [s * m for m in magnitudes for s in (1.0, -1.0)]
    elements = st.floats(
        *_inward(-moderate, moderate, chosen), allow_subnormal=False, width=_width(chosen)
    )
    if extremes:
        elements = st.one_of(elements, st.sampled_from(extremes))
    return hnp.arrays(chosen, shape, elements=elements)


def _check_classes(n: int, classes: int) -> None:
    if n < 1 or classes < 1:
        raise InvalidArgument(f"expected n >= 1 and classes >= 1, got n={n}, classes={classes}.")


def class_labels(*, n: int, classes: int) -> st.SearchStrategy[LabelArray]:
    """Integer class labels of shape ``(n,)`` in ``[0, classes)``."""
    _check_classes(n, classes)
    return hnp.arrays(np.dtype(np.intp), (n,), elements=st.integers(0, classes - 1))


def one_hot_targets(
    *, n: int, classes: int, dtype: npt.DTypeLike = np.float64
) -> st.SearchStrategy[FloatArray]:
    """One-hot rows of shape ``(n, classes)``."""
    chosen = _check_dtype(dtype)
    return class_labels(n=n, classes=classes).map(lambda t: np.eye(classes, dtype=chosen)[t])


def soft_targets(
    *, n: int, classes: int, dtype: npt.DTypeLike = np.float64
) -> st.SearchStrategy[FloatArray]:
    """Soft target rows of shape ``(n, classes)``: non-negative, each summing to 1 (within
    the ``classes·eps`` that normalisation rounding allows)."""
    chosen = _check_dtype(dtype)
    weights = hnp.arrays(
        np.dtype(np.float64), (n, classes), elements=st.floats(0.0, 1.0, allow_subnormal=False)
    )

    def normalise(w: FloatArray) -> FloatArray:
        w = w.copy()
        empty = w.sum(axis=1) == 0
        w[empty, 0] = 1.0  # an all-zero row is no distribution: put its mass on class 0
        return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=chosen)

    _check_classes(n, classes)
    return weights.map(normalise)


def upstream_gradients(
    *, shape: tuple[int, ...], dtype: npt.DTypeLike = np.float64, bound: float = 4.0
) -> st.SearchStrategy[FloatArray]:
    """Upstream gradients ``dout`` of ``shape``: finite, within ``±bound``, no subnormals."""
    if not (math.isfinite(bound) and bound > 0):
        raise InvalidArgument(f"expected a finite bound > 0, got {bound!r}.")
    return float_arrays(shape=shape, dtype=dtype, min_value=-bound, max_value=bound)


def affine_cases(
    *,
    dtype: npt.DTypeLike = np.float64,
    max_batch: int = 5,
    max_in: int = 6,
    max_out: int = 5,
    max_feature_dims: int = 3,
    bound: float = 3.0,
) -> st.SearchStrategy[AffineCase]:
    """``(W, b, x)`` for an Affine layer: ``W`` ``(D, M)``, ``b`` ``(M,)`` and ``x`` of shape
    ``(N, D)`` or ``(N, d1, ..., dk)`` with ``d1·…·dk = D``."""
    chosen = _check_dtype(dtype)
    _check_positive_range("batch", 1, max_batch)
    _check_positive_range("in", 1, max_in)
    _check_positive_range("out", 1, max_out)
    _check_positive_range("feature_dims", 1, max_feature_dims)

    @st.composite
    def build(draw: st.DrawFn) -> AffineCase:
        feature_shape = draw(
            st.lists(st.integers(1, 3), min_size=1, max_size=max_feature_dims).filter(
                lambda dims: math.prod(dims) <= max_in
            )
        )
        d_in = math.prod(feature_shape)
        d_out = draw(st.integers(1, max_out))
        n = draw(st.integers(1, max_batch))
        W = draw(float_arrays(shape=(d_in, d_out), dtype=chosen, min_value=-bound, max_value=bound))
        b = draw(float_arrays(shape=(d_out,), dtype=chosen, min_value=-bound, max_value=bound))
        x = draw(
            float_arrays(shape=(n, *feature_shape), dtype=chosen, min_value=-bound, max_value=bound)
        )
        return W, b, x

    return build()

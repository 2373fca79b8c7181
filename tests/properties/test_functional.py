"""Properties of the functions relu, sigmoid, tanh, softmax and log_softmax: the dtype policy
on inputs of any shape, softmax over the last axis, stability for every finite input in
float32 and float64, and accuracy against independent oracles."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import cross_entropy_error, log_softmax, relu, sigmoid, softmax, tanh
from bpcore import strategies as bst

FLOAT_DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])
ELEMENTWISE: dict[str, Callable[[npt.ArrayLike], np.ndarray]] = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
}
ROWWISE: dict[str, Callable[[npt.ArrayLike], np.ndarray]] = {
    "softmax": softmax,
    "log_softmax": log_softmax,
}

ANY_SHAPE = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
"""Every rank from 0-d to 4-D, empty axes included: the element-wise ops accept any shape."""

LOGIT_SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
"""Logits ``(..., C)`` of rank 1 to 4 with ``C >= 1``."""

INTEGER_DTYPES = st.sampled_from(
    [np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int32, np.int64)]
)


def _unit_roundoff(dtype: np.dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def _any_finite(dtype: np.dtype, shape: st.SearchStrategy[tuple[int, ...]]) -> st.SearchStrategy:
    """Finite arrays of ``dtype`` over its whole range, or logits mixing moderate values with
    the extreme magnitudes the strategies know (those finite in ``dtype``)."""
    big = float(np.finfo(dtype).max)
    magnitudes = [m for m in bst.EXTREME_MAGNITUDES if m <= big]
    return st.one_of(
        bst.float_arrays(shape=shape, dtype=dtype, min_value=-big, max_value=big),
        bst.logits(shape=shape, dtype=dtype, magnitudes=magnitudes),
    )


@given(data=st.data(), dtype=FLOAT_DTYPES, name=st.sampled_from(sorted(ELEMENTWISE)))
def test_elementwise_ops_keep_the_shape_and_a_float_dtype(
    data: st.DataObject, dtype: np.dtype, name: str
) -> None:
    """relu, sigmoid and tanh return a new array of x's shape and dtype, for any shape (0-d and
    empty included), and leave x untouched."""
    x = data.draw(bst.float_arrays(shape=ANY_SHAPE, dtype=dtype))
    before = x.tobytes()
    y = ELEMENTWISE[name](x)
    assert y.shape == x.shape
    assert y.dtype == dtype
    assert not np.shares_memory(y, x)
    assert x.tobytes() == before


@given(data=st.data(), dtype=INTEGER_DTYPES, name=st.sampled_from(sorted(ELEMENTWISE)))
def test_elementwise_ops_compute_integers_and_bools_in_float64(
    data: st.DataObject, dtype: np.dtype, name: str
) -> None:
    """Integer and bool inputs of any shape give float64 results equal to those of the same
    values given as float64."""
    x = data.draw(hnp.arrays(dtype, ANY_SHAPE))
    y = ELEMENTWISE[name](x)
    assert y.dtype == np.float64
    assert y.tobytes() == ELEMENTWISE[name](x.astype(np.float64)).tobytes()


@given(
    data=st.data(),
    dtype=st.one_of(FLOAT_DTYPES, INTEGER_DTYPES),
    name=st.sampled_from(sorted(ROWWISE)),
)
def test_softmax_and_log_softmax_keep_the_shape_and_follow_the_dtype_policy(
    data: st.DataObject, dtype: np.dtype, name: str
) -> None:
    """Logits (..., C) of any rank give a new array of their shape, float32 staying float32 and
    integers and bools computing in float64; the logits are left untouched."""
    if dtype.kind == "f":
        x = data.draw(bst.float_arrays(shape=LOGIT_SHAPES, dtype=dtype))
    else:
        x = data.draw(hnp.arrays(dtype, LOGIT_SHAPES))
    before = x.tobytes()
    y = ROWWISE[name](x)
    assert y.shape == x.shape
    assert y.dtype == (dtype if dtype.kind == "f" else np.float64)
    assert not np.shares_memory(y, x)
    assert x.tobytes() == before


@given(data=st.data(), dtype=FLOAT_DTYPES, name=st.sampled_from(sorted(ROWWISE)))
def test_softmax_works_on_each_row_of_the_last_axis_alone(
    data: st.DataObject, dtype: np.dtype, name: str
) -> None:
    """For N-D logits, the result at any leading index is bit for bit the result for that
    row alone: the function acts over the last axis, row by row."""
    x = data.draw(_any_finite(dtype, LOGIT_SHAPES))
    y = ROWWISE[name](x)
    index = tuple(data.draw(st.integers(0, size - 1)) for size in x.shape[:-1])
    assert y[index].tobytes() == ROWWISE[name](x[index]).tobytes()


def _oracle_rows(row: np.ndarray) -> tuple[list[float], list[float], float, float]:
    """For one float row, in float64 with ``math``: ``z = x - max``, ``exp(z)``, and
    ``r = Σ_{j≠top} exp(z_j)`` with ``S = Σ_{j≠top} exp(z_j)·(|z_j| + 3)``, the size of the
    rounding errors that ``r`` accumulates (each ``exp(z_j)`` is computed from a ``z_j``
    rounded by ``u·|z_j|``, and exp itself rounds within ``2u``)."""
    values = [float(v) for v in row]
    top = max(range(len(values)), key=lambda j: (values[j], -j))
    z = [v - values[top] for v in values]
    e = [math.exp(v) if j != top else 1.0 for j, v in enumerate(z)]
    rest = math.fsum(e[j] for j in range(len(e)) if j != top)
    size = math.fsum(e[j] * (abs(z[j]) + 3) for j in range(len(e)) if j != top and e[j] > 0)
    return z, e, rest, size


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_softmax_rows_are_distributions_for_any_finite_logits(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """Any finite logits, up to the dtype's largest value, give finite non-negative rows that
    sum to 1 within C·eps, and each probability is the oracle's ``exp(z_j) / Σ exp(z)`` to
    its rounding: no overflow, no NaN, no warning."""
    shape = data.draw(
        st.one_of(
            LOGIT_SHAPES,
            st.tuples(st.integers(1, 3), st.integers(1, 300)),  # many classes
        )
    )
    x = data.draw(_any_finite(dtype, st.just(shape)))
    y = softmax(x)
    assert np.all(np.isfinite(y))
    assert np.all(y >= 0)
    c = x.shape[-1]
    u = _unit_roundoff(dtype)
    eta = float(np.finfo(dtype).smallest_subnormal)
    sums = y.astype(np.float64).sum(axis=-1)
    assert np.all(np.abs(sums - 1.0) <= c * float(np.finfo(dtype).eps))
    rows_x = x.reshape(-1, c)
    rows_y = y.reshape(-1, c).astype(np.float64)
    for row, got in zip(rows_x, rows_y, strict=True):
        z, e, rest, size = _oracle_rows(row)
        expected = np.array(e) / (1.0 + rest)
        # y_j = exp(z_j) / (1 + r): z_j rounds by u·|z_j|, which exp(z_j) carries relative,
        # with exp's own 2u; r errs by u·(S + C·r) (S from the oracle, C·r for the sum);
        # 1 + r and the division round once each. Subnormal results err by up to η per
        # operation, C + 4 of them. Where exp(z_j) is 0, only the η term is left.
        positive = expected > 0
        relative = u * (np.abs(np.array(z)[positive]) + 5) + u * (size + c * rest) / (1.0 + rest)
        bound = np.full(c, (c + 4) * eta)
        bound[positive] += expected[positive] * relative
        assert np.all(np.abs(got - expected) <= bound), row


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_log_softmax_is_accurate_for_probabilities_near_one(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """log_softmax(x)_j = z_j - log Σ exp(z) to the rounding of its terms, with the
    normaliser log1p(Σ_{j≠top} exp(z_j)) accurate relative to itself: a probability of
    1 - 1e-30 has the log -1e-30, not 0. Any finite logits give no NaN and no warning."""
    c = data.draw(st.integers(1, 6))
    n = data.draw(st.integers(1, 4))
    x = data.draw(_any_finite(dtype, st.just((n, c))))
    if data.draw(st.booleans()):
        # A confident row: the top class far ahead, so its probability is 1 - tiny.
        gap = data.draw(st.floats(0.0, 80.0 if dtype == np.float64 else 30.0))
        x = np.array(x, dtype=np.float64)
        x = np.clip(x, -50.0, 50.0)
        x[:, 0] = np.max(x, axis=1) + gap
        x = x.astype(dtype)
    got = log_softmax(x).astype(np.float64)
    assert not np.any(np.isnan(got))
    assert np.all(got <= 0)
    u = _unit_roundoff(dtype)
    eta = float(np.finfo(dtype).smallest_subnormal)
    for row, value in zip(x, got, strict=True):
        z, _, rest, size = _oracle_rows(row)
        lse = math.log1p(rest)
        expected = np.array([v - lse for v in z])
        with np.errstate(over="ignore"):  # a value beyond the dtype's range rounds to -inf
            rounded = expected.astype(dtype)
        finite = np.isfinite(rounded)
        assert np.array_equal(value[~finite], rounded[~finite].astype(np.float64))
        # z_j rounds by u·|z_j|; r errs by u·(S + C·r) (S from the oracle, C·r for the sum),
        # which moves log1p(r) by at most that over 1 + r; log1p and the subtraction round
        # once each, and subnormal terms add up to η each.
        lse_error = u * (size + c * rest) / (1.0 + rest) + u * lse + (c + 2) * eta
        bound = u * np.abs(np.array(z)) + u * np.abs(expected) + lse_error
        assert np.all(np.abs(value[finite] - expected[finite]) <= bound[finite]), row


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_sigmoid_is_finite_and_accurate_for_any_finite_input(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """sigmoid of any finite float32 or float64 array lies in [0, 1] with no warning, and is
    the oracle 1 / (1 + e^-x) to a few units of roundoff relative."""
    x = data.draw(_any_finite(dtype, bst.batch_shapes(max_feature_dims=2)))
    y = sigmoid(x)
    assert y.dtype == dtype
    assert np.all((y >= 0) & (y <= 1))
    u = _unit_roundoff(dtype)
    eta = float(np.finfo(dtype).smallest_subnormal)
    for value, got in zip(x.reshape(-1), y.reshape(-1), strict=True):
        v = float(value)
        e = math.exp(-abs(v)) if abs(v) < 745 else 0.0
        expected = 1 / (1 + e) if v >= 0 else e / (1 + e)
        # Ours rounds exp(-|x|) (within 2u), 1 + e and the quotient: 4u relative, or η
        # absolute where the result underflows; the math oracle errs by as much again.
        assert abs(float(got) - expected) <= 8 * u * expected + 2 * eta, v


@st.composite
def probabilities_and_targets(
    draw: st.DrawFn, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities ``y`` ``(N, C)`` (softmax of drawn logits, some rows with exact zeros),
    integer labels, their one-hot rows and soft rows, all in ``dtype``."""
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    y = softmax(draw(bst.float_arrays(shape=(n, c), dtype=dtype, min_value=-30, max_value=30)))
    labels = draw(bst.class_labels(n=n, classes=c))
    soft = draw(bst.soft_targets(n=n, classes=c, dtype=dtype))
    return y, labels, np.eye(c, dtype=dtype)[labels], soft


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_cross_entropy_error_takes_every_target_encoding(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """cross_entropy_error(y, t) takes integer labels (N,), one-hot rows and soft rows shaped
    like y, and for one sample a (C,) y with a scalar label or a (C,) row: labels and their
    one-hot rows give the same float bit for bit, one sample is the batch of one, and soft
    rows give -(1/N) Σ t·log y to its rounding."""
    y, labels, one_hot, soft = data.draw(probabilities_and_targets(dtype))
    by_label = cross_entropy_error(y, labels)
    assert isinstance(by_label, float)
    assert by_label == cross_entropy_error(y, one_hot)
    k = data.draw(st.integers(0, y.shape[0] - 1))
    assert cross_entropy_error(y[k], int(labels[k])) == cross_entropy_error(
        y[k : k + 1], labels[k : k + 1]
    )
    assert cross_entropy_error(y[k], soft[k]) == cross_entropy_error(y[k : k + 1], soft[k : k + 1])
    y64, t64 = y.astype(np.float64), soft.astype(np.float64)
    n, c = y.shape
    with np.errstate(divide="ignore"):
        logs = np.log(y64)
    terms = [float(t * v) for t, v in zip(t64.reshape(-1), logs.reshape(-1), strict=True) if t != 0]
    expected = -math.fsum(terms) / n
    got = cross_entropy_error(y, soft)
    if math.isinf(expected):
        assert got == expected
        return
    # log rounds each of N·C values within u·|log y| (plus the absolute 2u of numpy's log near
    # 1), each product and the sum add one rounding apiece, then the mean: (N·C + 4)·u relative
    # to Σ|t·log y|, plus 2u·Σ t per row for the absolute part.
    u = _unit_roundoff(dtype)
    size = math.fsum(abs(v) for v in terms) / n
    assert abs(got - expected) <= (n * c + 4) * u * size + 2 * u * c

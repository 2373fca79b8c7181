"""SoftmaxWithLoss-specific properties: the exact gradient, invariances, extreme logits."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import SoftmaxWithLoss, log_softmax, softmax
from bpcore import strategies as bst

U64 = float(np.finfo(np.float64).eps) / 2
ETA64 = float(np.finfo(np.float64).smallest_subnormal)


@st.composite
def batches(draw: st.DrawFn, *, extreme: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits (N, C), labels (N,) and the matching one-hot rows."""
    n = draw(st.integers(1, 6))
    c = draw(st.integers(1, 6))
    if extreme:
        x = draw(bst.logits(shape=(n, c)))
    else:
        x = draw(bst.float_arrays(shape=(n, c), min_value=-30, max_value=30))
    t = draw(bst.class_labels(n=n, classes=c))
    return x, t, np.eye(c)[t]


DOUTS = st.floats(-4, 4, allow_subnormal=False)


@given(batch=batches(), dout=DOUTS)
def test_gradient_rows_sum_to_zero(batch: tuple[np.ndarray, ...], dout: float) -> None:
    """Each gradient row sums to 0 within C·u·|dout|/N per row (C terms of size <= |dout|/N)."""
    x, t, _ = batch
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(dout)
    n, c = x.shape
    # Each of the C elements is a product rounded by at most u·|dout|/N, or by η/2 (the
    # smallest subnormal, halved) where it underflows, as for dout near the smallest
    # normal number; the row sum adds at most as much again.
    bound = 2 * (c + 2) * U64 * abs(dout) / n + (c + 2) * ETA64
    assert np.all(np.abs(dx.sum(axis=1)) <= bound)


@given(dout=st.sampled_from([2.2250738585072014e-308, -2.2250738585072014e-308]))
def test_gradient_rows_sum_to_zero_when_they_underflow(dout: float) -> None:
    """With dout at the smallest normal number the gradient is subnormal, and its rows
    still sum to 0 within the underflow allowance of the property above."""
    x = np.full((5, 5), -7.0)
    x[2, :2] = [0.0, 4.8326507097077]
    t = np.zeros(5, dtype=np.intp)
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(dout)
    row_sums = np.abs(dx.sum(axis=1))
    relative_part = 2 * (5 + 2) * U64 * abs(dout) / 5
    assert float(np.max(row_sums)) > relative_part  # only the η term covers this
    assert np.all(row_sums <= relative_part + (5 + 2) * ETA64)


@given(batch=batches(), dout=DOUTS)
def test_gradient_is_dout_times_softmax_minus_t_over_n(
    batch: tuple[np.ndarray, ...], dout: float
) -> None:
    """backward(dout) equals dout·(softmax(x) - t)/N, against the separate softmax function."""
    x, t, one_hot = batch
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    n = x.shape[0]
    expected = dout * (softmax(x) - one_hot) / n
    # Same formula evaluated in another order: a few roundings of values <= |dout|/N.
    np.testing.assert_allclose(
        layer.backward(dout), expected, rtol=0, atol=8 * U64 * abs(dout) / n + 1e-300
    )


@given(batch=batches(), shift=st.floats(-1e3, 1e3))
def test_loss_is_shift_invariant_and_non_negative(
    batch: tuple[np.ndarray, ...], shift: float
) -> None:
    """Adding a constant to every logit of a row leaves the loss unchanged, and the loss is >= 0."""
    x, t, _ = batch
    loss = SoftmaxWithLoss().forward(x, t)
    shifted = SoftmaxWithLoss().forward(x + shift, t)
    assert loss >= 0
    # x + shift rounds each logit by u·(|x| + |shift|): the loss moves by at most twice that.
    bound = 4 * U64 * (float(np.max(np.abs(x))) + abs(shift)) + 4 * U64 * loss
    assert abs(shifted - loss) <= bound


@given(batch=batches(extreme=True), dout=DOUTS)
def test_labels_and_one_hot_give_identical_results(
    batch: tuple[np.ndarray, ...], dout: float
) -> None:
    """Integer labels and the equivalent one-hot rows give the same loss and gradient."""
    x, t, one_hot = batch
    by_label, by_row = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert by_label.forward(x, t) == by_row.forward(x, one_hot)
    np.testing.assert_array_equal(by_label.backward(dout), by_row.backward(dout))


@given(batch=batches(extreme=True), dout=DOUTS)
def test_extreme_logits_stay_finite(batch: tuple[np.ndarray, ...], dout: float) -> None:
    """Logits up to ±1e300 give a finite loss and gradient, with no warning."""
    x, t, _ = batch
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward(dout)
    assert np.isfinite(loss)
    assert loss >= 0
    assert np.all(np.isfinite(dx))


@given(data=st.data())
def test_one_dimensional_input_is_a_batch_of_one(data: st.DataObject) -> None:
    """A (C,) input with a scalar label behaves exactly as the (1, C) batch."""
    c = data.draw(st.integers(1, 6))
    x = data.draw(bst.float_arrays(shape=(c,)))
    label = data.draw(st.integers(0, c - 1))
    dout = data.draw(DOUTS)
    single, batch = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert single.forward(x, label) == batch.forward(x[None], np.array([label]))
    np.testing.assert_array_equal(single.backward(dout), batch.backward(dout)[0])


U32 = float(np.finfo(np.float32).eps) / 2
ETA32 = float(np.finfo(np.float32).smallest_subnormal)


@st.composite
def float32_soft_batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits and float32 soft targets, drawn towards ``softmax(x)`` so that
    ``y - t`` cancels: ``t = λ·softmax(x) + (1 - λ)·w``, renormalised in float64."""
    n = draw(st.integers(1, 4))
    c = draw(st.integers(2, 6))
    scale = draw(st.sampled_from([2.0**-10, 1.0, 32.0]))  # exact in float32
    x = draw(bst.float_arrays(shape=(n, c), dtype=np.float32, min_value=-scale, max_value=scale))
    w = draw(bst.soft_targets(n=n, classes=c))
    near = draw(st.sampled_from([0.0, 0.9, 0.999, 1.0]))
    t = near * softmax(x.astype(np.float64)) + (1 - near) * w
    return x, (t / t.sum(axis=1, keepdims=True)).astype(np.float32)


@given(batch=float32_soft_batches(), dout=DOUTS)
def test_float32_soft_target_gradient_is_as_accurate_as_softmax(
    batch: tuple[np.ndarray, np.ndarray], dout: float
) -> None:
    """In float32, the soft-target gradient errs by no more than the rounding of softmax itself."""
    x, t = batch
    n, c = x.shape
    d = np.float32(dout)
    low, exact = SoftmaxWithLoss(), SoftmaxWithLoss()
    low.forward(x, t)
    exact.forward(x.astype(np.float64), t)  # the same float32 data, in float64
    error = np.abs(low.backward(d).astype(np.float64) - exact.backward(np.float64(d)))
    y = exact.y
    assert y is not None
    x64 = x.astype(np.float64)
    z = x64 - x64.max(axis=1, keepdims=True)
    s = t.astype(np.float64).sum(axis=1, keepdims=True)
    # Bound, per element, in units of u32 times |dout|/N:
    # * y_j carries the relative error of z_j = x_j - max (|z_j|), of exp, of the row
    #   sum (C - 2 terms, each off by up to max|z|·u), of the normaliser 1 + Σ (one
    #   rounding) and of the division: within (|z_j| + max|z| + C + 3)·u of y_j plus
    #   exp's own few ulps, which (|z_j| + max|z| + 2C + 10)·u covers. For the top
    #   class with y >= 1/2 the layer uses the complement 1 - y (the sum of the others)
    #   instead, with the same relative error, so the size that counts is
    #   m = min(y, 1 - y) there;
    # * y - t, (1 - t) - (1 - y), the scaling by dout/N: three roundings of |s·y - t|;
    # * y·(s - 1): its cast, product and sum, three roundings of its size.
    m = y.copy()
    rows = np.arange(n)
    top = y.argmax(axis=1)
    confident = y[rows, top] >= 0.5
    not_top = np.arange(c) != top[:, None]
    others = np.where(not_top, y, 0.0).sum(axis=1)  # 1 - y_top, without the cancellation
    m[rows[confident], top[confident]] = others[confident]
    z_max = np.abs(z).max(axis=1, keepdims=True)
    units = m * (np.abs(z) + z_max + 2 * c + 10) + 3 * np.abs(s * y - t) + 3 * np.abs(y * (s - 1))
    bound = U32 * units * abs(float(d)) / n + ETA32
    assert np.all(error <= bound), float(np.max(error / bound))


FLOAT_DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


@st.composite
def one_sample_targets(
    draw: st.DrawFn, c: int, dtype: np.dtype
) -> tuple[int | np.ndarray, np.ndarray]:
    """A target for one sample of ``c`` classes in each documented form: a scalar label, a
    one-hot row ``(C,)`` or a soft row ``(C,)``; and the same target as a batch of one."""
    form = draw(st.sampled_from(["label", "one-hot", "soft"]))
    label = draw(st.integers(0, c - 1))
    if form == "label":
        return label, np.array([label])
    if form == "one-hot":
        row = np.eye(c, dtype=dtype)[label]
    else:
        row = draw(bst.soft_targets(n=1, classes=c, dtype=dtype))[0]
    return row, row[None]


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_one_sample_with_any_target_encoding_is_a_batch_of_one(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """A (C,) input behaves exactly as the (1, C) batch, whether its target is a scalar label,
    a one-hot row or a soft row, in float32 and float64; the gradient has the input's shape."""
    c = data.draw(st.integers(1, 6))
    x = data.draw(bst.float_arrays(shape=(c,), dtype=dtype))
    t, batch_t = data.draw(one_sample_targets(c, dtype))
    dout = np.asarray(data.draw(DOUTS), dtype=dtype)
    single, batch = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert single.forward(x, t) == batch.forward(x[None], batch_t)
    dx = single.backward(dout)
    assert dx.shape == (c,)
    assert dx.dtype == dtype
    assert dx.tobytes() == batch.backward(dout)[0].tobytes()


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_labels_and_one_hot_rows_give_identical_results_in_either_dtype(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """Integer labels and the equivalent one-hot rows (in the logits' dtype) give the same
    loss and gradient bit for bit, float32 included."""
    n, c = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    magnitudes = [m for m in bst.EXTREME_MAGNITUDES if m <= float(np.finfo(dtype).max)]
    x = data.draw(bst.logits(shape=(n, c), dtype=dtype, magnitudes=magnitudes))
    t = data.draw(bst.class_labels(n=n, classes=c))
    one_hot = np.eye(c, dtype=dtype)[t]
    dout = np.asarray(data.draw(DOUTS), dtype=dtype)
    by_label, by_row = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert by_label.forward(x, t) == by_row.forward(x, one_hot)
    assert by_label.backward(dout).tobytes() == by_row.backward(dout).tobytes()


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_a_confident_loss_keeps_its_relative_accuracy(data: st.DataObject, dtype: np.dtype) -> None:
    """When every label is its row's top class, the loss is log1p(Σ_{j≠t} exp(z_j)) averaged,
    accurate relative to itself however small: a confident prediction's loss is not 0."""
    n, c = data.draw(st.integers(1, 6)), data.draw(st.integers(2, 6))
    x = data.draw(bst.float_arrays(shape=(n, c), dtype=dtype)).astype(np.float64)
    gap = data.draw(st.floats(0.0, 60.0 if dtype == np.float64 else 20.0))
    t = data.draw(bst.class_labels(n=n, classes=c))
    x[np.arange(n), t] = np.max(x, axis=1) + gap + 1.0
    x = x.astype(dtype)
    loss = SoftmaxWithLoss().forward(x, t)
    x64 = x.astype(np.float64)
    terms = []
    for row, label in zip(x64, t, strict=True):
        z = [float(v - row[label]) for v in row]
        terms.append(math.log1p(math.fsum(math.exp(v) for j, v in enumerate(z) if j != label)))
    expected = math.fsum(terms) / n
    assert loss > 0
    # Each term: z_j = x_j - x_t rounds by u·|z_j|, which exp carries relative, exp within
    # 2u, the C - 1 term sum (C - 2)u and log1p u; then the mean sums N terms of one sign,
    # N·u, and divides, u. With |z_j| <= 16 + gap + 1 for the drawn rows, as the loop's z.
    u = float(np.finfo(dtype).eps) / 2
    z_max = max(abs(float(v)) for row, label in zip(x64, t, strict=True) for v in row - row[label])
    bound = u * (z_max + c + n + 6) * expected + n * float(np.finfo(dtype).smallest_subnormal)
    assert abs(loss - expected) <= bound


@given(data=st.data(), dtype=FLOAT_DTYPES)
def test_large_batches_keep_the_exact_gradient_and_the_mean_loss(
    data: st.DataObject, dtype: np.dtype
) -> None:
    """Batches of up to 3000 samples and up to 300 classes (beyond the pairwise-summation
    blocks of 128 along either axis): y is bit for bit softmax(x), labels and one-hot rows
    agree bit for bit, backward(dout) is dout·(softmax(x) - t)/N and the loss is the mean of
    the per-sample losses -log_softmax(x)[n, t_n]."""
    n = data.draw(st.integers(1, 3000))
    c = data.draw(st.integers(1, max(1, min(300, 60_000 // n))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scale = data.draw(st.sampled_from([1.0, 30.0]))
    x = (scale * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, size=n)
    dout = np.asarray(data.draw(DOUTS), dtype=dtype)
    by_label, by_row = SoftmaxWithLoss(), SoftmaxWithLoss()
    loss = by_label.forward(x, t)
    assert loss == by_row.forward(x, np.eye(c, dtype=dtype)[t])
    assert by_label.y is not None
    assert by_label.y.tobytes() == softmax(x).tobytes()
    dx = by_label.backward(dout)
    assert dx.tobytes() == by_row.backward(dout).tobytes()
    u = float(np.finfo(dtype).eps) / 2
    eta = float(np.finfo(dtype).smallest_subnormal)
    y = by_label.y.astype(np.float64)
    expected = float(dout) * (y - np.eye(c)[t]) / n
    # As for small batches: the same formula in another order, a few roundings of values of
    # size at most |dout|/N, each rounding within u of it, or η where it underflows.
    assert np.all(np.abs(dx - expected) <= 8 * u * abs(float(dout)) / n + 4 * eta)
    per_sample = -log_softmax(x).astype(np.float64)[np.arange(n), t]
    # The layer sums the same N terms (its own z - lse, bit for bit log_softmax's) in float
    # arithmetic of the dtype, then divides: N·u relative to Σ|terms|, and one rounding more.
    mean = math.fsum(per_sample) / n
    assert abs(loss - mean) <= (n + 1) * u * math.fsum(np.abs(per_sample)) / n + eta

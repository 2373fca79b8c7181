"""SoftmaxWithLoss-specific properties: the exact gradient, invariances, extreme logits."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bpcore import SoftmaxWithLoss, softmax
from bpcore import strategies as bst

U64 = float(np.finfo(np.float64).eps) / 2


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
    bound = 2 * (c + 2) * U64 * abs(dout) / n
    assert np.all(np.abs(dx.sum(axis=1)) <= bound)


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

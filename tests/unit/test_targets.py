"""The targets SoftmaxWithLoss accepts: integer labels and one-hot or soft rows, what forward
keeps of them, the rounding allowance on a row's sum, and the gradient of soft targets."""

from __future__ import annotations

import numpy as np
import pytest

from bpcore import SoftmaxWithLoss, TargetError
from tests.helpers import assert_error


def test_soft_target_gradient_uses_the_target_row_sum() -> None:
    """With soft targets, backward is the exact gradient ``s·softmax(x) - t`` where ``s`` is
    the target row's sum, which rounding lets differ from 1 by up to C·eps."""
    eps = float(np.finfo(np.float64).eps)
    t = np.array([[0.5, 0.5 + eps]])  # sums to s = 1 + eps, within the 2·eps allowed for C = 2
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((1, 2)), t)
    s = float(t.sum())
    assert s == 1 + eps
    # Equal logits give softmax = [1/2, 1/2]; s·y - t = [eps/2, -eps/2] is then exact in
    # float64 (every value is a multiple of eps/4 below 2), and so is the assertion.
    np.testing.assert_array_equal(layer.backward(), s * np.full((1, 2), 0.5) - t)
    np.testing.assert_array_equal(layer.backward(), [[eps / 2, -eps / 2]])


def test_softmax_with_loss_keeps_the_validated_targets() -> None:
    """After forward, ``t`` holds the targets as validated: the labels, or the soft rows."""
    labels = np.array([1, 0])
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((2, 2)), labels)
    assert layer.t is not None
    np.testing.assert_array_equal(layer.t, labels)
    assert layer.t.dtype == np.intp
    rows = np.array([[0.25, 0.75], [0.5, 0.5]])
    layer.forward(np.zeros((2, 2)), rows)
    assert layer.t is not None
    np.testing.assert_array_equal(layer.t, rows)


@pytest.mark.parametrize(
    "t",
    [np.array([1, 0], dtype=np.intp), np.array([[0.25, 0.75], [0.5, 0.5]])],
    ids=["labels", "rows"],
)
def test_softmax_with_loss_keeps_a_private_copy_of_the_targets(t: np.ndarray) -> None:
    """Editing ``t`` in place after forward changes neither the saved ``t`` nor backward."""
    layer = SoftmaxWithLoss()
    layer.forward(np.array([[0.0, 1.0], [2.0, -1.0]]), t)
    saved = np.array(layer.t, copy=True)
    dx = layer.backward()
    t[...] = t[::-1]
    np.testing.assert_array_equal(layer.t, saved)
    np.testing.assert_array_equal(layer.backward(), dx)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint16, np.int64])
def test_labels_of_any_integer_dtype_are_kept_as_intp(dtype: type[np.integer]) -> None:
    """Integer labels of any width are validated into intp labels."""
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((2, 3)), np.array([2, 0], dtype=dtype))
    assert layer.t is not None
    assert layer.t.dtype == np.intp
    np.testing.assert_array_equal(layer.t, [2, 0])


def test_one_sample_keeps_its_label_as_a_batch_of_one() -> None:
    """A (C,) input with a scalar label saves the labels a batch of one would: shape (1,)."""
    single = SoftmaxWithLoss()
    single.forward(np.zeros(3), 2)
    assert single.t is not None
    assert single.t.shape == (1,)
    np.testing.assert_array_equal(single.t, [2])


def test_target_rows_off_by_exactly_the_allowance_are_accepted() -> None:
    """A row whose sum is off by exactly C·eps, the rounding allowance, is still valid."""
    eps = float(np.finfo(np.float64).eps)
    t = np.array([[0.5, 0.5 + 2 * eps]])  # C = 2: the sum is 1 + 2·eps, exactly representable
    assert float(t.sum()) - 1.0 == 2 * eps
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((1, 2)), t)
    assert layer.t is not None


def test_float32_target_rows_are_judged_by_their_exact_sum() -> None:
    """Row sums are judged exactly, not in the targets' float32 arithmetic, whose rounding
    would hide an excess over the 2·eps32 allowance of two classes."""
    step = float(np.finfo(np.float32).eps) / 2  # the float32 spacing just above 0.5
    t = np.array([[0.5, 0.5 + 5 * step]], dtype=np.float32)
    exact = float(t.astype(np.float64).sum()) - 1.0
    assert exact == 2.5 * float(np.finfo(np.float32).eps)
    # In float32 the sum 1 + 2.5·eps32 is a tie and rounds to even, 1 + 2·eps32: allowed.
    assert float(t.sum(dtype=np.float32)) - 1.0 == 2 * float(np.finfo(np.float32).eps)
    assert_error(
        TargetError,
        lambda: SoftmaxWithLoss().forward(np.zeros((1, 2), dtype=np.float32), t),
        callee="SoftmaxWithLoss.forward",
        expected="target rows that sum to 1",
        got="a row that sums to",
    )


def test_float16_target_rows_are_judged_by_float16_rounding() -> None:
    """float16 rows computed as float64 but stored in float16: (0.1, 0.2, 0.7) rounds to
    a sum of 1 + 1.2e-4, within 3·eps16 = 2.9e-3 and far over 3·eps64; accepted. A row
    off by 4·eps16 (0.5, 0.5 + 4·eps16) exceeds even 2·eps16 and is refused."""
    good = np.array([[0.1, 0.2, 0.7]], dtype=np.float16)
    assert 1e-4 < float(good.astype(np.float64).sum()) - 1.0 < 3 * float(np.finfo(np.float16).eps)
    assert np.isfinite(SoftmaxWithLoss().forward(np.zeros((1, 3)), good))
    eps16 = float(np.finfo(np.float16).eps)
    bad = np.array([[0.5, 0.5 + 4 * eps16]], dtype=np.float16)
    assert_error(
        TargetError,
        lambda: SoftmaxWithLoss().forward(np.zeros((1, 2)), bad),
        callee="SoftmaxWithLoss.forward",
        expected="target rows that sum to 1",
        got="a row that sums to",
    )


@pytest.mark.parametrize(
    ("rows", "bad"),
    [([[0.5, 0.2, 0.2], [1.0, 0.0, 0.0]], 0), ([[1.0, 0.0, 0.0], [0.6, 0.5, 0.0]], 1)],
    ids=["below-one", "above-one"],
)
def test_a_bad_target_row_is_reported_by_its_sum(rows: list[list[float]], bad: int) -> None:
    """The TargetError quotes the sum of the row that is not a distribution, whether it
    falls short of 1 or exceeds it, not the sum of a valid row."""
    t = np.array(rows)
    assert_error(
        TargetError,
        lambda: SoftmaxWithLoss().forward(np.zeros((2, 3)), t),
        callee="SoftmaxWithLoss.forward",
        expected="target rows that sum to 1",
        got=f"a row that sums to {float(t[bad].sum())!r}",
    )

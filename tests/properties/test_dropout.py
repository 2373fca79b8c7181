"""Dropout: the book's mask rule from the generator passed in, the inference scaling, and
determinism given the generator; its errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import Dropout
from bpcore import strategies as bst
from bpcore.errors import (
    ArgumentError,
    ArgumentTypeError,
    BpcoreError,
    NotForwardedError,
    ShapeError,
)
from tests.helpers import assert_error

DTYPES = st.sampled_from([np.float64, np.float32])
SHAPES = bst.batch_shapes(max_feature_dims=3)
RATIOS = st.sampled_from([0.0, 0.1, 0.5, 0.9])


@given(data=st.data(), dtype=DTYPES, ratio=RATIOS, seed=st.integers(0, 2**32 - 1))
def test_training_keeps_x_where_the_generators_draw_exceeds_the_ratio(
    data: st.DataObject, dtype: type[np.floating], ratio: float, seed: int
) -> None:
    """keep = rng.random(x.shape) > ratio on the generator given; forward is x where keep
    holds and +0.0 elsewhere, backward dout likewise; mask is keep."""
    x = data.draw(bst.float_arrays(shape=SHAPES, dtype=dtype))
    dout = data.draw(bst.float_arrays(shape=x.shape, dtype=dtype))
    layer = Dropout(ratio, rng=np.random.default_rng(seed))
    keep = np.random.default_rng(seed).random(x.shape) > ratio
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert (out.dtype, dx.dtype) == (np.dtype(dtype), np.dtype(dtype))
    np.testing.assert_array_equal(layer.mask, keep)
    np.testing.assert_array_equal(out, np.where(keep, x, 0.0))
    np.testing.assert_array_equal(dx, np.where(keep, dout, 0.0))
    assert not np.any(np.signbit(out[~keep])), "dropped units are +0.0"


@given(data=st.data(), dtype=DTYPES, ratio=RATIOS)
def test_inference_scales_by_one_minus_the_ratio(
    data: st.DataObject, dtype: type[np.floating], ratio: float
) -> None:
    """forward(x, train_flg=False) = x·(1 - ratio), the training output's expectation, and
    backward scales dout the same; no mask is drawn."""
    x = data.draw(bst.float_arrays(shape=SHAPES, dtype=dtype))
    rng = np.random.default_rng(0)
    layer = Dropout(ratio, rng=rng)
    state = rng.bit_generator.state
    factor = dtype(1 - ratio)
    out = layer.forward(x, train_flg=False)
    np.testing.assert_array_equal(out, x * factor)
    np.testing.assert_array_equal(layer.backward(x), x * factor)
    assert out.dtype == dtype
    assert rng.bit_generator.state == state
    assert layer.mask is None


def test_a_draw_equal_to_the_ratio_drops_its_unit() -> None:
    """keep needs a draw strictly above the ratio: with dropout_ratio set to one of the
    generator's own draws, that unit is dropped and the larger draws are kept."""
    draws = np.random.default_rng(11).random(6)
    ratio = float(draws[2])
    layer = Dropout(ratio, rng=11)
    out = layer.forward(np.ones(6))
    np.testing.assert_array_equal(layer.mask, draws > ratio)
    np.testing.assert_array_equal(out, np.where(draws > ratio, 1.0, 0.0))
    assert out[2] == 0.0


def test_masks_are_fresh_every_forward_and_the_same_for_the_same_seed() -> None:
    """Each training forward draws a new mask; two layers seeded alike draw the same ones."""
    x = np.ones((50, 20))
    first, second = Dropout(0.5, rng=7), Dropout(0.5, rng=7)
    masks = [first.forward(x) for _ in range(2)]
    assert not np.array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(second.forward(x), masks[0])
    np.testing.assert_array_equal(second.forward(x), masks[1])


def test_the_kept_share_is_one_minus_the_ratio() -> None:
    """Over 10^6 units the kept share is 1 - ratio within 5 standard deviations of a
    binomial count, sqrt(p(1 - p)/n) <= 5e-4."""
    for ratio in (0.2, 0.5, 0.8):
        kept = Dropout(ratio, rng=1).forward(np.ones(1_000_000)).mean()
        assert abs(kept - (1 - ratio)) <= 5 * np.sqrt(ratio * (1 - ratio) / 1_000_000)


@pytest.mark.parametrize(
    ("call", "error", "callee", "expected", "got"),
    [
        (lambda: Dropout(1.0), ArgumentError, "Dropout", "`dropout_ratio` in [0, 1)", "1.0"),
        (lambda: Dropout(-0.1), ArgumentError, "Dropout", "`dropout_ratio` in [0, 1)", "-0.1"),
        (lambda: Dropout("0.5"), ArgumentError, "Dropout", "`dropout_ratio`", "'0.5'"),  # type: ignore[arg-type]  # wrong on purpose
        (lambda: Dropout(rng=-1), ArgumentError, "Dropout", "seed >= 0", "-1"),
        (lambda: Dropout(rng="x"), ArgumentTypeError, "Dropout",  # type: ignore[arg-type]  # wrong on purpose
         "numpy.random.Generator, an int seed or None", "str"),
        (lambda: Dropout().backward(np.ones(3)), NotForwardedError, "Dropout.backward", None, None),
    ],
    ids=["ratio 1", "ratio negative", "ratio string", "negative seed", "rng string",
         "not forwarded"],
)  # fmt: skip
def test_bad_arguments_name_the_callee_and_what_was_expected(
    call: Callable[[], object],
    error: type[BpcoreError],
    callee: str,
    expected: str | None,
    got: str | None,
) -> None:
    """Each bad call raises its documented error, naming the callee, what it expected and
    what it got."""
    assert_error(error, call, callee=callee, expected=expected, got=got)


@pytest.mark.parametrize("train", [True, False])
def test_a_dout_of_the_wrong_shape_is_refused(train: bool) -> None:
    """backward wants dout of x's shape, in either mode."""
    layer = Dropout()
    layer.forward(np.ones((2, 3)), train_flg=train)
    assert_error(
        ShapeError,
        lambda: layer.backward(np.ones((3, 2))),
        callee="Dropout.backward",
        expected="`dout` of shape (2, 3)",
        got="(3, 2)",
    )

"""The public strategies' defaults reach the ends they document, and no further.

A default narrowed by one (a batch of at least 2, say) would silently stop the gate from
trying the case it drops: these tests find each documented end, and check every draw
stays inside.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis.errors import InvalidArgument, NoSuchExample

from bpcore import strategies as bst
from bpcore._arrays import FloatArray

Shape = tuple[int, ...]


def assert_refused(build: Callable[[], object], *, expected: str, got: str) -> None:
    """``build()`` raises InvalidArgument saying what was expected and what was received
    (each a substring of the part after "expected" and after "got")."""
    with pytest.raises(InvalidArgument) as caught:
        build()
    message = str(caught.value)
    assert expected in message.partition("expected")[2], message
    assert got in message.partition("got")[2], message


@pytest.mark.parametrize(
    "reached",
    [
        lambda s: s[0] == 1,
        lambda s: s[0] == 6,
        lambda s: s[1] == 1,
        lambda s: s[1] == 6,
    ],
    ids=["batch-1", "batch-6", "features-1", "features-6"],
)
def test_batch_shapes_reach_both_ends_by_default(reached: Callable[[Shape], bool]) -> None:
    """By default a batch of 1 to 6 samples, each with 1 to 6 features, every end reached."""
    assert reached(find(bst.batch_shapes(), reached))


@given(shape=bst.batch_shapes())
def test_batch_shapes_default_to_one_feature_axis_within_1_to_6(shape: Shape) -> None:
    """By default exactly one feature axis, and every size within [1, 6]."""
    assert len(shape) == 2
    assert all(1 <= size <= 6 for size in shape)


@pytest.mark.parametrize(
    "reached",
    [lambda a: float(a[0]) <= -7.5, lambda a: float(a[0]) >= 7.5],
    ids=["below", "above"],
)
def test_float_arrays_reach_both_ends_by_default(reached: Callable[[FloatArray], bool]) -> None:
    """By default values come from [-8, 8], both ends reached."""
    assert reached(find(bst.float_arrays(shape=(1,)), reached))


@given(x=bst.float_arrays(shape=bst.batch_shapes()))
def test_float_arrays_default_to_normal_float64_within_8(x: FloatArray) -> None:
    """By default float64, within [-8, 8], and no subnormal values."""
    assert x.dtype == np.float64
    assert np.all(np.abs(x) <= 8.0)
    assert not np.any((x != 0) & (np.abs(x) < np.finfo(np.float64).tiny))


@pytest.mark.parametrize(
    ("build", "name", "low", "high"),
    [
        (lambda: bst.batch_shapes(min_batch=0), "batch", 0, 6),
        (lambda: bst.batch_shapes(min_features=3, max_features=2), "features", 3, 2),
        (lambda: bst.batch_shapes(min_feature_dims=0), "feature_dims", 0, 1),
    ],
    ids=["batch", "features", "feature_dims"],
)
def test_batch_shapes_name_the_bad_range(
    build: Callable[[], object], name: str, low: int, high: int
) -> None:
    """A bad range is named with both of its ends."""
    assert_refused(
        build,
        expected=f"1 <= min_{name} <= max_{name}",
        got=f"min_{name}={low}, max_{name}={high}",
    )


def test_batch_shapes_never_leave_their_default_ends() -> None:
    """No search finds a default shape with more than one feature axis or a size outside
    [1, 6] (find searches harder than a property's examples do)."""
    with pytest.raises(NoSuchExample):
        find(bst.batch_shapes(), lambda s: len(s) != 2 or not all(1 <= d <= 6 for d in s))


def test_float_arrays_never_leave_their_default_ends() -> None:
    """No search finds a default value outside [-8, 8]."""
    with pytest.raises(NoSuchExample):
        find(bst.float_arrays(shape=(3,)), lambda a: bool(np.any(np.abs(a) > 8.0)))


def test_kinks_without_a_margin_move_nothing() -> None:
    """The default margin is 0: naming kinks alone keeps values right next to them."""
    near = find(bst.float_arrays(shape=(1,), kinks=(0.0,)), lambda a: 0 < abs(float(a[0])) < 0.5)
    assert 0 < abs(float(near[0])) < 0.5


def test_a_margin_may_reach_the_bounds_exactly() -> None:
    """kink ± margin may touch min_value and max_value; the values then span them."""
    strategy = bst.float_arrays(shape=(1,), min_value=-1.0, max_value=1.0, kinks=(0.0,), margin=1.0)
    assert abs(float(find(strategy, lambda a: True)[0])) == 1.0


@pytest.mark.parametrize(
    ("build", "expected", "got"),
    [
        (
            lambda: bst.float_arrays(shape=(1,), min_value=1.0, max_value=1.0),
            "finite min_value < max_value",
            "1.0 and 1.0",
        ),
        (
            lambda: bst.float_arrays(shape=(1,), kinks=(2.0, 2.5), margin=0.3),
            "kinks at least 2·margin = 0.6 apart",
            "[2.0, 2.5]",
        ),
        (
            lambda: bst.float_arrays(
                shape=(1,), min_value=-1.0, max_value=1.0, kinks=(-0.75,), margin=0.5
            ),
            "kink ± margin inside [-1.0, 1.0]",
            "kink -0.75 with margin 0.5",
        ),
    ],
    ids=["empty-range", "close-kinks", "kink-below-the-range"],
)
def test_float_arrays_name_what_they_refuse(
    build: Callable[[], object], expected: str, got: str
) -> None:
    """An empty value range, kinks closer than two margins, or a kink whose margin leaves
    the value range, are refused with what was expected and what was given."""
    assert_refused(build, expected=expected, got=got)


def test_kinks_exactly_two_margins_apart_are_allowed() -> None:
    """Two margins apart, the two forbidden intervals touch without overlapping: the
    strategy builds, and the one value left between the kinks is the point they share."""
    strategy = bst.float_arrays(shape=(1,), kinks=(0.0, 1.0), margin=0.5)
    assert float(find(strategy, lambda a: 0.0 < float(a[0]) < 1.0)[0]) == 0.5


def test_float_arrays_draw_no_subnormal_by_default() -> None:
    """No search finds a subnormal value unless allow_subnormal is set."""
    tiny = np.finfo(np.float64).tiny

    def subnormal(a: FloatArray) -> bool:
        return bool(np.any((a != 0) & (np.abs(a) < tiny)))

    with pytest.raises(NoSuchExample):
        find(bst.float_arrays(shape=(3,)), subnormal)
    assert subnormal(find(bst.float_arrays(shape=(3,), allow_subnormal=True), subnormal))

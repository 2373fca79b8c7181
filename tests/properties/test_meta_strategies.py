"""Meta-tests: the public strategies produce what they claim and reject bad arguments eagerly."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from bpcore import strategies as bst
from bpcore._targets import row_sum_tolerance
from bpcore.registry import NETWORK_MARGIN, RELU_MARGIN, Case, registered, registry_cases

SHAPES = bst.batch_shapes(max_feature_dims=3)


@given(shape=SHAPES)
def test_batch_shapes_respect_their_bounds(shape: tuple[int, ...]) -> None:
    """Shapes have a batch axis in [1, 6] and one to three feature axes in [1, 6]."""
    assert 2 <= len(shape) <= 4
    assert all(1 <= size <= 6 for size in shape)


@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    margin=st.floats(0.0, 0.5),
)
def test_float_arrays_stay_in_bounds_and_away_from_kinks(
    data: st.DataObject, dtype: type[np.floating], margin: float
) -> None:
    """Values are finite, within bounds, normal (no subnormals) and at least `margin` from kinks."""
    kinks = (0.0, 1.0)
    x = data.draw(
        bst.float_arrays(
            shape=SHAPES, dtype=dtype, min_value=-3.0, max_value=3.0, kinks=kinks, margin=margin
        )
    )
    assert x.dtype == dtype
    assert np.all(np.isfinite(x))
    assert np.all((x >= -3.0) & (x <= 3.0))
    tiny = np.finfo(dtype).tiny
    assert not np.any((x != 0) & (np.abs(x) < tiny))
    for kink in kinks:
        assert np.all(np.abs(x.astype(np.float64) - kink) >= margin)


@given(x=bst.kink_arrays(shape=SHAPES))
def test_kink_arrays_contain_a_kink(x: np.ndarray) -> None:
    """Every kink array holds at least one of its kink values (0.0 or -0.0 by default)."""
    assert np.any(x == 0.0)


@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    spacing=st.sampled_from([1e-3, 1e-2, 0.05]),  # 216 values 0.05 apart fit in [-8, 8]
)
def test_separated_arrays_never_tie(
    data: st.DataObject, dtype: type[np.floating], spacing: float
) -> None:
    """Any two elements differ by at least spacing, less their rounding to the dtype (at most
    u·8 each at |x| <= 8), and all lie within the bounds, in the shape and dtype asked for."""
    shapes = bst.batch_shapes(max_feature_dims=2)
    x = data.draw(bst.separated_arrays(shape=shapes, spacing=spacing, dtype=dtype))
    assert x.dtype == dtype
    assert np.all((x >= -8.0) & (x <= 8.0))
    gaps = np.diff(np.sort(x.reshape(-1).astype(np.float64)))
    assert np.all(gaps >= spacing - 2 * 8 * float(np.finfo(dtype).eps) / 2)


@given(x=bst.logits(shape=(4, 5)))
def test_logits_are_finite_and_drawn_from_moderate_or_extreme_values(x: np.ndarray) -> None:
    """Logits are finite, either moderate (|x| <= 10) or exactly ±m for a listed magnitude."""
    assert np.all(np.isfinite(x))
    extremes = {s * m for m in bst.EXTREME_MAGNITUDES for s in (1.0, -1.0)}
    assert all(abs(v) <= 10 or v in extremes for v in x.flat)


@given(data=st.data(), n=st.integers(1, 6), classes=st.integers(1, 8))
def test_targets_are_labels_one_hot_rows_and_distributions(
    data: st.DataObject, n: int, classes: int
) -> None:
    """Labels lie in range; one-hot rows have a single 1; soft rows are >= 0 and sum to 1."""
    labels = data.draw(bst.class_labels(n=n, classes=classes))
    assert labels.shape == (n,)
    assert np.all((labels >= 0) & (labels < classes))
    one_hot = data.draw(bst.one_hot_targets(n=n, classes=classes))
    assert np.all(one_hot.sum(axis=1) == 1)
    assert np.all((one_hot == 0) | (one_hot == 1))
    soft = data.draw(bst.soft_targets(n=n, classes=classes))
    assert np.all(soft >= 0)
    tolerance = row_sum_tolerance(classes, soft.dtype)
    assert np.all(np.abs(soft.sum(axis=1) - 1) <= tolerance)


@given(case=bst.affine_cases(max_feature_dims=3))
def test_affine_cases_match_their_shapes(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """W is (D, M), b is (M,), and x is (N, d1, ..., dk) with d1·…·dk = D."""
    W, b, x = case
    assert W.ndim == 2
    assert b.shape == (W.shape[1],)
    assert x.ndim >= 2
    assert math.prod(x.shape[1:]) == W.shape[0]


@given(case=registry_cases(names=["TwoLayerNet", "MultiLayerNet-relu"]))
def test_relu_network_cases_keep_hidden_units_off_the_kink(case: Case) -> None:
    """Every hidden pre-activation of a registered ReLU network case is NETWORK_MARGIN from 0."""
    h = case.inputs["x"]
    depth = len(case.params) // 2
    for i in range(1, depth):
        a = h @ case.params[f"W{i}"] + case.params[f"b{i}"]
        assert np.all(np.abs(a) >= NETWORK_MARGIN * (1 - 1e-9))
        h = np.maximum(a, 0)


@given(case=registry_cases())
def test_registry_cases_come_from_registered_specs(case: Case) -> None:
    """A registry case names a registered spec and can build its layer in both dtypes."""
    assert case.spec in registered()
    for dtype in (np.float32, np.float64):
        assert case.layer(dtype) is not None


@pytest.mark.parametrize(
    "build",
    [
        lambda: bst.batch_shapes(min_batch=0),
        lambda: bst.batch_shapes(min_features=3, max_features=2),
        lambda: bst.float_arrays(shape=(2,), min_value=1.0, max_value=-1.0),
        lambda: bst.float_arrays(shape=(2,), min_value=-1.0, max_value=math.inf),
        lambda: bst.float_arrays(shape=(2,), margin=-1.0),
        lambda: bst.float_arrays(
            shape=(2,), min_value=-1.0, max_value=1.0, kinks=(0.9,), margin=0.5
        ),
        lambda: bst.float_arrays(shape=(2,), dtype=np.int64),
        lambda: bst.kink_arrays(shape=(2,), kinks=()),
        lambda: bst.float_arrays(shape=(2,), kinks=(0.0, 0.5), margin=0.3),
        lambda: bst.logits(shape=(2,), dtype=np.float32, magnitudes=(1e300,)),
        lambda: bst.class_labels(n=0, classes=3),
        lambda: bst.soft_targets(n=2, classes=0),
        lambda: bst.upstream_gradients(shape=(2,), bound=0.0),
        lambda: bst.affine_cases(max_batch=0),
        lambda: bst.separated_arrays(shape=(2,), spacing=0.0),
        lambda: bst.separated_arrays(shape=(100,), spacing=1.0),
        lambda: bst.float_arrays(
            shape=(2,), dtype=np.float32, min_value=0.1, max_value=0.1 + 1e-12
        ),
    ],
)
def test_strategies_reject_bad_arguments_when_built(build: object) -> None:
    """Invalid arguments raise InvalidArgument at construction, before any example is drawn."""
    assert callable(build)
    with pytest.raises(InvalidArgument, match="expected"):
        build()


def test_registry_cases_reject_unknown_layers() -> None:
    """Asking for an unregistered layer name fails with the list of registered ones."""
    with pytest.raises(ValueError, match=r"got unknown \['NoSuchLayer'\]"):
        registry_cases(names=["NoSuchLayer"])


DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


@given(data=st.data(), dtype=DTYPES, bound=st.sampled_from([1e-3, 1.0, 4.0, 1e30]))
def test_upstream_gradients_are_finite_normal_and_within_their_bound(
    data: st.DataObject, dtype: np.dtype, bound: float
) -> None:
    """dout has the shape and dtype asked for, and is finite, within ±bound, no subnormal,
    for any bound, whether the dtype represents it or not (1e-3 in float32)."""
    dout = data.draw(bst.upstream_gradients(shape=(3, 4), dtype=dtype, bound=bound))
    assert (dout.shape, dout.dtype) == ((3, 4), dtype)
    assert np.all(np.isfinite(dout))
    assert np.all(np.abs(dout) <= bound)
    nonzero = dout[dout != 0]
    assert np.all(np.abs(nonzero) >= np.finfo(dtype).tiny)


@given(data=st.data(), dtype=DTYPES)
def test_every_strategy_draws_in_the_dtype_asked_for(data: st.DataObject, dtype: np.dtype) -> None:
    """Logits, kink arrays, one-hot and soft targets and Affine cases come in the dtype asked
    for, their values finite in it; kink arrays hold kink values or ordinary values within
    their bounds."""
    magnitudes = [m for m in bst.EXTREME_MAGNITUDES if m <= float(np.finfo(dtype).max)]
    x = data.draw(bst.logits(shape=(3, 4), dtype=dtype, magnitudes=magnitudes))
    assert x.dtype == dtype
    assert np.all(np.isfinite(x))
    kinks = data.draw(bst.kink_arrays(shape=(3, 4), dtype=dtype, kinks=(1.5,), max_value=4.0))
    assert kinks.dtype == dtype
    assert np.all((kinks == 1.5) | ((kinks >= -8.0) & (kinks <= 4.0)))
    for rows in (
        data.draw(bst.one_hot_targets(n=3, classes=4, dtype=dtype)),
        data.draw(bst.soft_targets(n=3, classes=4, dtype=dtype)),
    ):
        assert (rows.shape, rows.dtype) == ((3, 4), dtype)
    for array in data.draw(bst.affine_cases(dtype=dtype)):
        assert array.dtype == dtype


def test_every_strategy_takes_keyword_arguments_only() -> None:
    """Every public strategy function takes its arguments by keyword only."""
    for name in bst.__all__:
        value = getattr(bst, name)
        if callable(value):
            kinds = {p.kind for p in inspect.signature(value).parameters.values()}
            assert kinds <= {inspect.Parameter.KEYWORD_ONLY}, name


@given(case=registry_cases(names=["Relu"]))
def test_relu_cases_keep_their_inputs_relu_margin_from_the_kink(case: Case) -> None:
    """Registered ReLU inputs stay RELU_MARGIN away from 0, where the checker's probes
    would straddle the kink."""
    assert np.all(np.abs(case.inputs["x"]) >= RELU_MARGIN)

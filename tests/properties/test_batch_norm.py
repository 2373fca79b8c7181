"""BatchNormalization: batch statistics in training, running ones in inference, the running
statistics' update, the book's flattening of 4-D input; its errors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import BatchNormalization
from bpcore import strategies as bst
from bpcore._arrays import FLOAT_DTYPES
from bpcore.errors import ArgumentError, BpcoreError, DtypeError, NotForwardedError, ShapeError
from tests.helpers import assert_error

DTYPES = st.sampled_from([np.float64, np.float32])
EPS = 1e-6  # the layer's documented default
SHAPES = st.tuples(st.integers(1, 8), st.integers(1, 5))


def _unit_roundoff(dtype: type[np.floating]) -> float:
    return float(np.finfo(dtype).eps) / 2


@given(data=st.data(), shape=SHAPES, dtype=DTYPES)
def test_training_output_has_mean_0_and_variance_var_over_var_plus_eps_per_feature(
    data: st.DataObject, shape: tuple[int, int], dtype: type[np.floating]
) -> None:
    """With γ = 1 and β = 0, each feature of the output has mean 0 and (biased) variance
    σ²/(σ² + eps), σ² the feature's batch variance: 1 wherever σ² >> eps."""
    x = data.draw(bst.float_arrays(shape=shape, dtype=dtype, min_value=-4.0, max_value=4.0))
    n, d = shape
    layer = BatchNormalization(np.ones(d, dtype=dtype), np.zeros(d, dtype=dtype))
    out = layer.forward(x).astype(np.float64)
    u = _unit_roundoff(dtype)
    for k in range(d):
        column = [float(v) for v in x[:, k]]
        mean = math.fsum(column) / n
        var = math.fsum((v - mean) ** 2 for v in column) / n
        s = math.sqrt(var + EPS)
        top = max(abs(v) for v in column)
        # Each x̂ errs by at most (n + 4)·u·((|x| + S)/s + |x̂|·(S/s + 1)), S = max |x|: the
        # rounding of x - μ and of σ² carried through 1/s (the oracle's size, derived in
        # bpcore._declarations_ch67); |x̂| <= sqrt(n). The mean then errs by that much, the
        # variance by twice it times max |x̂|, plus its own sum's (n + 4)·u.
        worst = max(abs(v - mean) / s for v in column)
        delta = (n + 4) * u * (2 * top / s + worst * (top / s + 1))
        got = [float(v) for v in out[:, k]]
        got_mean = math.fsum(got) / n
        got_var = math.fsum((v - got_mean) ** 2 for v in got) / n
        assert abs(got_mean) <= delta
        assert abs(got_var - var / (var + EPS)) <= 2 * delta * (worst + delta) + (n + 4) * u


@given(data=st.data(), shape=SHAPES, momentum=st.sampled_from([0.0, 0.5, 0.9, 1.0]))
def test_training_moves_the_running_statistics_by_momentum(
    data: st.DataObject, shape: tuple[int, int], momentum: float
) -> None:
    """running ← m·running + (1 - m)·batch statistic, for the mean and the (biased)
    variance, from the statistics given; the caller's arrays are never written."""
    x = data.draw(bst.float_arrays(shape=shape, min_value=-4.0, max_value=4.0))
    n, d = shape
    start_mean = data.draw(bst.float_arrays(shape=(d,), min_value=-2.0, max_value=2.0))
    start_var = data.draw(bst.float_arrays(shape=(d,), min_value=0.0, max_value=2.0))
    given_mean, given_var = start_mean.copy(), start_var.copy()
    layer = BatchNormalization(
        np.ones(d), np.zeros(d), momentum, running_mean=start_mean, running_var=start_var
    )
    layer.forward(x)
    np.testing.assert_array_equal(start_mean, given_mean)
    np.testing.assert_array_equal(start_var, given_var)
    assert layer.running_mean is not None
    assert layer.running_var is not None
    u = _unit_roundoff(np.float64)
    for k in range(d):
        column = [float(v) for v in x[:, k]]
        mean = math.fsum(column) / n
        var = math.fsum((v - mean) ** 2 for v in column) / n
        top = max(abs(v) for v in column)
        # NumPy's sums err by at most (n + 4)·u times the sum of |terms|; the update adds
        # two products and a sum: the same bound on the terms' sizes covers them.
        mean_bound = (n + 4) * u * (abs(start_mean[k]) + top)
        var_bound = (n + 4) * u * (abs(start_var[k]) + 4 * top * top)
        assert (
            abs(layer.running_mean[k] - (momentum * start_mean[k] + (1 - momentum) * mean))
            <= mean_bound
        )
        assert (
            abs(layer.running_var[k] - (momentum * start_var[k] + (1 - momentum) * var))
            <= var_bound
        )


@given(data=st.data(), shape=SHAPES, dtype=DTYPES)
def test_inference_uses_the_running_statistics_per_sample_and_leaves_them(
    data: st.DataObject, shape: tuple[int, int], dtype: type[np.floating]
) -> None:
    """In inference mode every sample is γ·(x - running_mean)/sqrt(running_var + eps) + β
    alone (a sub-batch gives its rows bit for bit), and the statistics do not move."""
    x = data.draw(bst.float_arrays(shape=shape, dtype=dtype, min_value=-4.0, max_value=4.0))
    d = shape[1]
    gamma = data.draw(bst.float_arrays(shape=(d,), dtype=dtype, min_value=-2.0, max_value=2.0))
    beta = data.draw(bst.float_arrays(shape=(d,), dtype=dtype, min_value=-2.0, max_value=2.0))
    mean = data.draw(bst.float_arrays(shape=(d,), dtype=dtype, min_value=-2.0, max_value=2.0))
    var = data.draw(bst.float_arrays(shape=(d,), dtype=dtype, min_value=0.0, max_value=2.0))
    layer = BatchNormalization(gamma, beta, running_mean=mean, running_var=var)
    out = layer.forward(x, train_flg=False)
    assert out.dtype == dtype
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_var, var)
    np.testing.assert_array_equal(layer.forward(x[-1:], train_flg=False), out[-1:])
    s = np.sqrt(var.astype(np.float64) + EPS)
    x64, g64, b64 = x.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64)
    # x̂ first, as the layer does: γ·(x - mean) can underflow where γ·x̂ does not.
    expected = g64 * ((x64 - mean) / s) + b64
    # Five roundings in the layer's dtype, each of at most u times the size of its terms
    # plus half the smallest subnormal where a product underflows (γ·x̂ of tiny factors).
    size = np.abs(g64) * (np.abs(x64) + np.abs(mean)) / s + np.abs(expected) + np.abs(b64)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    assert np.all(np.abs(out - expected) <= 8 * (_unit_roundoff(dtype) * size + tiny))


@given(data=st.data())
def test_four_d_input_normalizes_each_of_its_c_h_w_features(data: st.DataObject) -> None:
    """(N, C, H, W) is normalized as (N, C·H·W), the book's flattening: the same output,
    reshaped, and the same gradients."""
    shape = data.draw(
        st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2))
    )
    x = data.draw(bst.float_arrays(shape=shape, min_value=-4.0, max_value=4.0))
    d = math.prod(shape[1:])
    gamma = data.draw(bst.float_arrays(shape=(d,), min_value=-2.0, max_value=2.0))
    beta = np.zeros(d)
    dout = data.draw(bst.float_arrays(shape=shape, min_value=-2.0, max_value=2.0))
    four, two = BatchNormalization(gamma, beta), BatchNormalization(gamma, beta)
    np.testing.assert_array_equal(
        four.forward(x), two.forward(x.reshape(shape[0], d)).reshape(shape)
    )
    np.testing.assert_array_equal(
        four.backward(dout), two.backward(dout.reshape(shape[0], d)).reshape(shape)
    )
    np.testing.assert_array_equal(four.grads["gamma"], two.grads["gamma"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_running_statistics_start_at_zeros_on_the_first_forward(
    dtype: type[np.floating],
) -> None:
    """Without given statistics, the first forward starts them at zeros (the book's) in
    the layer's dtype, so a first training step moves them to (1 - m) times the batch's,
    and float32 stays float32."""
    layer = BatchNormalization(np.ones(2, dtype), np.zeros(2, dtype), momentum=0.75)
    assert layer.running_mean is None
    layer.forward(np.array([[1.0, 2.0], [3.0, 6.0]], dtype))
    statistics = (layer.running_mean, layer.running_var)
    assert [np.asarray(statistic).dtype for statistic in statistics] == [dtype, dtype]
    np.testing.assert_array_equal(layer.running_mean, [0.5, 1.0])  # exact in both dtypes
    np.testing.assert_array_equal(layer.running_var, [0.25, 1.0])


def test_float64_running_statistics_leave_a_float32_layers_output_in_float32() -> None:
    """Given float64 running statistics, a float32 layer's inference output is still in the
    dtype of x, gamma and beta: the statistics do not widen it."""
    rng = np.random.default_rng(2)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    gamma, beta = rng.standard_normal(3).astype(np.float32), np.zeros(3, np.float32)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    layer = BatchNormalization(gamma, beta, running_mean=mean, running_var=var)
    out = layer.forward(x, train_flg=False)
    assert out.dtype == np.float32
    expected = gamma * ((x - mean) / np.sqrt(var + EPS)) + beta
    # A few float64 operations (about 5·2^-53 relative) and one rounding to float32
    # (2^-24): well within 2^-23 of the float64 reference.
    np.testing.assert_allclose(out, expected, rtol=2.0**-23)


@pytest.mark.parametrize("train", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize(
    "dtypes",
    list(itertools.product(FLOAT_DTYPES, repeat=3)),
    ids=lambda dtypes: "-".join(d.name for d in dtypes),
)
def test_gradients_keep_their_dtypes_at_the_promoted_precision(
    dtypes: tuple[np.dtype, np.dtype, np.dtype], train: bool
) -> None:
    """With any mix of float32 and float64 among x, gamma and beta, the layer computes in
    their promoted dtype: out, and dx, dgamma and dbeta rounded to the dtypes of x, gamma
    and beta, are bit for bit those of a layer given all three in the promoted dtype."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3)).astype(dtypes[0])
    gamma, beta = rng.standard_normal(3).astype(dtypes[1]), rng.standard_normal(3).astype(dtypes[2])
    dout = rng.standard_normal((4, 3))
    promoted = np.result_type(*dtypes)
    results = []
    for x_dtype, g_dtype, b_dtype in (dtypes, (promoted,) * 3):
        layer = BatchNormalization(gamma.astype(g_dtype), beta.astype(b_dtype))
        out = layer.forward(x.astype(x_dtype), train_flg=train)
        dx = layer.backward(dout)
        assert layer.dgamma is not None
        assert layer.dbeta is not None
        results.append((out, dx, layer.dgamma, layer.dbeta))
    (out, dx, dgamma, dbeta), (out_ref, dx_ref, dgamma_ref, dbeta_ref) = results
    assert out.dtype == promoted
    assert (dx.dtype, dgamma.dtype, dbeta.dtype) == dtypes
    np.testing.assert_array_equal(out, out_ref)
    for got, ref in ((dx, dx_ref), (dgamma, dgamma_ref), (dbeta, dbeta_ref)):
        np.testing.assert_array_equal(got, ref.astype(got.dtype))


def _forwarded() -> BatchNormalization:
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    layer.forward(np.ones((2, 3)))
    return layer


@pytest.mark.parametrize(
    ("call", "error", "callee", "expected", "got"),
    [
        (lambda: BatchNormalization(np.ones((2, 2)), np.ones(2)), ShapeError,
         "BatchNormalization", "`gamma` of shape (D,)", "(2, 2)"),
        (lambda: BatchNormalization(np.ones(3), np.ones(2)), ShapeError,
         "BatchNormalization", "`beta` of shape (3,)", "(2,)"),
        (lambda: BatchNormalization(np.ones(3, np.int64), np.ones(3)), DtypeError,
         "BatchNormalization", "`gamma` to be a float32 or float64 numpy array", "int64"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3, np.int64)), DtypeError,
         "BatchNormalization", "`beta` to be a float32 or float64 numpy array", "int64"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3), running_var=np.ones(3, np.int64)),
         DtypeError, "BatchNormalization", "`running_var` to be a float32 or float64 numpy array",
         "int64"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3), 1.5), ArgumentError,
         "BatchNormalization", "`momentum` in [0, 1]", "1.5"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3), eps=0.0), ArgumentError,
         "BatchNormalization", "`eps` to be a finite float > 0", "0.0"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3), running_var=np.ones(2)), ShapeError,
         "BatchNormalization", "`running_var` of shape (3,)", "(2,)"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3), running_mean=np.ones(2)), ShapeError,
         "BatchNormalization", "`running_mean` of shape (3,)", "(2,)"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3)).forward(np.ones((2, 4))), ShapeError,
         "BatchNormalization.forward", "(N, 3)", "(2, 4)"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3)).forward(np.ones((0, 3))), ShapeError,
         "BatchNormalization.forward", "at least one sample", "an empty batch"),
        (lambda: BatchNormalization(np.ones(3), np.ones(3)).backward(np.ones((2, 3))),
         NotForwardedError, "BatchNormalization.backward", None, None),
        (lambda: _forwarded().backward(np.ones((3, 3))), ShapeError,
         "BatchNormalization.backward", "`dout` of shape (2, 3)", "(3, 3)"),
    ],
    ids=["gamma 2-D", "beta shape", "gamma int", "beta int", "running_var int", "momentum",
         "eps", "running_var", "running_mean", "features", "empty batch", "not forwarded",
         "dout shape"],
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


def test_inference_before_any_training_is_allowed_and_empty_batches_too() -> None:
    """Inference mode needs no training forward first (the statistics start at zeros) and
    accepts an empty batch, which has nothing to normalize."""
    layer = BatchNormalization(np.ones(2), np.zeros(2))
    out: npt.NDArray[np.floating] = layer.forward(np.zeros((0, 2)), train_flg=False)
    assert out.shape == (0, 2)
    np.testing.assert_allclose(layer.forward(np.full((1, 2), 1e-3), train_flg=False), 1.0)

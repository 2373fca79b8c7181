"""SimpleConvNet: the book's structure and defaults, flattened input, gradients, dtypes and
its errors."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from bpcore.errors import ArgumentError, ArgumentTypeError, DtypeError, ShapeError, TargetError
from bpcore.layers import Convolution, Pooling
from bpcore.networks import SimpleConvNet
from tests.helpers import assert_error

# backprop against central differences in float64, as tests/unit/test_networks.py derives
# for nets of O(1) weights: truncation and rounding near 1e-10, far below these tolerances.
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-7
SMALL = {"filter_num": 3, "filter_size": 3}


def test_the_books_defaults() -> None:
    """(1, 28, 28) input, 30 filters of 5x5, a 100-unit hidden layer and 10 classes: W1
    (30, 1, 5, 5), W2 (30·12·12, 100), W3 (100, 10), weights of std 0.01, zero biases."""
    net = SimpleConvNet(rng=0)
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    shapes = {key: value.shape for key, value in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}  # fmt: skip
    assert all(not np.any(net.params[b]) for b in ("b1", "b2", "b3"))
    assert 0.009 < float(np.std(net.params["W2"])) < 0.011  # 432,000 draws of std 0.01
    conv, pool = net.layers["Conv1"], net.layers["Pool1"]
    assert isinstance(conv, Convolution)
    assert (conv.stride, conv.pad) == (1, 0)
    assert conv.W is net.params["W1"]
    assert isinstance(pool, Pooling)
    assert (pool.pool_h, pool.pool_w, pool.stride) == (2, 2, 2)


def test_flattened_images_are_reshaped_to_input_dim() -> None:
    """x of shape (N, C·H·W), as the loaders give it, is the same as (N, C, H, W)."""
    rng = np.random.default_rng(1)
    images = rng.standard_normal((4, 2, 8, 8))
    net = SimpleConvNet((2, 8, 8), SMALL, hidden_size=5, output_size=4, rng=1)
    np.testing.assert_array_equal(net.predict(images.reshape(4, -1)), net.predict(images))


@pytest.mark.parametrize(
    "conv_param", [SMALL, {"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 2}]
)
def test_gradient_matches_central_differences(conv_param: Mapping[str, int]) -> None:
    """Backprop through convolution, pooling and the Affine layers matches central
    differences for every parameter, with the book's padding and stride or others."""
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((3, 1, 8, 8)), np.array([0, 2, 1])
    net = SimpleConvNet(
        (1, 8, 8), conv_param, hidden_size=6, output_size=3, weight_init_std="he", rng=2
    )
    grads, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    assert grads.keys() == numerical.keys() == net.params.keys()
    for key in grads:
        assert np.max(np.abs(grads[key])) > 1e-4, key  # not vacuous
        np.testing.assert_allclose(
            grads[key], numerical[key], rtol=GRAD_RTOL, atol=GRAD_ATOL, err_msg=key
        )


def test_float32_stays_float32() -> None:
    """A float32 network gives float32 scores and gradients for float64 input."""
    net = SimpleConvNet((1, 8, 8), SMALL, hidden_size=5, output_size=3, rng=3, dtype=np.float32)
    x = np.random.default_rng(3).standard_normal((2, 64))
    assert net.predict(x).dtype == np.float32
    assert {g.dtype for g in net.gradient(x, np.array([0, 1])).values()} == {np.dtype(np.float32)}


def test_he_initialisation_uses_each_layers_fan_in() -> None:
    """'he' draws W1 with std sqrt(2 / (C·F·F)) and W2 with sqrt(2 / its rows)."""
    net = SimpleConvNet((3, 12, 12), {"filter_num": 40, "filter_size": 5}, hidden_size=50,
                        weight_init_std="he", rng=4)  # fmt: skip
    assert float(np.std(net.params["W1"])) == pytest.approx(np.sqrt(2 / 75), rel=0.1)
    assert float(np.std(net.params["W2"])) == pytest.approx(np.sqrt(2 / (40 * 16)), rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "expected", "got"),
    [
        ({"input_dim": (28, 28)}, "`input_dim` (C, H, W) of 3 positive ints", "(28, 28)"),
        ({"input_dim": (1, 0, 28)}, "`input_dim` to be a positive int", "0"),
        ({"conv_param": {"filters": 3}}, "`conv_param` a dict with keys among", "{'filters': 3}"),
        ({"conv_param": {"filter_size": 0}}, "`filter_size` to be a positive int", "0"),
        ({"conv_param": {"filter_num": 0}}, "`filter_num` to be a positive int", "0"),
        ({"conv_param": {"pad": -1}}, "`pad` to be an int >= 0", "-1"),
        ({"conv_param": {"stride": 0}}, "`stride` to be a positive int", "0"),
        ({"input_dim": (1, 4, 4), "conv_param": {"filter_size": 5}},
         "a 5x5 filter to leave at least 2x2 to pool in a 4x4 image", "0x0"),
        ({"input_dim": (1, 4, 5), "conv_param": {"filter_size": 4}},
         "a 4x4 filter to leave at least 2x2 to pool in a 4x5 image", "1x2"),
        ({"input_dim": (1, 5, 4), "conv_param": {"filter_size": 4}},
         "a 4x4 filter to leave at least 2x2 to pool in a 5x4 image", "2x1"),
        ({"hidden_size": 0}, "`hidden_size` to be a positive int", "0"),
        ({"output_size": 0}, "`output_size` to be a positive int", "0"),
        ({"weight_init_std": "lecun"}, "`weight_init_std` to be one of 'relu'", "'lecun'"),
        ({"weight_decay_lambda": -1.0}, "`weight_decay_lambda` to be a finite non-negative",
         "-1.0"),
        ({"dtype": "int32"}, "`dtype` float32 or float64", "'int32'"),
        ({"rng": "x"}, "`rng` to be a numpy.random.Generator", "str"),
    ],
    ids=["input_dim", "input_dim size", "conv key", "filter size", "filter num", "pad", "stride",
         "filter too large", "one row short", "one column short", "hidden size",
         "output size", "init", "decay", "dtype", "rng"],
)  # fmt: skip
def test_bad_arguments_are_refused(kwargs: dict[str, object], expected: str, got: str) -> None:
    """Each bad argument raises its documented error (ArgumentError, DtypeError for the
    dtype, ArgumentTypeError for the rng) naming it and the value received."""
    kinds = {"dtype": DtypeError, "rng": ArgumentTypeError}
    assert_error(
        next((kinds[k] for k in kwargs if k in kinds), ArgumentError),
        lambda: SimpleConvNet(**kwargs),  # type: ignore[arg-type]  # wrong on purpose
        callee="SimpleConvNet",
        expected=expected,
        got=got,
    )


def test_the_smallest_image_that_leaves_2x2_to_pool_is_taken() -> None:
    """A 5x5 image under a 4x4 filter leaves 2x2 to pool: one 1x1 pooled map per filter."""
    net = SimpleConvNet((1, 5, 5), {"filter_num": 2, "filter_size": 4}, hidden_size=3, rng=0)
    assert net.params["W2"].shape == (2, 3)
    assert net.predict(np.ones((1, 1, 5, 5))).shape == (1, 10)


@pytest.mark.parametrize("shape", [(2, 1, 9, 9), (2, 65), (64,)])
@pytest.mark.parametrize("method", ["predict", "loss", "accuracy", "gradient"])
def test_an_input_of_another_shape_is_refused(method: str, shape: tuple[int, ...]) -> None:
    """x must be (N, C, H, W) or (N, C·H·W) for the network's input_dim; the error names
    the method called."""
    net = SimpleConvNet((1, 8, 8), SMALL, hidden_size=5, rng=5)
    call = getattr(net, method)
    args = (np.ones(shape),) if method == "predict" else (np.ones(shape), np.array([0, 1]))
    assert_error(
        ShapeError,
        lambda: call(*args),
        callee=f"SimpleConvNet.{method}",
        expected="(N, 1, 8, 8) or (N, 64)",
        got=str(shape),
    )


def test_a_complex_input_is_refused_by_name() -> None:
    net = SimpleConvNet((1, 8, 8), SMALL, hidden_size=5, rng=5)
    assert_error(
        DtypeError,
        lambda: net.predict(np.ones((2, 1, 8, 8), dtype=complex)),
        callee="SimpleConvNet.predict",
        expected="`x` to be a real array",
        got="complex128",
    )


def test_a_label_out_of_range_is_refused_by_accuracy() -> None:
    net = SimpleConvNet((1, 8, 8), SMALL, hidden_size=5, rng=5)
    assert_error(
        TargetError,
        lambda: net.accuracy(np.ones((2, 1, 8, 8)), np.array([0, 11])),
        callee="SimpleConvNet.accuracy",
        expected="class labels in [0, 9]",
        got="11",
    )


def test_padding_adds_to_both_sides_of_each_axis() -> None:
    """A 5x5 image padded by 1 under a 3x3 filter gives 5x5 (5 + 2·1 - 3 + 1), pooled to
    2x2: W2 has 2 filters · 2 · 2 = 8 rows, and 4x6 gives 4x6, pooled to 2x3: 12 rows."""
    square = SimpleConvNet((1, 5, 5), {"filter_num": 2, "filter_size": 3, "pad": 1}, 3, rng=0)
    assert square.params["W2"].shape == (8, 3)
    wide = SimpleConvNet((1, 4, 6), {"filter_num": 2, "filter_size": 3, "pad": 1}, 3, rng=0)
    assert wide.params["W2"].shape == (12, 3)

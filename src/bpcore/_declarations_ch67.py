"""The layers of the book's chapters 6 and 7, each declared once: its spec beside its oracle.

As in :mod:`bpcore._declarations`, each oracle computes the forward from its definition
with ``math`` (plain loops, ``math.fsum``), calls no bpcore code, and returns the size of
its terms for the rounding bound ``n·u·size``. A layer whose forward takes ``train_flg``
is declared once per mode, through :class:`_InMode`; Dropout's training mode draws its
mask from a generator seeded afresh before every forward, so the mask is fixed.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from hypothesis import assume
from hypothesis import strategies as st

from bpcore import strategies as bst
from bpcore._arrays import FloatArray
from bpcore._declarations import (
    BPCORE_ERRORS,
    NETWORK_MARGIN,
    SPECS,
    WEIGHT_DECAY,
    loss_reference,
    weight_decay,
)
from bpcore._spec import Drawn, LayerSpec, Oracle, Reference
from bpcore.errors import ArgumentError
from bpcore.layers import BatchNormalization, Convolution, Dropout, Pooling
from bpcore.networks import MultiLayerNetExtend, SimpleConvNet
from bpcore.networks._sequential import SequentialNet

# -- modes -------------------------------------------------------------------------------


class _InMode:
    """A layer whose ``forward(x, train_flg)`` is called in one mode, as a unary layer.

    With ``seed``, the layer's ``rng`` is replaced by a generator seeded with it before
    every forward: a Dropout's mask is then the same on every call of one shape. Every
    other attribute (``gamma``, ``dgamma``, ...) is the layer's own.
    """

    def __init__(self, layer: object, *, train: bool, seed: int | None = None) -> None:
        self._layer = layer
        self._train = train
        self._seed = seed

    def forward(self, x: FloatArray) -> FloatArray:
        if self._seed is not None:
            self._layer.rng = np.random.default_rng(self._seed)  # type: ignore[attr-defined]  # Dropout's
        result: FloatArray = self._layer.forward(x, train_flg=self._train)  # type: ignore[attr-defined]  # a mode layer's
        return result

    def backward(self, dout: FloatArray) -> FloatArray:
        result: FloatArray = self._layer.backward(dout)  # type: ignore[attr-defined]  # a mode layer's
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self._layer, name)


def _named(name: str) -> type[_InMode]:
    """:class:`_InMode` under the wrapped layer's class name, which its errors quote."""
    return type(name, (_InMode,), {})


_BatchNormalization = _named("BatchNormalization")
_Dropout = _named("Dropout")

# -- Convolution -------------------------------------------------------------------------

CONV_BUDGET = 0.5
"""The share of the profile's examples the image layers draw: their loop oracles and
windowed cases cost several times an Affine's per example, and the ``ci`` profile's
property suite keeps to 60 s (``nox -s nightly`` still draws 200 each)."""
NETWORK_BUDGET = 0.5
"""The same for MultiLayerNetExtend, and half of it for SimpleConvNet, whose every case
is a convolution, a pooling and two Affine layers."""


def _convolution_oracle(stride: int, pad: int) -> Oracle:
    """``Σ_{c,y,x} W[f,c,y,x]·x[n,c,i·s+y-p,j·s+x-p] + b[f]`` with the padding zeros: every
    product gathered by explicit indices, each output summed by ``fsum``; the size is the
    sum of ``|terms|``."""

    def oracle(
        params: Mapping[str, FloatArray],
        inputs: Mapping[str, FloatArray],
        target: npt.NDArray[np.generic] | None,
    ) -> Reference:
        weights, bias, x = params["W"], params["b"], inputs["x"]
        n, _, h, w = x.shape
        fn, _, fh, fw = weights.shape
        oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
        image = np.zeros((n, x.shape[1], h + 2 * pad, w + 2 * pad))
        image[:, :, pad : pad + h, pad : pad + w] = x
        rows = (np.arange(oh) * stride)[:, None] + np.arange(fh)[None, :]  # (OH, FH)
        cols = (np.arange(ow) * stride)[:, None] + np.arange(fw)[None, :]  # (OW, FW)
        patches = image[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # n,c,OH,OW,FH,FW
        # Each product rounded once, as a float multiplication; fsum adds them exactly.
        products = np.einsum("ncijyx,fcyx->nfijcyx", patches, weights).reshape(n, fn, oh, ow, -1)
        value, size = np.empty((n, fn, oh, ow)), np.empty((n, fn, oh, ow))
        for index in np.ndindex(n, fn, oh, ow):
            terms = products[index]
            value[index] = math.fsum([*terms.tolist(), float(bias[index[1]])])
            size[index] = math.fsum(np.abs(terms).tolist()) + abs(float(bias[index[1]]))
        return Reference(value=value, size=size)

    return oracle


def _convolution_cases(stride: int, pad: int) -> st.SearchStrategy[Drawn]:
    @st.composite
    def build(draw: st.DrawFn) -> Drawn:
        n, c, fn = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        fh, fw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        h = draw(st.integers(max(1, fh - 2 * pad), 6))
        w = draw(st.integers(max(1, fw - 2 * pad), 6))
        weights = draw(bst.float_arrays(shape=(fn, c, fh, fw), min_value=-2.0, max_value=2.0))
        bias = draw(bst.float_arrays(shape=(fn,), min_value=-1.0, max_value=1.0))
        x = draw(bst.float_arrays(shape=(n, c, h, w), min_value=-3.0, max_value=3.0))
        return {"W": weights, "b": bias}, {"x": x}, None

    return build()


def _convolution_spec(name: str, stride: int, pad: int) -> LayerSpec:
    def construct(params: Mapping[str, FloatArray]) -> object:
        return Convolution(params["W"], params["b"], stride=stride, pad=pad)

    return LayerSpec(
        name=name,
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=construct,
        draw=lambda: _convolution_cases(stride, pad),
        param_names=("W", "b"),
        oracle=_convolution_oracle(stride, pad),
        budget=CONV_BUDGET,
    )


SPECS.append(_convolution_spec("Convolution", stride=1, pad=0))
SPECS.append(_convolution_spec("Convolution-stride-2-pad-1", stride=2, pad=1))

# -- Pooling -----------------------------------------------------------------------------

POOL_SPACING = 1e-2
"""How far apart every input of a registry pooling case lies: ties are max pooling's
kinks, and the checker's probes (``<= 2·cbrt(eps64)·8 ≈ 1e-4`` at ``|x| <= 8``) stay well
inside this; ties themselves are covered by the pooling-specific properties."""


def _pooling_oracle(size: int, stride: int, pad: int) -> Oracle:
    """The largest input of each window, the padding left out: exact."""

    def oracle(
        params: Mapping[str, FloatArray],
        inputs: Mapping[str, FloatArray],
        target: npt.NDArray[np.generic] | None,
    ) -> Reference:
        x = inputs["x"]
        n, c, h, w = x.shape
        oh, ow = (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1
        value = np.empty((n, c, oh, ow))
        for s, k, i, j in np.ndindex(n, c, oh, ow):
            rows = range(max(0, i * stride - pad), min(h, i * stride - pad + size))
            cols = range(max(0, j * stride - pad), min(w, j * stride - pad + size))
            value[s, k, i, j] = max(float(x[s, k, y, z]) for y in rows for z in cols)
        return Reference(value=value, size=np.abs(value))

    return oracle


def _pooling_cases(size: int, pad: int) -> st.SearchStrategy[Drawn]:
    @st.composite
    def build(draw: st.DrawFn) -> Drawn:
        n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        h = draw(st.integers(max(1, size - 2 * pad), 6))
        w = draw(st.integers(max(1, size - 2 * pad), 6))
        x = draw(bst.separated_arrays(shape=(n, c, h, w), spacing=POOL_SPACING))
        return {}, {"x": x}, None

    return build()


def _pooling_spec(name: str, size: int, stride: int, pad: int) -> LayerSpec:
    return LayerSpec(
        name=name,
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda _: Pooling(size, size, stride=stride, pad=pad),
        draw=lambda: _pooling_cases(size, pad),
        smooth=False,
        oracle=_pooling_oracle(size, stride, pad),
        budget=CONV_BUDGET,
    )


SPECS.append(_pooling_spec("Pooling", size=2, stride=2, pad=0))
SPECS.append(_pooling_spec("Pooling-3x3-stride-1-pad-1", size=3, stride=1, pad=1))

# -- BatchNormalization ------------------------------------------------------------------

BN_EPS = 1e-6
"""The epsilon of :class:`~bpcore.BatchNormalization`'s default, restated: oracles call no
bpcore code."""


def _normalized(
    x: FloatArray, gamma: FloatArray, beta: FloatArray, mean: list[float], var: list[float]
) -> Reference:
    """``γ·(x - mean)/sqrt(var + eps) + β`` per feature of the flattened ``x``, with the size
    ``|γ|·(|x| + S)/s + |γ·x̂|·(S/s + 1) + |β|`` (``s = sqrt(var + eps)``, ``S`` the
    feature's largest ``|x|``): the rounding of ``x - mean`` divided by ``s``, and that of
    ``var`` (at most ``2·S·mean|x - mean| + var <= 2·S·s + s²``) through ``1/s``."""
    rows = x.reshape(x.shape[0], -1)
    value, size = np.empty(rows.shape), np.empty(rows.shape)
    for k in range(rows.shape[1]):
        s = math.sqrt(var[k] + BN_EPS)
        top = max(abs(float(v)) for v in rows[:, k])
        g, b = float(gamma[k]), float(beta[k])
        for n in range(rows.shape[0]):
            xv = float(rows[n, k])
            xn = (xv - mean[k]) / s
            value[n, k] = g * xn + b
            size[n, k] = abs(g) * (abs(xv) + top) / s + abs(g * xn) * (top / s + 1) + abs(b)
    return Reference(value=value.reshape(x.shape), size=size.reshape(x.shape))


def _batch_norm_train_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """Normalized by the batch's own mean and (biased) variance per feature, by ``fsum``."""
    x = inputs["x"]
    rows = x.reshape(x.shape[0], -1)
    n = rows.shape[0]
    mean = [math.fsum(float(v) for v in rows[:, k]) / n for k in range(rows.shape[1])]
    var = [
        math.fsum((float(v) - mean[k]) ** 2 for v in rows[:, k]) / n for k in range(rows.shape[1])
    ]
    return _normalized(x, params["gamma"], params["beta"], mean, var)


def _running_statistics(features: int) -> tuple[list[float], list[float]]:
    """The fixed running mean and variance the inference-mode spec's layers start with."""
    if features == 1:
        return [0.5], [1.5]
    mean = [-1.0 + 2.0 * k / (features - 1) for k in range(features)]
    var = [0.25 + 1.75 * k / (features - 1) for k in range(features)]
    return mean, var


def _batch_norm_inference_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """Normalized by the layer's running statistics (:func:`_running_statistics`)."""
    gamma = params["gamma"]
    mean, var = _running_statistics(gamma.shape[0])
    # The layer holds them in gamma's dtype: the oracle uses the same rounded values.
    rounded = [[float(np.asarray(v, dtype=gamma.dtype)) for v in vs] for vs in (mean, var)]
    return _normalized(inputs["x"], gamma, params["beta"], rounded[0], rounded[1])


def _inference_batch_norm(params: Mapping[str, FloatArray]) -> object:
    gamma = params["gamma"]
    mean, var = _running_statistics(gamma.shape[0])
    layer = BatchNormalization(
        gamma,
        params["beta"],
        running_mean=np.asarray(mean, dtype=gamma.dtype),
        running_var=np.asarray(var, dtype=gamma.dtype),
    )
    return _BatchNormalization(layer, train=False)


@st.composite
def _batch_norm_cases(draw: st.DrawFn) -> Drawn:
    n = draw(st.integers(1, 5))
    features = draw(st.sampled_from([(1,), (2,), (3,), (5,), (2, 1, 2), (1, 2, 2), (2, 2, 2)]))
    d = math.prod(features)
    gamma = draw(bst.float_arrays(shape=(d,), min_value=-2.0, max_value=2.0))
    beta = draw(bst.float_arrays(shape=(d,), min_value=-2.0, max_value=2.0))
    x = draw(bst.float_arrays(shape=(n, *features), min_value=-4.0, max_value=4.0))
    return {"gamma": gamma, "beta": beta}, {"x": x}, None


SPECS.append(
    LayerSpec(
        name="BatchNormalization",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda p: _BatchNormalization(
            BatchNormalization(p["gamma"], p["beta"]), train=True
        ),
        draw=_batch_norm_cases,
        param_names=("gamma", "beta"),
        per_sample=False,
        oracle=_batch_norm_train_oracle,
    )
)
SPECS.append(
    LayerSpec(
        name="BatchNormalization-inference",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=_inference_batch_norm,
        draw=_batch_norm_cases,
        param_names=("gamma", "beta"),
        oracle=_batch_norm_inference_oracle,
    )
)

# -- Dropout -----------------------------------------------------------------------------

DROPOUT_SEED = 20
"""The seed of the generator each registry Dropout forward draws its mask from."""


def _dropout_train_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x`` where the documented mask ``default_rng(seed).random(shape) > 0.5`` keeps it,
    ``+0.0`` elsewhere: exact."""
    x = inputs["x"]
    keep = np.random.default_rng(DROPOUT_SEED).random(x.shape) > 0.5
    value = np.where(keep, x, 0.0)
    return Reference(value=value, size=np.abs(value))


def _dropout_inference_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x·(1 - 0.3)``: one rounding."""
    value = inputs["x"] * 0.7
    return Reference(value=value, size=np.abs(value))


def _dropout_cases() -> st.SearchStrategy[Drawn]:
    shapes = bst.batch_shapes(max_feature_dims=2)
    return bst.float_arrays(shape=shapes).map(lambda x: ({}, {"x": x}, None))


SPECS.append(
    LayerSpec(
        name="Dropout",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda _: _Dropout(Dropout(0.5), train=True, seed=DROPOUT_SEED),
        draw=_dropout_cases,
        per_sample=False,
        oracle=_dropout_train_oracle,
    )
)
SPECS.append(
    LayerSpec(
        name="Dropout-inference",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda _: _Dropout(Dropout(0.3), train=False),
        draw=_dropout_cases,
        oracle=_dropout_inference_oracle,
    )
)

# -- networks ----------------------------------------------------------------------------


class _TrainingLoss:
    """A network whose ``loss(x, t)`` is its training-mode loss, the function its
    ``gradient`` differentiates; before each pass every Dropout layer gets a generator
    seeded with ``DROPOUT_SEED + k`` (``k`` its place among them), which fixes the masks."""

    def __init__(self, network: SequentialNet) -> None:
        self._network = network
        self._dropouts = [layer for layer in network.layers.values() if isinstance(layer, Dropout)]

    @property
    def params(self) -> dict[str, FloatArray]:
        return self._network.params

    def _reseed(self) -> None:
        for k, layer in enumerate(self._dropouts):
            layer.rng = np.random.default_rng(DROPOUT_SEED + k)

    def loss(self, x: FloatArray, t: npt.NDArray[np.generic]) -> float:
        self._reseed()
        return self._network.loss(x, t, train_flg=True)

    def gradient(self, x: FloatArray, t: npt.NDArray[np.generic]) -> dict[str, FloatArray]:
        self._reseed()
        return self._network.gradient(x, t)


def _sigmoid(values: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):  # e^-a = inf for a << 0 gives 0, as it should
        result: FloatArray = 1 / (1 + np.exp(-values))
    return result


def _batch_normalized(
    a: FloatArray, gamma: FloatArray, beta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Training-mode batch normalization of ``a`` ``(N, D)`` by ``fsum`` statistics, and the
    factor ``|γ|·(2 + |x̂|)/s`` by which it can grow an error in ``a``'s terms."""
    n = a.shape[0]
    out, growth = np.empty(a.shape), np.empty(a.shape)
    for k in range(a.shape[1]):
        column = [float(v) for v in a[:, k]]
        mean = math.fsum(column) / n
        s = math.sqrt(math.fsum((v - mean) ** 2 for v in column) / n + BN_EPS)
        for i, v in enumerate(column):
            xn = (v - mean) / s
            out[i, k] = float(gamma[k]) * xn + float(beta[k])
            growth[i, k] = abs(float(gamma[k])) * (2 + abs(xn)) / s
    return out, growth


def _extend_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``Affine, BatchNorm, sigmoid, Dropout, ..., Affine`` in training mode, then softmax
    cross-entropy and the weight decay, in float64 with ``math``; the masks are the
    documented ``default_rng(DROPOUT_SEED + k).random(shape) > ratio``.

    The size carries term magnitudes through the stack, ``M ← M·|W| + |b|`` for an Affine
    and ``M ← growth·2·max_n M + |β|`` for a batch normalization (the sigmoid and the
    masks do not grow them), then scores to loss as :mod:`bpcore._declarations` does."""
    if target is None:
        raise ArgumentError("MultiLayerNetExtend: a loss oracle needs targets, got None.")
    depth = sum(1 for key in params if key.startswith("W"))
    h = inputs["x"].reshape(inputs["x"].shape[0], -1)
    magnitude = np.abs(h)
    for i in range(1, depth + 1):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        magnitude = magnitude @ np.abs(params[f"W{i}"]) + np.abs(params[f"b{i}"])
        if i == depth:
            h = a
            break
        normalized, growth = _batch_normalized(a, params[f"gamma{i}"], params[f"beta{i}"])
        magnitude = growth * 2 * np.max(magnitude, axis=0) + np.abs(params[f"beta{i}"])
        keep = np.random.default_rng(DROPOUT_SEED + i - 1).random(a.shape) > EXTEND_DROPOUT
        h = np.where(keep, _sigmoid(normalized), 0.0)
    # Each hidden layer rounds twice (its Affine and its batch normalization).
    return loss_reference(h, magnitude, target, 2 * depth, weight_decay(params, WEIGHT_DECAY))


EXTEND_DROPOUT = 0.3
"""The dropout ratio of the registry's MultiLayerNetExtend."""


def _extend(params: Mapping[str, FloatArray]) -> object:
    depth = sum(1 for key in params if key.startswith("W"))
    sizes = [params["W1"].shape[0], *(params[f"W{i}"].shape[1] for i in range(1, depth + 1))]
    net = MultiLayerNetExtend(
        sizes[0],
        sizes[1:-1],
        sizes[-1],
        "sigmoid",
        1.0,
        WEIGHT_DECAY,
        True,
        EXTEND_DROPOUT,
        True,
        rng=0,
        dtype=params["W1"].dtype,
    )
    for name, value in params.items():
        np.copyto(net.params[name], value)
    return _named_network("MultiLayerNetExtend")(net)


@st.composite
def _extend_cases(draw: st.DrawFn) -> Drawn:
    sizes = [draw(st.integers(1, 4)) for _ in range(3)] + [draw(st.integers(2, 4))]
    params: dict[str, FloatArray] = {}
    for i in range(1, len(sizes)):
        params[f"W{i}"] = draw(
            bst.float_arrays(shape=(sizes[i - 1], sizes[i]), min_value=-2.0, max_value=2.0)
        )
        params[f"b{i}"] = draw(bst.float_arrays(shape=(sizes[i],), min_value=-1.0, max_value=1.0))
        if i < len(sizes) - 1:
            params[f"gamma{i}"] = draw(
                bst.float_arrays(shape=(sizes[i],), min_value=0.5, max_value=2.0)
            )
            params[f"beta{i}"] = draw(
                bst.float_arrays(shape=(sizes[i],), min_value=-1.0, max_value=1.0)
            )
    n = draw(st.integers(1, 4))
    x = draw(bst.float_arrays(shape=(n, sizes[0]), min_value=-3.0, max_value=3.0))
    target: npt.NDArray[np.generic] = draw(
        st.one_of(
            bst.class_labels(n=n, classes=sizes[-1]), bst.soft_targets(n=n, classes=sizes[-1])
        )
    )
    return params, {"x": x}, target


def _named_network(name: str) -> type[_TrainingLoss]:
    """:class:`_TrainingLoss` under the network's class name, which the checker reports."""
    return type(name, (_TrainingLoss,), {})


SPECS.append(
    LayerSpec(
        name="MultiLayerNetExtend",
        kind="network",
        errors=BPCORE_ERRORS,
        construct=_extend,
        draw=_extend_cases,
        per_sample=False,  # batch statistics, and masks drawn for the batch's shape
        oracle=_extend_oracle,
        budget=NETWORK_BUDGET,
    )
)


CONV_NET_IMAGE = 6
"""The height and width of the registry's SimpleConvNet inputs."""


def _simple_conv_net_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """Convolution and pooling by their loop oracles, then ReLU, Affine, ReLU, Affine and
    softmax cross-entropy in float64 with ``math``. The size carries the convolution's
    term sizes through the pooling (the largest in each window) and the Affine layers
    (``M ← M·|W| + |b|``), then scores to loss as :mod:`bpcore._declarations` does."""
    if target is None:
        raise ArgumentError("SimpleConvNet: a loss oracle needs targets, got None.")
    x = inputs["x"]
    n = x.shape[0]
    conv = _convolution_oracle(1, 0)({"W": params["W1"], "b": params["b1"]}, {"x": x}, None)
    pool = _pooling_oracle(2, 2, 0)
    pooled = pool({}, {"x": np.maximum(conv.value, 0.0)}, None).value.reshape(n, -1)
    magnitude = pool({}, {"x": conv.size}, None).value.reshape(n, -1)
    hidden = np.maximum(pooled @ params["W2"] + params["b2"], 0.0)
    magnitude = magnitude @ np.abs(params["W2"]) + np.abs(params["b2"])
    scores = hidden @ params["W3"] + params["b3"]
    magnitude = magnitude @ np.abs(params["W3"]) + np.abs(params["b3"])
    return loss_reference(scores, magnitude, target, 3)


def _simple_conv_net(params: Mapping[str, FloatArray]) -> object:
    filters, channels, size, _ = params["W1"].shape
    net = SimpleConvNet(
        (channels, CONV_NET_IMAGE, CONV_NET_IMAGE),
        {"filter_num": filters, "filter_size": size},
        hidden_size=params["W2"].shape[1],
        output_size=params["W3"].shape[1],
        rng=0,
        dtype=params["W1"].dtype,
    )
    for name, value in params.items():
        np.copyto(net.params[name], value)
    return net


def _shift_off_zero(values: FloatArray, margin: float) -> float:
    """The first shift in ``0, +2m, -2m, +4m, ...`` that moves every value at least
    ``margin`` from 0; with ``k`` values one of the first ``2k + 1`` always does."""
    for k in range(2 * values.size + 2):
        shift = (k + 1) // 2 * 2 * margin * (1 if k % 2 else -1)
        if np.all(np.abs(values + shift) >= margin):
            return shift
    raise AssertionError("unreachable: 2k + 1 shifts leave room for k values")


POOL_GAP = 1e-3
"""How far a registry SimpleConvNet's pooled maximum stays above the rest of its window
(where it is positive). A tie is a kink of the pooling that the network's loss may not
show: windows whose tied elements enter with opposite weights cancel, the loss is smooth
there, and backpropagation's choice of one tied element is no derivative of it. The
checker's probes move a feature map by at most ``2·cbrt(eps64)·|x| ≈ 2.4e-5`` (``|x|,
|W1| <= 1``), far inside this gap."""


def _pooling_is_decided(features: FloatArray) -> bool:
    """Whether every 2x2 window whose maximum is positive holds it POOL_GAP above the rest
    (windows of zeros, clamped by the ReLU, stay zero under every probe)."""
    n, c, h, w = features.shape
    windows = features[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    flat = np.sort(windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4), axis=-1)
    top, second = flat[..., -1], flat[..., -2]
    return bool(np.all((top <= 0) | (top - second >= POOL_GAP)))


@st.composite
def _simple_conv_net_cases(draw: st.DrawFn) -> Drawn:
    """Small SimpleConvNets whose ReLU inputs all lie NETWORK_MARGIN or more from 0: each
    filter's bias and each hidden bias is shifted (see :func:`_shift_off_zero`); cases
    whose pooling has a near tie at a positive maximum are rejected (see POOL_GAP)."""
    channels, size, filters = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 3)),
    )
    hidden, classes, n = draw(st.integers(1, 4)), draw(st.integers(2, 4)), draw(st.integers(1, 3))
    pooled = filters * ((CONV_NET_IMAGE - size + 1) // 2) ** 2
    shapes = {"W1": (filters, channels, size, size), "b1": (filters,), "W2": (pooled, hidden),
              "b2": (hidden,), "W3": (hidden, classes), "b3": (classes,)}  # fmt: skip
    params = {
        key: draw(bst.float_arrays(shape=shape, min_value=-1.0, max_value=1.0))
        for key, shape in shapes.items()
    }
    x = draw(
        bst.float_arrays(
            shape=(n, channels, CONV_NET_IMAGE, CONV_NET_IMAGE), min_value=-1.0, max_value=1.0
        )
    )
    conv = _convolution_oracle(1, 0)({"W": params["W1"], "b": params["b1"]}, {"x": x}, None).value
    for f in range(filters):
        params["b1"][f] += _shift_off_zero(conv[:, f], NETWORK_MARGIN)
    conv = _convolution_oracle(1, 0)({"W": params["W1"], "b": params["b1"]}, {"x": x}, None).value
    assume(_pooling_is_decided(np.maximum(conv, 0.0)))
    pooled_values = _pooling_oracle(2, 2, 0)({}, {"x": np.maximum(conv, 0.0)}, None).value
    affine = pooled_values.reshape(n, -1) @ params["W2"] + params["b2"]
    for unit in range(hidden):
        params["b2"][unit] += _shift_off_zero(affine[:, unit], NETWORK_MARGIN)
    target: npt.NDArray[np.generic] = draw(
        st.one_of(bst.class_labels(n=n, classes=classes), bst.soft_targets(n=n, classes=classes))
    )
    return params, {"x": x}, target


SPECS.append(
    LayerSpec(
        name="SimpleConvNet",
        kind="network",
        errors=BPCORE_ERRORS,
        construct=_simple_conv_net,
        draw=_simple_conv_net_cases,
        smooth=False,
        oracle=_simple_conv_net_oracle,
        budget=NETWORK_BUDGET / 2,
    )
)

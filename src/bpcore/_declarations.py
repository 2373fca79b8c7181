"""bpcore's own layers and networks, each declared once: its spec beside its oracle.

A spec says how to build the layer, how to draw its inputs, where its kinks are and what
it promises; its oracle computes the forward another way (Python's ``math`` with
``math.fsum``, or plain NumPy where one operation is exactly rounded) and returns the
size of its terms, which sets the rounding bound ``n·u·size`` the generic property
``forward_matches_its_oracle`` allows. No oracle calls bpcore code, so a wrong forward
cannot agree with its own reference. Adding a layer adds one section here.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpcore import strategies as bst
from bpcore._arrays import FloatArray
from bpcore._spec import Arrays, Drawn, Errors, LayerSpec, Oracle, Reference
from bpcore.errors import ArgumentError, NotForwardedError, ShapeError, TargetError
from bpcore.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from bpcore.networks import MultiLayerNet, TwoLayerNet

SPECS: list[LayerSpec] = []
"""The declarations, in registration order."""

BPCORE_ERRORS = Errors(
    not_forwarded=NotForwardedError, bad_shape=ShapeError, bad_target=TargetError
)
"""bpcore's own layers raise its documented subclasses of the built-in types."""

RELU_MARGIN = 1e-3
"""How far registry inputs stay from ReLU's kink. The checker's probes reach
``2·cbrt(eps64)·max(1, |x|) ≈ 1.2e-5·max(1, |x|)``, so at ``|x| <= 8`` this margin keeps
every probe on one side; the kink itself is covered by the ReLU-specific properties."""


def _unary_inputs(strategy: st.SearchStrategy[FloatArray]) -> st.SearchStrategy[Drawn]:
    return strategy.map(lambda x: ({}, {"x": x}, None))


_SHAPES = bst.batch_shapes(max_feature_dims=2)


# -- Relu ------------------------------------------------------------------------------


def _relu_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x`` where ``x > 0``, else ``+0.0``: exact."""
    x = inputs["x"]
    return Reference(value=np.where(x > 0, x, 0.0), size=np.abs(x))


SPECS.append(
    LayerSpec(
        name="Relu",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda _: Relu(),
        draw=lambda: _unary_inputs(
            bst.float_arrays(shape=_SHAPES, kinks=(0.0,), margin=RELU_MARGIN)
        ),
        kinks={"x": (0.0,)},
        smooth=False,
        oracle=_relu_oracle,
    )
)
# -- Sigmoid ---------------------------------------------------------------------------


def _sigmoid_scalar(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def _sigmoid_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``1 / (1 + e^-x)`` element by element with ``math``; the size ``y·(1 + |x|)``
    covers rounding ``x`` itself (``|dy/dx · x| <= y·|x|``) and the few roundings after."""
    x = inputs["x"]
    y = np.array([_sigmoid_scalar(float(v)) for v in x.reshape(-1)]).reshape(x.shape)
    return Reference(value=y, size=y * (1 + np.abs(x)))


SPECS.append(
    LayerSpec(
        name="Sigmoid",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda _: Sigmoid(),
        draw=lambda: _unary_inputs(
            bst.float_arrays(shape=_SHAPES, min_value=-20.0, max_value=20.0)
        ),
        oracle=_sigmoid_oracle,
    )
)
# -- Tanh ------------------------------------------------------------------------------


def _tanh_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``tanh(x)`` element by element with ``math``; the size ``|y|·(1 + |x|)`` covers a
    few roundings of ``y`` and of ``x`` itself (``|x|·sech²(x) <= |tanh(x)|``)."""
    x = inputs["x"]
    y = np.array([math.tanh(float(v)) for v in x.reshape(-1)]).reshape(x.shape)
    return Reference(value=y, size=np.abs(y) * (1 + np.abs(x)))


SPECS.append(
    LayerSpec(
        name="Tanh",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda _: Tanh(),
        draw=lambda: _unary_inputs(
            bst.float_arrays(shape=_SHAPES, min_value=-20.0, max_value=20.0)
        ),
        oracle=_tanh_oracle,
    )
)


# -- Affine ----------------------------------------------------------------------------


def _affine_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``out[n, m] = Σ_k x[n, k]·W[k, m] + b[m]`` (``x`` flattened per sample), by ``fsum``."""
    W, b = params["W"], params["b"]
    x = inputs["x"].reshape(inputs["x"].shape[0], -1)
    rows, cols = x.shape[0], W.shape[1]
    value = np.empty((rows, cols))
    size = np.empty((rows, cols))
    for n in range(rows):
        for m in range(cols):
            terms = [float(x[n, k]) * float(W[k, m]) for k in range(W.shape[0])]
            value[n, m] = math.fsum([*terms, float(b[m])])
            size[n, m] = math.fsum(abs(v) for v in terms) + abs(float(b[m]))
    return Reference(value=value, size=size)


SPECS.append(
    LayerSpec(
        name="Affine",
        kind="unary",
        errors=BPCORE_ERRORS,
        construct=lambda p: Affine(p["W"], p["b"]),
        draw=lambda: bst.affine_cases().map(lambda c: ({"W": c[0], "b": c[1]}, {"x": c[2]}, None)),
        param_names=("W", "b"),
        oracle=_affine_oracle,
    )
)


# -- SoftmaxWithLoss -------------------------------------------------------------------


def target_rows(target: npt.NDArray[np.generic], rows: int, classes: int) -> list[list[float]]:
    """Labels (or a scalar label) as one-hot rows; distributions as they are."""
    t = np.asarray(target)
    if t.dtype.kind in "iu":
        labels = t.reshape(-1)
        return [[1.0 if c == int(labels[n]) else 0.0 for c in range(classes)] for n in range(rows)]
    dist = np.asarray(t, dtype=np.float64).reshape(rows, classes)
    return [[float(v) for v in row] for row in dist]


def mean_cross_entropy_terms(
    scores: Sequence[Sequence[float]], rows_t: Sequence[Sequence[float]]
) -> tuple[float, float]:
    """``-(1/N) Σ_n Σ_c t[n, c]·(s[n, c] - lse_n)`` and the size of its terms.

    ``lse_n = m_n + log Σ_c e^(s[n, c] - m_n)`` with ``m_n`` the row's largest score. The
    size counts ``|t|·(|s| + |m| + |lse - m|)`` for each term (the layer subtracts the
    maximum, then the normaliser) and ``1 + lse - m`` per row for the normaliser itself.
    """
    losses, sizes = [], []
    for s, t in zip(scores, rows_t, strict=True):
        top = max(s)
        log_norm = math.log(math.fsum(math.exp(v - top) for v in s))
        lse = top + log_norm
        losses.append(-math.fsum(tc * (v - lse) for v, tc in zip(s, t, strict=True)))
        term_sizes = (abs(tc) * (abs(v) + abs(top) + log_norm) for v, tc in zip(s, t, strict=True))
        sizes.append(math.fsum(term_sizes) + 1.0 + log_norm)
    rows = len(losses)
    return math.fsum(losses) / rows, math.fsum(sizes) / rows


def _softmax_with_loss_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """The mean cross-entropy of ``softmax(x)`` against ``t``, with ``math``; a 1-D ``x``
    is one sample."""
    if target is None:
        raise ArgumentError("softmax_with_loss: a loss oracle needs targets, got None.")
    x = inputs["x"].reshape(-1, inputs["x"].shape[-1])
    rows, classes = x.shape
    scores = [[float(v) for v in row] for row in x]
    loss, size = mean_cross_entropy_terms(scores, target_rows(target, rows, classes))
    return Reference(value=np.asarray(loss), size=np.asarray(size))


@st.composite
def _loss_cases(draw: st.DrawFn) -> Drawn:
    n = draw(st.integers(1, 5))
    classes = draw(st.integers(1, 6))
    x = draw(bst.float_arrays(shape=(n, classes), min_value=-10.0, max_value=10.0))
    kind = draw(st.sampled_from(["labels", "one-hot", "soft", "one-sample"]))
    target: npt.NDArray[np.generic]
    if kind == "labels":
        target = draw(bst.class_labels(n=n, classes=classes))
    elif kind == "one-hot":
        target = draw(bst.one_hot_targets(n=n, classes=classes))
    elif kind == "soft":
        target = draw(bst.soft_targets(n=n, classes=classes))
    else:
        return {}, {"x": x[0]}, np.asarray(draw(st.integers(0, classes - 1)), dtype=np.intp)
    return {}, {"x": x}, target


SPECS.append(
    LayerSpec(
        name="SoftmaxWithLoss",
        kind="loss",
        errors=BPCORE_ERRORS,
        construct=lambda _: SoftmaxWithLoss(),
        draw=_loss_cases,
        oracle=_softmax_with_loss_oracle,
    )
)


# -- MulLayer and AddLayer -------------------------------------------------------------


def _multiply_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x·y`` with broadcasting: one exactly rounded product per element."""
    value = inputs["x"] * inputs["y"]
    return Reference(value=value, size=np.abs(value))


def _add_oracle(
    params: Mapping[str, FloatArray],
    inputs: Mapping[str, FloatArray],
    target: npt.NDArray[np.generic] | None,
) -> Reference:
    """``x + y`` with broadcasting: one exactly rounded sum per element."""
    x, y = inputs["x"], inputs["y"]
    return Reference(value=x + y, size=np.abs(x) + np.abs(y))


@st.composite
def _broadcast_pair(draw: st.DrawFn) -> Drawn:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    x = draw(bst.float_arrays(shape=shapes.input_shapes[0], min_value=-4.0, max_value=4.0))
    y = draw(bst.float_arrays(shape=shapes.input_shapes[1], min_value=-4.0, max_value=4.0))
    return {}, {"x": x, "y": y}, None


SPECS.append(
    LayerSpec(
        name="MulLayer",
        kind="binary",
        errors=BPCORE_ERRORS,
        construct=lambda _: MulLayer(),
        draw=_broadcast_pair,
        per_sample=False,
        oracle=_multiply_oracle,
    )
)
SPECS.append(
    LayerSpec(
        name="AddLayer",
        kind="binary",
        errors=BPCORE_ERRORS,
        construct=lambda _: AddLayer(),
        draw=_broadcast_pair,
        per_sample=False,
        oracle=_add_oracle,
    )
)


# -- networks --------------------------------------------------------------------


def loss_reference(
    scores: FloatArray,
    magnitude: FloatArray,
    target: npt.NDArray[np.generic],
    depth: int,
    penalty: float = 0.0,
) -> Reference:
    """The mean cross-entropy of ``scores`` ``(N, C)`` against ``target``, plus ``penalty``
    (a weight decay, its own size), as a :class:`Reference`.

    ``magnitude`` is the size of the terms of each score, carried through ``depth``
    rounded layers: a score errs by up to ``depth·n·u·magnitude``, and moves the mean loss
    by at most ``2/N`` times that, so ``2·depth·Σ_n max_c magnitude / N`` joins the loss's
    own size.
    """
    rows, classes = scores.shape
    values = [[float(v) for v in row] for row in scores]
    loss, size = mean_cross_entropy_terms(values, target_rows(target, rows, classes))
    propagated = 2 * depth * float(np.sum(np.max(magnitude, axis=1))) / rows
    return Reference(value=np.asarray(loss + penalty), size=np.asarray(size + propagated + penalty))


def weight_decay(params: Mapping[str, FloatArray], decay: float) -> float:
    """``(λ/2) Σ_W Σ w²`` over the weights ``W1, W2, ...``, by ``fsum``: also its size."""
    squares = (float(v) ** 2 for k, w in params.items() if k.startswith("W") for v in w.flat)
    return 0.5 * decay * math.fsum(squares)


def _network_oracle(activation: str, decay: float = 0.0) -> Oracle:
    """The loss of ``Affine, act, ..., Affine, softmax cross-entropy`` with ``act`` one of
    ``"relu"``/``"sigmoid"``, plus the weight decay ``(λ/2) Σ ‖W‖²`` (``λ = decay``), by
    plain float64 NumPy and ``math``.

    The size propagates term magnitudes through the stack, ``M_i = M_(i-1)·|W_i| + |b_i|``
    from ``M_0 = |x|`` (both activations have slope at most 1), times the depth, for the
    scores, whose error moves the loss by at most ``2/N`` per row; plus the loss's own.
    """

    def oracle(
        params: Mapping[str, FloatArray],
        inputs: Mapping[str, FloatArray],
        target: npt.NDArray[np.generic] | None,
    ) -> Reference:
        if target is None:
            raise ArgumentError("network: a loss oracle needs targets, got None.")
        depth = len(params) // 2
        h = inputs["x"].reshape(inputs["x"].shape[0], -1)
        magnitude = np.abs(h)
        for i in range(1, depth + 1):
            W, b = params[f"W{i}"], params[f"b{i}"]
            a = h @ W + b
            magnitude = magnitude @ np.abs(W) + np.abs(b)
            if i < depth:
                with np.errstate(over="ignore"):  # e^-a = inf for a << 0 gives 0, as it should
                    h = np.where(a > 0, a, 0.0) if activation == "relu" else 1 / (1 + np.exp(-a))
            else:
                h = a
        return loss_reference(h, magnitude, target, depth, weight_decay(params, decay))

    return oracle


def _network_params(sizes: Sequence[int]) -> st.SearchStrategy[Arrays]:
    """Weights and biases for layer sizes ``sizes``, keyed ``W1, b1, W2, ...``."""
    pairs = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
        pairs.append(
            st.tuples(
                st.just(i),
                bst.float_arrays(shape=(fan_in, fan_out), min_value=-2.0, max_value=2.0),
                bst.float_arrays(shape=(fan_out,), min_value=-1.0, max_value=1.0),
            )
        )
    return st.tuples(*pairs).map(
        lambda drawn: {k: v for i, w, b in drawn for k, v in ((f"W{i}", w), (f"b{i}", b))}
    )


WEIGHT_DECAY = 0.1
"""The ``weight_decay_lambda`` of the registry's deep ReLU network (and of
MultiLayerNetExtend): their loss and gradient carry the weight decay, the others' do not."""

NETWORK_MARGIN = 1e-2
"""How far a ReLU network's hidden pre-activations stay from 0 in registry cases.

With ``|x| <= 3``, ``|W| <= 2``, ``|b| <= 1`` and at most 5 units per layer, activations
stay below ``5·3·2 + 1 = 31`` after the first layer and ``5·31·2 + 1 = 311`` after the
second, so a probe of ``2h = 2·cbrt(eps64)·max(1, |θ|) <= 2.4e-5`` on any parameter
moves a pre-activation by at most ``2.4e-5 · 311 ≈ 7.5e-3``: under this margin, no probe
crosses a hidden kink. Without it, two kinks ``1e-266`` apart (Hypothesis finds them)
leave a slope no finite difference can see."""


def _clear_hidden_kinks(params: Arrays, x: FloatArray, margin: float) -> Arrays:
    """Shift hidden biases so that every hidden pre-activation is at least ``margin`` from 0.

    For each unit, the first shift in ``0, +2m, -2m, +4m, ...`` that clears every sample
    is used; with ``N`` samples one of the first ``2N + 1`` shifts always does.
    """
    params = {k: v.copy() for k, v in params.items()}
    depth = len(params) // 2
    h = x
    for i in range(1, depth):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        for unit in range(a.shape[1]):
            for k in range(2 * a.shape[0] + 2):
                shift = (k + 1) // 2 * 2 * margin * (1 if k % 2 else -1)
                if np.all(np.abs(a[:, unit] + shift) >= margin):
                    params[f"b{i}"][unit] += shift
                    a[:, unit] += shift
                    break
        h = np.maximum(a, 0.0)
    return params


@st.composite
def _network_cases(draw: st.DrawFn, *, depth: int, relu: bool) -> Drawn:
    sizes = [draw(st.integers(1, 5)) for _ in range(depth + 1)]
    sizes[-1] = draw(st.integers(2, 4))  # classes
    params = draw(_network_params(sizes))
    n = draw(st.integers(1, 4))
    x = draw(bst.float_arrays(shape=(n, sizes[0]), min_value=-3.0, max_value=3.0))
    if relu:
        params = _clear_hidden_kinks(params, x, NETWORK_MARGIN)
    target: npt.NDArray[np.generic] = draw(
        st.one_of(
            bst.class_labels(n=n, classes=sizes[-1]),
            bst.soft_targets(n=n, classes=sizes[-1]),
        )
    )
    return params, {"x": x}, target


def _sizes(params: Mapping[str, FloatArray]) -> list[int]:
    depth = len(params) // 2
    return [params["W1"].shape[0], *(params[f"W{i}"].shape[1] for i in range(1, depth + 1))]


def _load(network: TwoLayerNet | MultiLayerNet, params: Mapping[str, FloatArray]) -> object:
    for name, value in params.items():
        np.copyto(network.params[name], value)
    return network


def _two_layer(params: Mapping[str, FloatArray]) -> object:
    sizes = _sizes(params)
    net = TwoLayerNet(sizes[0], sizes[1], sizes[2], rng=0, dtype=params["W1"].dtype)
    return _load(net, params)


def _multi_layer(
    activation: Literal["relu", "sigmoid"], decay: float = 0.0
) -> Callable[[Mapping[str, FloatArray]], object]:
    def construct(params: Mapping[str, FloatArray]) -> object:
        sizes = _sizes(params)
        net = MultiLayerNet(
            sizes[0],
            sizes[1:-1],
            sizes[-1],
            activation=activation,
            weight_decay_lambda=decay,
            rng=0,
            dtype=params["W1"].dtype,
        )
        return _load(net, params)

    return construct


SPECS.append(
    LayerSpec(
        name="TwoLayerNet",
        kind="network",
        errors=BPCORE_ERRORS,
        construct=_two_layer,
        draw=lambda: _network_cases(depth=2, relu=True),
        kinks={},
        smooth=False,
        oracle=_network_oracle("relu"),
    )
)
SPECS.append(
    LayerSpec(
        name="MultiLayerNet-sigmoid",
        kind="network",
        errors=BPCORE_ERRORS,
        construct=_multi_layer("sigmoid"),
        draw=lambda: _network_cases(depth=3, relu=False),
        oracle=_network_oracle("sigmoid"),
    )
)
SPECS.append(
    LayerSpec(
        name="MultiLayerNet-relu",
        kind="network",
        errors=BPCORE_ERRORS,
        construct=_multi_layer("relu", decay=WEIGHT_DECAY),
        draw=lambda: _network_cases(depth=3, relu=True),
        smooth=False,
        oracle=_network_oracle("relu", decay=WEIGHT_DECAY),
    )
)

"""The public suite on layers a user writes (tests/user_layers.py): check_layer passes the
correct ones, names the one property each broken one breaks, turns a crash into failures
and does not mistake a layer's exactly-zero gradients for bugs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import properties as props
from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError, ArgumentTypeError, BpcoreError
from bpcore.registry import Case, registered
from bpcore.verify import (
    PROPERTY_NAMES,
    LayerCheckFailed,
    LayerSpec,
    PropertyFailure,
    check_layer,
    check_property,
    kink_margin,
    layer_spec,
    run_layer,
    run_property,
)
from tests.helpers import assert_error
from tests.user_layers import (
    BROKEN,
    DENSE,
    SWISH,
    Crashes,
    Dense,
    Swish,
    batch_norm_spec,
    centered_sum_spec,
)


class _Scripted:
    """A ``draw`` that hands out fixed values in order, whatever strategy it is given."""

    def __init__(self, *values: Any) -> None:
        self._values: Iterator[Any] = iter(values)

    def __call__(self, strategy: st.SearchStrategy[Any], /) -> Any:
        return next(self._values)


@pytest.fixture
def without_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generic bounds without the layer's measured rounding noise, nor its rounding
    measured against float64: what they were."""

    def none(
        case: Case, dtype: object, residual: object, base: Mapping[str, FloatArray]
    ) -> dict[str, float]:
        return dict.fromkeys(base, 0.0)

    def unmeasured(
        case: Case, dtype: object, douts: object, gradients: object
    ) -> list[dict[str, FloatArray]]:
        return []

    monkeypatch.setattr(props, "_rerolled_noise", none)
    monkeypatch.setattr(props, "_rounding_errors", unmeasured)


# -- correct layers pass -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "skipped"),
    [
        (SWISH, {}),
        (DENSE, {}),
        (
            batch_norm_spec(),
            {
                "forward_matches_its_oracle": "no oracle declared",
                "batch_independent": "not per-sample",
            },
        ),
    ],
    ids=["Swish", "Dense", "BatchNorm"],
)
def test_a_correct_layer_passes_every_property(spec: LayerSpec, skipped: dict[str, str]) -> None:
    """check_layer returns a report in which every property passed, or was skipped
    because the declaration makes it moot (and says why)."""
    report = check_layer(spec)
    assert [r.prop for r in report.results] == list(PROPERTY_NAMES)
    assert report.passed
    assert {r.prop: r.detail for r in report.results if r.status == "skip"} == skipped
    assert all(r.examples > 0 for r in report.results if r.status == "pass")
    assert all(r.ratio is None or r.ratio <= 1 for r in report.results)


def test_an_exactly_zero_loss_passes_every_property() -> None:
    """A loss that is 0 for every input, so whose value and gradient are rounding noise,
    passes every property: the gradient checker's tolerance measures backward's own noise
    by scaling ``dout``, and the Taylor test's floor follows rounding that grows with the
    step (at ``x = 0`` it is proportional to ``h``)."""
    report = check_layer(centered_sum_spec())
    assert report.passed, str(report)
    assert [r.prop for r in report.results] == list(PROPERTY_NAMES)
    assert (
        next(r for r in report.results if r.prop == "taylor_remainder_is_second_order").status
        == "pass"
    )
    # Twenty examples reach x = 0, where the rounding is exactly proportional to h.
    check_property(centered_sum_spec(), "taylor_remainder_is_second_order", examples=20)


# -- broken layers fail under the right name -----------------------------------------------


@pytest.mark.parametrize(
    ("bug", "message"),
    [
        ("mutated dout", "'dout'"),
        ("ignored dout", "|g(a·d1+b·d2) - (a·g(d1)+b·g(d2))|"),
        ("backward before forward", "got AttributeError: 'ForgetsForward' object has no attribute"),
        ("float32 to float64", "float32 input gave float64 output"),
    ],
)
def test_a_broken_layer_fails_exactly_the_property_for_its_bug(bug: str, message: str) -> None:
    """check_layer raises LayerCheckFailed (an AssertionError) for exactly the properties
    the bug breaks, whose message lists each by name and says what went wrong."""
    spec, expected = BROKEN[bug]
    with pytest.raises(LayerCheckFailed) as caught:
        check_layer(spec)
    error = caught.value
    assert isinstance(error, AssertionError)
    assert isinstance(error, BpcoreError)
    head = str(error).splitlines()[0]
    assert head.startswith(f"{spec.name}: {len(expected)} of {len(PROPERTY_NAMES)} generic")
    for prop in expected:
        assert prop in head
        assert f"[{prop}]" in str(error)
    assert message in str(error)
    assert {r.prop for r in error.report.failures} == expected


def test_an_exception_inside_a_property_is_a_failure_naming_it() -> None:
    """A layer that crashes fails every property that runs it, each naming the exception's
    type, message and where it was raised; the run goes on to the next property."""
    report = run_layer(layer_spec(Crashes))
    failed = [r for r in report.results if r.status == "fail"]
    assert [r.prop for r in failed] == [
        p for p in PROPERTY_NAMES if p != "forward_matches_its_oracle"
    ]
    for result in failed:
        assert "AttributeError: 'Crashes' object has no attribute 'scale'" in result.detail
        assert "user_layers.py" in result.detail
        assert "in forward" in result.detail


def test_a_strategy_that_cannot_draw_is_a_failure_too() -> None:
    """A user strategy that raises is reported as a failure of each property."""

    def broken(inputs: Mapping[str, FloatArray]) -> st.SearchStrategy[npt.NDArray[np.generic]]:
        raise ValueError("no targets today")

    spec = layer_spec(Swish, kind="loss", inputs={"x": (None, 3)}, targets=broken)
    result = run_property(spec, "deterministic", examples=3)
    assert result.status == "fail"
    assert "ValueError: no targets today" in result.detail


# -- exactly-zero gradients are no bug -----------------------------------------------------


def _batch_norm_case() -> Case:
    """Two samples: the normalised values are ±1 whatever x is, so every gradient of the
    batch normalisation is 0 in exact arithmetic (up to its 1e-7 under the root)."""
    return Case(
        spec=batch_norm_spec(),
        params={"gamma": np.array([1.0, 2.0, 0.5]), "beta": np.array([0.0, 1.0, -1.0])},
        inputs={"x": np.array([[0.5, -1.0, 2.0], [1.5, 3.0, -2.0]])},
        target=None,
    )


def _linearity_draws(dtype: type[np.floating[Any]]) -> _Scripted:
    d1 = np.ones((2, 3), dtype=dtype)
    d2 = np.array([[0.5, -2.0, 3.0], [1.0, 1.5, -0.5]], dtype=dtype)
    return _Scripted(np.dtype(dtype), d1, d2, 3.0, 2.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linearity_allows_for_a_zero_gradients_rounding_noise(
    dtype: type[np.floating[Any]],
) -> None:
    """The batch normalisation's exact gradient is 0: g(a·d1 + b·d2) and a·g(d1) + b·g(d2)
    are rounding noise that differs, which the measured noise allows for."""
    assert props.backward_is_linear_in_dout(_batch_norm_case(), _linearity_draws(dtype)) <= 1


TwoRows: TypeAlias = tuple[
    list[float], type[np.floating[Any]], list[float], list[float], float, float
]
"""``x``, the dtype, ``d1``, ``d2``, ``a`` and ``b`` of one linearity check."""

TWO_ROWS = [
    # Where the rounding came out alike at every re-rolled point.
    pytest.param(([0.0, 1.0], np.float64, [0.0, 0.0], [0.0, 1.0], 1.0, 0.75), id="f64-a"),
    pytest.param(([2.0, 0.0], np.float64, [0.0, 0.0], [1.0, 0.0], 1.0, 0.375), id="f64-b"),
    pytest.param(([0.0, 1.0], np.float32, [0.0, 0.0], [1.0, 0.0], 1.0, 2.5), id="f32"),
]


def _two_row_linearity(
    x: list[float],
    dtype: type[np.floating[Any]],
    d1: list[float],
    d2: list[float],
    a: float,
    b: float,
) -> float:
    """The linearity property on bpcore's BatchNormalization of one feature on two rows,
    gamma 1 and beta 0, with the ``dout`` pair and the coefficients given."""
    case = Case(
        spec=registered(["BatchNormalization"])[0],
        params={"gamma": np.ones(1), "beta": np.zeros(1)},
        inputs={"x": np.array(x).reshape(2, 1)},
        target=None,
    )
    douts = (np.array(d, dtype=dtype).reshape(2, 1) for d in (d1, d2))
    return props.backward_is_linear_in_dout(case, _Scripted(np.dtype(dtype), *douts, a, b))


@pytest.mark.parametrize("row", TWO_ROWS)
def test_linearity_allows_for_the_rounding_of_a_two_row_batch_normalization(row: TwoRows) -> None:
    """g(d) is about 1e-6·|d|, computed from ``d - mean(d) - x̂·mean(d·x̂)`` with terms of
    size |d|, and their rounding, an ulp of those terms, decides the residual. Moving the
    point or ``dout`` by a few ulps leaves that rounding as it was; ``dout`` moved by a
    relative sqrt(eps), and in float32 the rounding measured against float64, allow for
    it."""
    assert _two_row_linearity(*row) <= 1


@pytest.mark.usefixtures("without_noise")
@pytest.mark.parametrize("row", TWO_ROWS)
def test_without_the_measured_rounding_linearity_fails_a_two_row_batch_normalization(
    row: TwoRows,
) -> None:
    """The n·u·(size of the terms seen) bound alone rejects each of those cases."""
    with pytest.raises(PropertyFailure, match="linearity in dout"):
        _two_row_linearity(*row)


@pytest.mark.usefixtures("without_noise")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_without_the_noise_term_linearity_fails_that_layer(dtype: type[np.floating[Any]]) -> None:
    """The n·u·(size of the terms) bound alone rejects it: the noise term is load-bearing."""
    with pytest.raises(PropertyFailure, match="linearity in dout"):
        props.backward_is_linear_in_dout(_batch_norm_case(), _linearity_draws(dtype))


def _centered_sum_case() -> Case:
    x = np.array([[7.207, -5.693, 7.178], [-3.011, -1.227, 5.243], [-1.453, 0.793, -7.559]])
    return Case(spec=centered_sum_spec(), params={}, inputs={"x": x}, target=np.zeros(3, np.intp))


def _permutation_draws() -> _Scripted:
    return _Scripted(np.dtype(np.float64), [2, 0, 1], np.array(1.0))


def test_batch_independence_allows_for_an_exactly_zero_losss_rounding_noise() -> None:
    """The loss is 0 for every batch; reordering the batch re-rolls its rounding (3e-16)
    where the size of the results (themselves noise) would allow 4e-31."""
    assert props.batch_independent(_centered_sum_case(), _permutation_draws()) <= 1


def _without_oracle(case: Case) -> Case:
    return dataclasses.replace(case, spec=dataclasses.replace(case.spec, oracle=None))


@pytest.mark.usefixtures("without_noise")
def test_without_the_noise_term_batch_independence_fails_that_loss() -> None:
    """Without the oracle's size of the loss's terms, the same case fails the bound of
    n·u times the results' size: the noise term is load-bearing."""
    with pytest.raises(PropertyFailure, match="output changed by"):
        props.batch_independent(_without_oracle(_centered_sum_case()), _permutation_draws())


def _tiny_centered_sum_case() -> Case:
    e = 2.0**-23
    x = np.array([[0.0, e, e], [1.0, e, e], [e, e, e]])
    return Case(spec=centered_sum_spec(), params={}, inputs={"x": x}, target=np.zeros(3, np.intp))


def test_batch_independence_sizes_a_loss_by_its_oracle() -> None:
    """Rows whose centred sums are rounding of values 2^23 apart: swapping the first two
    moves the loss by 1.4e-18. The results and the re-rolled noise at nearby points
    allow 3.9e-19; the oracle's size of the loss's terms (1/N·Σ|x|) allows it."""
    draws = _Scripted(np.dtype(np.float64), [1, 0, 2], np.array(0.0))
    assert props.batch_independent(_tiny_centered_sum_case(), draws) <= 1
    draws = _Scripted(np.dtype(np.float64), [1, 0, 2], np.array(0.0))
    with pytest.raises(PropertyFailure, match="output changed by"):
        props.batch_independent(_without_oracle(_tiny_centered_sum_case()), draws)


class _Alternating:
    """Centring whose row mean sums forwards on its first call and backwards after: the
    same function every call, rounded differently once used, with nothing stale."""

    def __init__(self) -> None:
        self.calls = 0
        self.cols: int | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        self.calls += 1
        self.cols = x.shape[1]
        columns = range(x.shape[1]) if self.calls == 1 else reversed(range(x.shape[1]))
        total = np.zeros_like(x[:, :1])
        for c in columns:
            total = total + x[:, c : c + 1]
        centred: FloatArray = x - total / x.shape[1]
        return centred

    def backward(self, dout: FloatArray) -> FloatArray:
        if self.cols is None:
            raise RuntimeError("_Alternating.backward: backward() was called before forward().")
        dx: FloatArray = dout - dout.mean(axis=1, keepdims=True)
        return dx


ALTERNATING = layer_spec(_Alternating, name="Alternating", inputs={"x": (None, 5)})


def test_reuse_allows_a_layers_own_rounding_noise() -> None:
    """A reused layer that rounds differently, with nothing stale, passes reuse."""
    result = run_property(ALTERNATING, "reuse_matches_a_fresh_layer", examples=40, seed=0)
    assert result.status == "pass", result.detail


@pytest.mark.usefixtures("without_noise")
def test_without_the_noise_term_reuse_fails_that_layer() -> None:
    """Demanding identical bits, as reuse did, fails it: the noise term is load-bearing."""
    result = run_property(ALTERNATING, "reuse_matches_a_fresh_layer", examples=40, seed=0)
    assert result.status == "fail"
    assert "after an earlier call on other inputs differs" in result.detail


# -- the declaration -----------------------------------------------------------------------


@given(data=st.data())
def test_none_axes_share_one_batch_size(data: st.DataObject) -> None:
    """Every None axis of every input and parameter is the same drawn batch size."""
    spec = layer_spec(
        Swish, kind="binary", inputs={"x": (None, 2), "y": (None, 3, None)}, batch=(2, 5)
    )
    case = data.draw(spec.cases())
    n = case.inputs["x"].shape[0]
    assert 2 <= n <= 5
    assert case.inputs["y"].shape == (n, 3, n)


@given(data=st.data())
def test_drawn_inputs_stay_a_margin_from_declared_kinks(data: st.DataObject) -> None:
    """Values drawn from shapes stay kink_margin away from each declared kink, in range."""
    spec = layer_spec(Swish, inputs={"x": (None, 4)}, kinks={"x": [0.0, 1.0]}, max_value=3.0)
    x = data.draw(spec.cases()).inputs["x"]
    margin = kink_margin(-8.0, 3.0)
    assert np.all(np.abs(x) >= margin)
    assert np.all(np.abs(x - 1.0) >= margin)
    assert np.all((x >= -8.0) & (x <= 3.0))
    assert not spec.smooth  # declared kinks make the layer not smooth by default


@given(data=st.data(), kind=st.sampled_from(("labels", "one-hot", "soft")))
def test_loss_targets_fit_the_inputs(
    data: st.DataObject, kind: Literal["labels", "one-hot", "soft"]
) -> None:
    """A loss's targets have one row (or label) per sample and one column per class."""
    spec = layer_spec(Swish, kind="loss", inputs={"x": (None, 4)}, targets=kind)
    case = data.draw(spec.cases())
    assert case.target is not None
    n = case.inputs["x"].shape[0]
    assert case.target.shape == ((n,) if kind == "labels" else (n, 4))


def test_parameters_reach_the_factory_in_the_dtype_under_test() -> None:
    """The factory gets each drawn parameter by name, cast to the dtype checked."""
    case = Case(
        spec=DENSE,
        params={"W": np.ones((3, 2)), "b": np.zeros(2)},
        inputs={"x": np.ones((1, 3))},
        target=None,
    )
    layer = case.layer(np.float32)
    assert isinstance(layer, Dense)
    assert layer.W.dtype == np.float32
    assert layer.b.dtype == np.float32
    assert tuple(case.subject().parameters) == ("W", "b")


def test_a_keyword_oracle_gets_parameters_inputs_and_targets() -> None:
    """The oracle is called with parameters and inputs by name, and targets as t."""
    seen: dict[str, tuple[int, ...]] = {}

    def oracle(**arrays: FloatArray) -> FloatArray:
        seen.update({name: np.shape(value) for name, value in arrays.items()})
        return np.asarray(0.0)

    spec = layer_spec(Swish, kind="loss", inputs={"x": (2, 3)}, params={"w": (3,)}, oracle=oracle)
    case = Case(
        spec=spec, params={"w": np.ones(3)}, inputs={"x": np.ones((2, 3))}, target=np.zeros(2)
    )
    reference = case.reference(np.float64)
    assert reference is not None
    assert seen == {"w": (3,), "x": (2, 3), "t": (2,)}
    assert reference.size.shape == reference.value.shape


@pytest.mark.parametrize(
    ("arguments", "error", "expected", "got"),
    [
        ({"inputs": {"a": (2,)}}, ArgumentError, "inputs named ['x']", "['a']"),
        ({"inputs": {"x": [2, 3]}}, ArgumentTypeError, "a shape tuple or a strategy", "list"),
        ({"inputs": {"x": (2, -1)}}, ArgumentError, "ints >= 0 or None", "(2, -1)"),
        ({"kinks": {"x": [0.0]}, "smooth": True}, ArgumentError, "smooth=False", "smooth=True"),
        ({"kinks": {"z": [0.0]}}, ArgumentError, "parameters ['x']", "kinks for ['z']"),
        ({"min_value": 1.0, "max_value": 1.0}, ArgumentError, "min_value < max_value", "1.0"),
        ({"batch": (0, 3)}, ArgumentError, "1 <= low <= high", "(0, 3)"),
        ({"targets": "labels"}, ArgumentError, "no targets for a unary", "'labels'"),
        ({"kind": "loss", "targets": "hard"}, ArgumentTypeError, "'labels', 'one-hot'", "'hard'"),
        ({"kind": "network", "inputs": {"x": (2, 3)}}, ArgumentError, "targets for a net", "None"),
        ({"kind": "network"}, ArgumentError, "inputs={'x': shape}", "no inputs"),
        ({"cases": st.nothing(), "inputs": {"x": (1,)}}, ArgumentError, "either cases", "both"),
        ({"oracle": 3}, ArgumentTypeError, "a callable oracle", "3"),
    ],
)
def test_layer_spec_rejects_a_bad_declaration(
    arguments: dict[str, Any], error: type[BpcoreError], expected: str, got: str
) -> None:
    """Each mistake raises its documented error naming layer_spec, what it expected and
    what it got."""
    assert_error(
        error,
        lambda: layer_spec(Swish, **arguments),
        callee="layer_spec",
        expected=expected,
        got=got,
    )


def test_check_layer_rejects_what_is_not_a_spec() -> None:
    """A layer class is not a spec: check_layer says so."""
    assert_error(
        ArgumentTypeError,
        lambda: check_layer(Swish),  # type: ignore[arg-type]  # the mistake under test
        callee="bpcore.verify",
        expected="a LayerSpec",
        got="type",
    )


def test_an_unknown_property_is_rejected_with_the_known_ones() -> None:
    """A misspelt property name lists every known one."""
    assert_error(
        ArgumentError,
        lambda: check_layer(SWISH, properties=["gradient"]),
        callee="bpcore.verify",
        expected="backward_matches_finite_differences",
        got="'gradient'",
    )


def test_properties_go_by_short_name_function_name_or_function() -> None:
    """run_property accepts "gradients", its function name and the function alike."""
    names = {
        run_property(SWISH, prop, examples=2, seed=1).prop
        for prop in (
            "gradients",
            "backward_matches_finite_differences",
            props.backward_matches_finite_differences,
        )
    }
    assert names == {"backward_matches_finite_differences"}


def test_the_report_prints_as_a_table() -> None:
    """str(report) is the verify table: one row per property, failures beneath theirs."""
    report = run_layer(BROKEN["float32 to float64"][0], examples=5, seed=0)
    text = str(report)
    assert text.splitlines()[0].split() == [
        "layer",
        "property",
        "examples",
        "err/tol",
        "time",
        "status",
    ]
    rows = [line for line in text.splitlines() if line.lstrip().startswith("[")]
    assert len(rows) == len(PROPERTY_NAMES)
    assert all("Float64Output " in row for row in rows)
    assert "float32 input gave float64 output" in text


def test_a_random_failing_run_names_the_seed_that_replays_it() -> None:
    """Without a seed, a random run draws one and names it in a failure; that seed replays
    the very same falsifying example."""
    spec, _ = BROKEN["ignored dout"]
    first = run_property(spec, "backward_is_linear_in_dout", examples=5, derandomize=False)
    assert first.status == "fail"
    assert "(replay it with seed=" in first.detail
    seed = int(first.detail.rsplit("seed=", 1)[1].rstrip(")"))
    again = run_property(spec, "backward_is_linear_in_dout", examples=5, seed=seed)
    assert again.detail == first.detail

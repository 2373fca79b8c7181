"""The layer registry: registering and listing specs, and what a drawn Case builds."""

from __future__ import annotations

import dataclasses

import numpy as np

from bpcore import Affine, ArgumentError, SoftmaxWithLoss
from bpcore.gradcheck import LossSubject
from bpcore.registry import Case, register, registered
from tests.helpers import assert_error


def test_register_replaces_a_spec_of_the_same_name_and_returns_it() -> None:
    """register(spec) returns spec, which then stands in its name's place in the order."""
    order = [spec.name for spec in registered()]
    (original,) = registered(["Tanh"])
    replacement = dataclasses.replace(original, smooth=False)
    try:
        assert register(replacement) is replacement
        assert registered(["Tanh"]) == [replacement]
        assert [spec.name for spec in registered()] == order
    finally:
        register(original)
    assert registered(["Tanh"]) == [original]


def test_registered_lists_the_named_specs_or_names_the_unknown() -> None:
    """registered(names) gives those specs in the order asked; an unknown name raises
    ArgumentError listing every registered one."""
    names = [spec.name for spec in registered()]
    assert [s.name for s in registered(["Relu", "Affine"])] == ["Relu", "Affine"]
    error = assert_error(
        ArgumentError,
        lambda: registered(["Nope"]),
        callee="registered",
        expected="names of registered layers",
        got="unknown ['Nope']",
    )
    for name in names:
        assert name in str(error)


def _loss_case(target: np.ndarray) -> Case:
    (spec,) = registered(["SoftmaxWithLoss"])
    x = np.array([[0.1, -0.2, 0.3]])
    return Case(spec=spec, params={}, inputs={"x": x}, target=target)


def test_a_case_builds_fresh_layers_and_inputs_in_the_dtype_asked_for() -> None:
    """Case.layer builds a new layer with the parameters cast to the dtype, inputs_as casts
    the inputs, and target_as rounds float targets to it and keeps labels as they are."""
    (spec,) = registered(["Affine"])
    case = Case(
        spec=spec,
        params={"W": np.full((2, 1), 0.1), "b": np.zeros(1)},
        inputs={"x": np.full((3, 2), 0.1)},
        target=None,
    )
    first, second = case.layer(np.float32), case.layer(np.float32)
    assert isinstance(first, Affine)
    assert isinstance(second, Affine)
    assert first is not second
    assert first.W.dtype == np.float32
    assert not np.shares_memory(first.W, case.params["W"])
    assert case.inputs_as(np.float32)["x"].dtype == np.float32
    assert case.target_as(np.float32) is None
    soft = np.array([[0.1, 0.2, 0.7]])
    assert _loss_case(soft).target_as(np.float32).dtype == np.float32  # type: ignore[union-attr]  # a float target is given
    labels = np.array([2])
    assert _loss_case(labels).target_as(np.float32) is labels


def test_a_cases_factory_gives_the_subject_and_its_twin_the_same_rounded_targets() -> None:
    """For float32, Case.factory rounds float targets to float32 for the subject and its
    float64 twin alike, so both evaluate the same loss."""
    soft = np.array([[0.1, 0.2, 0.7]])
    make = _loss_case(soft).factory(np.float32)
    subject, twin = make(np.dtype(np.float32)), make(np.dtype(np.float64))
    assert isinstance(subject, LossSubject)
    assert isinstance(twin, LossSubject)
    assert subject.t.tobytes() == twin.t.tobytes() == soft.astype(np.float32).tobytes()


def test_a_spec_says_what_its_kind_implies() -> None:
    """Losses and networks have a scalar output; networks give no input gradient; a loss or
    network case without targets cannot be wrapped."""
    kinds = {spec.name: spec for spec in registered()}
    assert kinds["SoftmaxWithLoss"].scalar_output
    assert kinds["SoftmaxWithLoss"].input_gradients
    assert kinds["TwoLayerNet"].scalar_output
    assert not kinds["TwoLayerNet"].input_gradients
    assert not kinds["Relu"].scalar_output
    assert_error(
        ArgumentError,
        lambda: kinds["SoftmaxWithLoss"].subject(SoftmaxWithLoss(), None),
        callee="SoftmaxWithLoss",
        got="None",
    )


def test_a_budget_scales_the_examples_each_property_draws() -> None:
    """A spec's budget is its share of the profile's examples, at least one: a Tanh spec
    with budget 0.25 runs a quarter of a 40-example profile's examples, 10 at most."""
    from hypothesis import settings  # noqa: PLC0415  # the verify extra, as the suite has it

    from bpcore import Tanh  # noqa: PLC0415
    from bpcore.verify import layer_spec, run_property  # noqa: PLC0415

    spec = layer_spec(Tanh, inputs={"x": (None, 3)}, budget=0.25)
    assert (spec.examples(40), spec.examples(2), registered(["Affine"])[0].examples(40)) == (
        10, 1, 40)  # fmt: skip
    result = run_property(spec, "deterministic")
    assert 1 <= result.examples <= spec.examples(settings().max_examples)
    assert run_property(dataclasses.replace(spec, budget=1.0), "deterministic").examples > (
        spec.examples(settings().max_examples))  # fmt: skip
    assert_error(
        ArgumentError,
        lambda: dataclasses.replace(spec, budget=0.0),
        callee="LayerSpec",
        expected="`budget` to be a finite number > 0",
        got="0.0",
    )

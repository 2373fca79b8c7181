"""The generic properties, run over every layer in the registry.

Adding a layer to :mod:`bpcore.registry` adds it to every test here.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpcore import properties as props
from bpcore.registry import LayerSpec, registered

SPECS = registered()
every_layer = pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])


@every_layer
@given(data=st.data())
def test_forward_matches_its_oracle(spec: LayerSpec, data: st.DataObject) -> None:
    """Forward agrees with an independent reference within the rounding of the dtype used."""
    props.forward_matches_its_oracle(data.draw(spec.cases()), data.draw)


def test_every_registered_layer_has_an_oracle() -> None:
    """No registered layer is checked only against finite differences of its own forward."""
    assert [spec.name for spec in SPECS if spec.oracle is None] == []


@every_layer
@given(data=st.data())
def test_backward_matches_finite_differences(spec: LayerSpec, data: st.DataObject) -> None:
    """Backward matches float64 finite differences for every input and parameter."""
    props.backward_matches_finite_differences(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_taylor_remainder_is_second_order(spec: LayerSpec, data: st.DataObject) -> None:
    """For smooth layers, the first-order Taylor remainder falls as O(h²)."""
    props.taylor_remainder_is_second_order(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_backward_is_linear_in_dout(spec: LayerSpec, data: st.DataObject) -> None:
    """backward(a·d1 + b·d2) equals a·backward(d1) + b·backward(d2)."""
    props.backward_is_linear_in_dout(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_never_mutates_or_aliases_arguments(spec: LayerSpec, data: st.DataObject) -> None:
    """Forward and backward never modify their arguments nor hand back views of them."""
    props.never_mutates_or_aliases_arguments(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_gradient_shapes_and_dtypes_match(spec: LayerSpec, data: st.DataObject) -> None:
    """Gradients have the shapes and dtypes of their inputs and parameters."""
    props.gradient_shapes_and_dtypes_match(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_deterministic(spec: LayerSpec, data: st.DataObject) -> None:
    """Repeated calls give bit-identical outputs and gradients."""
    props.deterministic(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_reuse_matches_a_fresh_layer(spec: LayerSpec, data: st.DataObject) -> None:
    """A layer first used on other inputs gives the results of a fresh one: nothing stale."""
    props.reuse_matches_a_fresh_layer(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_batch_independent(spec: LayerSpec, data: st.DataObject) -> None:
    """Per-sample layers commute with a permutation of the batch."""
    props.batch_independent(data.draw(spec.cases()), data.draw)


@every_layer
@given(data=st.data())
def test_bad_calls_raise_clear_errors(spec: LayerSpec, data: st.DataObject) -> None:
    """Backward before forward and a wrongly shaped dout raise the documented errors."""
    props.bad_calls_raise_clear_errors(data.draw(spec.cases()), data.draw)


def test_every_generic_property_has_a_test() -> None:
    """Each property in GENERIC_PROPERTIES is exercised by a test in this module."""
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert {f.__name__ for f in props.GENERIC_PROPERTIES.values()} <= tested

"""The generic properties, run over every layer in the registry.

Adding a layer to :mod:`bpcore._declarations` adds it to every test here. Each test goes
through :func:`bpcore.verify.check_property`, the function the public suite (the pytest
plugin, :func:`bpcore.verify.check_layer` and ``bpcore verify``) runs for anyone's
layer: bpcore's own layers are not a special case. The examples come from the active
Hypothesis profile (``ci``: 40, derandomized).
"""

from __future__ import annotations

import pytest

from bpcore.registry import LayerSpec, registered
from bpcore.verify import PROPERTY_NAMES, check_property

SPECS = registered()


@pytest.mark.parametrize("prop", PROPERTY_NAMES)
@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_generic_property(spec: LayerSpec, prop: str) -> None:
    """The registered layer satisfies the generic property (skipped where it does not
    apply: a layer that is not smooth has no Taylor test, nor one that is not per-sample
    a batch-independence test)."""
    result = check_property(spec, prop)
    if result.status == "skip":
        pytest.skip(f"{prop} does not apply to {spec.name}: {result.detail}")
    assert result.examples > 0


def test_every_registered_layer_has_an_oracle() -> None:
    """No registered layer is checked only against finite differences of its own forward."""
    assert [spec.name for spec in SPECS if spec.oracle is None] == []

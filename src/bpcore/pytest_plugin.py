"""The ``bpcore`` pytest plugin: one test per generic property for your own layer.

Installed with bpcore (a ``pytest11`` entry point), it adds a marker and a fixture and
nothing else; a test that uses neither runs as before:

    import pytest
    from bpcore.verify import layer_spec

    SWISH = layer_spec(Swish, inputs={"x": (None, 4)})

    @pytest.mark.bpcore_layer(SWISH)
    def test_swish(bpcore_property):
        bpcore_property()

pytest then collects ``test_swish[Swish-forward_matches_its_oracle]``,
``test_swish[Swish-backward_matches_finite_differences]``, and so on: one test per
generic property and spec (the marker takes several specs). Calling the fixture runs
that property with Hypothesis (:func:`bpcore.verify.check_property`): it fails with the
property's message, or is skipped when the property does not apply (no oracle, a
layer that is not smooth or not per-sample). The marker's keywords ``examples`` and
``seed`` are passed on; by default the active Hypothesis profile decides.

Without the entry point (bpcore not installed), load it with ``-p bpcore.pytest_plugin``.
Nothing here imports Hypothesis or bpcore's verification engine until a marked test
is collected, so the plugin costs nothing where it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import pytest

if TYPE_CHECKING:
    from bpcore.registry import LayerSpec
    from bpcore.verify import PropertyResult

__all__ = ["MARKER", "PropertyCheck", "bpcore_property"]

MARKER = "bpcore_layer"
FIXTURE = "bpcore_property"


@final
@dataclass(frozen=True, repr=False)
class PropertyCheck:
    """One generic property on one spec; call it to run the property in a test.

    Attributes:
        spec: the layer's declaration.
        prop: the property's name.
        examples: examples to run, or ``None`` for the active Hypothesis profile's.
        seed: Hypothesis's seed, or ``None``.
    """

    spec: LayerSpec
    prop: str
    examples: int | None = None
    seed: int | None = None

    def __repr__(self) -> str:
        return f"PropertyCheck({self.spec.name}, {self.prop})"

    def __call__(self) -> PropertyResult:
        """Run the property; skip the test when it does not apply to the spec.

        Raises:
            PropertyFailure: the property failed (the test fails with its message).
        """
        __tracebackhide__ = True  # the failure is the property's, not this frame's
        from bpcore.verify import check_property  # noqa: PLC0415  # needs Hypothesis

        result = check_property(self.spec, self.prop, examples=self.examples, seed=self.seed)
        if result.status == "skip":
            pytest.skip(f"{self.prop} does not apply to {self.spec.name}: {result.detail}")
        return result


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``bpcore_layer`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*specs, examples=None, seed=None): one test per generic bpcore property "
        f"for each LayerSpec; the test takes the `{FIXTURE}` fixture and calls it.",
    )


def _needs_hypothesis() -> None:
    try:
        import hypothesis  # noqa: F401, PLC0415  # only to say what is missing
    except ModuleNotFoundError:
        pytest.fail(
            f"@pytest.mark.{MARKER} needs Hypothesis: pip install 'bpcore[verify]'.",
            pytrace=False,
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize a marked test that takes ``bpcore_property``: one case per property."""
    if FIXTURE not in metafunc.fixturenames:
        return
    markers = list(metafunc.definition.iter_markers(MARKER))
    if not markers:
        return  # the fixture itself says what is missing
    _needs_hypothesis()
    from bpcore.registry import LayerSpec  # noqa: PLC0415  # needs Hypothesis
    from bpcore.verify import PROPERTY_NAMES  # noqa: PLC0415  # needs Hypothesis

    checks: list[PropertyCheck] = []
    for marker in markers:
        unknown = sorted(set(marker.kwargs) - {"examples", "seed"})
        if unknown:
            pytest.fail(
                f"@pytest.mark.{MARKER}: expected the keywords examples and seed, got {unknown}.",
                pytrace=False,
            )
        if not marker.args:
            pytest.fail(
                f"@pytest.mark.{MARKER}: expected LayerSpec arguments, got none.", pytrace=False
            )
        for spec in marker.args:
            if not isinstance(spec, LayerSpec):
                pytest.fail(
                    f"@pytest.mark.{MARKER}: expected LayerSpec arguments (see "
                    f"bpcore.verify.layer_spec), got {type(spec).__name__}.",
                    pytrace=False,
                )
            examples, seed = marker.kwargs.get("examples"), marker.kwargs.get("seed")
            checks.extend(
                PropertyCheck(spec, prop, examples=examples, seed=seed) for prop in PROPERTY_NAMES
            )
    metafunc.parametrize(FIXTURE, checks, ids=[f"{c.spec.name}-{c.prop}" for c in checks])


@pytest.fixture
def bpcore_property() -> PropertyCheck:
    """The generic property this test runs; only a test marked ``bpcore_layer`` gets one.

    Fails the test when it is not marked ``@pytest.mark.bpcore_layer(spec)``.
    """
    pytest.fail(
        f"the {FIXTURE} fixture needs the test to be marked @pytest.mark.{MARKER}(spec).",
        pytrace=False,
    )

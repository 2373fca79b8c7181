"""The ``bpcore`` pytest plugin: a marker that makes one test per generic property of a
user's spec (tests/user_layers.py), run in a pytest of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from bpcore.verify import PROPERTY_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _pytest(directory: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest with the plugin on a test module of ``source``, as a user's project would."""
    (directory / "test_user.py").write_text(textwrap.dedent(source))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "OPENBLAS_NUM_THREADS": "1",
    }
    env.pop("HYPOTHESIS_PROFILE", None)  # the user's project has no bpcore profiles
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            # The entry point, if bpcore is installed, or the module by name if not: never both.
            "-p",
            "no:bpcore",
            "-p",
            "bpcore.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            *args,
            "test_user.py",
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_pyproject_registers_the_plugin() -> None:
    """Installing bpcore registers the plugin with pytest (entry point group pytest11)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"bpcore": "bpcore.pytest_plugin"}


def test_the_plugin_imports_neither_hypothesis_nor_the_engine() -> None:
    """Loading the plugin (which pytest does in every run once bpcore is installed)
    imports no Hypothesis and no verification engine: a run that does not use it is
    unchanged, and it loads without the verify extra."""
    probe = (
        "import sys, bpcore.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('hypothesis', 'bpcore.verify', "
        "'bpcore.properties', 'bpcore.registry'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_marked_test_becomes_one_test_per_property(tmp_path: Path) -> None:
    """@pytest.mark.bpcore_layer(spec) with the bpcore_property fixture collects one test
    per generic property, each named after the spec and property, and all pass for a
    correct layer; an unmarked test in the same module runs as before."""
    done = _pytest(
        tmp_path,
        """
        import pytest
        from tests.user_layers import SWISH

        @pytest.mark.bpcore_layer(SWISH, examples=10, seed=0)
        def test_swish(bpcore_property):
            bpcore_property()

        def test_unrelated():
            assert 1 + 1 == 2
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for prop in PROPERTY_NAMES:
        assert f"PASSED test_user.py::test_swish[Swish-{prop}]" in done.stdout
    assert "PASSED test_user.py::test_unrelated" in done.stdout
    assert f"{len(PROPERTY_NAMES) + 1} passed" in done.stdout


def test_a_broken_layer_fails_the_test_of_its_property(tmp_path: Path) -> None:
    """The test of the property the bug breaks fails with its message; the others pass,
    and those that do not apply are skipped with the reason."""
    done = _pytest(
        tmp_path,
        """
        import pytest
        from tests.user_layers import BROKEN

        @pytest.mark.bpcore_layer(BROKEN["mutated dout"][0], examples=10, seed=0)
        def test_mine(bpcore_property):
            bpcore_property()
        """,
    )
    assert done.returncode == 1
    failed = [
        line.split(" - ")[0] for line in done.stdout.splitlines() if line.startswith("FAILED")
    ]
    assert failed == [
        "FAILED test_user.py::test_mine[MutatesDout-never_mutates_or_aliases_arguments]"
    ]
    # Shrinking may end on a dout the layer leaves unchanged: then it is the alias it returns.
    assert re.search(r"PropertyFailure: MutatesDout: no (mutation|aliasing) failed", done.stdout)
    assert f"1 failed, {len(PROPERTY_NAMES) - 1} passed" in done.stdout


def test_a_property_that_does_not_apply_is_skipped(tmp_path: Path) -> None:
    """A spec without an oracle, for a layer that is not per-sample, skips those tests."""
    done = _pytest(
        tmp_path,
        """
        import pytest
        from tests.user_layers import batch_norm_spec

        @pytest.mark.bpcore_layer(batch_norm_spec(), examples=5, seed=0)
        def test_norm(bpcore_property):
            bpcore_property()
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "forward_matches_its_oracle does not apply to BatchNorm: no oracle declared" in (
        done.stdout
    )
    assert "batch_independent does not apply to BatchNorm: not per-sample" in done.stdout
    assert f"{len(PROPERTY_NAMES) - 2} passed, 2 skipped" in done.stdout


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            """
            import pytest

            @pytest.mark.bpcore_layer("Swish")
            def test_mine(bpcore_property):
                bpcore_property()
            """,
            "@pytest.mark.bpcore_layer: expected LayerSpec arguments (see "
            "bpcore.verify.layer_spec), got str.",
        ),
        (
            """
            import pytest
            from tests.user_layers import SWISH

            @pytest.mark.bpcore_layer(SWISH, example=3)
            def test_mine(bpcore_property):
                bpcore_property()
            """,
            "@pytest.mark.bpcore_layer: expected the keywords examples and seed, got ['example'].",
        ),
        (
            """
            def test_mine(bpcore_property):
                bpcore_property()
            """,
            "the bpcore_property fixture needs the test to be marked "
            "@pytest.mark.bpcore_layer(spec).",
        ),
    ],
    ids=["not a spec", "unknown keyword", "unmarked"],
)
def test_a_misuse_is_reported_in_one_line(tmp_path: Path, source: str, message: str) -> None:
    """Marking with something else than specs, a misspelt keyword, or using the fixture
    without the marker, is an error that says what was expected."""
    done = _pytest(tmp_path, source)
    assert done.returncode != 0
    assert message in done.stdout

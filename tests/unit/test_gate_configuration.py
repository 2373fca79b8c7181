"""What README.md and CONTRIBUTING.md say about the gate and the package: the nox sessions,
the Hypothesis profiles, how a failing property reports its draws, the dependencies and
the public surface a layer is exported through."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import numpy as np
from hypothesis import settings

import bpcore
import bpcore.layers
import bpcore.strategies
from bpcore.registry import Case, registered

ROOT = Path(__file__).resolve().parents[2]


def _nox_runs() -> dict[str, list[list[str]]]:
    """Each nox session's ``session.run`` calls, as their literal string arguments."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    runs: dict[str, list[list[str]]] = {}
    for function in tree.body:
        if isinstance(function, ast.FunctionDef):
            calls = []
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "run"
                ):
                    calls.append(
                        [str(a.value) for a in node.args if isinstance(a, ast.Constant)]
                        + [
                            f"{k.arg}={ast.unparse(k.value)}"
                            for k in node.keywords
                            if k.arg is not None
                        ]
                    )
            runs[function.name] = calls
    return runs


def _default_sessions() -> list[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "nox.options.sessions":
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError("noxfile.py sets no default sessions")


def runs_of_docs() -> list[list[str]]:
    return _nox_runs()["docs"]


def test_nox_runs_lint_typecheck_tests_and_docs() -> None:
    """`nox` runs four sessions: lint (ruff check and format --check), typecheck (mypy
    --strict on src, tests and examples/, then on the documented examples), tests (pytest on the
    ci profile, one xdist worker per core) and docs (the site, built strictly); `nox -s
    nightly` runs the property suite on the nightly profile."""
    assert _default_sessions() == ["lint", "typecheck", "tests", "docs"]
    assert runs_of_docs() == [["mkdocs", "build", "--strict", "--quiet"]]
    runs = _nox_runs()
    assert runs["lint"] == [["ruff", "check", "."], ["ruff", "format", "--check", "."]]
    assert runs["typecheck"] == [
        ["mypy", "--strict", "src", "tests", "examples"],
        ["mypy", "--strict"],
    ]
    source = (ROOT / "noxfile.py").read_text()
    assert (
        'DOCS_WITH_EXAMPLES = ("README.md", "docs/from-the-book.md", "docs/training.md")' in source
    )
    ((tests,),) = [runs["tests"]]
    assert tests[:3] == ["pytest", "-n", "auto"]
    assert "env=env" in tests
    assert 'env = {"HYPOTHESIS_PROFILE": "ci", **ONE_BLAS_THREAD}' in source
    ((nightly,),) = [runs["nightly"]]
    assert nightly[:2] == ["pytest", "tests/properties"]
    assert "env={'HYPOTHESIS_PROFILE': 'nightly'}" in nightly


def test_the_benchmarks_the_readme_names_exist() -> None:
    """`nox -s bench -- --only NAME` takes step, conv, numgrad, gradcheck, memory, properties
    or detection, each a script in benchmarks/."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    (names,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "BENCHMARKS"
    ]
    assert names == ("step", "conv", "numgrad", "gradcheck", "memory", "properties", "detection")
    for name in names:
        assert (ROOT / "benchmarks" / f"bench_{name}.py").is_file(), name


def test_the_hypothesis_profiles_are_as_documented() -> None:
    """dev is fast, ci is derandomized and what nox runs, nightly has ten times ci's
    examples, randomized; ci and nightly print the @reproduce_failure blob."""
    dev, ci, nightly = (settings.get_profile(name) for name in ("dev", "ci", "nightly"))
    assert dev.max_examples < ci.max_examples
    assert ci.derandomize
    assert ci.database is None
    assert nightly.max_examples == 10 * ci.max_examples
    assert not nightly.derandomize
    assert ci.print_blob
    assert nightly.print_blob


def test_a_case_prints_as_its_layer_and_shapes() -> None:
    """A falsifying draw prints as Case(<layer>, shapes=...), naming the registered layer."""
    (spec,) = registered(["Affine"])
    case = Case(
        spec=spec,
        params={"W": np.zeros((3, 2)), "b": np.zeros(2)},
        inputs={"x": np.zeros((4, 3))},
        target=None,
    )
    assert repr(case) == "Case(Affine, shapes={'W': (3, 2), 'b': (2,), 'x': (4, 3)}, target=None)"


def test_numpy_and_threadpoolctl_are_the_dependencies_and_extras_add_the_rest() -> None:
    """`pip install .` needs NumPy and threadpoolctl on Python 3.11 or newer; the verify
    extra adds Hypothesis, the plot extra matplotlib; the `bpcore` command is
    bpcore.cli:main."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0] for d in project["dependencies"]] == ["numpy", "threadpoolctl"]
    assert project["requires-python"] == ">=3.11"
    assert [d.split(">")[0] for d in project["optional-dependencies"]["verify"]] == ["hypothesis"]
    assert [d.split(">")[0] for d in project["optional-dependencies"]["plot"]] == ["matplotlib"]
    assert project["scripts"] == {"bpcore": "bpcore.cli:main"}


def test_every_layer_is_exported_from_bpcore_and_the_strategies_are_public() -> None:
    """Every layer of bpcore.layers is also a top-level name of bpcore; the strategies
    CONTRIBUTING lists (shapes, well-conditioned and kink arrays, extreme logits, labels,
    one-hot and soft targets, Affine parameters, upstream gradients) are public."""
    for name in bpcore.layers.__all__:
        assert getattr(bpcore, name) is getattr(bpcore.layers, name)
        assert name in bpcore.__all__
    assert set(bpcore.strategies.__all__) >= {
        "batch_shapes",
        "float_arrays",
        "kink_arrays",
        "logits",
        "class_labels",
        "one_hot_targets",
        "soft_targets",
        "affine_cases",
        "upstream_gradients",
    }

"""Sessions for the bpcore gate: lint, types and tests (`nox` runs all three)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src and tests, with numpy pinned so its stubs cannot drift."""
    session.install(*_group("typecheck"))
    session.install("-e", ".")
    session.run("mypy", "--strict", "src", "tests")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the property suite on the derandomized `ci` Hypothesis profile."""
    session.install(*_group("test"))
    session.install("-e", ".[verify]")
    session.run("pytest", *session.posargs, env={"HYPOTHESIS_PROFILE": "ci"})


@nox.session
def nightly(session: nox.Session) -> None:
    """The property suite with ten times the examples, randomized."""
    session.install(*_group("test"))
    session.install("-e", ".[verify]")
    session.run(
        "pytest", "tests/properties", *session.posargs, env={"HYPOTHESIS_PROFILE": "nightly"}
    )

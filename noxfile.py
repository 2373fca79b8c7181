"""Sessions for the bpcore gate: lint, types, tests and the docs site (`nox` runs all four)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


DOCS_WITH_EXAMPLES = ("README.md", "docs/from-the-book.md", "docs/training.md")
"""The pages whose ```python blocks a user copies: each is type-checked as a module."""


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests and the documented examples, with numpy pinned so its
    stubs cannot drift."""
    session.install(*_group("typecheck"))
    session.install("-e", ".")
    session.run("mypy", "--strict", "src", "tests", "examples")
    examples = Path(session.create_tmp()) / "examples"
    shutil.rmtree(examples, ignore_errors=True)
    examples.mkdir()
    for page in DOCS_WITH_EXAMPLES:
        blocks = re.findall(r"```python\n(.*?)```", Path(page).read_text("utf-8"), re.DOTALL)
        for i, block in enumerate(blocks):
            stem = re.sub(r"\W", "_", Path(page).stem)
            (examples / f"{stem}_{i}.py").write_text(block, "utf-8")
    session.run("mypy", "--strict", str(examples))


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs.yml) into ./site, failing on any warning: a
    broken link, a page left out of the navigation, a docstring that does not render."""
    session.install(*_group("docs"))
    session.install("-e", ".")
    session.run("mkdocs", "build", "--strict", "--quiet")


ONE_BLAS_THREAD = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")
"""One BLAS thread per pytest worker: the workers already take every core."""


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the property suite on the derandomized `ci` Hypothesis profile, with one
    pytest-xdist worker per core (`nox -s tests -- -n0` runs them in one process)."""
    session.install(*_group("test"))
    session.install("-e", ".[verify,plot]")  # plot: the --plot tests draw real figures
    env = {"HYPOTHESIS_PROFILE": "ci", **ONE_BLAS_THREAD}
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


@nox.session
def nightly(session: nox.Session) -> None:
    """The property suite with ten times the examples, randomized."""
    session.install(*_group("test"))
    session.install("-e", ".[verify]")
    session.run(
        "pytest", "tests/properties", *session.posargs, env={"HYPOTHESIS_PROFILE": "nightly"}
    )


MNIST_RUNS = {
    # The book's train_neuralnet.py: 784-50-10, SGD at 0.1 on batches of 100 for 10,000
    # iterations, which is 16.7 epochs of the 60,000 images: 17 epochs here.
    "mlp": ["--hidden", "50", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "100",
            "--epochs", "17"],
    # The book's train_convnet.py (SimpleConvNet, Adam at 0.001, batches of 100, 20 epochs:
    # bpcore train --model cnn's defaults on MNIST) ends at 0.987-0.989 test accuracy; with
    # chapter 6's weight decay and the rate cut after epochs 10 and 15 it passes 0.99
    # (docs/training.md gives the runs).
    "cnn": ["--model", "cnn", "--weight-decay", "5e-4", "--lr-decay", "10:0.3,15:0.1"],
}  # fmt: skip


@nox.session
def mnist(session: nox.Session) -> None:
    """Acceptance runs on the real MNIST, not part of the gate: `nox -s mnist` trains the
    book's chapter 5 network, `nox -s mnist -- cnn` its chapter 7 SimpleConvNet, `-- mlp
    cnn` both; each prints its table, train and test accuracy and time. The files are
    read from $BPCORE_MNIST_DIR, else from bpcore's default folder (`bpcore download
    mnist` fills it)."""
    unknown = sorted(set(session.posargs) - set(MNIST_RUNS))
    if unknown:
        session.error(f"unknown run(s) {unknown}; choose from {list(MNIST_RUNS)}")
    session.install("-e", ".")
    folder = os.environ.get("BPCORE_MNIST_DIR")
    data = ["--data-dir", folder] if folder else []
    checkpoints = Path(session.create_tmp())
    for name in session.posargs or ["mlp"]:
        checkpoint = checkpoints / f"mnist-{name}.npz"
        checkpoint.unlink(missing_ok=True)
        session.run(
            "bpcore", "train", "--dataset", "mnist", *data, *MNIST_RUNS[name], "--quiet",
            "--checkpoint", str(checkpoint),
        )  # fmt: skip


MUTANT_STATUSES = (
    "killed",
    "timeout",
    "caught by type check",
    "survived",
    "no tests",
    "not checked",
)


def _mutation_score(listing: str) -> str:
    """The score table for ``mutmut results --all=true``: per module, then in total.

    A mutant is detected when a test kills it (or times out on it) or mypy rejects it;
    the score is detected / checked: "no tests" mutants count as undetected, and mutants
    not checked yet (outside the globs of a partial run) are left out.
    """
    counts: dict[str, dict[str, int]] = {}
    for line in listing.splitlines():
        key, sep, status = line.strip().rpartition(": ")
        module = key.split(".x_")[0].split(".xǁ")[0]
        if sep and "__mutmut_" in key:
            row = counts.setdefault(module, dict.fromkeys((*MUTANT_STATUSES, "other"), 0))
            row[status if status in row else "other"] += 1
    header = (
        *("module", "killed", "timeout", "mypy", "survived"),
        *("no tests", "unchecked", "other", "score"),
    )
    rows: list[tuple[str, ...]] = [header]
    total = dict.fromkeys((*MUTANT_STATUSES, "other"), 0)
    for module, row in [*sorted(counts.items()), ("TOTAL", total)]:
        if module != "TOTAL":
            for status, n in row.items():
                total[status] += n
        detected = row["killed"] + row["timeout"] + row["caught by type check"]
        checked = detected + row["survived"] + row["no tests"] + row["other"]
        score = f"{detected}/{checked} = {detected / checked:.1%}" if checked else "-"
        rows.append((module, *(str(row[s]) for s in (*MUTANT_STATUSES, "other")), score))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


@nox.session
def mutants(session: nox.Session) -> None:
    """mutmut over src/bpcore on the derandomized `ci` profile, then the mutation score.

    Arguments select mutants by name glob: `nox -s mutants -- "bpcore.layers.*"`. Results
    are kept in ./mutants, so a second run only tests what changed.
    """
    session.install(*_group("test"), *_group("typecheck"), "mutmut==3.8.1")
    session.install("-e", ".[verify]")
    env = {"HYPOTHESIS_PROFILE": "ci"}
    session.run("mutmut", "run", *session.posargs, env=env)
    listing = session.run("mutmut", "results", "--all=true", env=env, silent=True)
    if listing is None:  # --install-only: nothing ran, so there is no score
        return
    session.log("mutation score (detected = killed by a test, timed out or rejected by mypy)")
    print(_mutation_score(str(listing)))
    session.log("survivors: `mutmut results`; one diff: `mutmut show <name>`")


BENCHMARKS = ("step", "conv", "numgrad", "gradcheck", "memory", "properties", "detection")
"""``benchmarks/bench_<name>.py``, in the order ``nox -s bench`` runs them."""

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@nox.session(venv_backend="virtualenv", reuse_venv=True)  # keep torch installed between runs
def bench(session: nox.Session) -> None:
    """Performance benchmarks (not part of the gate): tables of medians and ratios.

    `nox -s bench` runs every benchmark; arguments go to each of them, and
    `--only step,memory` picks some: `nox -s bench -- --quick`, `nox -s bench -- --threads 1`
    (steadier on a busy machine), `nox -s bench -- --no-torch`. See benchmarks/README.md.

    PyTorch, for the step benchmark's comparison, is optional and installed here only:
    its CPU-only wheel by pip (this session uses virtualenv, not uv), pinned by its local
    version `+cpu`, which no CUDA build can satisfy, so a missing wheel fails fast and the
    benchmark prints "torch not importable" instead. `BPCORE_BENCH_TORCH=0` skips it.

    OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set for older OpenBLAS
    builds and which slow the current one, are unset for the benchmarks only (they say
    so, and print the kernel threadpoolctl reports); the property-suite benchmark puts
    them back for its pytest run, as CI has them.
    """
    args = list(session.posargs)
    chosen = list(BENCHMARKS)
    if "--only" in args:
        at = args.index("--only")
        chosen = [name for name in args[at + 1].split(",") if name]
        del args[at : at + 2]
        unknown = sorted(set(chosen) - set(BENCHMARKS))
        if unknown:
            session.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    session.install(*_group("test"))
    session.install("-e", ".[verify]")
    want_torch = "--no-torch" not in args and os.environ.get("BPCORE_BENCH_TORCH") != "0"
    if {"step", "conv", "detection"} & set(chosen) and want_torch:
        session.run(
            *("python", "-m", "pip", "install", "--quiet", "--only-binary=:all:"),
            "torch==2.13.0+cpu",
            success_codes=[0, 1],
        )
    removed = {name: os.environ[name] for name in OPENBLAS_OVERRIDES if name in os.environ}
    env: dict[str, str | None] = dict.fromkeys(removed)
    env["BPCORE_BENCH_UNSET"] = ",".join(f"{k}={v}" for k, v in removed.items())
    for name in chosen:
        session.run("python", f"benchmarks/bench_{name}.py", *args, env=env)

"""Detection of injected backprop bugs: bpcore's checker against ``torch.autograd.gradcheck``.

The subjects are the book's layers and the bug catalogue of ``tests/book_bugs.py``
(written in the book's style, not by or for bpcore). For every bug and every seed
(the seed draws the inputs, parameters, masks and ``dout``), three checks run on the
very same hand-written backward:

* **bpcore**: ``check_gradients`` with its defaults (float64, ``mode="auto"``), the
  case's declared kinks, and ``rng=seed``. A failed report, or a refusal
  (``ArgumentError``: an unlisted parameter), is a detection.
* **torch**: ``torch.autograd.gradcheck`` with its defaults, on a
  ``torch.autograd.Function`` in float64 whose forward builds the NumPy layer (setting its
  parameters to the tensors given) and whose backward calls the layer's backward and
  reads ``d<name>`` for each parameter: the parameters the case lists, else those found
  the book's way. A ``False`` or an exception is a detection. As a user's wrapper would,
  it hands the layer torch's own ``grad_output`` (``.numpy()``, shared memory) and the
  same targets on every call, so an in-place edit of either reaches torch.
* **torch fast**: the same with ``fast_mode=True`` (``torch.manual_seed(seed)`` first).

Then: the detection rate per category and overall; the smallest relative scaling
``1 + δ`` of a correct gradient (five layers, ``δ = 1e-1 … 1e-12``) each tool flags in
every seed; the median time of one check; and the failures on the correct subjects,
which must be none (a subject at a kink -- ties, exact zeros -- is marked: torch has no
kink rule). Nothing here asserts anything; run
``python benchmarks/bench_detection.py [--quick] [--seeds N] [--threads N] [--no-torch]``
from the repository root (``PYTHONPATH=src`` for the checkout's own bpcore).

Both tools run in this process, one thread each by default (``--threads``): the layers
are tiny, and NumPy's and PyTorch's thread pools would otherwise wait on each other.
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _harness import (
    add_threads_option,
    fmt_seconds,
    limit_blas_threads,
    print_environment,
    print_load_after,
    print_table,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.book_bugs

from tests.book_bugs import (  # importable once the path is set
    Case,
    catalogue,
    correct_subjects,
    scaled_subjects,
)

from bpcore._arrays import FloatArray
from bpcore.errors import ArgumentError, BpcoreError
from bpcore.gradcheck import check_gradients, discover_parameters

F64 = np.dtype(np.float64)
BPCORE, TORCH, TORCH_FAST = "bpcore", "torch", "torch fast"
SWEEP = tuple(10.0**-k for k in range(1, 13))


# -- the three checks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one check said: ``"pass"``, ``"fail"``, ``"refused"`` or ``"raised <Error>"``,
    and how long it took."""

    verdict: str
    seconds: float

    @property
    def detected(self) -> bool:
        return self.verdict != "pass"


def bpcore_check(case: Case, seed: int) -> Outcome:
    """bpcore's checker with its defaults, the case's kinks and ``rng=seed``."""
    start = time.perf_counter()
    try:
        report = check_gradients(case.factory(), case.inputs, kinks=case.kinks, rng=seed)
        verdict = "pass" if report.passed else "fail"
    except ArgumentError:
        verdict = "refused"
    except BpcoreError as error:
        verdict = f"raised {type(error).__name__}"
    return Outcome(verdict, time.perf_counter() - start)


@dataclass(frozen=True)
class _Raw:
    """A freshly built float64 layer seen as inputs by position."""

    layer: object
    forward: Callable[[list[FloatArray]], FloatArray]
    backward: Callable[[FloatArray], list[FloatArray]]


def _raw(case: Case, t: np.ndarray[Any, Any] | None) -> _Raw:
    if case.unary is not None:
        u = case.unary(F64)
        return _Raw(u, lambda xs: u.forward(xs[0]), lambda d: [u.backward(d)])
    if case.binary is not None:
        b = case.binary(F64)
        return _Raw(b, lambda xs: b.forward(xs[0], xs[1]), lambda d: list(b.backward(d)))
    assert case.loss is not None
    assert t is not None
    lo = case.loss(F64)
    return _Raw(lo, lambda xs: np.asarray(lo.forward(xs[0], t)), lambda d: [lo.backward(d)])


def torch_check(torch: Any, case: Case, seed: int, *, fast: bool) -> Outcome:
    """``torch.autograd.gradcheck`` (defaults, or ``fast_mode``) on the layer's own backward."""
    t = None if case.t is None else case.t.copy()  # the wrapper's own targets, kept across calls
    names = list(case.inputs)
    params = case.params if case.params is not None else discover_parameters(_raw(case, t).layer)

    class Layer(torch.autograd.Function):  # type: ignore[misc]  # torch is untyped here
        @staticmethod
        def forward(ctx: Any, *tensors: Any) -> Any:
            raw = _raw(case, t)
            for name, tensor in zip(params, tensors[len(names) :], strict=True):
                np.copyto(getattr(raw.layer, name), tensor.detach().numpy())
            out = raw.forward([tensor.detach().numpy() for tensor in tensors[: len(names)]])
            ctx.raw = raw
            return torch.from_numpy(np.array(out, dtype=np.float64))

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            raw = ctx.raw
            grads = raw.backward(grad.detach().numpy())
            grads += [getattr(raw.layer, "d" + name) for name in params]
            return tuple(torch.from_numpy(np.array(g, dtype=np.float64)) for g in grads)

    inputs = [
        torch.tensor(np.array(v, dtype=np.float64), requires_grad=True)
        for v in case.inputs.values()
    ]
    # The parameter values the case builds the layer with.
    built = _raw(case, t).layer
    inputs += [
        torch.tensor(np.array(getattr(built, n), dtype=np.float64), requires_grad=True)
        for n in params
    ]
    torch.manual_seed(seed)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            ok = torch.autograd.gradcheck(
                Layer.apply, tuple(inputs), fast_mode=fast, raise_exception=False
            )
        verdict = "pass" if ok else "fail"
    except Exception as error:  # whatever the layer raises under torch is a detection
        verdict = f"raised {type(error).__name__}"
    return Outcome(verdict, time.perf_counter() - start)


@dataclass
class Runner:
    """Runs every tool on a case, in a shuffled order, and keeps each check's time."""

    torch: Any | None
    tools: list[str]
    order: random.Random = field(default_factory=lambda: random.Random(0))
    times: dict[str, list[float]] = field(default_factory=dict)

    def run(self, case: Case, seed: int) -> dict[str, Outcome]:
        """Every tool on ``case`` at ``seed``."""
        names = list(self.tools)
        self.order.shuffle(names)
        outcomes = {}
        for name in names:
            if name == BPCORE:
                outcome = bpcore_check(case, seed)
            else:
                outcome = torch_check(self.torch, case, seed, fast=name == TORCH_FAST)
            self.times.setdefault(name, []).append(outcome.seconds)
            outcomes[name] = outcome
        return outcomes


def _ratio(hits: int, total: int) -> str:
    return f"{hits}/{total}" if total else "-"


def _percent(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f}%" if total else "-"


def detection(runner: Runner, seeds: list[int]) -> None:
    """The catalogue, seed by seed: detections per bug and the rate per category."""
    tools, n = runner.tools, len(seeds)
    first = catalogue(seeds[0])
    hits: dict[tuple[str, str], int] = {}
    verdicts: dict[tuple[str, str], set[str]] = {}
    for seed in seeds:
        for case in catalogue(seed):
            for tool, outcome in runner.run(case, seed).items():
                key = (case.name, tool)
                hits[key] = hits.get(key, 0) + outcome.detected
                verdicts.setdefault(key, set()).add(outcome.verdict)
    rows = []
    for case in first:
        cells = []
        for tool in tools:
            other = sorted(v for v in verdicts[case.name, tool] if v not in ("pass", "fail"))
            note = f" ({','.join(other)})" if other else ""
            cells.append(_ratio(hits[case.name, tool], n) + note)
        rows.append([case.name, case.category, *cells])
    print_table(f"detections per bug, of {n} seeds", ["bug", "category", *tools], rows)

    summary = []
    caught = dict.fromkeys(tools, 0)
    counted = 0
    for category in dict.fromkeys(case.category for case in first):
        members = [case.name for case in first if case.category == category]
        row = [category, str(len(members))]
        for tool in tools:
            found = sum(hits[name, tool] for name in members)
            row.append(_percent(found, len(members) * n))
            caught[tool] += found if category != "tiny scaling" else 0
        counted += len(members) * n if category != "tiny scaling" else 0
        summary.append(row)
    total = ["all but tiny scaling", str(counted // n)]
    summary.append(total + [_percent(caught[tool], counted) for tool in tools])
    print_table(f"detection rate by category, {n} seeds", ["category", "bugs", *tools], summary)


def resolution(runner: Runner, seeds: list[int]) -> None:
    """Five correct layers with every gradient times ``1 + δ``: what each tool flags."""
    tools, n = runner.tools, len(seeds)
    hits: dict[tuple[str, float, str], int] = {}
    subjects: list[str] = []
    for delta in SWEEP:
        for seed in seeds:
            for index, case in enumerate(scaled_subjects(seed, delta)):
                subject = case.name.split(" scaled")[0]
                if index == len(subjects):
                    subjects.append(subject)
                for tool, outcome in runner.run(case, seed).items():
                    key = (subject, delta, tool)
                    hits[key] = hits.get(key, 0) + outcome.detected
    total = n * len(subjects)
    rows = [
        [f"{delta:.0e}", *(_ratio(sum(hits[s, delta, t] for s in subjects), total) for t in tools)]
        for delta in SWEEP
    ]
    print_table(
        f"gradient × (1 + δ) flagged, of {n} seeds × {len(subjects)} layers "
        f"({', '.join(subjects)})",
        ["δ", *tools],
        rows,
    )

    def smallest(tool: str, chosen: list[str]) -> str:
        """The smallest δ flagged in every seed, every larger δ flagged in every seed too."""
        found = "none"
        for delta in SWEEP:
            if not all(hits[s, delta, tool] == n for s in chosen):
                break
            found = f"{delta:.0e}"
        return found

    rows = [[s, *(smallest(tool, [s]) for tool in tools)] for s in subjects]
    rows.append(["all five", *(smallest(tool, subjects) for tool in tools)])
    print_table(f"smallest δ flagged {n}/{n} times (and every larger δ)", ["layer", *tools], rows)


def false_failures(runner: Runner, seeds: list[int]) -> None:
    """The correct subjects, where every failure is a false one."""
    tools, n = runner.tools, len(seeds)
    hits: dict[tuple[str, str], int] = {}
    at_kink: dict[str, bool] = {}
    for seed in seeds:
        for case in correct_subjects(seed):
            at_kink[case.name] = case.at_kink
            for tool, outcome in runner.run(case, seed).items():
                hits[case.name, tool] = hits.get((case.name, tool), 0) + outcome.detected
    names = [case.name for case in correct_subjects(seeds[0])]
    rows = [
        [name, "yes" if at_kink[name] else "", *(_ratio(hits[name, t], n) for t in tools)]
        for name in names
    ]
    smooth = [name for name in names if not at_kink[name]]
    for label, chosen in (("all, away from kinks", smooth), ("all", names)):
        total = n * len(chosen)
        rows.append([label, "", *(_ratio(sum(hits[m, t] for m in chosen), total) for t in tools)])
    print_table(
        "failures on the correct subjects (false failures), float64",
        ["subject", "at a kink", *tools],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds instead of 10")
    parser.add_argument("--seeds", type=int, default=None, help="how many seeds (default 10)")
    parser.add_argument("--no-torch", action="store_true", help="bpcore's column only")
    add_threads_option(parser)
    parser.set_defaults(threads=1)
    args = parser.parse_args()
    seeds = list(range(args.seeds or (3 if args.quick else 10)))
    try:
        limiter = limit_blas_threads(args.threads)
    except ImportError:  # threadpoolctl missing: the BLAS keeps its default
        limiter = None
    torch: Any | None = None
    why = "--no-torch"
    if not args.no_torch:
        try:
            torch = importlib.import_module("torch")
            torch.set_num_threads(args.threads)
        except ImportError as error:
            why = f"torch not importable ({error})"
    print_environment("bug detection: bpcore check_gradients vs torch.autograd.gradcheck")
    if torch is None:
        print(f"{why}: bpcore's column only")
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s)")
    print(f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})")
    runner = Runner(torch, [BPCORE] if torch is None else [BPCORE, TORCH, TORCH_FAST])
    detection(runner, seeds)
    resolution(runner, seeds)
    false_failures(runner, seeds)
    rows = [
        [tool, str(len(t)), fmt_seconds(statistics.median(t)), fmt_seconds(max(t))]
        for tool, t in runner.times.items()
    ]
    print_table("time per check (every check above)", ["tool", "checks", "median", "max"], rows)
    print_load_after()
    del limiter


if __name__ == "__main__":
    main()

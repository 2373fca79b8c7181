"""What the checker hands a subject: private copies, and a record of what it altered.

A layer that writes to its ``dout``, its inputs or its targets would otherwise corrupt
the very values the numerical side is built from, and could pass with wrong gradients.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import final

import numpy as np

from bpcore._arrays import FloatArray
from bpcore.gradcheck._subjects import Differentiable, HasConstants, ReportsAlterations

_ENGINE = (Path(__file__).parent, Path(__file__).parent.parent / "_finite_difference.py")
"""Where the checker's own code lives: warnings raised there are not the layer's."""

_BLAS_FLAG = "encountered in matmul"
"""How NumPy ends the warnings it raises from the floating-point flags a matrix product
left set."""


def _changed(before: FloatArray, after: FloatArray) -> bool:
    """Whether ``after`` differs from ``before`` in any bit (NaN payloads included)."""
    return before.shape != after.shape or before.tobytes() != after.tobytes()


@final
class Guarded:
    """A :class:`Differentiable` that gives ``inner`` private copies of every argument.

    After each call it compares what it handed over with what it was given and notes, in
    :attr:`edits`, every input, ``dout`` or (with ``watch_parameters``) parameter that
    the subject changed, and what a subject that hands out targets reports; forward's
    inputs are compared again after the next backward, since a layer may keep them. What
    the subject returns is copied.
    """

    def __init__(self, inner: Differentiable, *, watch_parameters: bool) -> None:
        self.inner = inner
        self.watch_parameters = watch_parameters
        self.edits: list[str] = []
        self.nonfinite = False
        """Whether forward or backward ever returned a NaN or an infinity."""
        self._handed: dict[str, tuple[FloatArray, FloatArray]] = {}
        # Checked once: a protocol's isinstance inspects the class's attributes every call.
        self._reports = inner if isinstance(inner, ReportsAlterations) else None
        self._constants = inner if isinstance(inner, HasConstants) else None

    @property
    def name(self) -> str:
        """The subject's name."""
        return self.inner.name

    @property
    def parameters(self) -> Mapping[str, FloatArray]:
        """The subject's live parameters."""
        return self.inner.parameters

    @property
    def constants(self) -> Mapping[str, FloatArray]:
        """The subject's fixed float data, if it has any (:class:`HasConstants`)."""
        return {} if self._constants is None else self._constants.constants

    def forward(self, inputs: Mapping[str, FloatArray]) -> FloatArray:
        """The subject's forward on private copies of ``inputs``, itself a copy."""
        self._handed = {n: (v.copy(), v.copy()) for n, v in inputs.items()}
        with self._watch("forward"):
            out = self.inner.forward({n: handed for n, (_, handed) in self._handed.items()})
        result = np.array(out, copy=True)
        self.nonfinite = self.nonfinite or not bool(np.all(np.isfinite(result)))
        return result

    def backward(self, dout: FloatArray) -> dict[str, FloatArray]:
        """The subject's backward on a private copy of ``dout``; each gradient a copy (a
        layer may hand back a buffer it reuses)."""
        kept, handed = dout.copy(), dout.copy()
        with self._watch("backward"):
            grads = self.inner.backward(handed)
        if _changed(kept, handed):
            self._note("backward modified `dout` in place")
        copies = {n: np.array(g, copy=True) for n, g in grads.items()}
        self.nonfinite = self.nonfinite or not all(np.all(np.isfinite(g)) for g in copies.values())
        return copies

    @contextmanager
    def _watch(self, call: str) -> Iterator[None]:
        params = (
            {n: p.copy() for n, p in self.inner.parameters.items()} if self.watch_parameters else {}
        )
        yield
        for name, (kept, handed) in self._handed.items():
            if _changed(kept, handed):
                self._note(f"{call} modified input `{name}` in place")
        for name, before in params.items():
            if _changed(before, self.inner.parameters[name]):
                self._note(f"{call} modified parameter `{name}`")
        if self._reports is not None:
            for what in self._reports.altered():
                self._note(what)

    def _note(self, what: str) -> None:
        if what not in self.edits:
            self.edits.append(what)


@contextmanager
def recorded_warnings(problems: list[str], *, allow: bool) -> Iterator[None]:
    """Record the RuntimeWarnings that the layer's own code raises inside the block.

    Unless ``allow``, each distinct message becomes one line of ``problems``. Warnings of
    other categories, or from the checker's own code, go on as they would have.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        with np.errstate(over="warn", invalid="warn", divide="warn"):
            yield
    counts: dict[str, int] = {}
    for warning in caught:
        if not issubclass(warning.category, RuntimeWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        elif not any(Path(warning.filename).is_relative_to(p) for p in _ENGINE):
            text = f"{warning.category.__name__}: {warning.message}"
            counts[text] = counts.get(text, 0) + 1
        # The checker's own arithmetic warns only on the NaN and infinities a layer
        # produced, and those are failures of their own in the report.
    if not allow:
        problems.extend(
            f"the layer raised {text} ({n} time{'s' if n > 1 else ''}); "
            f"pass allow_warnings=True if that is expected"
            for text, n in counts.items()
        )


def without_blas_flags(problems: list[str], *guarded: Guarded) -> list[str]:
    """``problems`` without the warnings of matrix products, unless a subject returned a
    NaN or an infinity.

    A real overflow or invalid operation in a product leaves an infinity or a NaN in it
    (nothing in a sum of products cancels one) and so, unless the layer clips it, in
    what the layer returns; OpenBLAS can leave the flags set for a product whose every
    element is finite (numpy#24067), which would fail a correct layer at random.
    """
    if any(g.nonfinite for g in guarded):
        return problems
    return [p for p in problems if f"{_BLAS_FLAG} (" not in p]

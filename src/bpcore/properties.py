"""The generic properties every declared layer must satisfy.

Each property is a plain function of a :class:`~bpcore.registry.Case` and a ``draw``
callable (Hypothesis's ``data.draw``) for whatever else it needs. It raises
:class:`PropertyFailure` (an ``AssertionError``) with a bug-report message when the
layer breaks the property, and returns the worst error ÷ bound it saw (at most 1 when
it passes; 0 for the exact properties, which allow no error), for the ``bpcore verify``
table. The pytest suite, :func:`bpcore.verify.check_layer`, the pytest plugin and
``bpcore verify`` run the same functions.

Tolerances are rounding bounds: an identity that holds exactly in real arithmetic
(linearity, permutation of the batch) may differ in floating point by at most
``n·u`` times the scale of the values combined, where ``u`` is the unit roundoff of
the dtype and ``n`` the longest accumulation involved (the largest array size, plus 4
for element-wise operations), as in the gradient checker's error model. Where a
layer's own arithmetic cancels terms far larger than its result (a batch
normalisation's gradient against a constant ``dout`` is exactly 0, but computed from
terms of size ``|dout|/σ``), that scale understates its rounding; the bound then adds
the rounding noise measured on the layer itself (:func:`_rerolled_noise`).

Each property hands the layer private copies of its inputs and ``dout`` and keeps
copies of what it returns, so a layer that edits its arguments or hands back its own
buffers fails ``never_mutates_or_aliases_arguments`` only, and under its own name.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from bpcore import strategies as bst
from bpcore._arrays import FLOAT_DTYPES, FloatArray
from bpcore.errors import BpcoreError
from bpcore.gradcheck import (
    Differentiable,
    Factory,
    GradientMismatch,
    LossSubject,
    NetworkSubject,
    ReportsAlterations,
    assert_gradients,
    taylor_test,
    term_magnitude,
)
from bpcore.gradcheck._error_model import REROLLS, dout_factors, reroll
from bpcore.gradcheck._guard import Guarded
from bpcore.registry import Case, LayerSpec

__all__ = [
    "EXACT_PROPERTIES",
    "GENERIC_PROPERTIES",
    "Draw",
    "Property",
    "PropertyFailure",
    "backward_is_linear_in_dout",
    "backward_matches_finite_differences",
    "bad_calls_raise_clear_errors",
    "batch_independent",
    "deterministic",
    "forward_matches_its_oracle",
    "gradient_shapes_and_dtypes_match",
    "never_mutates_or_aliases_arguments",
    "not_applicable",
    "reuse_matches_a_fresh_layer",
    "taylor_remainder_is_second_order",
]

_T = TypeVar("_T")


class Draw(Protocol):
    """Draws one value from a strategy: Hypothesis's ``data.draw``."""

    def __call__(self, strategy: st.SearchStrategy[_T], /) -> _T: ...


Property: TypeAlias = Callable[[Case, Draw], float]
"""``prop(case, draw) -> worst error ÷ bound``; raises :class:`PropertyFailure`."""

DTYPES = FLOAT_DTYPES[::-1]  # float64 first: a failure shrinks to the simpler dtype


class PropertyFailure(BpcoreError, AssertionError):  # noqa: N818  # the name says what failed
    """A declared layer broke a generic property."""


def _fail(case: Case, prop: str, detail: str) -> PropertyFailure:
    return PropertyFailure(f"{case.spec.name}: {prop} failed for {case!r}\n  {detail}")


def _dtype(draw: Draw) -> np.dtype[np.floating]:
    return draw(st.sampled_from(DTYPES))


def _copies(arrays: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    return {n: v.copy() for n, v in arrays.items()}


def _forward(subject: Differentiable, inputs: Mapping[str, FloatArray]) -> FloatArray:
    """The output of a forward on copies of ``inputs``, itself copied."""
    return np.array(subject.forward(_copies(inputs)), copy=True)


def _backward(subject: Differentiable, dout: FloatArray) -> dict[str, FloatArray]:
    """The gradients of a backward on a copy of ``dout``, each copied."""
    return {n: np.array(g, copy=True) for n, g in subject.backward(dout.copy()).items()}


def _guarded(case: Case, dtype: npt.DTypeLike = np.float64) -> Factory:
    """:meth:`Case.factory`, each subject behind a :class:`Guarded`: what the checker and
    the Taylor test see of a layer that edits its arguments or hands back its own buffers
    is still its math (the edits are this suite's no-mutation property's to report)."""
    make = case.factory(dtype)
    return lambda d: Guarded(make(d), watch_parameters=False)


def _dout(subject: Differentiable, inputs: Mapping[str, FloatArray], draw: Draw) -> FloatArray:
    """An upstream gradient of the subject's output shape, found by a forward on copies:
    a layer that edits its input must not have done so before the mutation check looks."""
    dtype = next(iter(inputs.values())).dtype
    shape = np.shape(_forward(subject, inputs))
    return draw(bst.upstream_gradients(shape=shape, dtype=dtype))


def _targets_passed(subject: Differentiable) -> npt.NDArray[np.generic] | None:
    """The very targets array a loss or network subject hands its layer, if any."""
    if isinstance(subject, LossSubject | NetworkSubject):
        return subject.t
    return None


def _unit_roundoff(dtype: np.dtype[np.floating]) -> float:
    return float(np.finfo(dtype).eps) / 2


def _accumulation(arrays: Mapping[str, FloatArray], dout: FloatArray) -> int:
    return max([dout.size, *(a.size for a in arrays.values())]) + 4


def _norm(a: npt.NDArray[np.generic]) -> float:
    return float(np.max(np.abs(a))) if a.size else 0.0


def _ratio(error: float, bound: float) -> float:
    """``error / bound``: 0 for no error, infinite for an error where nothing is allowed."""
    if error == 0:
        return 0.0
    return error / bound if bound > 0 else float("inf")


# -- the rounding noise of the layer itself -----------------------------------------------

Move: TypeAlias = Callable[[FloatArray], FloatArray]
"""Moves an array (in its own dtype) to a nearby point; the identity at the case's point."""

Residual: TypeAlias = Callable[[Case, Move], dict[str, FloatArray]]
"""What a property compares, as differences that are exactly 0 in real arithmetic, at a
case (its inputs and parameters already moved) and with its own ``dout`` moved alike."""


def _unmoved(array: FloatArray) -> FloatArray:
    return array


def _rerolled_noise(
    case: Case,
    dtype: np.dtype[np.floating],
    residual: Residual,
    base: Mapping[str, FloatArray],
) -> dict[str, float]:
    """``m = max_k ‖r(θ_k) - r(θ_0)‖∞`` per name: how much the layer's rounding moves ``r``.

    ``r`` is what a property compares (``g(a·d1 + b·d2) - a·g(d1) - b·g(d2)``, say),
    ``base = r(θ_0)`` at the case's point ``θ_0``, and ``θ_k`` moves every array the
    layer computes with: inputs and parameters by a random whole number of ulps of ``d``
    in ``[4^k, 2·4^k]`` (:func:`reroll`), the property's ``dout`` by random factors
    ``1 + w·sqrt(eps_d)`` (:func:`dout_factors`); a fixed seed, zeros staying. For a
    correct layer ``r`` is 0 in real arithmetic at every point, so ``r(θ_k)`` is pure
    rounding, re-rolled by each move, and ``m`` measures how large it gets. A bug is
    systematic: its share of ``r`` changes with ``θ`` only as fast as the layer's values
    do (relatively, by about ``4^k·eps`` and ``sqrt(eps)``), so it cancels out of
    ``r(θ_k) - r(θ_0)`` and the noise does not absorb it. ``dout`` moves furthest: a
    backward that cancels internally (a two-row batch normalisation) rounds alike at
    every point that moves its ``dout`` by a few ulps only.
    """
    rng = np.random.default_rng(0)
    noise = dict.fromkeys(base, 0.0)

    def rescale(d: FloatArray) -> FloatArray:
        return np.asarray(d * dout_factors(d.shape, d.dtype, rng), d.dtype)

    for k in range(REROLLS):

        def moved(arrays: Mapping[str, FloatArray], k: int = k) -> dict[str, FloatArray]:
            return {
                n: reroll(np.asarray(v, dtype), k, rng).astype(np.float64)
                for n, v in arrays.items()
            }

        point = dataclasses.replace(case, params=moved(case.params), inputs=moved(case.inputs))
        again = residual(point, rescale)
        for name, value in base.items():
            if name in again and again[name].shape == value.shape:
                noise[name] = max(noise[name], _norm(again[name] - value))
    return noise


def _noise_bound(noise: float) -> float:
    """The bound's share for a residual whose measured re-roll noise is ``noise``.

    ``r(θ_0)`` is one draw of the rounding that ``r(θ_k)`` re-rolls: it exceeds ``2m``
    only if every one of the :data:`REROLLS` re-rolls lands within ``|r(θ_0)|/2`` of it,
    which rounding that the moves re-roll does not do. The same ``2m`` as the
    checker's error model allows for the subject's own noise.
    """
    return 2 * noise


# -- the properties ------------------------------------------------------------------------


def backward_matches_finite_differences(case: Case, draw: Draw) -> float:
    """Backward matches float64 finite differences for every input and parameter.

    Returns the largest ``|analytic - numerical| / tolerance`` of the checker's probes.
    """
    dtype = _dtype(draw)
    seed = draw(st.integers(0, 2**32 - 1))
    reference = case.reference(dtype)
    try:
        report = assert_gradients(
            _guarded(case, dtype),
            case.inputs_as(dtype),
            rng=seed,
            kinks=case.spec.kinks,
            term_sizes=None if reference is None else reference.size,
        )
    except GradientMismatch as mismatch:
        raise _fail(case, "finite differences", str(mismatch.report)) from None
    return max(
        (_ratio(abs(c.analytic - c.numerical), c.tolerance) for c in report.checks), default=0.0
    )


def forward_matches_its_oracle(case: Case, draw: Draw) -> float:
    """Forward agrees with an independent reference within the rounding of the dtype used."""
    dtype = _dtype(draw)
    reference = case.reference(dtype)
    if reference is None:
        return 0.0
    inputs = case.inputs_as(dtype)
    subject = case.subject(dtype)
    output = _forward(subject, inputs)
    if output.shape != reference.value.shape:
        raise _fail(
            case, "forward oracle", f"output shape {output.shape}, oracle {reference.value.shape}"
        )
    # Each output is an accumulation of at most n roundings of terms of total size `size`
    # (the oracle's own error, from fsum and math, is far below u_d·size).
    n = _accumulation({**inputs, **subject.parameters}, output)
    bound = n * _unit_roundoff(dtype) * reference.size + n * float(
        np.finfo(dtype).smallest_subnormal
    )
    error = np.abs(output.astype(np.float64) - reference.value)
    if not np.all(error <= bound):
        # The element furthest over its bound; a NaN error (a NaN output) is furthest of all.
        excess = np.where(error <= bound, -np.inf, np.nan_to_num(error - bound, nan=np.inf))
        worst = np.unravel_index(int(np.argmax(excess)), error.shape)
        raise _fail(
            case,
            "forward oracle",
            f"[{dtype}] forward {float(output[worst])!r} at {tuple(int(i) for i in worst)}, "
            f"oracle {float(reference.value[worst])!r}: |error| {float(error[worst]):.3e} "
            f"> bound {float(bound[worst]):.3e} (n·u·size, size {float(reference.size[worst]):.3e}"
            " from the oracle: where the output cancels, the oracle returns "
            "Reference(value, size) with the size of its terms)",
        )
    return float(np.max(error / np.maximum(bound, np.finfo(np.float64).tiny), initial=0.0))


TAYLOR_ORDER = 1.5
"""The Taylor test passes when one of its last three usable orders reaches this."""


def taylor_remainder_is_second_order(case: Case, draw: Draw) -> float:
    """For smooth layers, the first-order Taylor remainder falls as O(h²).

    Returns how far the best of the last three observed orders falls short of 2, over
    the shortfall allowed: ``(2 - order) / (2 - 1.5)``, clipped at 0 (0 without usable
    orders, which is no evidence either way).
    """
    if not case.spec.smooth:
        return 0.0
    seed = draw(st.integers(0, 2**32 - 1))
    oracle, target = case.spec.oracle, case.target_as(np.float64)
    sizes = None if oracle is None else (lambda p, i: oracle(p, i, target).size)
    report = taylor_test(_guarded(case), case.inputs, rng=seed, term_sizes=sizes)
    if not report.passed:
        raise _fail(case, "Taylor remainder", str(report))
    tail = report.orders[-3:]
    if len(tail) < 3:
        return 0.0
    return max(0.0, (2 - max(tail)) / (2 - TAYLOR_ORDER))


def backward_is_linear_in_dout(case: Case, draw: Draw) -> float:
    """backward(a·d1 + b·d2) = a·backward(d1) + b·backward(d2)."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    subject = case.subject(dtype)
    d1 = _dout(subject, inputs, draw)
    d2 = _dout(subject, inputs, draw)
    a = draw(st.floats(-3, 3, allow_subnormal=False).filter(lambda v: abs(v) > 0.1))
    b = draw(st.floats(-3, 3, allow_subnormal=False).filter(lambda v: abs(v) > 0.1))

    def gradients(point: Case, move: Move) -> tuple[dict[str, FloatArray], ...]:
        fresh = point.subject(dtype)
        _forward(fresh, point.inputs_as(dtype))
        e1, e2 = move(d1), move(d2)
        e12 = np.asarray(a * e1 + b * e2, dtype=dtype)
        return _backward(fresh, e1), _backward(fresh, e2), _backward(fresh, e12)

    def residual(point: Case, move: Move) -> dict[str, FloatArray]:
        g1, g2, g12 = gradients(point, move)
        return {
            name: np.asarray(g12[name], np.float64)
            - (a * np.asarray(g1[name], np.float64) + b * np.asarray(g2[name], np.float64))
            for name in g12
        }

    g1, g2, g12 = gradients(case, _unmoved)
    base = residual(case, _unmoved)
    abs1 = term_magnitude(Guarded(case.subject(dtype), watch_parameters=False), inputs, d1)
    abs2 = term_magnitude(Guarded(case.subject(dtype), watch_parameters=False), inputs, d2)
    n = _accumulation({**inputs, **subject.parameters}, d1)
    tiny = n * float(np.finfo(dtype).smallest_subnormal)  # results that underflow
    bounds: dict[str, float] = {}
    for name in g12:
        # The size of the terms each gradient sums, which g(d) understates where they cancel.
        size1 = max(_norm(g1[name]), _norm(abs1.get(name, np.zeros(0))))
        size2 = max(_norm(g2[name]), _norm(abs2.get(name, np.zeros(0))))
        scale = abs(a) * size1 + abs(b) * size2 + _norm(g12[name])
        bounds[name] = n * _unit_roundoff(dtype) * scale + tiny

    def measured() -> dict[str, float]:
        # r_d - r_64 = e(a·d1 + b·d2) - a·e(d1) - b·e(d2), each e measured.
        douts = [d1, d2, np.asarray(a * d1 + b * d2, dtype=dtype)]
        rounding = _rounding_errors(case, dtype, douts, [g1, g2, g12])
        allowance: dict[str, float] = {}
        for name in g12 if rounding else ():
            e1, e2, e12 = (errors.get(name, np.zeros(0)) for errors in rounding)
            allowance[name] = _norm(e12) + abs(a) * _norm(e1) + abs(b) * _norm(e2)
        return allowance

    return _within(
        case,
        dtype,
        "linearity in dout",
        base,
        bounds,
        residual,
        lambda name, error, bound: (
            f"gradient {name!r} [{dtype}]: |g(a·d1+b·d2) - (a·g(d1)+b·g(d2))| = {error:.3e} "
            f"> {bound:.3e} (a={a}, b={b})"
        ),
        measured,
    )


def _rounding_errors(
    case: Case,
    dtype: np.dtype[np.floating],
    douts: Sequence[FloatArray],
    gradients: Sequence[Mapping[str, FloatArray]],
) -> list[dict[str, FloatArray]]:
    """``e(d) = g_d(d) - g_64(d)`` for each ``dout`` below float64: the rounding of each
    gradient computed in ``dtype``, against a float64 twin at the same point (inputs,
    parameters and float targets rounded to ``dtype``); none in float64.

    Where backward cancels internally its rounding is far larger than ``n·u`` times any
    size its results show (a two-row batch normalisation computes a near-zero gradient
    from ``d - mean(d) - x̂·mean(d·x̂)``), and moving the point or ``dout`` by a few ulps
    leaves it as it was. Measured against float64, it is known exactly; a bug that does
    not depend on the precision is in both and cancels out. A name whose error is not
    finite (a value that overflows ``dtype``) gets none.
    """
    if dtype == np.float64:
        return []

    def rounded(arrays: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        return {n: np.asarray(v, dtype).astype(np.float64) for n, v in arrays.items()}

    point = dataclasses.replace(
        case, params=rounded(case.params), inputs=rounded(case.inputs), target=case.target_as(dtype)
    )
    twin = point.subject(np.float64)
    _forward(twin, point.inputs)
    errors = []
    for d, grads in zip(douts, gradients, strict=True):
        exact = _backward(twin, d.astype(np.float64))
        error = {
            n: np.abs(np.asarray(g, np.float64) - np.asarray(exact[n], np.float64))
            for n, g in grads.items()
            if n in exact and np.shape(exact[n]) == np.shape(g)
        }
        errors.append({n: e for n, e in error.items() if np.all(np.isfinite(e))})
    return errors


def _within(
    case: Case,
    dtype: np.dtype[np.floating],
    prop: str,
    base: Mapping[str, FloatArray],
    bounds: Mapping[str, float],
    residual: Residual,
    describe: Callable[[str, float, float], str],
    measured: Callable[[], Mapping[str, float]] | None = None,
) -> float:
    """Check ``‖base[name]‖∞ <= bounds[name]`` for every name, adding what ``measured``
    returns (rounding the property measures itself) and then the layer's own rounding
    noise (:func:`_noise_bound`) where the bounds so far do not cover it; return the
    worst ``error / bound``.

    Each is measured only when needed: every bound is a sum of non-negative terms, so
    leaving one out where the others already suffice changes no verdict.
    """
    errors = {name: _norm(value) for name, value in base.items()}
    allowed = dict(bounds)

    def short() -> bool:
        return any(not errors[name] <= allowed[name] for name in errors)

    if measured is not None and short():
        extra = measured()
        allowed = {name: bound + extra.get(name, 0.0) for name, bound in allowed.items()}
    if short():
        noise = _rerolled_noise(case, dtype, residual, base)
        allowed = {name: bound + _noise_bound(noise[name]) for name, bound in allowed.items()}
    worst = 0.0
    for name, error in errors.items():
        if not error <= allowed[name]:  # NaN fails too
            raise _fail(case, prop, describe(name, error, allowed[name]))
        worst = max(worst, _ratio(error, allowed[name]))
    return worst


def _snapshot(arrays: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, bytes]:
    return {n: np.ascontiguousarray(a).tobytes() for n, a in arrays.items()}


def never_mutates_or_aliases_arguments(case: Case, draw: Draw) -> float:
    """Forward and backward leave inputs, targets, dout and parameters bit-identical, and
    return arrays that share no memory with them, so editing a result changes nothing."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    subject = case.subject(dtype)
    dout = _dout(case.subject(dtype), inputs, draw)
    watched: dict[str, npt.NDArray[np.generic]] = {**inputs, "dout": dout, **subject.parameters}
    targets = _targets_passed(subject)
    if targets is not None:
        watched["t"] = targets
    before = _snapshot(watched)
    output = np.asarray(subject.forward(inputs))
    grads = subject.backward(dout)
    after = _snapshot(watched)
    changed = [n for n in before if before[n] != after[n]]
    if isinstance(subject, ReportsAlterations):  # targets are handed over as copies
        changed += list(subject.altered())
    if changed:
        raise _fail(case, "no mutation", f"forward/backward modified {changed} [{dtype}]")
    results = {"output": output, **{f"d{n}": np.asarray(g) for n, g in grads.items()}}
    for result_name, result in results.items():
        for arg_name, arg in watched.items():
            if np.shares_memory(result, arg):
                raise _fail(case, "no aliasing", f"{result_name} shares memory with {arg_name!r}")
    first = {n: np.array(g, copy=True) for n, g in grads.items()}
    for result in results.values():
        if result.flags.writeable:
            result[...] = 7  # a caller's in-place edit of what it was handed
    again = subject.backward(dout)
    for name, g in again.items():
        if np.asarray(g).tobytes() != first[name].tobytes():
            raise _fail(case, "no aliasing", f"editing returned arrays changed a later d{name}")
    return 0.0


def gradient_shapes_and_dtypes_match(case: Case, draw: Draw) -> float:
    """Each gradient has its input's or parameter's shape and dtype; the output has the
    dtype under test."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    subject = case.subject(dtype)
    dout = _dout(subject, inputs, draw)
    output = _forward(subject, inputs)
    if output.dtype != dtype:
        raise _fail(case, "dtype", f"{dtype} input gave {output.dtype} output")
    grads = _backward(subject, dout)
    expected = {**(inputs if case.spec.input_gradients else {}), **subject.parameters}
    missing = sorted(set(expected) - set(grads))
    if missing:
        raise _fail(case, "gradients", f"backward gave no gradient for {missing}")
    for name, ref in expected.items():
        g = np.asarray(grads[name])
        if g.dtype != ref.dtype:
            raise _fail(case, "dtype", f"{ref.dtype} {name!r} gave a {g.dtype} gradient d{name}")
        if g.shape != ref.shape:
            raise _fail(
                case, "gradient shape", f"d{name}: expected shape {ref.shape}, got {g.shape}"
            )
    return 0.0


def deterministic(case: Case, draw: Draw) -> float:
    """Repeated calls, on the same layer or a fresh one, give bit-identical results."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    dout = _dout(case.subject(dtype), inputs, draw)
    runs = []
    same = case.subject(dtype)
    for subject in (same, same, case.subject(dtype)):
        output = _forward(subject, inputs)
        runs.append((output, _backward(subject, dout)))
    for output, grads in runs[1:]:
        if output.tobytes() != runs[0][0].tobytes():
            raise _fail(case, "determinism", "forward differs between identical calls")
        for name, g in grads.items():
            if g.tobytes() != runs[0][1][name].tobytes():
                raise _fail(case, "determinism", f"d{name} differs between identical calls")
    return 0.0


def _results(
    subject: Differentiable, inputs: Mapping[str, FloatArray], dout: FloatArray
) -> dict[str, FloatArray]:
    """The output and every gradient of one forward/backward, by name."""
    output = _forward(subject, inputs)
    return {"output": output, **{f"d{n}": g for n, g in _backward(subject, dout).items()}}


def reuse_matches_a_fresh_layer(case: Case, draw: Draw) -> float:
    """A layer first used on other inputs -- every sign flipped, and for per-sample layers a
    smaller batch too -- then gives the results of a fresh one: nothing stale (a cached
    mask, a buffer of the old shape) survives from the earlier call.

    The results are normally bit-identical; where they are not, they may differ by the
    layer's own rounding noise only (:func:`_rerolled_noise`): stale state is no rounding.
    """
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    dout = _dout(case.subject(dtype), inputs, draw)
    batched = case.spec.per_sample and all(v.ndim >= 2 for v in inputs.values())
    batch = next(iter(inputs.values())).shape[0] if batched else 0
    keep = draw(st.integers(1, batch - 1)) if batch >= 2 else None
    other_target = case.target if keep is None or case.target is None else case.target[:keep]
    earlier_dout: list[FloatArray] = []

    def compared(point: Case, move: Move) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
        here = point.inputs_as(dtype)
        other = {n: -v for n, v in here.items()}  # flips every ReLU mask
        if keep is not None:
            other = {n: v[:keep] for n, v in other.items()}
        layer = point.layer(dtype)
        earlier = point.wrap(layer, other_target)
        if not earlier_dout:
            earlier_dout.append(_dout(earlier, other, draw))
        _results(earlier, other, move(earlier_dout[0]))
        moved_dout = move(dout)
        reused = _results(point.wrap(layer, point.target), here, moved_dout)
        return reused, _results(point.subject(dtype), here, moved_dout)

    def residual(point: Case, move: Move) -> dict[str, FloatArray]:
        reused, fresh = compared(point, move)
        return {
            name: np.asarray(reused[name], np.float64) - np.asarray(fresh[name], np.float64)
            for name in fresh
            if name in reused and reused[name].shape == fresh[name].shape
        }

    reused, fresh = compared(case, _unmoved)
    if sorted(reused) != sorted(fresh) or any(
        reused[name].shape != fresh[name].shape for name in fresh
    ):
        raise _fail(case, "reuse", f"[{dtype}] a reused layer returned other results or shapes")
    if all(reused[name].tobytes() == fresh[name].tobytes() for name in fresh):
        return 0.0
    # Not bit-identical: only the layer's own rounding noise may tell them apart.
    return _within(
        case,
        dtype,
        "reuse",
        residual(case, _unmoved),
        dict.fromkeys(fresh, 0.0),
        residual,
        lambda name, error, bound: (
            f"[{dtype}] {name} after an earlier call on other inputs differs from a fresh "
            f"layer's by {error:.3e} > {bound:.3e} (twice the layer's own rounding noise)"
        ),
    )


def batch_independent(case: Case, draw: Draw) -> float:
    """For per-sample layers, permuting the batch permutes outputs and input gradients and
    leaves parameter gradients and losses unchanged (up to summation-order rounding)."""
    if not case.spec.per_sample or any(v.ndim < 2 for v in case.inputs.values()):
        return 0.0
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    n = next(iter(inputs.values())).shape[0]
    perm = np.asarray(draw(st.permutations(range(n))), dtype=np.intp)
    subject = case.subject(dtype)
    dout = _dout(subject, inputs, draw)
    scalar = case.spec.scalar_output

    def pairs(point: Case, move: Move) -> dict[str, tuple[FloatArray, FloatArray]]:
        """Each result of the batch, permuted, beside the result of the permuted batch."""
        here = point.inputs_as(dtype)
        moved_dout = move(dout)
        results = _results(point.subject(dtype), here, moved_dout)
        target = None if point.target is None else point.target[perm]
        permuted = point.wrap(point.layer(dtype), target)
        p_inputs = {k: v[perm] for k, v in here.items()}
        p_results = _results(permuted, p_inputs, moved_dout if scalar else moved_dout[perm])
        out: dict[str, tuple[FloatArray, FloatArray]] = {}
        for name, value in results.items():
            rows = (name == "output" and not scalar) or name[1:] in here
            expected = np.asarray(value[perm] if rows else value, np.float64)
            out[name] = (expected, np.asarray(p_results[name], np.float64))
        return out

    def residual(point: Case, move: Move) -> dict[str, FloatArray]:
        return {name: got - expected for name, (expected, got) in pairs(point, move).items()}

    compared = pairs(case, _unmoved)
    u = _unit_roundoff(dtype)
    bound_n = _accumulation({**inputs, **subject.parameters}, dout)
    # Reordering a batch sum errs by n·u times the sum of the per-sample magnitudes,
    # which the batch result itself understates where samples cancel, plus n·η where
    # terms underflow: each rounding errs by at most u·|v| + η/2 (η the smallest
    # subnormal), and a saturated sigmoid's tiny slopes do underflow.
    tiny = bound_n * float(np.finfo(dtype).smallest_subnormal)
    per_sample = _per_sample_magnitude(case, inputs, dout, dtype)
    reference = case.reference(dtype)
    if reference is not None:
        # The oracle's size of the output's terms: where every sample's result cancels
        # to rounding (a loss that is exactly 0), the results understate it.
        per_sample["output"] = max(per_sample.get("output", 0.0), _norm(reference.size))
    bounds = {
        name: bound_n * u * max(_norm(expected), per_sample.get(name, 0.0)) + tiny
        for name, (expected, _) in compared.items()
    }
    return _within(
        case,
        dtype,
        "batch independence",
        {name: got - expected for name, (expected, got) in compared.items()},
        bounds,
        residual,
        lambda name, error, bound: (
            f"[{dtype}] {name} changed by {error:.3e} > {bound:.3e} under a batch permutation"
        ),
    )


def _per_sample_magnitude(
    case: Case, inputs: Mapping[str, FloatArray], dout: FloatArray, dtype: np.dtype[np.floating]
) -> dict[str, float]:
    """``‖Σ_k |result for sample k alone|‖∞`` for the output and each gradient (÷N for a loss)."""
    n = next(iter(inputs.values())).shape[0]
    totals: dict[str, FloatArray] = {}
    for k in range(n):
        subject = case.wrap(
            case.layer(dtype), None if case.target is None else case.target[k : k + 1]
        )
        single = {name: v[k : k + 1] for name, v in inputs.items()}
        d_k = dout if case.spec.scalar_output else dout[k : k + 1]
        for name, value in _results(subject, single, d_k).items():
            magnitude = np.abs(np.asarray(value, np.float64)) / (
                n if case.spec.scalar_output else 1
            )
            if name in totals and totals[name].shape == magnitude.shape:
                totals[name] = totals[name] + magnitude
            else:
                totals[name] = magnitude
    return {name: _norm(total) for name, total in totals.items()}


def bad_calls_raise_clear_errors(case: Case, draw: Draw) -> float:
    """Backward before forward raises the spec's ``errors.not_forwarded`` naming the layer,
    and a wrongly shaped dout raises ``errors.bad_shape`` giving that shape (for networks,
    which have no separate backward: a wrongly shaped x raises ``bad_shape`` and an
    out-of-range label ``bad_target``). The defaults are ``RuntimeError`` and
    ``ValueError``; bpcore's own layers raise its NotForwardedError, ShapeError and
    TargetError."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    if case.spec.kind == "network":
        _network_errors(case, inputs)
        return 0.0
    subject = case.subject(dtype)
    shape = np.shape(_forward(subject, inputs))
    fresh_layer = case.layer(dtype)
    fresh = case.wrap(fresh_layer, case.target)
    names = tuple(dict.fromkeys((case.spec.name, type(fresh_layer).__name__)))
    _expect(
        case,
        case.spec.errors.not_forwarded,
        names,
        lambda: fresh.backward(np.zeros(shape, dtype=dtype)),
        "backward before forward",
    )
    wrong = (*shape, 2)
    _expect(
        case,
        case.spec.errors.bad_shape,
        (str(wrong),),
        lambda: subject.backward(np.ones(wrong, dtype=dtype)),
        f"backward with a dout of shape {wrong}",
    )
    return 0.0


def _network_errors(case: Case, inputs: Mapping[str, FloatArray]) -> None:
    network = case.layer(inputs["x"].dtype)
    x = inputs["x"]
    wide = np.concatenate([x, x[:, :1]], axis=1)
    errors = case.spec.errors
    loss = getattr(network, "loss")  # noqa: B009  # the network kind promises `loss`
    _expect(
        case,
        errors.bad_shape,
        (str(wide.shape),),
        lambda: loss(wide, case.target),
        f"loss with x of shape {wide.shape}",
    )
    labels = np.full(x.shape[0], -1, dtype=np.intp)  # out of range for every class count
    _expect(case, errors.bad_target, ("-1",), lambda: loss(x, labels), "loss with label -1")


def _expect(
    case: Case,
    error: type[Exception],
    mentions: tuple[str, ...],
    call: Callable[[], object],
    what: str,
) -> None:
    """``call()`` must raise ``error`` with a message that mentions one of ``mentions``."""
    about = " or ".join(repr(m) for m in mentions)
    try:
        call()
    except error as raised:
        if not any(m in str(raised) for m in mentions):
            raise _fail(
                case, "clear errors", f"{what}: message does not mention {about}: {raised}"
            ) from None
    except Exception as raised:  # any other exception is the finding
        raise _fail(
            case,
            "clear errors",
            f"{what}: expected {error.__name__} (about {about}), "
            f"got {type(raised).__name__}: {raised}",
        ) from raised
    else:
        raise _fail(
            case,
            "clear errors",
            f"{what}: expected {error.__name__} (about {about}), nothing raised",
        )


GENERIC_PROPERTIES: dict[str, Property] = {
    "forward-oracle": forward_matches_its_oracle,
    "gradients": backward_matches_finite_differences,
    "taylor": taylor_remainder_is_second_order,
    "linear-in-dout": backward_is_linear_in_dout,
    "no-mutation": never_mutates_or_aliases_arguments,
    "shapes-dtypes": gradient_shapes_and_dtypes_match,
    "deterministic": deterministic,
    "reuse": reuse_matches_a_fresh_layer,
    "batch-independent": batch_independent,
    "errors": bad_calls_raise_clear_errors,
}
"""Every generic property by short name, in the order ``bpcore verify`` runs them."""

EXACT_PROPERTIES: frozenset[Property] = frozenset(
    {
        never_mutates_or_aliases_arguments,
        gradient_shapes_and_dtypes_match,
        deterministic,
        bad_calls_raise_clear_errors,
    }
)
"""The properties that allow no error at all (they return 0 when they pass)."""


def not_applicable(spec: LayerSpec, prop: Property) -> str | None:
    """Why ``prop`` checks nothing for any case of ``spec`` (it then returns 0), or ``None``."""
    if prop is forward_matches_its_oracle and spec.oracle is None:
        return "no oracle declared"
    if prop is taylor_remainder_is_second_order and not spec.smooth:
        return "not smooth"
    if prop is batch_independent and not spec.per_sample:
        return "not per-sample"
    return None

"""The generic properties every registered layer must satisfy.

Each property is a plain function of a registry :class:`~bpcore.registry.Case` and a
``draw`` callable (Hypothesis's ``data.draw``) for whatever else it needs. It raises
:class:`PropertyFailure` (an ``AssertionError``) with a bug-report message when the
layer breaks the property, and returns the worst relative error it saw (0 when the
property is exact), for the ``bpcore verify`` table. The pytest suite and
``bpcore verify`` run the same functions.

Tolerances are rounding bounds: an identity that holds exactly in real arithmetic
(linearity, permutation of the batch) may differ in floating point by at most
``n·u`` times the scale of the values combined, where ``u`` is the unit roundoff of
the dtype and ``n`` the longest accumulation involved (the largest array size, plus 4
for element-wise operations), as in the gradient checker's error model.

Needs the ``verify`` extra (Hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from bpcore import strategies as bst
from bpcore._arrays import FLOAT_DTYPES, FloatArray
from bpcore.errors import BpcoreError, NotForwardedError, ShapeError, TargetError
from bpcore.gradcheck import (
    Differentiable,
    LossSubject,
    NetworkSubject,
    ReportsAlterations,
    assert_gradients,
    taylor_test,
    term_magnitude,
)
from bpcore.registry import Case

__all__ = [
    "GENERIC_PROPERTIES",
    "Draw",
    "PropertyFailure",
    "backward_is_linear_in_dout",
    "backward_matches_finite_differences",
    "bad_calls_raise_clear_errors",
    "batch_independent",
    "deterministic",
    "forward_matches_its_oracle",
    "gradient_shapes_and_dtypes_match",
    "never_mutates_or_aliases_arguments",
    "reuse_matches_a_fresh_layer",
    "taylor_remainder_is_second_order",
]

_T = TypeVar("_T")


class Draw(Protocol):
    """Draws one value from a strategy: Hypothesis's ``data.draw``."""

    def __call__(self, strategy: st.SearchStrategy[_T], /) -> _T: ...


Property: TypeAlias = Callable[[Case, Draw], float]

DTYPES = FLOAT_DTYPES[::-1]  # float64 first: a failure shrinks to the simpler dtype


class PropertyFailure(BpcoreError, AssertionError):  # noqa: N818  # the name says what failed
    """A registered layer broke a generic property."""


def _fail(case: Case, prop: str, detail: str) -> PropertyFailure:
    return PropertyFailure(f"{case.spec.name}: {prop} failed for {case!r}\n  {detail}")


def _dtype(draw: Draw) -> np.dtype[np.floating]:
    return draw(st.sampled_from(DTYPES))


def _dout(subject: Differentiable, inputs: Mapping[str, FloatArray], draw: Draw) -> FloatArray:
    """An upstream gradient of the subject's output shape, found by a forward on copies:
    a layer that edits its input must not have done so before the mutation check looks."""
    dtype = next(iter(inputs.values())).dtype
    shape = np.shape(subject.forward({n: v.copy() for n, v in inputs.items()}))
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


def _norm(a: FloatArray) -> float:
    return float(np.max(np.abs(a))) if a.size else 0.0


def _rel(error: float, scale: float) -> float:
    return error / scale if scale > 0 else error


def backward_matches_finite_differences(case: Case, draw: Draw) -> float:
    """Backward matches float64 finite differences for every input and parameter."""
    dtype = _dtype(draw)
    seed = draw(st.integers(0, 2**32 - 1))
    report = assert_gradients(
        case.factory(dtype), case.inputs_as(dtype), rng=seed, kinks=case.spec.kinks
    )
    return report.max_rel_error


def forward_matches_its_oracle(case: Case, draw: Draw) -> float:
    """Forward agrees with an independent reference within the rounding of the dtype used."""
    dtype = _dtype(draw)
    reference = case.reference(dtype)
    if reference is None:
        return 0.0
    inputs = case.inputs_as(dtype)
    subject = case.spec.subject(case.layer(dtype), case.target_as(dtype))
    output = np.asarray(subject.forward(inputs))
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
        worst = np.unravel_index(int(np.argmax(error - bound)), error.shape)
        raise _fail(
            case,
            "forward oracle",
            f"[{dtype}] forward {float(output[worst])!r} at {tuple(int(i) for i in worst)}, "
            f"oracle {float(reference.value[worst])!r}: |error| {float(error[worst]):.3e} "
            f"> bound {float(bound[worst]):.3e}",
        )
    return float(np.max(error / np.maximum(reference.size, 1e-300), initial=0.0))


def taylor_remainder_is_second_order(case: Case, draw: Draw) -> float:
    """For smooth layers, the first-order Taylor remainder falls as O(h²)."""
    if not case.spec.smooth:
        return 0.0
    seed = draw(st.integers(0, 2**32 - 1))
    report = taylor_test(case.factory(), case.inputs, rng=seed)
    if not report.passed:
        raise _fail(case, "Taylor remainder", str(report))
    return 0.0 if report.observed_order is None else abs(report.observed_order - 2) / 2


def backward_is_linear_in_dout(case: Case, draw: Draw) -> float:
    """backward(a·d1 + b·d2) = a·backward(d1) + b·backward(d2)."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    subject = case.subject(dtype)
    d1 = _dout(subject, inputs, draw)
    d2 = _dout(subject, inputs, draw)
    a = draw(st.floats(-3, 3, allow_subnormal=False).filter(lambda v: abs(v) > 0.1))
    b = draw(st.floats(-3, 3, allow_subnormal=False).filter(lambda v: abs(v) > 0.1))
    combined = np.asarray(a * d1 + b * d2, dtype=dtype)
    subject.forward(inputs)
    g1 = subject.backward(d1)
    g2 = subject.backward(d2)
    g12 = subject.backward(combined)
    abs1 = term_magnitude(subject, inputs, d1)
    abs2 = term_magnitude(subject, inputs, d2)
    n = _accumulation({**inputs, **subject.parameters}, d1)
    tiny = n * float(np.finfo(dtype).smallest_subnormal)  # results that underflow
    worst = 0.0
    for name in g12:
        lhs = np.asarray(g12[name], np.float64)
        rhs = a * np.asarray(g1[name], np.float64) + b * np.asarray(g2[name], np.float64)
        # The size of the terms each gradient sums, which g(d) understates where they cancel.
        size1 = max(_norm(g1[name]), _norm(abs1[name]))
        size2 = max(_norm(g2[name]), _norm(abs2[name]))
        scale = abs(a) * size1 + abs(b) * size2 + _norm(g12[name])
        bound = n * _unit_roundoff(dtype) * scale + tiny
        error = _norm(lhs - rhs)
        if error > bound:
            raise _fail(
                case,
                "linearity in dout",
                f"gradient {name!r} [{dtype}]: |g(a·d1+b·d2) - (a·g(d1)+b·g(d2))| = {error:.3e} "
                f"> {bound:.3e} (a={a}, b={b})",
            )
        worst = max(worst, _rel(error, scale))
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
    results = {"output": output, **{f"d{n}": g for n, g in grads.items()}}
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
    output = np.asarray(subject.forward(inputs))
    if output.dtype != dtype:
        raise _fail(case, "dtype", f"forward returned {output.dtype} for {dtype} inputs")
    grads = subject.backward(dout)
    expected = {**(inputs if case.spec.input_gradients else {}), **subject.parameters}
    missing = sorted(set(expected) - set(grads))
    if missing:
        raise _fail(case, "gradients", f"backward gave no gradient for {missing}")
    for name, ref in expected.items():
        g = np.asarray(grads[name])
        if g.shape != ref.shape or g.dtype != ref.dtype:
            raise _fail(
                case,
                "gradient shape/dtype",
                f"d{name}: expected {ref.shape} {ref.dtype}, got {g.shape} {g.dtype}",
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
        output = np.array(subject.forward(inputs), copy=True)
        grads = {n: np.array(g, copy=True) for n, g in subject.backward(dout).items()}
        runs.append((output, grads))
    for output, grads in runs[1:]:
        if output.tobytes() != runs[0][0].tobytes():
            raise _fail(case, "determinism", "forward differs between identical calls")
        for name, g in grads.items():
            if g.tobytes() != runs[0][1][name].tobytes():
                raise _fail(case, "determinism", f"d{name} differs between identical calls")
    return 0.0


def _results(subject: Differentiable, inputs: Mapping[str, FloatArray], dout: FloatArray) -> bytes:
    """The output and every gradient of one forward/backward, as bytes in a fixed order."""
    output = np.ascontiguousarray(subject.forward(inputs)).tobytes()
    grads = subject.backward(dout)
    return output + b"".join(np.ascontiguousarray(grads[n]).tobytes() for n in sorted(grads))


def reuse_matches_a_fresh_layer(case: Case, draw: Draw) -> float:
    """A layer first used on other inputs -- every sign flipped, and for per-sample layers a
    smaller batch too -- then gives bit-identical results to a fresh one: nothing stale
    (a cached mask, a buffer of the old shape) survives from the earlier call."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    dout = _dout(case.subject(dtype), inputs, draw)
    other = {n: -v for n, v in inputs.items()}  # flips every ReLU mask
    other_target = case.target
    batched = case.spec.per_sample and all(v.ndim >= 2 for v in inputs.values())
    batch = next(iter(inputs.values())).shape[0] if batched else 0
    if batch >= 2:
        keep = draw(st.integers(1, batch - 1))
        other = {n: v[:keep] for n, v in other.items()}
        other_target = None if case.target is None else case.target[:keep]
    layer = case.layer(dtype)
    earlier = case.spec.subject(layer, other_target)
    _results(earlier, other, _dout(earlier, other, draw))
    reused = case.spec.subject(layer, case.target)
    if _results(reused, inputs, dout) != _results(case.subject(dtype), inputs, dout):
        raise _fail(
            case,
            "reuse",
            f"[{dtype}] results after an earlier call on other inputs differ from a fresh layer's",
        )
    return 0.0


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
    output = np.asarray(subject.forward(inputs), np.float64)
    grads = {k: np.asarray(g, np.float64) for k, g in subject.backward(dout).items()}
    target = None if case.target is None else case.target[perm]
    permuted = case.spec.subject(case.layer(dtype), target)
    p_inputs = {k: v[perm] for k, v in inputs.items()}
    p_output = np.asarray(permuted.forward(p_inputs), np.float64)
    p_dout = dout if case.spec.scalar_output else dout[perm]
    p_grads = {k: np.asarray(g, np.float64) for k, g in permuted.backward(p_dout).items()}
    u = _unit_roundoff(dtype)
    bound_n = _accumulation({**inputs, **subject.parameters}, dout)
    # Reordering a batch sum errs by n·u times the sum of the per-sample magnitudes,
    # which the batch result itself understates where samples cancel, plus n·η where
    # terms underflow: each rounding errs by at most u·|v| + η/2 (η the smallest
    # subnormal), and a saturated sigmoid's tiny slopes do underflow.
    tiny = bound_n * float(np.finfo(dtype).smallest_subnormal)
    per_sample = _per_sample_magnitude(case, inputs, dout, dtype)
    pairs = [("output", output if case.spec.scalar_output else output[perm], p_output)]
    for k, g in grads.items():
        pairs.append((f"d{k}", g[perm] if k in inputs else g, p_grads[k]))
    worst = 0.0
    for name, expected, got in pairs:
        scale = max(_norm(expected), per_sample.get(name, 0.0))
        error = _norm(expected - got)
        if error > bound_n * u * scale + tiny:
            raise _fail(
                case,
                "batch independence",
                f"{name} changed by {error:.3e} under a batch permutation",
            )
        worst = max(worst, _rel(error, scale))
    return worst


def _per_sample_magnitude(
    case: Case, inputs: Mapping[str, FloatArray], dout: FloatArray, dtype: np.dtype[np.floating]
) -> dict[str, float]:
    """``‖Σ_k |result for sample k alone|‖∞`` for the output and each gradient (÷N for a loss)."""
    n = next(iter(inputs.values())).shape[0]
    totals: dict[str, FloatArray] = {}
    for k in range(n):
        subject = case.spec.subject(
            case.layer(dtype), None if case.target is None else case.target[k : k + 1]
        )
        single = {name: v[k : k + 1] for name, v in inputs.items()}
        results = {"output": np.asarray(subject.forward(single), np.float64)}
        d_k = dout if case.spec.scalar_output else dout[k : k + 1]
        results.update(
            {f"d{m}": np.asarray(g, np.float64) for m, g in subject.backward(d_k).items()}
        )
        for name, value in results.items():
            magnitude = np.abs(value) / (n if case.spec.scalar_output else 1)
            if name in totals and totals[name].shape == magnitude.shape:
                totals[name] = totals[name] + magnitude
            else:
                totals[name] = magnitude
    return {name: _norm(total) for name, total in totals.items()}


def bad_calls_raise_clear_errors(case: Case, draw: Draw) -> float:
    """Backward before forward raises NotForwardedError and a wrongly shaped dout raises
    ShapeError (for networks, which have no separate backward: a wrongly shaped x raises
    ShapeError and an out-of-range label raises TargetError)."""
    dtype = _dtype(draw)
    inputs = case.inputs_as(dtype)
    if case.spec.kind == "network":
        _network_errors(case, inputs)
        return 0.0
    subject = case.subject(dtype)
    shape = np.shape(subject.forward(inputs))
    fresh = case.subject(dtype)
    _expect(
        case,
        NotForwardedError,
        case.spec.name,
        lambda: fresh.backward(np.zeros(shape, dtype=dtype)),
    )
    wrong = (*shape, 2)
    _expect(case, ShapeError, str(wrong), lambda: subject.backward(np.ones(wrong, dtype=dtype)))
    return 0.0


def _network_errors(case: Case, inputs: Mapping[str, FloatArray]) -> None:
    network = case.layer(inputs["x"].dtype)
    x = inputs["x"]
    wide = np.concatenate([x, x[:, :1]], axis=1)
    loss = getattr(network, "loss")  # noqa: B009  # the network kind promises `loss`
    _expect(case, ShapeError, str(wide.shape), lambda: loss(wide, case.target))
    classes = int(case.params[f"W{len(case.params) // 2}"].shape[1])
    labels = np.full(x.shape[0], classes, dtype=np.intp)
    _expect(case, TargetError, f"got label {classes}", lambda: loss(x, labels))


def _expect(case: Case, error: type[Exception], mention: str, call: Callable[[], object]) -> None:
    """``call()`` must raise ``error`` with a message that mentions ``mention``."""
    try:
        call()
    except error as raised:
        if mention not in str(raised):
            raise _fail(
                case, "clear errors", f"message does not mention {mention!r}: {raised}"
            ) from None
    else:
        raise _fail(
            case, "clear errors", f"expected {error.__name__} (about {mention!r}), nothing raised"
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

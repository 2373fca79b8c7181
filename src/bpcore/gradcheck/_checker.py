"""Compare a layer's backward with float64 finite differences, probe by probe.

For each input and parameter ``θ``, the subject's gradient ``g`` (backward, in the
subject's dtype) is compared with the central difference ``D_h`` of
``φ(θ) = ⟨f(θ), dout⟩`` on a float64 twin of the layer, element by element or along
random directions. A probe passes when ``|g - D_h| <= tol``, ``tol`` coming from the
error model (:mod:`bpcore.gradcheck._error_model`); a failing probe that straddles a
kink is counted apart. The derivation of both: docs/gradcheck-error-model.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import (
    FloatArray,
    FloatDType,
    as_float_array,
    resolve_float_dtype,
)
from bpcore._finite_difference import (
    At,
    central_difference,
    default_step,
    one_sided_differences,
    step_size,
)
from bpcore.errors import ArgumentError, ArgumentTypeError, DtypeError, ShapeError
from bpcore.gradcheck._error_model import ErrorModel, measure
from bpcore.gradcheck._guard import Guarded, recorded_warnings, without_blas_flags
from bpcore.gradcheck._report import ArrayCheck, GradcheckReport, GradientMismatch, Status
from bpcore.gradcheck._subjects import Differentiable, Factory, call_maker

Mode = Literal["auto", "full", "directional"]

_F64 = np.dtype(np.float64)

FULL_LIMIT = 1024
"""In ``"auto"`` mode, arrays up to this many elements are checked element by element."""


@final
@dataclass(frozen=True, eq=False)
class _Problem:
    """Everything the checker needs about one layer at one point."""

    subject_dtype: FloatDType
    subject: Guarded
    reference: Guarded
    inputs64: dict[str, FloatArray]
    dout64: FloatArray
    analytic: dict[str, FloatArray]
    model: ErrorModel
    output_dtype: np.dtype[np.generic]
    output_finite: bool
    gradient_dtypes: dict[str, tuple[np.dtype[np.generic], np.dtype[np.generic]]]

    def phi(self) -> float:
        """``⟨f(inputs), dout⟩`` on the float64 twin, at its current inputs and parameters."""
        out = np.asarray(self.reference.forward(self.inputs64), dtype=np.float64)
        return float(np.sum(out * self.dout64))

    def values(self, name: str) -> FloatArray:
        """The float64 values of input or parameter ``name``, live: stepping them moves ``φ``.

        The inputs are the checker's own float64 copies; the parameters the twin's own.
        """
        if name in self.inputs64:
            return self.inputs64[name]
        return self.reference.parameters[name]

    def central(self, name: str, at: At, step: float) -> float:
        """The central difference of ``φ`` in ``name`` at element or along direction ``at``."""
        return central_difference(self.phi, self.values(name), at, step)

    def one_sided(self, name: str, at: At, step: float, centre: float) -> tuple[float, float]:
        """The forward and backward differences of ``φ`` (which is ``centre`` at the point)."""
        return one_sided_differences(self.phi, self.values(name), at, step, centre)


def check_gradients(
    make: Factory,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    dtype: npt.DTypeLike | None = None,
    dout: npt.ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
    mode: Mode = "auto",
    directions: int = 8,
    kinks: Mapping[str, Sequence[float]] | None = None,
    allow_warnings: bool = False,
    term_sizes: npt.ArrayLike | None = None,
) -> GradcheckReport:
    """Check ``backward`` against float64 finite differences for every input and parameter.

    Args:
        make: builds the layer as a :class:`Differentiable` in a given dtype (see
            :func:`unary`, :func:`binary`, :func:`loss`, :func:`network`); called once in
            ``dtype`` (the subject) and once in float64 (the twin, whose parameters are
            then set to the subject's values).
        inputs: the point, by input name (``{"x": x}``, or ``{"x": x, "y": y}``).
        dtype: the dtype the subject computes in; by default that of the inputs.
        dout: the upstream gradient; by default drawn from ``rng`` (standard normal).
        rng: a Generator or seed for ``dout`` and the directions.
        mode: ``"full"`` compares every element; ``"directional"`` compares
            ``directions`` random Gaussian directional derivatives per array
            (``4k`` evaluations); ``"auto"`` picks full up to :data:`FULL_LIMIT` elements.
        directions: how many directions per array in directional mode, at least 1.
        kinks: input name to the values where the layer is not differentiable
            (``{"x": [0.0]}`` for ReLU); there, as at kinks the checker finds itself, the
            backward value must lie between the one-sided derivatives.
        allow_warnings: report RuntimeWarnings the layer raises (overflow, invalid
            values) as failures unless this is ``True``.
        term_sizes: the size of the forward's terms per output element at the point (an
            oracle's ``Reference.size``), of the output's shape. ``φ``'s rounding is
            then bounded by them too: a forward that cancels internally (a loss that is
            exactly 0) rounds like its terms, which its result does not show.

    Returns:
        A :class:`GradcheckReport`; it does not raise on a mismatch (see
        :func:`assert_gradients`). A NaN or infinite gradient, numerical or analytic, is
        a mismatch; a layer that modifies its ``dout``, inputs, targets or parameters,
        raises a RuntimeWarning, or whose forward returns NaN or infinity, fails with that
        named in :attr:`~GradcheckReport.problems`.

    Raises:
        ArgumentTypeError: ``make`` is not a factory, or returns no :class:`Differentiable`.
        ArgumentError: ``mode`` is unknown, ``directions < 1``, or ``kinks`` names no input.
        DtypeError: an input is not real, ``dtype`` is not float32 or float64, or the
            float64 twin's parameters are not float64 arrays of the subject's shapes.
        ShapeError: ``dout`` does not have the output's shape, or backward returns a
            gradient of another shape than its input or parameter.
    """
    _check_options(make, inputs, mode=mode, directions=directions, kinks=kinks)
    generator = np.random.default_rng(rng)
    problems: list[str] = []
    with recorded_warnings(problems, allow=allow_warnings):
        problem = _prepare(
            make, inputs, dtype=dtype, dout=dout, rng=generator, term_sizes=term_sizes
        )
        checks: list[ArrayCheck] = []
        for name in problem.analytic:
            values = problem.values(name)
            chosen = (
                mode if mode != "auto" else ("full" if values.size <= FULL_LIMIT else "directional")
            )
            declared = tuple(kinks.get(name, ())) if kinks else ()
            role = "input" if name in problem.inputs64 else "parameter"
            if chosen == "full":
                checks.append(_check_full(problem, name, role, declared))
            else:
                checks.append(
                    _check_directional(problem, name, role, declared, directions, generator)
                )
    altered = [*problem.subject.edits, *problem.reference.edits]
    if not problem.model.deterministic:
        altered.append("backward is not deterministic: two calls at one point disagree")
    if not problem.output_finite:
        # The numerical side is the float64 twin's: only this shows the subject's overflow.
        altered.append(f"forward returned NaN or infinity for {problem.subject_dtype} inputs")
    if problem.output_dtype != problem.subject_dtype:
        altered.append(
            f"forward returned {problem.output_dtype} for {problem.subject_dtype} inputs"
        )
    altered.extend(
        f"backward returned {got} for {expected} {name!r}"
        for name, (got, expected) in problem.gradient_dtypes.items()
        if got != expected
    )
    problems[:] = without_blas_flags(problems, problem.subject, problem.reference)
    problems[:0] = list(dict.fromkeys(altered))
    return GradcheckReport(
        subject=problem.reference.name,
        dtype=str(problem.subject_dtype),
        checks=tuple(checks),
        problems=tuple(problems),
    )


def assert_gradients(
    make: Factory,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    dtype: npt.DTypeLike | None = None,
    dout: npt.ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
    mode: Mode = "auto",
    directions: int = 8,
    kinks: Mapping[str, Sequence[float]] | None = None,
    allow_warnings: bool = False,
    term_sizes: npt.ArrayLike | None = None,
) -> GradcheckReport:
    """Like :func:`check_gradients`, with the same options, but raise on a failure.

    Raises:
        GradientMismatch: some input or parameter mismatches, or the report has problems;
            ``report`` holds the figures.
        BpcoreError: whatever :func:`check_gradients` raises.
    """
    report = check_gradients(
        make,
        inputs,
        dtype=dtype,
        dout=dout,
        rng=rng,
        mode=mode,
        directions=directions,
        kinks=kinks,
        allow_warnings=allow_warnings,
        term_sizes=term_sizes,
    )
    if not report.passed:
        raise GradientMismatch(report)
    return report


_MODES = ("auto", "full", "directional")


def _check_options(
    make: object,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    mode: object,
    directions: object,
    kinks: Mapping[str, Sequence[float]] | None,
) -> None:
    """Refuse options that could only fail later, or silently check nothing."""
    where = "check_gradients"
    if not callable(make):
        raise ArgumentTypeError(
            f"{where}: expected `make` to be a factory make(dtype) -> subject (from unary, "
            f"binary, loss or network), got {_describe(make)}."
        )
    if mode not in _MODES:
        raise ArgumentError(f"{where}: expected `mode` one of {list(_MODES)}, got {mode!r}.")
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise ArgumentError(f"{where}: expected `directions` >= 1, got {directions!r}.")
    unknown = sorted(set(kinks or {}) - set(inputs))
    if unknown:
        raise ArgumentError(
            f"{where}: expected `kinks` keys among the inputs {sorted(inputs)}, got {unknown}."
        )


def _describe(value: object) -> str:
    """How an error names a value that was not what was expected."""
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"a {type(value).__name__} instance"


def _subject_dtype(arrays: Mapping[str, FloatArray], dtype: npt.DTypeLike | None) -> FloatDType:
    """The requested dtype, else float32 when every input is float32, else float64."""
    if dtype is not None:
        return resolve_float_dtype(dtype, where="check_gradients")
    if arrays and all(a.dtype == np.float32 for a in arrays.values()):
        return np.dtype(np.float32)
    return _F64


def _copy_parameters(subject: Differentiable, reference: Differentiable) -> None:
    """Give the float64 twin exactly the subject's parameter values (upcasting is exact)."""
    for name, value in subject.parameters.items():
        twin = reference.parameters[name]
        if twin.dtype != _F64 or twin.shape != value.shape:
            raise DtypeError(
                f"check_gradients: expected the float64 twin's parameter {name!r} to be float64 "
                f"of shape {value.shape}, got {twin.dtype} of shape {twin.shape}."
            )
        np.copyto(twin, value.astype(np.float64))


def _analytic_gradients(
    subject: Differentiable, inputs: Mapping[str, FloatArray], dout: FloatArray
) -> tuple[dict[str, FloatArray], dict[str, tuple[np.dtype[np.generic], np.dtype[np.generic]]]]:
    """Run the subject's backward; keep, in float64, the gradient of each input and
    parameter, and the dtype backward returned it in beside the dtype of what it is the
    gradient of."""
    raw = subject.backward(dout)
    params = subject.parameters
    shapes = {**{n: p.shape for n, p in params.items()}, **{n: v.shape for n, v in inputs.items()}}
    analytic: dict[str, FloatArray] = {}
    dtypes: dict[str, tuple[np.dtype[np.generic], np.dtype[np.generic]]] = {}
    own = {**{n: p.dtype for n, p in params.items()}, **{n: v.dtype for n, v in inputs.items()}}
    for name, grad in raw.items():
        if name not in shapes:
            continue  # something backward reports that is neither an input nor a parameter
        if np.shape(grad) != shapes[name]:
            raise ShapeError(
                f"check_gradients: expected {subject.name}.backward to return a gradient of "
                f"shape {shapes[name]} for {name!r}, got shape {np.shape(grad)}."
            )
        # A copy: a layer may hand back an array it reuses on its next backward.
        analytic[name] = np.array(grad, dtype=np.float64, copy=True)
        dtypes[name] = (np.asarray(grad).dtype, own[name])
    return analytic, dtypes


def _build(make: Factory, dtype: FloatDType, *, watch_parameters: bool) -> Guarded:
    """``make(dtype)``, checked to be a :class:`Differentiable`, behind a :class:`Guarded`."""
    built = call_maker(make, dtype, where="check_gradients")
    if not all(hasattr(built, a) for a in ("name", "parameters", "forward", "backward")):
        raise ArgumentTypeError(
            f"check_gradients: expected make(dtype) to return a subject with name, parameters, "
            f"forward and backward (wrap a layer with unary, binary, loss or network), got "
            f"{_describe(built)}."
        )
    return Guarded(built, watch_parameters=watch_parameters)


def _prepare(
    make: Factory,
    inputs: Mapping[str, npt.ArrayLike],
    *,
    dtype: npt.DTypeLike | None,
    dout: npt.ArrayLike | None,
    rng: np.random.Generator,
    term_sizes: npt.ArrayLike | None = None,
) -> _Problem:
    """Build the subject and its twin at ``inputs``, run backward and measure the error model.

    The subject and the twin only ever see private copies of the inputs, ``dout`` and
    targets: what the numerical side is built from cannot be changed by the layer.
    """
    arrays = {
        name: as_float_array(v, where="check_gradients", name=name) for name, v in inputs.items()
    }
    subject_dtype = _subject_dtype(arrays, dtype)
    inputs_d = {name: np.array(v, dtype=subject_dtype, copy=True) for name, v in arrays.items()}
    subject = _build(make, subject_dtype, watch_parameters=True)
    reference = _build(make, _F64, watch_parameters=False)
    _copy_parameters(subject, reference)
    output = np.asarray(subject.forward(inputs_d))
    raw_dout = rng.standard_normal(output.shape) if dout is None else dout
    dout_d = np.array(raw_dout, dtype=subject_dtype, copy=True)
    if dout_d.shape != output.shape:
        raise ShapeError(
            f"check_gradients: expected dout of the output's shape {output.shape}, "
            f"got shape {dout_d.shape}."
        )
    analytic, gradient_dtypes = _analytic_gradients(subject, inputs_d, dout_d)
    sizes = None
    if term_sizes is not None:
        sizes = np.asarray(term_sizes, dtype=np.float64)
        if sizes.shape != output.shape:
            raise ShapeError(
                f"check_gradients: expected term_sizes of the output's shape {output.shape}, "
                f"got shape {sizes.shape}."
            )
    model = measure(
        subject,
        reference,
        inputs_d,
        dout_d,
        analytic,
        dtype=subject_dtype,
        rng=rng,
        term_sizes=sizes,
    )
    return _Problem(
        subject_dtype=subject_dtype,
        subject=subject,
        reference=reference,
        # The checker's own copies: it steps them in place.
        inputs64={n: v.astype(np.float64) for n, v in inputs_d.items()},
        dout64=dout_d.astype(np.float64),
        analytic=analytic,
        model=model,
        output_dtype=output.dtype,
        output_finite=bool(np.all(np.isfinite(output))),
        gradient_dtypes=gradient_dtypes,
    )


def _near_kink(value: float, reach: float, declared: Sequence[float]) -> bool:
    """Whether a declared kink lies within ``reach`` of ``value``."""
    return any(abs(value - k) <= reach for k in declared)


def _judge(
    problem: _Problem,
    name: str,
    probe: _Probe,
    numerical: float,
    tol: float,
    base: float,
) -> tuple[str, float, _Probe, float]:
    """The verdict on a probe whose error exceeds ``base``, the tolerance without the
    sensitivity term: ``"pass"``, ``"kink"`` or ``"mismatch"``; the tolerance applied; and
    the probe and central difference judged (at a smaller step where :func:`_refined`
    found one).

    ``numerical`` is the probe's central difference ``D_h``. Where the one-sided
    differences agree, or their gap shrinks like ``h`` (curvature), the layer is smooth at
    the probe's scale and the full tolerance ``tol`` applies, widened, if the probe misses
    it, by :func:`_step_spread`, and passed if smaller steps converge to ``g``
    (:func:`_refined`). Otherwise
    -- a jump in the slope, or a declared kink -- the sensitivity term measures that jump,
    not rounding, so it must not widen anything: the backward value has to lie between the
    one-sided derivatives (a valid one-sided derivative or subgradient), which are known to
    within their first-order error and their rounding.
    """
    model, at, step, g = problem.model, probe.at, probe.step, probe.analytic
    error = abs(g - numerical)
    centre = problem.phi()
    forward, backward = problem.one_sided(name, at, step, centre)
    small_forward, small_backward = problem.one_sided(name, at, step / 4, centre)
    jump = abs(forward - backward)
    shrinks = jump > 0 and 0.125 < abs(small_forward - small_backward) / jump < 0.5
    if not probe.near_kink and (jump <= base or shrinks):
        if error > tol:
            tol += _step_spread(problem, name, at, step, numerical)
        if error > tol:
            refined = _refined(problem, name, probe, numerical)
            if refined is not None:
                return "pass", refined[2], refined[0], refined[1]
        return ("pass" if error <= tol else "mismatch"), tol, probe, numerical
    # A kink's verdict is judged without the sensitivity term; a mismatch reports the
    # tolerance it missed.
    missed = base if error <= tol else tol
    # One-sided differences err by about a·h: the h/4 values lie within |D(h) - D(h/4)|/3
    # of the one-sided derivatives. Their rounding is twice a central difference's, at a
    # quarter of the step: 2·tolerance(h/4) without truncation or sensitivity bounds it.
    first_order = max(abs(forward - small_forward), abs(backward - small_backward)) / 3
    rounding = 2 * model.tolerance(step / 4, 0.0, probe.grad_scale, 0.0, probe.noise)
    values = [forward, backward, small_forward, small_backward]
    slack = first_order + rounding
    if not all(math.isfinite(v) for v in (*values, slack)):
        return "mismatch", missed, probe, numerical
    if min(values) - slack <= g <= max(values) + slack:
        return "kink", missed, probe, numerical
    # Where several elements tie at once (overlapping windows), a valid subgradient can be
    # the slope of a piece that no move of this element alone enters: take the slopes
    # of the pieces around the point too, measured at nearby points.
    values += _neighbour_slopes(problem, name, at, step)
    # Each extrapolated slope combines three central differences' rounding (2·D₁ - D₂).
    slack += 3 * model.tolerance(step, 0.0, probe.grad_scale, 0.0, probe.noise)
    if not all(math.isfinite(v) for v in (*values, slack)):
        return "mismatch", missed, probe, numerical
    inside = min(values) - slack <= g <= max(values) + slack
    return ("kink" if inside else "mismatch"), missed, probe, numerical


REFINEMENTS = 5
"""How many times :func:`_refined` divides a missed smooth probe's step by 4."""

CONVERGED = 12
"""How much a gap must shrink over one refinement for the difference to count as
converged: the ``h²`` law shrinks it 16-fold, and 12 leaves the higher-order terms a
quarter of that before the gap, about 15 times the difference's error, is trusted."""


def _refined(
    problem: _Problem, name: str, probe: _Probe, numerical: float
) -> tuple[_Probe, float, float] | None:
    """The probe at the smaller step where its central difference has converged to the
    backward value, with that difference and the tolerance there; ``None`` if none has.

    The central difference is taken again at ``h/4, h/16, …``.
    Where the function bends on a scale below ``h`` -- a batch normalization of a nearly
    constant feature, whose ``x̂`` turns over within ``sqrt(eps)`` and, through a second
    one, within a fraction of that -- ``D_h`` is outside the regime where its error is
    ``c·h²``, and ``|D_2h - D_h|`` does not bound it. Smaller steps reach that regime:
    there each gap ``g_k = |D(h/4^k) - D(h/4^(k-1))|`` shrinks 16-fold. Once a gap has
    shrunk :data:`CONVERGED`-fold, ``D(h/4^k)`` errs by about ``g_k/15``, and the probe
    passes if it lies within the tolerance at that step with ``g_k`` as its truncation
    term: a wrong gradient stays as far from ``D`` at every step, while the rounding
    allowed grows only ``4^k``-fold (1024-fold at most).
    """
    at, step, g = probe.at, probe.step, probe.analytic
    previous, previous_gap = numerical, math.inf
    for k in range(1, REFINEMENTS + 1):
        smaller = step / 4**k
        value = problem.central(name, at, smaller)
        gap = abs(value - previous)
        if not math.isfinite(gap):
            break
        # Never on the first refinement: a single gap shows no convergence.
        if math.isfinite(previous_gap) and gap <= previous_gap / CONVERGED:
            tol = problem.model.tolerance(
                smaller, gap, probe.grad_scale, probe.sensitivity, probe.noise
            )
            if abs(g - value) <= tol:
                return replace(probe, step=smaller), value, tol
        previous, previous_gap = value, gap
    return None


SPREAD_STEPS = tuple(2 ** (j / 4 - 1) for j in range(8) if j != 4)
"""The steps, as multiples of ``h``, at which :func:`_step_spread` measures a smooth probe
again: seven from ``h/2`` to ``1.68·h``, a quarter octave apart."""


def _step_spread(problem: _Problem, name: str, at: At, step: float, numerical: float) -> float:
    """``max_j |D(s_j·h) - D(h)|`` over :data:`SPREAD_STEPS`: how far the central
    difference moves with its own step.

    Its truncation moves by at most ``(s² - 1)·c·h²``, within the ``3c·h²`` that ``trunc``
    allows; what else moves is the rounding of ``φ``, which is larger than
    ``n·u64·S`` where the layer's forward cancels internally (``x - mean(x)`` with
    ``|x| ≫ |x - mean(x)|``): its error then jumps between a few levels from one point to
    the next, and ``D(h)`` carries it divided by ``h``. Only probes that miss their
    tolerance are measured again, at the cost of 14 evaluations of ``φ``.
    """
    return max(abs(problem.central(name, at, s * step) - numerical) for s in SPREAD_STEPS)


NEIGHBOURS = 32
"""How many nearby points a kink probe samples when one-sided derivatives do not bracket
the backward value: with ``k`` elements tied at once, each lands in one of the ``k!``
orderings around the point."""


def _neighbour_slopes(problem: _Problem, name: str, at: At, step: float) -> list[float]:
    """The slopes along ``at`` of the pieces around the point, one per nearby point.

    For each of :data:`NEIGHBOURS` random directions ``w`` (a fixed seed) the central
    difference ``D`` is taken at ``θ + Δ`` and ``θ + 2Δ``, ``Δ`` moving each element by up
    to 16 of its own steps along ``w``; both lie in one piece, and ``2·D(θ+Δ) - D(θ+2Δ)``
    extrapolates that piece's slope back to the point, its curvature taken out. The values
    are restored afterwards.
    """
    live = problem.values(name)
    original = live.copy()
    reach = 16 * default_step(original, _F64)
    rng = np.random.default_rng(0)
    slopes = []
    try:
        for _ in range(NEIGHBOURS):
            w = rng.standard_normal(original.shape)
            shift = reach * w / max(float(np.max(np.abs(w))), 1e-300)
            np.copyto(live, original + shift)
            near = problem.central(name, at, step)
            np.copyto(live, original + 2 * shift)
            far = problem.central(name, at, step)
            slopes.append(2 * near - far)
    finally:
        np.copyto(live, original)
    return slopes


@final
@dataclass(frozen=True)
class _Probe:
    """One comparison: at or along ``at`` (an element index or a direction) with ``step``.

    ``analytic`` is the backward value to compare; ``grad_scale``, ``sensitivity`` and
    ``noise`` are the error model's ``G``, ``s`` and ``m`` for the probe; ``near_kink``
    says whether it reaches a declared kink and ``label`` how the report names it.
    """

    at: At
    step: float
    analytic: float
    grad_scale: float
    sensitivity: float
    noise: float
    near_kink: bool
    label: tuple[int, ...]


@final
@dataclass
class _Tally:
    """The running verdict over the probes of one array."""

    ratio: float = -1.0
    worst: _Probe | None = None
    numerical: float = 0.0
    tolerance: float = 0.0
    max_abs: float = 0.0
    max_rel: float = 0.0
    mismatches: int = 0
    kinks: int = 0
    nonfinite: int = 0
    checked: int = 0
    at_kinks: list[At] = field(default_factory=list)
    joint: bool = False

    def add(self, problem: _Problem, name: str, probe: _Probe) -> None:
        """Evaluate ``probe`` and fold its outcome into the tally."""
        self.checked += 1
        step, g = probe.step, probe.analytic
        d_h = problem.central(name, probe.at, step)
        d_2h = problem.central(name, probe.at, 2 * step)
        truncation = abs(d_2h - d_h)
        model = problem.model
        tol = model.tolerance(step, truncation, probe.grad_scale, probe.sensitivity, probe.noise)
        base = model.tolerance(step, truncation, probe.grad_scale, 0.0, probe.noise)
        error = abs(g - d_h)
        if not all(math.isfinite(v) for v in (g, d_h, d_2h, tol)):
            # NaN compares false with everything: without this, it would pass.
            self.nonfinite += 1
            self.mismatches += 1
            self._keep(math.inf, probe, d_h, tol)
            return
        applied = tol
        if error > base:
            verdict, applied, probe, d_h = _judge(problem, name, probe, d_h, tol, base)
            error = abs(g - d_h)  # of a smaller step's difference, where _refined found one
            if verdict == "kink":
                self.kinks += 1
                self.at_kinks.append(probe.at)
                return
            if verdict == "mismatch":
                self.mismatches += 1
        self.max_abs = max(self.max_abs, error)
        self.max_rel = max(self.max_rel, _rel(g, d_h))
        ratio = error / applied if applied > 0 else (math.inf if error > 0 else 0.0)
        self._keep(ratio, probe, d_h, applied)

    def add_joint(self, problem: _Problem, name: str, probe: _Probe) -> None:
        """Evaluate the probe along every element found at a kink at once, and fold in its
        outcome if it has one (see :func:`_check_full`)."""
        step, g = probe.step, probe.analytic
        d_h = problem.central(name, probe.at, step)
        truncation = abs(problem.central(name, probe.at, 2 * step) - d_h)
        model = problem.model
        tol = model.tolerance(step, truncation, probe.grad_scale, probe.sensitivity, probe.noise)
        error = abs(g - d_h)
        if not all(math.isfinite(v) for v in (g, d_h, tol)):
            return  # the elements' own probes have judged what is not finite
        if error > tol:
            tol += _step_spread(problem, name, probe.at, step, d_h)
        if error > tol:
            # The direction can bend within the step as an element's own can (_judge).
            refined = _refined(problem, name, probe, d_h)
            if refined is not None:
                probe, d_h, tol = refined
                error = abs(g - d_h)
        if error > tol:
            # Only a slope that is the same in every piece around the point binds every
            # valid subgradient; where the pieces' slopes differ, this probe says nothing.
            slack = tol + 3 * model.tolerance(step, 0.0, probe.grad_scale, 0.0, probe.noise)
            slopes = _neighbour_slopes(problem, name, probe.at, step)
            if not all(abs(s - d_h) <= slack for s in slopes):
                return
            self.mismatches += 1
        self.checked += 1
        self.max_abs = max(self.max_abs, error)
        self.max_rel = max(self.max_rel, _rel(g, d_h))
        ratio = error / tol if tol > 0 else (math.inf if error > 0 else 0.0)
        if self._keep(ratio, probe, d_h, tol):
            self.joint = True

    def _keep(self, ratio: float, probe: _Probe, numerical: float, tolerance: float) -> bool:
        """Make ``probe`` the worst if its error is the largest yet relative to its
        tolerance; whether it did."""
        if ratio <= self.ratio:
            return False
        self.ratio, self.worst, self.numerical, self.tolerance = (
            ratio,
            probe,
            numerical,
            tolerance,
        )
        self.joint = False
        return True

    def result(self, name: str, role: str, mode: str, dtype: FloatDType) -> ArrayCheck:
        """The :class:`ArrayCheck` for everything added so far."""
        if self.mismatches:
            status = Status.MISMATCH
        elif self.kinks:
            status = Status.NONDIFFERENTIABLE
        else:
            status = Status.PASS
        worst = self.worst
        return ArrayCheck(
            name=name,
            role=role,
            status=status,
            mode=mode,
            checked=self.checked,
            max_abs_error=self.max_abs,
            max_rel_error=self.max_rel,
            worst=() if worst is None else worst.label,
            analytic=0.0 if worst is None else worst.analytic,
            numerical=self.numerical,
            step=0.0 if worst is None else worst.step,
            tolerance=self.tolerance,
            dtype=str(dtype),
            kinks=self.kinks,
            nonfinite=self.nonfinite,
            at_kinks_together=self.joint,
        )


def _rel(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)``, 0 when both are 0."""
    denominator = max(abs(a), abs(b))
    return abs(a - b) / denominator if denominator > 0 else 0.0


def _check_full(problem: _Problem, name: str, role: str, declared: Sequence[float]) -> ArrayCheck:
    """Probe every element of ``name`` with the step ``cbrt(eps64)·max(1, |θ_i|)``; then,
    if some were at a kink, along the direction that moves all of those at once.

    Each element at a kink is judged by its own one-sided slopes, which admit the value of
    every piece it borders. The elements of a tie move together smoothly (a maximum of
    tied values moves with them), so along ``Σ e_i`` over the kink elements every valid
    subgradient has one value: where the slopes of all the pieces around the point agree
    along it, ``g·Σ e_i`` must match the central difference (a window's gradient sent to
    every tied element fails there).
    """
    values = problem.values(name)
    grad = problem.analytic[name]
    sens = problem.model.sensitivity[name]
    magnitude = problem.model.magnitude[name]
    grad_scale = float(np.max(magnitude)) if magnitude.size else 0.0
    tally = _Tally()
    for index in np.ndindex(values.shape):
        centre = float(values[index])
        step = step_size(centre, _F64)
        probe = _Probe(
            at=index,
            step=step,
            analytic=float(grad[index]),
            grad_scale=grad_scale,
            sensitivity=float(sens[index]),
            noise=float(problem.model.noise[name][index]),
            near_kink=_near_kink(centre, 2 * step, declared),
            label=tuple(int(i) for i in index),
        )
        tally.add(problem, name, probe)
    if tally.at_kinks:
        tally.add_joint(problem, name, _joint_probe(problem, name, tally.at_kinks))
    return tally.result(name, role, "full", problem.subject_dtype)


def _joint_probe(problem: _Problem, name: str, at_kinks: Sequence[At]) -> _Probe:
    """The probe along ``v = Σ e_i`` over the elements ``at_kinks``."""
    values = problem.values(name)
    v = np.zeros(values.shape)
    for index in at_kinks:
        v[index] = 1.0
    largest = float(np.max(np.abs(values), where=v > 0, initial=0.0))
    model = problem.model
    return _Probe(
        at=v,
        step=step_size(largest, _F64),
        analytic=float(np.sum(problem.analytic[name] * v)),
        grad_scale=float(np.sum(model.magnitude[name] * v)),
        sensitivity=float(np.sum(model.sensitivity[name] * v)),
        noise=float(np.sum(model.noise[name] * v)),
        near_kink=False,
        label=(),
    )


def _check_directional(
    problem: _Problem,
    name: str,
    role: str,
    declared: Sequence[float],
    directions: int,
    rng: np.random.Generator,
) -> ArrayCheck:
    """Probe ``name`` along ``directions`` standard normal directions drawn from ``rng``."""
    values = problem.values(name)
    grad = problem.analytic[name]
    sens = problem.model.sensitivity[name]
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    tally = _Tally()
    for k in range(directions):
        v = rng.standard_normal(values.shape)
        abs_v = np.abs(v)
        # The element that v moves most moves by the step full mode gives the largest value.
        step = step_size(largest, _F64) / max(float(np.max(abs_v)), 1e-300)
        reach = 2 * step * abs_v
        probe = _Probe(
            at=v,
            step=step,
            analytic=float(np.sum(grad * v)),
            grad_scale=float(np.sum(problem.model.magnitude[name] * abs_v)),
            sensitivity=float(np.sum(sens * abs_v)),
            noise=float(np.sum(problem.model.noise[name] * abs_v)),
            near_kink=any(bool(np.any(np.abs(values - kink) <= reach)) for kink in declared),
            label=(k,),
        )
        tally.add(problem, name, probe)
    return tally.result(name, role, "directional", problem.subject_dtype)

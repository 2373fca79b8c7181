"""The checker's error model: a rounding and truncation bound for each finite-difference probe.

``tol = trunc + round + analytic`` is derived in docs/gradcheck-error-model.md; the
function and field names below follow its symbols (``G``, ``s``, ``m``, ``S``, ``n``).
Every size is measured on the layer at the point checked, none is picked by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType
from bpcore.gradcheck._subjects import Differentiable, HasConstants

_U64 = float(np.finfo(np.float64).eps) / 2
_ETA64 = float(np.finfo(np.float64).smallest_subnormal)

EXACT_TERMS_LIMIT = 64
"""Up to this many ``dout`` elements, :func:`term_magnitude` is computed exactly."""


@final
@dataclass(frozen=True, eq=False)
class ErrorModel:
    """The measured sizes that bound one check's errors, per input and parameter name.

    Attributes:
        dtype: the subject's dtype ``d``, whose unit roundoff ``u_d`` the analytic
            gradient carries.
        magnitude: ``G`` per element: the size of the terms each gradient element sums.
        sensitivity: ``s``: how far the gradient moves per unit roundoff of ``d`` in
            the inputs and parameters, where it moves smoothly; the largest over the
            array, for every element.
        deterministic: whether two backward calls at the same point agree bit for bit.
        noise: ``m``: the subject's own rounding noise, the largest over the array.
        scale: ``S = Σ_j |f_j·dout_j| + Σ_k |g_k·θ_k|``, the size of ``φ``'s terms, plus
            ``Σ_j size_j·|dout_j|`` where the sizes of the forward's own terms are given
            (a forward that cancels internally rounds like its terms, not its result).
        accumulation: ``n``, the largest array size involved, plus 4.
    """

    dtype: FloatDType
    magnitude: dict[str, FloatArray]
    sensitivity: dict[str, FloatArray]
    deterministic: bool
    noise: dict[str, FloatArray]
    scale: float
    accumulation: int

    def tolerance(
        self, step: float, truncation: float, grad_scale: float, sensitivity: float, noise: float
    ) -> float:
        """``trunc + n·u64·(S/h + G) + n·η64/h + n·u_d·G + n·s + n·η_d + 2m`` for one probe.

        ``truncation = |D_2h - D_h|``; ``grad_scale``, ``sensitivity`` and ``noise`` are
        the probe's ``G``, ``s`` and ``m``; ``η`` is the smallest subnormal of a dtype.
        """
        n = self.accumulation
        info = np.finfo(self.dtype)
        u_d = float(info.eps) / 2
        # An evaluation of φ also errs by up to η64/2 per operation where it underflows.
        rounding = n * _U64 * (self.scale / step + grad_scale) + n * _ETA64 / step
        # Each rounding in dtype d errs by at most u_d·|v| + η_d/2, where η_d is the smallest
        # subnormal: the absolute term is what products that underflow cost.
        analytic = (
            n * u_d * grad_scale + n * sensitivity + n * float(info.smallest_subnormal) + 2 * noise
        )
        return truncation + rounding + analytic


def measure(
    subject: Differentiable,
    reference: Differentiable,
    inputs: Mapping[str, FloatArray],
    dout: FloatArray,
    analytic: Mapping[str, FloatArray],
    *,
    dtype: FloatDType,
    rng: np.random.Generator,
    term_sizes: FloatArray | None = None,
) -> ErrorModel:
    """Measure the :class:`ErrorModel` of ``subject`` at ``inputs``, against its float64 twin.

    ``inputs`` and ``dout`` are in the subject's ``dtype``, ``analytic`` is the
    subject's gradient there (float64, by name), and ``reference`` holds the
    subject's parameter values in float64. Both are left with those values.
    ``term_sizes``, of the output's shape, are the sizes of the forward's terms there.
    """
    noise = _subject_noise(subject, reference, inputs, dout, analytic, rng)
    inputs64: dict[str, FloatArray] = {n: v.astype(np.float64) for n, v in inputs.items()}
    dout64 = dout.astype(np.float64)
    terms = np.asarray(reference.forward(inputs64), dtype=np.float64) * dout64
    scale = float(np.sum(np.abs(terms)))
    if term_sizes is not None:
        scale += float(np.sum(np.abs(term_sizes) * np.abs(dout64)))
    for name, grad in analytic.items():
        scale += float(np.sum(np.abs(grad * _value(name, inputs64, reference.parameters))))
    sensitivity, deterministic = _sensitivity(
        reference, inputs64, dout64, set(analytic), dtype, rng
    )
    if deterministic:
        # A backward that differs from call to call (a dropout mask redrawn) would make
        # its own randomness look like rounding: it is reported, never tolerated.
        for name, level in dout_noise(subject, inputs, dout, analytic).items():
            np.maximum(noise[name], level, out=noise[name])
    return ErrorModel(
        dtype=dtype,
        magnitude=_magnitude(reference, inputs64, dout64, analytic),
        noise=noise,
        sensitivity=sensitivity,
        deterministic=deterministic,
        scale=scale,
        accumulation=max([dout64.size, *(a.size for a in analytic.values())]) + 4,
    )


def term_magnitude(
    subject: Differentiable, inputs: Mapping[str, FloatArray], dout: FloatArray
) -> dict[str, FloatArray]:
    """The size of the terms backward sums into each gradient element: ``Σ_j |dout_j|·|J_ji|``.

    ``J`` is the Jacobian of the output in input or parameter ``i``. A rounding bound
    ``n·u·size`` needs this size: ``|g|`` alone understates it where the terms cancel.
    Backward is linear in ``dout``, so for a ``dout`` of up to
    :data:`EXACT_TERMS_LIMIT` elements each term is computed on its own (one backward
    per element of ``dout``) and their absolute values summed: exact. Beyond, it is
    estimated from ``|dout|`` and three random sign patterns of it (a fixed seed),
    keeping the largest result.

    Runs ``subject.forward(inputs)`` once, then backward; returns a float64 array of
    each gradient's shape, keyed like ``subject.backward``'s result.
    """
    subject.forward(inputs)
    size: dict[str, FloatArray] = {}

    def accumulate(d: FloatArray, combine: Callable[[FloatArray, FloatArray], FloatArray]) -> None:
        for name, g in subject.backward(np.asarray(d, dtype=dout.dtype)).items():
            g_abs = np.abs(np.asarray(g, dtype=np.float64))
            size[name] = g_abs if name not in size else combine(size[name], g_abs)

    magnitude = np.abs(dout)
    if dout.size == 0:  # no terms at all; one backward names the gradients
        accumulate(magnitude, np.add)
        return size
    if dout.size <= EXACT_TERMS_LIMIT:
        for j in range(dout.size):
            single = np.zeros_like(dout)
            single.flat[j] = magnitude.flat[j]
            accumulate(single, np.add)
        return size
    signs = np.random.default_rng(0)
    for pattern in range(4):
        d = magnitude if pattern == 0 else magnitude * signs.choice([-1.0, 1.0], size=dout.shape)
        accumulate(d, np.maximum)
    return size


def _magnitude(
    reference: Differentiable,
    inputs64: Mapping[str, FloatArray],
    dout64: FloatArray,
    analytic: Mapping[str, FloatArray],
) -> dict[str, FloatArray]:
    """``G = max(|g|, term_magnitude, constant_terms)`` per element."""
    size = term_magnitude(reference, inputs64, dout64)
    from_constants = constant_terms(reference, inputs64, dout64)
    return {
        n: np.maximum(np.maximum(np.abs(g), size[n]), from_constants.get(n, 0.0))
        for n, g in analytic.items()
    }


def constant_terms(
    subject: Differentiable, inputs: Mapping[str, FloatArray], dout: FloatArray
) -> dict[str, FloatArray]:
    """The constants' share in each gradient element: ``Σ_j |∂g/∂c_j|·|c_j|``.

    Each constant ``c_j`` of a :class:`HasConstants` subject (soft targets) is moved by
    one ulp of its own dtype (zeros stay: they have no share), and the change of the
    gradient is scaled to ``|Δg|·|c_j| / |Δc_j|``; the shares add without cancelling.
    Up to :data:`EXACT_TERMS_LIMIT` elements each constant element moves on its own;
    beyond, all of them along four random sign patterns (a fixed seed), keeping the
    largest. Empty for a subject without constants; the constants and the subject's
    forward state are restored.
    """
    constants = _constants(subject)
    if not constants:
        return {}
    subject.forward(inputs)
    base = {n: np.asarray(g, np.float64) for n, g in subject.backward(dout).items()}
    size: dict[str, FloatArray] = {n: np.zeros_like(g) for n, g in base.items()}
    signs = np.random.default_rng(0)
    for live in constants.values():
        original = live.copy()
        magnitude = np.abs(original.astype(np.float64))
        exact = live.size <= EXACT_TERMS_LIMIT
        moves: list[FloatArray] = (
            [np.eye(1, live.size, j).reshape(live.shape) for j in range(live.size)]
            if exact
            else [signs.choice([-1.0, 1.0], size=live.shape) for _ in range(4)]
        )
        try:
            for direction in moves:
                moved = np.where(direction != 0, _one_ulp(original, direction), original)
                np.copyto(live, moved)
                step = np.abs(moved.astype(np.float64) - original.astype(np.float64))
                # |Δc| is one ulp where moved: the share per unit of c, times |c|.
                scale = float(np.sum(magnitude * (step > 0))) / max(float(np.sum(step)), 1e-300)
                subject.forward(inputs)
                for n, g in subject.backward(dout).items():
                    if n in size:
                        change = np.abs(np.asarray(g, np.float64) - base[n]) * scale
                        size[n] = size[n] + change if exact else np.maximum(size[n], change)
        finally:
            np.copyto(live, original)
    subject.forward(inputs)  # leave the twin at the point, as it was found
    return size


REROLLS = 8
"""How many nearby points a noise measurement evaluates (``k = 0..7`` in :func:`reroll`)."""


def reroll(v: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    """``v`` moved by a random whole number of ulps of its own dtype in ``[4^k, 2·4^k]``.

    Random signs; zeros stay. About ``v·4^k·eps_d`` where ``v`` is normal, and still a
    move where it is subnormal (a relative move rounds back there). The number of ulps is
    random, of either parity, and has about ``2k`` random low bits: a move by exactly
    ``4^k`` ulps, or by a factor ``1 ± 4^k·eps``, keeps the residue of every sum one
    binade up and the low bits of every product, so the rounding of a mean of two values
    (a two-row batch normalisation) would be the same at every point and never show.
    Draws the ulps, then the signs, from ``rng``.
    """
    ulps = rng.integers(4**k, 2 * 4**k, size=v.shape, endpoint=True)
    signs = rng.choice(np.array([-1.0, 1.0]), size=v.shape)
    step = ulps * np.abs(np.spacing(v)) * signs * (v != 0)
    return np.asarray(v + step, v.dtype)


def dout_factors(
    shape: tuple[int, ...],
    dtype: FloatDType,
    rng: np.random.Generator,
    *,
    width: float | None = None,
) -> FloatArray:
    """Factors ``1 + w·width``, ``w`` uniform in ``[-1, 1]``, in ``dtype``; ``width``
    ``sqrt(eps_d)`` by default.

    Backward is linear in ``dout``, so scaling ``dout`` by them changes its result only by
    rounding, which they re-roll: a factor with about ``-log2(width)`` random low bits
    gives every product with ``dout`` random low bits. A factor ``1 ± 4^k·eps_d``, or a
    move by a few ulps, keeps most low bits, and the rounding of a product with it often
    comes out the same as before. A bug nonlinear in ``dout`` changes by a relative
    ``width`` at most.
    """
    half = float(np.sqrt(np.finfo(dtype).eps)) if width is None else width
    return np.asarray(1 + half * rng.uniform(-1.0, 1.0, size=shape), dtype=dtype)


DOUT_NOISE_WIDTH = 1 / 16
"""The width of :func:`dout_noise`'s factors: ``c_k`` in ``[15/16, 17/16]``.

Where backward cancels to a few ulps of its terms (a float32 two-row batch
normalisation: ``dx`` of ``6·10⁻⁸`` from terms near 1), factors within ``sqrt(eps_d)`` of
1 left that rounding the same at all eight, and the checker took it for a wrong
gradient; factors spread over ``[15/16, 17/16]`` re-roll it. Divided by ``c``, a bug
linear in ``dout`` cancels whatever the width; one nonlinear in it (ignoring ``dout``,
say) keeps at most ``|1/c - 1| <= 1/15`` of itself in the noise, twice that in the
tolerance, far below the error it makes."""


def dout_noise(
    subject: Differentiable,
    inputs: Mapping[str, FloatArray],
    dout: FloatArray,
    analytic: Mapping[str, FloatArray],
) -> dict[str, FloatArray]:
    """``max_k |g(c_k·dout)/c_k - g(dout)|`` over :data:`REROLLS` factors ``c_k`` from
    :func:`dout_factors` of width :data:`DOUT_NOISE_WIDTH` (a fixed seed): the rounding
    noise of backward itself, the largest over each array, for every element.

    Backward is linear in ``dout``, so in exact arithmetic the difference is 0 whatever
    the point; in ``d`` the scaled ``dout`` rounds every intermediate differently. Where
    backward cancels internally (``d - mean(d)`` for a gradient that is exactly 0) its
    result is that rounding alone, which no bound in units of ``|g|`` or of the
    Jacobian's terms admits, in float64 as in float32. ``analytic`` names the gradients
    (its values are unused; ``g(dout)`` is recomputed beside the scaled ones). A bug
    linear in ``dout`` cancels out. Each backward follows a forward at ``inputs``.
    """

    def gradient(d: FloatArray) -> dict[str, FloatArray]:
        subject.forward(inputs)
        raw = subject.backward(d)
        return {n: np.asarray(raw[n], np.float64) for n in analytic}

    base = gradient(dout)
    noise = {n: np.zeros_like(g) for n, g in base.items()}
    factors = dout_factors((REROLLS,), dout.dtype, np.random.default_rng(0), width=DOUT_NOISE_WIDTH)
    for c in factors:
        for n, g in gradient(np.asarray(dout * c, dtype=dout.dtype)).items():
            np.maximum(noise[n], np.abs(g / c - base[n]), out=noise[n])
    return {n: np.full_like(a, np.max(a, initial=0.0)) for n, a in noise.items()}


def _subject_noise(
    subject: Differentiable,
    reference: Differentiable,
    inputs: Mapping[str, FloatArray],
    dout: FloatArray,
    analytic: Mapping[str, FloatArray],
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    """``m = max_k |e_k - e_0|`` with ``e_k = g_d(θ_k) - g_64(θ_k)``, the largest over each array.

    ``θ_0`` is the point; ``θ_k`` moves inputs and parameters by a random whole number
    of ulps of ``d`` in ``[4^k, 2·4^k]`` (``k = 0..7``, random signs) and constants by
    one ulp (zeros stay, in both). The
    subject and its twin get the same moved values, so the true change of the gradient
    cancels, and so does a systematic error (a bug): only rounding noise is left. Zero in
    float64. Parameters and constants of both are restored.
    """
    params, twin_params = subject.parameters, reference.parameters
    constants = _constants(subject)
    twin_constants = _constants(reference)
    originals = {n: p.copy() for n, p in params.items()}
    fixed = {n: c.copy() for n, c in constants.items()}
    twin_fixed = {n: c.copy() for n, c in twin_constants.items()}
    dout64 = dout.astype(np.float64)

    def signs(v: npt.NDArray[np.generic]) -> FloatArray:
        return rng.choice(np.array([-1.0, 1.0]), size=v.shape)

    def twin_error(
        point: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]
    ) -> dict[str, FloatArray]:
        """``g_d - g_64`` at ``point``, the twin's parameters and constants set to the subject's."""
        for n, p in params.items():
            np.copyto(twin_params[n], p.astype(np.float64))
        for n, c in constants.items():
            np.copyto(twin_constants[n], c, casting="unsafe")
        reference.forward({n: v.astype(np.float64) for n, v in point.items()})
        twin = reference.backward(dout64)
        return {
            n: np.asarray(grads[n], np.float64) - np.asarray(twin[n], np.float64) for n in analytic
        }

    base = twin_error(inputs, analytic)
    noise = {n: np.zeros_like(g) for n, g in analytic.items()}
    try:
        for k in range(REROLLS):
            for n, p in params.items():
                np.copyto(p, reroll(originals[n], k, rng))
            for n, c in constants.items():
                np.copyto(c, _one_ulp(fixed[n], signs(c)))
            point = {n: reroll(v, k, rng) for n, v in inputs.items()}
            subject.forward(point)
            error = twin_error(point, subject.backward(dout))
            for n, worst in noise.items():
                np.maximum(worst, np.abs(error[n] - base[n]), out=worst)
    finally:
        for n, p in params.items():
            np.copyto(p, originals[n])
            np.copyto(twin_params[n], originals[n].astype(np.float64))
        for n, c in constants.items():
            np.copyto(c, fixed[n])
        for n, c in twin_constants.items():
            np.copyto(c, twin_fixed[n])
    return {n: np.full_like(a, np.max(a, initial=0.0)) for n, a in noise.items()}


def _constants(subject: Differentiable) -> Mapping[str, FloatArray]:
    """The subject's constants (live), or none if it declares none."""
    return subject.constants if isinstance(subject, HasConstants) else {}


def _one_ulp(values: npt.NDArray[np.generic], direction: FloatArray) -> npt.NDArray[np.generic]:
    """``values`` moved by one ulp of their dtype towards ``sign(direction)·∞``; zeros stay,
    so non-negative data (targets) stays non-negative."""
    towards = np.where(direction > 0, np.inf, -np.inf).astype(values.dtype)
    return np.where(values == 0, values, np.nextafter(values, towards))


def _sensitivity(
    reference: Differentiable,
    inputs64: dict[str, FloatArray],
    dout64: FloatArray,
    names: set[str],
    dtype: FloatDType,
    rng: np.random.Generator,
) -> tuple[dict[str, FloatArray], bool]:
    """``s``: half the spread of the twin's gradient under ``±eps_d`` relative moves, per
    ``u_d``, from the elements that respond smoothly; and whether backward is deterministic.

    Every input and parameter moves by ``θ·(1 ± c·eps_d·σ)`` for ``c = 1`` and ``c = 8``,
    with signs ``σ`` all ``+1`` and then four random patterns; the spread of the two
    gradients, divided by ``4c``, is per unit roundoff. A smooth response grows with the
    move, about eightfold; a jump (a tie that one move breaks, a branch that flips) does
    not, and measures no rounding: it is a kink, which the checker judges by one-sided
    derivatives instead. The largest smooth spread over each array applies to all its
    elements: one element can sit on a symmetry (two equal weights) that every pattern
    preserves, but the rounding of ``d`` breaks it anyway. Backward is called twice at
    the point first; if the two gradients differ it is not deterministic. The twin's
    parameters are restored.
    """
    eps = float(np.finfo(dtype).eps)
    params = reference.parameters
    originals = {name: p.copy() for name, p in params.items()}
    values = {**inputs64, **originals}

    def gradients(scale: float, signs: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        moved = {n: v * (1 + scale * signs[n]) for n, v in inputs64.items()}
        for n, p in params.items():
            np.copyto(p, originals[n] * (1 + scale * signs[n]))
        reference.forward(moved)
        return {n: np.asarray(g, np.float64) for n, g in reference.backward(dout64).items()}

    def random_signs(a: FloatArray) -> FloatArray:
        return rng.choice(np.array([-1.0, 1.0]), size=a.shape)

    zero = {name: np.zeros_like(v) for name, v in values.items()}
    smooth: dict[str, FloatArray] = {
        name: np.zeros_like(_value(name, inputs64, params)) for name in names
    }
    try:
        first, second = gradients(0.0, zero), gradients(0.0, zero)
        deterministic = all(first[n].tobytes() == second[n].tobytes() for n in names)
        patterns: list[Callable[[FloatArray], FloatArray]] = [np.ones_like] + [random_signs] * 4
        for pattern in patterns:
            signs = {name: pattern(v) for name, v in values.items()}
            spread = []
            for c in (1.0, 8.0):
                up, down = gradients(c * eps, signs), gradients(-c * eps, signs)
                spread.append({n: np.abs(up[n] - down[n]) / (4 * c) for n in names})
            for name in names:
                small, large = spread[0][name], spread[1][name]
                # Per unit move, a smooth response is about the same at both sizes; a jump
                # is eight times smaller at the larger move, or absent at the smaller one.
                grows = (large >= small / 2) & (large <= 2 * small)
                smooth[name] = np.maximum(smooth[name], np.where(grows, small, 0.0))
    finally:
        for n, p in params.items():
            np.copyto(p, originals[n])
    return {
        name: np.full_like(s, np.max(s, initial=0.0)) for name, s in smooth.items()
    }, deterministic


def _value(
    name: str, inputs64: Mapping[str, FloatArray], params: Mapping[str, FloatArray]
) -> FloatArray:
    """Input ``name`` if there is one, else parameter ``name``."""
    return inputs64[name] if name in inputs64 else params[name]

"""Property tests for bpcore.optim on convex quadratics, and against reference implementations.

Every descent test uses ``f(p) = 0.5 * sum(a * (p - c)**2)`` with curvatures
``a`` in ``[0.1, 10]``; write ``d = p - c``, so the gradient is ``g = a * d``
and every optimizer acts on each coordinate independently. The learning rate
of each test is derived from a bound proved in its docstring, and the test
checks exactly what that bound promises.

Floating point: the bounds are exact-arithmetic statements. Comparisons
allow :func:`rounding_slack`, a few ulps of ``p`` and ``c`` per coordinate
expressed in loss units (about ``1e-12`` for a loss of order one), which is
far smaller than any decrease being asserted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
from hypothesis import example, given

from bpcore._arrays import FloatArray, FloatDType
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, Optimizer

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
EPS = float(np.finfo(np.float64).eps)
STEPS = 10


@dataclass(frozen=True)
class Quadratic:
    """``f(p) = 0.5 * sum(a * (p - c)**2)`` with its starting point ``p0``."""

    a: FloatArray
    c: FloatArray
    p0: FloatArray

    def loss(self, p: FloatArray) -> float:
        return 0.5 * float(np.sum(self.a * (p - self.c) ** 2))

    def grad(self, p: FloatArray) -> FloatArray:
        return self.a * (p - self.c)

    def min_offset(self) -> float:
        """The smallest nonzero ``|p0 - c|``, or ``inf`` when ``p0 == c``."""
        d = np.abs(self.p0 - self.c)
        nonzero = d[d > 0]
        return float(nonzero.min()) if nonzero.size else math.inf


shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4)
# Offsets are 0 (a coordinate already at its minimum) or at least 1e-3 away, so
# every learning rate derived from them below is a normal, positive float.
offsets = st.one_of(st.just(0.0), st.floats(1e-3, 10.0), st.floats(-10.0, -1e-3))


@st.composite
def quadratics(draw: st.DrawFn) -> Quadratic:
    """Draw curvatures in [0.1, 10], a minimizer in [-10, 10] and a start within 10 of it."""
    shape = draw(shapes)
    a = draw(hnp.arrays(F64, shape, elements=st.floats(0.1, 10.0)))
    c = draw(hnp.arrays(F64, shape, elements=st.floats(-10.0, 10.0)))
    offset = draw(hnp.arrays(F64, shape, elements=offsets))
    return Quadratic(a=a, c=c, p0=c + offset)


def rounding_slack(q: Quadratic, p: FloatArray) -> float:
    """A bound on the loss change that one step's rounding can cause at ``p``.

    A step perturbs each coordinate by at most ``delta = 16 eps (|p| + |c|)``
    (a few ulps of the operands), which changes ``0.5 a d**2`` by at most
    ``a (|d| delta + delta**2)``; summing the loss adds ``n eps f`` more.
    """
    d = np.abs(p - q.c)
    delta = 16.0 * EPS * (np.abs(p) + np.abs(q.c))
    return float(np.sum(q.a * (d * delta + delta**2))) + 4.0 * d.size * EPS * q.loss(p)


def run(q: Quadratic, opt: Optimizer, steps: int) -> list[FloatArray]:
    """Run ``steps`` updates from ``p0`` and return the iterates ``p_0, ..., p_steps``."""
    p = q.p0.copy()
    path = [p.copy()]
    for _ in range(steps):
        opt.update({"p": p}, {"p": q.grad(p)})
        path.append(p.copy())
    return path


@given(q=quadratics(), r=st.floats(0.05, 1.95))
def test_sgd_contracts_the_loss_by_the_derived_rate(q: Quadratic, r: float) -> None:
    """With lr = r / max(a), r < 2, each SGD step multiplies the loss by at most max(1 - lr a)^2.

    Derivation: ``d' = (1 - lr a) d`` per coordinate, so
    ``f' <= rho f`` with ``rho = max_i (1 - lr a_i)^2``, and ``rho < 1``
    exactly when ``0 < lr a_i < 2`` for all ``i``, i.e. ``lr < 2 / max(a)``.
    """
    lr = r / float(q.a.max())
    rho = float(np.max((1.0 - lr * q.a) ** 2))
    assert rho < 1.0
    path = run(q, SGD(lr=lr), STEPS)
    for before, after in pairwise(path):
        assert q.loss(after) <= rho * q.loss(before) + rounding_slack(q, before)


@given(q=quadratics(), beta=st.floats(0.0, 0.95), r=st.floats(0.05, 1.0))
@example(  # lr rounded onto h = 1 > (1 - sqrt(beta))^2: the step after overshot by beta
    q=Quadratic(a=np.array([1.0]), c=np.array([0.0]), p0=np.array([1.0])),
    beta=7.912840575840479e-38,
    r=1.0,
)
def test_overdamped_momentum_never_increases_the_loss(q: Quadratic, beta: float, r: float) -> None:
    """With lr <= (1 - sqrt(momentum))^2 / max(a), Momentum's loss is non-increasing at every step.

    Derivation: per coordinate, with ``h = lr a`` and ``v_0 = 0``,
    ``d_{t+1} = (1 + beta - h) d_t - beta d_{t-1}`` and ``d_{-1} = d_0``.
    For ``h <= (1 - sqrt(beta))^2`` the characteristic roots
    ``z1 >= z2`` are real and in ``(0, 1)``; solving for the coefficients
    of ``d_t = A z1^t + B z2^t`` from ``d_{-1} = d_0`` gives ``A >= |B|``
    with ``A (1 - z1) >= |B| (1 - z2)``, so ``d_t`` keeps its sign and
    ``|d_t|`` never increases: no coordinate overshoots. The first step is
    plain SGD, ``d_1 = (1 - h) d_0``, which gives the strict bound below.
    (With larger ``lr`` the iterates oscillate and the loss is *not*
    monotone, so no per-step claim is made there.)
    """
    # The bound is on the exact lr. Computing it rounds (sqrt, subtraction, square,
    # product, quotient: within 5 u = 2.5 eps), and at r = 1 a rounding up puts
    # h = lr·a past the bound: for beta below eps^2, (1 - sqrt(beta))^2 rounds to 1,
    # h = 1 lands d_1 on 0 and the next step overshoots by beta·d_0. Scaling lr down
    # by 8 eps keeps the float lr under the bound.
    lr = r * (1.0 - math.sqrt(beta)) ** 2 / float(q.a.max()) * (1.0 - 8.0 * EPS)
    path = run(q, Momentum(lr=lr, momentum=beta), STEPS)
    rho1 = float(np.max((1.0 - lr * q.a) ** 2))
    assert q.loss(path[1]) <= rho1 * q.loss(path[0]) + rounding_slack(q, path[0])
    for before, after in pairwise(path):
        assert q.loss(after) <= q.loss(before) + rounding_slack(q, before)


@given(q=quadratics(), r=st.floats(0.05, 1.9))
def test_adagrad_never_increases_the_loss_when_lr_is_below_twice_the_offset(
    q: Quadratic, r: float
) -> None:
    """With lr = r min|p0 - c|, r < 2, AdaGrad's loss never increases and its first step lowers it.

    Derivation: per coordinate ``d' = (1 - eta) d`` with
    ``eta = lr a / (sqrt(h) + 1e-7) > 0``. ``h`` only grows and already
    holds ``g_1^2 = a^2 d_0^2`` after the first step, so
    ``eta <= lr a / (a |d_0|) = lr / |d_0| <= r < 2`` and ``|1 - eta| < 1``
    at every step. Coordinates with ``d_0 = 0`` see ``g = 0`` forever and
    stay put. The bound depends on the offset, not on ``a``: AdaGrad's first
    step moves every coordinate by about ``lr`` regardless of the gradient's
    size, and overshoots when ``lr > 2 |d_0|``.
    """
    min_offset = q.min_offset()
    lr = 0.1 if math.isinf(min_offset) else r * min_offset
    path = run(q, AdaGrad(lr=lr), STEPS)
    for before, after in pairwise(path):
        assert q.loss(after) <= q.loss(before) + rounding_slack(q, before)
    if q.loss(path[0]) > 0.0:
        assert q.loss(path[1]) < q.loss(path[0])
    else:
        assert q.loss(path[-1]) == 0.0


def adam_step_bound(beta1: float, beta2: float, t: int) -> float:
    """``B_t`` with ``|step_t| <= lr B_t`` for the book's Adam, for any gradients.

    By Cauchy-Schwarz on ``m_t = (1 - b1) sum_k b1^k g_{t-k}`` against
    ``v_t = (1 - b2) sum_k b2^k g_{t-k}^2``:
    ``|m_t| <= (1 - b1) sqrt(sum_{k<t} (b1^2 / b2)^k) sqrt(v_t / (1 - b2))``,
    and ``|step_t| = lr_t |m_t| / (sqrt(v_t) + 1e-7) <= lr_t |m_t| / sqrt(v_t)``.
    """
    gamma = beta1**2 / beta2
    geometric = sum(gamma**k for k in range(t))
    lr_factor = math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    return lr_factor * (1.0 - beta1) / math.sqrt(1.0 - beta2) * math.sqrt(geometric)


@given(
    q=quadratics(),
    beta1=st.floats(0.0, 0.95),
    beta2=st.floats(0.5, 0.9999),
    r=st.floats(0.05, 0.95),
)
def test_adam_approaches_the_minimum_without_overshoot_while_far_from_it(
    q: Quadratic, beta1: float, beta2: float, r: float
) -> None:
    """With lr sum_{t<=K} B_t = r min|p0 - c|, r < 1, Adam moves each coordinate toward c.

    Derivation: by :func:`adam_step_bound` the total movement over ``K``
    steps is at most ``lr S_K`` with ``S_K = sum_{t<=K} B_t``, which is less
    than each nonzero ``|d_0|``, so no coordinate can reach its minimum.
    While no coordinate has crossed, all its past gradients share the sign
    of ``d_0``, hence so does ``m_t``, and every step moves it strictly
    toward ``c``. So each ``|d_t|`` decreases with unchanged sign, and the
    loss decreases at every step. This is a claim about the first ``K``
    steps only: with a constant lr, Adam does not converge to the exact
    minimum but ends up oscillating within about ``lr`` of it, so no
    long-run monotonicity is asserted.
    """
    min_offset = q.min_offset()
    total = sum(adam_step_bound(beta1, beta2, t) for t in range(1, STEPS + 1))
    lr = 0.1 if math.isinf(min_offset) else r * min_offset / total
    path = run(q, Adam(lr=lr, beta1=beta1, beta2=beta2), STEPS)
    d0 = path[0] - q.c
    for before, after in pairwise(path):
        d_before, d_after = before - q.c, after - q.c
        np.testing.assert_array_equal(np.sign(d_after), np.sign(d0))
        assert np.all(np.abs(d_after) <= np.abs(d_before))
        assert q.loss(after) <= q.loss(before) + rounding_slack(q, before)
    # The movement bound the derivation rests on.
    moved = np.abs(path[-1] - path[0])
    assert np.all(moved <= lr * total * (1.0 + 1e-9))
    if q.loss(path[0]) > 0.0:
        assert q.loss(path[-1]) < q.loss(path[0])
    else:
        assert q.loss(path[-1]) == 0.0


# --- agreement with straightforward implementations of the book's formulas ----------------

Reference = Callable[[FloatArray, FloatArray], None]


def reference_sgd(lr: float) -> Reference:
    def step(p: FloatArray, g: FloatArray) -> None:
        p[...] = p - lr * g

    return step


def reference_momentum(lr: float, momentum: float) -> Reference:
    v: list[FloatArray] = []

    def step(p: FloatArray, g: FloatArray) -> None:
        if not v:
            v.append(np.zeros_like(p))
        v[0] = momentum * v[0] - lr * g
        p[...] = p + v[0]

    return step


def reference_adagrad(lr: float) -> Reference:
    h: list[FloatArray] = []

    def step(p: FloatArray, g: FloatArray) -> None:
        if not h:
            h.append(np.zeros_like(p))
        h[0] = h[0] + g * g
        p[...] = p - lr * g / (np.sqrt(h[0]) + 1e-7)

    return step


def reference_adam(lr: float, beta1: float, beta2: float) -> Reference:
    state: dict[str, FloatArray] = {}
    count = [0]

    def step(p: FloatArray, g: FloatArray) -> None:
        if not state:
            state["m"] = np.zeros_like(p)
            state["v"] = np.zeros_like(p)
        count[0] += 1
        t = count[0]
        lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        state["m"] = state["m"] + (1.0 - beta1) * (g - state["m"])
        state["v"] = state["v"] + (1.0 - beta2) * (g**2 - state["v"])
        p[...] = p - lr_t * state["m"] / (np.sqrt(state["v"]) + 1e-7)

    return step


PAIRS: list[tuple[Callable[[], Optimizer], Callable[[], Reference]]] = [
    (lambda: SGD(lr=0.05), lambda: reference_sgd(0.05)),
    (lambda: Momentum(lr=0.05, momentum=0.8), lambda: reference_momentum(0.05, 0.8)),
    (lambda: AdaGrad(lr=0.05), lambda: reference_adagrad(0.05)),
    (lambda: Adam(lr=0.05, beta1=0.7, beta2=0.9), lambda: reference_adam(0.05, 0.7, 0.9)),
]

values = st.floats(-10.0, 10.0, width=32)


@given(
    dtype=st.sampled_from([F64, F32]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    which=st.sampled_from(range(len(PAIRS))),
    data=st.data(),
)
def test_optimizers_match_the_book_formulas_and_leave_grads_alone(
    dtype: FloatDType,
    shape: tuple[int, ...],
    which: int,
    data: st.DataObject,
) -> None:
    """Over three random steps each optimizer equals a plain-NumPy transcription of its formula."""
    make, make_ref = PAIRS[which]
    opt, ref = make(), make_ref()
    p = data.draw(hnp.arrays(dtype, shape, elements=values), label="p0")
    p_ref = p.astype(np.float64)
    for i in range(3):
        g = data.draw(hnp.arrays(dtype, shape, elements=values), label=f"g{i}")
        g_before = g.copy()
        opt.update({"p": p}, {"p": g})
        ref(p_ref, g.astype(np.float64))
        np.testing.assert_array_equal(g, g_before)
        assert p.dtype == dtype
    # float32 runs keep their state in float32, so they agree to float32 precision.
    tol = 1e-12 if dtype == F64 else 2e-5
    np.testing.assert_allclose(p, p_ref, rtol=tol, atol=tol * 10.0)

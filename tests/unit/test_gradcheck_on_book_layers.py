"""The gradient checker on subjects bpcore did not write for itself: the book's layers
(tests/book_layers.py) and the bugs a reader injects into them (tests/book_bugs.py).

Every correct layer passes, ties and exact zeros included; every bug of the catalogue
but the tiny scalings fails, by the array or the problem line that names it. Where the
checker is known to be wrong, a strict xfail says how (a finding for src/bpcore/gradcheck).
"""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from bpcore.errors import ArgumentError
from bpcore.gradcheck import Status, assert_gradients, check_gradients, loss, unary
from tests.book_bugs import (
    DOUT_EDITED,
    OVERFLOW,
    TINY_SCALINGS,
    Case,
    Category,
    PoolingRoutesPastMaximum,
    catalogue,
    correct_subjects,
    overlapping_tie_pooling,
)
from tests.book_layers import (
    BookConvolution,
    BookRelu,
    BookSigmoid,
    SoftmaxWithLossByClassCount,
    SoftmaxWithLossFudged,
    SoftmaxWithLossIgnoringDout,
)
from tests.helpers import assert_error

CORRECT = correct_subjects(0)
BUGS = catalogue(0)
BY_NAME = {case.name: case for case in BUGS}

MISSED: dict[str, str] = {}
"""Catalogue bugs the checker is known to miss, with how: none now."""


def _marked(case: Case) -> object:
    """``case`` as a parameter, xfail (strict) where the checker is known to miss it."""
    reason = MISSED.get(case.name)
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []
    return pytest.param(case, id=case.name, marks=marks)


def test_the_catalogue_has_every_kind_of_bug() -> None:
    """At least 40 named bugs, every category the brief lists, and the seven tiny scalings."""
    names = [case.name for case in BUGS]
    assert len(names) == len(set(names)) >= 40
    counts: dict[str, int] = {}
    for case in BUGS:
        counts[case.category] = counts.get(case.category, 0) + 1
    assert set(counts) == set(get_args(Category)) - {"correct"}
    assert counts["tiny scaling"] == len(TINY_SCALINGS) == 7
    assert tuple(10.0**-k for k in range(3, 10)) == TINY_SCALINGS
    for case in BUGS:
        assert case.category == "tiny scaling" or case.wrong or case.problem or case.refused


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CORRECT])
def test_a_correct_book_layer_passes(case: Case, dtype: type[np.floating]) -> None:
    """Each correct layer passes in float64 and float32; at ties and zeros its subgradient is
    reported as non-differentiable, not as a failure."""
    report = assert_gradients(
        case.factory(), case.inputs_as(dtype), kinks=case.kinks, rng=0, dtype=dtype
    )
    assert report.dtype == np.dtype(dtype).name
    assert report.nondifferentiable == case.at_kink, str(report)


@pytest.mark.parametrize(
    "case", [_marked(c) for c in BUGS if c.category != "tiny scaling" and not c.refused]
)
def test_a_catalogue_bug_fails_where_it_is(case: Case) -> None:
    """Each bug fails the check: every wrong gradient is a mismatch, and an in-place edit
    or a warning is the problem line that names it."""
    report = check_gradients(case.factory(), case.inputs, kinks=case.kinks, rng=0)
    assert not report.passed
    statuses = {check.name: check.status for check in report.checks}
    for name in case.wrong:
        assert statuses[name] is Status.MISMATCH, str(report)
    if case.problem:
        assert any(case.problem in problem for problem in report.problems), str(report)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in BUGS if c.refused])
def test_a_wrong_gradient_of_an_unlisted_parameter_is_refused(case: Case) -> None:
    """Naming fewer parameters than the book's rule discovers is refused, naming the one
    left out, before its wrong gradient could pass unchecked."""
    assert_error(
        ArgumentError,
        lambda: check_gradients(case.factory(), case.inputs, rng=0),
        callee="unary",
        expected="every parameter",
        got=f"['{case.refused}'] unchecked",
    )


def test_the_books_relu_is_named_by_its_edit_of_dout() -> None:
    """The book's ReLU computes the right values and fails only for zeroing `dout` itself."""
    case = BY_NAME["BookRelu edits dout"]
    report = check_gradients(unary(lambda _: BookRelu()), case.inputs, rng=0)
    assert report.problems == (DOUT_EDITED,)
    assert all(check.status is Status.PASS for check in report.checks)


def test_the_books_sigmoid_is_named_by_its_overflow() -> None:
    """The book's sigmoid fails for the overflow warning of exp alone: allowed, it passes."""
    case = BY_NAME["BookSigmoid overflows"]
    report = check_gradients(unary(lambda _: BookSigmoid()), case.inputs, rng=0)
    assert len(report.problems) == 1
    assert OVERFLOW in report.problems[0]
    assert all(check.status is Status.PASS for check in report.checks)
    allowed = check_gradients(
        unary(lambda _: BookSigmoid()), case.inputs, rng=0, allow_warnings=True
    )
    assert allowed.passed, str(allowed)


def test_the_books_loss_ignoring_dout_is_right_only_for_dout_one() -> None:
    """Ignoring `dout` is a mismatch of `x` for a random `dout` and none for `dout = 1`."""
    case = BY_NAME["SoftmaxWithLoss ignoring dout"]
    assert case.t is not None
    make = loss(lambda _: SoftmaxWithLossIgnoringDout(), case.t)
    report = check_gradients(make, case.inputs, rng=0, dout=0.5)
    assert report.checks[0].status is Status.MISMATCH
    assert not report.problems
    assert_gradients(make, case.inputs, rng=0, dout=1.0)


def test_the_books_loss_fudge_is_a_small_error_caught() -> None:
    """The `+ 1e-7` inside the log changes the gradient by about 1e-7 relative: a mismatch."""
    case = BY_NAME["SoftmaxWithLoss with the 1e-7 fudge"]
    assert case.t is not None
    report = check_gradients(loss(lambda _: SoftmaxWithLossFudged(), case.t), case.inputs, rng=0)
    assert report.checks[0].status is Status.MISMATCH
    assert 1e-9 < report.checks[0].max_rel_error < 1e-5


def test_the_books_class_count_divides_only_a_1d_input_wrongly() -> None:
    """`t.shape[0]` as the batch size is wrong for a 1-D input only: a batch passes."""
    case = BY_NAME["SoftmaxWithLoss 1-D divided by the class count"]
    assert case.t is not None
    report = check_gradients(
        loss(lambda _: SoftmaxWithLossByClassCount(), case.t), case.inputs, rng=0
    )
    assert report.checks[0].status is Status.MISMATCH
    batch = np.stack([case.inputs["x"], -case.inputs["x"]])
    targets = np.stack([case.t, case.t])
    assert_gradients(loss(lambda _: SoftmaxWithLossByClassCount(), targets), {"x": batch}, rng=0)


def _book_convolution(dtype: np.dtype[np.floating]) -> BookConvolution:
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    return BookConvolution(W.astype(dtype), b.astype(dtype), 1, 1)


X_IMAGES = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(np.float32)


def test_the_books_convolution_turns_float32_into_float64() -> None:
    """The book's im2col/col2im buffers make a float32 convolution compute in float64."""
    layer = _book_convolution(np.dtype(np.float32))
    out = layer.forward(X_IMAGES)
    dx = layer.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == dx.dtype == np.float64


def test_a_float32_layer_computing_in_float64_is_reported() -> None:
    """A float32 check of the book's convolution fails, saying it answered in float64."""
    report = check_gradients(unary(_book_convolution), {"x": X_IMAGES}, rng=0)
    assert not report.passed
    assert "forward returned float64 for float32 inputs" in report.problems
    assert "backward returned float64 for float32 'x'" in report.problems


def test_routing_past_the_maximum_is_caught_without_ties() -> None:
    """The routing that the catalogue's tied point hides fails at a point without ties."""
    x = np.random.default_rng(2).permutation(32).reshape(1, 2, 4, 4) * 0.1
    report = check_gradients(unary(lambda _: PoolingRoutesPastMaximum(2, 2, 2)), {"x": x}, rng=0)
    assert report.checks[0].status is Status.MISMATCH


def test_max_pooling_tied_across_overlapping_windows_passes() -> None:
    """A correct max pooling passes where an element ties in two overlapping windows: the
    first-maximum routing is the slope of a piece that no move of that element alone
    enters, and the checker finds it among the pieces around the point."""
    case = overlapping_tie_pooling(0)
    dout = np.full((1, 1, 3, 3), 0.5)
    dout[0, 0, 0, 0], dout[0, 0, 1, 1] = 1.0, -2.0  # x[1, 1]: one-sided 0 and 1, routed -1
    assert_gradients(case.factory(), case.inputs, dout=dout, rng=0)
    for seed in range(10):
        assert_gradients(case.factory(), case.inputs, rng=seed)


@pytest.mark.parametrize("seed", range(5))
def test_a_gradient_duplicated_to_every_tied_maximum_fails(seed: int) -> None:
    """Routing a window's `dout` to each of its tied maxima fails in the default mode, at
    the probe that moves the tied elements together."""
    (case,) = [c for c in catalogue(seed) if c.name == "Pooling: to every tied maximum"]
    check = check_gradients(case.factory(), case.inputs, rng=seed).checks[0]
    assert check.status is Status.MISMATCH
    assert check.at_kinks_together
    assert check.ratio > 1

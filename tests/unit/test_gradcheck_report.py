"""The checker's reports: the text of ArrayCheck and GradcheckReport."""

from __future__ import annotations

import dataclasses

import pytest

from bpcore.gradcheck import ArrayCheck, GradcheckReport, Status


def _array_check(mode: str, worst: tuple[int, ...], status: Status = Status.PASS) -> ArrayCheck:
    return ArrayCheck(
        name="x",
        role="input",
        status=status,
        mode=mode,
        checked=4,
        max_abs_error=0.0,
        max_rel_error=0.0,
        worst=worst,
        analytic=1.0,
        numerical=1.0,
        step=1e-5,
        tolerance=1e-9,
        dtype="float64",
        kinks=0,
    )


@pytest.mark.parametrize(
    ("mode", "worst", "where"),
    [
        ("directional", (3,), "direction 3"),
        ("full", (2,), "index 2"),
        ("full", (1, 2), "index (1, 2)"),
    ],
)
def test_array_check_names_its_worst_probe(mode: str, worst: tuple[int, ...], where: str) -> None:
    """The report names the worst probe as a direction in directional mode and as an
    element index otherwise (a bare number for 1-D arrays)."""
    lines = _array_check(mode, worst).describe().split("\n")
    assert len(lines) == 3
    assert lines[0] == f"  input 'x' [float64, {mode}, 4 checked]: pass"
    assert lines[1].startswith(f"    worst at {where}: analytic ")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(Status.PASS, "gradients match"), (Status.MISMATCH, "GRADIENT MISMATCH")],
)
def test_gradcheck_report_text(status: Status, verdict: str) -> None:
    """The report's first line names the layer, dtype and verdict; each array follows."""
    check = _array_check("full", (0,), status)
    report = GradcheckReport(subject="Layer", dtype="float64", checks=(check, check))
    lines = str(report).split("\n")
    assert lines[0] == f"Layer (float64): {verdict}"
    assert lines[1:] == check.describe().split("\n") * 2


def test_array_check_gives_the_error_at_its_worst_probe() -> None:
    """The figures line gives |analytic - numerical| at the worst probe and its ratio to the
    tolerance there: 1.0 against 0.75 is an error of 0.25, 250 tolerances of 1e-3."""
    check = dataclasses.replace(
        _array_check("full", (1, 0), Status.MISMATCH),
        max_abs_error=0.25,
        max_rel_error=0.25,
        analytic=1.0,
        numerical=0.75,
        tolerance=1e-3,
    )
    figures = check.describe().split("\n")[2]
    assert figures.startswith("    error / tolerance 250 ")
    assert "|error| 2.500e-01, tolerance 1.000e-03," in figures

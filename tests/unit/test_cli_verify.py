"""``bpcore verify`` runs the generic properties outside pytest and reports a table: on
bpcore's own layers, and on a user's specs, classes and modules (tests/user_layers.py)."""

from __future__ import annotations

import re
import sys

import pytest

from bpcore import registry
from bpcore.cli import _verify_runner as runner
from bpcore.cli import main
from bpcore.errors import ArgumentTypeError
from bpcore.registry import LayerSpec
from bpcore.verify import PROPERTY_NAMES, PropertyResult, run_property
from tests.helpers import assert_error
from tests.user_layers import SWISH, Swish

HYPOTHESIS_MODULES = (
    "bpcore.strategies",
    "bpcore._spec",
    "bpcore._declarations",
    "bpcore.registry",
    "bpcore.properties",
    "bpcore.verify",
)
"""bpcore's modules that import Hypothesis (the ``verify`` extra)."""

ROW = re.compile(r"^\s*\[(\d+)/(\d+)\]  ")


def _rows(out: str) -> list[str]:
    """The table's result rows (not the header, the failures beneath or the summary)."""
    return [line for line in out.splitlines() if ROW.match(line)]


def _columns(line: str) -> list[str]:
    return line.split()


def test_verify_one_layer_prints_a_passing_table(capsys: pytest.CaptureFixture[str]) -> None:
    """verify --layer Relu --examples 3 passes every property that applies, one row each,
    and reports Taylor's as skipped (ReLU is not smooth)."""
    assert main(["verify", "--layer", "Relu", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [_columns(row)[2] for row in rows] == list(PROPERTY_NAMES)
    assert all(_columns(row)[1] == "Relu" for row in rows)
    count = len(PROPERTY_NAMES)
    assert f"{count - 1} passed, 0 failed, 1 skipped in " in out
    taylor = next(row for row in rows if "taylor_remainder_is_second_order" in row)
    assert taylor.endswith("skip (not smooth)")


def test_verify_shows_error_over_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    """The figure column is err/tol: a number at most 1 for a bounded property that
    passes, "exact" for one that allows no error."""
    assert main(["verify", "--layer", "Affine", "--examples", "5"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"checking 1 layer, {len(PROPERTY_NAMES)} properties, 5 examples each"
    )
    assert "err/tol" in out.splitlines()[1]
    assert "worst rel err" not in out
    figures = {_columns(row)[2]: _columns(row)[4] for row in _rows(out)}
    assert 0 < float(figures["backward_matches_finite_differences"]) <= 1
    assert 0 <= float(figures["backward_is_linear_in_dout"]) <= 1
    assert figures["deterministic"] == "exact"
    assert figures["never_mutates_or_aliases_arguments"] == "exact"


def test_verify_quick_runs_ten_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """--quick runs 10 examples per property."""
    assert main(["verify", "--layer", "Sigmoid", "--quick"]) == 0
    examples = {_columns(row)[3] for row in _rows(capsys.readouterr().out)}
    assert examples == {"10"}


def test_verify_columns_stay_aligned_for_long_names(capsys: pytest.CaptureFixture[str]) -> None:
    """Every row's property, examples and status columns start where their titles do,
    whatever the length of the layer names (5 and 21 characters here)."""
    argv = ["verify", "tests.user_layers:SWISH", "--layer", "MultiLayerNet-sigmoid", "--quick"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1]
    rows = _rows("\n".join(lines))
    assert {_columns(row)[1] for row in rows} == {"Swish", "MultiLayerNet-sigmoid"}
    for title in ("property", "status"):
        start = header.index(title)
        assert all(row[start - 1] == " " and row[start] != " " for row in rows), title
    end = header.index("examples") + len("examples")
    assert all(row[end - 1].isdigit() and row[end] == " " for row in rows)


def test_verify_reports_progress_and_the_total_time(capsys: pytest.CaptureFixture[str]) -> None:
    """The first line gives the size of the run, rows are numbered [i/total] in order, a
    line after each layer but the last gives the time left at the pace so far, and the
    summary gives the time taken."""
    assert main(["verify", "--layer", "AddLayer", "--layer", "Tanh", "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"checking 2 layers, {len(PROPERTY_NAMES)} properties each, 2 examples per property; "
        "time left is estimated after the first layer"
    )
    total = 2 * len(PROPERTY_NAMES)
    progress = [match.groups() for row in _rows(out) if (match := ROW.match(row))]
    assert progress == [(str(i), str(total)) for i in range(1, total + 1)]
    assert re.search(r" in \d+\.\d s ", out.splitlines()[-1])
    (between,) = [line for line in out.splitlines() if "layers in" in line]
    assert re.fullmatch(r"\s+\(1 of 2 layers in \d+ s; about \d+ s left\)", between)
    assert out.splitlines().index(between) == out.splitlines().index(_rows(out)[total // 2 - 1]) + 1


def test_verify_prints_each_row_as_it_finishes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run interrupted at its third property has already printed the first two rows."""
    calls: list[str] = []
    real = run_property

    def interrupted(
        spec: LayerSpec,
        prop: str,
        *,
        examples: int | None = None,
        seed: int | None = None,
        derandomize: bool | None = None,
    ) -> PropertyResult:
        calls.append(prop)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(spec, prop, examples=examples, seed=seed, derandomize=derandomize)

    monkeypatch.setattr(runner, "run_property", interrupted)
    assert main(["verify", "--layer", "Relu", "--examples", "2"]) == 130
    assert len(_rows(capsys.readouterr().out)) == 2


def test_verify_checks_a_users_spec(capsys: pytest.CaptureFixture[str]) -> None:
    """package.module:NAME naming a LayerSpec checks that spec alone."""
    assert main(["verify", "tests.user_layers:DENSE", "--quick"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert {_columns(row)[1] for row in rows} == {"Dense"}
    assert len(rows) == len(PROPERTY_NAMES)


def test_verify_checks_every_spec_of_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    """package.module checks each LayerSpec defined at its top level, in order."""
    assert main(["verify", "tests.user_layers", "--quick"]) == 0
    names = [_columns(row)[1] for row in _rows(capsys.readouterr().out)]
    assert list(dict.fromkeys(names)) == ["Swish", "Dense"]
    assert len(names) == 2 * len(PROPERTY_NAMES)


def test_verify_gives_a_layer_class_a_default_spec(capsys: pytest.CaptureFixture[str]) -> None:
    """A layer class constructed without arguments is checked as a smooth unary layer,
    and a note says so."""
    assert main(["verify", "tests.user_layers:Swish", "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("note: tests.user_layers:Swish is a class, checked as a smooth unary")
    rows = _rows(out)
    assert len(rows) == len(PROPERTY_NAMES)
    assert [row.split()[-1] for row in rows if "skip" in row] == ["declared)"]


def test_verify_keeps_going_after_a_layer_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    """A layer whose forward raises fails each property with the exception named, and the
    table still has every row; the exit status is 1."""
    assert main(["verify", "tests.user_layers:Crashes", "--examples", "2"]) == 1
    out = capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == len(PROPERTY_NAMES)
    assert sum(row.endswith("FAIL") for row in rows) == len(PROPERTY_NAMES) - 1
    assert out.count("raised AttributeError: 'Crashes' object has no attribute 'scale'") == (
        len(PROPERTY_NAMES) - 1
    )
    assert f"0 passed, {len(PROPERTY_NAMES) - 1} failed, 1 skipped" in out


def test_verify_names_the_failing_properties_of_a_broken_layer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The summary lists each failing property, and its message is under its row."""
    assert main(["verify", "tests.user_layers:Float64Output", "--quick"]) == 1
    out = capsys.readouterr().out
    assert "FAILED Float64Output gradient_shapes_and_dtypes_match" in out
    assert "float32 input gave float64 output" in out


def test_a_registered_user_spec_is_checked_like_bpcores_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """register() adds a user's spec to the registry, where --layer finds it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # undone after
    assert registry.register(SWISH) is SWISH
    assert registry.registered(["Swish"]) == [SWISH]
    assert main(["verify", "--layer", "Swish", "--quick"]) == 0
    assert {_columns(row)[1] for row in _rows(capsys.readouterr().out)} == {"Swish"}


def test_register_rejects_what_is_not_a_spec() -> None:
    """Only a LayerSpec can be registered."""
    assert_error(
        ArgumentTypeError,
        lambda: registry.register(Swish),  # type: ignore[arg-type]  # the mistake under test
        callee="register",
        expected="a LayerSpec",
        got="type",
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.no_such_module", "expected an importable module, got 'tests.no_such_module'"),
        ("tests.user_layers:NOPE", "expected 'tests.user_layers' to define 'NOPE', got no such"),
        ("tests.user_layers:swish_oracle", "to be a LayerSpec or a layer class, got function"),
        ("tests.user_layers:Dense", "constructed without arguments, for 'tests.user_layers:Dense"),
        ("tests.helpers", "expected module 'tests.helpers' to define LayerSpec objects"),
        (":SWISH", "expected package.module[:NAME], got ':SWISH'"),
    ],
)
def test_verify_explains_a_bad_target(
    target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target that names no spec exits 2 with one line saying what was expected."""
    assert main(["verify", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpcore: error: verify: ")
    assert message in err
    assert "Traceback" not in err


def test_verify_unknown_layer_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --layer exits 2 with a message listing the registered layers."""
    assert main(["verify", "--layer", "Nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpcore: error: registered: expected names of registered layers [")
    assert "got unknown ['Nope']" in err
    assert "Traceback" not in err


def test_verify_rejects_non_positive_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """--examples 0 exits 2 with a clear message."""
    assert main(["verify", "--examples", "0"]) == 2
    assert "--examples >= 1" in capsys.readouterr().err


def test_verify_quick_and_examples_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    """--quick is a number of examples: giving both is a usage error."""
    assert main(["verify", "--quick", "--examples", "5"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_verify_without_hypothesis_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Hypothesis, verify exits 2 and names the extra to install; other commands work."""
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # makes `import hypothesis` fail
    # Every module that needs Hypothesis is imported afresh, as in an install without it.
    for name in [*HYPOTHESIS_MODULES, "bpcore.cli._verify_runner"]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert main(["verify", "--examples", "1"]) == 2
    assert "pip install 'bpcore[verify]'" in capsys.readouterr().err
    assert main(["verify", "--help"]) == 0

"""``bpcore verify`` runs the generic properties outside pytest and reports a table."""

from __future__ import annotations

import sys

import pytest

from bpcore.cli import main
from bpcore.properties import GENERIC_PROPERTIES


def test_verify_one_layer_prints_a_passing_table(capsys: pytest.CaptureFixture[str]) -> None:
    """verify --layer Relu --examples 3 passes every property and prints one row each."""
    assert main(["verify", "--layer", "Relu", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "backward_matches_finite_differences" in out
    count = len(GENERIC_PROPERTIES)
    assert out.count("Relu ") == count
    assert f"{count} passed, 0 failed" in out


def test_verify_unknown_layer_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --layer exits 2 with a message listing the registered layers."""
    assert main(["verify", "--layer", "Nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpcore: error: unknown layer(s) ['Nope']")
    assert "Traceback" not in err


def test_verify_rejects_non_positive_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """--examples 0 exits 2 with a clear message."""
    assert main(["verify", "--examples", "0"]) == 2
    assert "--examples >= 1" in capsys.readouterr().err


def test_verify_without_hypothesis_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Hypothesis, verify exits 2 and names the extra to install; other commands work."""
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # makes `import hypothesis` fail
    monkeypatch.delitem(sys.modules, "bpcore.cli._verify_runner", raising=False)
    assert main(["verify", "--examples", "1"]) == 2
    assert "pip install 'bpcore[verify]'" in capsys.readouterr().err
    assert main(["verify", "--help"]) == 0

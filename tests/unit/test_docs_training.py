"""The training guide's Python example runs as written and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_the_training_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Five epochs of a batch-normalized MultiLayerNetExtend on the digits print a test
    accuracy above 0.8 and a positive test loss, and leave the checkpoint it names."""
    monkeypatch.chdir(tmp_path)
    (block,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    exec(compile(block, str(PAGE), "exec"), {})
    match = re.fullmatch(r"test accuracy (\S+), test loss (\S+)\n", capsys.readouterr().out)
    assert match is not None
    assert float(match[1]) > 0.8
    assert float(match[2]) > 0
    assert (tmp_path / "run.npz").is_file()

"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ```python block of the README executes without error and prints something."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "the README should show at least one Python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert capsys.readouterr().out.strip()


def test_readme_example_prints_the_shapes_it_promises_for_labels_and_one_hot_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The example's batch of 4 samples with 3 features gives a positive loss, dW (3, 3),
    db (3,) and dx (4, 3); its labels may be one-hot rows instead, with the same output."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    labels = "t = np.array([0, 2, 1, 2])"
    block = next(b for b in blocks if labels in b)
    outputs = []
    for variant in (block, block.replace(labels, "t = np.eye(3)[[0, 2, 1, 2]]")):
        exec(compile(variant, str(README), "exec"), {})
        outputs.append(capsys.readouterr().out.strip())
    loss, shapes = outputs[0].split(" ", 1)
    assert float(loss) > 0
    assert shapes == "(3, 3) (3,) (4, 3)"
    assert outputs[1] == outputs[0]

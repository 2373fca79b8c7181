"""docs/check-your-own-layers.md: its quick start fails as the page shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpcore.verify import LayerCheckFailed

PAGE = Path(__file__).resolve().parents[2] / "docs" / "check-your-own-layers.md"


def test_the_quick_start_fails_with_the_report_shown() -> None:
    """The page's first Python block raises LayerCheckFailed, and the report's first line
    and every property section it lists are those of the text block after it."""
    text = PAGE.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", text, re.DOTALL)
    assert code is not None
    assert shown is not None
    with pytest.raises(LayerCheckFailed) as caught:
        exec(compile(code.group(1), str(PAGE), "exec"), {})
    report = str(caught.value)
    first = shown.group(1).splitlines()[0]
    assert first == f"bpcore.verify.LayerCheckFailed: {report.splitlines()[0]}"
    for line in shown.group(1).splitlines()[1:]:
        if line.strip() != "...":
            assert line in report.splitlines()

"""The documentation site covers the whole public API and every page in docs/."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import bpcore

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
NAV = set(re.findall(r":\s*([\w/-]+\.md)\s*$", CONFIG, re.MULTILINE))
"""The pages named in mkdocs.yml's navigation."""

COMMAND_LINE = {"cli"}
"""Public modules documented by their ``--help`` texts, not by a reference page."""


def test_every_public_module_has_a_reference_page_in_the_navigation() -> None:
    """``bpcore`` and each of its public modules is rendered by its own page."""
    public = {m.name for m in pkgutil.iter_modules(bpcore.__path__) if not m.name.startswith("_")}
    for name in ["bpcore", *sorted(public - COMMAND_LINE)]:
        module = name if name == "bpcore" else f"bpcore.{name}"
        page = f"reference/{name}.md"
        assert page in NAV, page
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert re.search(rf"^::: {re.escape(module)}$", text, re.MULTILINE), page


def test_every_page_in_docs_is_in_the_navigation() -> None:
    """No page of docs/ is left out of the site's navigation."""
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages <= NAV, sorted(pages - NAV)
    assert {"index.md", "changelog.md"} <= NAV  # the README and CHANGELOG, added by the hook

"""mkdocs hooks: the README and the changelog are pages of the site, kept in one place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"README.md": "index.md", "CHANGELOG.md": "changelog.md"}
"""Files at the repository's root, and the page each becomes."""


def on_files(files: Files, config: Any) -> Files:
    """Add the root files as generated pages."""
    for source, page in PAGES.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        # The README links to docs/ from the root; on the site the pages are siblings.
        text = re.sub(r"`docs/([\w-]+)\.md`", r"[\1](\1.md)", text)
        files.append(File.generated(config, page, content=text))
    return files

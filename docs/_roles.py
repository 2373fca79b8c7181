"""A griffe extension for the documentation site: the Sphinx roles that bpcore's
docstrings use for ``help()`` readers (``:class:`~bpcore.Affine```, ``:meth:`fit```) become
inline code, ``Affine`` and ``fit``, which the site's Markdown renders; a ``~`` keeps only
the last dotted part, as in Sphinx."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring's roles as it is loaded."""

    # griffe passes the AST node and its agent too; only the object is needed.
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code, obj.docstring.value)

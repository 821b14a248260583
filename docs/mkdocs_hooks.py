"""mkdocs hooks: make the docstrings' reStructuredText roles read well in the API reference.

The docstrings use Sphinx roles (``:func:`pool```,
``:class:`~harmonise.queries.lifecycle.Finding```); rendered as markdown they come out as ``:func:<code>pool</code>``. This hook drops the role
and, for ``~a.b.C``, keeps only the last component, as Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const|type):"
                   r"<code>(~?)([^<]*)</code>")


def _clean(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub(_clean, html)

"""The HTML pages ipdrepo writes: Jinja2 templates with autoescape and one stylesheet.

Every page the tool writes (harmonisation reports, the topic overview, the query dashboard,
the dictionary page, release diffs, analysis reports, and web pages) is rendered from a
template of ``repository/html/templates/`` that extends ``page.html.j2``; the one visual style
is ``repository/html/style.css``, inlined into each page so that a page stays self-contained
(it can be e-mailed or archived). Values are escaped by the template engine (autoescape is on
for every template); only markup the library builds itself (inline SVG, an already rendered
fragment) is passed in as :class:`Markup`.

The templates of every package are here, one folder per package
(``templates/harmonise/trial_report.html.j2`` ...), so they share the frame, the macros
(``macros.html.j2``: ``table``) and the style. Use :func:`render` for a page,
:func:`table` to prepare a :class:`pandas.DataFrame` for the ``table`` macro, and
:func:`fragment` for a piece of HTML (notebook ``_repr_html_``), and :func:`join` to put
pieces together.

A fragment is :class:`Markup`, and ``"<p>text</p>" + fragment`` does not do what it seems:
``str + Markup`` escapes the left side (the ``<p>`` comes out as ``&lt;p&gt;``), and
``str(fragment) + text`` trusts text that was never escaped. Combine pieces with :func:`join`
(text escaped exactly once, Markup kept as it is) or in a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

__all__ = ["STYLESHEET", "TEMPLATES", "Markup", "Table", "environment", "escape", "fragment",
           "join", "render", "stylesheet", "table"]

HERE = Path(__file__).resolve().parent
#: the one stylesheet of every page
STYLESHEET = HERE / "style.css"
#: the templates (page.html.j2, macros.html.j2 and each page's own)
TEMPLATES = HERE / "templates"


@cache
def stylesheet() -> Markup:
    """The stylesheet's text (trusted: a file of the package)."""
    return Markup(STYLESHEET.read_text(encoding="utf-8"))


@cache
def environment() -> Environment:
    """The Jinja2 environment: autoescape on for every template, undefined names an error."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals["stylesheet"] = stylesheet
    env.filters["cell"] = cell
    return env


def render(template: str, /, *, title: str, generated: bool = True, **context: Any) -> str:
    """The page ``template`` (a name under ``templates/``) with ``title`` and ``context``."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC") if generated else None
    return environment().get_template(template).render(title=title, generated=stamp, **context)


def fragment(template: str, /, **context: Any) -> Markup:
    """A piece of a page rendered from ``template`` (no frame)."""
    return Markup(environment().get_template(template).render(**context))


def join(*parts: str | Markup) -> Markup:
    """The parts one after another as Markup: a :class:`Markup` part (a fragment, a
    ``Markup(...).format(...)``) as it is, any other text escaped, exactly once."""
    return Markup("").join(parts)


def cell(value: Any) -> str:
    """A value as table text: missing values (None, NaN, NA) as nothing."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if not isinstance(value, (list, tuple, dict)) and pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return value if isinstance(value, Markup) else str(value)


def _cells(column: Any) -> list[str]:
    """:func:`cell` of every value of ``column`` (a Series), in order: the missing values are
    found by one ``isna`` of the column's array (the test that :func:`cell` makes of each
    value)."""
    import pandas as pd

    missing = pd.isna(column.array).tolist()
    return ["" if gone else v if isinstance(v, Markup) else str(v)
            for v, gone in zip(column, missing, strict=True)]


@dataclass(frozen=True)
class Row:
    cells: tuple[Any, ...]
    cls: str = ""


@dataclass(frozen=True)
class Table:
    """A frame prepared for the ``table`` macro."""

    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    more: int = 0


def table(frame: Any, *, status_column: str | None = None, limit: int | None = None,
          classes: Mapping[str, str] | None = None) -> Table:
    """``frame`` (its first ``limit`` rows) for the ``table`` macro, each row classed by its
    ``status_column`` value (mapped through ``classes``)."""
    shown = frame if limit is None else frame.head(limit)
    # column by column: what cell() makes of each value, with each column's missing values
    # found in one call rather than one pandas call per cell
    columns = [_cells(column) for _, column in shown.items()]
    statuses = (shown[status_column].tolist() if status_column is not None
                else [None] * len(shown))
    rows = []
    for cells, status in zip(zip(*columns) if columns else [()] * len(shown), statuses,
                             strict=True):
        cls = ""
        if status_column is not None:
            text = str(status).replace(" ", "-")
            cls = (classes or {}).get(text, text)
        rows.append(Row(cells=cells, cls=cls))
    more = len(frame) - limit if limit is not None and len(frame) > limit else 0
    return Table(columns=tuple(str(c) for c in shown.columns), rows=tuple(rows), more=more)

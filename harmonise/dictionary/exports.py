"""Exports of a dictionary: Frictionless Table Schema, a spreadsheet for trialists, an HTML page.

* :func:`to_frictionless` - a Table Schema (Data Package v2): one field per variable with
  ``type``/``format``, ``constraints`` (``required``, ``minimum``/``maximum``, ``enum``),
  ``categories`` (``{value, label}``; ``categoriesOrdered``), field-level ``missingValues`` for
  categories flagged missing, ``primaryKey`` [trial, participant_id].
* :func:`write_xlsx` - sheets Variables, Categories, Outcomes, Rules and Changelog: bold frozen
  header, auto-filter, readable column widths; deterministic bytes for the same dictionary.
* :func:`to_html` - one self-contained page (inline CSS, no scripts).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

from harmonise.dictionary.spec import Dictionary, Variable

__all__ = ["to_frictionless", "write_xlsx", "to_html", "FRICTIONLESS_PROFILE", "EXPORT_FORMATS"]

FRICTIONLESS_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
EXPORT_FORMATS = ("frictionless", "xlsx", "html")

_FL_TYPES = {"integer": "integer", "decimal": "number", "boolean": "boolean", "date": "date",
             "datetime": "datetime", "text": "string", "id": "string"}


def _field(v: Variable) -> dict[str, Any]:
    field: dict[str, Any] = {"name": v.name}
    if v.label:
        field["title"] = v.label
    if v.description:
        field["description"] = v.description
    if v.type == "categorical":
        field["type"] = "integer" if v.codes_are_integers else "string"
    else:
        field["type"] = _FL_TYPES[v.type]
    if v.type in ("date", "datetime"):
        field["format"] = "default"
    if v.unit:
        field["unit"] = v.unit  # not a standard property; ignored by readers that do not know it
    constraints = _constraints(v)
    if v.categories:
        field.update(_categories(v))
    if v.type == "boolean":
        field["trueValues"] = ["true", "True", "TRUE", "1"]
        field["falseValues"] = ["false", "False", "FALSE", "0"]
    if constraints:
        field["constraints"] = constraints
    return field


def _constraints(v: Variable) -> dict[str, Any]:
    """A field's ``constraints``: required, minimum and maximum, the categories' codes."""
    constraints: dict[str, Any] = {}
    if v.required or v.role in ("id", "trial"):
        constraints["required"] = True
    if v.range is not None:
        if v.range.min is not None:
            constraints["minimum"] = v.range.min
        if v.range.max is not None:
            constraints["maximum"] = v.range.max
    if v.categories:
        # codes flagged missing are labelled missing values (read as null), not enum values
        constraints["enum"] = [c.code for c in v.categories if not c.missing]
    return constraints


def _categories(v: Variable) -> dict[str, Any]:
    """A categorical field's ``categories`` (ordered or not) and labelled missing values."""
    field: dict[str, Any] = {
        "categories": [{"value": c.code, "label": c.label} for c in v.categories]}
    if v.ordered:
        field["categoriesOrdered"] = True
    missing = [c for c in v.categories if c.missing]
    if missing:
        field["missingValues"] = [{"value": "", "label": "blank"}] + [
            {"value": str(c.code), "label": c.label} for c in missing]
    return field


def to_frictionless(dictionary: Dictionary) -> dict[str, Any]:
    """The dictionary as a Frictionless Table Schema (a JSON-ready dict)."""
    schema: dict[str, Any] = {
        "$schema": FRICTIONLESS_PROFILE,
        "name": dictionary.topic,
        "title": dictionary.title,
        "version": dictionary.version,
    }
    if dictionary.description:
        schema["description"] = dictionary.description
    schema["fields"] = [_field(v) for v in dictionary.variables]
    schema["fieldsMatch"] = "equal"
    schema["missingValues"] = [""]
    schema["primaryKey"] = ["trial", "participant_id"]
    return schema


# --- spreadsheet ------------------------------------------------------------------------------

def _sheets(d: Dictionary) -> dict[str, tuple[list[str], list[list[Any]], list[int]]]:
    variables = [[v.name, v.label or "", v.type, v.role or "", v.group or "", v.unit or "",
                  "yes" if v.required else "", v.range.min if v.range and v.range.min is not None
                  else "", v.range.max if v.range and v.range.max is not None else "",
                  "; ".join(f"{c.code}={c.label}" for c in v.categories), v.description or ""]
                 for v in d.variables]
    categories = [[v.name, c.code, c.label, "yes" if c.missing else "", c.description or ""]
                  for v in d.variables for c in v.categories]
    outcomes = [[o.name, o.label or "", o.kind, o.time or "", o.event or "", o.origin or "",
                 o.event_date or "", o.censor_date or "", o.variable or "", o.baseline or "",
                 o.description or ""] for o in d.outcomes]
    rules = [[r.id, r.label or "", r.when.text if r.when else "", r.expression.text, r.severity,
              r.description or ""] for r in d.rules]
    changelog = [[c.version, c.date.isoformat(), "\n".join(c.changes)] for c in d.changelog]
    return {
        "Variables": (["name", "label", "type", "role", "group", "unit", "required", "min", "max",
                       "categories", "description"], variables,
                      [20, 40, 12, 11, 12, 9, 9, 8, 8, 50, 60]),
        "Categories": (["variable", "code", "label", "missing", "description"], categories,
                       [20, 10, 36, 9, 50]),
        "Outcomes": (["name", "label", "kind", "time", "event", "origin", "event_date",
                      "censor_date", "variable", "baseline", "description"], outcomes,
                     [14, 30, 14, 16, 12, 12, 16, 16, 16, 14, 50]),
        "Rules": (["id", "label", "when", "assert", "severity", "description"], rules,
                  [34, 50, 30, 50, 9, 50]),
        "Changelog": (["version", "date", "changes"], changelog, [10, 12, 90]),
    }


def write_xlsx(dictionary: Dictionary, path: Path | str) -> Path:
    """Write the data-dictionary spreadsheet for trialists to ``path`` (same dictionary, same
    bytes)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="305496")
    wrap = Alignment(wrap_text=True, vertical="top")
    for title, (header, rows, widths) in _sheets(dictionary).items():
        ws = book.create_sheet(title)
        ws.append(header)
        for row in rows:
            ws.append(row)
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        for cell in ws[1]:
            cell.font = header_font
            cell.fill = header_fill
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = wrap
        ws.freeze_panes = "A2"
        if rows:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(rows) + 1}"
    when = dt.datetime.combine(dictionary.changelog[0].date if dictionary.changelog
                               else dt.date(2000, 1, 1), dt.time())
    book.properties.creator = "ipdrepo"
    book.properties.title = f"{dictionary.title} - data dictionary {dictionary.version}"
    book.properties.created = when
    book.properties.modified = when
    buffer = io.BytesIO()
    book.save(buffer)
    path = Path(path)
    path.write_bytes(_fixed_zip(buffer.getvalue(), when))
    return path


def _fixed_zip(data: bytes, when: dt.datetime) -> bytes:
    """Rewrite a zip with fixed member timestamps (and the modified date openpyxl stamps with
    'now'), so the same workbook gives the same bytes."""
    stamp = (when.year, when.month, when.day, 0, 0, 0)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                import re

                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                                 lambda m: m.group(1) + iso.encode() + m.group(2), content)
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, content)
    return out.getvalue()


# --- HTML ---------------------------------------------------------------------------------------

def to_html(dictionary: Dictionary) -> str:
    """A self-contained HTML page describing the dictionary
    (``repository/html/templates/harmonise/dictionary.html.j2``)."""
    from repository.html import render

    d = dictionary
    refs = [[(k, getattr(o, k)) for k in o._REFS if getattr(o, k) is not None]
            for o in d.outcomes]
    return render("harmonise/dictionary.html.j2",
                  title=f"{d.title} - data dictionary {d.version}", generated=False, d=d,
                  outcome_refs=refs)

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
import html
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
    constraints: dict[str, Any] = {}
    if v.required or v.role in ("id", "trial"):
        constraints["required"] = True
    if v.range is not None:
        if v.range.min is not None:
            constraints["minimum"] = v.range.min
        if v.range.max is not None:
            constraints["maximum"] = v.range.max
    if v.categories:
        field["categories"] = [{"value": c.code, "label": c.label} for c in v.categories]
        if v.ordered:
            field["categoriesOrdered"] = True
        missing = [c for c in v.categories if c.missing]
        # codes flagged missing are labelled missing values (read as null), not enum values
        constraints["enum"] = [c.code for c in v.categories if not c.missing]
        if missing:
            field["missingValues"] = [{"value": "", "label": "blank"}] + [
                {"value": str(c.code), "label": c.label} for c in missing]
    if v.type == "boolean":
        field["trueValues"] = ["true", "True", "TRUE", "1"]
        field["falseValues"] = ["false", "False", "FALSE", "0"]
    if constraints:
        field["constraints"] = constraints
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

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;
max-width:1200px}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#305496;color:#fff;position:sticky;top:0}
tr:nth-child(even) td{background:#f6f8fb}
code{background:#f0f0f0;padding:0 .2rem}.muted{color:#666}.miss{color:#a33}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def to_html(dictionary: Dictionary) -> str:
    """A self-contained HTML page describing the dictionary."""
    d = dictionary
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{_e(d.title)} - data dictionary {_e(d.version)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{_e(d.title)}</h1>",
             f"<p class='muted'>Topic <code>{_e(d.topic)}</code>, dictionary version "
             f"<b>{_e(d.version)}</b>; {len(d.variables)} variables, {len(d.outcomes)} outcomes, "
             f"{len(d.rules)} cross-variable rules.</p>"]
    if d.description:
        parts.append(f"<p>{_e(d.description)}</p>")
    parts.append("<h2 id='variables'>Variables</h2><table><thead><tr><th>name</th><th>label</th>"
                 "<th>type</th><th>role</th><th>unit</th><th>required</th><th>allowed values</th>"
                 "<th>description</th></tr></thead><tbody>")
    for v in d.variables:
        if v.categories:
            allowed = "<br>".join(
                f"<code>{_e(c.code)}</code> {_e(c.label)}" +
                (" <span class='miss'>(missing)</span>" if c.missing else "")
                for c in v.categories)
        elif v.range is not None:
            allowed = _e(v.range.describe(v.unit))
        else:
            allowed = ""
        parts.append(f"<tr id='var-{_e(v.name)}'><td><code>{_e(v.name)}</code></td>"
                     f"<td>{_e(v.label)}</td><td>{_e(v.type)}</td><td>{_e(v.role)}</td>"
                     f"<td>{_e(v.unit)}</td><td>{'yes' if v.required else ''}</td>"
                     f"<td>{allowed}</td><td>{_e(v.description)}</td></tr>")
    parts.append("</tbody></table>")
    if d.outcomes:
        parts.append("<h2 id='outcomes'>Outcomes</h2><table><thead><tr><th>name</th>"
                     "<th>label</th><th>kind</th><th>variables</th></tr></thead><tbody>")
        for o in d.outcomes:
            refs = ", ".join(f"{k}: <code>{_e(getattr(o, k))}</code>" for k in o._REFS
                             if getattr(o, k) is not None)
            parts.append(f"<tr><td><code>{_e(o.name)}</code></td><td>{_e(o.label)}</td>"
                         f"<td>{_e(o.kind)}</td><td>{refs}</td></tr>")
        parts.append("</tbody></table>")
    if d.rules:
        parts.append("<h2 id='rules'>Cross-variable rules</h2><p class='muted'>Checked row by "
                     "row; a row where an input is missing is not tested.</p><table><thead><tr>"
                     "<th>id</th><th>label</th><th>rule</th><th>severity</th></tr></thead><tbody>")
        for r in d.rules:
            cond = (f"when <code>{_e(r.when.text)}</code>: " if r.when else "") + \
                f"<code>{_e(r.expression.text)}</code>"
            parts.append(f"<tr><td><code>{_e(r.id)}</code></td><td>{_e(r.label)}</td>"
                         f"<td>{cond}</td><td>{_e(r.severity)}</td></tr>")
        parts.append("</tbody></table>")
    if d.changelog:
        parts.append("<h2 id='changelog'>Changelog</h2><table><thead><tr><th>version</th>"
                     "<th>date</th><th>changes</th></tr></thead><tbody>")
        for c in d.changelog:
            items = "".join(f"<li>{_e(x)}</li>" for x in c.changes)
            parts.append(f"<tr><td>{_e(c.version)}</td><td>{c.date.isoformat()}</td>"
                         f"<td><ul>{items}</ul></td></tr>")
        parts.append("</tbody></table>")
    parts.append("<p class='muted'>Generated by ipdrepo.</p></body></html>")
    return "\n".join(parts)

"""Writing the query workbook's bytes (pure): the Queries sheet, one sheet per question about
several participants, the Instructions, and the very hidden ``_ipdrepo`` sheet.

Every sheet prints landscape, fitted to the page width, with its header row repeated on each
page. The same rows and meta give the same bytes (zip entries are dated with the export's time).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harmonise.queries.i18n import NOT_EDIT, RESPONSE_WORDS, STEPS, language, words
from harmonise.queries.workbook_checks import ANSWER, PROTECTED, RESPONSES
from harmonise.queries.workbook_lists import LIST_ANSWER, LIST_KEYS

__all__ = ["META", "FORMAT", "FORMAT_VERSION", "Column", "COLUMNS", "LIST_COLUMNS",
           "WorkbookMeta", "ListSheet", "render_workbook", "cell_safe", "headers", "letters",
           "sheet_name", "instructions_name"]

META = "_ipdrepo"
FORMAT = "ipdrepo query workbook"
FORMAT_VERSION = "2"


@dataclass(frozen=True)
class Column:
    key: str
    width: int
    answer: bool = False  # unlocked, for the trial to fill in

    @property
    def header(self) -> str:
        """The English header (:func:`headers` for another language)."""
        return words("en")[f"h_{self.key}"]


COLUMNS: tuple[Column, ...] = (
    Column("query", 9),
    Column("participant", 16),
    Column("columns", 16),
    Column("delivered", 22),
    Column("question", 50),
    Column("history", 28),
    Column("expected", 28),
    Column("due", 12),
    Column("response", 21, answer=True),
    Column("corrected", 20, answer=True),
    Column("comment", 36, answer=True),
)
assert tuple(c.key for c in COLUMNS) == PROTECTED + ANSWER
LIST_COLUMNS: tuple[Column, ...] = (
    Column("participant", 16),
    Column("columns", 18),
    Column("delivered", 26),
    Column("corrected", 24, answer=True),
    Column("comment", 40, answer=True),
)
assert tuple(c.key for c in LIST_COLUMNS) == LIST_KEYS
assert all(c.answer == (c.key in LIST_ANSWER) for c in LIST_COLUMNS)


def letters(columns: Sequence[Column] = COLUMNS) -> dict[str, str]:
    return {c.key: chr(ord("A") + i) for i, c in enumerate(columns)}


def headers(lang: str | None, columns: Sequence[Column] = COLUMNS) -> dict[str, str]:
    w = words(lang)
    return {c.key: w[f"h_{c.key}"] for c in columns}


def sheet_name(lang: str | None) -> str:
    return words(lang)["sheet"]


def instructions_name(lang: str | None) -> str:
    return words(lang)["instructions"]


@dataclass(frozen=True)
class WorkbookMeta:
    """What the hidden sheet records (never pseudonyms, never the secret)."""

    token: str
    topic: str
    trial: str
    export_id: int
    created_at: dt.datetime  # UTC
    created_by: str
    id_column: str | None
    query_ids: tuple[int, ...]
    contact: str | None = None
    language: str = "en"
    due_on: dt.date | None = None

    def items(self) -> list[tuple[str, str]]:
        return [("format", FORMAT), ("format_version", FORMAT_VERSION), ("token", self.token),
                ("topic", self.topic), ("trial", self.trial), ("export_id", str(self.export_id)),
                ("created_at", self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
                ("created_by", self.created_by), ("id_column", self.id_column or ""),
                ("queries", ",".join(map(str, self.query_ids))),
                ("language", self.language),
                ("due_on", self.due_on.isoformat() if self.due_on else "")]


@dataclass(frozen=True)
class ListSheet:
    """The participants of one question, on a sheet of their own."""

    name: str
    query: int
    rows: tuple[Mapping[str, str | None], ...] = field(default=())


_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_CELL = 32000  # Excel holds at most 32,767 characters in a cell


def cell_safe(text: str | None) -> str | None:
    """Text as it can be written to a cell (control characters replaced, length capped)."""
    if text is None:
        return None
    text = _ILLEGAL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > _MAX_CELL:
        text = text[:_MAX_CELL - 3] + "..."
    return text or None


def _write(cell: Any, value: Any) -> None:
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, never a formula


def _row_height(texts: Sequence[tuple[str | None, int]]) -> float:
    lines = 1
    for text, width in texts:
        if text:
            per_line = max(1, int(width * 1.1))
            lines = max(lines, sum(max(1, math.ceil(len(part) / per_line))
                                   for part in text.split("\n")))
    return 15.0 * min(lines, 30)


def _print_setup(ws: Any, *, landscape: bool = True) -> None:
    """Landscape (or portrait), fitted to the page width, header row on every page."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = True
    ws.print_title_rows = "1:1"


def _table(ws: Any, columns: Sequence[Column], head: Mapping[str, str],
           rows: Sequence[Mapping[str, str | None]]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    lets = letters(columns)
    for i, col in enumerate(columns, start=1):
        cell = ws.cell(1, i)
        _write(cell, head[col.key])
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFD966" if col.answer else "BFBFBF")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[lets[col.key]].width = col.width
    ws.row_dimensions[1].height = 30
    for r, row in enumerate(rows, start=2):
        for i, col in enumerate(columns, start=1):
            cell = ws.cell(r, i)
            if col.answer:
                cell.style = "ipdrepo answer"
            else:
                value = row.get(col.key)
                _write(cell, int(value) if col.key == "query" and value else value)
                cell.style = "ipdrepo sent"
        ws.row_dimensions[r].height = _row_height(
            [(row.get(c.key), c.width) for c in columns if not c.answer])
    last_key = columns[-1].key
    ws.auto_filter.ref = f"A1:{lets[last_key]}{len(rows) + 1}"
    protection = ws.protection
    protection.sheet = True
    protection.formatColumns = False  # widening columns and rows is fine
    protection.formatRows = False
    protection.autoFilter = False
    _print_setup(ws)


def render_workbook(rows: Sequence[Mapping[str, str | None]], meta: WorkbookMeta,
                    lists: Sequence[ListSheet] = ()) -> bytes:
    """The workbook's bytes: ``rows`` are the Queries sheet's protected cells by column key
    (``query`` the id), ``lists`` the participant sheets. Deterministic."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, NamedStyle, PatternFill, Protection
    from openpyxl.workbook.protection import WorkbookProtection
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.writer.excel import ExcelWriter

    lang = language(meta.language)
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_name(lang)
    top = Alignment(wrap_text=True, vertical="top")
    wb.add_named_style(NamedStyle("ipdrepo sent", fill=PatternFill("solid", fgColor="E7E6E6"),
                                  alignment=top))
    wb.add_named_style(NamedStyle("ipdrepo answer", fill=PatternFill("solid", fgColor="FFF2CC"),
                                  alignment=top, protection=Protection(locked=False),
                                  number_format="@"))  # typed text stays text (no 3/4 -> 3 Apr)
    _table(ws, COLUMNS, headers(lang), rows)
    ws.freeze_panes = "C2"
    lets = letters()
    last = len(rows) + 1
    for sheet in lists:
        listed = wb.create_sheet(sheet.name)
        _table(listed, LIST_COLUMNS, headers(lang, LIST_COLUMNS), sheet.rows)
        listed.freeze_panes = "B2"
    _instructions(wb, meta, len(rows))
    choices = DataValidation(
        type="list", formula1="ResponseCodes", allow_blank=True, showErrorMessage=True,
        showInputMessage=True, errorTitle="Response", promptTitle="Response",
        error="Choose one of the responses in the list (see the Instructions sheet).",
        prompt="Choose a response; the Instructions sheet says what each one means.")
    ws.add_data_validation(choices)
    if rows:
        choices.add(f"{lets['response']}2:{lets['response']}{last}")
    hidden = wb.create_sheet(META)
    for r, (key, value) in enumerate(meta.items(), start=1):
        _write(hidden.cell(r, 1), key)
        _write(hidden.cell(r, 2), value)
    hidden.sheet_state = "veryHidden"
    hidden.protection.sheet = True
    wb.active = 0
    wb.security = WorkbookProtection(lockStructure=True)
    naive = meta.created_at.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.creator = "ipdrepo"
    wb.properties.lastModifiedBy = "ipdrepo"
    wb.properties.title = words(lang)["title"].format(trial=meta.trial)
    wb.properties.created = naive
    wb.properties.modified = naive
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_times(buffer.getvalue(), naive)


def _fixed_times(data: bytes, when: dt.datetime) -> bytes:
    """The same zip with every entry dated ``when`` (zip stores local times to 2 s)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute,
             when.second - when.second % 2)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def format_date(day: dt.date, lang: str) -> str:
    months = {"fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                     "septembre", "octobre", "novembre", "décembre")}
    if lang in months:
        return f"{day.day} {months[lang][day.month - 1]} {day.year}"
    return day.strftime("%d %B %Y")


def _instructions(wb: Any, meta: WorkbookMeta, n_rows: int) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.workbook.defined_name import DefinedName

    lang = language(meta.language)
    w = words(lang)
    ws = wb.create_sheet(instructions_name(lang))
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 22
    wrap = Alignment(wrap_text=True, vertical="top")
    when = format_date(meta.created_at.date(), lang)
    due = format_date(meta.due_on, lang) if meta.due_on else "-"
    id_note = (f" ({meta.id_column})" if meta.id_column else "")
    lines: list[tuple[str, str | None]] = [
        (w["title"].format(trial=meta.trial), "title"),
        (w["intro"].format(n=n_rows, topic=meta.topic, when=when, by=meta.created_by, due=due),
         None),
        ("", None),
        (w["how"], "heading"),
        *[(step.format(sheet=sheet_name(lang), id_note=id_note), None) for step in STEPS[lang]],
        ("", None),
        (w["responses"], "heading"),
    ]
    r = _paragraphs(ws, lines, 1, wrap)
    head = PatternFill("solid", fgColor="BFBFBF")
    titles = (headers(lang)["response"].split(" (")[0], w["h_meaning"], headers(lang)["corrected"])
    for c, title in enumerate(titles, start=1):
        cell = ws.cell(r, c)
        _write(cell, title)
        cell.font = Font(bold=True)
        cell.fill = head
    r += 1
    first = r
    needs = {"required": {"en": "required", "fr": "obligatoire"},
             "if found": {"en": "if found", "fr": "si retrouvée"},
             "leave empty": {"en": "leave empty", "fr": "laisser vide"},
             "optional": {"en": "optional", "fr": "facultative"}}
    for response in RESPONSES:
        label, meaning = RESPONSE_WORDS[lang][response.code]
        for c, value in enumerate((label, meaning, needs[response.corrected_value][lang]),
                                  start=1):
            cell = ws.cell(r, c)
            _write(cell, value)
            cell.alignment = wrap
        ws.row_dimensions[r].height = _row_height([(meaning, 70)])
        r += 1
    wb.defined_names["ResponseCodes"] = DefinedName(
        "ResponseCodes", attr_text=f"'{instructions_name(lang)}'!$A${first}:$A${r - 1}")
    _paragraphs(ws, [(w["not_edit"], "heading"), *[(t, None) for t in NOT_EDIT[lang]]], r + 1,
                wrap)
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    _print_setup(ws, landscape=False)
    ws.print_title_rows = None


def _paragraphs(ws: Any, lines: Sequence[tuple[str, str | None]], start: int,
                wrap: Any) -> int:
    from openpyxl.styles import Font

    r = start
    for text, style in lines:
        cell = ws.cell(r, 1)
        _write(cell, text or None)
        if style == "title":
            cell.font = Font(bold=True, size=14)
        elif style == "heading":
            cell.font = Font(bold=True, size=12)
        else:
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=3)
            cell.alignment = wrap
            ws.row_dimensions[r].height = _row_height([(text, 112)])
        r += 1
    return r

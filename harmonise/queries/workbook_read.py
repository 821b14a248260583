"""Reading an answered query workbook back: the hidden sheet, the questions sheet and the
participant sheets, with every header problem. Files that cannot be one of ours (CSV, another
format, no or damaged hidden sheet, no questions sheet) are refused at once."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harmonise.queries.workbook_checks import SheetRow, WorkbookProblem, cell_value_text
from harmonise.queries.workbook_render import (
    COLUMNS,
    FORMAT,
    LIST_COLUMNS,
    META,
    Column,
    headers,
    letters,
    sheet_name,
)
from harmonise.values.reasons import Reason
from repository.errors import NotFound, WorkbookError
from repository.formats import sniff_format
from repository.reasons import Reason as RepositoryReason

__all__ = ["WorkbookFile", "read_workbook", "refuse"]

_LIST = re.compile(r"^Q\d+$")


@dataclass(frozen=True)
class WorkbookFile:
    """What :func:`read_workbook` found: the hidden metadata, the rows of the questions sheet,
    the rows of each participant sheet, and header problems."""

    path: str
    sha256: str
    meta: Mapping[str, str]
    rows: tuple[SheetRow, ...]
    header_problems: tuple[WorkbookProblem, ...] = ()
    lists: Mapping[str, tuple[SheetRow, ...]] = field(default_factory=dict)
    sheets: tuple[str, ...] = ()

    @property
    def language(self) -> str:
        return self.meta.get("language") or "en"

    @property
    def sheet(self) -> str:
        return sheet_name(self.language)


def refuse(path: Path, message: str, **context: Any) -> WorkbookError:
    problem = WorkbookProblem(message)
    return WorkbookError(f"{path.name}: {message} Nothing was imported.", file=str(path),
                         problems=[problem], **context)


_NOT_XLSX = {
    "csv": "is text (CSV), not the Excel workbook we sent. Saving as CSV drops the hidden "
           "sheet, the protection and all but one sheet, so the answers cannot be checked. "
           "Open the .xlsx workbook we sent, answer there, and save it as Excel Workbook "
           "(.xlsx).",
    "xls": "is an old Excel 97-2003 workbook (.xls). Open the .xlsx workbook we sent, answer "
           "there, and save it as Excel Workbook (.xlsx).",
    "zip": "is a zip archive but not an Excel workbook (an OpenDocument .ods file?). Save it "
           "as Excel Workbook (.xlsx) from the workbook we sent.",
}


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _sheet(ws: Any, columns: Sequence[Column], head: Mapping[str, str],
           name: str) -> tuple[list[SheetRow], list[WorkbookProblem]]:
    """A sheet's non-empty rows by column key, and the problems of its header."""
    grid = list(ws.iter_rows(values_only=True))
    header = list(grid[0]) if grid else []
    width = len(columns)
    lets = letters(columns)
    problems = []
    for i, col in enumerate(columns):
        got = cell_value_text(header[i]) if i < len(header) else None
        if got != head[col.key]:
            problems.append(WorkbookProblem(
                f"the header should be {head[col.key]!r} but is {got or '(empty)'!r}: columns "
                "were renamed, added, deleted or moved. Put the columns back as sent.",
                sheet=name, row=1, column=head[col.key], cell=f"{lets[col.key]}1"))
    for i in range(width, len(header)):
        if cell_value_text(header[i]) is not None:
            letter = _letter(i)
            problems.append(WorkbookProblem(
                f"a column {cell_value_text(header[i])!r} was added; remove it and put what it "
                "holds in Comment.", sheet=name, row=1, column=letter, cell=f"{letter}1"))
    rows = []
    for r, values in enumerate(grid[1:], start=2):
        cells = {c.key: (values[i] if i < len(values) else None)
                 for i, c in enumerate(columns)}
        extra = {_letter(i): v for i, v in enumerate(values[width:], start=width)
                 if cell_value_text(v) is not None}
        if all(cell_value_text(v) is None for v in cells.values()) and not extra:
            continue
        rows.append(SheetRow(row=r, cells=cells, extra=extra))
    return rows, problems


def read_workbook(path: str | os.PathLike[str]) -> WorkbookFile:
    """Read an answered workbook (see the module docstring)."""
    import openpyxl

    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path} does not exist or is not a file.", file=str(path))
    data = path.read_bytes()
    if not data:
        raise refuse(path, "the file is empty (0 bytes).", reason=RepositoryReason.EMPTY)
    kind = sniff_format(data[:8192], data[-8:])
    if kind != "xlsx":
        message = _NOT_XLSX.get(kind, f"is not an Excel workbook ({kind}); send back the .xlsx "
                                      "workbook we sent, answered.")
        raise refuse(path, message, reason=Reason.NOT_XLSX, detected=kind)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:
        raise refuse(path, f"cannot be opened as an Excel workbook ({type(exc).__name__}: "
                     f"{exc}); it may be damaged. Send back the workbook we sent, answered.",
                     reason=RepositoryReason.DAMAGED) from exc
    if META not in book.sheetnames:
        raise refuse(path, f"has no hidden {META} sheet, so it is not a workbook written by "
                     "`ipdrepo queries export` (or the answers were copied into a new file). "
                     "Answer in the workbook we sent.", reason=Reason.NO_METADATA)
    meta = {}
    for key, value, *_ in book[META].iter_rows(min_col=1, max_col=2, values_only=True):
        if key is not None:
            meta[str(key)] = "" if value is None else str(value)
    missing = [k for k in ("format", "token", "trial", "export_id") if not meta.get(k)]
    if meta.get("format") != FORMAT or missing or not meta["export_id"].isdigit():
        raise refuse(path, f"its hidden {META} sheet is damaged ("
                     f"{'missing ' + ', '.join(missing) if missing else 'unexpected content'}"
                     "). Answer in the workbook we sent, or ask for a new one.",
                     reason=Reason.DAMAGED_METADATA)
    lang = meta.get("language") or "en"
    name = sheet_name(lang)
    if name not in book.sheetnames:
        raise refuse(path, f"has no {name} sheet (sheets: {', '.join(book.sheetnames)}); do "
                     "not rename or delete it.", reason=Reason.NO_SHEET)
    rows, problems = _sheet(book[name], COLUMNS, headers(lang), name)
    lists: dict[str, tuple[SheetRow, ...]] = {}
    for other in book.sheetnames:
        if _LIST.match(other):
            listed, more = _sheet(book[other], LIST_COLUMNS, headers(lang, LIST_COLUMNS), other)
            lists[other] = tuple(listed)
            problems += more
    return WorkbookFile(path=str(path), sha256=hashlib.sha256(data).hexdigest(), meta=meta,
                        rows=tuple(rows), header_problems=tuple(problems), lists=lists,
                        sheets=tuple(book.sheetnames))

"""Reading Excel workbooks (``.xlsx``) for :mod:`repository.formats`, within the limits.

A workbook is a zip archive of XML parts. Before anything in it is decompressed, its central
directory is read from the end record (at most :data:`~repository.limits.MAX_XLSX_MEMBERS`
parts), then the declared uncompressed size of the whole workbook
(:data:`~repository.limits.MAX_XLSX_UNCOMPRESSED_BYTES`; the zip reader enforces declared sizes
while decompressing) and each part's compression ratio
(:data:`~repository.limits.MAX_XLSX_COMPRESSION_RATIO`, as Apache POI does against zip bombs).
Sheets are read row by row in read-only mode with their declared dimensions ignored (a stray cell
at ``XFD1048576`` costs nothing), counting at most :data:`~repository.limits.MAX_XLSX_CELLS`
cells over every sheet read. The data sheet becomes the delivery's table; with ``_all_sheets``
the others are read too, for the identifier gate.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from repository import limits
from repository.errors import UnreadableDelivery

__all__ = ["read_xlsx"]


def _check_workbook_archive(path: Path) -> None:
    """Refuse a workbook whose zip archive is larger than the limits, before anything in it is
    decompressed: the central directory (from the end record), the declared sizes (which the zip
    reader enforces while decompressing) and each member's compression ratio."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - (1 << 16) - 22))
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise UnreadableDelivery(f"{path.name} starts like an Excel workbook but its zip directory "
                                 "is missing: the file is truncated or damaged. Ask the trial for "
                                 "a new copy.", file=str(path), reason="damaged", format="xlsx")
    entries, directory_size = struct.unpack("<xxxxxxxxxxHI", tail[at:at + 16])
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF or entries > limits.MAX_XLSX_MEMBERS:
        _too_large(path, f"its zip archive has {'over 65,535' if entries == 0xFFFF else entries} "
                         f"members (at most {limits.MAX_XLSX_MEMBERS:,})")
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    total = sum(m.file_size for m in members)
    if total > limits.MAX_XLSX_UNCOMPRESSED_BYTES:
        biggest = max(members, key=lambda m: m.file_size)
        _too_large(path, f"it holds {total / 2**20:,.0f} MiB once uncompressed (at most "
                         f"{limits.MAX_XLSX_UNCOMPRESSED_BYTES / 2**20:,.0f} MiB; the largest part is "
                         f"{biggest.filename}, {biggest.file_size / 2**20:,.0f} MiB)")
    for m in members:
        if m.file_size > 2**20 and m.file_size > limits.MAX_XLSX_COMPRESSION_RATIO * max(m.compress_size, 1):
            _too_large(path, f"its part {m.filename} expands {m.file_size / max(m.compress_size, 1):,.0f} "
                             f"times ({m.compress_size:,} bytes to {m.file_size:,}); at most "
                             f"{limits.MAX_XLSX_COMPRESSION_RATIO} times is read, as a protection against "
                             "zip bombs")


def _too_large(path: Path, why: str) -> None:
    raise UnreadableDelivery(
        f"{path.name} is not read: {why}. Ask the trial to deliver only the data sheet, or the "
        "data as CSV; see 'Limits' in docs/deliveries.md.", file=str(path), reason="too-large",
        format="xlsx")


class _CellBudget:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.used = 0

    def take(self, n: int, sheet: str) -> None:
        self.used += n
        if self.used > limits.MAX_XLSX_CELLS:
            _too_large(self.path, f"it has more than {limits.MAX_XLSX_CELLS:,} cells (reached in sheet "
                                  f"{sheet!r})")


def _sheet_rows(book: Any, sheet: str, budget: _CellBudget) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Header (first non-empty row) and non-empty data rows of one sheet, padded to the header."""
    ws = book[sheet]
    if not hasattr(ws, "iter_rows"):  # a chart sheet
        return [], []
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # declared dimensions may be wrong (or hostile): read what is there
    rows = ws.iter_rows(values_only=True)
    header: tuple[Any, ...] | None = None
    data: list[tuple[Any, ...]] = []
    for row in rows:
        budget.take(max(len(row), 1), sheet)  # a skipped (empty) row costs a cell too
        if header is None:
            if any(v is not None for v in row):
                header = row
            continue
        if any(v is not None and v != "" for v in row):
            data.append(row)
    if header is None:
        return [], []
    names = ["" if v is None else str(v).strip() for v in header]
    width = max([len(names)] + [len(r) for r in data])
    if width > limits.MAX_COLUMNS:
        limits.check_width(budget.path, width)
    names += [""] * (width - len(names))
    data = [tuple(r[:width]) + (None,) * (width - len(r)) for r in data]
    return names, data


def read_xlsx(path: Path, options: dict[str, Any], id_column: str | None) -> tuple[Any, ...]:
    """The data sheet (and the other sheets, with ``options['_all_sheets']``) of a workbook, as
    :func:`repository.formats.read_delivery` expects from a reader."""
    import openpyxl

    from repository.formats import drop_empty_unnamed

    _check_workbook_archive(path)
    budget = _CellBudget(path)
    handle = path.open("rb")  # a file object: openpyxl would refuse a misnamed path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except BaseException:
            handle.close()
            raise
    others: dict[str, pd.DataFrame] = {}
    try:
        sheets = list(book.sheetnames)
        hidden = tuple(n for n in sheets if getattr(book[n], "sheet_state", "visible") != "visible")
        sheet = options.get("sheet")
        if sheet is None:
            sheet = _choose_sheet(path, book, sheets, id_column)
        if sheet not in sheets:
            raise UnreadableDelivery(f"{path.name} has no sheet {sheet!r}; sheets: "
                                     f"{', '.join(sheets)}.", file=str(path), reason="sheet")
        names, data = _sheet_rows(book, sheet, budget)
        if options.get("_all_sheets"):
            for other in sheets:
                if other != sheet:
                    others[other] = _other_sheet(*_sheet_rows(book, other, budget))
    finally:
        book.close()
        handle.close()
    extras = {"other_sheets": others, "hidden_sheets": hidden}
    if not names:
        return pd.DataFrame(), {}, {}, {"sheet": sheet}, extras
    frame = pd.DataFrame.from_records(data, columns=[n or f"Unnamed: {i}" for i, n in enumerate(names)])
    frame = drop_empty_unnamed(path, frame)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame, {}, {}, {"sheet": sheet, "sheets": sheets}, extras


def _other_sheet(names: list[str], data: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Another sheet as a table for the identifier gate: unnamed and repeated headers are made
    unique (``Unnamed: 3``, ``name (column 5)``)."""
    seen: set[str] = set()
    unique = []
    for i, n in enumerate(names):
        label = n or f"Unnamed: {i}"
        if label in seen:
            label = f"{label} (column {i + 1})"
        seen.add(label)
        unique.append(label)
    return pd.DataFrame.from_records(data, columns=unique) if unique else pd.DataFrame()


def _choose_sheet(path: Path, book: Any, sheets: list[str], id_column: str | None) -> str:
    if len(sheets) == 1:
        return sheets[0]
    if id_column:
        having = []
        for name in sheets:
            ws = book[name]
            if not hasattr(ws, "iter_rows"):
                continue
            first = next(ws.iter_rows(max_row=1, values_only=True), ())
            if id_column in [str(v).strip() for v in first if v is not None]:
                having.append(name)
        if len(having) == 1:
            return having[0]
    raise UnreadableDelivery(f"{path.name} has several sheets ({', '.join(sheets)}); choose one "
                             "with --sheet NAME.", file=str(path), reason="sheet", sheets=sheets)

"""Reading Excel workbooks (``.xlsx``) for :mod:`repository.formats`, within the limits.

A workbook is a zip archive of XML parts. Before anything in it is decompressed, its central
directory is read from the end record (at most :data:`~repository.limits.MAX_XLSX_MEMBERS`
parts), then the declared uncompressed size of the whole workbook
(:data:`~repository.limits.MAX_XLSX_UNCOMPRESSED_BYTES`; the zip reader enforces declared sizes
while decompressing) and each part's compression ratio
(:data:`~repository.limits.MAX_XLSX_COMPRESSION_RATIO`, as Apache POI does against zip bombs).
Sheets are read with calamine (a Rust reader, several times faster than openpyxl), counting at
most :data:`~repository.limits.MAX_XLSX_CELLS` cells over every sheet read. Calamine builds a
sheet's grid from A1 to its last cell, so that grid is measured first from the sheet's XML
(:mod:`repository.workbook_parts`; its declared dimensions are ignored) and a sheet whose grid
is over the cell budget, or wider than :data:`~repository.limits.MAX_COLUMNS`, is refused
before it is parsed: a stray cell at ``XFD1048576`` costs nothing. A workbook written unlike
spreadsheet programs write them, or holding error cells (``#N/A``), is read with openpyxl in
read-only mode instead, row by row, with the same budget. Either way cells read as openpyxl
reads them (whole numbers as int, dates as datetime, blanks as None). The data sheet becomes
the delivery's table (from calamine's grid a column at a time, :mod:`repository.workbook_cells`);
with ``_all_sheets`` the others are read too, for the identifier gate.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from repository import limits
from repository.errors import UnreadableDelivery
from repository.reasons import Reason
from repository.workbook_cells import (
    Factorised,
    as_openpyxl_reads,
    grid_table,
    labels,
    records_table,
)
from repository.workbook_parts import sheet_extent, sheet_parts

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
                                 "a new copy.", file=str(path), reason=Reason.DAMAGED, format="xlsx")
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
        "data as CSV; see 'Limits' in docs/deliveries.md.", file=str(path), reason=Reason.TOO_LARGE,
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


Row = Sequence[Any]


class _Book(Protocol):
    """A workbook opened by one of the two readers."""

    sheets: list[str]
    hidden: tuple[str, ...]

    def rows(self, sheet: str, budget: _CellBudget) -> Iterator[Row]:
        """The rows of a sheet from row 1, blanks as None (empty for a chart sheet)."""

    def first_row(self, sheet: str) -> Row: ...

    def table(self, sheet: str, budget: _CellBudget) -> _Table:
        """The data sheet as the delivery's table (see :func:`_rows_table`)."""

    def close(self) -> None: ...


class _OpenpyxlBook:
    def __init__(self, path: Path) -> None:
        import openpyxl

        self.handle = path.open("rb")  # a file object: openpyxl would refuse a misnamed path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.book = openpyxl.load_workbook(self.handle, read_only=True, data_only=True)
            except BaseException:
                self.handle.close()
                raise
        self.sheets = list(self.book.sheetnames)
        self.hidden = tuple(n for n in self.sheets
                            if getattr(self.book[n], "sheet_state", "visible") != "visible")

    def rows(self, sheet: str, budget: _CellBudget) -> Iterator[Row]:
        ws = self.book[sheet]
        if not hasattr(ws, "iter_rows"):  # a chart sheet
            return
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # declared dimensions may be wrong (or hostile)
        for row in ws.iter_rows(values_only=True):
            budget.take(max(len(row), 1), sheet)  # a skipped (empty) row costs a cell too
            yield row

    def first_row(self, sheet: str) -> Row:
        ws = self.book[sheet]
        if not hasattr(ws, "iter_rows"):
            return ()
        return next(ws.iter_rows(max_row=1, values_only=True), ())

    def table(self, sheet: str, budget: _CellBudget) -> _Table:
        return _rows_table(budget.path, self.rows(sheet, budget))

    def close(self) -> None:
        self.book.close()
        self.handle.close()


class _CalamineBook:
    """A workbook read with calamine, each sheet measured first (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

        self.path = path
        with zipfile.ZipFile(path) as archive:
            self.parts = sheet_parts(archive)
        with path.open("rb") as handle:  # a file object: calamine goes by the extension
            self.book = CalamineWorkbook.from_filelike(handle)
        meta = self.book.sheets_metadata
        self.sheets = [m.name for m in meta]
        self.hidden = tuple(m.name for m in meta if m.visible != SheetVisibleEnum.Visible)
        self.grids = {m.name for m in meta if m.typ == SheetTypeEnum.WorkSheet}
        self.read: dict[str, list[list[Any]]] = {}

    def _grid(self, sheet: str, budget: _CellBudget | None) -> list[list[Any]]:
        if sheet in self.read:  # its first row was looked at: counted now
            if budget is not None:
                budget.take(len(self.read[sheet]) * len(self.read[sheet][0]), sheet)
            return self.read.pop(sheet)
        if sheet not in self.parts:
            raise _NotPlain(sheet)
        with zipfile.ZipFile(self.path) as archive:
            extent = sheet_extent(archive.read(self.parts[sheet]))
        if not extent.plain:
            raise _NotPlain(sheet)
        if extent.columns > limits.MAX_COLUMNS:
            limits.check_width(self.path, extent.columns)
        if budget is not None:
            budget.take(extent.cells, sheet)
        elif extent.cells > limits.MAX_XLSX_CELLS:
            _too_large(self.path, f"its sheet {sheet!r} spans more than "
                                  f"{limits.MAX_XLSX_CELLS:,} cells")
        if extent.cells == 0:
            return []
        return self.book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)

    def rows(self, sheet: str, budget: _CellBudget) -> Iterator[Row]:
        if sheet not in self.grids:  # a chart sheet
            return
        grid = self._grid(sheet, budget)
        if grid:
            yield from as_openpyxl_reads(grid)

    def first_row(self, sheet: str) -> Row:
        if sheet not in self.grids:
            return ()
        grid = self._grid(sheet, None)
        if grid:
            self.read[sheet] = grid
        return as_openpyxl_reads(grid[:1])[0] if grid else ()

    def table(self, sheet: str, budget: _CellBudget) -> _Table:
        """Built from the grid a column at a time (:func:`grid_table`) when it is a plain
        rectangle; otherwise from its rows."""
        grid = self._grid(sheet, budget) if sheet in self.grids else []
        built = grid_table(grid)
        if built is None:
            return _rows_table(budget.path, as_openpyxl_reads(grid) if grid else [])
        if len(built[0]) > limits.MAX_COLUMNS:
            limits.check_width(budget.path, len(built[0]))
        return built

    def close(self) -> None:
        self.book.close()


class _NotPlain(Exception):
    """A sheet calamine would not read as openpyxl does (see :mod:`repository.workbook_parts`)."""


def _open(path: Path) -> _Book:
    try:
        return _CalamineBook(path)
    except Exception:
        return _OpenpyxlBook(path)  # calamine cannot open it: openpyxl says why


#: a data sheet's header names, its table (None for a sheet without a header), the missing
#: cells of each column (None: to be counted by :func:`repository.formats.read_delivery`) and
#: the columns already factorised, by label (for the identifier gate)
_Table = tuple[list[str], pd.DataFrame | None, list[int] | None, dict[str, Factorised]]


def _rows_table(path: Path, rows: Iterable[Row]) -> _Table:
    """The data sheet's table from its rows (:func:`_sheet_rows`)."""
    names, data = _sheet_rows(path, rows)
    return names, records_table(names, data) if names else None, None, {}


def _sheet_rows(path: Path, rows: Iterable[Row]) -> tuple[list[str], list[Row]]:
    """Header (first non-empty row) and non-empty data rows of one sheet, padded to the header."""
    header: Row | None = None
    data: list[Row] = []
    for row in rows:
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
        limits.check_width(path, width)
    names += [""] * (width - len(names))
    data = [tuple(r[:width]) + (None,) * (width - len(r)) for r in data]
    return names, data


def read_xlsx(path: Path, options: dict[str, Any], id_column: str | None) -> tuple[Any, ...]:
    """The data sheet (and the other sheets, with ``options['_all_sheets']``) of a workbook, as
    :func:`repository.formats.read_delivery` expects from a reader."""
    from repository.formats import drop_empty_unnamed

    _check_workbook_archive(path)
    book = _open(path)
    try:
        sheet, sheets, hidden, table, others = _read_book(path, book, options, id_column)
    except _NotPlain:  # written unusually, or holding error cells: read it all with openpyxl
        book = _OpenpyxlBook(path)
        sheet, sheets, hidden, table, others = _read_book(path, book, options, id_column)
    extras: dict[str, Any] = {"other_sheets": others, "hidden_sheets": hidden}
    names, frame, missing, factorised = table
    if frame is None:
        return pd.DataFrame(), {}, {}, {"sheet": sheet}, extras
    frame = drop_empty_unnamed(path, frame)
    kept = set(frame.columns)
    if missing is not None:
        extras["missing"] = [n for label, n in zip(labels(names), missing) if label in kept]
    extras["distinct"] = {label: f for label, f in factorised.items() if label in kept}
    return frame, {}, {}, {"sheet": sheet, "sheets": sheets}, extras


def _read_book(path: Path, book: _Book, options: dict[str, Any], id_column: str | None
               ) -> tuple[str, list[str], tuple[str, ...], _Table, dict[str, pd.DataFrame]]:
    budget = _CellBudget(path)
    others: dict[str, pd.DataFrame] = {}
    try:
        sheets, hidden = book.sheets, book.hidden
        sheet = options.get("sheet")
        if sheet is None:
            sheet = _choose_sheet(path, book, sheets, id_column)
        if sheet not in sheets:
            raise UnreadableDelivery(f"{path.name} has no sheet {sheet!r}; sheets: "
                                     f"{', '.join(sheets)}.", file=str(path), reason=Reason.SHEET)
        table = book.table(sheet, budget)
        if options.get("_all_sheets"):
            for other in sheets:
                if other != sheet:
                    others[other] = _other_sheet(*_sheet_rows(path, book.rows(other, budget)))
    finally:
        book.close()
    return sheet, sheets, hidden, table, others


def _other_sheet(names: list[str], data: list[Row]) -> pd.DataFrame:
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


def _choose_sheet(path: Path, book: _Book, sheets: list[str], id_column: str | None) -> str:
    if len(sheets) == 1:
        return sheets[0]
    if id_column:
        having = []
        for name in sheets:
            first = book.first_row(name)
            if id_column in [str(v).strip() for v in first if v is not None]:
                having.append(name)
        if len(having) == 1:
            return having[0]
    raise UnreadableDelivery(f"{path.name} has several sheets ({', '.join(sheets)}); choose one "
                             "with --sheet NAME.", file=str(path), reason=Reason.SHEET, sheets=sheets)

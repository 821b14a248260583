"""Calamine's cells as :mod:`repository.workbooks` reads them: openpyxl's values, pandas' table.

A workbook's data sheet becomes the delivery's table as openpyxl reads it: cells as openpyxl
gives them (whole numbers int, dates datetime, blanks None), the rows put together by
``pandas.DataFrame.from_records`` (which infers each column's type: a column of whole numbers
with a blank becomes floats, dates Timestamps) and every column then held as Python objects,
blanks None. Calamine returns a sheet as a grid of Python values; :func:`grid_table` builds that
same table from the grid a column at a time, with no Python work per cell for the columns of
text, of numbers and of both (nearly all of a delivery), each distinct date converted once; the
other columns (booleans, times, durations, dates with text) go through ``from_records`` as
before. A test compares the two ways cell for cell.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["as_openpyxl_reads", "grid_table", "openpyxl_value", "records_table"]

Row = Sequence[Any]


def as_openpyxl_reads(grid: list[list[Any]]) -> list[list[Any]]:
    """Calamine's cells as openpyxl reads them: blanks None, whole numbers int, dates datetime
    (column-wise over the whole grid: no Python work per cell but for dates)."""
    cells = np.array(grid, dtype=object)
    if cells.ndim != 2:  # rows of different lengths: cell by cell
        return [[openpyxl_value(v) for v in row] for row in grid]
    kinds = np.frompyfunc(type, 1, 1)(cells)  # compared elementwise below (== on type objects)
    floats = np.flatnonzero(kinds == float)  # noqa: E721
    if floats.size:
        values = cells.flat[floats].astype(np.float64)
        whole = (values == np.floor(values)) & (np.abs(values) < 2.0**63)
        cells.flat[floats[whole]] = values[whole].astype(np.int64).astype(object)
    dates = np.flatnonzero(kinds == dt.date)
    if dates.size:
        cells.flat[dates] = [openpyxl_value(v) for v in cells.flat[dates]]
    cells[(kinds == str) & (cells == "")] = None  # noqa: E721
    return cells.tolist()


def openpyxl_value(value: Any) -> Any:
    """One of calamine's cells as openpyxl reads it."""
    kind = type(value)
    if kind is str:
        return value if value else None
    if kind is float:
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if kind is dt.date:
        return dt.datetime(value.year, value.month, value.day)
    return value


def records_table(names: list[str], data: list[Row]) -> pd.DataFrame:
    """The table of a sheet's header and rows (cells as openpyxl reads them): pandas infers
    each column's type, then every column is held as Python objects, blanks None."""
    frame = pd.DataFrame.from_records(data, columns=labels(names))
    return frame.astype(object).where(frame.notna(), None)


def labels(names: list[str]) -> list[str]:
    """Column labels of a header: a blank name is ``Unnamed: <position>``."""
    return [n or f"Unnamed: {i}" for i, n in enumerate(names)]


#: a column's values factorised as ``pandas.factorize`` does (codes, -1 for None; the distinct
#: values), which the identifier gate reuses (:attr:`repository.formats.RawTable.distinct`)
Factorised = tuple[np.ndarray, np.ndarray]


def grid_table(grid: list[list[Any]]
               ) -> tuple[list[str], pd.DataFrame, list[int], dict[str, Factorised]] | None:
    """The header names, table (as :func:`records_table` makes it from the cells as openpyxl
    reads them), missing cells per column (None and blank text) and the columns factorised
    (by label; those of text, numbers and dates) of a sheet read by calamine: the first
    non-empty row is the header, the non-empty rows after it the data. None when the grid is
    not a rectangle with a header and data rows (then read it as rows)."""
    width = len(grid[0]) if grid else 0
    if width == 0 or any(len(row) != width for row in grid):
        return None
    filled = [row for row in grid if row.count("") < width]  # calamine's blank is ""
    if len(filled) < 2:
        return None
    names = ["" if v is None else str(v).strip() for v in map(openpyxl_value, filled[0])]
    table = np.array(filled[1:], dtype=object)  # every cell at once; a column is table[:, i]
    if table.shape != (len(filled) - 1, width):
        return None
    missing = [0] * width
    inferred = []
    factorised: dict[str, Factorised] = {}
    named = labels(names)
    repeated = {label for label, n in Counter(named).items() if n > 1}
    for i, label in enumerate(named):
        done = _plain_column(table[:, i])
        if done is None:
            inferred.append(i)
            continue
        table[:, i], missing[i], distinct = done
        if distinct is not None and label not in repeated:  # (a repeated name is refused)
            factorised[label] = distinct
    if inferred:  # booleans, times, durations, dates with text: pandas infers them from rows
        from repository.formats import _count_missing

        columns = [[openpyxl_value(row[i]) for row in filled[1:]] for i in inferred]
        frame = records_table([""] * len(inferred), list(zip(*columns)))
        table[:, inferred] = frame.to_numpy(dtype=object)
        for i, n in zip(inferred, _count_missing(frame)):
            missing[i] = n
    frame = pd.DataFrame(table, columns=named, dtype=object, copy=False)
    return names, frame, missing, factorised


def _plain_column(column: np.ndarray) -> tuple[np.ndarray, int, Factorised | None] | None:
    """A column of text, numbers and dates (blanks ""), as :func:`records_table` holds it,
    its missing cells and its factorisation; None for any other column. The column is
    factorised first and each distinct cell turned into what is held once."""
    kinds = set(map(type, column.tolist()))
    if kinds <= {str, dt.date, dt.datetime} and kinds & {dt.date, dt.datetime}:
        return _date_column(column)
    if not kinds <= {str, float}:
        return None
    codes, distinct = pd.factorize(column)  # (no nulls: calamine's blank is "")
    held, missing = _held(distinct)
    counts = np.bincount(codes, minlength=len(distinct))
    return held[codes], int(counts[missing].sum()), _without_blanks(codes, held)


def _held(distinct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`records_table` holds for each distinct cell of a column of text and numbers
    (its type inferred from all of them), and which are missing (blank or white space)."""
    text = np.array([type(v) is str for v in distinct.tolist()], dtype=bool)
    texts = distinct[text].tolist()
    missing = np.zeros(len(distinct), dtype=bool)
    missing[text] = [not t or t.isspace() for t in texts]
    blank = text.copy()
    blank[text] = [not t for t in texts]
    numbers = np.flatnonzero(~text)
    value = distinct[numbers].astype(np.float64)
    whole = (value == np.floor(value)) & (np.abs(value) < 2.0**63)
    held = distinct.copy()
    if not text.any():  # numbers alone: whole numbers int, else (all of them) floats
        return (value.astype(np.int64).astype(object) if whole.all()
                else (value + 0.0).astype(object)), missing  # -0.0 read as int 0, then 0.0
    held[blank] = None
    if numbers.size and not (text & ~blank).any():  # numbers and blanks: pandas infers floats
        held[numbers] = (value + 0.0).astype(object)  # (a blank is NaN): whole ones too, 1.0
    else:  # text and numbers: whole numbers int
        held[numbers[whole]] = value[whole].astype(np.int64).astype(object)
    return held, missing


def _without_blanks(codes: np.ndarray, held: np.ndarray) -> Factorised:
    """``pandas.factorize`` of ``held[codes]`` (the held values are distinct, but for None)."""
    kept = np.array([v is not None for v in held.tolist()], dtype=bool)
    if kept.all():
        return codes, held
    renumbered = np.full(len(held), -1, dtype=codes.dtype)
    renumbered[kept] = np.arange(int(kept.sum()))
    return renumbered[codes], held[kept]


def _date_column(column: np.ndarray) -> tuple[np.ndarray, int, Factorised | None] | None:
    """A column of dates and date-times (blanks "") as pandas infers it: Timestamps, blanks
    None; None when it holds text or a date pandas holds only as an object. Each distinct
    cell is converted once; no factorisation when two of them are the same instant (a date
    and a date-time at midnight)."""
    codes, distinct = pd.factorize(column)
    texts = [i for i, v in enumerate(distinct.tolist()) if type(v) is str]
    if any(distinct[i] != "" for i in texts):  # text that is not blank
        return None
    try:
        stamps = pd.DatetimeIndex([None if type(v) is str else v for v in distinct.tolist()])
    except (ValueError, OverflowError):  # out of pandas' range (OutOfBoundsDatetime)
        return None
    if stamps.dtype != np.dtype("datetime64[ns]"):
        return None
    cells = np.asarray(stamps.astype(object), dtype=object)
    cells[stamps.isna()] = None
    blanks = int(np.count_nonzero(codes == texts[0])) if texts else 0
    same = stamps[stamps.notna()].has_duplicates
    return cells[codes], blanks, None if same else _without_blanks(codes, cells)

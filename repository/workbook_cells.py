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


def grid_table(grid: list[list[Any]]) -> tuple[list[str], pd.DataFrame, list[int]] | None:
    """The header names, table (as :func:`records_table` makes it from the cells as openpyxl
    reads them) and missing cells per column (None and blank text) of a sheet read by
    calamine: the first non-empty row is the header, the non-empty rows after it the data.
    None when the grid is not a rectangle with a header and data rows (then read it as
    rows)."""
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
    for i in range(width):
        done = _plain_column(table[:, i])
        if done is None:
            inferred.append(i)
        else:
            table[:, i], missing[i] = done
    if inferred:  # booleans, times, durations, dates with text: pandas infers them from rows
        from repository.formats import _count_missing

        columns = [[openpyxl_value(row[i]) for row in filled[1:]] for i in inferred]
        frame = records_table([""] * len(inferred), list(zip(*columns)))
        table[:, inferred] = frame.to_numpy(dtype=object)
        for i, n in zip(inferred, _count_missing(frame)):
            missing[i] = n
    return names, pd.DataFrame(table, columns=labels(names), dtype=object, copy=False), missing


def _plain_column(column: np.ndarray) -> tuple[np.ndarray, int] | None:
    """A column of text and numbers (blanks ""), as :func:`records_table` holds it, and its
    missing cells; None for any other column."""
    kinds = set(map(type, column.tolist()))
    if kinds <= {str, dt.date, dt.datetime} and kinds & {dt.date, dt.datetime}:
        return _date_column(column)
    if not kinds <= {str, float}:
        return None
    if kinds == {float}:  # no blanks: whole numbers int, else (all of them) floats
        value = column.astype(np.float64)
        whole = (value == np.floor(value)) & (np.abs(value) < 2.0**63)
        if whole.all():
            return value.astype(np.int64).astype(object), 0
        return (value + 0.0).astype(object), 0  # -0.0 read as int 0, then 0.0
    blank = column == ""
    out = column.copy()
    out[blank] = None
    n_blank = int(np.count_nonzero(blank))
    if kinds == {str}:
        return out, n_blank + _white(out[~blank])
    # numbers with blanks only (an array of floats alone is "floating"), or with text too
    numbers = (np.flatnonzero(~blank)
               if pd.api.types.infer_dtype(column[~blank], skipna=False) == "floating"
               else np.flatnonzero([type(v) is float for v in column.tolist()]))
    value = column[numbers].astype(np.float64)
    whole = (value == np.floor(value)) & (np.abs(value) < 2.0**63)
    if numbers.size + n_blank == len(column):  # numbers and blanks: pandas infers floats
        out[numbers] = (value + 0.0).astype(object)  # (a blank is NaN): whole ones too, 1.0
        return out, n_blank
    out[numbers[whole]] = value[whole].astype(np.int64).astype(object)  # text and numbers
    text = np.ones(len(column), dtype=bool)
    text[numbers] = False
    return out, n_blank + _white(out[text & ~blank])


def _date_column(column: np.ndarray) -> tuple[np.ndarray, int] | None:
    """A column of dates and date-times (blanks "") as pandas infers it: Timestamps, blanks
    None; None when it holds text or a date pandas holds only as an object. Each distinct
    cell is converted once."""
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
    return cells[codes], blanks


def _white(texts: np.ndarray) -> int:
    """How many of ``texts`` are white space only (but not empty)."""
    values = texts.tolist()
    white = {t for t in set(values) if not t.strip()}
    return sum(t in white for t in values) if white else 0

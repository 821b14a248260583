"""Reading SPSS (.sav, .zsav), Stata (.dta) and SAS (.sas7bdat, .xpt) files with pyreadstat.

The table is what ``pyreadstat.read_*(path, dates_as_pandas_datetime=True)`` returns: dates and
date-times as ``datetime64[ns]`` columns, everything else as pyreadstat reads it. pyreadstat
makes its dates one Python object per value; here the file is read with the dates as the
numbers stored in it (``disable_datetime_conversion``) and the date columns are converted all at
once (:func:`_convert_dates`): days or seconds (SPSS: since 1582-10-14; Stata and SAS: since
1960-01-01; Stata date-times: milliseconds). The fast way is only taken where it cannot differ:
whole numbers within pandas' date range, no time-of-day formats, and a file of more than
:data:`_CHECKED_ROWS` rows whose first :data:`_CHECKED_ROWS` rows read pyreadstat's way equal
the fast table's; otherwise the file is read pyreadstat's way. A test compares both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repository import limits

__all__ = ["read_statfile", "statfile_head"]

#: rows read pyreadstat's way to check the fast table against (smaller files are read so)
_CHECKED_ROWS = 100

#: pyreadstat's date, date-time and time formats (pyreadstat/_readstat_parser.pyx)
_DATES = {
    "sas": {"WEEKDATE", "MMDDYY", "DDMMYY", "YYMMDD", "DATE", "DATE9", "YYMMDD10", "DDMMYYB",
            "DDMMYYB10", "DDMMYYC", "DDMMYYC10", "DDMMYYD", "DDMMYYD10", "DDMMYYN6", "DDMMYYN8",
            "DDMMYYP", "DDMMYYP10", "DDMMYYS", "DDMMYYS10", "MMDDYYB", "MMDDYYB10", "MMDDYYC",
            "MMDDYYC10", "MMDDYYD", "MMDDYYD10", "MMDDYYN6", "MMDDYYN8", "MMDDYYP", "MMDDYYP10",
            "MMDDYYS", "MMDDYYS10", "WEEKDATX", "DTDATE", "IS8601DA", "E8601DA", "B8601DA",
            "YYMMDDB", "YYMMDDD", "YYMMDDN", "YYMMDDP", "YYMMDDS"},
    "spss": {"DATE", "DATE8", "DATE11", "DATE12", "ADATE", "ADATE8", "ADATE10", "EDATE", "EDATE8",
             "EDATE10", "JDATE", "JDATE5", "JDATE7", "SDATE", "SDATE8", "SDATE10"},
    "stata": {"%td", "%d", "%tdD_m_Y", "%tdCCYY-NN-DD"},
}
_DATETIMES = {
    "sas": {"DATETIME", "DATETIME18", "DATETIME19", "DATETIME20", "DATETIME21", "DATETIME22",
            "E8601DT", "DATEAMPM", "MDYAMPM", "IS8601DT", "B8601DT", "B8601DN"},
    "spss": {"DATETIME", "DATETIME8", "DATETIME17", "DATETIME20", "DATETIME23.2", "YMDHMS16",
             "YMDHMS19", "YMDHMS19.2", "YMDHMS20"},
    "stata": {"%tC", "%tc"},
}
_TIMES = {
    "sas": {"TIME", "HHMM", "TIME20.3", "TIME20", "TIME5", "TOD", "TIMEAMPM", "IS8601TM",
            "E8601TM", "B8601TM"},
    "spss": {"TIME", "DTIME", "TIME8", "TIME5", "TIME11.2"},
    "stata": {"%tcHH:MM:SS", "%tcHH:MM"},
}
_FAMILY = {"sav": "spss", "dta": "stata", "sas7bdat": "sas", "xpt": "sas"}
#: (date unit, date-time unit, origin) of each family's stored numbers
_UNITS = {"spss": ("s", "s", "1582-10-14"), "stata": ("D", "ms", "1960-01-01"),
          "sas": ("D", "s", "1960-01-01")}


def statfile_head(kind: str, path: Path, kwargs: dict[str, Any]) -> Any:
    """The metadata of ``path`` (read alone), its width checked against
    :data:`~repository.limits.MAX_COLUMNS` before any row is parsed."""
    _, head = _reader(kind)(str(path), metadataonly=True, **kwargs)
    limits.check_width(path, int(head.number_columns or len(head.column_names)))
    return head


def read_statfile(kind: str, path: Path, kwargs: dict[str, Any], head: Any
                  ) -> tuple[pd.DataFrame, Any]:
    """The table and metadata of ``path`` as ``pyreadstat``'s reader for ``kind`` gives them
    with ``dates_as_pandas_datetime=True`` (see the module docstring); ``head`` is its
    :func:`statfile_head`."""
    fn = _reader(kind)
    units = _date_units(_FAMILY[kind], head.original_variable_types or {})
    rows = head.number_rows
    if units and (rows is None or rows > _CHECKED_ROWS):  # (transport files say no count)
        frame, meta = fn(str(path), disable_datetime_conversion=True, **kwargs)
        fast = _convert_dates(frame, units, _UNITS[_FAMILY[kind]][2])
        if fast is not None:
            first, _ = fn(str(path), dates_as_pandas_datetime=True, row_limit=_CHECKED_ROWS,
                          **kwargs)
            if fast.head(_CHECKED_ROWS).equals(first):
                return fast, meta
    return fn(str(path), dates_as_pandas_datetime=True, **kwargs)


def _reader(kind: str) -> Any:
    import pyreadstat

    return {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta,
            "sas7bdat": pyreadstat.read_sas7bdat, "xpt": pyreadstat.read_xport}[kind]


def _date_units(family: str, formats: dict[str, str | None]) -> dict[str, str] | None:
    """Column -> the unit of its stored number, for the date and date-time columns; None when
    a column has a time-of-day format (read pyreadstat's way)."""
    units = {}
    date_unit, datetime_unit, _ = _UNITS[family]
    for column, fmt in formats.items():
        if fmt in _TIMES[family]:
            return None
        if fmt in _DATES[family]:
            units[column] = date_unit
        elif fmt in _DATETIMES[family]:
            units[column] = datetime_unit
    return units


#: pandas' datetime64[ns] range, in seconds from 1970 (a day inside it)
_NS_RANGE = (-9_223_372_036 + 86_400, 9_223_372_036 - 86_400)
#: nanoseconds of each unit
_NANOS = {"D": 86_400 * 10**9, "s": 10**9, "ms": 10**6}


def _convert_dates(frame: pd.DataFrame, units: dict[str, str], origin: str
                   ) -> pd.DataFrame | None:
    """``frame`` with its date columns (stored numbers) as datetime64[ns]; None when a value is
    not a whole number of its unit or falls outside pandas' date range."""
    base = int(np.datetime64(origin, "s").astype(np.int64))  # seconds from 1970
    converted = {}
    for column, unit in units.items():
        if column not in frame.columns:
            return None
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(values)
        numbers = values[known]
        if numbers.size and (not np.array_equal(numbers, np.floor(numbers))
                             or not _inside(numbers * (_NANOS[unit] / 10**9) + base)):
            return None
        nanos = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
        whole = numbers.astype(np.int64)
        nanos[known] = ((base * 1000 + whole) * 10**6 if unit == "ms"  # from the origin: no overflow
                        else (base + whole * (_NANOS[unit] // 10**9)) * 10**9)
        converted[column] = nanos.view("datetime64[ns]")
    for column, stamps in converted.items():
        frame[column] = stamps
    return frame


def _inside(seconds: np.ndarray) -> bool:
    return bool(seconds.min() >= _NS_RANGE[0] and seconds.max() <= _NS_RANGE[1])

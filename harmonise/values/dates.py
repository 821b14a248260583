"""Dates: parsing what trials deliver, and the date arithmetic derivations need.

Parsing is explicit: a mapping names the format of every date column. Formats:

``iso``
    ISO 8601 text: ``2003-02-17``, ``2003-02-17T10:30``, ``20030217`` is *not* ISO here (use
    ``%Y%m%d``).
``iso8601``
    ISO 8601 text that may be partial, as CDISC writes dates (``2014-01``, ``2014``): partial
    dates are missing and reported unless the rule says how to complete them (``impute:``; see
    :mod:`harmonise.values.partial_dates`).
a strftime pattern
    anything with a ``%`` directive, e.g. ``%d/%m/%Y``, ``%m/%d/%y``, ``%Y%m%d``, ``%Y-%m``
    (a year-month gives the first day of the month). Two-digit years follow the POSIX rule:
    69-99 are 1969-1999, 00-68 are 2000-2068.
``excel``
    Excel serial day numbers (1900 date system): day 1 is 1900-01-01; serials before 61 fall
    in Excel's fictitious 29 February 1900 era and are reported.
``sas``, ``stata``
    days since 1960-01-01 (SAS and Stata ``%td`` date values delivered as plain numbers).
``sas_datetime``
    seconds since 1960-01-01 00:00.
``spss``
    seconds since 1582-10-14 (SPSS date values delivered as plain numbers).
``native``
    the column already holds dates (SAS/SPSS/Stata/Parquet date columns, Excel date cells).

Values that already are dates are taken as they are whatever the format says (an Excel column
may mix date cells and text); text is parsed with the format; numbers are parsed as their
digits for a strftime pattern (``20030217`` with ``%Y%m%d``) or as day/second counts for the
numeric formats. Every value that cannot be parsed is *reported* (the ``bad`` mask), never
silently dropped. Parsing works on the distinct values of a column, so a million rows with a
few thousand distinct dates cost a few thousand parses.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from harmonise.values.cells import canonical_text, canonical_texts

__all__ = [
    "DATE_FORMATS",
    "NUMERIC_EPOCHS",
    "is_strftime",
    "check_format",
    "calendar_dates",
    "parse_dates",
    "parse_date_values",
    "days_between",
    "add_days",
    "age_at",
]

#: named formats (anything else must be a strftime pattern with at least one % directive)
DATE_FORMATS: tuple[str, ...] = ("iso", "iso8601", "native", "excel", "sas", "stata",
                                 "sas_datetime", "spss")

#: numeric formats -> (epoch, unit of the count)
NUMERIC_EPOCHS: dict[str, tuple[pd.Timestamp, str]] = {
    "excel": (pd.Timestamp("1899-12-30"), "D"),
    "sas": (pd.Timestamp("1960-01-01"), "D"),
    "stata": (pd.Timestamp("1960-01-01"), "D"),
    "sas_datetime": (pd.Timestamp("1960-01-01"), "s"),
    "spss": (pd.Timestamp("1582-10-14"), "s"),
}

_DIRECTIVES = set("aAwdbBmyYHIpMSfzZjUWcxXGuV%")
_DIRECTIVE = re.compile(r"%(.)")
_MIN = pd.Timestamp("1800-01-01")
_MAX = pd.Timestamp("2200-12-31")


def is_strftime(fmt: str) -> bool:
    return "%" in fmt


def check_format(fmt: Any) -> str | None:
    """Why ``fmt`` is not a usable date format, or ``None`` when it is."""
    if not isinstance(fmt, str) or not fmt.strip():
        return f"a date format must be text: one of {', '.join(DATE_FORMATS)} or a strftime " \
               "pattern such as %d/%m/%Y"
    if fmt in DATE_FORMATS:
        return None
    if not is_strftime(fmt):
        from harmonise.yamlio import suggest

        return (f"unknown date format {fmt!r}{suggest(fmt, DATE_FORMATS)}; use one of "
                f"{', '.join(DATE_FORMATS)} or a strftime pattern such as %d/%m/%Y")
    bad = sorted({d for d in _DIRECTIVE.findall(fmt) if d not in _DIRECTIVES})
    if bad:
        return f"unknown strftime directive(s) {', '.join('%' + d for d in bad)} in {fmt!r}"
    if fmt.rstrip().endswith("%") and not fmt.rstrip().endswith("%%"):
        return f"{fmt!r} ends with a lone %"
    if not ({"Y", "y", "G"} & set(_DIRECTIVE.findall(fmt))):
        return f"{fmt!r} has no year (%Y or %y); a date needs one"
    return None


def parse_date_values(uniques: np.ndarray | list[Any], fmt: str, *,
                      datetime: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Parse an array of distinct raw values.

    Returns ``(parsed, bad)``: ``parsed`` is ``datetime64[ns]`` (NaT for missing and for
    unparseable values), ``bad`` marks the values that were present but could not be parsed.
    Dates are normalised to midnight unless ``datetime``.
    """
    values = np.asarray(uniques, dtype=object)
    n = len(values)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    bad = np.zeros(n, dtype=bool)
    if n == 0:
        return out, bad
    native = _read_native(values, out)
    rest = ~native
    if not rest.any():
        return _finish(out, bad, datetime)
    if fmt not in NUMERIC_EPOCHS and fmt not in ("iso", "native") and rest.all() and \
            pd.api.types.infer_dtype(values, skipna=False) == "string":
        # text: try the pattern's fixed layout on the values as they are; strip only the rest
        parsed = _parse_strftime(values, fmt, strip=True)
        blank = np.fromiter((not v.strip() for v in values), dtype=bool, count=n)
        out = parsed
        bad = np.isnat(parsed) & ~blank
        return _finish(out, bad, datetime)
    if rest.all():
        texts = canonical_texts(values)
    else:
        texts = np.array([canonical_text(v) if r else None for v, r in zip(values, rest)],
                         dtype=object)
    present = rest & np.array([t is not None for t in texts], dtype=bool)
    if present.any():
        idx = np.flatnonzero(present)
        parsed = _parse_texts(texts[idx], fmt, datetime=datetime)
        out[idx] = parsed
        bad[idx] = np.isnat(parsed)
    return _finish(out, bad, datetime)


def _read_native(values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Mark the values that are dates already (Timestamps, dates, numpy datetimes; not NaT)
    and write them into ``out``."""
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "string":
        return np.zeros(len(values), dtype=bool)
    if inferred in ("datetime", "date", "datetime64"):
        native = ~pd.isna(values)  # every present value is a date (the test below at once)
    else:
        native = np.array([isinstance(v, (pd.Timestamp, dt.date, np.datetime64)) and
                           not pd.isna(v) for v in values], dtype=bool)
    if native.any():
        out[native] = _native_dates(values[native])
    return native


def _native_dates(values: np.ndarray) -> np.ndarray:
    """Date objects as ``datetime64[ns]``: at once where pandas can hold them all, else as
    :func:`pandas.to_datetime` coerces them (NaT for those out of its range)."""
    try:
        index = pd.DatetimeIndex(values)
    except (ValueError, TypeError, OverflowError):
        index = pd.to_datetime(pd.Index(values), errors="coerce")
    return index.to_numpy(dtype="datetime64[ns]")


def _parse_texts(strings: np.ndarray, fmt: str, *, datetime: bool) -> np.ndarray:
    """Present texts (canonical) as ``datetime64[ns]`` in the layout ``fmt`` (NaT where they
    do not parse): a numeric epoch, ISO (``iso``, or ``iso8601`` with partial dates), a
    strftime pattern; ``native`` reads no text."""
    if fmt in NUMERIC_EPOCHS:
        return _parse_numeric(strings, fmt)
    if fmt == "iso":
        parsed = pd.to_datetime(pd.Index(strings), format="ISO8601", errors="coerce")
        parsed = parsed.tz_localize(None) if getattr(parsed, "tz", None) else parsed
        return parsed.to_numpy(dtype="datetime64[ns]")
    if fmt == "iso8601":
        from harmonise.values.partial_dates import parse_iso8601

        read = parse_iso8601(pd.Series(strings, dtype=object), datetime=datetime)
        return read.values.to_numpy(dtype="datetime64[ns]")
    if fmt == "native":
        return np.full(len(strings), np.datetime64("NaT"), dtype="datetime64[ns]")
    return _parse_strftime(strings, fmt)


def _finish(out: np.ndarray, bad: np.ndarray, datetime: bool) -> tuple[np.ndarray, np.ndarray]:
    # implausible years (a serial read with the wrong epoch, a typo'd century) are failures too
    present_dates = ~np.isnat(out)
    implausible = present_dates & ((out < _MIN.to_datetime64()) | (out > _MAX.to_datetime64()))
    if implausible.any():
        out[implausible] = np.datetime64("NaT")
        bad |= implausible
    if not datetime:
        out = out.astype("datetime64[D]").astype("datetime64[ns]")
    return out, bad


_FIXED = {"Y": 4, "y": 2, "m": 2, "d": 2}


def _fixed_layout(fmt: str) -> list[tuple[str, int]] | None:
    """``%d/%m/%Y`` -> [("d", 2), ("/", 1), ("m", 2), ...] when the format only uses
    fixed-width numeric fields (so values can be sliced), else None."""
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in _FIXED:
                return None
            out.append((fmt[i + 1], _FIXED[fmt[i + 1]]))
            i += 2
        else:
            if not ch.isascii() or ch.isdigit():
                return None
            out.append((ch, 1))
            i += 1
    fields = [f for f, _ in out if f in _FIXED]
    if not ({"Y", "y"} & set(fields)) or len(fields) != len(set(fields)):
        return None
    return out


def _parse_strftime(strings: np.ndarray, fmt: str, *, strip: bool = False) -> np.ndarray:
    """Parse texts with a strftime pattern: values in the pattern's fixed-width layout
    (``03/02/2001`` for ``%d/%m/%Y``) are sliced and checked with numpy; the rest (``3/2/2001``,
    month names ...) go through :func:`pandas.to_datetime`."""
    out = np.full(len(strings), np.datetime64("NaT"), dtype="datetime64[ns]")
    layout = _fixed_layout(fmt)
    todo = np.ones(len(strings), dtype=bool)
    if layout is not None:
        width = sum(w for _, w in layout)
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        same = lengths == width
        if same.any():
            try:
                raw = np.array(list(strings[same]), dtype=f"S{width}")
            except UnicodeEncodeError:
                raw = None
            if raw is not None:
                b = raw.view(np.uint8).reshape(-1, width).astype(np.int64)
                ok = np.ones(len(b), dtype=bool)
                parts: dict[str, np.ndarray] = {}
                pos = 0
                for field, w in layout:
                    chunk = b[:, pos:pos + w]
                    if field in _FIXED:
                        digits = chunk - 48
                        ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
                        value = np.zeros(len(b), dtype=np.int64)
                        for k in range(w):
                            value = value * 10 + digits[:, k]
                        parts[field] = value
                    else:
                        ok &= chunk[:, 0] == ord(field)
                    pos += w
                year = parts["Y"] if "Y" in parts else np.where(parts["y"] < 69, 2000 + parts["y"],
                                                                1900 + parts["y"])
                month = parts.get("m", np.ones(len(b), dtype=np.int64))
                day = parts.get("d", np.ones(len(b), dtype=np.int64))
                ok &= (year >= _MIN.year) & (year <= _MAX.year)
                dates, real = calendar_dates(np.where(ok, year, 1970), month, day)
                ok &= real
                idx = np.flatnonzero(same)
                good = idx[ok]
                out[good] = dates[ok]
                todo[good] = False
    if todo.any():
        rest = strings[todo]
        if strip:
            rest = np.array([t.strip() for t in rest], dtype=object)
        out[todo] = pd.to_datetime(pd.Index(rest), format=fmt, errors="coerce",
                                   exact=True).to_numpy(dtype="datetime64[ns]")
    return out


def calendar_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Dates (``datetime64[ns]``, midnight) from whole-number year, month and day arrays, and
    which of them are real dates (month 1-12, day 1 to the month's last); NaT where not.
    Years must lie within pandas' range (1678-2261)."""
    ok = (month >= 1) & (month <= 12) & (day >= 1)
    y = np.where(ok, year, 1970).astype(np.int64)
    m = np.where(ok, month, 1).astype(np.int64)
    first = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m - 1)
    days_in_month = ((first + 1).astype("datetime64[D]") -
                     first.astype("datetime64[D]")).astype(np.int64)
    ok &= day <= days_in_month
    dates = (first.astype("datetime64[D]") + (np.where(ok, day, 1) - 1).astype(np.int64)
             ).astype("datetime64[ns]")
    dates[~ok] = np.datetime64("NaT")
    return dates, ok


def _parse_numeric(strings: np.ndarray, fmt: str) -> np.ndarray:
    numbers = pd.to_numeric(pd.Series(strings, dtype=object).str.replace(",", ".", regex=False),
                            errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    epoch, unit = NUMERIC_EPOCHS[fmt]
    ok = np.isfinite(numbers)
    if fmt == "excel":
        ok &= numbers >= 61  # serials 1-60 straddle Excel's non-existent 1900-02-29
    out = np.full(len(numbers), np.datetime64("NaT"), dtype="datetime64[ns]")
    if ok.any():
        scale = 86400.0 if unit == "D" else 1.0
        seconds = numbers[ok] * scale
        # in seconds (a nanosecond count from 1582 overflows); keep plausible years only
        base = epoch.to_datetime64().astype("datetime64[s]")
        lo = (_MIN.to_datetime64().astype("datetime64[s]") - base).astype(np.int64)
        hi = (_MAX.to_datetime64().astype("datetime64[s]") - base).astype(np.int64)
        whole = np.round(seconds)
        fine = (whole >= lo) & (whole <= hi)
        sub = np.full(ok.sum(), np.datetime64("NaT"), dtype="datetime64[ns]")
        sub[fine] = (base + whole[fine].astype(np.int64).astype("timedelta64[s]")).astype(
            "datetime64[ns]")
        out[ok] = sub
    return out


def parse_dates(values: pd.Series, fmt: str, *, datetime: bool = False,
                missing: np.ndarray | None = None,
                factorised: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[pd.Series, np.ndarray]:
    """Parse a raw column; returns ``(datetime64[ns] Series, bad mask)``.

    ``missing`` marks rows already known to be missing (missing-value codes): they become NaT
    and are not reported. ``factorised``: the column's ``pandas.factorize`` (codes, distinct
    values) when the caller has it already (a column not of a datetime dtype).
    """
    n = len(values)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        series = values
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_localize(None)
        arr = series.to_numpy(dtype="datetime64[ns]")
        if not datetime:
            arr = arr.astype("datetime64[D]").astype("datetime64[ns]")
        bad = np.zeros(n, dtype=bool)
        if missing is not None:
            arr = arr.copy()
            arr[missing] = np.datetime64("NaT")
        return pd.Series(arr, index=values.index), bad
    codes, uniques = factorised if factorised is not None else \
        pd.factorize(values, use_na_sentinel=True)
    uniq = np.asarray(uniques, dtype=object)
    parsed, bad_u = parse_date_values(uniq, fmt, datetime=datetime)
    if len(uniq):
        out = parsed[np.where(codes >= 0, codes, 0)]
        out[codes < 0] = np.datetime64("NaT")
        bad = np.where(codes >= 0, bad_u[np.where(codes >= 0, codes, 0)], False)
    else:
        out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        bad = np.zeros(n, dtype=bool)
    if missing is not None:
        out[missing] = np.datetime64("NaT")
        bad = bad & ~missing
    return pd.Series(out, index=values.index), bad


def days_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole days from ``start`` to ``end`` (``end - start``), nullable Int64."""
    a = pd.Series(start).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    b = pd.Series(end).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    diff = (b - a)
    mask = np.isnat(diff)
    days = diff.astype("int64", copy=False)
    return pd.Series(pd.arrays.IntegerArray(np.where(mask, 0, days), mask),
                     index=pd.Series(start).index if isinstance(start, pd.Series) else None)


def add_days(start: pd.Series, days: Any) -> tuple[pd.Series, np.ndarray]:
    """``start`` plus ``days`` (rounded half away from zero to whole days).

    Returns ``(dates, fractional)`` where ``fractional`` marks rows whose day count was not a
    whole number (callers may report them).
    """
    base = pd.Series(start).to_numpy(dtype="datetime64[ns]")
    if isinstance(days, pd.Series):
        num = pd.to_numeric(days, errors="coerce").astype("Float64").to_numpy(
            dtype=float, na_value=np.nan)
    else:
        num = np.full(len(base), np.nan if days is None else float(days))
    whole = np.sign(num) * np.floor(np.abs(num) + 0.5)
    fractional = np.isfinite(num) & (whole != num)
    ok = np.isfinite(whole) & ~np.isnat(base)
    out = np.full(len(base), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[ok] = base[ok] + whole[ok].astype("int64").astype("timedelta64[D]")
    index = start.index if isinstance(start, pd.Series) else None
    return pd.Series(out, index=index), fractional


def age_at(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Completed years from ``birth`` to ``at`` (nullable Int64); a birthday on 29 February
    is reached on 1 March in common years."""
    b = pd.DatetimeIndex(pd.Series(birth).to_numpy(dtype="datetime64[ns]"))
    a = pd.DatetimeIndex(pd.Series(at).to_numpy(dtype="datetime64[ns]"))
    mask = np.asarray(b.isna() | a.isna())
    by, bm, bd = (np.asarray(b.year), np.asarray(b.month), np.asarray(b.day))
    ay, am, ad = (np.asarray(a.year), np.asarray(a.month), np.asarray(a.day))
    before = (am < bm) | ((am == bm) & (ad < bd))
    years = ay - by - before.astype(int)
    years = np.where(mask, 0, years).astype("int64")
    index = birth.index if isinstance(birth, pd.Series) else None
    return pd.Series(pd.arrays.IntegerArray(years, mask), index=index)

"""Date parsing with explicit formats, and the date arithmetic of derivations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from harmonise.values.dates import add_days, age_at, check_format, days_between, parse_dates

NaT = pd.NaT


def parse(values: list[object], fmt: str, **kw: object) -> tuple[list[object], list[bool]]:
    out, bad = parse_dates(pd.Series(values, dtype=object), fmt, **kw)
    return [None if pd.isna(v) else pd.Timestamp(v).date() for v in out], bad.tolist()


D = dt.date


@pytest.mark.parametrize(("fmt", "values", "dates", "bad"), [
    ("%d/%m/%Y", ["17/02/2003", "7/2/2003", " 01/12/1999 ", "31/02/2003", "2003-02-17", None, ""],
     [D(2003, 2, 17), D(2003, 2, 7), D(1999, 12, 1), None, None, None, None],
     [False, False, False, True, True, False, False]),
    ("%m/%d/%y", ["02/17/03", "12/31/69", "01/01/68", "13/01/03"],
     [D(2003, 2, 17), D(1969, 12, 31), D(2068, 1, 1), None], [False, False, False, True]),
    ("%Y%m%d", ["20030217", 20030218, 20030218.0, "2003021"],
     [D(2003, 2, 17), D(2003, 2, 18), D(2003, 2, 18), D(2003, 2, 1)], [False] * 4),
    ("%Y-%m", ["1948-07", "1948-13", "1948"], [D(1948, 7, 1), None, None], [False, True, True]),
    ("%d %b %Y", ["17 Feb 2003", "17 Fev 2003"], [D(2003, 2, 17), None], [False, True]),
    ("iso", ["2003-02-17", "2003-02-17T10:30:00", "17/02/2003"],
     [D(2003, 2, 17), D(2003, 2, 17), None], [False, False, True]),
    ("excel", [37669, "37669", 37669.75, 12, "x"],
     [D(2003, 2, 17), D(2003, 2, 17), D(2003, 2, 17), None, None], [False, False, False, True, True]),
    ("sas", [15753, "0"], [D(2003, 2, 17), D(1960, 1, 1)], [False, False]),
    ("stata", [15753], [D(2003, 2, 17)], [False]),
    ("sas_datetime", [15753 * 86400 + 3600], [D(2003, 2, 17)], [False]),
    ("spss", [13264819200], [D(2003, 2, 17)], [False]),
    ("native", [pd.Timestamp("2003-02-17"), dt.date(2003, 2, 18), "2003-02-19"],
     [D(2003, 2, 17), D(2003, 2, 18), None], [False, False, True]),
    ("%d/%m/%Y", [pd.Timestamp("2003-02-17 10:00"), "18/02/2003"],  # Excel mixes cells
     [D(2003, 2, 17), D(2003, 2, 18)], [False, False]),
    ("%d/%m/%Y", ["01/01/1066", "01/01/2999"], [None, None], [True, True]),  # implausible
])
def test_formats(fmt: str, values: list[object], dates: list[object], bad: list[bool]) -> None:
    assert parse(values, fmt) == (dates, bad)


def test_native_datetime_columns_and_missing_codes() -> None:
    s = pd.Series(pd.to_datetime(["2003-02-17 10:30", None, "1900-01-01 00:00"]))
    out, bad = parse_dates(s, "native", missing=np.array([False, False, True]))
    assert out.tolist()[0] == pd.Timestamp("2003-02-17") and pd.isna(out[1]) and pd.isna(out[2])
    assert not bad.any()
    out, _ = parse_dates(s, "native", datetime=True)
    assert out[0] == pd.Timestamp("2003-02-17 10:30")


def test_missing_codes_are_not_reported() -> None:
    out, bad = parse_dates(pd.Series(["ND", "17/02/2003"], dtype=object), "%d/%m/%Y",
                           missing=np.array([True, False]))
    assert pd.isna(out[0]) and not bad.any()


@pytest.mark.parametrize(("fmt", "why"), [
    ("%d/%m/%Y", None), ("iso", None), ("native", None), ("%d/%q/%Y", "unknown strftime"),
    ("dd/mm/yyyy", "unknown date format"), ("%d/%m", "has no year"), ("", "must be text"),
    (12, "must be text"),
])
def test_check_format(fmt: object, why: str | None) -> None:
    got = check_format(fmt)
    assert (got is None) if why is None else (why in got)


def test_days_between_add_days_and_age_at() -> None:
    a = pd.Series(pd.to_datetime(["2003-02-17", "2003-02-17", None]))
    b = pd.Series(pd.to_datetime(["2003-03-01", "2002-02-17", "2003-01-01"]))
    assert days_between(a, b).tolist() == [12, -365, pd.NA]
    out, frac = add_days(a, pd.Series([1.5, -0.5, 3.0], dtype="Float64"))
    assert out.tolist()[:2] == [pd.Timestamp("2003-02-19"), pd.Timestamp("2003-02-16")]
    assert pd.isna(out[2]) and frac.tolist() == [True, True, False]
    birth = pd.Series(pd.to_datetime(["1948-07-01", "1948-07-01", "1952-02-29", None]))
    at = pd.Series(pd.to_datetime(["2003-06-30", "2003-07-01", "2003-02-28", "2003-01-01"]))
    assert age_at(birth, at).tolist() == [54, 55, 50, pd.NA]

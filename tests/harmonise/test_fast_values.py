"""The column-at-once value readers give what the plain one-value-at-a-time readers give.

The engine reads each raw column's distinct values in one go (issue 16): canonical texts of
whole object arrays (ints, floats, dates from Excel cells), numbers parsed from a list, dates
recognised as native at once, and a factorised column reused by the date parser. Each fast path
is held here to a plain reference on edge cases: missing values, mixed types, out-of-range
values, bad dates, time zones, huge integers.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from harmonise.values.cells import canonical_text, canonical_texts, parse_numbers
from harmonise.values.dates import parse_date_values, parse_dates


def _reference_texts(values: list[object]) -> list[str | None]:
    return [canonical_text(v) for v in values]


CASES = {
    "python ints": [1, -2, 0, 10**12, 7],
    "huge ints (beyond 64 bits)": [2**70, 3, -(2**65)],
    "python floats": [1.0, 2.5, -0.0, 1e15, 1e16, 0.1 + 0.2, float("nan"), 3.0],
    "floats with infinity": [1.5, float("inf"), -float("inf"), 2.0],
    "timestamps at midnight and with times": [pd.Timestamp("2020-01-31"),
                                              pd.Timestamp("2020-02-01 13:45:10"),
                                              pd.Timestamp("1999-12-31 00:00:00.000001")],
    "python dates and datetimes": [dt.date(2001, 5, 6), dt.datetime(2001, 5, 6, 0, 0),
                                   dt.datetime(2001, 5, 6, 7, 8, 9)],
    "dates out of pandas' range": [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 1, 1)],
    "time-zone aware": [pd.Timestamp("2020-01-01", tz="Europe/Paris"),
                        pd.Timestamp("2020-01-02", tz="Europe/Paris")],
    "naive and aware mixed": [dt.datetime(2020, 1, 1),
                              dt.datetime(2020, 1, 1, tzinfo=dt.UTC)],
    "ints and text": [1, " 2 ", "x", 3],
    "floats and ints": [1.5, 2, 3.0],
    "dates and text": [dt.date(2020, 1, 1), "2020-01-02", " "],
    "booleans": [True, False],
    "ints and booleans": [1, True, 0],
    "missing of every kind": [None, float("nan"), pd.NaT, pd.NA, "", "  "],
    "text": [" a ", "b", "", "c "],
}


@pytest.mark.parametrize("name", list(CASES))
def test_canonical_texts_match_one_by_one(name: str) -> None:
    values = CASES[name]
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    assert canonical_texts(arr).tolist() == _reference_texts(values)


def test_canonical_texts_of_typed_arrays() -> None:
    floats = np.array([1.0, 2.5, np.nan, -3.0, 1e15])
    assert canonical_texts(floats).tolist() == [canonical_text(v) for v in floats]
    ints = np.array([5, -1, 0], dtype=np.int64)
    assert canonical_texts(ints).tolist() == ["5", "-1", "0"]
    assert canonical_texts(np.empty(0, dtype=object)).tolist() == []


def _reference_numbers(texts: list[str | None], decimal: str, thousands: str | None
                       ) -> tuple[list[float], list[bool]]:
    values, bad = [], []
    for t in texts:
        if t is None:
            values.append(np.nan)
            bad.append(False)
            continue
        work = t.replace(thousands, "") if thousands else t
        if decimal != ".":
            work = work.replace(".", "x").replace(decimal, ".")
        work = work.replace(" ", "")
        try:
            v = float(work)
        except ValueError:
            v = np.nan
        ok = bool(np.isfinite(v))
        values.append(v if ok else np.nan)
        bad.append(not ok)
    return values, bad


@pytest.mark.parametrize(("decimal", "thousands"), [(".", None), (",", None), (",", "."),
                                                     (".", ",")])
def test_parse_numbers_matches_one_by_one(decimal: str, thousands: str | None) -> None:
    texts = ["1", "2.5", "2,5", "1.234,5", "1,234.5", "- 3", "1 000", "abc", None, "inf",
             "1e3", "", "12,5", "0", "-0.5"]
    values, bad = parse_numbers(np.array(texts, dtype=object), decimal=decimal,
                                thousands=thousands)
    want_values, want_bad = _reference_numbers(texts, decimal, thousands)
    np.testing.assert_array_equal(values, np.array(want_values))
    assert bad.tolist() == want_bad


def test_parse_numbers_without_any_value() -> None:
    values, bad = parse_numbers(np.array([None, None], dtype=object))
    assert np.isnan(values).all() and not bad.any()


def test_native_dates_read_at_once() -> None:
    values = [pd.Timestamp("2020-03-04 10:00"), dt.date(2019, 1, 2), dt.datetime(2018, 5, 6),
              pd.NaT, np.datetime64("2017-01-01")]
    for chosen in ([0, 2], [1], [4], [0, 3]):
        arr = np.empty(len(chosen), dtype=object)
        arr[:] = [values[i] for i in chosen]
        parsed, bad = parse_date_values(arr, "iso")
        want = [np.datetime64("NaT") if pd.isna(values[i]) else
                pd.Timestamp(values[i]).normalize().to_datetime64() for i in chosen]
        np.testing.assert_array_equal(parsed, np.array(want, dtype="datetime64[ns]"))
        assert not bad.any()


def test_parse_dates_with_a_given_factorisation_is_the_same() -> None:
    raw = pd.Series(["2020-01-02", "02/01/2020", None, "2020-01-02", "31/02/2020", "x",
                     dt.date(2021, 1, 1), 5], dtype=object)
    missing = np.zeros(len(raw), dtype=bool)
    missing[5] = True
    codes, uniques = pd.factorize(raw.to_numpy(), use_na_sentinel=True)
    for fmt in ("iso", "%d/%m/%Y"):
        plain = parse_dates(raw, fmt, missing=missing)
        given = parse_dates(raw, fmt, missing=missing, factorised=(codes, uniques))
        pd.testing.assert_series_equal(plain[0], given[0])
        np.testing.assert_array_equal(plain[1], given[1])
        assert plain[1][4] and not plain[1][5]  # a bad date reported, a missing code not


def test_a_dot_under_a_decimal_comma_is_not_a_number() -> None:
    """"1,234.5" in a delivery whose decimal mark is "," is reported, not read as 1.234 (the
    marker that stood in for the dot used to be a NUL, which ended the text for pandas)."""
    values, bad = parse_numbers(np.array(["1,234.5", "1.5", "2,5", "1.234"], dtype=object),
                                decimal=",")
    assert bad.tolist() == [True, True, False, True]
    assert np.isnan(values[[0, 1, 3]]).all() and values[2] == 2.5


def test_native_dates_match_to_datetime() -> None:
    """Date objects read at once give what pandas.to_datetime (coercing) gives, also where
    they cannot all be held at once (out of range, time zones mixed)."""
    from harmonise.values.dates import _native_dates

    cases = [
        [pd.Timestamp("2020-01-01 10:30"), dt.date(2019, 5, 6), np.datetime64("2018-01-01")],
        [dt.date(1, 1, 1), dt.date(2000, 2, 29)],
        [pd.Timestamp("2020-01-01", tz="Europe/Paris"), pd.Timestamp("2020-06-01",
                                                                     tz="Europe/Paris")],
        [dt.datetime(2020, 1, 1, tzinfo=dt.UTC), pd.Timestamp("2020-01-01",
                                                                       tz="Asia/Tokyo")],
        [pd.Timestamp("2262-04-11"), pd.Timestamp("1677-09-22")],
    ]
    for values in cases:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        try:
            want = pd.to_datetime(pd.Index(arr), errors="coerce").to_numpy(
                dtype="datetime64[ns]")
        except (ValueError, TypeError) as exc:  # pandas refuses: so must the fast path
            with pytest.raises(type(exc)):
                _native_dates(arr)
            continue
        np.testing.assert_array_equal(_native_dates(arr), want)


def test_calendar_dates_match_pandas() -> None:
    """make_date and fixed-layout strftime parsing build dates with numpy; pandas assembling
    the same year/month/day (coercing) is the reference, invalid days and months included."""
    from harmonise.values.dates import calendar_dates

    rng = np.random.default_rng(16)
    year = rng.integers(1800, 2201, 5000)
    month = rng.integers(-1, 15, 5000)
    day = rng.integers(-1, 33, 5000)
    year[:4], month[:4], day[:4] = [2000, 1900, 2024, 2023], 2, [29, 29, 29, 29]
    dates, ok = calendar_dates(year, month, day)
    want = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}),
                          errors="coerce").to_numpy(dtype="datetime64[ns]")
    np.testing.assert_array_equal(dates, want)
    np.testing.assert_array_equal(ok, ~np.isnat(want))
    assert ok[:4].tolist() == [True, False, True, False]

"""SPSS, Stata and SAS files read with their dates converted at once (repository.statfiles)
give the table pyreadstat gives with ``dates_as_pandas_datetime=True``: the same columns,
dtypes and values, dates before the origin, missing dates, date-times and the metadata; values
the fast way must not convert (fractions, dates out of pandas' range, time-of-day formats) are
read pyreadstat's way."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from repository import statfiles
from repository.formats import read_delivery

WRITERS = {"sav": pyreadstat.write_sav, "dta": pyreadstat.write_dta,
           "xpt": pyreadstat.write_xport}
READERS = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta, "xpt": pyreadstat.read_xport}


def frame(rows: int = 300, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(-40_000, 40_000, rows)  # 1850 to 2080 around 1960
    dates = [dt.date(1960, 1, 1) + dt.timedelta(days=int(d)) for d in days]
    stamps = [dt.datetime(1960, 1, 1) + dt.timedelta(seconds=int(s))
              for s in rng.integers(-2 * 10**9, 2 * 10**9, rows)]
    out = pd.DataFrame({"id": np.arange(rows, dtype=float), "randdt": dates, "seen": stamps,
                        "arm": rng.choice(["A", "B"], rows),
                        "age": rng.normal(60, 10, rows).round(1)})
    out.loc[::7, "randdt"] = None  # missing dates
    out.loc[::11, "seen"] = None
    return out


def write(kind: str, data: pd.DataFrame, path: Path) -> Path:
    kwargs = {"variable_value_labels": {"id": {1.0: "one"}}} if kind != "xpt" else {}
    WRITERS[kind](data, str(path), column_labels=dict(zip(data.columns, data.columns)), **kwargs)
    return path


def pyreadstats_way(kind: str, path: Path) -> pd.DataFrame:
    return READERS[kind](str(path), dates_as_pandas_datetime=True)[0]


def assert_same(kind: str, path: Path) -> pd.DataFrame:
    head = statfiles.statfile_head(kind, path, {})
    fast, meta = statfiles.read_statfile(kind, path, {}, head)
    slow, slow_meta = READERS[kind](str(path), dates_as_pandas_datetime=True)
    assert list(fast.dtypes) == list(slow.dtypes)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert meta.variable_value_labels == slow_meta.variable_value_labels
    assert meta.column_labels == slow_meta.column_labels
    return fast


@pytest.mark.parametrize("kind", ["sav", "dta", "xpt"])
def test_dates_converted_at_once_equal_pyreadstats(tmp_path: Path, kind: str) -> None:
    path = write(kind, frame(), tmp_path / f"t.{kind}")
    fast = assert_same(kind, path)
    assert str(fast["randdt"].dtype) == "datetime64[ns]"
    assert fast["randdt"].isna().sum() == 43
    table = read_delivery(path)
    pd.testing.assert_frame_equal(table.frame, fast)


@pytest.mark.parametrize("kind", ["sav", "dta", "xpt"])
def test_the_fast_way_is_taken_and_converts_the_stored_numbers(tmp_path: Path, kind: str,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    path = write(kind, frame(), tmp_path / f"t.{kind}")
    calls: list[dict] = []
    real = statfiles._reader(kind)
    monkeypatch.setattr(statfiles, "_reader",
                        lambda k: lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    assert_same(kind, path)
    assert [c for c in calls if "disable_datetime_conversion" in c]
    assert not [c for c in calls if c.get("dates_as_pandas_datetime") and "row_limit" not in c]


@pytest.mark.parametrize(("kind", "fmt", "scale", "shift"), [
    ("sav", "DATE11", 86_400, 141_428), ("dta", "%td", 1, 0), ("xpt", "DATE9", 1, 0)])
def test_a_date_missing_in_all_the_checked_rows_still_reads_alike(tmp_path: Path, kind: str,
                                                                  fmt: str, scale: int,
                                                                  shift: int) -> None:
    """Dates written as the stored numbers with a date format (days since 1960, SPSS seconds
    since 1582), none among the rows checked against pyreadstat's way."""
    data = frame()
    days = np.arange(len(data), dtype=float) * 37 - 5_000
    days[: statfiles._CHECKED_ROWS + 5] = np.nan
    data["later"] = (days + shift) * scale
    path = tmp_path / f"t.{kind}"
    WRITERS[kind](data, str(path), variable_format={"later": fmt})
    fast = assert_same(kind, path)
    assert fast["later"].notna().sum() == len(data) - statfiles._CHECKED_ROWS - 5


def test_fractional_and_far_dates_are_read_pyreadstats_way(tmp_path: Path) -> None:
    path = write("dta", frame(), tmp_path / "t.dta")
    raw, _ = pyreadstat.read_dta(str(path), disable_datetime_conversion=True)
    units = {"randdt": "D"}
    half = raw.assign(randdt=raw["randdt"] + 0.5)
    assert statfiles._convert_dates(half.copy(), units, "1960-01-01") is None
    far = raw.assign(randdt=raw["randdt"].fillna(0) + 200_000)  # after 2262
    assert statfiles._convert_dates(far.copy(), units, "1960-01-01") is None
    before = raw.assign(randdt=-110_000.0)  # 1658: before pandas' range
    assert statfiles._convert_dates(before.copy(), units, "1960-01-01") is None
    early = raw.assign(randdt=-100_000.0)  # 1686
    converted = statfiles._convert_dates(early.copy(), units, "1960-01-01")
    assert converted is not None
    assert converted["randdt"][0] == pd.Timestamp("1960-01-01") - pd.Timedelta(days=100_000)


def test_spss_seconds_from_1582_convert_without_overflow(tmp_path: Path) -> None:
    raw = pd.DataFrame({"d": [12_000_000_000.0, 13_000_000_000.0, np.nan]})
    out = statfiles._convert_dates(raw, {"d": "s"}, "1582-10-14")
    assert out is not None
    assert out["d"].tolist()[:2] == [dt.datetime(1582, 10, 14) + dt.timedelta(seconds=s)
                                     for s in (12e9, 13e9)]
    assert statfiles._convert_dates(pd.DataFrame({"d": [0.0]}), {"d": "s"}, "1582-10-14") \
        is None  # 1582 itself is before pandas' range
    assert out["d"].isna().tolist() == [False, False, True]


def test_a_time_of_day_format_is_read_pyreadstats_way() -> None:
    assert statfiles._date_units("spss", {"a": "DATE11", "t": "TIME8"}) is None
    assert statfiles._date_units("stata", {"a": "%td", "b": "%tc", "c": "%9.0g"}) == \
        {"a": "D", "b": "ms"}


def test_a_wrong_unit_is_caught_by_the_checked_rows(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a format's unit wrong (date-times taken as seconds, not milliseconds), the rows
    read pyreadstat's way differ and the whole file is read so."""
    data = frame()
    data["seen"] = [dt.datetime(1960, 1, 1) + dt.timedelta(seconds=100 * i) for i in data.index]
    path = write("dta", data, tmp_path / "t.dta")
    monkeypatch.setitem(statfiles._UNITS, "stata", ("D", "s", "1960-01-01"))
    assert_same("dta", path)


def test_user_missing_codes_labels_and_long_texts_read_alike(tmp_path: Path) -> None:
    """SPSS user-missing codes (a value and a range), value labels and texts of every width
    come out as pyreadstat gives them."""
    data = frame()
    data["kps"] = np.where(np.arange(len(data)) % 5 == 0, 999.0, 80.0)
    data["note"] = ["x" * (i % 300) for i in range(len(data))]
    path = tmp_path / "t.sav"
    pyreadstat.write_sav(data, str(path), variable_value_labels={"kps": {999.0: "not done"}},
                         missing_ranges={"kps": [999.0, {"lo": 990.0, "hi": 995.0}]})
    fast = assert_same("sav", path)
    assert fast["kps"].isna().sum() == 60
    table = read_delivery(path)
    assert table.column("kps").n_missing == 60
    assert table.column("kps").value_labels == {"999": "not done"}
    assert table.frame["note"].str.len().max() == 299

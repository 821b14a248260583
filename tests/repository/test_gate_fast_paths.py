"""The identifier gate's and the readers' fast paths give what the plain, value-by-value
definitions give, on the edge cases each fast path has to get right."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repository.formats import _count_missing, factorised_missing, read_delivery
from repository.iddates import column_dates
from repository.identifiers import (
    _as_text,
    _ascii_counts,
    _Column,
    _texts,
)
from repository.idvalues import parse_full_date


def test_column_dates_reads_what_parse_full_date_reads() -> None:
    values = ["17/03/1950", "03/17/1950", "31/02/1950", "13/13/1950", "17-03-1950",
              "17.03.1950", "17/03-1950", "1950-03-17", "1950-02-30", "1849-03-17",
              "17/03/1849", "17/03/2101", "00/01/1950", "1/3/1950", "+1/03/1950", "17/O3/1950",
              "17/03/19 0", "１７/03/1950", "17/03/１９５０", "12/11/2000", "2000/11/12",
              "17/03/1950 10:00", "Mar 17 1950", "17 Mar 1950", "abcdefghij", "17/03/1950x"]
    values += ["1950", "12/3/50", "3/4/5", "１２３/4", "²³¹/1/1950", "Jan 1 1950", "No"]
    expected = {v: d for v in values if (d := parse_full_date(v)) is not None}
    assert column_dates(values, numeric=False) == expected
    assert column_dates(values, numeric=False, digits=_ascii_counts(values)[0]) == expected
    assert "17/03/1950" in expected and "１７/03/1950" in expected  # both paths were taken


def test_digit_counts_are_ascii_digits_or_minus_one() -> None:
    values = ["", "0", "12/03/1950", "abc", "Müller 12", "١٢٣", "+44 20 7946 0958", "\ud800x1",
              "12\n34", "𝟙𝟚3", "x" * 50 + "9" * 50]

    def plain(v: str) -> int:
        return sum(c in "0123456789" for c in v) if v.isascii() else -1

    assert _ascii_counts(values)[0].tolist() == [plain(v) for v in values]
    assert _ascii_counts([])[0].tolist() == []


def test_letter_counts_and_digit_first_are_what_each_value_says() -> None:
    values = ["", "0", "A1", "a", "z9", "Z", "@[`{", "Müller 12", "١٢٣", "9abc", "١", "ß",
              "SW1A 1AA", "\ud800x1", "x" * 50 + "9" * 50, "9" * 50]
    digits, letters, first_digit = _ascii_counts(values)
    assert digits.tolist() == _ascii_counts(values)[0].tolist()
    assert letters.tolist() == [sum(c.isalpha() for c in v) if v.isascii() else -1
                                for v in values]
    assert first_digit.tolist() == [v[:1].isdigit() and v[:1].isascii() for v in values]
    # for ASCII text, "has letters" is "has a case"
    assert [n > 0 for n, v in zip(letters, values) if v.isascii()] == [
        v.upper() != v.lower() for v in values if v.isascii()]
    assert [a.tolist() for a in _ascii_counts([])] == [[], [], []]


@pytest.mark.parametrize("values", [
    [date(1950, 3, 17), date(2001, 1, 1), date(1, 1, 1)],
    [pd.Timestamp("1950-03-17"), pd.Timestamp("1950-03-17 10:30"),
     pd.Timestamp("2001-01-01 00:00:00.5"), pd.Timestamp("1950-03-18 00:00:01")],
    [pd.Timestamp("1700-01-01").as_unit("s"), pd.Timestamp("2001-01-01").as_unit("s"),
     pd.Timestamp("2500-05-05 12:00").as_unit("s")],
    [pd.Timestamp("0500-01-01").as_unit("s"), pd.Timestamp("2001-01-01")],
    [1, 22, -3, 10**30, 0],
    [1.0, 2.5, -0.0, 1e18, 1e20, float("inf"), 123456789012.0, 0.1 + 0.2],
    [1.0, -3.0, 123456789012.0, -0.0, 1e17],
    [True, False],
    [1, 2.5, "3"],
    [datetime(1950, 3, 17), date(1950, 3, 18)],
    [pd.Timestamp("1950-03-17", tz="UTC"), pd.Timestamp("1950-03-18", tz="UTC")],
    [np.float64(1.5), 2.0],
    [" 12", "12", "a ", ""],
])
def test_texts_of_objects_are_the_texts_of_each_value(values: list) -> None:
    uniques = np.empty(len(values), dtype=object)
    uniques[:] = values
    texts, one_to_one = _texts(uniques)
    plain = [_as_text(v) for v in values]
    assert texts == plain
    if one_to_one:
        assert len(set(plain)) == len(plain)


@pytest.mark.parametrize("values", [
    [date(1950, 3, 17), None, date(1950, 3, 17), date(2001, 1, 1)],
    [pd.Timestamp("1950-03-17"), pd.Timestamp("1950-03-17 00:00:00.2"), None],
    [1, 1, 2, None, 3],
    [1.0, 1, 2.5, None, np.nan],
])
def test_a_column_of_objects_has_the_distinct_texts_of_its_values(values: list) -> None:
    col = _Column("c", pd.Series(values, dtype=object))
    texts = [_as_text(v) for v in values]
    present = [t for t in texts if t is not None]
    assert col.all_distinct == list(dict.fromkeys(present))
    assert col.counts.tolist() == [present.count(t) for t in col.all_distinct]


_EDGE_FLOATS = [12.5, -0.3, 12.0, -7.0, 0.0001, 0.00009999, 1e-05, 123456789.125, 4.5e15 + 0.5,
                1e16, 1e17, 1e18, 1e20, -1e18, np.inf, -np.inf, np.nan, 2.0 ** 53, 0.1 + 0.2]


@pytest.mark.parametrize("values", [
    [12.5, -0.3, 7.0, np.nan, 0.0001],  # decimal measurements
    [12.5, 0.00009999, 3.25],  # written 9.999e-05: not a plain decimal number
    [12.5, 1e16 + 2, 3.25],  # 1e16 + 2 is whole: written 10000000000000002
    [1e20, 3.5], [np.inf, 2.5], [-np.inf, 1.0, 2.0],
    [12.0, -7.0, 1e17, np.nan],  # whole numbers
    [1e18, 5.0], [5.0, 1e-05],
    _EDGE_FLOATS,
    [float(v) / 8 for v in range(5000)],  # more than MAX_DISTINCT_SCANNED: a sample is judged
    [float(v) for v in range(5000)] + [0.5],
    [float(v) for v in range(5000)] + [1e-05] * 3 + [np.nan],
])
def test_a_column_of_floats_is_summarised_as_its_texts_are(values: list) -> None:
    """Whole and decimal numbers told from the floats themselves (texts made only when asked
    for) are what the texts of the values, judged one by one, say."""
    fast = _Column("c", pd.Series(values, dtype=np.float64))
    plain = _Column("c", pd.Series(values, dtype=object))  # the texts first, then the regexes
    assert plain._view is not None  # (the object path made its texts at once)
    assert (fast.integers, fast.decimals) == (plain.integers, plain.decimals)
    assert (fast.n, fast.n_distinct, fast.n_sampled) == (plain.n, plain.n_distinct, plain.n_sampled)
    assert fast.counts.tolist() == plain.counts.tolist()
    assert fast.distinct == plain.distinct and fast.all_distinct == plain.all_distinct
    assert fast.words.tolist() == plain.words.tolist()


def test_missing_cells_of_parquet_are_counted_as_pandas_counts_them(tmp_path: Path) -> None:
    table = pa.table({
        "text": pa.array(["a", None, "", " \u3000", "b"], type=pa.string()),
        "large": pa.array([" ", None, "x", "y", "z"], type=pa.large_string()),
        "ints": pa.array([1, None, 3, None, 5], type=pa.int64()),
        "floats": pa.array([1.5, None, float("nan"), 2.0, float("nan")]),
        "bools": pa.array([True, None, False, True, None]),
        "dates": pa.array([date(2001, 1, 1), None, None, date(2002, 2, 2), None]),
        "stamps": pa.array([datetime(2001, 1, 1), None, datetime(2001, 1, 2), None, None]),
        "dict": pa.array(["a", None, "", "b", "a"]).dictionary_encode(),
        "decimals": pa.array([1, None, 2, 3, None], type=pa.decimal128(5, 0)),
    })
    path = tmp_path / "kinds.parquet"
    pq.write_table(table, path)
    read = read_delivery(path)
    counts = [c.n_missing for c in read.columns]
    assert counts == _count_missing(read.frame)
    assert counts == [3, 2, 2, 3, 2, 3, 3, 1, 2]  # a category column: its nulls
    objects = {str(c) for c in read.frame.columns if read.frame[c].dtype == object}
    assert "text" in objects and set(read.distinct) == objects  # kept for the identifier gate


def test_blank_texts_are_the_texts_str_strip_empties() -> None:
    """Every Unicode white-space character, alone and joined, is blank; text around it is not."""
    import sys

    every_space = [chr(i) for i in range(sys.maxunicode + 1)
                   if not 0xD800 <= i < 0xE000 and chr(i).isspace()]
    values = ["", " ", "a", " a ", "\u3000", "\x1c\x1d", "\u200b", "\u180e", "x\u2028",
              *every_space, "".join(every_space), "".join(every_space) + "y", None]
    missing, _, _ = factorised_missing(np.array(values, dtype=object))
    assert missing == sum(1 for v in values if v is None or not v.strip())


def test_the_gate_judges_a_column_factorised_at_reading_as_it_judges_it_alone() -> None:
    """The factorisation made while counting missing cells (RawTable.distinct) gives the gate
    the same findings, on every table of the identifier corpus, with nulls and blanks added."""
    from dataclasses import asdict

    from repository.identifiers import scan
    from tests.repository.identifier_corpus import corpus

    tables = corpus()
    found = 0
    for t in tables:
        frame = t.frame.astype(object)
        frame.iloc[::7, :] = None  # nulls and blank text among the values
        frame.iloc[3::11, :] = " "
        distinct: dict = {}
        _count_missing(frame, distinct)
        assert set(distinct) == {str(c) for c in frame.columns}
        alone = scan(frame, id_column=t.id_column)
        reused = scan(frame, id_column=t.id_column, distinct=distinct)
        assert [asdict(f) for f in reused] == [asdict(f) for f in alone], t.name
        found += len(alone)
    assert len(tables) > 5 and found > 20


def test_a_statistical_file_read_keeps_the_factorisation_of_its_text_columns(
        delivery_writer) -> None:
    for fmt in ("dta", "sav", "xpt"):
        table = read_delivery(delivery_writer(fmt))
        text = [c for c in table.frame.columns if table.frame[c].dtype == object]
        assert text and set(table.distinct) == set(text), fmt
        for name in text:
            codes, uniques = pd.factorize(table.frame[name], use_na_sentinel=True)
            assert table.distinct[name][0].tolist() == codes.tolist()
            assert table.distinct[name][1].tolist() == uniques.tolist()
    series = pd.Series(["a", None, "b", "a"], dtype=object)
    given = (np.array([0, -1, 1, 0]), np.array(["a", "b"], dtype=object))
    assert _Column("c", series, given).codes is given[0]  # reused, not made again
    assert _Column("c", series, (given[0][:3], given[1])).codes is not given[0]  # wrong length

"""Judging corrected values against the trial's own columns (pure; no store)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonise.queries.lifecycle import RESPONSE_CODES
from harmonise.queries.workbook_checks import (
    RESPONSES,
    ColumnRule,
    infer_column_rule,
    normalise_response,
    split_corrected_value,
)
from harmonise.values.dates import parse_date_values
from repository.formats import ColumnInfo


def text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def test_every_response_code_has_words_for_trialists() -> None:
    assert tuple(r.code for r in RESPONSES) == RESPONSE_CODES
    for r in RESPONSES:
        assert normalise_response(r.label) == r.code
        assert normalise_response(r.code) == r.code
        assert normalise_response(f"  {r.label.upper().replace(' ', '-')} ") == r.code
    assert normalise_response("fixed") is None and normalise_response(None) is None


@pytest.mark.parametrize("series, info, expected", [
    (pd.Series([64.0, 58.0, np.nan]), None, ColumnRule("C", "number")),
    (text("64", "58", "NA", "71"), None, ColumnRule("C", "number", tokens=("NA",))),
    (text("72,5", "61,2", "88"), None, ColumnRule("C", "number", decimal=",")),
    (text("03/02/2003", "20/05/2003", None), None,
     ColumnRule("C", "date", layout="%d/%m/%Y")),
    (text("02/03/2003", "05/20/2003"), None, ColumnRule("C", "date", layout="%m/%d/%Y")),
    (text("2003-02-03", "2003-05-20"), None, ColumnRule("C", "date", layout="%Y-%m-%d")),
    (text("03FEB2003", "20MAY2003"), None,
     ColumnRule("C", "date", layout="%d%b%Y", upper=True)),
    (text("2003-02-03 10:30", "2003-05-20 08:00"), None,
     ColumnRule("C", "datetime", layout="%Y-%m-%d %H:%M")),
    (pd.Series(pd.to_datetime(["2003-02-03", "2003-05-20"])), None,
     ColumnRule("C", "date", layout="native")),
    (pd.Series(pd.to_datetime(["2003-02-03 10:30", "2003-05-20 00:00"])), None,
     ColumnRule("C", "datetime", layout="native")),
    (pd.Series([dt.datetime(2003, 2, 3), dt.datetime(2003, 5, 20)], dtype=object), None,
     ColumnRule("C", "date", layout="native")),
    (pd.Series([1, 2.5, 3], dtype=object), None, ColumnRule("C", "number")),
    (text("M", "F", "F"), None, ColumnRule("C", "text")),
    (text("A001", "A002"), None, ColumnRule("C", "text")),
    (pd.Series([1.0, 2.0]), ColumnInfo("C", "float64", value_labels={"1": "Male", "2": "Female"}),
     ColumnRule("C", "number", labels={"1": "Male", "2": "Female"})),
    # nine numbers and one typo: still a numeric column (the typo is what the query is about)
    (text(*[str(i) for i in range(9)], "4o"), None, ColumnRule("C", "number")),
])
def test_column_kinds_are_inferred_from_the_delivered_values(series, info, expected) -> None:
    assert infer_column_rule("C", series, info) == expected


def test_a_column_missing_from_the_delivery_takes_text() -> None:
    rule = infer_column_rule("GONE", None)
    assert rule == ColumnRule("GONE", "text", present=False)
    assert rule.describe() == "text (column not in your latest data)"


@pytest.mark.parametrize("rule, typed, written", [
    (ColumnRule("AGE", "number"), "42", "42"),
    (ColumnRule("AGE", "number"), 42, "42"),
    (ColumnRule("AGE", "number"), 42.0, "42"),
    (ColumnRule("W", "number"), "72.50", "72.50"),  # the trial's own digits are kept
    (ColumnRule("W", "number"), "72,5", "72.5"),  # a decimal comma in a decimal-point column
    (ColumnRule("W", "number", decimal=","), "72.5", "72,5"),
    (ColumnRule("W", "number", decimal=","), 72.5, "72,5"),
    (ColumnRule("AGE", "number", tokens=("NA",)), "na", "NA"),
    (ColumnRule("D", "date", layout="%d/%m/%Y"), "2003-04-16", "16/04/2003"),
    (ColumnRule("D", "date", layout="%d/%m/%Y"), "16/04/2003", "16/04/2003"),
    (ColumnRule("D", "date", layout="%d/%m/%Y"), dt.datetime(2003, 4, 16), "16/04/2003"),
    (ColumnRule("D", "date", layout="%d%b%Y", upper=True), "2003-04-16", "16APR2003"),
    (ColumnRule("D", "date", layout="native"), dt.date(2003, 4, 16), "2003-04-16"),
    (ColumnRule("D", "date", layout="native"), "2003-04-16", "2003-04-16"),
    (ColumnRule("D", "datetime", layout="native"), "2003-04-16 10:30", "2003-04-16T10:30:00"),
    (ColumnRule("S", "number", labels={"1": "Male", "2": "Female"}), "female", "2"),
    (ColumnRule("S", "number", labels={"1": "Male", "2": "Female"}), "2 (Female)", "2"),
    (ColumnRule("S", "number", labels={"1": "Male", "2": "Female"}), 1, "1"),
    (ColumnRule("S", "text"), " M ", "M"),
])
def test_corrected_values_are_written_the_columns_way(rule, typed, written) -> None:
    assert rule.normalise(typed) == written


@pytest.mark.parametrize("rule, typed, reason", [
    (ColumnRule("AGE", "number"), "forty-two", "it is not a number"),
    (ColumnRule("AGE", "number"), True, "TRUE/FALSE"),
    (ColumnRule("AGE", "number"), "inf", "it is not a number"),
    (ColumnRule("AGE", "number"), float("inf"), "not a finite number"),
    (ColumnRule("AGE", "number"), dt.datetime(2003, 4, 2), "Excel turned it into the date"),
    (ColumnRule("D", "date", layout="%d/%m/%Y"), "31/02/2003", "not a valid date"),
    (ColumnRule("D", "date", layout="%d/%m/%Y"), "soon", "not a valid date"),
    (ColumnRule("D", "date", layout="native"), "16/04/2003", "not a valid date"),
    (ColumnRule("D", "date", layout="%d/%m/%Y"), "16/04/1066", "not a valid date"),
    (ColumnRule("S", "text"), "   ", "it is empty"),
])
def test_values_that_do_not_fit_are_refused_with_the_reason(rule, typed, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        rule.normalise(typed)


def test_descriptions_say_what_to_write() -> None:
    assert ColumnRule("D", "date", layout="%d/%m/%Y").describe() == (
        "a date as DD/MM/YYYY (e.g. 17/02/2003)")
    assert ColumnRule("D", "date", layout="%d%b%Y", upper=True).describe() == (
        "a date as DDMONYYYY (e.g. 17FEB2003)")
    assert ColumnRule("A", "number", decimal=",", tokens=("NA",)).describe() == (
        "a number (decimal comma, e.g. 72,5); or NA if not known")
    assert ColumnRule("S", "text", labels={"M": "Male"}).describe() == "a code: M = Male"


def test_several_columns() -> None:
    columns = ["SEX", "WEIGHT"]
    assert split_corrected_value("sex=F; weight = 70.5", columns) == {"SEX": "F",
                                                                      "WEIGHT": "70.5"}
    assert split_corrected_value("SEX=F\nWEIGHT=", columns) == {"SEX": "F", "WEIGHT": ""}
    assert split_corrected_value("WEIGHT=70", ["WEIGHT"]) == {"WEIGHT": "70"}
    assert split_corrected_value("a=b", ["WEIGHT"]) == {"WEIGHT": "a=b"}
    for bad, why in [("F", "does not say which column"), ("SEXX=F", "not one of this query"),
                     ("SEX=F; sex=M", "given twice"), (" ; ", "empty")]:
        with pytest.raises(ValueError, match=why):
            split_corrected_value(bad, columns)


def test_rules_round_trip_through_the_export_record() -> None:
    for rule in [ColumnRule("A"), ColumnRule("B", "number", decimal=",", tokens=("NA", ".")),
                 ColumnRule("C", "date", layout="%d%b%Y", upper=True,
                            labels={"1": "x"}, present=False)]:
        assert ColumnRule.from_dict(rule.to_dict()) == rule


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.sampled_from([".", ","]))
def test_numbers_round_trip(value: float, decimal: str) -> None:
    written = ColumnRule("X", "number", decimal=decimal).normalise(value)
    assert float(written.replace(",", ".")) == pytest.approx(value, rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
       st.sampled_from(["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d%b%Y", "%d-%b-%Y"]),
       st.sampled_from(["iso", "cell", "own"]))
def test_dates_round_trip_in_the_columns_layout(day: dt.date, layout: str, how: str) -> None:
    """However the trialist writes a date (ISO, a date cell, the column's own layout), the
    value imported reads back as the same date with the column's own layout."""
    rule = ColumnRule("D", "date", layout=layout)
    typed: object = {"iso": day.isoformat(), "cell": dt.datetime.combine(day, dt.time()),
                     "own": day.strftime(layout)}[how]
    written = rule.normalise(typed)
    parsed, bad = parse_date_values(np.array([written], dtype=object), layout)
    assert not bad[0] and pd.Timestamp(parsed[0]).date() == day


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789.,+-eE", min_size=1, max_size=8),
       st.sampled_from([".", ","]))
def test_one_number_reads_as_the_mapping_engine_reads_it(typed: str, decimal: str) -> None:
    """A number accepted in a workbook is read as the same number by the mapping engine.

    (The workbook is stricter in one corner: the engine reads ``0,.`` under a decimal comma
    as 0, the workbook refuses it.)
    """
    from harmonise.queries.workbook_checks import _parse_number
    from harmonise.values.cells import parse_numbers

    values, bad = parse_numbers(np.array([typed], dtype=object), decimal=decimal)
    engine = None if bad[0] or np.isnan(values[0]) else float(values[0])
    ours = _parse_number(typed, decimal)
    # (pandas' own float parser may differ in the last bit from Python's: 11E23)
    assert ours is None or ours == pytest.approx(engine, rel=1e-15)
    if engine is None:
        assert ours is None


def test_the_documentation_keeps_up() -> None:
    """docs/query-workbook.md names every response, every column and every CLI option."""
    from pathlib import Path

    from harmonise.queries.cli import queries
    from harmonise.queries.workbook import COLUMNS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "query-workbook.md").read_text()
    for r in RESPONSES:
        assert f"| {r.label} |" in doc, r.label
    for c in COLUMNS:
        assert c.header.split(" (")[0] in doc, c.header
    for name, command in queries.commands.items():
        assert f"ipdrepo queries {name}" in doc
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in doc, (name, opt)

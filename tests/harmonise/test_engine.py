"""The mapping engine. A contract test runs every rule type through one assertion pattern (the
harmonised values, and every value that could not be transformed listed as a problem with its
row and reason); Hypothesis checks that recodes are total; and the result object is checked for
purity, typing, summaries and cell-level provenance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonise import apply_mapping
from harmonise.mapping.harmonised import SUMMARY_COLUMNS
from harmonise.mapping.spec import RULE_TYPES
from harmonise.values.problems import PROBLEM_COLUMNS
from repository.errors import HarmonisationError
from tests.harmonise.mapping_factory import make_dictionary, make_mapping, raw_frame

T = pd.Timestamp
INT = {"type": "integer"}
DEC = {"type": "decimal"}
DATE = {"type": "date"}
SEX = {"type": "categorical", "categories": [{"code": 1, "label": "Male"},
                                             {"code": 2, "label": "Female"},
                                             {"code": 9, "label": "Unknown", "missing": True}]}
MARGIN = {"type": "categorical", "categories": [{"code": "R0", "label": "R0"},
                                                {"code": "R1", "label": "R1"}]}
EVENT = {"type": "categorical", "categories": [{"code": 0, "label": "No"},
                                               {"code": 1, "label": "Yes"}]}


@dataclass
class Case:
    id: str
    variable: dict[str, Any]          # the target variable x (name added)
    rule: dict[str, Any]              # its rule
    raw: dict[str, list[Any]]         # raw columns
    expected: list[Any]               # harmonised x
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    extra_variables: list[dict[str, Any]] = field(default_factory=list)
    extra_rules: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=lambda: {"dataset": "main"})
    #: other datasets of the trial: name -> their columns (ID first), joined as ``joins`` says
    datasets: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    joins: dict[str, dict[str, Any]] = field(default_factory=dict)


CASES = [
    Case("direct-integer", INT, {"rule": "direct", "column": "X"},
         {"X": ["5", "x", "", "7", "2.5", " 8 "]}, [5, None, None, 7, None, 8],
         [(2, "not_a_number"), (5, "not_whole_number")]),
    Case("direct-decimal-comma", DEC, {"rule": "direct", "column": "X", "round": 1},
         {"X": ["1,26", "1.5", "NK"]}, [1.3, None, None], [(2, "not_a_number")],
         source={"dataset": "main", "decimal": ",", "missing_codes": ["NK"]}),
    Case("direct-boolean", {"type": "boolean"}, {"rule": "direct", "column": "X"},
         {"X": ["yes", "N", "1", "maybe", None, "TRUE"]}, [True, False, True, None, None, True],
         [(4, "not_boolean")]),
    Case("direct-date", DATE, {"rule": "direct", "column": "X"},
         {"X": ["2003-02-17", "17/02/2003", None]}, [T("2003-02-17"), None, None],
         [(2, "not_a_date")]),
    Case("direct-categorical", SEX, {"rule": "direct", "column": "X", "missing": ["0"]},
         {"X": ["1", "2", "3", "9", "0"]}, [1, 2, None, 9, None], [(3, "invalid_category")]),
    Case("direct-text-codes", MARGIN, {"rule": "direct", "column": "X"},
         {"X": ["R0", " R1", "R2"]}, ["R0", "R1", None], [(3, "invalid_category")]),
    Case("recode", SEX, {"rule": "recode", "column": "X", "map": {"M": 1, "F": 2},
                         "missing": ["9"]},
         {"X": ["M", "F", "9", "X", "", None, " F "]}, [1, 2, None, None, None, None, 2],
         [(4, "unmatched_code")]),
    Case("recode-else-missing", SEX, {"rule": "recode", "column": "X", "map": {"M": 1},
                                      "else": "missing"},
         {"X": ["M", "X"]}, [1, None]),
    Case("recode-else-value", SEX, {"rule": "recode", "column": "X", "map": {"m": 1, "f": 2},
                                    "else": 9, "ignore_case": True},
         {"X": ["M", "f", "?"]}, [1, 2, 9]),
    Case("recode-numbers-to-text", MARGIN, {"rule": "recode", "column": "X",
                                            "map": {0: "R0", "1": "R1", "2": None}},
         {"X": [0.0, 1.0, 2.0, 3.0, np.nan]}, ["R0", "R1", None, None, None],
         [(4, "unmatched_code")]),
    Case("recode-boolean", {"type": "boolean"}, {"rule": "recode", "column": "X",
                                                 "map": {"oui": True, "non": False}},
         {"X": ["oui", "non", "peut-être"]}, [True, False, None], [(3, "unmatched_code")]),
    Case("case_when", EVENT, {"rule": "case_when", "cases": [
        {"when": "$STATUS == 'dead'", "value": 1}, {"when": "$STATUS == 'alive'", "value": 0}]},
         {"STATUS": ["dead", "alive", "lost", None]}, [1, 0, None, None]),
    Case("case_when-expressions", DEC, {"rule": "case_when", "cases": [
        {"when": "$A > 0", "expression": "$A * 2"}], "else": {"expression": "$B"}},
         {"A": ["1", "-1", "x"], "B": ["5", "6", "7"]}, [2.0, 6.0, None], [(3, "not_a_number")]),
    Case("case_when-else-literal", EVENT, {"rule": "case_when", "cases": [
        {"when": "death is not null", "value": 1}], "else": 0},
         {"D": ["2001-01-01", None]}, [1, 0],
         extra_variables=[{"name": "death", **DATE}],
         extra_rules={"death": {"rule": "date", "column": "D", "format": "iso"}}),
    Case("operation", {"type": "decimal", "unit": "kg/m2"},
         {"rule": "operation", "expression": "w / (h / 100) ** 2", "round": 1},
         {"W": ["70", "80", None], "H": ["175", "0", "180"]}, [22.9, None, None],
         [(2, "division_by_zero")],
         extra_variables=[{"name": "w", **DEC}, {"name": "h", **INT}],
         extra_rules={"w": {"rule": "direct", "column": "W"},
                      "h": {"rule": "direct", "column": "H"}}),
    Case("operation-raw-columns", INT, {"rule": "operation", "expression": "${Age at entry} + 1"},
         {"Age at entry": ["41", "x"]}, [42, None], [(2, "not_a_number")]),
    Case("unit", {"type": "decimal", "unit": "kg"},
         {"rule": "unit", "column": "X", "from": "lb", "missing": [999], "round": 1},
         {"X": ["150", "abc", "999", 200.0]}, [68.0, None, None, 90.7], [(2, "not_a_number")]),
    Case("unit-analyte", {"type": "decimal", "unit": "g/dL", "analyte": "haemoglobin"},
         {"rule": "unit", "column": "X", "from": "mmol/L", "round": 1},
         {"X": ["8.38", "7.0"]}, [13.5, 11.3]),
    Case("unit-to-integer-needs-round", {"type": "integer", "unit": "umol/L"},
         {"rule": "unit", "column": "X", "from": "mg/dL", "analyte": "creatinine"},
         {"X": ["1", "1.13"]}, [None, None], [(1, "not_whole_number"), (2, "not_whole_number")]),
    Case("date", DATE, {"rule": "date", "column": "X", "format": "%d/%m/%Y", "missing": ["ND"]},
         {"X": ["17/02/2003", "31/02/2003", "ND", "7/2/2003"]},
         [T("2003-02-17"), None, None, T("2003-02-07")], [(2, "not_a_date")]),
    Case("date-native", DATE, {"rule": "date", "column": "X", "format": "native"},
         {"X": [dt.date(2003, 2, 17), pd.Timestamp("2003-02-18 10:00"), "x"]},
         [T("2003-02-17"), T("2003-02-18"), None], [(3, "not_a_date")]),
    Case("derive-days_between", INT, {"rule": "derive", "function": "days_between",
                                      "start": "r", "end": {"coalesce": ["d", "f"]}},
         {"R": ["2001-01-01", "2001-01-01", None], "D": ["2001-02-01", None, None],
          "F": ["2002-01-01", "2002-01-01", "2002-01-01"]}, [31, 365, None],
         extra_variables=[{"name": n, **DATE} for n in "rdf"],
         extra_rules={n: {"rule": "date", "column": n.upper(), "format": "iso"} for n in "rdf"}),
    Case("derive-earliest", INT, {"rule": "derive", "function": "days_between", "start": "r",
                                  "end": {"earliest": [{"column": "A", "format": "iso"},
                                                       {"column": "B", "format": "iso"}]}},
         {"R": ["2001-01-01", "2001-01-01"], "A": ["2001-03-01", None],
          "B": ["2001-02-01", "2001-01-11"]}, [31, 10],
         extra_variables=[{"name": "r", **DATE}],
         extra_rules={"r": {"rule": "date", "column": "R", "format": "iso"}}),
    Case("derive-age_at", {"type": "integer", "unit": "years"},
         {"rule": "derive", "function": "age_at", "birth": {"column": "BYM", "format": "%Y-%m"},
          "at": "r"},
         {"BYM": ["1948-07", "1948-07", "1948-13"], "R": ["2003-06-30", "2003-07-01", "2003-07-01"]},
         [54, 55, None], [(3, "not_a_date")],
         extra_variables=[{"name": "r", **DATE}],
         extra_rules={"r": {"rule": "date", "column": "R", "format": "iso"}}),
    Case("derive-age_at-two-columns", INT,
         {"rule": "derive", "function": "age_at", "birth": {"expression": "make_date($Y, $M)"},
          "at": {"column": "R", "format": "iso"}},
         {"Y": ["1948", "1948"], "M": ["7", "7"], "R": ["2003-06-30", "2003-07-01"]}, [54, 55]),
    Case("derive-event_from_date", EVENT, {"rule": "derive", "function": "event_from_date",
                                           "date": {"coalesce": [{"column": "REC", "format": "iso"},
                                                                 {"column": "DTH", "format": "iso"}]}},
         {"REC": ["2001-01-01", None, None], "DTH": [None, "2002-01-01", None]}, [1, 1, 0]),
    Case("derive-months_to_days", {"type": "integer", "unit": "days"},
         {"rule": "derive", "function": "months_to_days", "value": {"column": "M"}},
         {"M": ["2", "0.5", "x"]}, [61, 15, None], [(3, "not_a_number")]),
    Case("derive-to_days", INT, {"rule": "derive", "function": "to_days",
                                 "value": {"column": "W"}, "unit": "weeks"},
         {"W": ["2", "1.5"]}, [14, 11]),
    Case("derive-years_between", DEC, {"rule": "derive", "function": "years_between",
                                       "start": {"column": "A", "format": "iso"},
                                       "end": {"column": "B", "format": "iso"}, "round": 2},
         {"A": ["2000-01-01"], "B": ["2001-01-01"]}, [1.0]),
    Case("derive-date_plus_days", DATE, {"rule": "derive", "function": "date_plus_days",
                                         "start": {"column": "R", "format": "iso"},
                                         "days": {"column": "N"}},
         {"R": ["2001-01-01", "2001-01-01", None], "N": ["30", None, "5"]},
         [T("2001-01-31"), None, None]),
    Case("constant", SEX, {"rule": "constant", "value": 9}, {"X": [1, 2]}, [9, 9]),
    Case("constant-date", DATE, {"rule": "constant", "value": "2001-05-01"}, {"X": [1]},
         [T("2001-05-01")]),
    Case("impossible", SEX, {"rule": "impossible", "comment": "not collected"}, {"X": ["1"]},
         [None]),
    Case("undetermined", SEX, {"rule": "undetermined"}, {"X": ["1"]}, [None]),
    Case("id_creation", INT, {"rule": "impossible"}, {"X": [1, 2, 3]}, [None, None, None]),
    Case("aggregate-min-date-where", DATE,
         {"rule": "aggregate", "take": "min", "dataset": "ev",
          "value": {"column": "D", "format": "iso"}, "where": "$T == 'y'"},
         {"X": ["a", "b", "c"]}, [T("2001-01-05"), T("2001-02-01"), None],
         datasets={"ev": {"ID": ["P1", "P1", "P2", "P3", "P1"],
                          "D": ["2001-03-01", "2001-01-05", "2001-02-01", None, "2000-01-01"],
                          "T": ["y", "y", "y", "y", "n"]}}),
    Case("aggregate-count", INT, {"rule": "aggregate", "take": "count", "dataset": "ev"},
         {"X": ["a", "b", "c", "d"]}, [2, 1, 0, 0],
         datasets={"ev": {"ID": ["P1", "P2", "P1", "P9"]}}),
    Case("aggregate-one-to-one-direct", INT, {"rule": "direct", "dataset": "bl", "column": "AGE"},
         {"X": ["a", "b", "c"]}, [61, None, 47],
         datasets={"bl": {"ID": ["P3", "P1"], "AGE": ["47", "61"]}},
         joins={"bl": {"join": "one-to-one"}}),
]


def test_cases_cover_every_rule_type() -> None:
    used = {c.rule["rule"] for c in CASES} | {"id_creation"}
    assert used == set(RULE_TYPES)


def _harmonise(case: Case, **kwargs: Any):
    d = make_dictionary({"name": "x", **case.variable}, *case.extra_variables)
    m = make_mapping(d, {"x": case.rule, **case.extra_rules}, source=case.source,
                     datasets={n: case.joins.get(n, {"join": "one-to-many"})
                               for n in case.datasets})
    raw = raw_frame(**case.raw)
    if case.datasets:
        kwargs["datasets"] = {n: pd.DataFrame(cols) for n, cols in case.datasets.items()}
    return d, m, raw, apply_mapping(raw, m, d, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_contract(case: Case) -> None:
    d, m, raw, h = _harmonise(case)
    got = [None if pd.isna(v) else v for v in h.data["x"]]
    assert got == case.expected
    problems = [(r, why) for r, why, v in zip(h.problems["row"], h.problems["reason"],
                                              h.problems["variable"]) if v == "x"]
    assert problems == case.problems
    # the cell of every problem is missing: a value that failed is never passed through
    for row, _ in problems:
        assert pd.isna(h.data["x"].iloc[row - 1])
    # typed as the dictionary says
    assert str(h.data["x"].dtype) == d.variable("x").dtype
    summary = h.summary.set_index("variable").loc["x"]
    assert summary["rule"] == case.rule["rule"]
    assert summary["status"] == {"impossible": "impossible",
                                 "undetermined": "undetermined"}.get(case.rule["rule"], "complete")
    assert summary["n_problems"] == len({r for r, _ in problems})
    assert summary["n_missing"] == sum(v is None for v in case.expected)
    # pure: the same inputs give an identical result
    again = apply_mapping(raw, m, d, datasets={n: pd.DataFrame(cols)
                                               for n, cols in case.datasets.items()} or None)
    pd.testing.assert_frame_equal(again.data, h.data)
    pd.testing.assert_frame_equal(again.problems, h.problems)


def test_result_shape_ids_and_pseudonyms() -> None:
    d = make_dictionary({"name": "x", **SEX})
    m = make_mapping(d, {"x": {"rule": "recode", "column": "X", "map": {"M": 1, "F": 2}}})
    raw = pd.DataFrame({"ID": [" A1", 2.0, None, "A4"], "X": ["M", "F", "F", "Q"]})
    h = apply_mapping(raw, m, d)
    assert list(h.data.columns) == ["participant_id", "trial", "x", "_row"]
    assert h.data["participant_id"].tolist()[:2] == ["A1", "2"]
    assert pd.isna(h.data["participant_id"][2])
    assert h.data["trial"].unique().tolist() == ["T1"] and h.data["_row"].tolist() == [1, 2, 3, 4]
    assert list(h.problems.columns) == list(PROBLEM_COLUMNS)
    assert list(h.summary.columns) == list(SUMMARY_COLUMNS)
    rows = h.problems[["row", "variable", "reason", "value"]].values.tolist()
    assert rows == [[3, "participant_id", "missing_id", ""], [4, "x", "unmatched_code", "Q"]]
    pseudo = apply_mapping(raw, m, d, participant_ids=["p1", "p2", None, "p4"])
    assert pseudo.data["participant_id"].tolist()[:2] == ["p1", "p2"]
    assert pseudo.problems["participant_id"].tolist()[-1] == "p4"
    ex = pseudo.explain("x", participant="p4")
    assert ex.inputs == (("column", "X", "Q"),) and ex.value is None
    assert ex.problems[0]["reason"] == "unmatched_code"
    assert ex.line == m.line("variables", "x")
    assert "unmatched_code" in str(ex)
    ok = pseudo.explain("x", row=1)
    assert ok.value == 1 and ok.label == "Male" and ok.rule == "recode"
    assert pseudo.explain("trial", row=1).rule == "(trial)"
    with pytest.raises(HarmonisationError, match="rows 1 to 4"):
        pseudo.explain("x", row=9)
    d2 = pseudo.to_dict()
    assert d2["trial"] == "T1" and len(d2["problems"]) == 2 and "data" not in d2
    assert "<table" in pseudo._repr_html_() and "2 problems" in repr(pseudo)


def test_explain_shows_derived_inputs() -> None:
    case = next(c for c in CASES if c.id == "operation")
    _, _, _, h = _harmonise(case)
    ex = h.explain("x", row=1)
    assert ex.inputs == (("variable", "w", "70"), ("variable", "h", "175"))
    assert ex.value == pytest.approx(22.9)
    problem = h.problems[h.problems["variable"] == "x"].iloc[0]
    assert problem["value"] == "w=80; h=0" and problem["columns"] == ""


def test_missing_columns_are_all_reported() -> None:
    d = make_dictionary({"name": "x", **INT}, {"name": "y", **INT})
    m = make_mapping(d, {"x": {"rule": "direct", "column": "AGE"},
                         "y": {"rule": "operation", "expression": "$WEIGHT + $AGE"}})
    with pytest.raises(HarmonisationError) as info:
        apply_mapping(pd.DataFrame({"ID": ["1"], "Age": ["3"]}), m, d)
    assert info.value.columns == ["AGE", "WEIGHT"]
    assert "did you mean 'Age'" in info.value.message and "ipdrepo mapping check" in \
        info.value.message


def test_wrong_trial_dictionary_or_id_count() -> None:
    d = make_dictionary({"name": "x", **INT})
    m = make_mapping(d, {"x": {"rule": "impossible"}})
    raw = raw_frame(X=["1"])
    with pytest.raises(HarmonisationError, match="is for trial T1, not T2"):
        apply_mapping(raw, m, d, trial="T2")
    with pytest.raises(HarmonisationError, match="2 participant IDs for 1 rows"):
        apply_mapping(raw, m, d, participant_ids=["a", "b"])
    other = make_dictionary({"name": "x", **INT}, version="2.0.0")
    with pytest.raises(HarmonisationError, match="check the mapping against this version"):
        apply_mapping(raw, m, other)


def test_whole_column_type_clash_names_rule_and_line() -> None:
    d = make_dictionary({"name": "x", **DEC})
    m = make_mapping(d, {"x": {"rule": "operation", "expression": "$D * 2"}})
    raw = pd.DataFrame({"ID": ["1"], "D": pd.to_datetime(["2001-01-01"])})
    with pytest.raises(HarmonisationError, match=r"T1, x \(<mapping>\): .*cannot compute date \* "
                                                 r"number in `\$D \* 2`"):
        apply_mapping(raw, m, d)


_CODES = st.sampled_from(["1", "2", "3", "M", "F", "m", " F", "9", "99", ".", ""])


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), _CODES, st.integers(0, 4), st.floats(0, 3)),
                       min_size=1, max_size=30),
       mapped=st.sets(_CODES, max_size=6), missing=st.sets(_CODES, max_size=3),
       otherwise=st.sampled_from(["error", "missing", 2]))
def test_recode_is_total(values: list[Any], mapped: set[str], missing: set[str],
                         otherwise: Any) -> None:
    """Every observed value is mapped, declared missing, or reported - never silently lost."""
    from harmonise.values.cells import canonical_text

    mapped_keys = sorted({k.strip() for k in mapped if k.strip()} - {m.strip() for m in missing})
    table = {k: 1 + i % 2 for i, k in enumerate(mapped_keys)} or {"ZZ": 1}
    rule: dict[str, Any] = {"rule": "recode", "column": "X", "map": table,
                            "missing": sorted(m for m in missing if m.strip())}
    if otherwise != "error":
        rule["else"] = otherwise
    d = make_dictionary({"name": "x", **SEX})
    m = make_mapping(d, {"x": rule})
    h = apply_mapping(raw_frame(X=values), m, d)
    reported = set(h.problems.loc[h.problems["variable"] == "x", "row"])
    declared_missing = {canonical_text(v) for v in rule["missing"]}
    for i, raw in enumerate(values):
        text = canonical_text(raw)
        out = h.data["x"].iloc[i]
        if text is None or text in declared_missing:
            assert pd.isna(out) and i + 1 not in reported
        elif text in table:
            assert out == table[text] and i + 1 not in reported
        elif otherwise == "error":
            assert pd.isna(out) and i + 1 in reported
        elif otherwise == "missing":
            assert pd.isna(out) and i + 1 not in reported
        else:
            assert out == otherwise and i + 1 not in reported


def test_participant_ids_as_text_whatever_their_column_type():
    """Pseudonyms (text, with blanks), whole numbers and anything else become text IDs; blanks
    stay missing."""
    from harmonise.mapping.engine import _id_texts

    assert _id_texts(pd.Series(["P1", None, np.nan, "P4"])).tolist() == ["P1", None, None, "P4"]
    assert _id_texts(pd.Series([7, 12])).tolist() == ["7", "12"]
    assert _id_texts([1.5, None, "x"]).tolist() == ["1.5", None, "x"]

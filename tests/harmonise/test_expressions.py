"""The safe expression language: what parses, what is refused, static types, and vectorised
evaluation with missing values and reported problems."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonise.expressions.evaluation import evaluate
from harmonise.expressions.functions import FUNCTIONS
from harmonise.expressions.kinds import infer_kind
from harmonise.expressions.language import parse_expression
from harmonise.mapping.source import SourceFrame
from repository.errors import HarmonisationError, SpecError


class Ctx:
    """An evaluation context over a raw frame (``$NAME``) and harmonised variables."""

    def __init__(self, raw: dict[str, list[Any]] | None = None,
                 variables: dict[str, pd.Series] | None = None, decimal: str = ".") -> None:
        raw = raw or {"_": [None] * len(next(iter((variables or {"x": [0]}).values())))}
        self.source = SourceFrame(pd.DataFrame({k: pd.Series(v, dtype=object)
                                                for k, v in raw.items()}), decimal=decimal)
        self.vars = variables or {}
        self.n = self.source.n
        self.index = self.source.index

    def column_value(self, name: str) -> pd.Series:
        return self.source.value(name)

    def variable_value(self, name: str) -> pd.Series:
        return self.vars[name]

    def to_number(self, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        return self.source.to_number(values)


def run(text: str, ctx: Ctx) -> tuple[list[Any], list[tuple[str, list[int]]]]:
    value, issues = evaluate(parse_expression(text), ctx)
    values = [None if pd.isna(v) else v for v in value] if isinstance(value, pd.Series) else value
    return values, [(i.reason, np.flatnonzero(i.mask).tolist()) for i in issues]


V = {
    "w": pd.Series([70.0, 80.0, None, 90.0], dtype="Float64"),
    "h": pd.Series([175, 0, 180, None], dtype="Int64"),
    "r": pd.Series(pd.to_datetime(["2001-01-01", "2002-01-01", None, "2003-01-01"])),
    "d": pd.Series(pd.to_datetime(["2001-02-01", None, None, "2002-01-01"])),
    "b": pd.Series([True, False, None, True], dtype="boolean"),
    "s": pd.Series(["R0", "R1", None, "R0"], dtype="string"),
}


@pytest.mark.parametrize(("text", "values", "issues"), [
    ("w / (h / 100) ** 2", [pytest.approx(22.857142857), None, None, None],
     [("division_by_zero", [1])]),
    ("w + 1", [71.0, 81.0, None, 91.0], []),
    ("h // 7", [25, 0, 25, None], []),
    ("w % (h - 175)", [None, pytest.approx(80 % -175), None, None], [("division_by_zero", [0])]),
    ("-w", [-70.0, -80.0, None, -90.0], []),
    ("d - r", [31, None, None, -365], []),
    ("r + 30", [pd.Timestamp("2001-01-31"), pd.Timestamp("2002-01-31"), None,
                pd.Timestamp("2003-01-31")], []),
    ("d >= r", [True, None, None, False], []),
    ("r >= '2002-01-01'", [False, True, None, True], []),
    ("d is null", [False, True, True, False], []),
    ("d is not null", [True, False, False, True], []),
    ("b and w > 75", [False, False, None, True], []),
    ("b or w > 75", [True, True, None, True], []),
    ("not b", [False, True, None, False], []),
    ("h in (175, 180)", [True, False, True, None], []),
    ("s not in ('R1',)", [True, False, None, True], []),
    ("1 if w > 75 else 0", [0, 1, None, 1], []),
    ("coalesce(d, r)", [pd.Timestamp("2001-02-01"), pd.Timestamp("2002-01-01"), None,
                        pd.Timestamp("2002-01-01")], []),
    ("min(d, r)", [pd.Timestamp("2001-01-01"), pd.Timestamp("2002-01-01"), None,
                   pd.Timestamp("2002-01-01")], []),
    ("max(w, h)", [175.0, 80.0, 180.0, 90.0], []),
    ("round(w / 3, 1)", [23.3, 26.7, None, 30.0], []),
    ("round(2.5) + round(-2.5)", 0, []),
    ("year(r) * 100 + month(r)", [200101, 200201, None, 200301], []),
    ("days_between(r, d)", [31, None, None, -365], []),
    ("log(h)", [pytest.approx(np.log(175)), None, pytest.approx(np.log(180)), None],
     [("invalid_operation", [1])]),
    ("sqrt(w - 75)", [None, pytest.approx(np.sqrt(5)), None, pytest.approx(np.sqrt(15))],
     [("invalid_operation", [0])]),
    ("isnull(s)", [False, False, True, False], []),
    ("upper(s)", ["R0", "R1", None, "R0"], []),
    ("0 <= w <= 85", [True, True, None, False], []),
])
def test_evaluation_over_harmonised_variables(text: str, values: Any,
                                              issues: list[tuple[str, list[int]]]) -> None:
    got, problems = run(text, Ctx(variables=V))
    assert got == values
    assert problems == issues


def test_raw_columns_text_to_numbers_and_dates() -> None:
    ctx = Ctx({"WT LB": ["150", "160,5", "abc", None], "DOB": ["1948-07", "1950-13", None, "1960-01"],
               "Y": ["1948", "1950", "x", None], "M": ["7", "13", "1", "2"]}, decimal=",")
    assert run("round(${WT LB} * 0.45359237, 1)", ctx) == ([68.0, 72.8, None, None],
                                                            [("not_a_number", [2])])
    got, problems = run("date($DOB, '%Y-%m')", ctx)
    assert got == [pd.Timestamp("1948-07-01"), None, None, pd.Timestamp("1960-01-01")]
    assert problems == [("not_a_date", [1])]
    got, problems = run("make_date($Y, $M)", ctx)
    assert got == [pd.Timestamp("1948-07-01"), None, None, None]
    assert sorted(problems) == [("not_a_date", [1]), ("not_a_number", [2])]


def test_columns_and_variables_are_told_apart() -> None:
    e = parse_expression("weight_kg / ${Poids (kg)} + $WT + coalesce(x, 'a $NOT column')")
    assert e.columns == ("Poids (kg)", "WT")
    assert e.variables == ("weight_kg", "x")


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('ls')", "unknown function"),
    ("__import__('os')", "unknown function '__import__'"),
    ("open('f')", "unknown function 'open'"),
    ("().__class__", "attributes"),
    ("w.real", "attributes"),
    ("x[0]", "indexing"),
    ("lambda: 1", "lambda"),
    ("[c for c in x]", "not allowed"),
    ("(y := 1)", ":= is not allowed"),
    ("x is 3", "only test for null"),
    ("x in y", "needs a list of values"),
    ("x in (1, 'a')", "mix numbers and texts"),
    ("x / 0", "division by the constant 0"),
    ("round(x, y)", "digits must be a whole-number literal"),
    ("round(x, digits=1)", "positional arguments only"),
    ("coalesce()", "takes 1 or more argument"),
    ("date(x, '%q')", "unknown strftime directive"),
    ("__col0__ + 1", "reserved"),
    ("1 +", "not a valid expression"),
    ("$", "must be followed by a column name"),
    ("${}", "empty column name"),
    ("'open", "not closed"),
    ("", "non-empty"),
    ("x & y", "not allowed"),
])
def test_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_expression(text)
    assert message in info.value.problems[0].message
    assert info.value.problems[0].key == "expression"


def test_every_function_is_documented_and_callable() -> None:
    for name, spec in FUNCTIONS.items():
        args = ", ".join(["x"] * spec.min_args) if name != "round" else "x"
        if name in ("date", "make_date", "days_between", "contains", "startswith"):
            continue
        parse_expression(f"{name}({args})")
    docs = (__import__("pathlib").Path(__file__).resolve().parents[2] / "docs" /
            "mapping-format.md").read_text(encoding="utf-8")
    for name in FUNCTIONS:
        assert f"`{name}(" in docs, f"{name} is not documented in docs/mapping-format.md"


@pytest.mark.parametrize(("text", "kind", "clash"), [
    ("rand_date * 2", "any", "cannot compute date * number"),
    ("death_date > 3", "bool", "compares a date with a number"),
    ("weight_kg and sex", "bool", "need true/false"),
    ("1 if weight_kg else 0", "number", "not true/false"),
    ("year(weight_kg)", "number", "year() needs a date"),
    ("coalesce(rand_date, weight_kg)", "date", "mixes"),
    ("rand_date - death_date", "number", None),
    ("rand_date + 30", "date", None),
    ("death_date >= '2001-01-01'", "bool", None),
    ("$X * rand_date", "any", None),
])
def test_static_types(text: str, kind: str, clash: str | None) -> None:
    kinds = {"rand_date": "date", "death_date": "date", "weight_kg": "number", "sex": "number"}
    got, problems = infer_kind(parse_expression(text), kinds)
    assert got == kind
    assert (problems == []) if clash is None else any(clash in p for p in problems)


def test_whole_column_type_clash_raises() -> None:
    ctx = Ctx(variables=V)
    with pytest.raises(HarmonisationError, match="cannot compute date"):
        evaluate(parse_expression("r * 2"), ctx)


_OPS = st.sampled_from(["+", "-", "*"])


@settings(max_examples=150, deadline=None)
@given(a=st.lists(st.one_of(st.none(), st.floats(-1e3, 1e3)), min_size=1, max_size=12),
       op1=_OPS, op2=_OPS, k=st.floats(-10, 10))
def test_arithmetic_matches_numpy_and_propagates_missing(a: list[float | None], op1: str,
                                                        op2: str, k: float) -> None:
    x = pd.Series(a, dtype="Float64")
    y = x * 2 - 1
    ctx = Ctx(variables={"x": x, "y": y})
    got, problems = run(f"x {op1} y {op2} {k!r}", ctx)
    import operator

    fns = {"+": operator.add, "-": operator.sub, "*": operator.mul}
    xa = x.to_numpy(dtype=float, na_value=np.nan)
    ya = y.to_numpy(dtype=float, na_value=np.nan)
    # Python precedence: * binds tighter than + and -
    if op2 == "*" and op1 != "*":
        expected = fns[op1](xa, ya * k)
    else:
        expected = fns[op2](fns[op1](xa, ya), k)
    assert problems == []
    for g, e, missing in zip(got, expected, x.isna()):
        if missing:
            assert g is None
        else:
            assert g == pytest.approx(e, rel=1e-12, abs=1e-9)


def test_frame_context_evaluates_dictionary_rules_on_harmonised_tables() -> None:
    from harmonise.expressions.evaluation import FrameContext

    frame = pd.DataFrame({"a": pd.Series([1, 5, None], dtype="Int64"),
                          "b": pd.Series([2, 3, 4], dtype="Int64")}).set_axis([10, 11, 12])
    value, issues = evaluate(parse_expression("a <= b"), FrameContext(frame))
    assert [None if pd.isna(v) else bool(v) for v in value] == [True, False, None]
    assert issues == []
    with pytest.raises(HarmonisationError, match="harmonised variables only"):
        evaluate(parse_expression("$A > 1"), FrameContext(frame))
    with pytest.raises(HarmonisationError, match="no column 'c'"):
        evaluate(parse_expression("c > 1"), FrameContext(frame))

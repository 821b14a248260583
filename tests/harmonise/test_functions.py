"""The expression language's function registry: one contract over every registered function,
and parsing that is safe from several threads at once."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pandas as pd
import pytest

from harmonise.expressions.coercion import value_kind
from harmonise.expressions.evaluation import FrameContext, evaluate
from harmonise.expressions.functions import FUNCTIONS
from harmonise.expressions.kinds import infer_kind
from harmonise.expressions.language import PARSE_LOCK, parse_expression, unparse
from repository.errors import SpecError

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "mapping-format.md").read_text(
    encoding="utf-8")

#: the variables the registry's examples are written over, and their kinds
SAMPLE = pd.DataFrame({
    "x": pd.array([1.5, 4.0, None, 2.25, 9.0], dtype="Float64"),
    "y": pd.array([1999, 2004, 2010, None, 2020], dtype="Int64"),
    "d": pd.to_datetime(["2001-01-01", None, "2010-10-10", "2000-02-29", "1980-01-01"]),
    "e": pd.to_datetime(["2002-03-01", "1999-05-05", None, "2000-03-01", "1981-01-02"]),
    "t": pd.array(["2001-02-03", " Abc ", None, "2020-12-31", "7"], dtype="string"),
})
KINDS = {"x": "number", "y": "number", "d": "date", "e": "date", "t": "text"}


def _call(name: str, n: int) -> str:
    return f"{name}({', '.join(['x'] * n)})"


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_function_keeps_the_registry_contract(name: str) -> None:
    """Declared once, a function is documented, parsed with its arity, typed statically as it
    evaluates, and passes missing values on."""
    f = FUNCTIONS[name]
    assert f.name == name and f.doc and f"`{name}(" in DOCS, "documented in mapping-format.md"
    # the example calls the function; its static kind, without clash, is the kind it evaluates to
    expr = parse_expression(f.example)
    call = expr.tree.body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name
    kind, clashes = infer_kind(expr, KINDS)
    assert clashes == [] and kind in ("number", "date", "bool", "text")
    value, _issues = evaluate(expr, FrameContext(SAMPLE))
    assert isinstance(value, pd.Series) and len(value) == len(SAMPLE)
    assert value_kind(value) == kind, f"{f.example}: declared {kind}, evaluates to {value.dtype}"
    # arity: one argument too few, one too many, are refused naming the function
    for n in (f.min_args - 1, *(() if f.max_args is None else (f.max_args + 1,))):
        with pytest.raises(SpecError, match=rf"{name}\(\) takes .* argument\(s\), got {n}"):
            parse_expression(_call(name, n))
    # missing in, missing out (isnull/notnull answer about it); a function whose other
    # arguments must be literals (contains) gets the example's
    args = ["null"] * f.min_args
    if f.check([ast.Name("null")] * f.min_args) is not None:
        args[1:] = [ast.unparse(a) for a in call.args[1:f.min_args]]
    nulls, _ = evaluate(parse_expression(f"{name}({', '.join(args)})"), FrameContext(SAMPLE))
    if name in ("isnull", "notnull"):
        assert nulls.tolist() == [name == "isnull"] * len(SAMPLE)
    else:
        assert nulls is None or nulls.isna().all()


def test_the_checker_names_exactly_the_registered_functions() -> None:
    with pytest.raises(SpecError) as info:
        parse_expression("rond(x)")
    message = info.value.problems[0].message
    assert "did you mean 'round'" in message or "'round'" in message
    assert message.endswith("functions: " + ", ".join(FUNCTIONS))


def test_parsing_holds_the_lock_around_pythons_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11 could fail with "AST constructor recursion depth mismatch" when two
    threads ran its parser at once: the parser runs under PARSE_LOCK."""
    held: list[bool] = []
    real = ast.parse

    def watched(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        held.append(PARSE_LOCK.locked())
        return real(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", watched)
    parse_expression("weight_kg / (height_cm / 100) ** 2")
    assert held == [True]
    assert not PARSE_LOCK.locked()
    with pytest.raises(SpecError):
        parse_expression("1 +")  # a syntax error releases the lock too
    assert held == [True, True] and not PARSE_LOCK.locked()


def test_expressions_parse_in_many_threads_at_once() -> None:
    texts = ["(" * 60 + "x" + ")" * 60 + " + 1",
             " + ".join(f"coalesce($C{i}, v{i}) * {i}" for i in range(40)),
             "round(days_between(rand_date, ${Death date}) / 365.25, 1) if $DIED == 1 else null",
             "x in (1, 2, 3) and not (y is null) or lower(strip($NAME)) == 'abc'"]
    expected = [(e.text, e.columns, e.variables, unparse(e.tree, e.placeholders))
                for e in map(parse_expression, texts)]
    threads, barrier = 8, threading.Barrier(8)
    results: list[list[tuple]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            barrier.wait()
            for _ in range(40):
                for t in texts:
                    e = parse_expression(t)
                    results[k].append((e.text, e.columns, e.variables,
                                       unparse(e.tree, e.placeholders)))
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    for k in range(threads):
        assert results[k] == expected * 40


def test_round_and_date_check_their_literal_arguments_from_the_registry() -> None:
    for text, message in (("round(x, 1.5)", "digits must be a whole-number literal"),
                          ("round(x, 16)", "digits is 16; use -15 to 15"),
                          ("date(x, fmt)", "the format must be a quoted literal"),
                          ("date(x, 'YYYY')", "unknown date format 'YYYY'")):
        with pytest.raises(SpecError, match=message):
            parse_expression(text)
    assert parse_expression("round(x, -15)").variables == ("x",)
    value, _ = evaluate(parse_expression("round(x, -1)"), FrameContext(SAMPLE))
    assert value.tolist() == [0, 0, pd.NA, 0, 10]

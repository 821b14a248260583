"""The functions of the expression language: one registry, each function declared once.

A :class:`Function` holds everything about one function: its arity, what it does, an example
call, its static type rule (the kind of the result from the kinds of the arguments, and the
clashes), the checks of its literal arguments (``round``'s digits, ``date``'s format) and its
evaluator, vectorised over the rows. The parser checks calls against :data:`FUNCTIONS`
(:mod:`harmonise.expressions.language`), the type inference reads its rules
(:mod:`harmonise.expressions.kinds`) and the evaluator calls its evaluators
(:mod:`harmonise.expressions.evaluation`): adding a function is adding one entry here (and a
row in docs/mapping-format.md; a contract test checks every entry).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonise.expressions.coercion import Clash, Coercer, na_mask, value_kind
from harmonise.expressions.literals import literal_kind, literal_value
from harmonise.values.cells import bool_array, canonical_text, float_array
from harmonise.values.dates import calendar_dates, check_format, days_between, parse_dates

__all__ = ["Function", "FUNCTIONS", "KindCall", "MAX_ROUND_DIGITS", "MAX_WHOLE_NUMBER",
           "round_half_away"]

#: ``round(x, digits)``: digits from -MAX_ROUND_DIGITS to MAX_ROUND_DIGITS (a float has 15-17)
MAX_ROUND_DIGITS = 15
#: largest whole number ``round``/``floor``/``ceil`` give (2**53: exact in a 64-bit float)
MAX_WHOLE_NUMBER = 2**53


@dataclass
class KindCall:
    """One call seen by the type inference: the function's name, the kinds of its arguments,
    the call's text, and the clashes found so far (rules append theirs)."""

    name: str
    args: list[str]
    text: str
    problems: list[str]

    def need(self, accepted: frozenset[str], kind: str, what: str) -> None:
        """Report ``kind`` unless it is accepted (or unknown: any, null)."""
        if kind not in accepted | {"any", "null"}:
            self.problems.append(f"{self.name}() needs {what}, got a {kind} in `{self.text}`")


#: the static type rule of a function: the kind of its result (clashes go to the call)
KindRule = Callable[[KindCall], str]
#: the check of a call's literal arguments: a message saying what is wrong, or None
ArgCheck = Callable[[Sequence[ast.AST]], str | None]
#: the evaluator of a function: argument values -> the result (``where``: the call's text)
Evaluator = Callable[[Coercer, list[Any], str], Any]


def _no_check(_args: Sequence[ast.AST]) -> str | None:
    return None


@dataclass(frozen=True)
class Function:
    """One function of the language (see the module docstring)."""

    name: str
    min_args: int
    max_args: int | None
    doc: str
    example: str
    kind: KindRule
    evaluate: Evaluator
    check: ArgCheck = _no_check

    def arity_problem(self, n: int) -> str | None:
        """What is wrong with calling the function with ``n`` arguments (None: nothing)."""
        if self.min_args <= n and (self.max_args is None or n <= self.max_args):
            return None
        want = (f"{self.min_args}" if self.max_args == self.min_args else
                f"{self.min_args} or more" if self.max_args is None else
                f"{self.min_args} to {self.max_args}")
        return f"{self.name}() takes {want} argument(s), got {n}"


# --- static type rules ----------------------------------------------------------------------

def _same_kind(*, orderable: bool) -> KindRule:
    """Arguments of one kind, the result of that kind (numbers or dates when ``orderable``)."""
    def rule(call: KindCall) -> str:
        known = list(dict.fromkeys(a for a in call.args if a not in ("any", "null")))
        if len(known) > 1:
            call.problems.append(f"{call.name}() mixes {' and '.join(sorted(known))} in "
                                 f"`{call.text}`")
        if orderable:
            for a in known:
                call.need(frozenset({"number", "date"}), a, "numbers or dates")
        return next(iter(known), "any")
    return rule


def _takes(accepted: set[str], what: str, result: str, *, every: bool = False) -> KindRule:
    """The first argument (``every``: each one) of ``accepted`` kinds; the result ``result``."""
    kinds = frozenset(accepted)

    def rule(call: KindCall) -> str:
        for a in call.args if every else call.args[:1]:
            call.need(kinds, a, what)
        return result
    return rule


def _gives(result: str) -> KindRule:
    """Any arguments; the result ``result``."""
    return lambda _call: result


# --- checks of literal arguments -------------------------------------------------------------

def _round_digits(args: Sequence[ast.AST]) -> str | None:
    if len(args) != 2:
        return None
    digits = args[1]
    if literal_kind(digits) != "number" or not isinstance(literal_value(digits), int):
        return "round(x, digits): digits must be a whole-number literal"
    if abs(literal_value(digits)) > MAX_ROUND_DIGITS:
        return (f"round(x, digits): digits is {literal_value(digits)}; use -{MAX_ROUND_DIGITS} "
                f"to {MAX_ROUND_DIGITS} (a 64-bit number has 15-17 significant digits)")
    return None


def _date_format(args: Sequence[ast.AST]) -> str | None:
    if len(args) != 2:
        return None
    fmt = args[1]
    if not (isinstance(fmt, ast.Constant) and isinstance(fmt.value, str)):
        return "date(x, format): the format must be a quoted literal"
    return check_format(fmt.value)


def _quoted_texts(args: Sequence[ast.AST]) -> str | None:
    if all(isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value
           for a in args[1:]):
        return None
    return "contains(x, 'A', ...)/startswith(x, 'A', ...): the texts searched for must be " \
           "quoted, non-empty literals"


# --- evaluators ------------------------------------------------------------------------------

def _coalesce(ev: Coercer, args: list[Any], where: str) -> Any:
    present = [a for a in args if a is not None]
    if not present:
        return None
    kinds = {value_kind(a) for a in present}
    if "number" in kinds and "text" in kinds:
        present = [ev.number(a, where) for a in present]
    out = ev.series(present[0])
    for a in present[1:]:
        out = out.fillna(a) if not isinstance(a, pd.Series) else out.where(out.notna(), a)
    return out


def _extreme(name: str) -> Evaluator:
    """``min`` or ``max`` of the non-missing arguments, row by row."""
    def run(ev: Coercer, args: list[Any], where: str) -> Any:
        present = [a for a in args if a is not None]
        if not present:
            return None
        kinds = {value_kind(a) for a in present}
        if kinds <= {"number", "text"}:
            present = [ev.series(ev.number(a, where), "Float64") for a in present]
        elif kinds == {"date"}:
            present = [ev.series(a, "datetime64[ns]") for a in present]
        else:
            raise Clash(f"{name}() needs numbers or dates, got {', '.join(sorted(kinds))}")
        frame = pd.concat(present, axis=1)
        return frame.min(axis=1, skipna=True) if name == "min" else frame.max(axis=1,
                                                                              skipna=True)
    return run


def _missing(want: bool) -> Evaluator:
    """``isnull`` (``want``) or ``notnull``."""
    def run(ev: Coercer, args: list[Any], where: str) -> Any:
        isna = na_mask(args[0], ev.n)
        return pd.Series(bool_array(isna if want else ~isna), index=ev.index)
    return run


def _date_part(name: str) -> Evaluator:
    """``year``, ``month`` or ``day`` of a date."""
    def run(ev: Coercer, args: list[Any], where: str) -> Any:
        d = ev.date(args[0], where)
        if d is None:
            return None
        if not isinstance(d, pd.Series):
            return getattr(d, name)
        return getattr(d.dt, name).astype("Int64")
    return run


def _to_date(ev: Coercer, args: list[Any], where: str) -> Any:
    fmt = args[1] if len(args) == 2 else "iso"
    x = args[0]
    if x is None or value_kind(x) == "date":
        return x
    s = ev.series(x)
    out, bad = parse_dates(s.astype(object), fmt)
    ev.issue(bad, "not_a_date", f"not a date in format {fmt!r} (in {where})")
    return out


def _days_between(ev: Coercer, args: list[Any], where: str) -> Any:
    a, b = ev.date(args[0], where), ev.date(args[1], where)
    if a is None or b is None:
        return None
    return days_between(ev.series(a, "datetime64[ns]"), ev.series(b, "datetime64[ns]"))


def _make_date(ev: Coercer, args: list[Any], where: str) -> Any:
    parts = [ev.number(a, where) for a in args]
    if len(parts) == 2:
        parts.append(1)
    if any(p is None for p in parts):
        return None
    arrays = [ev.series(p, "Float64").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
              for p in parts]
    y, m, d = arrays
    present = ~(np.isnan(y) | np.isnan(m) | np.isnan(d))
    whole = present & (np.floor(y) == y) & (np.floor(m) == m) & (np.floor(d) == d)
    ok = whole & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31) & (y >= 1800) & (y <= 2200)
    out = np.full(ev.n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if ok.any():
        built, real = calendar_dates(y[ok].astype(np.int64), m[ok].astype(np.int64),
                                     d[ok].astype(np.int64))
        out[np.flatnonzero(ok)] = built
        ok[np.flatnonzero(ok)[~real]] = False
    ev.issue(present & ~ok, "not_a_date", f"not a real date (in {where})")
    return pd.Series(out, index=ev.index)


def _number(ev: Coercer, args: list[Any], where: str) -> Any:
    return ev.number(args[0], where)


def _text(name: str) -> Evaluator:
    """``text`` (the value as text), ``lower``, ``upper`` or ``strip``."""
    def run(ev: Coercer, args: list[Any], where: str) -> Any:
        x = args[0]
        if x is None:
            return None
        if not isinstance(x, pd.Series):
            t = canonical_text(x)
            return None if t is None else getattr(t, name)() if name != "text" else t
        if value_kind(x) == "text":
            s = x.astype("string")
        else:
            s = pd.Series([canonical_text(v) for v in x], index=x.index, dtype="string")
        if name == "text":
            return s
        return getattr(s.str, name)()
    return run


def _search(name: str) -> Evaluator:
    """``contains``/``startswith``: per distinct text, whether it holds (starts with) any of the
    literal texts; missing stays missing."""
    def hit(t: str | None, needles: list[str]) -> bool:
        if t is None:
            return False
        return any((t.startswith(s) if name == "startswith" else s in t) for s in needles)

    def run(ev: Coercer, args: list[Any], where: str) -> Any:
        x, needles = args[0], [str(a) for a in args[1:]]
        if x is None:
            return None
        if not isinstance(x, pd.Series):
            t = canonical_text(x)
            return None if t is None else hit(t, needles)
        codes, uniques = pd.factorize(x.to_numpy(dtype=object), use_na_sentinel=True)
        found = np.array([hit(canonical_text(u), needles) for u in uniques], dtype=bool)
        values = found[np.maximum(codes, 0)] if len(found) else np.zeros(len(codes), bool)
        return pd.Series(pd.arrays.BooleanArray(values, codes < 0), index=x.index)
    return run


def _whole(ev: Coercer, values: pd.Series, where: str) -> pd.Series:
    """Values that can become whole numbers; larger ones are reported and become missing."""
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    huge = ~np.isnan(arr) & ~(np.abs(arr) <= MAX_WHOLE_NUMBER)
    if huge.any():
        ev.issue(huge, "invalid_operation", f"too large for a whole number (over 2**53) in "
                 f"{where}")
        return values.mask(huge)
    return values


def _round(ev: Coercer, args: list[Any], where: str) -> Any:
    x = ev.number(args[0], where)
    if x is None:
        return None
    digits = int(args[1]) if len(args) == 2 else 0
    if digits <= 0:
        x = _whole(ev, ev.series(x, "Float64").astype("Float64"), where) \
            if isinstance(x, pd.Series) else x
        if not isinstance(x, pd.Series) and not abs(float(x)) <= MAX_WHOLE_NUMBER:
            raise Clash(f"{float(x):g} in {where} is too large for a whole number")
    return round_half_away(x, digits)


def _abs(ev: Coercer, args: list[Any], where: str) -> Any:
    x = ev.number(args[0], where)
    return None if x is None else abs(x)


#: the computation of a numeric function over an array of floats (``present``: not missing)
Compute = Callable[[Coercer, np.ndarray, np.ndarray, str], np.ndarray]


def _math(compute: Compute, *, whole: bool = False) -> Evaluator:
    """A numeric function of one number, over 64-bit floats; ``whole``: its results are whole
    numbers (checked against MAX_WHOLE_NUMBER)."""
    def run(ev: Coercer, args: list[Any], where: str) -> Any:
        x = ev.number(args[0], where)
        if x is None:
            return None
        arr = ev.series(x, "Float64").astype("Float64")
        values = arr.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
        with np.errstate(all="ignore"):
            out = compute(ev, values, present, where)
        result = pd.Series(float_array(out), index=arr.index)
        if whole:
            return _whole(ev, result, where)
        return ev.finite(result, where) if isinstance(args[0], pd.Series) else (
            None if pd.isna(result.iloc[0]) else float(result.iloc[0]))
    return run


def _sqrt(ev: Coercer, values: np.ndarray, present: np.ndarray, where: str) -> np.ndarray:
    ev.issue(present & (values < 0), "invalid_operation",
             f"square root of a negative number in {where}")
    return np.sqrt(np.where(values < 0, np.nan, values))


def _logarithm(fn: Callable[[np.ndarray], np.ndarray]) -> Compute:
    def compute(ev: Coercer, values: np.ndarray, present: np.ndarray, where: str) -> np.ndarray:
        ev.issue(present & (values <= 0), "invalid_operation",
                 f"logarithm of a number <= 0 in {where}")
        return fn(np.where(values <= 0, np.nan, values))
    return compute


def _elementwise(fn: Callable[[np.ndarray], np.ndarray]) -> Compute:
    return lambda _ev, values, _present, _where: fn(values)


def round_half_away(x: Any, digits: int = 0) -> Any:
    """Round half away from zero (``round(2.5) == 3``, ``round(-2.5) == -3``); keeps missing."""
    scale = 10.0 ** digits
    if isinstance(x, pd.Series):
        floats = x if x.dtype == "Float64" else x.astype("Float64")
        values = floats.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            scaled = np.round(values * scale, 9)
            out = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / scale
        if digits <= 0:
            missing = ~np.isfinite(out)
            if (np.abs(out[~missing]) < 2.0 ** 53).all():  # exact as int64: no checked cast
                return pd.Series(pd.arrays.IntegerArray(
                    np.where(missing, 0, out).astype(np.int64), missing), index=x.index)
            return pd.Series(float_array(out), index=x.index).astype("Int64")
        return pd.Series(float_array(out), index=x.index)
    scaled = round(float(x) * scale, 9)
    out = float(np.sign(scaled) * np.floor(abs(scaled) + 0.5) / scale)
    return int(out) if digits <= 0 else out


# --- the registry ----------------------------------------------------------------------------

_NUMBER = _takes({"number", "text"}, "a number", "number")
_DATE_PART = _takes({"date"}, "a date", "number")


def _declare(*functions: Function) -> Mapping[str, Function]:
    return {f.name: f for f in functions}


#: function name -> its declaration; the order is the order of the documentation
FUNCTIONS: Mapping[str, Function] = _declare(
    Function("coalesce", 1, None, "the first argument that is not missing", "coalesce(x, y)",
             _same_kind(orderable=False), _coalesce),
    Function("min", 1, None, "the smallest non-missing argument (numbers or dates)",
             "min(x, y)", _same_kind(orderable=True), _extreme("min")),
    Function("max", 1, None, "the largest non-missing argument (numbers or dates)",
             "max(d, e)", _same_kind(orderable=True), _extreme("max")),
    Function("round", 1, 2, "round(x, digits=0): half away from zero", "round(x, 1)",
             _NUMBER, _round, _round_digits),
    Function("abs", 1, 1, "absolute value", "abs(x)", _NUMBER, _abs),
    Function("floor", 1, 1, "largest whole number <= x", "floor(x)", _NUMBER,
             _math(_elementwise(np.floor), whole=True)),
    Function("ceil", 1, 1, "smallest whole number >= x", "ceil(x)", _NUMBER,
             _math(_elementwise(np.ceil), whole=True)),
    Function("sqrt", 1, 1, "square root (negative x is reported)", "sqrt(x)", _NUMBER,
             _math(_sqrt)),
    Function("log", 1, 1, "natural logarithm (x <= 0 is reported)", "log(x)", _NUMBER,
             _math(_logarithm(np.log))),
    Function("log10", 1, 1, "base-10 logarithm (x <= 0 is reported)", "log10(x)", _NUMBER,
             _math(_logarithm(np.log10))),
    Function("exp", 1, 1, "e to the power x", "exp(x)", _NUMBER, _math(_elementwise(np.exp))),
    Function("year", 1, 1, "the year of a date", "year(d)", _DATE_PART, _date_part("year")),
    Function("month", 1, 1, "the month (1-12) of a date", "month(d)", _DATE_PART,
             _date_part("month")),
    Function("day", 1, 1, "the day of the month of a date", "day(d)", _DATE_PART,
             _date_part("day")),
    Function("date", 1, 2, "date(x, format='iso'): parse text or numbers as a date (formats "
             "as in the date rule)", "date(t, '%Y-%m-%d')",
             _takes({"text", "number", "date"}, "text, a number or a date", "date"), _to_date,
             _date_format),
    Function("days_between", 2, 2, "days_between(start, end): end - start in whole days",
             "days_between(d, e)", _takes({"date"}, "dates", "number", every=True),
             _days_between),
    Function("make_date", 2, 3, "make_date(year, month, day=1): a date from its parts "
             "(impossible dates are reported)", "make_date(y, x, 1)",
             _takes({"number", "text"}, "whole numbers (year, month, day)", "date",
                    every=True), _make_date),
    Function("number", 1, 1, "parse text as a number (with the source's decimal mark)",
             "number(t)", _gives("number"), _number),
    Function("text", 1, 1, "the value as text (1.0 -> '1')", "text(x)", _gives("text"),
             _text("text")),
    Function("lower", 1, 1, "text in lower case", "lower(t)", _gives("text"), _text("lower")),
    Function("upper", 1, 1, "text in upper case", "upper(t)", _gives("text"), _text("upper")),
    Function("strip", 1, 1, "text without surrounding spaces", "strip(t)", _gives("text"),
             _text("strip")),
    Function("isnull", 1, 1, "true where x is missing", "isnull(x)", _gives("bool"),
             _missing(True)),
    Function("notnull", 1, 1, "true where x is present", "notnull(t)", _gives("bool"),
             _missing(False)),
    Function("contains", 2, None, "contains(x, 'A', 'B', ...): true where the text x holds any "
             "of the quoted texts (case-sensitive)", "contains(t, 'Abc', '20')",
             _takes({"text"}, "text", "bool"), _search("contains"), _quoted_texts),
    Function("startswith", 2, None, "startswith(x, 'A', ...): true where the text x starts "
             "with any of the quoted texts", "startswith(t, ' A', '7')",
             _takes({"text"}, "text", "bool"), _search("startswith"), _quoted_texts),
)

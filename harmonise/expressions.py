"""The safe expression language of mapping rules and dictionary cross-variable rules.

Expressions are parsed with Python's :mod:`ast` and evaluated by walking a whitelisted tree;
nothing is ever passed to ``eval``/``exec``. Evaluation is vectorised over pandas Series, with
missing values propagating (SQL-like three-valued logic for ``and``/``or``).

Syntax (documented for users in docs/mapping-format.md):

* ``weight_kg`` - a *harmonised* variable (a dictionary variable mapped by another rule);
* ``$WT_LB`` - a *raw* column of the delivery; ``${Patient number}`` for any column name
  (spaces, dots, a leading digit ...). ``$`` is the only way to reach raw data, so raw and
  harmonised names can never be confused;
* literals: ``12``, ``0.5``, ``'text'`` or ``"text"``, ``true``, ``false``, ``null``;
* arithmetic ``+ - * / // % **``; comparisons ``== != < <= > >=`` (chains allowed);
  ``and``, ``or``, ``not``; ``x in (1, 2, 3)``, ``x not in ('a', 'b')``;
  ``x is null``, ``x is not null``; ``a if condition else b``;
* dates: ``date - date`` is a number of days, ``date + n`` / ``date - n`` add days (rounded to
  whole days), dates compare with dates and with ISO literals (``rand_date >= '1990-01-01'``);
* functions (:data:`FUNCTIONS`): ``coalesce``, ``min``, ``max``, ``round``, ``abs``, ``floor``,
  ``ceil``, ``sqrt``, ``log``, ``log10``, ``exp``, ``year``, ``month``, ``day``, ``date``,
  ``days_between``, ``number``, ``text``, ``lower``, ``upper``, ``strip``, ``isnull``,
  ``notnull``.

Text meeting a number (``$AGE + 1`` on a CSV column) is parsed as a number; values that do not
parse are *reported* as problems and become missing. Division by zero and operations outside
their domain are reported the same way.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from harmonise.dates import add_days, days_between, parse_dates
from harmonise.problems import Issue
from harmonise.values import canonical_text, parse_booleans
from repository.errors import HarmonisationError, SpecError, SpecProblem

__all__ = [
    "Expression",
    "EvalContext",
    "FUNCTIONS",
    "KINDS",
    "parse_expression",
    "infer_kind",
    "evaluate",
    "literal_kind",
]

#: static kinds of values: what the type checker knows about a name or a result
KINDS = ("number", "date", "bool", "text", "any", "null")

_COLUMN_REF = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))")
_PLACEHOLDER = re.compile(r"__col\d+__")
_CONSTANTS = {"null": None, "true": True, "false": False, "True": True, "False": False,
              "None": None}


@dataclass(frozen=True)
class FunctionSpec:
    min_args: int
    max_args: int | None
    doc: str


#: function name -> arity and documentation
FUNCTIONS: Mapping[str, FunctionSpec] = {
    "coalesce": FunctionSpec(1, None, "the first argument that is not missing"),
    "min": FunctionSpec(1, None, "the smallest non-missing argument (numbers or dates)"),
    "max": FunctionSpec(1, None, "the largest non-missing argument (numbers or dates)"),
    "round": FunctionSpec(1, 2, "round(x, digits=0): half away from zero"),
    "abs": FunctionSpec(1, 1, "absolute value"),
    "floor": FunctionSpec(1, 1, "largest whole number <= x"),
    "ceil": FunctionSpec(1, 1, "smallest whole number >= x"),
    "sqrt": FunctionSpec(1, 1, "square root (negative x is reported)"),
    "log": FunctionSpec(1, 1, "natural logarithm (x <= 0 is reported)"),
    "log10": FunctionSpec(1, 1, "base-10 logarithm (x <= 0 is reported)"),
    "exp": FunctionSpec(1, 1, "e to the power x"),
    "year": FunctionSpec(1, 1, "the year of a date"),
    "month": FunctionSpec(1, 1, "the month (1-12) of a date"),
    "day": FunctionSpec(1, 1, "the day of the month of a date"),
    "date": FunctionSpec(1, 2, "date(x, format='iso'): parse text or numbers as a date "
                               "(formats as in the date rule)"),
    "days_between": FunctionSpec(2, 2, "days_between(start, end): end - start in whole days"),
    "number": FunctionSpec(1, 1, "parse text as a number (with the source's decimal mark)"),
    "text": FunctionSpec(1, 1, "the value as text (1.0 -> '1')"),
    "lower": FunctionSpec(1, 1, "text in lower case"),
    "upper": FunctionSpec(1, 1, "text in upper case"),
    "strip": FunctionSpec(1, 1, "text without surrounding spaces"),
    "isnull": FunctionSpec(1, 1, "true where x is missing"),
    "notnull": FunctionSpec(1, 1, "true where x is present"),
}

_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
          ast.Mod: "%", ast.Pow: "**"}
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _spec_error(text: str, message: str) -> SpecError:
    return SpecError(f"expression {text!r}: {message}",
                     [SpecProblem("<expression>", None, "expression", message)],
                     reason="expression", expression=text)


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression: its text, the raw columns and harmonised variables it
    reads. Compare and hash by text."""

    text: str
    columns: tuple[str, ...]
    variables: tuple[str, ...]
    tree: ast.Expression = field(compare=False, repr=False, hash=False)
    placeholders: Mapping[str, str] = field(compare=False, repr=False, hash=False,
                                            default_factory=dict)

    def __str__(self) -> str:
        return self.text


def parse_expression(text: str) -> Expression:
    """Parse and check ``text``; raises :class:`~repository.errors.SpecError` (one problem,
    key ``expression``) describing what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise _spec_error(str(text), "an expression must be non-empty text")
    source, placeholders = _replace_columns(text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at character {exc.offset}" if exc.offset else ""
        raise _spec_error(text, f"not a valid expression{where} ({exc.msg}); write e.g. "
                                "\"weight_kg / (height_cm / 100) ** 2\" or \"$AGE >= 18\"") from exc
    variables: list[str] = []
    _check_tree(tree.body, text, placeholders, variables)
    columns = list(dict.fromkeys(placeholders[p] for p in _placeholders_in(tree)))
    return Expression(text=text, columns=tuple(columns),
                      variables=tuple(dict.fromkeys(variables)), tree=tree,
                      placeholders=placeholders)


def _replace_columns(text: str) -> tuple[str, dict[str, str]]:
    """Replace ``$NAME``/``${any name}`` (outside string literals) by placeholders."""
    if _PLACEHOLDER.search(text):
        raise _spec_error(text, "names of the form __colN__ are reserved")
    out: list[str] = []
    placeholders: dict[str, str] = {}
    by_name: dict[str, str] = {}
    i, quote = 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"":
            quote = ch
            out.append(ch)
            i += 1
            continue
        if ch == "$":
            m = _COLUMN_REF.match(text, i)
            if not m:
                raise _spec_error(text, f"'$' at character {i + 1} must be followed by a column "
                                        "name ($PATNO) or a braced name (${Patient number})")
            name = m.group(1) if m.group(1) is not None else m.group(2)
            if m.group(1) is not None and not name.strip():
                raise _spec_error(text, "empty column name in ${}")
            if name not in by_name:
                ph = f"__col{len(by_name)}__"
                by_name[name] = ph
                placeholders[ph] = name
            out.append(f" {by_name[name]} ")
            i = m.end()
            continue
        out.append(ch)
        i += 1
    if quote:
        raise _spec_error(text, "a quoted text is not closed")
    return "".join(out), placeholders


def _placeholders_in(tree: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id.startswith("__col")]


def _check_tree(node: ast.AST, text: str, placeholders: Mapping[str, str],
                variables: list[str]) -> None:
    def bad(what: str) -> SpecError:
        return _spec_error(text, what)

    if isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise bad(f"operator {type(node.op).__name__} is not allowed; use + - * / // % **")
        _check_tree(node.left, text, placeholders, variables)
        _check_tree(node.right, text, placeholders, variables)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and \
                isinstance(node.right, ast.Constant) and node.right.value in (0, 0.0) and \
                not isinstance(node.right.value, bool):
            raise bad("division by the constant 0")
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise bad("only -x, +x and not x are allowed as unary operators")
        _check_tree(node.operand, text, placeholders, variables)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check_tree(v, text, placeholders, variables)
    elif isinstance(node, ast.Compare):
        _check_tree(node.left, text, placeholders, variables)
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)):
                if not (isinstance(comp, ast.Name) and comp.id in ("null", "None")) and \
                        not (isinstance(comp, ast.Constant) and comp.value is None):
                    raise bad("'is' and 'is not' only test for null: write `x is null` or "
                              "`x is not null`")
                if len(node.ops) > 1:
                    raise bad("`is null` cannot be chained with other comparisons")
            elif isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(comp, (ast.Tuple, ast.List, ast.Set)) or not comp.elts:
                    raise bad("`in` needs a list of values: x in (1, 2, 3)")
                kinds = set()
                for elt in comp.elts:
                    k = literal_kind(elt)
                    if k is None:
                        raise bad("the values after `in` must be literal numbers or texts")
                    if k != "null":
                        kinds.add(k)
                if len(kinds) > 1:
                    raise bad("the values after `in` mix numbers and texts; use one kind")
                if len(node.ops) > 1:
                    raise bad("`in` cannot be chained with other comparisons")
            elif type(op) not in _CMP:
                raise bad(f"comparison {type(op).__name__} is not allowed")
            else:
                _check_tree(comp, text, placeholders, variables)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check_tree(part, text, placeholders, variables)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            from harmonise.yamlio import suggest

            raise bad(f"unknown function {name!r}{suggest(name, FUNCTIONS)}; functions: "
                      f"{', '.join(FUNCTIONS)}")
        if node.keywords:
            raise bad(f"{node.func.id}() takes positional arguments only")
        spec = FUNCTIONS[node.func.id]
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            want = (f"{spec.min_args}" if spec.max_args == spec.min_args else
                    f"{spec.min_args} or more" if spec.max_args is None else
                    f"{spec.min_args} to {spec.max_args}")
            raise bad(f"{node.func.id}() takes {want} argument(s), got {n}")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise bad("*arguments are not allowed")
            _check_tree(a, text, placeholders, variables)
        if node.func.id in ("round",) and n == 2 and not (
                isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, int)):
            raise bad("round(x, digits): digits must be a whole-number literal")
        if node.func.id == "date" and n == 2:
            fmt = node.args[1]
            if not (isinstance(fmt, ast.Constant) and isinstance(fmt.value, str)):
                raise bad("date(x, format): the format must be a quoted literal")
            from harmonise.dates import check_format

            why = check_format(fmt.value)
            if why:
                raise bad(why)
    elif isinstance(node, ast.Name):
        if node.id in placeholders:
            return
        if node.id in _CONSTANTS:
            return
        if node.id.startswith("__"):
            raise bad(f"names starting with __ are not allowed ({node.id})")
        variables.append(node.id)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
            raise bad(f"literal {node.value!r} is not allowed")
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        raise bad("a list of values is only allowed after `in`")
    else:
        kind = type(node).__name__
        hint = {"Attribute": "attributes (a.b) are not allowed; raw columns are written $NAME "
                             "or ${Name with spaces}",
                "Subscript": "indexing (a[0]) is not allowed",
                "Lambda": "lambda is not allowed",
                "NamedExpr": ":= is not allowed"}.get(kind, f"{kind} is not allowed")
        raise bad(hint)


def literal_kind(node: ast.AST) -> str | None:
    """The kind of a literal node (number, text, bool, null), or None if not a literal."""
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        if isinstance(v, str):
            return "text"
        return None
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        v = _CONSTANTS[node.id]
        return "null" if v is None else "bool"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return "number" if literal_kind(node.operand) == "number" else None
    return None


def _literal_value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        v = _literal_value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    raise AssertionError(node)


# --- static type checking -----------------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def infer_kind(expr: Expression, kinds: Mapping[str, str]) -> tuple[str, list[str]]:
    """The kind of ``expr`` given the kinds of harmonised variables, and any type clashes.

    Raw columns are ``any`` (their type is only known from a delivery: the dry run checks
    them). Unknown variables are reported by the mapping loader, not here.
    """
    problems: list[str] = []

    def visit(node: ast.AST) -> str:
        if isinstance(node, ast.Constant):
            return literal_kind(node) or "any"
        if isinstance(node, ast.Name):
            if node.id in expr.placeholders:
                return "any"
            if node.id in _CONSTANTS:
                return "null" if _CONSTANTS[node.id] is None else "bool"
            return kinds.get(node.id, "any")
        if isinstance(node, ast.UnaryOp):
            k = visit(node.operand)
            if isinstance(node.op, ast.Not):
                if k not in ("bool", "any", "null"):
                    problems.append(f"`not` needs a true/false value, not a {k}")
                return "bool"
            if k not in ("number", "any", "null"):
                problems.append(f"cannot negate a {k}")
            return "number"
        if isinstance(node, ast.BinOp):
            a, b = visit(node.left), visit(node.right)
            op = _ARITH[type(node.op)]
            if "any" in (a, b) or "null" in (a, b):
                if op in "+-" and "date" in (a, b):
                    return "any" if op == "-" else "date"
                return "number" if "date" not in (a, b) else "any"
            if a == b == "number":
                return "number"
            if op == "-" and a == b == "date":
                return "number"
            if op in "+-" and a == "date" and b == "number":
                return "date"
            if op == "+" and a == "number" and b == "date":
                return "date"
            if "text" in (a, b) and {a, b} <= {"text", "number"}:
                return "number"
            problems.append(f"cannot compute {a} {op} {b} in `{ast.unparse(node)}`")
            return "any"
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                k = visit(v)
                if k not in ("bool", "any", "null"):
                    problems.append(f"`and`/`or` need true/false values; `{ast.unparse(v)}` is a "
                                    f"{k} (compare it, e.g. `{ast.unparse(v)} == 1`)")
            return "bool"
        if isinstance(node, ast.Compare):
            left = visit(node.left)
            for op, comp in zip(node.ops, node.comparators):
                if isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                    if isinstance(op, (ast.In, ast.NotIn)):
                        ks = {literal_kind(e) for e in comp.elts} - {"null"}  # type: ignore[attr-defined]
                        k = next(iter(ks), "null")
                        if left == "date" or (left == "bool" and k != "bool") or \
                                (left == "number" and k == "text"):
                            problems.append(f"`{ast.unparse(node)}` compares a {left} with "
                                            f"{k} values")
                    continue
                right = visit(comp)
                pair = {left, right}
                ok = ("any" in pair or "null" in pair or left == right or
                      pair == {"text", "number"} or
                      (pair == {"date", "text"} and _iso_literal(node.left, comp)))
                if not ok:
                    problems.append(f"`{ast.unparse(node)}` compares a {left} with a {right}")
                left = right
            return "bool"
        if isinstance(node, ast.IfExp):
            t = visit(node.test)
            if t not in ("bool", "any", "null"):
                problems.append(f"the condition of `{ast.unparse(node)}` is a {t}, not true/false")
            a, b = visit(node.body), visit(node.orelse)
            if "null" in (a, b):
                return b if a == "null" else a
            if "any" in (a, b):
                return "any"
            if a != b:
                problems.append(f"`{ast.unparse(node)}` gives a {a} or a {b}; use one kind")
            return a
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            args = [visit(a) for a in node.args]
            return _function_kind(name, args, node, problems)
        return "any"

    return visit(expr.tree.body), problems


def _iso_literal(*nodes: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and
               bool(_ISO_DATE.match(n.value)) for n in nodes)


def _function_kind(name: str, args: list[str], node: ast.AST, problems: list[str]) -> str:
    def need(kinds: set[str], k: str, what: str) -> None:
        if k not in kinds | {"any", "null"}:
            problems.append(f"{name}() needs {what}, got a {k} in `{ast.unparse(node)}`")

    if name in ("coalesce", "min", "max"):
        known = {a for a in args if a not in ("any", "null")}
        if len(known) > 1:
            problems.append(f"{name}() mixes {' and '.join(sorted(known))} in "
                            f"`{ast.unparse(node)}`")
        if name in ("min", "max"):
            for a in known:
                need({"number", "date"}, a, "numbers or dates")
        return next(iter(known), "any")
    if name in ("round", "abs", "floor", "ceil", "sqrt", "log", "log10", "exp"):
        need({"number", "text"}, args[0], "a number")
        return "number"
    if name in ("year", "month", "day"):
        need({"date"}, args[0], "a date")
        return "number"
    if name == "date":
        need({"text", "number", "date"}, args[0], "text, a number or a date")
        return "date"
    if name == "days_between":
        for a in args:
            need({"date"}, a, "dates")
        return "number"
    if name == "number":
        return "number"
    if name in ("text", "lower", "upper", "strip"):
        return "text"
    if name in ("isnull", "notnull"):
        return "bool"
    return "any"


# --- evaluation ---------------------------------------------------------------------------------

class EvalContext(Protocol):
    """What evaluation needs from the engine."""

    n: int
    index: pd.Index

    def column_value(self, name: str) -> pd.Series:
        """A raw column, missing codes applied, as numbers, dates, booleans or text."""

    def variable_value(self, name: str) -> pd.Series:
        """A harmonised variable computed by an earlier rule."""

    def to_number(self, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        """Parse text as numbers (Float64) with the source's decimal mark; ``bad`` mask."""


class _Clash(Exception):
    pass


def evaluate(expr: Expression, ctx: EvalContext) -> tuple[Any, list[Issue]]:
    """Evaluate ``expr`` over the rows of ``ctx``.

    Returns the result (a Series aligned to the rows, or a scalar for a constant expression)
    and the issues (rows whose values could not be used). A type clash that concerns the whole
    column (a date multiplied by a number, say) raises
    :class:`~repository.errors.HarmonisationError`.
    """
    ev = _Evaluator(expr, ctx)
    try:
        value = ev.visit(expr.tree.body)
    except _Clash as exc:
        raise HarmonisationError(
            f"expression {expr.text!r}: {exc}; check the types of the columns it reads "
            "(`ipdrepo mapping check` shows them).", expression=expr.text,
            reason="type") from exc
    return value, ev.issues


def _kind(v: Any) -> str:
    if v is None or v is pd.NA:
        return "null"
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, pd.Timestamp):
        return "date"
    if isinstance(v, pd.Series):
        dt = v.dtype
        if pd.api.types.is_bool_dtype(dt):
            return "bool"
        if pd.api.types.is_datetime64_any_dtype(dt):
            return "date"
        if pd.api.types.is_numeric_dtype(dt):
            return "number"
        return "text"
    raise _Clash(f"unsupported value {v!r}")


def _na_mask(v: Any, n: int) -> np.ndarray:
    if isinstance(v, pd.Series):
        return v.isna().to_numpy()
    return np.full(n, v is None or v is pd.NA)


class _Evaluator:
    def __init__(self, expr: Expression, ctx: EvalContext) -> None:
        self.expr = expr
        self.ctx = ctx
        self.n = ctx.n
        self.issues: list[Issue] = []

    # -- helpers --
    def issue(self, mask: np.ndarray, reason: str, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.issues.append(Issue(mask, reason, message))

    def series(self, v: Any, dtype: str | None = None) -> pd.Series:
        if isinstance(v, pd.Series):
            return v
        if v is None:
            return pd.Series(pd.array([pd.NA] * self.n, dtype=dtype or "Float64"),
                             index=self.ctx.index)
        return pd.Series([v] * self.n, index=self.ctx.index, dtype=dtype)

    def number(self, v: Any, where: str) -> Any:
        k = _kind(v)
        if k == "null":
            return None
        if k == "number":
            if isinstance(v, pd.Series):
                if v.dtype.kind in "iu":
                    return v.astype("Int64")
                if v.dtype.kind == "f":
                    return v.astype("Float64")
            return v
        if k == "text":
            if isinstance(v, str):
                try:
                    return float(v.replace(",", ".")) if v.strip() else None
                except ValueError:
                    raise _Clash(f"{v!r} in {where} is not a number") from None
            parsed, bad = self.ctx.to_number(v)
            self.issue(bad, "not_a_number", f"not a number (in {where})")
            return parsed
        if k == "bool":
            return v.astype("Int64") if isinstance(v, pd.Series) else int(v)
        raise _Clash(f"{where} needs a number but got a {k}")

    def boolean(self, v: Any, where: str) -> Any:
        k = _kind(v)
        if k == "null":
            return None
        if k == "bool":
            return v.astype("boolean") if isinstance(v, pd.Series) else bool(v)
        if k in ("text", "number") and isinstance(v, pd.Series):
            out, bad = parse_booleans(v)
            self.issue(bad, "not_boolean", f"not a true/false value (in {where})")
            return out
        raise _Clash(f"{where} needs true/false but got a {k}")

    def date(self, v: Any, where: str) -> Any:
        k = _kind(v)
        if k in ("null", "date"):
            return v
        if k == "text" and isinstance(v, str):
            try:
                return pd.Timestamp(v)
            except ValueError:
                raise _Clash(f"{v!r} in {where} is not an ISO date (YYYY-MM-DD)") from None
        raise _Clash(f"{where} needs a date but got a {k}")

    def finite(self, v: Any, where: str) -> Any:
        if isinstance(v, pd.Series) and v.dtype.kind == "f" or (
                isinstance(v, pd.Series) and str(v.dtype) == "Float64"):
            arr = v.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(arr) & ~v.isna().to_numpy()
            if bad.any():
                self.issue(bad, "invalid_operation", f"{where} is not a finite number")
                v = v.astype("Float64").mask(bad)
        elif isinstance(v, float) and not np.isfinite(v):
            raise _Clash(f"{where} is not a finite number")
        return v

    # -- visitor --
    def visit(self, node: ast.AST) -> Any:
        method: Callable[[Any], Any] = getattr(self, "visit_" + type(node).__name__)
        return method(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.expr.placeholders:
            return self.ctx.column_value(self.expr.placeholders[node.id])
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        return self.ctx.variable_value(node.id)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        v = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            b = self.boolean(v, f"`{ast.unparse(node)}`")
            return None if b is None else (~b if isinstance(b, pd.Series) else not b)
        x = self.number(v, f"`{ast.unparse(node)}`")
        if x is None:
            return None
        return -x if isinstance(node.op, ast.USub) else x

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        where = f"`{ast.unparse(node)}`"
        a, b = self.visit(node.left), self.visit(node.right)
        op = _ARITH[type(node.op)]
        ka, kb = _kind(a), _kind(b)
        if "date" in (ka, kb) and op in "+-":
            if ka == "date" and kb == "date" and op == "-":
                return days_between(self.series(b, "datetime64[ns]"),
                                    self.series(a, "datetime64[ns]"))
            if ka == "date" and kb in ("number", "text", "null"):
                days = self.number(b, where)
                days = -days if (op == "-" and days is not None) else days
                return self._add_days(a, days, where)
            if kb == "date" and op == "+" and ka in ("number", "text", "null"):
                return self._add_days(b, self.number(a, where), where)
            raise _Clash(f"cannot compute {ka} {op} {kb} in {where}")
        if "date" in (ka, kb):
            raise _Clash(f"cannot compute {ka} {op} {kb} in {where}")
        x, y = self.number(a, where), self.number(b, where)
        if x is None or y is None:
            return None
        if op in ("/", "//", "%"):
            if isinstance(y, pd.Series):
                zero = (y == 0).fillna(False).to_numpy(dtype=bool)
                if zero.any():
                    present = ~_na_mask(x, self.n)
                    self.issue(zero & present, "division_by_zero", f"division by zero in {where}")
                    y = y.astype("Float64").mask(zero)
            elif y == 0:
                raise _Clash(f"division by zero in {where}")
        with np.errstate(all="ignore"):
            if op == "+":
                r = x + y
            elif op == "-":
                r = x - y
            elif op == "*":
                r = x * y
            elif op == "/":
                r = x / y
            elif op == "//":
                r = x // y
            elif op == "%":
                r = x % y
            else:
                if isinstance(x, pd.Series) or isinstance(y, pd.Series):
                    r = self.series(x).astype("Float64") ** (
                        y.astype("Float64") if isinstance(y, pd.Series) else float(y))
                else:
                    r = float(x) ** float(y)
        return self.finite(r, where)

    def _add_days(self, date: Any, days: Any, where: str) -> Any:
        if date is None or days is None:
            return None
        if not isinstance(date, pd.Series) and not isinstance(days, pd.Series):
            return date + pd.Timedelta(days=round(float(days)))
        out, fractional = add_days(self.series(date, "datetime64[ns]"),
                                   days if isinstance(days, pd.Series) else days)
        return out

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        where = f"`{ast.unparse(node)}`"
        values = [self.boolean(self.visit(v), where) for v in node.values]
        result = self.series(values[0], "boolean") if values[0] is not None else \
            pd.Series(pd.array([pd.NA] * self.n, dtype="boolean"), index=self.ctx.index)
        for v in values[1:]:
            other = self.series(v, "boolean") if v is not None else \
                pd.Series(pd.array([pd.NA] * self.n, dtype="boolean"), index=self.ctx.index)
            result = (result & other) if isinstance(node.op, ast.And) else (result | other)
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        where = f"`{ast.unparse(node)}`"
        left = self.visit(node.left)
        result: Any = True
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)):
                isna = _na_mask(left, self.n)
                vals = isna if isinstance(op, ast.Is) else ~isna
                return pd.Series(pd.array(vals, dtype="boolean"), index=self.ctx.index)
            if isinstance(op, (ast.In, ast.NotIn)):
                return self._isin(left, comp, isinstance(op, ast.NotIn), where)
            right = self.visit(comp)
            part = self._compare(left, right, _CMP[type(op)], where)
            result = part if result is True else (self.series(result, "boolean") &
                                                  self.series(part, "boolean"))
            left = right
        return result

    def _compare(self, a: Any, b: Any, op: str, where: str) -> Any:
        ka, kb = _kind(a), _kind(b)
        if "null" in (ka, kb):
            return pd.Series(pd.array([pd.NA] * self.n, dtype="boolean"), index=self.ctx.index)
        if "date" in (ka, kb):
            a, b = self.date(a, where), self.date(b, where)
        elif ka != kb and {ka, kb} <= {"text", "number", "bool"}:
            a, b = self.number(a, where), self.number(b, where)
        elif ka == kb == "text":
            a = a.astype("string") if isinstance(a, pd.Series) else a
            b = b.astype("string") if isinstance(b, pd.Series) else b
        if a is None or b is None:
            return pd.Series(pd.array([pd.NA] * self.n, dtype="boolean"), index=self.ctx.index)
        if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
            return bool(_PY_CMP[op](a, b))
        r = _PY_CMP[op](a, b)
        if isinstance(r, pd.Series) and r.dtype == bool:
            # numpy-backed comparisons (dates) give False for missing: restore the missing
            na = _na_mask(a, self.n) | _na_mask(b, self.n)
            r = pd.Series(pd.arrays.BooleanArray(r.to_numpy(), na), index=self.ctx.index)
        return r.astype("boolean")

    def _isin(self, left: Any, comp: ast.AST, negate: bool, where: str) -> Any:
        literals = [_literal_value(e) for e in comp.elts]  # type: ignore[attr-defined]
        values = [v for v in literals if v is not None]
        kinds = {_kind(v) for v in values}
        left_s = self.series(left) if not isinstance(left, pd.Series) else left
        if kinds == {"number"}:
            x = self.number(left_s, where)
            x = self.series(x, "Float64") if x is None else x
            r = x.astype("Float64").isin([float(v) for v in values])
        elif kinds == {"bool"}:
            x = self.boolean(left_s, where)
            x = self.series(x, "boolean") if x is None else x
            r = x.isin(values)
        else:
            if _kind(left_s) == "text":
                x = left_s.astype("string")
            else:
                x = pd.Series([canonical_text(v) for v in left_s], index=left_s.index,
                              dtype="string")
            r = x.isin([str(v) for v in values])
        na = left_s.isna().to_numpy()
        arr = r.to_numpy(dtype=bool, na_value=False)
        if negate:
            arr = ~arr
        return pd.Series(pd.arrays.BooleanArray(arr, na), index=self.ctx.index)

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        where = f"`{ast.unparse(node)}`"
        cond = self.boolean(self.visit(node.test), where)
        a, b = self.visit(node.body), self.visit(node.orelse)
        return _where(self, cond, a, b)

    def visit_Call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]
        where = f"`{ast.unparse(node)}`"
        args = [self.visit(a) for a in node.args]
        return _call(self, name, args, node, where)


_PY_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _where(ev: _Evaluator, cond: Any, a: Any, b: Any) -> Any:
    if cond is None:
        return None
    if not isinstance(cond, pd.Series):
        return a if cond else b
    ka, kb = _kind(a), _kind(b)
    kind = ka if ka != "null" else kb
    if kind == "number":
        a = ev.number(a, "if/else") if ka != "null" else None
        b = ev.number(b, "if/else") if kb != "null" else None
        dtype = "Float64"
    elif kind == "date":
        dtype = "datetime64[ns]"
    elif kind == "bool":
        dtype = "boolean"
    else:
        dtype = "string"
    sa = ev.series(a, dtype).astype(dtype) if a is not None else ev.series(None, dtype)
    sb = ev.series(b, dtype).astype(dtype) if b is not None else ev.series(None, dtype)
    c = cond.to_numpy(dtype=bool, na_value=False)
    notc = (~cond).to_numpy(dtype=bool, na_value=False)
    out = sa.where(c, sb)
    return out.mask(~c & ~notc)


def _call(ev: _Evaluator, name: str, args: list[Any], node: ast.AST, where: str) -> Any:
    n = ev.n
    if name == "coalesce":
        present = [a for a in args if a is not None]
        if not present:
            return None
        kinds = {_kind(a) for a in present}
        if "number" in kinds and "text" in kinds:
            present = [ev.number(a, where) for a in present]
        out = ev.series(present[0])
        for a in present[1:]:
            out = out.fillna(a) if not isinstance(a, pd.Series) else out.where(out.notna(), a)
        return out
    if name in ("min", "max"):
        present = [a for a in args if a is not None]
        if not present:
            return None
        kinds = {_kind(a) for a in present}
        if kinds <= {"number", "text"}:
            present = [ev.series(ev.number(a, where), "Float64") for a in present]
        elif kinds == {"date"}:
            present = [ev.series(a, "datetime64[ns]") for a in present]
        else:
            raise _Clash(f"{name}() needs numbers or dates, got {', '.join(sorted(kinds))}")
        frame = pd.concat(present, axis=1)
        return frame.min(axis=1, skipna=True) if name == "min" else frame.max(axis=1, skipna=True)
    if name in ("isnull", "notnull"):
        isna = _na_mask(args[0], n)
        return pd.Series(pd.array(isna if name == "isnull" else ~isna, dtype="boolean"),
                         index=ev.ctx.index)
    if name in ("year", "month", "day"):
        d = ev.date(args[0], where)
        if d is None:
            return None
        if not isinstance(d, pd.Series):
            return getattr(d, name)
        return getattr(d.dt, name).astype("Int64")
    if name == "date":
        fmt = args[1] if len(args) == 2 else "iso"
        x = args[0]
        if x is None or _kind(x) == "date":
            return x
        s = ev.series(x)
        out, bad = parse_dates(s.astype(object), fmt)
        ev.issue(bad, "not_a_date", f"not a date in format {fmt!r} (in {where})")
        return out
    if name == "days_between":
        a, b = ev.date(args[0], where), ev.date(args[1], where)
        if a is None or b is None:
            return None
        return days_between(ev.series(a, "datetime64[ns]"), ev.series(b, "datetime64[ns]"))
    if name == "number":
        return ev.number(args[0], where)
    if name in ("text", "lower", "upper", "strip"):
        x = args[0]
        if x is None:
            return None
        if not isinstance(x, pd.Series):
            t = canonical_text(x)
            return None if t is None else getattr(t, name)() if name != "text" else t
        if _kind(x) == "text":
            s = x.astype("string")
        else:
            s = pd.Series([canonical_text(v) for v in x], index=x.index, dtype="string")
        if name == "text":
            return s
        return getattr(s.str, name)()
    # numeric functions
    x = ev.number(args[0], where)
    if x is None:
        return None
    if name == "round":
        digits = int(args[1]) if len(args) == 2 else 0
        return round_half_away(x, digits)
    if name == "abs":
        return abs(x)
    arr = ev.series(x, "Float64").astype("Float64")
    values = arr.to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(values)
    with np.errstate(all="ignore"):
        if name == "floor":
            out = np.floor(values)
        elif name == "ceil":
            out = np.ceil(values)
        elif name == "sqrt":
            ev.issue(present & (values < 0), "invalid_operation",
                     f"square root of a negative number in {where}")
            out = np.sqrt(np.where(values < 0, np.nan, values))
        elif name in ("log", "log10"):
            ev.issue(present & (values <= 0), "invalid_operation",
                     f"logarithm of a number <= 0 in {where}")
            fn = np.log if name == "log" else np.log10
            out = fn(np.where(values <= 0, np.nan, values))
        elif name == "exp":
            out = np.exp(values)
        else:  # pragma: no cover - guarded by FUNCTIONS
            raise _Clash(f"unknown function {name}")
    result = pd.Series(pd.array(out, dtype="Float64"), index=arr.index).mask(np.isnan(out))
    if name in ("floor", "ceil"):
        return result
    return ev.finite(result, where) if isinstance(args[0], pd.Series) else (
        None if pd.isna(result.iloc[0]) else float(result.iloc[0]))


def round_half_away(x: Any, digits: int = 0) -> Any:
    """Round half away from zero (``round(2.5) == 3``, ``round(-2.5) == -3``); keeps missing."""
    scale = 10.0 ** digits
    if isinstance(x, pd.Series):
        values = x.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            scaled = np.round(values * scale, 9)
            out = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / scale
        result = pd.Series(pd.array(out, dtype="Float64"), index=x.index).mask(np.isnan(out))
        if digits <= 0:
            return result.astype("Int64")
        return result
    scaled = round(float(x) * scale, 9)
    out = float(np.sign(scaled) * np.floor(abs(scaled) + 0.5) / scale)
    return int(out) if digits <= 0 else out


def kinds_for(names: Sequence[str], kind_of: Callable[[str], str]) -> dict[str, str]:
    return {n: kind_of(n) for n in names}

"""The safe expression language of mapping rules and dictionary cross-variable rules.

Expressions are parsed with Python's :mod:`ast` into a tree of whitelisted nodes and evaluated
by walking it; nothing is ever passed to ``eval``/``exec``. Evaluation is vectorised over pandas
Series, with missing values propagating (SQL-like three-valued logic for ``and``/``or``).

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
  ``make_date``, ``days_between``, ``number``, ``text``, ``lower``, ``upper``, ``strip``, ``isnull``,
  ``notnull``, ``contains``, ``startswith``.

Text meeting a number (``$AGE + 1`` on a CSV column) is parsed as a number; values that do not
parse are *reported* as problems and become missing. Division by zero and operations outside
their domain are reported the same way.

Limits (documented in docs/mapping-format.md), checked when a mapping is loaded: an expression
is at most :data:`MAX_EXPRESSION_LENGTH` characters, :data:`MAX_EXPRESSION_NODES` syntax nodes
and :data:`MAX_EXPRESSION_DEPTH` levels deep; a constant exponent (``x ** 2``) is at most
:data:`MAX_EXPONENT` in size; ``round(x, digits)`` takes digits between -15 and 15
(:data:`MAX_ROUND_DIGITS`); the parts made only of numbers (``10 ** 10 ** 10``) are computed once
and refused when they overflow a 64-bit float. Values that overflow while a delivery is
evaluated become missing and are reported, like a division by zero.

This module holds the language (parsing, checking, static types);
:mod:`harmonise.expressions.evaluation` evaluates parsed expressions over a delivery.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from repository.errors import SpecError, SpecProblem

__all__ = [
    "MAX_EXPONENT",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_NODES",
    "MAX_ROUND_DIGITS",
    "Expression",
    "FunctionSpec",
    "FUNCTIONS",
    "KINDS",
    "parse_expression",
    "infer_kind",
    "literal_kind",
    "literal_value",
    "unparse",
]

#: longest expression, in characters
MAX_EXPRESSION_LENGTH = 2_000
#: most syntax nodes (names, numbers, operators, calls ...) in one expression
MAX_EXPRESSION_NODES = 500
#: deepest nesting of operators and calls
MAX_EXPRESSION_DEPTH = 100
#: largest constant exponent (absolute value) in ``x ** n``
MAX_EXPONENT = 100
#: ``round(x, digits)``: digits from -MAX_ROUND_DIGITS to MAX_ROUND_DIGITS (a float has 15-17)
MAX_ROUND_DIGITS = 15

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
    "make_date": FunctionSpec(2, 3, "make_date(year, month, day=1): a date from its parts "
                                    "(impossible dates are reported)"),
    "number": FunctionSpec(1, 1, "parse text as a number (with the source's decimal mark)"),
    "text": FunctionSpec(1, 1, "the value as text (1.0 -> '1')"),
    "lower": FunctionSpec(1, 1, "text in lower case"),
    "upper": FunctionSpec(1, 1, "text in upper case"),
    "strip": FunctionSpec(1, 1, "text without surrounding spaces"),
    "isnull": FunctionSpec(1, 1, "true where x is missing"),
    "contains": FunctionSpec(2, None, "contains(x, 'A', 'B', ...): true where the text x holds "
                                      "any of the quoted texts (case-sensitive)"),
    "startswith": FunctionSpec(2, None, "startswith(x, 'A', ...): true where the text x starts "
                                        "with any of the quoted texts"),
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
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _spec_error(text[:60] + "...", f"the expression is {len(text):,} characters long; "
                          f"at most {MAX_EXPRESSION_LENGTH:,} are allowed. Split it over "
                          "several variables or use a case_when rule")
    source, placeholders = _replace_columns(text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at character {exc.offset}" if exc.offset else ""
        raise _spec_error(text, f"not a valid expression{where} ({exc.msg}); write e.g. "
                                "\"weight_kg / (height_cm / 100) ** 2\" or \"$AGE >= 18\"") from exc
    except (ValueError, MemoryError, RecursionError) as exc:
        # a number literal of thousands of digits, or nesting the parser cannot hold
        raise _spec_error(text, f"not a valid expression ({type(exc).__name__}: "
                                f"{str(exc)[:80] or 'too deeply nested'})") from exc
    _check_size(tree, text)
    variables: list[str] = []
    _check_tree(tree.body, text, placeholders, variables)
    _fold_constants(tree.body, text, placeholders)
    used = sorted(set(_placeholders_in(tree)), key=lambda p: int(p[5:-2]))
    columns = [placeholders[p] for p in used]
    return Expression(text=text, columns=tuple(columns),
                      variables=tuple(dict.fromkeys(variables)), tree=tree,
                      placeholders=placeholders)


def _check_size(tree: ast.AST, text: str) -> None:
    """At most MAX_EXPRESSION_NODES nodes, MAX_EXPRESSION_DEPTH deep (walked without recursion,
    before anything recursive sees the tree)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_EXPRESSION_NODES:
            raise _spec_error(text, f"the expression has more than {MAX_EXPRESSION_NODES} parts; "
                                    "split it over several variables")
        if depth > MAX_EXPRESSION_DEPTH:
            raise _spec_error(text, f"the expression nests more than {MAX_EXPRESSION_DEPTH} "
                                    "levels deep; split it over several variables")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


_FOLD = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
         ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
         ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
         ast.Pow: lambda a, b: a ** b}


def _fold_constants(node: ast.AST, text: str, placeholders: Mapping[str, str]) -> float | None:
    """Compute the parts made only of numbers, once, as the evaluator would (64-bit floats):
    returns the value of ``node`` if it is constant. Refuses exponents over MAX_EXPONENT and
    constants that overflow. Every node is visited once."""
    def bad(message: str) -> SpecError:
        return _spec_error(text, message)

    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                return float(v)
            except OverflowError:
                raise bad(f"the number {str(v)[:20]}... is too large (over 1.8e308)") from None
        return None
    if isinstance(node, ast.BinOp):
        children = [_fold_constants(node.left, text, placeholders),
                    _fold_constants(node.right, text, placeholders)]
    elif isinstance(node, ast.UnaryOp):
        children = [_fold_constants(node.operand, text, placeholders)]
    else:
        for child in ast.iter_child_nodes(node):
            _fold_constants(child, text, placeholders)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = children[1]
        if exponent is not None and abs(exponent) > MAX_EXPONENT:
            raise bad(f"the exponent in `{unparse(node, placeholders)}` is {exponent:g}; at most "
                      f"{MAX_EXPONENT} is allowed (write the value out, or use exp()/log())")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = children[0]
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and None not in children and type(node.op) in _FOLD:
        try:
            value = _FOLD[type(node.op)](children[0], children[1])
        except OverflowError:
            value = math.inf
        except ZeroDivisionError:
            return None  # division by the constant 0 is reported by the checker
        if isinstance(value, complex) or not math.isfinite(value):
            raise bad(f"`{unparse(node, placeholders)}` is too large to compute (it overflows "
                      "a 64-bit number, over 1.8e308) or is not a real number; check the "
                      "constants")
        return float(value)
    return None


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
        if node.func.id in ("round",) and n == 2:
            digits = node.args[1]
            if literal_kind(digits) != "number" or not isinstance(literal_value(digits), int):
                raise bad("round(x, digits): digits must be a whole-number literal")
            if abs(literal_value(digits)) > MAX_ROUND_DIGITS:
                raise bad(f"round(x, digits): digits is {literal_value(digits)}; use -"
                          f"{MAX_ROUND_DIGITS} to {MAX_ROUND_DIGITS} (a 64-bit number has "
                          "15-17 significant digits)")
        if node.func.id in ("contains", "startswith") and not all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value
                for a in node.args[1:]):
            raise bad(f"{node.func.id}(x, 'A', ...): the texts searched for must be quoted, "
                      "non-empty literals")
        if node.func.id == "date" and n == 2:
            fmt = node.args[1]
            if not (isinstance(fmt, ast.Constant) and isinstance(fmt.value, str)):
                raise bad("date(x, format): the format must be a quoted literal")
            from harmonise.values.dates import check_format

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


def unparse(node: ast.AST, placeholders: Mapping[str, str]) -> str:
    """The source text of ``node`` with raw columns written back as ``$NAME``/``${name}``."""
    text = ast.unparse(node)
    if not placeholders:
        return text

    def column(match: re.Match[str]) -> str:
        name = placeholders.get(match.group(0), match.group(0))
        return f"${name}" if re.fullmatch(r"[A-Za-z0-9_]+", name) else "${" + name + "}"

    return _PLACEHOLDER.sub(column, text)


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


def literal_value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        v = literal_value(node.operand)
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

    def src(node: ast.AST) -> str:
        return unparse(node, expr.placeholders)

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
                if op in "+-":
                    # a raw column may hold dates: date + n is a date, date - date a number
                    return "date" if (op == "+" and "date" in (a, b)) else "any"
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
            problems.append(f"cannot compute {a} {op} {b} in `{src(node)}`")
            return "any"
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                k = visit(v)
                if k not in ("bool", "any", "null"):
                    problems.append(f"`and`/`or` need true/false values; `{src(v)}` is a "
                                    f"{k} (compare it, e.g. `{src(v)} == 1`)")
            return "bool"
        if isinstance(node, ast.Compare):
            left = visit(node.left)
            for cmp_op, comp in zip(node.ops, node.comparators):
                if isinstance(cmp_op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                    if isinstance(cmp_op, (ast.In, ast.NotIn)):
                        ks = {literal_kind(e) or "any"
                              for e in comp.elts} - {"null"}  # type: ignore[attr-defined]
                        k = sorted(ks)[0] if ks else "null"
                        if left == "date" or (left == "bool" and k != "bool") or \
                                (left == "number" and k == "text"):
                            problems.append(f"`{src(node)}` compares a {left} with "
                                            f"{k} values")
                    continue
                right = visit(comp)
                pair = {left, right}
                ok = ("any" in pair or "null" in pair or left == right or
                      pair == {"text", "number"} or
                      (pair == {"date", "text"} and _iso_literal(node.left, comp)))
                if not ok:
                    problems.append(f"`{src(node)}` compares a {left} with a {right}")
                left = right
            return "bool"
        if isinstance(node, ast.IfExp):
            t = visit(node.test)
            if t not in ("bool", "any", "null"):
                problems.append(f"the condition of `{src(node)}` is a {t}, not true/false")
            a, b = visit(node.body), visit(node.orelse)
            if "null" in (a, b):
                return b if a == "null" else a
            if "any" in (a, b):
                return "any"
            if a != b:
                problems.append(f"`{src(node)}` gives a {a} or a {b}; use one kind")
            return a
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            args = [visit(a) for a in node.args]
            return _function_kind(name, args, src(node), problems)
        return "any"

    return visit(expr.tree.body), problems


def _iso_literal(*nodes: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and
               bool(_ISO_DATE.match(n.value)) for n in nodes)


def _function_kind(name: str, args: list[str], text: str, problems: list[str]) -> str:
    def need(kinds: set[str], k: str, what: str) -> None:
        if k not in kinds | {"any", "null"}:
            problems.append(f"{name}() needs {what}, got a {k} in `{text}`")

    if name in ("coalesce", "min", "max"):
        known = list(dict.fromkeys(a for a in args if a not in ("any", "null")))
        if len(known) > 1:
            problems.append(f"{name}() mixes {' and '.join(sorted(known))} in "
                            f"`{text}`")
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
    if name == "make_date":
        for a in args:
            need({"number", "text"}, a, "whole numbers (year, month, day)")
        return "date"
    if name == "number":
        return "number"
    if name in ("text", "lower", "upper", "strip"):
        return "text"
    if name in ("isnull", "notnull"):
        return "bool"
    if name in ("contains", "startswith"):
        need({"text"}, args[0], "text")
        return "bool"
    return "any"

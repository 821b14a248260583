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
* functions (:data:`~harmonise.expressions.functions.FUNCTIONS`, one registry): ``coalesce``,
  ``min``, ``max``, ``round``, ``abs``, ``floor``, ``ceil``, ``sqrt``, ``log``, ``log10``,
  ``exp``, ``year``, ``month``, ``day``, ``date``, ``make_date``, ``days_between``, ``number``,
  ``text``, ``lower``, ``upper``, ``strip``, ``isnull``, ``notnull``.

Text meeting a number (``$AGE + 1`` on a CSV column) is parsed as a number; values that do not
parse are *reported* as problems and become missing. Division by zero and operations outside
their domain are reported the same way.

Limits (documented in docs/mapping-format.md), checked when a mapping is loaded: an expression
is at most :data:`MAX_EXPRESSION_LENGTH` characters, :data:`MAX_EXPRESSION_NODES` syntax nodes
and :data:`MAX_EXPRESSION_DEPTH` levels deep; a constant exponent (``x ** 2``) is at most
:data:`MAX_EXPONENT` in size; ``round(x, digits)`` takes digits between -15 and 15
(:data:`~harmonise.expressions.functions.MAX_ROUND_DIGITS`); the parts made only of numbers
(``10 ** 10 ** 10``) are computed once and refused when they overflow a 64-bit float. Values that overflow while a delivery is
evaluated become missing and are reported, like a division by zero.

This module holds the syntax (parsing, checking, limits); :mod:`harmonise.expressions.kinds`
infers static kinds, :mod:`harmonise.expressions.evaluation` evaluates parsed expressions over a
delivery, and :mod:`harmonise.expressions.functions` declares the functions all three read.
Parsing is thread-safe: Python's own parser is entered by one thread at a time
(:data:`PARSE_LOCK`; CPython 3.11 could fail with "AST constructor recursion depth mismatch"
when two threads parsed at once).
"""

from __future__ import annotations

import ast
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from harmonise.expressions.functions import FUNCTIONS
from harmonise.expressions.literals import CONSTANTS, literal_kind
from harmonise.values.reasons import Reason
from repository.errors import SpecError, SpecProblem

__all__ = [
    "MAX_EXPONENT",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_NODES",
    "PARSE_LOCK",
    "ARITHMETIC",
    "COMPARISONS",
    "Expression",
    "parse_expression",
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

#: held while Python's parser runs: one thread at a time (see the module docstring)
PARSE_LOCK = threading.Lock()

_COLUMN_REF = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))")
_PLACEHOLDER = re.compile(r"__col\d+__")

#: the arithmetic operators and their symbols
ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
              ast.Mod: "%", ast.Pow: "**"}
#: the comparison operators and their symbols
COMPARISONS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
               ast.GtE: ">="}


def _spec_error(text: str, message: str) -> SpecError:
    return SpecError(f"expression {text!r}: {message}",
                     [SpecProblem("<expression>", None, "expression", message)],
                     reason=Reason.EXPRESSION, expression=text)


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
        with PARSE_LOCK:
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
    variables = _Checker(text, placeholders).check(tree.body)
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
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                return float(v)
            except OverflowError:
                raise _spec_error(text, f"the number {str(v)[:20]}... is too large (over "
                                        "1.8e308)") from None
        return None
    if isinstance(node, ast.BinOp):
        return _fold_binop(node, _fold_constants(node.left, text, placeholders),
                           _fold_constants(node.right, text, placeholders), text, placeholders)
    if isinstance(node, ast.UnaryOp):
        v = _fold_constants(node.operand, text, placeholders)
        if v is None or not isinstance(node.op, (ast.USub, ast.UAdd)):
            return None
        return -v if isinstance(node.op, ast.USub) else v
    for child in ast.iter_child_nodes(node):
        _fold_constants(child, text, placeholders)
    return None


def _fold_binop(node: ast.BinOp, a: float | None, b: float | None, text: str,
                placeholders: Mapping[str, str]) -> float | None:
    """``a op b`` of two folded operands (None: not constant), or a located refusal."""
    if isinstance(node.op, ast.Pow) and b is not None and abs(b) > MAX_EXPONENT:
        raise _spec_error(text, f"the exponent in `{unparse(node, placeholders)}` is {b:g}; at "
                                f"most {MAX_EXPONENT} is allowed (write the value out, or use "
                                "exp()/log())")
    if a is None or b is None or type(node.op) not in _FOLD:
        return None
    try:
        value = _FOLD[type(node.op)](a, b)
    except OverflowError:
        value = math.inf
    except ZeroDivisionError:
        return None  # division by the constant 0 is reported by the checker
    if isinstance(value, complex) or not math.isfinite(value):
        raise _spec_error(text, f"`{unparse(node, placeholders)}` is too large to compute (it "
                                "overflows a 64-bit number, over 1.8e308) or is not a real "
                                "number; check the constants")
    return float(value)


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


#: what to say about syntax the language does not have
_NOT_ALLOWED = {"Attribute": "attributes (a.b) are not allowed; raw columns are written $NAME "
                             "or ${Name with spaces}",
                "Subscript": "indexing (a[0]) is not allowed",
                "Lambda": "lambda is not allowed",
                "NamedExpr": ":= is not allowed"}


class _Checker:
    """Holds a parsed tree to the language: whitelisted nodes, operators and comparisons,
    known functions with their arity and literal arguments (from the registry), names; and
    collects the harmonised variables the expression reads."""

    def __init__(self, text: str, placeholders: Mapping[str, str]) -> None:
        self.text = text
        self.placeholders = placeholders
        self.variables: list[str] = []

    def check(self, node: ast.AST) -> list[str]:
        """Check ``node`` (raises :class:`SpecError`); the variables it reads, in order."""
        self.visit(node)
        return self.variables

    def bad(self, what: str) -> SpecError:
        return _spec_error(self.text, what)

    def visit(self, node: ast.AST) -> None:
        kind = type(node).__name__
        method = getattr(self, f"visit_{kind}", None)
        if method is None:
            raise self.bad(_NOT_ALLOWED.get(kind, f"{kind} is not allowed"))
        method(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) not in ARITHMETIC:
            raise self.bad(f"operator {type(node.op).__name__} is not allowed; use "
                           "+ - * / // % **")
        self.visit(node.left)
        self.visit(node.right)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and \
                isinstance(node.right, ast.Constant) and node.right.value in (0, 0.0) and \
                not isinstance(node.right.value, bool):
            raise self.bad("division by the constant 0")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            raise self.bad("only -x, +x and not x are allowed as unary operators")
        self.visit(node.operand)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        for v in node.values:
            self.visit(v)

    def visit_Compare(self, node: ast.Compare) -> None:
        self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)):
                self._is_null(comp, chained=len(node.ops) > 1)
            elif isinstance(op, (ast.In, ast.NotIn)):
                self._in_values(comp, chained=len(node.ops) > 1)
            elif type(op) not in COMPARISONS:
                raise self.bad(f"comparison {type(op).__name__} is not allowed")
            else:
                self.visit(comp)

    def _is_null(self, comp: ast.AST, *, chained: bool) -> None:
        if not (isinstance(comp, ast.Name) and comp.id in ("null", "None")) and \
                not (isinstance(comp, ast.Constant) and comp.value is None):
            raise self.bad("'is' and 'is not' only test for null: write `x is null` or "
                           "`x is not null`")
        if chained:
            raise self.bad("`is null` cannot be chained with other comparisons")

    def _in_values(self, comp: ast.AST, *, chained: bool) -> None:
        if not isinstance(comp, (ast.Tuple, ast.List, ast.Set)) or not comp.elts:
            raise self.bad("`in` needs a list of values: x in (1, 2, 3)")
        kinds = set()
        for elt in comp.elts:
            k = literal_kind(elt)
            if k is None:
                raise self.bad("the values after `in` must be literal numbers or texts")
            if k != "null":
                kinds.add(k)
        if len(kinds) > 1:
            raise self.bad("the values after `in` mix numbers and texts; use one kind")
        if chained:
            raise self.bad("`in` cannot be chained with other comparisons")

    def visit_IfExp(self, node: ast.IfExp) -> None:
        for part in (node.test, node.body, node.orelse):
            self.visit(part)

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            from harmonise.yamlio import suggest

            raise self.bad(f"unknown function {name!r}{suggest(name, FUNCTIONS)}; functions: "
                           f"{', '.join(FUNCTIONS)}")
        if node.keywords:
            raise self.bad(f"{node.func.id}() takes positional arguments only")
        function = FUNCTIONS[node.func.id]
        problem = function.arity_problem(len(node.args))
        if problem:
            raise self.bad(problem)
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.bad("*arguments are not allowed")
            self.visit(a)
        problem = function.check(node.args)
        if problem:
            raise self.bad(problem)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.placeholders or node.id in CONSTANTS:
            return
        if node.id.startswith("__"):
            raise self.bad(f"names starting with __ are not allowed ({node.id})")
        self.variables.append(node.id)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
            raise self.bad(f"literal {node.value!r} is not allowed")

    def _a_list(self, node: ast.AST) -> None:
        raise self.bad("a list of values is only allowed after `in`")

    visit_Tuple = visit_List = visit_Set = _a_list


def unparse(node: ast.AST, placeholders: Mapping[str, str]) -> str:
    """The source text of ``node`` with raw columns written back as ``$NAME``/``${name}``."""
    text = ast.unparse(node)
    if not placeholders:
        return text

    def column(match: re.Match[str]) -> str:
        name = placeholders.get(match.group(0), match.group(0))
        return f"${name}" if re.fullmatch(r"[A-Za-z0-9_]+", name) else "${" + name + "}"

    return _PLACEHOLDER.sub(column, text)

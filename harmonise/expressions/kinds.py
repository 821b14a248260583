"""Static kinds of expressions: what an expression gives, and its type clashes, before any data.

:func:`infer_kind` walks a parsed :class:`~harmonise.expressions.language.Expression` with the
kinds of the harmonised variables (number, date, bool, text; :data:`KINDS`) and returns the
kind of the result and every clash it meets (``year(weight_kg)``, ``rand_date * 2``, a
comparison of a date with a number ...). Operators have their rules here; each function's rule
is declared with the function (:data:`harmonise.expressions.functions.FUNCTIONS`). The mapping
and dictionary loaders report the clashes with the file, line and key.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from harmonise.expressions.functions import FUNCTIONS, KindCall
from harmonise.expressions.language import ARITHMETIC, Expression, unparse
from harmonise.expressions.literals import CONSTANTS, KINDS, literal_kind

__all__ = ["KINDS", "infer_kind"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def infer_kind(expr: Expression, kinds: Mapping[str, str]) -> tuple[str, list[str]]:
    """The kind of ``expr`` given the kinds of harmonised variables, and any type clashes.

    Raw columns are ``any`` (their type is only known from a delivery: the dry run checks
    them). Unknown variables are reported by the mapping loader, not here.
    """
    walker = _Kinds(expr, kinds)
    return walker.visit(expr.tree.body), walker.problems


def _iso_literal(*nodes: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and
               bool(_ISO_DATE.match(n.value)) for n in nodes)


class _Kinds:
    """One walk of an expression's tree: each node's kind, the clashes in :attr:`problems`."""

    def __init__(self, expr: Expression, kinds: Mapping[str, str]) -> None:
        self.expr = expr
        self.kinds = kinds
        self.problems: list[str] = []

    def src(self, node: ast.AST) -> str:
        return unparse(node, self.expr.placeholders)

    def visit(self, node: ast.AST) -> str:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        return "any" if method is None else method(node)

    def visit_Constant(self, node: ast.Constant) -> str:
        return literal_kind(node) or "any"

    def visit_Name(self, node: ast.Name) -> str:
        if node.id in self.expr.placeholders:
            return "any"
        if node.id in CONSTANTS:
            return "null" if CONSTANTS[node.id] is None else "bool"
        return self.kinds.get(node.id, "any")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> str:
        k = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            if k not in ("bool", "any", "null"):
                self.problems.append(f"`not` needs a true/false value, not a {k}")
            return "bool"
        if k not in ("number", "any", "null"):
            self.problems.append(f"cannot negate a {k}")
        return "number"

    def visit_BinOp(self, node: ast.BinOp) -> str:
        a, b = self.visit(node.left), self.visit(node.right)
        op = ARITHMETIC[type(node.op)]
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
        self.problems.append(f"cannot compute {a} {op} {b} in `{self.src(node)}`")
        return "any"

    def visit_BoolOp(self, node: ast.BoolOp) -> str:
        for v in node.values:
            k = self.visit(v)
            if k not in ("bool", "any", "null"):
                self.problems.append(f"`and`/`or` need true/false values; `{self.src(v)}` is a "
                                     f"{k} (compare it, e.g. `{self.src(v)} == 1`)")
        return "bool"

    def visit_Compare(self, node: ast.Compare) -> str:
        left = self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                self._membership(node, left, comp)
                continue
            if isinstance(op, (ast.Is, ast.IsNot)):
                continue
            right = self.visit(comp)
            pair = {left, right}
            ok = ("any" in pair or "null" in pair or left == right or
                  pair == {"text", "number"} or
                  (pair == {"date", "text"} and _iso_literal(node.left, comp)))
            if not ok:
                self.problems.append(f"`{self.src(node)}` compares a {left} with a {right}")
            left = right
        return "bool"

    def _membership(self, node: ast.Compare, left: str, values: ast.AST) -> None:
        ks = {literal_kind(e) or "any" for e in values.elts} - {"null"}  # type: ignore[attr-defined]
        k = sorted(ks)[0] if ks else "null"
        if left == "date" or (left == "bool" and k != "bool") or \
                (left == "number" and k == "text"):
            self.problems.append(f"`{self.src(node)}` compares a {left} with {k} values")

    def visit_IfExp(self, node: ast.IfExp) -> str:
        t = self.visit(node.test)
        if t not in ("bool", "any", "null"):
            self.problems.append(f"the condition of `{self.src(node)}` is a {t}, not true/false")
        a, b = self.visit(node.body), self.visit(node.orelse)
        if "null" in (a, b):
            return b if a == "null" else a
        if "any" in (a, b):
            return "any"
        if a != b:
            self.problems.append(f"`{self.src(node)}` gives a {a} or a {b}; use one kind")
        return a

    def visit_Call(self, node: ast.Call) -> str:
        name = node.func.id  # type: ignore[attr-defined]
        args = [self.visit(a) for a in node.args]
        return FUNCTIONS[name].kind(KindCall(name, args, self.src(node), self.problems))

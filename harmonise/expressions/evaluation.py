"""Evaluating parsed expressions (:mod:`harmonise.expressions.language`) over the rows of a
delivery.

Vectorised over pandas Series: every operator and function works on whole columns with nullable
dtypes, missing values propagate (``and``/``or`` use three-valued logic), and values that cannot
be used (text that is not a number, a division by zero, the logarithm of a negative number ...)
become missing *and* are returned as :class:`~harmonise.values.problems.Issue` s for the engine to
report. So do values too large for what they are used as: whole numbers (``round``, ``floor``,
``ceil``) beyond 2**53, where a 64-bit float is no longer exact, and day counts added to dates
beyond :data:`MAX_DAYS_ADDED`. A type clash over a whole column (a date multiplied by a number)
raises :class:`~repository.errors.HarmonisationError`, and so does an arithmetic overflow that
escapes these checks (never a traceback).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from harmonise.expressions.coercion import Clash, Coercer, EvalContext, na_mask, value_kind
from harmonise.expressions.functions import FUNCTIONS
from harmonise.expressions.language import ARITHMETIC, COMPARISONS, Expression, unparse
from harmonise.expressions.literals import CONSTANTS, literal_value
from harmonise.values.cells import bool_array, canonical_text, missing_array
from harmonise.values.dates import add_days, days_between
from harmonise.values.problems import Issue
from harmonise.values.reasons import Reason
from repository.errors import HarmonisationError
from repository.reasons import Reason as RepositoryReason

__all__ = ["EvalContext", "FrameContext", "evaluate", "MAX_DAYS_ADDED"]

#: most days (200 years) that ``date + n`` adds or subtracts; more is reported as a problem
MAX_DAYS_ADDED = 73_050


class FrameContext:
    """An :class:`EvalContext` over a harmonised table (its columns are the variables), for
    evaluating dictionary rules: ``evaluate(rule.expression, FrameContext(data))``. Raw columns
    (``$NAME``) are not available here."""

    def __init__(self, frame: pd.DataFrame) -> None:
        plain = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 \
            and frame.index.step == 1
        self.frame = frame if plain else frame.reset_index(drop=True)  # read, never written

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def index(self) -> pd.Index:
        return self.frame.index

    def column_value(self, name: str) -> pd.Series:
        raise HarmonisationError(f"${name}: dictionary rules read harmonised variables only.",
                                 column=name)

    def variable_value(self, name: str) -> pd.Series:
        if name not in self.frame.columns:
            raise HarmonisationError(f"the harmonised table has no column {name!r}.",
                                     variable=name)
        return self.frame[name]

    def to_number(self, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        from harmonise.values.cells import canonical_texts, float_array, parse_numbers

        parsed, bad = parse_numbers(canonical_texts(values.to_numpy(dtype=object)))
        return pd.Series(float_array(parsed), index=values.index), bad


def evaluate(expr: Expression, ctx: EvalContext) -> tuple[Any, list[Issue]]:
    """Evaluate ``expr`` over the rows of ``ctx``.

    Returns the result (a Series aligned to the rows, or a scalar for a constant expression)
    and the issues (rows whose values could not be used). A type clash that concerns the whole
    column (a date multiplied by a number, say) raises
    :class:`~repository.errors.HarmonisationError`.
    """
    ev = _Evaluator(expr, ctx)
    try:
        with np.errstate(all="ignore"):
            value = ev.visit(expr.tree.body)
    except Clash as exc:
        raise HarmonisationError(
            f"expression {expr.text!r}: {exc}; check the types of the columns it reads "
            "(`ipdrepo mapping check` shows them).", expression=expr.text,
            reason=RepositoryReason.TYPE) from exc
    except (OverflowError, FloatingPointError, ZeroDivisionError) as exc:
        raise HarmonisationError(
            f"expression {expr.text!r}: arithmetic overflow ({exc}); a value is too large to "
            "compute. Check the constants and the columns it reads.", expression=expr.text,
            reason=Reason.OVERFLOW) from exc
    return value, ev.issues


class _Evaluator(Coercer):
    """One evaluation of an expression: the operators here, the functions from the registry."""

    def __init__(self, expr: Expression, ctx: EvalContext) -> None:
        super().__init__(ctx)
        self.expr = expr

    def src(self, node: ast.AST) -> str:
        return unparse(node, self.expr.placeholders)

    # -- visitor --
    def visit(self, node: ast.AST) -> Any:
        method: Callable[[Any], Any] = getattr(self, "visit_" + type(node).__name__)
        return method(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.expr.placeholders:
            return self.ctx.column_value(self.expr.placeholders[node.id])
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        return self.ctx.variable_value(node.id)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        v = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            b = self.boolean(v, f"`{self.src(node)}`")
            return None if b is None else (~b if isinstance(b, pd.Series) else not b)
        x = self.number(v, f"`{self.src(node)}`")
        if x is None:
            return None
        return -x if isinstance(node.op, ast.USub) else x

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        where = f"`{self.src(node)}`"
        a, b = self.visit(node.left), self.visit(node.right)
        op = ARITHMETIC[type(node.op)]
        ka, kb = value_kind(a), value_kind(b)
        if "date" in (ka, kb):
            return self._date_arithmetic(a, b, op, where)
        x, y = self.number(a, where), self.number(b, where)
        if x is None or y is None:
            return None
        if op in ("/", "//", "%"):
            if isinstance(y, pd.Series):
                zero = (y == 0).fillna(False).to_numpy(dtype=bool)
                if zero.any():
                    present = ~na_mask(x, self.n)
                    self.issue(zero & present, "division_by_zero", f"division by zero in {where}")
                    y = y.astype("Float64").mask(zero)
            elif y == 0:
                raise Clash(f"division by zero in {where}")
        with np.errstate(all="ignore"):
            if op != "**":
                r = _OPERATORS[op](x, y)
            elif isinstance(x, pd.Series) or isinstance(y, pd.Series):
                r = self.series(x).astype("Float64") ** (
                    y.astype("Float64") if isinstance(y, pd.Series) else float(y))
            else:
                r = float(x) ** float(y)
        return self.finite(r, where)

    def _date_arithmetic(self, a: Any, b: Any, op: str, where: str) -> Any:
        """``date - date`` (days), ``date + n``, ``date - n`` and ``n + date``."""
        ka, kb = value_kind(a), value_kind(b)
        if op in "+-":
            if ka == "date" and kb == "date" and op == "-":
                return days_between(self.series(b, "datetime64[ns]"),
                                    self.series(a, "datetime64[ns]"))
            if ka == "date" and kb in ("number", "text", "null"):
                days = self.number(b, where)
                days = -days if (op == "-" and days is not None) else days
                return self._add_days(a, days, where)
            if kb == "date" and op == "+" and ka in ("number", "text", "null"):
                return self._add_days(b, self.number(a, where), where)
        raise Clash(f"cannot compute {ka} {op} {kb} in {where}")

    def _add_days(self, date: Any, days: Any, where: str) -> Any:
        if date is None or days is None:
            return None
        if isinstance(days, pd.Series):
            values = days.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            huge = ~np.isnan(values) & ~(np.abs(values) <= MAX_DAYS_ADDED)
            if huge.any():
                self.issue(huge & ~na_mask(date, self.n), "invalid_operation",
                           f"more than {MAX_DAYS_ADDED:,} days (200 years) added to a date in "
                           f"{where}")
                days = days.astype("Float64").mask(huge)
        elif not abs(float(days)) <= MAX_DAYS_ADDED:
            raise Clash(f"{float(days):g} days added to a date in {where}; at most "
                         f"{MAX_DAYS_ADDED:,} (200 years)")
        if not isinstance(date, pd.Series) and not isinstance(days, pd.Series):
            return date + pd.Timedelta(days=round(float(days)))
        out, fractional = add_days(self.series(date, "datetime64[ns]"),
                                   days if isinstance(days, pd.Series) else days)
        return out

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        where = f"`{self.src(node)}`"
        values = [self.boolean(self.visit(v), where) for v in node.values]
        result = self.series(values[0], "boolean") if values[0] is not None else \
            pd.Series(missing_array(self.n, "boolean"), index=self.ctx.index)
        for v in values[1:]:
            other = self.series(v, "boolean") if v is not None else \
                pd.Series(missing_array(self.n, "boolean"), index=self.ctx.index)
            result = (result & other) if isinstance(node.op, ast.And) else (result | other)
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        where = f"`{self.src(node)}`"
        left = self.visit(node.left)
        result: Any = True
        for op, comp in zip(node.ops, node.comparators):
            if isinstance(op, (ast.Is, ast.IsNot)):
                isna = na_mask(left, self.n)
                vals = isna if isinstance(op, ast.Is) else ~isna
                return pd.Series(bool_array(vals), index=self.ctx.index)
            if isinstance(op, (ast.In, ast.NotIn)):
                return self._isin(left, comp, isinstance(op, ast.NotIn), where)
            right = self.visit(comp)
            part = self._compare(left, right, COMPARISONS[type(op)], where)
            result = part if result is True else (self.series(result, "boolean") &
                                                  self.series(part, "boolean"))
            left = right
        return result

    def _compare(self, a: Any, b: Any, op: str, where: str) -> Any:
        ka, kb = value_kind(a), value_kind(b)
        if "null" in (ka, kb):
            return pd.Series(missing_array(self.n, "boolean"), index=self.ctx.index)
        if "date" in (ka, kb):
            a, b = self.date(a, where), self.date(b, where)
        elif ka != kb and {ka, kb} <= {"text", "number", "bool"}:
            a, b = self.number(a, where), self.number(b, where)
        elif ka == kb == "text":
            a = a.astype("string") if isinstance(a, pd.Series) else a
            b = b.astype("string") if isinstance(b, pd.Series) else b
        if a is None or b is None:
            return pd.Series(missing_array(self.n, "boolean"), index=self.ctx.index)
        if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
            return bool(_PY_CMP[op](a, b))
        r = _PY_CMP[op](a, b)
        if isinstance(r, pd.Series) and r.dtype == bool:
            # numpy-backed comparisons (dates) give False for missing: restore the missing
            na = na_mask(a, self.n) | na_mask(b, self.n)
            r = pd.Series(pd.arrays.BooleanArray(r.to_numpy(), na), index=self.ctx.index)
        return r.astype("boolean")

    def _isin(self, left: Any, comp: ast.AST, negate: bool, where: str) -> Any:
        literals = [literal_value(e) for e in comp.elts]  # type: ignore[attr-defined]
        values = [v for v in literals if v is not None]
        kinds = {value_kind(v) for v in values}
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
            if value_kind(left_s) == "text":
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
        where = f"`{self.src(node)}`"
        cond = self.boolean(self.visit(node.test), where)
        a, b = self.visit(node.body), self.visit(node.orelse)
        return _where(self, cond, a, b)

    def visit_Call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]
        where = f"`{self.src(node)}`"
        args = [self.visit(a) for a in node.args]
        return FUNCTIONS[name].evaluate(self, args, where)


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod,
}

_PY_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _where(ev: _Evaluator, cond: Any, a: Any, b: Any) -> Any:
    if cond is None:
        return None
    if not isinstance(cond, pd.Series):
        return a if cond else b
    ka, kb = value_kind(a), value_kind(b)
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

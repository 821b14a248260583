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
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd

from harmonise.expressions.language import (
    _ARITH,
    _CMP,
    _CONSTANTS,
    Expression,
    literal_value,
    unparse,
)
from harmonise.values.cells import (
    bool_array,
    canonical_text,
    float_array,
    missing_array,
    parse_booleans,
)
from harmonise.values.dates import add_days, days_between, parse_dates
from harmonise.values.problems import Issue
from repository.errors import HarmonisationError

__all__ = ["EvalContext", "FrameContext", "evaluate", "round_half_away", "MAX_DAYS_ADDED",
           "MAX_WHOLE_NUMBER"]

#: most days (200 years) that ``date + n`` adds or subtracts; more is reported as a problem
MAX_DAYS_ADDED = 73_050
#: largest whole number ``round``/``floor``/``ceil`` give (2**53: exact in a 64-bit float)
MAX_WHOLE_NUMBER = 2**53


class EvalContext(Protocol):
    """What evaluation needs from the engine."""

    @property
    def n(self) -> int:
        """The number of rows."""

    @property
    def index(self) -> pd.Index:
        """The rows' index."""

    def column_value(self, name: str) -> pd.Series:
        """A raw column, missing codes applied, as numbers, dates, booleans or text."""

    def variable_value(self, name: str) -> pd.Series:
        """A harmonised variable computed by an earlier rule."""

    def to_number(self, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        """Parse text as numbers (Float64) with the source's decimal mark; ``bad`` mask."""


class FrameContext:
    """An :class:`EvalContext` over a harmonised table (its columns are the variables), for
    evaluating dictionary rules: ``evaluate(rule.expression, FrameContext(data))``. Raw columns
    (``$NAME``) are not available here."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)

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
        with np.errstate(all="ignore"):
            value = ev.visit(expr.tree.body)
    except _Clash as exc:
        raise HarmonisationError(
            f"expression {expr.text!r}: {exc}; check the types of the columns it reads "
            "(`ipdrepo mapping check` shows them).", expression=expr.text,
            reason="type") from exc
    except (OverflowError, FloatingPointError, ZeroDivisionError) as exc:
        raise HarmonisationError(
            f"expression {expr.text!r}: arithmetic overflow ({exc}); a value is too large to "
            "compute. Check the constants and the columns it reads.", expression=expr.text,
            reason="overflow") from exc
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
            return pd.Series(missing_array(self.n, dtype or "Float64"), index=self.ctx.index)
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
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
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
        if isinstance(days, pd.Series):
            values = days.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            huge = ~np.isnan(values) & ~(np.abs(values) <= MAX_DAYS_ADDED)
            if huge.any():
                self.issue(huge & ~_na_mask(date, self.n), "invalid_operation",
                           f"more than {MAX_DAYS_ADDED:,} days (200 years) added to a date in "
                           f"{where}")
                days = days.astype("Float64").mask(huge)
        elif not abs(float(days)) <= MAX_DAYS_ADDED:
            raise _Clash(f"{float(days):g} days added to a date in {where}; at most "
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
                isna = _na_mask(left, self.n)
                vals = isna if isinstance(op, ast.Is) else ~isna
                return pd.Series(bool_array(vals), index=self.ctx.index)
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
            na = _na_mask(a, self.n) | _na_mask(b, self.n)
            r = pd.Series(pd.arrays.BooleanArray(r.to_numpy(), na), index=self.ctx.index)
        return r.astype("boolean")

    def _isin(self, left: Any, comp: ast.AST, negate: bool, where: str) -> Any:
        literals = [literal_value(e) for e in comp.elts]  # type: ignore[attr-defined]
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
        where = f"`{self.src(node)}`"
        cond = self.boolean(self.visit(node.test), where)
        a, b = self.visit(node.body), self.visit(node.orelse)
        return _where(self, cond, a, b)

    def visit_Call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]
        where = f"`{self.src(node)}`"
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
    if name in ("contains", "startswith"):
        return _contains(ev, name, args, where)
    if name in ("isnull", "notnull"):
        isna = _na_mask(args[0], n)
        return pd.Series(bool_array(isna if name == "isnull" else ~isna), index=ev.ctx.index)
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
    if name == "make_date":
        return _make_date(ev, args, where)
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
        if digits <= 0:
            x = _whole(ev, ev.series(x, "Float64").astype("Float64"), where) \
                if isinstance(x, pd.Series) else x
            if not isinstance(x, pd.Series) and not abs(float(x)) <= MAX_WHOLE_NUMBER:
                raise _Clash(f"{float(x):g} in {where} is too large for a whole number")
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
    result = pd.Series(float_array(out), index=arr.index)
    if name in ("floor", "ceil"):
        return _whole(ev, result, where)
    return ev.finite(result, where) if isinstance(args[0], pd.Series) else (
        None if pd.isna(result.iloc[0]) else float(result.iloc[0]))


def _contains(ev: _Evaluator, name: str, args: list[Any], where: str) -> Any:
    """``contains``/``startswith``: per distinct text, whether it holds (starts with) any of the
    literal texts; missing stays missing."""
    x, needles = args[0], [str(a) for a in args[1:]]
    if x is None:
        return None
    if not isinstance(x, pd.Series):
        t = canonical_text(x)
        if t is None:
            return None
        return any((t.startswith if name == "startswith" else t.__contains__)(s) for s in needles)
    codes, uniques = pd.factorize(x.to_numpy(dtype=object), use_na_sentinel=True)
    texts = [canonical_text(u) for u in uniques]
    hit = np.array([t is not None and any(
        (t.startswith(s) if name == "startswith" else s in t) for s in needles) for t in texts],
        dtype=bool)
    values = hit[np.maximum(codes, 0)] if len(hit) else np.zeros(len(codes), dtype=bool)
    return pd.Series(pd.arrays.BooleanArray(values, codes < 0), index=x.index)


def _whole(ev: _Evaluator, values: pd.Series, where: str) -> pd.Series:
    """Values that can become whole numbers; larger ones are reported and become missing."""
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    huge = ~np.isnan(arr) & ~(np.abs(arr) <= MAX_WHOLE_NUMBER)
    if huge.any():
        ev.issue(huge, "invalid_operation", f"too large for a whole number (over 2**53) in "
                 f"{where}")
        return values.mask(huge)
    return values


def _make_date(ev: _Evaluator, args: list[Any], where: str) -> Any:
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
        frame = pd.DataFrame({"year": y[ok].astype(int), "month": m[ok].astype(int),
                              "day": d[ok].astype(int)})
        built = pd.to_datetime(frame, errors="coerce").to_numpy(dtype="datetime64[ns]")
        out[np.flatnonzero(ok)] = built
        ok[np.flatnonzero(ok)[np.isnat(built)]] = False
    ev.issue(present & ~ok, "not_a_date", f"not a real date (in {where})")
    return pd.Series(out, index=ev.ctx.index)


def round_half_away(x: Any, digits: int = 0) -> Any:
    """Round half away from zero (``round(2.5) == 3``, ``round(-2.5) == -3``); keeps missing."""
    scale = 10.0 ** digits
    if isinstance(x, pd.Series):
        values = x.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            scaled = np.round(values * scale, 9)
            out = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / scale
        result = pd.Series(float_array(out), index=x.index)
        if digits <= 0:
            return result.astype("Int64")
        return result
    scaled = round(float(x) * scale, 9)
    out = float(np.sign(scaled) * np.floor(abs(scaled) + 0.5) / scale)
    return int(out) if digits <= 0 else out

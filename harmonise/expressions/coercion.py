"""The values an expression computes with, and turning them into what an operation needs.

A value is a scalar (a constant, ``None`` for null) or a pandas Series over the rows. A
:class:`Coercer` turns values into numbers, true/false values, dates and whole columns for the
operators (:mod:`harmonise.expressions.evaluation`) and the functions
(:mod:`harmonise.expressions.functions`): cells that cannot be turned become missing *and* are
kept as :class:`~harmonise.values.problems.Issue` s; a clash over a whole column (a date where a
number is needed) raises :class:`Clash`, which evaluation reports as a
:class:`~repository.errors.HarmonisationError`.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from harmonise.values.cells import filled_array, missing_array, parse_booleans
from harmonise.values.problems import Issue

__all__ = ["Clash", "Coercer", "EvalContext", "value_kind", "series_kind", "na_mask"]


class Clash(Exception):
    """A type clash over a whole column (or a constant): the expression cannot be evaluated."""


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


def value_kind(v: Any) -> str:
    """The kind of a runtime value: null, bool, number, text or date."""
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
        return series_kind(v)
    raise Clash(f"unsupported value {v!r}")


def series_kind(s: pd.Series) -> str:
    """The kind of a column by its dtype: bool, date, number or (anything else) text."""
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "date"
    if pd.api.types.is_numeric_dtype(dt):
        return "number"
    return "text"


def na_mask(v: Any, n: int) -> np.ndarray:
    """Where ``v`` is missing, over ``n`` rows."""
    if isinstance(v, pd.Series):
        return v.isna().to_numpy()
    return np.full(n, v is None or v is pd.NA)


class Coercer:
    """Coercions over the rows of an :class:`EvalContext`, collecting the issues they meet."""

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.n = ctx.n
        self.issues: list[Issue] = []

    @property
    def index(self) -> pd.Index:
        return self.ctx.index

    def issue(self, mask: np.ndarray, reason: str, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.issues.append(Issue(mask, reason, message))

    def series(self, v: Any, dtype: str | None = None) -> pd.Series:
        if isinstance(v, pd.Series):
            return v
        if v is None:
            return pd.Series(missing_array(self.n, dtype or "Float64"), index=self.ctx.index)
        if dtype is not None and _fillable(v, dtype):
            # one value repeated: filled at once (a list of n copies is converted one by one)
            return pd.Series(filled_array(self.n, v, dtype), index=self.ctx.index)
        return pd.Series([v] * self.n, index=self.ctx.index, dtype=dtype)

    def number(self, v: Any, where: str) -> Any:
        k = value_kind(v)
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
                    raise Clash(f"{v!r} in {where} is not a number") from None
            parsed, bad = self.ctx.to_number(v)
            self.issue(bad, "not_a_number", f"not a number (in {where})")
            return parsed
        if k == "bool":
            return v.astype("Int64") if isinstance(v, pd.Series) else int(v)
        raise Clash(f"{where} needs a number but got a {k}")

    def boolean(self, v: Any, where: str) -> Any:
        k = value_kind(v)
        if k == "null":
            return None
        if k == "bool":
            return v.astype("boolean") if isinstance(v, pd.Series) else bool(v)
        if k in ("text", "number") and isinstance(v, pd.Series):
            out, bad = parse_booleans(v)
            self.issue(bad, "not_boolean", f"not a true/false value (in {where})")
            return out
        raise Clash(f"{where} needs true/false but got a {k}")

    def date(self, v: Any, where: str) -> Any:
        k = value_kind(v)
        if k in ("null", "date"):
            return v
        if k == "text" and isinstance(v, str):
            try:
                return pd.Timestamp(v)
            except ValueError:
                raise Clash(f"{v!r} in {where} is not an ISO date (YYYY-MM-DD)") from None
        raise Clash(f"{where} needs a date but got a {k}")

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
            raise Clash(f"{where} is not a finite number")
        return v


def _fillable(value: Any, dtype: str) -> bool:
    """Does :func:`filled_array` make what ``pd.Series([value] * n, dtype=dtype)`` makes?
    (A plain number other than NaN as Float64, a bool as boolean, a str as string, a naive
    Timestamp as datetime64[ns]; anything else takes the slow, validating road.)"""
    if dtype == "Float64":
        return type(value) in (int, float) and value == value
    if dtype == "boolean":
        return type(value) is bool
    if dtype == "string":
        return type(value) is str
    if dtype == "datetime64[ns]":
        return type(value) is pd.Timestamp and value.tz is None
    return False

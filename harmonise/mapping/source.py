"""Vectorised, cached access to the raw columns of one delivery.

Rules read raw columns through a :class:`SourceFrame`: it applies the mapping's missing-value
codes, reads numbers with the source's decimal mark, parses dates, and works on each column's
*distinct* values (``pandas.factorize`` once per column, cached), so a column of a million rows
with twenty distinct codes costs twenty look-ups. Every reader returns the rows it could not
read (``bad``) next to the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harmonise.values.cells import (
    canonical_text,
    canonical_texts,
    parse_booleans,
    parse_numbers,
    string_array,
)
from harmonise.values.dates import parse_dates
from harmonise.values.partial_dates import PartialDates, parse_iso8601

__all__ = ["SourceFrame", "Factorised", "SourceContext", "positional"]


def positional(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed 0, 1, ..., n - 1: a shallow copy (the same column arrays, no cell
    copied) when it is already, else ``reset_index(drop=True)``. The engine never writes into
    a raw frame."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame.copy(deep=False)
    return frame.reset_index(drop=True)


class Factorised:
    """A column as ``codes`` (row -> distinct value, -1 for NA) and its distinct values;
    :attr:`texts` (their canonical texts, None for blank) is computed on first use."""

    def __init__(self, codes: np.ndarray, uniques: np.ndarray) -> None:
        self.codes = codes
        self.uniques = uniques
        self._texts: np.ndarray | None = None

    @property
    def texts(self) -> np.ndarray:
        if self._texts is None:
            u = self.uniques
            if u.dtype.kind == "M":
                texts = np.datetime_as_string(u, unit="D").astype(object)
                times = u != u.astype("datetime64[D]")
                if times.any():
                    texts[times] = [canonical_text(pd.Timestamp(x)) for x in u[times]]
                self._texts = texts
            else:
                self._texts = canonical_texts(u)
        return self._texts

    def take(self, per_unique: np.ndarray, fill: Any) -> np.ndarray:
        """Spread a per-distinct-value array to rows (``fill`` where the row is NA)."""
        if len(per_unique) == 0:
            return np.full(len(self.codes), fill, dtype=per_unique.dtype if per_unique.dtype !=
                           object else object)
        na = self.codes < 0
        if na.any():
            out = per_unique[np.where(na, 0, self.codes)]
            out[na] = fill
            return out
        return per_unique[self.codes]


class SourceFrame:
    """The raw delivery seen through a mapping's source settings."""

    def __init__(self, frame: pd.DataFrame, *, missing_codes: Sequence[Any] = (),
                 decimal: str = ".", thousands: str | None = None) -> None:
        self.frame = positional(frame)
        self.n = len(frame)
        self.index = pd.RangeIndex(self.n)
        self.decimal = decimal
        self.thousands = thousands
        self.missing_codes = frozenset(t for t in (canonical_text(c) for c in missing_codes)
                                       if t is not None)
        self._factors: dict[str, Factorised] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._columns: dict[str, pd.Series] = {}
        self._names = frozenset(str(c) for c in self.frame.columns)
        #: while a rule reading a joined dataset runs: its name, so that its columns are found
        #: under ``DATASET.COLUMN`` (see harmonise.mapping.datasets)
        self.scope: str | None = None

    def _name(self, column: str) -> str:
        if self.scope is not None:
            qualified = f"{self.scope}.{column}"
            if qualified in self._names:
                return qualified
        return column

    def _column(self, name: str) -> pd.Series:
        """The raw column (each taken from the frame once: pandas builds a Series per
        access)."""
        found = self._columns.get(name)
        if found is None:
            found = self._columns[name] = self.frame[name]
        return found

    def has(self, column: str) -> bool:
        column = self._name(column)
        return column in self.frame.columns

    def raw(self, column: str) -> pd.Series:
        column = self._name(column)
        return self._column(column)

    def factor(self, column: str) -> Factorised:
        column = self._name(column)
        f = self._factors.get(column)
        if f is None:
            series = self._column(column)
            values = series.to_numpy(dtype="datetime64[ns]") \
                if pd.api.types.is_datetime64_any_dtype(series.dtype) and \
                getattr(series.dtype, "tz", None) is None else series.to_numpy()
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            f = Factorised(np.asarray(codes), np.asarray(uniques))
            self._factors[column] = f
        return f

    def _missing_unique(self, column: str, extra: Sequence[Any]) -> np.ndarray:
        column = self._name(column)
        key = ("missing_unique", column, tuple(extra))
        found = self._cache.get(key)
        if found is None:
            f = self.factor(column)
            codes = self._codes(extra)
            texts = f.texts  # canonical: str, or None for blank
            found = np.fromiter((t is None or t in codes for t in texts), dtype=bool,
                                count=len(texts))
            self._cache[key] = found
        return found

    def _codes(self, extra: Sequence[Any]) -> set[str]:
        return set(self.missing_codes) | {t for t in (canonical_text(c) for c in extra) if t}

    def missing(self, column: str, extra: Sequence[Any] = ()) -> np.ndarray:
        """Rows that are missing: NA, blank, or a missing-value code."""
        column = self._name(column)
        key = ("missing", column, tuple(extra))
        if key not in self._cache:
            series = self._column(column)
            dtype = series.dtype
            if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                values = series.to_numpy(dtype=float, na_value=np.nan)
                mask = np.isnan(values)
                numeric = [float(c) for c in self._codes(extra) if _is_number(c)]
                if numeric:
                    mask |= np.isin(values, numeric)
            elif pd.api.types.is_datetime64_any_dtype(dtype) and getattr(dtype, "tz", None) is None:
                values = series.to_numpy(dtype="datetime64[ns]")
                mask = np.isnat(values)
                dates = [np.datetime64(c, "ns") for c in self._codes(extra) if _is_iso(c)]
                if dates:
                    mask |= np.isin(values, np.array(dates, dtype="datetime64[ns]"))
            else:
                f = self.factor(column)
                mask = f.take(self._missing_unique(column, extra), True).astype(bool)
            self._cache[key] = mask
        return self._cache[key]

    def numbers(self, column: str, extra: Sequence[Any] = ()) -> tuple[pd.Series, np.ndarray]:
        """The column as Float64 numbers (missing codes -> NA) and the rows that are not
        numbers."""
        column = self._name(column)
        key = ("numbers", column, tuple(extra))
        if key in self._cache:
            return self._cache[key]
        series = self._column(column)
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
                series.dtype):
            missing = self.missing(column, extra)
            values = series.to_numpy(dtype=float, na_value=np.nan).copy()
            with np.errstate(invalid="ignore"):
                bad = ~missing & ~np.isfinite(values)
            values[missing | bad] = np.nan
        else:
            f = self.factor(column)
            uvals, ubad = parse_numbers(f.texts, decimal=self.decimal, thousands=self.thousands)
            umiss = self._missing_unique(column, extra)
            uvals[umiss] = np.nan
            ubad &= ~umiss
            values = f.take(uvals, np.nan).astype(float, copy=False)
            bad = f.take(ubad, False).astype(bool, copy=False)
        nan = np.isnan(values)
        out = pd.Series(pd.arrays.FloatingArray(np.where(nan, 0.0, values), nan),
                        index=self.index)
        self._cache[key] = (out, bad)
        return out, bad

    def texts(self, column: str, extra: Sequence[Any] = ()) -> pd.Series:
        """The column as canonical text (``1.0`` -> ``"1"``), missing codes -> NA."""
        column = self._name(column)
        key = ("texts", column, tuple(extra))
        if key not in self._cache:
            f = self.factor(column)
            utexts = f.texts.copy()
            utexts[self._missing_unique(column, extra)] = None
            rows = f.take(utexts, None)
            self._cache[key] = pd.Series(string_array(rows), index=self.index)
        return self._cache[key]

    def dates(self, column: str, fmt: str, extra: Sequence[Any] = (), *,
              datetime: bool = False) -> tuple[pd.Series, np.ndarray]:
        """The column parsed as dates with ``fmt`` (see :mod:`harmonise.values.dates`)."""
        column = self._name(column)
        key = ("dates", column, fmt, tuple(extra), datetime)
        if key not in self._cache:
            missing = self.missing(column, extra)
            series = self._column(column)
            f = None if pd.api.types.is_datetime64_any_dtype(series.dtype) else \
                self.factor(column)
            self._cache[key] = parse_dates(series, fmt, datetime=datetime, missing=missing,
                                           factorised=None if f is None else
                                           (f.codes, f.uniques))
        return self._cache[key]

    def partial_dates(self, column: str, impute: str, extra: Sequence[Any] = (), *,
                      datetime: bool = False) -> PartialDates:
        """The column read as ISO 8601 dates that may be partial (format ``iso8601``), partial
        ones completed by ``impute`` (harmonise.values.partial_dates)."""
        column = self._name(column)
        key = ("partial", column, impute, tuple(extra), datetime)
        if key not in self._cache:
            self._cache[key] = parse_iso8601(self._column(column), impute, datetime=datetime,
                                             missing=self.missing(column, extra))
        return self._cache[key]

    def booleans(self, column: str, extra: Sequence[Any] = ()) -> tuple[pd.Series, np.ndarray]:
        column = self._name(column)
        texts = self.texts(column, extra)
        return parse_booleans(texts)

    def kind(self, column: str) -> str:
        """What the column holds: number, date, bool or text (object columns by their values)."""
        column = self._name(column)
        key = ("kind", column)
        if key in self._cache:
            return self._cache[key]
        dtype = self._column(column).dtype
        if pd.api.types.is_bool_dtype(dtype):
            kind = "bool"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "date"
        elif pd.api.types.is_numeric_dtype(dtype):
            kind = "number"
        else:
            f = self.factor(column)
            present = [u for u, t in zip(f.uniques, f.texts) if t is not None]
            import datetime as dt

            if present and all(isinstance(u, (dt.date, pd.Timestamp)) for u in present):
                kind = "date"
            else:
                _, ubad = parse_numbers(f.texts, decimal=self.decimal, thousands=self.thousands)
                umiss = self._missing_unique(column, ())
                kind = "number" if present and not (ubad & ~umiss).any() else "text"
        self._cache[key] = kind
        return kind

    def value(self, column: str) -> pd.Series:
        """The column for expressions: numbers, dates, booleans or text by :meth:`kind`."""
        column = self._name(column)
        kind = self.kind(column)
        if kind == "number":
            return self.numbers(column)[0]
        if kind == "date":
            return self.dates(column, "native")[0]
        if kind == "bool":
            return self.booleans(column)[0]
        return self.texts(column)

    def to_number(self, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        """Parse a text Series as numbers (the source's decimal mark)."""
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = canonical_texts(np.asarray(uniques, dtype=object))
        uvals, ubad = parse_numbers(texts, decimal=self.decimal, thousands=self.thousands)
        f = Factorised(np.asarray(codes), np.asarray(uniques, dtype=object))
        vals = f.take(uvals, np.nan).astype(float)
        bad = f.take(ubad, False).astype(bool)
        out = pd.Series(pd.arrays.FloatingArray(np.where(np.isnan(vals), 0.0, vals),
                                                np.isnan(vals)), index=values.index)
        return out, bad

    def display(self, column: str, rows: np.ndarray) -> list[str]:
        """The raw values at ``rows`` as text for problem reports (``""`` for blank)."""
        column = self._name(column)
        f = self.factor(column)
        codes = f.codes[rows]
        return ["" if c < 0 or f.texts[c] is None else str(f.texts[c]) for c in codes]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_iso(text: str) -> bool:
    try:
        np.datetime64(text, "ns")
    except ValueError:
        return False
    return len(text) >= 10


class SourceContext:
    """The expression-evaluation context over one :class:`SourceFrame`
    (:class:`harmonise.expressions.language.EvalContext`): its rows, index and raw columns.
    Subclasses say what a harmonised variable is (:meth:`variable_value`)."""

    def __init__(self, source: SourceFrame) -> None:
        self.source = source

    @property
    def n(self) -> int:
        return self.source.n

    @property
    def index(self) -> pd.Index:
        return self.source.index

    def column_value(self, name: str) -> pd.Series:
        return self.source.value(name)

    def variable_value(self, name: str) -> pd.Series:
        raise NotImplementedError

    def to_number(self, values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        return self.source.to_number(values)

"""Reading raw values: canonical text, numbers, booleans - vectorised over distinct values.

Deliveries arrive as text (CSV, mixed Excel cells) or typed (SAS/Stata/SPSS/Parquet). Rules
compare and parse values through their *canonical text*: what a person would type, so that
the recode key ``"1"`` matches the SPSS value ``1.0``, the CSV text ``" 1 "`` and the Stata
integer ``1`` alike. Every parser returns a ``bad`` mask of values that were present but could
not be read, so the engine can report them instead of silently turning them into missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TRUE_TOKENS",
    "FALSE_TOKENS",
    "canonical_text",
    "canonical_texts",
    "parse_numbers",
    "parse_booleans",
    "missing_array",
    "filled_array",
    "float_array",
    "bool_array",
    "string_array",
]

#: spellings read as true / false (compared after lower-casing)
TRUE_TOKENS = frozenset({"1", "true", "t", "yes", "y"})
FALSE_TOKENS = frozenset({"0", "false", "f", "no", "n"})


def canonical_text(value: Any) -> str | None:
    """A raw value as the text a person would type: ``1.0`` -> ``"1"``, strings stripped,
    missing (None, NaN, NaT, blank) -> ``None``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        if float(value).is_integer() and abs(float(value)) < 1e15:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else canonical_text(pd.Timestamp(value))
    text = str(value).strip()
    return text or None


def canonical_texts(values: Iterable[Any]) -> np.ndarray:
    """:func:`canonical_text` of each value, as an object array (None for missing)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=object)
    if arr.dtype.kind == "f":
        return _float_texts(arr)
    if arr.dtype.kind in "iu":
        return arr.astype(str).astype(object)
    if len(arr) and pd.api.types.infer_dtype(arr, skipna=False) == "string":
        out = np.empty(len(arr), dtype=object)
        out[:] = [v.strip() or None for v in arr]
        return out
    typed = _typed_texts(arr) if len(arr) else None
    if typed is not None:
        return typed
    return np.array([canonical_text(v) for v in arr], dtype=object)


def _float_texts(arr: np.ndarray) -> np.ndarray:
    out = np.empty(len(arr), dtype=object)
    finite = ~np.isnan(arr)
    whole = finite & (np.floor(arr) == arr) & (np.abs(arr) < 1e15)
    out[:] = None
    out[whole] = arr[whole].astype(np.int64).astype(str)
    frac = finite & ~whole
    out[frac] = [repr(float(v)) for v in arr[frac]]
    return out


_DATE_TYPES = frozenset({pd.Timestamp, dt.datetime, dt.date})


def _typed_texts(arr: np.ndarray) -> np.ndarray | None:
    """The canonical texts of an object array holding Python ints only, floats only or
    (naive) dates and datetimes only, computed on the whole array (as :func:`canonical_text`
    would give them one by one); None for any other mix of values."""
    types = set(map(type, arr))
    if types == {int}:
        try:
            return arr.astype(np.int64).astype(str).astype(object)
        except OverflowError:  # beyond 64 bits: one by one
            return None
    if types == {float}:
        floats = arr.astype(np.float64)
        return None if np.isinf(floats).any() else _float_texts(floats)
    if types <= _DATE_TYPES:
        return _date_texts(arr)
    return None


def _date_texts(arr: np.ndarray) -> np.ndarray | None:
    """Dates at midnight as ``YYYY-MM-DD`` at once, times one by one; None where pandas cannot
    hold the values (time zones, years outside 1677-2262)."""
    try:
        index = pd.DatetimeIndex(arr)
        if index.tz is not None:
            return None
        stamps = index.to_numpy(dtype="datetime64[ns]")
    except (ValueError, TypeError, OverflowError):
        return None
    midnight = stamps == stamps.astype("datetime64[D]")
    out = np.empty(len(arr), dtype=object)
    out[midnight] = np.datetime_as_string(stamps[midnight], unit="D").astype(object)
    out[~midnight] = [canonical_text(v) for v in arr[~midnight]]
    return out


def parse_numbers(texts: np.ndarray, *, decimal: str = ".",
                  thousands: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse canonical texts (None = missing) as floats.

    Returns ``(values, bad)``: NaN where missing or unparseable; ``bad`` marks present texts
    that are not finite numbers. ``decimal`` is the decimal mark (``","`` for European CSV
    exports); ``thousands`` an optional digit-group separator to drop.
    """
    texts = np.asarray(texts, dtype=object)
    present = np.array([t is not None for t in texts], dtype=bool)
    values = np.full(len(texts), np.nan)
    if present.any():
        # str.replace on the list (what pandas' .str.replace does, without its per-value calls)
        work = pd.Series(texts[present], dtype=object).astype(str).tolist()
        if thousands:
            work = [t.replace(thousands, "") for t in work]
        if decimal != ".":
            # a dot would be a second decimal mark: make it a letter so that "1.5" and
            # "1,234.5" fail under "," (a NUL, as before, ended the text: "1,234.5" read 1.234)
            work = [t.replace(".", "x").replace(decimal, ".") for t in work]
        work = [t.replace(" ", "") for t in work]
        values[present] = pd.to_numeric(pd.Series(work, dtype=object), errors="coerce"
                                        ).to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = present & ~np.isfinite(values)
    values[bad] = np.nan
    return values, bad


def parse_booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Read true/false from booleans, 0/1 numbers or the spellings in :data:`TRUE_TOKENS` /
    :data:`FALSE_TOKENS`; returns a ``boolean`` Series and the ``bad`` mask."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), np.zeros(len(values), dtype=bool)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = canonical_texts(np.asarray(uniques, dtype=object))
    lowered = [t.lower() if t is not None else None for t in texts]
    truth = np.array([t in TRUE_TOKENS for t in lowered], dtype=bool)
    falsity = np.array([t in FALSE_TOKENS for t in lowered], dtype=bool)
    present = np.array([t is not None for t in lowered], dtype=bool)
    bad_u = present & ~truth & ~falsity
    safe = np.where(codes >= 0, codes, 0)
    if len(uniques):
        data = truth[safe]
        mask = (codes < 0) | ~(truth | falsity)[safe]
        bad = (codes >= 0) & bad_u[safe]
    else:
        data = np.zeros(len(values), dtype=bool)
        mask = np.ones(len(values), dtype=bool)
        bad = np.zeros(len(values), dtype=bool)
    return pd.Series(pd.arrays.BooleanArray(data, mask), index=values.index), bad


# --- fast constructors for nullable arrays (pd.array on Python lists is slow) ------------------

def missing_array(n: int, dtype: str) -> Any:
    """``n`` missing values of a nullable ``dtype`` (Int64, Float64, boolean, string, dates)."""
    if dtype == "Int64":
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    if dtype == "Float64":
        return pd.arrays.FloatingArray(np.zeros(n, dtype=np.float64), np.ones(n, dtype=bool))
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    if dtype.startswith("datetime64"):
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    return string_array(np.full(n, None, dtype=object))


def filled_array(n: int, value: Any, dtype: str) -> Any:
    """``n`` copies of ``value`` as a nullable ``dtype``."""
    if value is None:
        return missing_array(n, dtype)
    if dtype == "Int64":
        return pd.arrays.IntegerArray(np.full(n, int(value), dtype=np.int64),
                                      np.zeros(n, dtype=bool))
    if dtype == "Float64":
        return pd.arrays.FloatingArray(np.full(n, float(value), dtype=np.float64),
                                       np.zeros(n, dtype=bool))
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.full(n, bool(value)), np.zeros(n, dtype=bool))
    if dtype.startswith("datetime64"):
        return np.full(n, pd.Timestamp(value).to_datetime64(), dtype="datetime64[ns]")
    return string_array(np.full(n, str(value), dtype=object))


def float_array(values: np.ndarray) -> Any:
    """A Float64 array from floats, NaN (and infinities) becoming missing."""
    values = np.asarray(values, dtype=np.float64)
    mask = ~np.isfinite(values)
    return pd.arrays.FloatingArray(np.where(mask, 0.0, values), mask)


def bool_array(values: np.ndarray, mask: np.ndarray | None = None) -> Any:
    values = np.asarray(values, dtype=bool)
    return pd.arrays.BooleanArray(values, np.zeros(len(values), dtype=bool) if mask is None
                                  else np.asarray(mask, dtype=bool))


def string_array(values: np.ndarray) -> Any:
    """A ``string`` array from an object array of str / None."""
    arr = np.asarray(values, dtype=object)
    return pd.arrays.StringArray(arr) if len(arr) else pd.array([], dtype="string")

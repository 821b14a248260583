"""One trial's harmonised columns as numpy arrays, each extracted from pandas once.

The integrity checks (:mod:`harmonise.checks.integrity`) look at the same columns many times -
the arm in every check, each baseline covariate for balance and for missingness, the
randomisation date for the weekday, the sequence and the dates. :class:`TrialColumns` extracts
each column once, in the form a check needs (missing mask, numbers, category codes, dates, arm
index), and keeps it for the next check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TrialColumns", "raw_values"]

#: integer categories are coded by value (no sort) when they span at most this many values
_DENSE_SPAN = 4096


def _masked(series: pd.Series) -> bool:
    """A pandas nullable array (Int64, Float64, boolean): values plus a mask, no objects."""
    return isinstance(series.array, pd.arrays.IntegerArray | pd.arrays.FloatingArray
                      | pd.arrays.BooleanArray)


def raw_values(series: pd.Series) -> Any:
    """The values to factorise: a python-string column's own object array (pandas factorises
    it about twice as fast as the Series), else the Series."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "python":
        return np.asarray(series.array)
    return series


def _missing(series: pd.Series) -> np.ndarray:
    """The missing mask (for nullable arrays, their mask, without building a Series)."""
    if _masked(series):
        return np.asarray(series.array.isna(), dtype=bool)
    return series.isna().to_numpy(dtype=bool)


class TrialColumns:
    """Columns of one trial's frame, extracted on first use and kept."""

    def __init__(self, frame: pd.DataFrame, arm_variable: str, arm_codes: tuple[Any, ...]):
        self.frame = frame
        self.n = len(frame)
        self._arm_variable = arm_variable
        self._arm_codes = arm_codes
        self._cache: dict[tuple[str, str], Any] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.frame.columns

    def _get(self, kind: str, name: str, make: Any) -> Any:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = make(self.frame[name])
        return self._cache[key]

    def known(self, name: str) -> np.ndarray:
        """True where the column has a value."""
        key = ("codes", name)
        if key in self._cache:  # strings: the codes already say where values are
            return self._cache[key][0] >= 0
        return self._get("known", name, lambda s: ~_missing(s))

    def numbers(self, name: str) -> np.ndarray:
        """The column as floats, NaN where missing or not a number."""
        def make(s: pd.Series) -> np.ndarray:
            if _masked(s) or pd.api.types.is_numeric_dtype(s.dtype):
                return s.to_numpy(dtype=float, na_value=np.nan)
            return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)

        return self._get("numbers", name, make)

    def codes(self, name: str) -> tuple[np.ndarray, int]:
        """Each row's category as a code (-1 where missing) and the number of codes (integers:
        by value, some codes unused; others: in order of appearance). Tables by code are for
        tests that do not depend on the order of the categories, and drop empty rows."""
        def make(s: pd.Series) -> tuple[np.ndarray, int]:
            if pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                values = s.to_numpy(dtype=np.int64, na_value=0)
                missing = _missing(s)
                present = values[~missing]
                if not present.size:
                    return np.full(len(s), -1, dtype=np.int64), 0
                low, high = int(present.min()), int(present.max())
                if high - low <= _DENSE_SPAN:
                    codes = values - low
                    codes[missing] = -1
                    return codes, high - low + 1
            codes, uniques = pd.factorize(raw_values(s))  # in order of appearance
            return codes.astype(np.int64, copy=False), len(uniques)

        return self._get("codes", name, make)

    def dates(self, name: str) -> np.ndarray:
        """The column as datetime64[ns] (NaT where missing or not a date)."""
        def make(s: pd.Series) -> np.ndarray:
            if not pd.api.types.is_datetime64_any_dtype(s):
                s = pd.to_datetime(s, errors="coerce")
            return s.to_numpy(dtype="datetime64[ns]")

        return self._get("dates", name, make)

    @property
    def arm_values(self) -> tuple[np.ndarray, pd.Index]:
        """The arm column factorised: codes (-1 where missing) and its distinct values, sorted."""
        def make(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
            codes, uniques = pd.factorize(s, sort=True)
            return codes, pd.Index(uniques)

        return self._get("arm-values", self._arm_variable, make)

    @property
    def arm(self) -> np.ndarray:
        """Each row's arm as an index into the registered arms (-1 when missing or not a
        registered arm's code); a value equals a code as pandas' ``==`` says."""
        def make(_: pd.Series) -> np.ndarray:
            codes, uniques = self.arm_values
            index = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last: missing
            values = pd.Series(uniques)
            for i, code in enumerate(self._arm_codes):
                hit = (values == code).to_numpy(dtype=bool, na_value=False)
                index[:-1][hit] = i  # a later arm with the same code wins, as it always did
            return index[codes]

        return self._get("arm", self._arm_variable, make)

    def rows(self, mask: np.ndarray) -> tuple[int, ...]:
        """The delivery rows (``_row``, else 1-based positions) of the rows in ``mask``."""
        mask = np.asarray(mask, dtype=bool)
        if "_row" in self.frame.columns:
            return tuple(int(r) for r in self.frame["_row"].to_numpy()[mask])
        return tuple(int(i) + 1 for i in np.flatnonzero(mask))

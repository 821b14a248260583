"""ISO 8601 dates that may be partial (CDISC ``--DTC`` variables), and their imputation.

CDISC SDTM writes dates as ISO 8601 text with the precision that was collected: ``2014-01-17``,
``2014-01-17T10:30``, but also ``2014-01`` (day unknown), ``2014`` (month and day unknown) and
``2014---17`` (month unknown). The date format ``iso8601`` reads them all; a partial date is never
completed silently. What happens to it is the rule's ``impute:`` setting:

=========  ==============================================================================
impute     a partial date becomes
=========  ==============================================================================
``none``   missing, and reported (reason ``partial_date``): the default
``day``    year-month: the 1st of the month (CDISC pilot ADaM: "if the day component is
           missing, a value of '01' is used"); a year alone stays missing and is reported
``first``  the first day of what is known: ``2014-01`` -> 2014-01-01, ``2014`` -> 2014-01-01
``middle`` ``2014-01`` -> 2014-01-15, ``2014`` -> 2014-07-01
``last``   ``2014-01`` -> 2014-01-31, ``2014`` -> 2014-12-31
=========  ==============================================================================

Every completed cell is *flagged* (an imputation note the engine keeps beside the problems, in
the harmonised trial's ``imputed`` table, the JSON sidecar and ``ipdrepo explain``), with the
precision it had (``D``: the day was imputed, ``M``: month and day, as ADaM's ``--DTF`` flags).
A date with a time keeps the date (or the date and time for datetime variables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonise.values.cells import canonical_text

__all__ = ["IMPUTATIONS", "PartialDates", "parse_iso8601", "check_impute"]

#: impute setting -> what it does (documented in docs/mapping-format.md)
IMPUTATIONS: dict[str, str] = {
    "none": "partial dates are missing and reported",
    "day": "a missing day becomes the 1st of the month; a year alone is missing and reported",
    "first": "the first day of the known month or year",
    "middle": "the 15th of the known month, or 1 July of the known year",
    "last": "the last day of the known month or year",
}

_ISO = re.compile(r"^(\d{4})(?:-(\d{2}|-)(?:-(\d{2}|-)?)?)?(?:T(\d{2})(?::(\d{2})(?::(\d{2})"
                  r"(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


def check_impute(value: object) -> str | None:
    """Why ``value`` is not an impute setting, or None when it is."""
    if value in IMPUTATIONS:
        return None
    return f"impute must be one of {', '.join(IMPUTATIONS)}, not {value!r}"


@dataclass(frozen=True, eq=False)
class PartialDates:
    """A column read as ISO 8601: ``values`` (datetime64[ns], NaT where missing), and boolean
    masks over the rows: ``bad`` (present but not ISO 8601), ``partial`` (partial and left
    missing), ``imputed`` (partial and completed by the impute rule); ``precision`` is ``D``
    where the day was imputed and ``M`` where month and day were."""

    values: pd.Series
    bad: np.ndarray
    partial: np.ndarray
    imputed: np.ndarray
    precision: np.ndarray


def _one(text: str | None, impute: str, datetime: bool) -> tuple[np.datetime64, int, str]:
    """(value, status, precision): status 0 ok/missing, 1 bad, 2 partial kept missing,
    3 imputed."""
    nat = np.datetime64("NaT", "ns")
    if text is None:
        return nat, 0, ""
    m = _ISO.match(text.strip())
    if m is None:
        return nat, 1, ""
    year = int(m.group(1))
    month = m.group(2) if m.group(2) not in (None, "-") else None
    day = m.group(3) if m.group(3) not in (None, "-") else None
    if month is not None and day is not None:
        try:
            stamp = pd.Timestamp(year=year, month=int(month), day=int(day))
        except ValueError:
            return nat, 1, ""
        if datetime and m.group(4):
            try:
                stamp = stamp.replace(hour=int(m.group(4)), minute=int(m.group(5) or 0),
                                      second=int(m.group(6) or 0))
            except ValueError:
                return nat, 1, ""
        return np.datetime64(stamp.to_datetime64(), "ns"), 0, ""
    if month is not None and not 1 <= int(month) <= 12:
        return nat, 1, ""
    if impute == "none" or (impute == "day" and month is None):
        return nat, 2, ""
    if month is not None:
        first = pd.Timestamp(year=year, month=int(month), day=1)
        completed = {"day": first, "first": first,
                     "middle": first.replace(day=15),
                     "last": first + pd.offsets.MonthEnd(0)}[impute]
        return np.datetime64(completed.to_datetime64(), "ns"), 3, "D"
    completed = {"first": pd.Timestamp(year=year, month=1, day=1),
                 "middle": pd.Timestamp(year=year, month=7, day=1),
                 "last": pd.Timestamp(year=year, month=12, day=31)}[impute]
    return np.datetime64(completed.to_datetime64(), "ns"), 3, "M"


def parse_iso8601(values: pd.Series, impute: str = "none", *, datetime: bool = False,
                  missing: np.ndarray | None = None) -> PartialDates:
    """Read a column as ISO 8601 dates, partial ones by ``impute`` (see the module docstring).
    Works on the column's distinct values; ``missing`` marks rows already known to be
    missing (missing-value codes)."""
    n = len(values)
    index = values.index
    if pd.api.types.is_datetime64_any_dtype(values.dtype):  # already dates: nothing partial
        arr = values.to_numpy(dtype="datetime64[ns]").copy()
        if not datetime:
            arr = arr.astype("datetime64[D]").astype("datetime64[ns]")
        if missing is not None:
            arr[missing] = np.datetime64("NaT")
        none = np.zeros(n, dtype=bool)
        return PartialDates(pd.Series(arr, index=index), none, none.copy(), none.copy(),
                            np.full(n, "", dtype=object))
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    k = len(uniques)
    u_values = np.full(k, np.datetime64("NaT"), dtype="datetime64[ns]")
    u_status = np.zeros(k, dtype=np.int8)
    u_precision = np.full(k, "", dtype=object)
    for i, raw in enumerate(uniques):
        u_values[i], u_status[i], u_precision[i] = _one(canonical_text(raw), impute, datetime)
    if not datetime:
        u_values = u_values.astype("datetime64[D]").astype("datetime64[ns]")
    present = codes >= 0
    safe = np.where(present, codes, 0)
    if k:
        out = np.where(present, u_values[safe], np.datetime64("NaT"))
        status = np.where(present, u_status[safe], 0)
        precision = np.where(present & (status == 3), u_precision[safe], "").astype(object)
    else:
        out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        status = np.zeros(n, dtype=np.int8)
        precision = np.full(n, "", dtype=object)
    if missing is not None:
        out[missing] = np.datetime64("NaT")
        status = np.where(missing, 0, status)
        precision[missing] = ""
    return PartialDates(pd.Series(out.astype("datetime64[ns]"), index=index), status == 1,
                        status == 2, status == 3, precision)

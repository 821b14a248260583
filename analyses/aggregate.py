"""Aggregate-data (AD) trials to pool together with IPD trials.

A trial available only from a publication is a row of a data frame with a ``trial`` column
and one of three kinds of summary:

* ``yi`` with ``vi`` or ``se`` - an estimate on the analysis scale (log HR, log OR, MD ...);
* ``events_treated``, ``n_treated``, ``events_control``, ``n_control`` - a 2x2 table;
* ``o_minus_e`` with ``v`` - log-rank O-E and its variance.

Optional ``n`` and ``events`` columns are shown in the per-trial table and forest plot.
:func:`read_aggregate` checks the frame and returns one :class:`AggregateTrial` per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analyses.errors import AnalysisProblem, Reason

__all__ = ["AggregateTrial", "read_aggregate"]

_TABLE = ("events_treated", "n_treated", "events_control", "n_control")


@dataclass(frozen=True)
class AggregateTrial:
    """One aggregate-data trial; ``kind`` is ``"estimate"``, ``"2x2"`` or ``"oe"``."""

    trial: str
    kind: str
    yi: float | None = None
    vi: float | None = None
    table: tuple[float, float, float, float] | None = None
    o_minus_e: float | None = None
    v: float | None = None
    n: int | None = None
    events: int | None = None


def _num(row: pd.Series, col: str) -> float | None:
    if col not in row.index:
        return None
    value = row[col]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


_NUMERIC = ("yi", "vi", "se", "o_minus_e", "v", *_TABLE, "n", "events")


def _parse_row(row: pd.Series, name: str) -> AggregateTrial | str:
    """One aggregate-data row as a trial, or the problem with it."""
    text = [f"{c} {row[c]!r}" for c in _NUMERIC
            if c in row.index and (v := _num(row, c)) is not None and math.isnan(v)]
    if text:
        return f"{name}: not a number: {', '.join(text)}"
    yi, vi, se = _num(row, "yi"), _num(row, "vi"), _num(row, "se")
    oe, v = _num(row, "o_minus_e"), _num(row, "v")
    table = [_num(row, c) for c in _TABLE]
    n, events = _num(row, "n"), _num(row, "events")
    extras: dict[str, Any] = {"n": None if n is None else int(n),
                              "events": None if events is None else int(events)}
    if yi is not None:
        var = vi if vi is not None else (se**2 if se is not None and se > 0 else None)
        if var is None or not math.isfinite(yi) or not (math.isfinite(var) and var > 0):
            return f"{name}: yi needs a positive vi or se"
        return AggregateTrial(trial=name, kind="estimate", yi=yi, vi=var, **extras)
    if oe is not None:
        if v is None or not (math.isfinite(oe) and math.isfinite(v) and v > 0):
            return f"{name}: o_minus_e needs a positive v"
        return AggregateTrial(trial=name, kind="oe", o_minus_e=oe, v=v, **extras)
    if any(x is None for x in table):
        return f"{name}: give yi with vi/se, o_minus_e with v, or {', '.join(_TABLE)}"
    a, n1, c, n2 = (float(x) for x in table if x is not None)
    if not (0 <= a <= n1 and 0 <= c <= n2 and n1 > 0 and n2 > 0):
        return f"{name}: invalid 2x2 counts {a:g}/{n1:g}, {c:g}/{n2:g}"
    extras["n"] = int(n1 + n2) if extras["n"] is None else extras["n"]
    extras["events"] = int(a + c) if extras["events"] is None else extras["events"]
    return AggregateTrial(trial=name, kind="2x2", table=(a, n1, c, n2), **extras)


def read_aggregate(frame: pd.DataFrame, *, trial: str = "trial") -> list[AggregateTrial]:
    """Parse aggregate-data rows (see the module docstring); every problem is reported."""
    if trial not in frame.columns:
        raise AnalysisProblem(f"aggregate data need a {trial!r} column naming each trial",
                            reason=Reason.MISSING_COLUMN)
    out: list[AggregateTrial] = []
    problems: list[str] = []
    for _, row in frame.iterrows():
        parsed = _parse_row(row, str(row[trial]))
        if isinstance(parsed, str):
            problems.append(parsed)
        else:
            out.append(parsed)
    if problems:
        raise AnalysisProblem("invalid aggregate-data rows: " + "; ".join(problems),
                            reason=Reason.BAD_AGGREGATE)
    return out

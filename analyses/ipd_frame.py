"""Checking and standardising an IPD data frame for the per-trial models.

:func:`prepare_ipd` takes the user's frame and column names and returns a frame with the
standard columns the per-trial models read (``_trial``, ``_treat``, ``_y`` or
``_time``/``_event``, plus the covariates), after checking everything at once:

* every named column exists (all missing names are listed together);
* treatment: ``treated_value`` marks the treated arm; with ``control_value`` given only those
  two values are allowed, otherwise a column with more than two distinct values is refused
  (a multi-arm trial needs an explicit comparison);
* binary outcomes and event indicators are 0/1 (or booleans); times are positive;
  covariates are numeric;
* missing values: ``missing="error"`` (default) raises one error naming each column and its
  (1-based) rows; ``missing="drop"`` keeps complete cases and reports how many rows each trial
  lost, in :attr:`PreparedIPD.dropped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repository.errors import AnalysisError, format_rows

__all__ = ["PreparedIPD", "prepare_ipd"]

SURVIVAL_MODELS = ("cox", "logrank", "rmst")
BINARY_MODELS = ("logistic", "2x2")


@dataclass(frozen=True, eq=False)
class PreparedIPD:
    """The standardised frame, the trials in order of first appearance, rows dropped per trial."""

    frame: pd.DataFrame
    trials: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[str]:
        return [f"trial {t}: {n} row(s) with missing values left out (complete-case analysis)"
                for t, n in self.dropped.items() if n]


def _as_binary(values: pd.Series, name: str, problems: list[str]) -> pd.Series:
    s = values
    if s.dtype == bool:
        return s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = ~num.isin([0, 1]) & s.notna()
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 1).tolist()
        shown = ", ".join(map(str, pd.unique(s[bad])[:5]))
        problems.append(f"{name} must be 0/1 (values {shown} at {format_rows(rows)})")
    return num


def prepare_ipd(
    data: pd.DataFrame,
    *,
    trial: str,
    treatment: str,
    model: str,
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    adjust: Sequence[str] = (),
    extra: Sequence[str] = (),
    treated_value: Any = 1,
    control_value: Any = None,
    missing: str = "error",
) -> PreparedIPD:
    """Validate ``data`` and return the standardised frame (see the module docstring).

    ``extra`` names further columns to carry along (subgroup, interaction covariate).
    """
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError("data must be a pandas DataFrame", reason="bad_input")
    if missing not in ("error", "drop"):
        raise AnalysisError(f"missing must be 'error' or 'drop', not {missing!r}",
                            reason="bad_option")
    survival = model in SURVIVAL_MODELS
    if survival and (time is None or event is None):
        raise AnalysisError(f"model={model!r} needs time and event columns",
                            reason="missing_option")
    if not survival and outcome is None:
        raise AnalysisError(f"model={model!r} needs an outcome column", reason="missing_option")
    named = [trial, treatment] + ([time, event] if survival else [outcome]) + list(adjust)
    needed: list[str] = [c for c in named if c is not None]
    needed += [c for c in extra if c not in needed]
    absent = [c for c in needed if c not in data.columns]
    if absent:
        raise AnalysisError(f"column(s) not in the data: {', '.join(absent)}; available: "
                            f"{', '.join(map(str, data.columns))}", reason="missing_column",
                            variables=absent)
    df = data[list(dict.fromkeys(needed))].reset_index(drop=True)

    # missing values, all columns at once
    na = df.isna()
    if na.any().any() and missing == "error":
        parts = [f"{c}: {format_rows((np.flatnonzero(na[c].to_numpy()) + 1).tolist())}"
                 for c in df.columns if na[c].any()]
        raise AnalysisError(
            "missing values in " + "; ".join(parts) + ". Fill them in, or pass "
            "missing='drop' (CLI --drop-missing) for a complete-case analysis.",
            reason="missing_values",
            rows=(np.flatnonzero(na.any(axis=1).to_numpy()) + 1).tolist())
    dropped: dict[str, int] = {}
    if na.any().any():
        bad_rows = na.any(axis=1)
        counts = df.loc[bad_rows, trial].astype(str).value_counts()
        dropped = {str(k): int(v) for k, v in counts.items()}
        df = df.loc[~bad_rows].reset_index(drop=True)
        if df.empty:
            raise AnalysisError("no complete rows are left after dropping missing values",
                                reason="missing_values")

    problems: list[str] = []
    out = pd.DataFrame({"_trial": df[trial].astype(str)})
    # treatment coding
    tvals = pd.unique(df[treatment])
    if control_value is None:
        if len(tvals) > 2:
            problems.append(f"{treatment} has {len(tvals)} values ({', '.join(map(str, tvals[:6]))}); "
                            "give control_value (CLI --control-value) to choose the comparison")
        if treated_value not in set(tvals.tolist()) and not _loose_in(treated_value, tvals):
            problems.append(f"no participant has {treatment} = {treated_value!r} (values: "
                            f"{', '.join(map(str, tvals[:6]))}); set treated_value "
                            "(CLI --treated-value)")
        treat = _loose_eq(df[treatment], treated_value).astype(float)
    else:
        is_t = _loose_eq(df[treatment], treated_value)
        is_c = _loose_eq(df[treatment], control_value)
        other = ~(is_t | is_c)
        if other.any():
            problems.append(f"{treatment} has values other than {treated_value!r} and "
                            f"{control_value!r} at {format_rows((np.flatnonzero(other.to_numpy()) + 1).tolist())}")
        treat = is_t.astype(float)
    out["_treat"] = treat.to_numpy()
    if survival:
        t = pd.to_numeric(df[time], errors="coerce")
        if t.isna().any():
            problems.append(f"{time} is not numeric at "
                            f"{format_rows((np.flatnonzero(t.isna().to_numpy()) + 1).tolist())}")
        elif (t <= 0).any():
            problems.append(f"{time} must be positive; not so at "
                            f"{format_rows((np.flatnonzero((t <= 0).to_numpy()) + 1).tolist())}")
        out["_time"] = t.to_numpy(dtype=float)
        assert event is not None
        out["_event"] = _as_binary(df[event], event, problems).to_numpy(dtype=float)
    elif model in BINARY_MODELS:
        assert outcome is not None
        out["_y"] = _as_binary(df[outcome], outcome, problems).to_numpy(dtype=float)
    else:
        y = pd.to_numeric(df[outcome], errors="coerce")
        if y.isna().any():
            problems.append(f"{outcome} is not numeric at "
                            f"{format_rows((np.flatnonzero(y.isna().to_numpy()) + 1).tolist())}")
        out["_y"] = y.to_numpy(dtype=float)
    for c in list(adjust):
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any():
            problems.append(f"covariate {c} is not numeric (code categories as 0/1 columns)")
        out[c] = v.to_numpy(dtype=float)
    for c in extra:
        if c not in out.columns:
            out[c] = df[c].to_numpy()
    if problems:
        raise AnalysisError("cannot analyse these data: " + "; ".join(problems),
                            reason="invalid_data")
    trials = tuple(pd.unique(out["_trial"]))
    return PreparedIPD(frame=out, trials=trials, dropped=dropped)


def _loose_eq(series: pd.Series, value: Any) -> pd.Series:
    """``series == value``, also matching numbers given as text (CLI) and vice versa."""
    eq = series == value
    if eq.any():
        return eq
    try:
        return pd.to_numeric(series, errors="coerce") == float(value)
    except (TypeError, ValueError):
        return series.astype(str) == str(value)


def _loose_in(value: Any, values: np.ndarray) -> bool:
    return bool(_loose_eq(pd.Series(values), value).any())

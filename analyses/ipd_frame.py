"""The one validated-IPD builder: two-stage, one-stage and surrogacy analyses all start here.

:func:`prepare_ipd` takes the user's frame and column names and returns a frame with the
standard columns the models read (``_trial``, ``_treat``, ``_y`` or ``_time``/``_event``,
plus the numeric covariates and any carried columns), after checking everything at once:

* every named column exists (all missing names are listed together), and no covariate is
  also the trial, treatment or outcome;
* treatment: ``treated_value`` marks the treated arm; with ``control_value`` given only those
  two values are allowed, otherwise a column with more than two distinct values is refused
  (a multi-arm trial needs an explicit comparison). Numbers given as text (the CLI) match;
* binary outcomes and event indicators are 0/1 (or booleans); times and outcomes are finite
  numbers, times not negative; covariates (``adjust``) are finite numbers;
* missing values: ``missing="error"`` (default) reports each column and its (1-based) rows;
  ``missing="drop"`` keeps complete cases and reports how many rows each trial lost, in
  :attr:`PreparedIPD.dropped`.

Every problem found is listed in one :class:`~analyses.errors.AnalysisProblem`, and each kind
of problem has one message, whichever analysis asked: the rows are those of the data as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyses.checks import Problems, non_numeric_rows, require_columns
from analyses.errors import AnalysisProblem, Reason
from repository.errors import format_rows

__all__ = ["PreparedIPD", "prepare_ipd", "matches_value", "MODEL_KINDS"]

#: The outcome each model reads: survival (time, event), binary (0/1) or continuous.
MODEL_KINDS: dict[str, str] = {
    "cox": "survival", "logrank": "survival", "rmst": "survival",
    "logistic": "binary", "2x2": "binary", "linear": "continuous"}


@dataclass(frozen=True, eq=False)
class PreparedIPD:
    """The standardised frame, the trials in order of first appearance, rows dropped per
    trial, and the trial column's values as given (for models that sort trial labels)."""

    frame: pd.DataFrame
    trials: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)
    trial_values: pd.Series | None = None

    def notes(self) -> list[str]:
        return [f"trial {t}: {n} row(s) with missing values left out (complete-case analysis)"
                for t, n in self.dropped.items() if n]


def _raise(problems: Problems) -> None:
    advice = []
    if Reason.MISSING_VALUES in problems.kinds:
        advice.append("Fill in the missing values, or pass missing='drop' (CLI --drop-missing) "
                      "for a complete-case analysis.")
    if set(problems.kinds) - {Reason.MISSING_VALUES}:
        advice.append("Correct these values in the data (or leave those rows out) and run the "
                      "analysis again.")
    problems.raise_if_any("cannot analyse these data", " ".join(advice))


def _values(series: pd.Series, bad: NDArray[np.bool_]) -> str:
    shown = pd.unique(series[bad])[:3]
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in shown)


def _numbers(df: pd.DataFrame, col: str, problems: Problems, hint: str = ""
             ) -> NDArray[np.float64]:
    num, _ = non_numeric_rows(df[col])
    bad = ~np.isfinite(num) & df[col].notna().to_numpy()
    if bad.any():
        problems.add(col, f"not a finite number in {format_rows(problems.rows(bad))} "
                          f"({_values(df[col], bad)}){hint}", problems.rows(bad))
    return num


def _binary(df: pd.DataFrame, col: str, problems: Problems) -> NDArray[np.float64]:
    s = df[col].astype(float) if df[col].dtype == bool else df[col]
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(num, (0.0, 1.0)) & s.notna().to_numpy()
    if bad.any():
        problems.add(col, f"values other than 0/1 in {format_rows(problems.rows(bad))} "
                          f"({_values(df[col], bad)})", problems.rows(bad))
    return num


def matches_value(series: pd.Series, value: Any) -> pd.Series:
    """``series == value``, also matching numbers given as text (CLI) and vice versa."""
    eq = series == value
    if eq.any():
        return eq
    try:
        return pd.to_numeric(series, errors="coerce") == float(value)
    except (TypeError, ValueError):
        return series.astype(str) == str(value)


def _arm(values: pd.Series, treatment: str, treated_value: Any, control_value: Any,
         problems: Problems) -> NDArray[np.float64]:
    """The 0/1 treated indicator, with the problems of the coding."""
    present = pd.unique(values.dropna())
    shown = ", ".join(sorted(map(str, present))[:6])
    is_t = matches_value(values, treated_value)
    if not is_t.any():
        problems.add(treatment, f"no participant has the treated value {treated_value!r} "
                                f"(values: {shown}); set treated_value (CLI --treated-value)",
                     kind=Reason.TREATMENT_CODING)
    elif control_value is None and len(present) > 2:
        problems.add(treatment, f"{len(present)} distinct values ({shown}); give "
                                "control_value (CLI --control-value) to choose the comparison",
                     kind=Reason.TREATMENT_CODING)
    if control_value is not None:
        other = (~(is_t | matches_value(values, control_value)) & values.notna()).to_numpy()
        problems.mask(treatment, other, f"values other than {treated_value!r} and "
                                        f"{control_value!r}", kind=Reason.TREATMENT_CODING)
    return is_t.to_numpy(dtype=float)


def _outcome(df: pd.DataFrame, kind: str, names: dict[str, str], problems: Problems,
             out: pd.DataFrame) -> None:
    if kind == "survival":
        t = _numbers(df, names["time"], problems)
        problems.mask(names["time"], np.isfinite(t) & (t < 0), "negative times")
        out["_time"] = t
        out["_event"] = _binary(df, names["event"], problems)
    elif kind == "binary":
        out["_y"] = _binary(df, names["outcome"], problems)
    else:
        out["_y"] = _numbers(df, names["outcome"], problems)


def _columns(data: Any, model: str, trial: str, treatment: str, outcome: str | None,
             time: str | None, event: str | None, adjust: Sequence[str],
             extra: Sequence[str], missing: str) -> tuple[str, dict[str, str], list[str]]:
    """Check the call; return the model's outcome kind, its outcome columns, all columns."""
    if not isinstance(data, pd.DataFrame):
        raise AnalysisProblem("data must be a pandas DataFrame", reason=Reason.WRONG_TYPE)
    if missing not in ("error", "drop"):
        raise AnalysisProblem(f"missing must be 'error' or 'drop', not {missing!r}",
                              reason=Reason.BAD_OPTION, option="missing")
    kind = MODEL_KINDS.get(model)
    if kind is None:
        raise AnalysisProblem(f"unknown model {model!r}; choose one of {', '.join(MODEL_KINDS)}",
                              reason=Reason.BAD_OPTION, option="model")
    given = {"outcome": outcome, "time": time, "event": event}
    wanted = ("time", "event") if kind == "survival" else ("outcome",)
    absent = [w for w in wanted if given[w] is None]
    if absent:
        raise AnalysisProblem(f"model={model!r} needs the {' and '.join(absent)} column(s)",
                              reason=Reason.MISSING_OPTION, option=absent[0])
    surplus = [w for w in given if w not in wanted and given[w] is not None]
    if surplus:
        raise AnalysisProblem(f"model={model!r} takes {' and '.join(wanted)}, not "
                              f"{' and '.join(surplus)}", reason=Reason.BAD_OPTION,
                              option=surplus[0])
    names = {w: str(given[w]) for w in wanted}
    for c in adjust:
        if c in (trial, treatment, *names.values()):
            raise AnalysisProblem(f"column {c!r} cannot be both a covariate and the "
                                  "trial/treatment/outcome", reason=Reason.BAD_OPTION,
                                  variables=[c])
    needed = list(dict.fromkeys([trial, treatment, *names.values(), *adjust, *extra]))
    require_columns(data, needed)
    return kind, names, needed


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

    ``adjust`` names numeric covariates (checked and converted to floats); ``extra`` names
    further columns to carry along as they are (subgroup, a two-level interaction covariate).
    """
    adjust = (adjust,) if isinstance(adjust, str) else tuple(adjust)
    kind, names, needed = _columns(data, model, trial, treatment, outcome, time, event,
                                   adjust, extra, missing)
    df = data[needed].reset_index(drop=True)
    positions = np.arange(1, len(df) + 1)
    na = df.isna().to_numpy()
    dropped: dict[str, int] = {}
    problems = Problems(positions)
    if missing == "drop" and na.any():
        bad_rows = na.any(axis=1)
        counts = df.loc[bad_rows, trial].astype(str).value_counts()
        dropped = {str(k): int(v) for k, v in counts.items()}
        df, positions = df.loc[~bad_rows].reset_index(drop=True), positions[~bad_rows]
        problems = Problems(positions)
    elif na.any():
        for j, c in enumerate(df.columns):
            problems.mask(c, na[:, j], "missing values", kind=Reason.MISSING_VALUES)
    if df.empty:
        raise AnalysisProblem(
            "no participants: the data are empty" if not dropped else
            "no complete rows are left after dropping missing values",
            reason=Reason.TOO_FEW_PARTICIPANTS if not dropped else Reason.MISSING_VALUES)
    out = pd.DataFrame({"_trial": df[trial].astype(str)})
    out["_treat"] = _arm(df[treatment], treatment, treated_value, control_value, problems)
    _outcome(df, kind, names, problems, out)
    for c in adjust:
        out[c] = _numbers(df, c, problems, hint="; code categories as 0/1 columns")
    for c in extra:
        if c not in out.columns:
            out[c] = df[c].to_numpy()
    _raise(problems)
    return PreparedIPD(frame=out, trials=tuple(pd.unique(out["_trial"])), dropped=dropped,
                       trial_values=df[trial])

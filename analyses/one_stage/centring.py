"""Model frames for one-stage IPD models: treatment coding, trial-centred covariates, checks.

:func:`build_design` turns a data frame into a :class:`Design` - plain arrays every one-stage
engine (linear, logistic, Cox) works on - and refuses data that the model cannot use, listing
every problem at once (missing values by column and row, single-arm trials, trials without
events ...).

Treatment coding (``coding``), from the 0/1 arm (``treated_value`` -> 1, the other value -> 0):

* ``"binary"``: 0/1 (the default);
* ``"plusminus"``: -0.5/+0.5, the symmetric coding Riley et al. (Stat Med 2020) recommend
  for a random treatment effect (its variance then splits equally over the arms);
* ``"centred"``: the arm minus its trial mean (the proportion treated in the trial).

The random treatment effect always multiplies the coded treatment.

Interactions (``interaction="z"``, Hua et al., Stat Med 2017): the covariate is split into its
trial mean ``zbar_k`` and the within-trial deviation ``z - zbar_k``; the model gets
``z_within`` (main effect; the trial-mean main effect is absorbed by the stratified
intercepts / strata), ``trt:z_within`` (the **within-trial** interaction, free of
ecological bias) and ``trt:z_trial_mean`` (the **across-trial** interaction), where the trial
means enter centred on the overall mean of ``z``. With an interaction the treatment row is
therefore the effect for a participant at their trial's mean in a trial whose mean is the
overall mean (centring also keeps the model well conditioned; the interaction estimates do
not depend on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from repository.errors import AnalysisError, format_rows

__all__ = ["Design", "build_design", "CODINGS", "MODELS"]

Coding = Literal["binary", "plusminus", "centred"]
Model = Literal["linear", "logistic", "cox"]
CODINGS: tuple[str, ...] = ("binary", "plusminus", "centred")
MODELS: tuple[str, ...] = ("linear", "logistic", "cox")


@dataclass(frozen=True, eq=False)
class Design:
    """Arrays for one model. ``X[:, 0]`` is the coded treatment ``t`` (the random slope)."""

    model: str
    trial: NDArray[np.intp]  # (n,) trial codes 0..K-1 (sorted labels)
    trial_labels: tuple[Any, ...]
    arm: NDArray[np.float64]  # (n,) 0/1
    t: NDArray[np.float64]  # (n,) coded treatment
    X: NDArray[np.float64]  # (n, m) fixed-effect covariates (no intercepts)
    names: tuple[str, ...]  # (m,)
    y: NDArray[np.float64] | None
    time: NDArray[np.float64] | None
    event: NDArray[np.bool_] | None
    coding: str
    treatment: str
    interaction: str | None
    interaction_terms: tuple[str, str] | None  # (within, across) names

    @property
    def n(self) -> int:
        return int(self.trial.size)

    @property
    def k(self) -> int:
        return len(self.trial_labels)

    def per_trial(self) -> pd.DataFrame:
        """trial, n, n_treated, events (logistic: y = 1; Cox: events)."""
        K = self.k
        ev = self.y if self.model == "logistic" else (
            self.event.astype(float) if self.event is not None else None)
        out = {"trial": list(self.trial_labels),
               "n": np.bincount(self.trial, minlength=K),
               "n_treated": np.bincount(self.trial, self.arm, minlength=K).astype(int)}
        if ev is not None:
            out["events"] = np.bincount(self.trial, ev, minlength=K).astype(int)
        return pd.DataFrame(out)


def _numeric(data: pd.DataFrame, col: str, problems: list[str], rows: dict[str, list[int]]
             ) -> NDArray[np.float64]:
    s = data[col]
    if s.dtype == bool:
        s = s.astype(float)
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad_type = np.isnan(v) & s.notna().to_numpy()
    if bad_type.any():
        idx = (np.flatnonzero(bad_type) + 1).tolist()
        rows.setdefault(col, []).extend(idx)
        problems.append(f"{col}: non-numeric values in {format_rows(idx)}")
    return v


def build_design(
    data: pd.DataFrame,
    *,
    model: Model,
    trial: str,
    treatment: str,
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    adjust: Sequence[str] = (),
    interaction: str | None = None,
    treated_value: Any = 1,
    coding: Coding = "binary",
    need_two_trials: bool = True,
) -> Design:
    """Validate ``data`` and build the arrays of a one-stage model (see the module docstring)."""
    if model not in MODELS:
        raise AnalysisError(f"model must be one of {MODELS}, not {model!r}")
    if coding not in CODINGS:
        raise AnalysisError(f"coding must be one of {CODINGS}, not {coding!r}")
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError("data must be a pandas DataFrame")
    if isinstance(adjust, str):
        adjust = (adjust,)
    adjust = tuple(adjust)
    if model == "cox":
        if time is None or event is None:
            raise AnalysisError("a Cox model needs time= and event= columns")
        if outcome is not None:
            raise AnalysisError("a Cox model takes time= and event=, not outcome=")
        used = [trial, treatment, time, event]
    else:
        if outcome is None:
            raise AnalysisError(f"a {model} model needs an outcome= column")
        if time is not None or event is not None:
            raise AnalysisError(f"a {model} model takes outcome=, not time=/event=")
        used = [trial, treatment, outcome]
    extra = list(adjust) + ([interaction] if interaction else [])
    for c in extra:
        if c in (trial, treatment) or c in used:
            raise AnalysisError(f"column {c!r} cannot be both a covariate and the "
                                "trial/treatment/outcome", variable=c)
    used += extra
    missing = [c for c in dict.fromkeys(used) if c not in data.columns]
    if missing:
        raise AnalysisError(f"columns {missing} are not in the data "
                            f"(columns: {list(data.columns)})", variable=missing)
    if len(data) == 0:
        raise AnalysisError("no participants: the data are empty")

    problems: list[str] = []
    rows: dict[str, list[int]] = {}
    for c in dict.fromkeys(used):
        na = data[c].isna().to_numpy()
        if na.any():
            idx = (np.flatnonzero(na) + 1).tolist()
            rows[c] = idx
            problems.append(f"{c}: missing values in {format_rows(idx)}")

    arm_raw = data[treatment]
    values = pd.unique(arm_raw.dropna())
    if treated_value not in set(values.tolist()):
        problems.append(f"{treatment}: no participant has the treated value {treated_value!r} "
                        f"(values: {sorted(map(str, values))}); pass treated_value=")
    elif len(values) > 2:
        problems.append(f"{treatment}: {len(values)} distinct values {sorted(map(str, values))}; "
                        "a one-stage model compares two arms - recode the column first")
    arm = (arm_raw == treated_value).to_numpy(dtype=float)

    y = tm = ev = None
    if model == "cox":
        assert time is not None and event is not None
        tm = _numeric(data, time, problems, rows)
        bad = np.isfinite(tm) & (tm < 0)
        if bad.any():
            idx = (np.flatnonzero(bad) + 1).tolist()
            problems.append(f"{time}: negative times in {format_rows(idx)}")
        e = _numeric(data, event, problems, rows)
        bad = np.isfinite(e) & (e != 0) & (e != 1)
        if bad.any():
            idx = (np.flatnonzero(bad) + 1).tolist()
            problems.append(f"{event}: values other than 0/1 in {format_rows(idx)}")
        ev = e == 1
    else:
        assert outcome is not None
        y = _numeric(data, outcome, problems, rows)
        if model == "logistic":
            bad = np.isfinite(y) & (y != 0) & (y != 1)
            if bad.any():
                idx = (np.flatnonzero(bad) + 1).tolist()
                problems.append(f"{outcome}: values other than 0/1 in {format_rows(idx)} "
                                "(a logistic model needs a binary outcome)")
    covs = {c: _numeric(data, c, problems, rows) for c in dict.fromkeys(extra)}
    if problems:
        raise AnalysisError("cannot fit the one-stage model: " + "; ".join(problems)
                            + ". Correct or remove these rows/columns first.", rows=rows)

    codes, labels = pd.factorize(data[trial], sort=True)
    codes = codes.astype(np.intp)
    K = len(labels)
    if K < 2 and need_two_trials:
        raise AnalysisError(
            f"only {K} trial in {trial!r}: a random treatment effect needs at least two "
            "trials; use random_treatment=False (or a per-trial analysis)", trial=list(labels))
    n_k = np.bincount(codes, minlength=K)
    nt_k = np.bincount(codes, arm, minlength=K)
    trial_problems = []
    for k in range(K):
        if nt_k[k] == 0 or nt_k[k] == n_k[k]:
            which = "treated" if nt_k[k] == 0 else "control"
            trial_problems.append(f"trial {labels[k]}: single arm (no {which} participants, "
                                  f"n = {n_k[k]})")
    if model == "logistic":
        assert y is not None
        e_k = np.bincount(codes, y, minlength=K)
        for k in range(K):
            if e_k[k] == 0:
                trial_problems.append(f"trial {labels[k]}: no events ({outcome} = 1)")
            elif e_k[k] == n_k[k]:
                trial_problems.append(f"trial {labels[k]}: every participant has {outcome} = 1")
    if model == "cox":
        assert ev is not None
        e_k = np.bincount(codes, ev.astype(float), minlength=K)
        for k in range(K):
            if e_k[k] == 0:
                trial_problems.append(f"trial {labels[k]}: no events ({event} = 1)")
    if trial_problems:
        raise AnalysisError(
            f"{len(trial_problems)} trial(s) carry no information on the treatment effect in "
            "a one-stage model with stratified trial intercepts: " + "; ".join(trial_problems)
            + ". Leave them out (e.g. data[~data[trial].isin([...])]) and say so in the report.",
            trial=[p.split(":")[0].removeprefix("trial ") for p in trial_problems])

    if coding == "binary":
        t = arm.copy()
    elif coding == "plusminus":
        t = arm - 0.5
    else:
        t = arm - (nt_k / n_k)[codes]
    cols = [t]
    names = [treatment]
    for c in adjust:
        cols.append(covs[c])
        names.append(c)
    terms = None
    if interaction:
        z = covs[interaction]
        zbar = (np.bincount(codes, z, minlength=K) / n_k)[codes]
        within = z - zbar
        cols += [within, t * within, t * (zbar - z.mean())]
        w_name, a_name = f"{treatment}:{interaction}_within", f"{treatment}:{interaction}_trial_mean"
        names += [f"{interaction}_within", w_name, a_name]
        terms = (w_name, a_name)
    return Design(
        model=model, trial=codes, trial_labels=tuple(labels), arm=arm, t=t,
        X=np.column_stack(cols), names=tuple(names), y=y, time=tm, event=ev, coding=coding,
        treatment=treatment, interaction=interaction, interaction_terms=terms)

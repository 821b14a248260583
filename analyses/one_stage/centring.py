"""Model frames for one-stage IPD models: treatment coding, trial-centred covariates, checks.

:func:`build_design` turns a data frame into a :class:`Design` - plain arrays every one-stage
engine (linear, logistic, Cox) works on. The data are checked by the same builder the
two-stage analyses use (:func:`analyses.ipd_frame.prepare_ipd`: columns, treatment coding,
missing values, types - one message per problem); this module adds what a one-stage model
with stratified trial intercepts needs (both arms and events in every trial), listing every
problem at once.

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

from analyses.errors import AnalysisProblem, Reason
from analyses.ipd_frame import prepare_ipd

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
    notes: tuple[str, ...] = ()  # rows left out with missing="drop"

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
    control_value: Any = None,
    coding: Coding = "binary",
    missing: str = "error",
    need_two_trials: bool = True,
) -> Design:
    """Validate ``data`` (:func:`analyses.ipd_frame.prepare_ipd`, the builder the two-stage
    analyses use too) and build the arrays of a one-stage model (see the module docstring)."""
    if model not in MODELS:
        raise AnalysisProblem(f"model must be one of {MODELS}, not {model!r}",
                              reason=Reason.BAD_OPTION, option="model")
    if coding not in CODINGS:
        raise AnalysisProblem(f"coding must be one of {CODINGS}, not {coding!r}",
                              reason=Reason.BAD_OPTION, option="coding")
    adjust = (adjust,) if isinstance(adjust, str) else tuple(adjust)
    covariates = list(dict.fromkeys(adjust + ((interaction,) if interaction else ())))
    prepared = prepare_ipd(data, trial=trial, treatment=treatment, model=model,
                           outcome=outcome, time=time, event=event, adjust=covariates,
                           treated_value=treated_value, control_value=control_value,
                           missing=missing)
    frame = prepared.frame
    assert prepared.trial_values is not None
    codes, labels = pd.factorize(prepared.trial_values, sort=True)
    codes = codes.astype(np.intp)
    arm = frame["_treat"].to_numpy(dtype=float)
    y = frame["_y"].to_numpy(dtype=float) if model != "cox" else None
    tm = frame["_time"].to_numpy(dtype=float) if model == "cox" else None
    ev = frame["_event"].to_numpy() == 1 if model == "cox" else None
    events = y if model == "logistic" else (None if ev is None else ev.astype(float))
    n_k, nt_k = _check_trials(codes, tuple(labels), arm, events, model=model, trial=trial,
                              outcome=outcome if model == "logistic" else event,
                              need_two_trials=need_two_trials)
    if coding == "binary":
        t = arm.copy()
    elif coding == "plusminus":
        t = arm - 0.5
    else:
        t = arm - (nt_k / n_k)[codes]
    cols = [t] + [frame[c].to_numpy(dtype=float) for c in adjust]
    names = [treatment, *adjust]
    terms = None
    if interaction:
        z = frame[interaction].to_numpy(dtype=float)
        zbar = (np.bincount(codes, z, minlength=len(labels)) / n_k)[codes]
        within = z - zbar
        cols += [within, t * within, t * (zbar - z.mean())]
        w_name, a_name = f"{treatment}:{interaction}_within", f"{treatment}:{interaction}_trial_mean"
        names += [f"{interaction}_within", w_name, a_name]
        terms = (w_name, a_name)
    return Design(
        model=model, trial=codes, trial_labels=tuple(labels), arm=arm, t=t,
        X=np.column_stack(cols), names=tuple(names), y=y, time=tm, event=ev, coding=coding,
        treatment=treatment, interaction=interaction, interaction_terms=terms,
        notes=tuple(prepared.notes()))


def _check_trials(codes: NDArray[np.intp], labels: tuple[Any, ...], arm: NDArray[np.float64],
                  events: NDArray[np.float64] | None, *, model: str, trial: str,
                  outcome: str | None, need_two_trials: bool
                  ) -> tuple[NDArray[Any], NDArray[Any]]:
    """Trials that carry information on the treatment effect in a model with stratified
    trial intercepts (both arms; events for logistic and Cox); returns ``n`` and the number
    treated per trial."""
    K = len(labels)
    if K < 2 and need_two_trials:
        raise AnalysisProblem(
            f"only {K} trial in {trial!r}: a random treatment effect needs at least two "
            "trials; use random_treatment=False (or a per-trial analysis)",
            reason=Reason.TOO_FEW_TRIALS, trials=list(labels), k=K)
    n_k = np.bincount(codes, minlength=K)
    nt_k = np.bincount(codes, arm, minlength=K)
    e_k = None if events is None else np.bincount(codes, events, minlength=K)
    problems = []
    for k in range(K):
        if nt_k[k] == 0 or nt_k[k] == n_k[k]:
            which = "treated" if nt_k[k] == 0 else "control"
            problems.append((labels[k], f"single arm (no {which} participants, n = {n_k[k]})"))
        if e_k is not None and e_k[k] == 0:
            problems.append((labels[k], f"no events ({outcome} = 1)"))
        elif e_k is not None and model == "logistic" and e_k[k] == n_k[k]:
            problems.append((labels[k], f"every participant has {outcome} = 1"))
    if problems:
        raise AnalysisProblem(
            f"{len(problems)} trial(s) carry no information on the treatment effect in "
            "a one-stage model with stratified trial intercepts: "
            + "; ".join(f"trial {t}: {text}" for t, text in problems)
            + ". Leave them out (e.g. data[~data[trial].isin([...])]) and say so in the report.",
            reason=Reason.SINGLE_ARM if all("single arm" in x for _, x in problems)
            else Reason.NO_EVENTS, trials=[t for t, _ in problems])
    return n_k, nt_k

"""Per-trial treatment effects from individual participant data (the first stage).

:func:`estimate_trial` fits one model to one trial's rows and returns a
:class:`TrialEstimate`. Models (``model=``):

==============  =========================================================================
``"cox"``       log hazard ratio of treatment from a Cox model with Efron ties
                (:func:`analyses.cox.coxph`), adjusted for ``adjust`` covariates
``"logrank"``   log-rank O-E and hypergeometric V for the treated arm
                (:func:`analyses.logrank.logrank`); estimate (O-E)/V, SE 1/sqrt(V)
``"logistic"``  log odds ratio of treatment from logistic regression, adjusted for ``adjust``
``"2x2"``       the trial's 2x2 table (events/participants per arm) and its escalc estimate
                of ``measure`` (OR, RR or RD; 1/2 added to tables with a zero cell)
``"linear"``    mean difference (``adjust`` empty) or ANCOVA treatment effect adjusted for
                ``adjust`` (e.g. the baseline value of the outcome) by least squares
``"rmst"``      difference in restricted mean survival time up to ``tau`` (treated minus
                control; :mod:`analyses.rmst`, R's ``print(survfit, rmean = tau)``)
==============  =========================================================================

With ``ph_test=True`` the Cox model also gets the Grambsch-Therneau test of proportional
hazards for the treatment term (:func:`analyses.cox_zph.cox_zph`, R's ``cox.zph``).

With ``interaction=C`` the estimate is the treatment-by-C interaction within the trial
(coefficient of ``treatment x C`` in the regression models; for ``logrank`` and ``2x2``, C must
have two levels and the estimate is the difference between the treatment effects in the two
levels, with the sum of their variances).

A trial that cannot give an estimate raises :class:`TrialNotEstimable` (an
:class:`~repository.errors.AnalysisError`) whose message is the reason; the two-stage
analysis records it and leaves the trial out: a single arm, one participant, no events (or no
events in one arm, where the Cox and logistic estimates are infinite), separation, too few
participants for the covariates.

The frame passed in has standardised columns: ``_treat`` (1 treated, 0 control), ``_y``
(outcome) or ``_time``/``_event``, and the covariates under their own names.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import numpy as np
import pandas as pd

from analyses.effects import effect_2x2
from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.regression import design, fit_logistic, fit_ols
from repository.errors import AnalysisError

__all__ = ["MODELS", "TrialEstimate", "TrialNotEstimable", "estimate_trial", "MODEL_MEASURE",
           "FirstStage", "first_stage"]

MODELS: tuple[str, ...] = ("cox", "logrank", "logistic", "2x2", "linear", "rmst")
#: The effect measure each model estimates (``2x2`` takes ``measure=``).
MODEL_MEASURE: dict[str, str] = {"cox": "HR", "logrank": "HR", "logistic": "OR",
                                 "linear": "MD", "rmst": "RMSTD"}


class TrialNotEstimable(AnalysisProblem):
    """This trial gives no estimate for this model; the message says why."""


@dataclass(frozen=True)
class TrialEstimate:
    """One trial's estimate (log scale for ratio measures) and descriptive counts.

    ``events*`` are ``None`` for continuous outcomes; ``o_minus_e``/``v`` only for log-rank;
    ``table`` (events treated, n treated, events control, n control) only for ``2x2``.
    """

    trial: str
    n: int
    n_treated: int
    n_control: int
    estimate: float
    se: float
    events: int | None = None
    events_treated: int | None = None
    events_control: int | None = None
    o_minus_e: float | None = None
    v: float | None = None
    table: tuple[float, float, float, float] | None = None
    note: str = ""
    #: (rmst treated, its SE, rmst control, its SE) for ``rmst``
    rmst: tuple[float, float, float, float] | None = None
    #: (chi-square, df, p) of the proportional-hazards test of treatment for ``cox``
    ph_test: tuple[float, int, float] | None = None

    def row(self) -> dict[str, Any]:
        return {"trial": self.trial, "n": self.n, "n_treated": self.n_treated,
                "n_control": self.n_control, "events": self.events,
                "events_treated": self.events_treated, "events_control": self.events_control,
                "estimate": self.estimate, "se": self.se, "o_minus_e": self.o_minus_e,
                "v": self.v, "note": self.note}


def _counts(frame: pd.DataFrame, binary: str | None) -> dict[str, Any]:
    t = frame["_treat"].to_numpy()
    out: dict[str, Any] = {"n": int(t.size), "n_treated": int((t == 1).sum()),
                           "n_control": int((t == 0).sum())}
    if binary is not None:
        e = frame[binary].to_numpy()
        out.update(events=int(e.sum()), events_treated=int(e[t == 1].sum()),
                   events_control=int(e[t == 0].sum()))
    return out


def _check_arms(frame: pd.DataFrame, trial: str) -> None:
    n = len(frame)
    if n < 2:
        raise TrialNotEstimable(f"trial {trial}: {n} participant(s); at least two are needed",
                                reason=Reason.TOO_FEW_PARTICIPANTS, trials=trial)
    t = frame["_treat"]
    if (t == 1).sum() == 0 or (t == 0).sum() == 0:
        arm = "control" if (t == 1).all() else "treated"
        raise TrialNotEstimable(f"trial {trial}: single arm (no {arm} participants)",
                                reason=Reason.SINGLE_ARM, trials=trial)


def _arm_events(frame: pd.DataFrame, col: str, trial: str, what: str) -> None:
    """Cox/logistic treatment effects are infinite without events (or non-events) in an arm."""
    t = frame["_treat"].to_numpy()
    e = frame[col].to_numpy()
    if e.sum() == 0:
        raise TrialNotEstimable(f"trial {trial}: no events", reason=Reason.NO_EVENTS, trials=trial)
    for arm, label in ((1, "treated"), (0, "control")):
        if e[t == arm].sum() == 0:
            raise TrialNotEstimable(
                f"trial {trial}: no events in the {label} arm, so the {what} is infinite; "
                "use model='logrank' or '2x2' (Peto/MH) to include it", reason=Reason.NO_EVENTS_ARM,
                trials=trial)
    if what == "log odds ratio":
        for arm, label in ((1, "treated"), (0, "control")):
            if e[t == arm].sum() == (t == arm).sum():
                raise TrialNotEstimable(
                    f"trial {trial}: every {label} participant had the event, so the log odds "
                    "ratio is infinite; use model='2x2' to include it", reason=Reason.ALL_EVENTS_ARM,
                    trials=trial)


def _regression_columns(frame: pd.DataFrame, adjust: Sequence[str],
                        interaction: str | None) -> tuple[list[np.ndarray], list[str], str]:
    """Columns in R's formula order ``treatment * C + adjust``: treatment, C, the adjustment
    covariates, then treatment:C (so an adjustment covariate collinear with C is the one
    dropped, as R does)."""
    cols = [frame["_treat"].to_numpy(dtype=float)]
    names = ["treatment"]
    if interaction is not None and interaction not in adjust:
        cols.append(frame[interaction].to_numpy(dtype=float))
        names.append(interaction)
    for c in adjust:
        cols.append(frame[c].to_numpy(dtype=float))
        names.append(c)
    target = "treatment"
    if interaction is not None:
        cols.append(cols[0] * frame[interaction].to_numpy(dtype=float))
        target = f"treatment:{interaction}"
        names.append(target)
    return cols, names, target


def _dropped_note(dropped: Sequence[str]) -> str:
    if not dropped:
        return ""
    return (f"{', '.join(dropped)} left out of the adjustment here (constant, or a linear "
            "combination of the other covariates, in this trial)")


def _reason(exc: AnalysisError) -> Reason:
    return exc.reason if isinstance(exc, (AnalysisProblem, NotConverged)) else Reason.NO_ESTIMATE


def _not_estimable(exc: AnalysisError, trial: str) -> TrialNotEstimable:
    return TrialNotEstimable(f"trial {trial}: {exc.message}",
                             reason=_reason(exc), trials=trial)


def estimate_trial(
    frame: pd.DataFrame,
    *,
    trial: str,
    model: str,
    adjust: Sequence[str] = (),
    measure: str | None = None,
    interaction: str | None = None,
    ties: str = "efron",
    add: float = 0.5,
    to: str = "only0",
    tau: float | None = None,
    ph_test: bool = False,
) -> TrialEstimate:
    """Fit ``model`` to one trial's rows (see the module docstring for the models)."""
    if model not in MODELS:
        raise AnalysisProblem(f"unknown model {model!r}; choose one of {', '.join(MODELS)}",
                            reason=Reason.BAD_OPTION)
    _check_arms(frame, trial)
    if model == "rmst":
        return _rmst(frame, trial, tau, bool(adjust) or interaction is not None)
    if interaction is not None and model in ("logrank", "2x2"):
        return _interaction_by_difference(frame, trial=trial, model=model, measure=measure,
                                           interaction=interaction, ties=ties, add=add, to=to)
    if model in ("linear", "logistic"):
        return _regression(frame, trial, model, adjust, interaction)
    if model == "2x2":
        return _two_by_two(frame, trial, measure=measure, add=add, to=to)
    if model == "logrank":
        lr = _logrank(frame, trial)
        c = _counts(frame, "_event")
        return TrialEstimate(trial=trial, estimate=lr[0] / lr[1], se=float(lr[1] ** -0.5),
                             o_minus_e=lr[0], v=lr[1], **c)
    return _cox_trial(frame, trial, adjust, interaction, ties, ph_test)


def _regression(frame: pd.DataFrame, trial: str, model: str, adjust: Sequence[str],
                interaction: str | None) -> TrialEstimate:
    """Least squares (``linear``) or logistic regression in one trial."""
    logistic = model == "logistic"
    if logistic and interaction is None:
        _arm_events(frame, "_y", trial, "log odds ratio")
    cols, names, target = _regression_columns(frame, adjust, interaction)
    try:
        X, all_names, dropped = design(cols, names, label=f"trial {trial}", droppable=adjust)
        y = frame["_y"].to_numpy(dtype=float)
        fit = (fit_logistic(X, y, all_names, label=f"trial {trial}") if logistic
               else fit_ols(X, y, all_names))
    except AnalysisError as exc:
        raise _not_estimable(exc, trial) from None
    est, se = fit[target]
    return TrialEstimate(trial=trial, estimate=est, se=se, note=_dropped_note(dropped),
                         **_counts(frame, "_y" if logistic else None))


def _two_by_two(frame: pd.DataFrame, trial: str, *, measure: str | None, add: float,
                to: str) -> TrialEstimate:
    """The trial's 2x2 table and its effect (continuity correction as asked)."""
    c = _counts(frame, "_y")
    table = (c["events_treated"], c["n_treated"], c["events_control"], c["n_control"])
    es = effect_2x2([table[0]], [table[1]], [table[2]], [table[3]],
                    measure=measure or "OR", add=add, to=to, labels=[trial])
    note = "continuity correction added" if es.corrected else ""
    if es.dropped:
        note = es.dropped[0]
    return TrialEstimate(trial=trial, estimate=float(es.yi[0]), se=float(np.sqrt(es.vi[0])),
                         table=(float(table[0]), float(table[1]), float(table[2]),
                                float(table[3])), note=note, **c)


def _cox_trial(frame: pd.DataFrame, trial: str, adjust: Sequence[str],
               interaction: str | None, ties: str, ph_test: bool) -> TrialEstimate:
    """A Cox model in one trial (with the PH test when asked)."""
    if interaction is None:
        _arm_events(frame, "_event", trial, "log hazard ratio")
    elif frame["_event"].sum() == 0:
        raise TrialNotEstimable(f"trial {trial}: no events", reason=Reason.NO_EVENTS, trials=trial)
    cols, names, target = _regression_columns(frame, adjust, interaction)
    try:
        X, kept, dropped = design(cols, names, label=f"trial {trial}", droppable=adjust)
    except AnalysisError as exc:
        raise _not_estimable(exc, trial) from None
    est, se, ph = _cox(frame, [X[:, j] for j in range(1, X.shape[1])], list(kept[1:]), target,
                       trial, ties, ph_test)
    return TrialEstimate(trial=trial, estimate=est, se=se, note=_dropped_note(dropped),
                         ph_test=ph, **_counts(frame, "_event"))


def _rmst(frame: pd.DataFrame, trial: str, tau: float | None, covariates: bool) -> TrialEstimate:
    from analyses.rmst import rmst_difference

    if covariates:
        raise AnalysisProblem("model='rmst' takes no covariates or interaction",
                            reason=Reason.BAD_OPTION)
    if tau is None:
        raise AnalysisProblem("model='rmst' needs the horizon tau (CLI --tau), in the time "
                            "units of the data", reason=Reason.MISSING_OPTION)
    if frame["_event"].sum() == 0:
        raise TrialNotEstimable(f"trial {trial}: no events", reason=Reason.NO_EVENTS, trials=trial)
    try:
        diff = rmst_difference(frame["_time"], frame["_event"], frame["_treat"], tau=tau)
    except AnalysisError as exc:
        raise _not_estimable(exc, trial) from None
    short = [a for a, r in (("treated", diff.treated), ("control", diff.control))
             if r.extrapolated]
    note = (f"follow-up ends before tau in the {' and '.join(short)} arm(s); the curve is "
            "extended flat to tau (as R)") if short else ""
    return TrialEstimate(trial=trial, estimate=diff.estimate, se=diff.se, note=note,
                         rmst=(diff.treated.estimate, diff.treated.se, diff.control.estimate,
                               diff.control.se), **_counts(frame, "_event"))


def _cox(frame: pd.DataFrame, cols: list[np.ndarray], names: list[str], target: str,
         trial: str, ties: str, ph_test: bool = False
         ) -> tuple[float, float, tuple[float, int, float] | None]:
    cox_module = importlib.import_module("analyses.cox")
    X = pd.DataFrame(dict(zip(names, cols)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = cox_module.coxph(frame["_time"].to_numpy(dtype=float),
                                   frame["_event"].to_numpy(dtype=float), X,
                                   ties=ties)
        except AnalysisError as exc:
            raise _not_estimable(exc, trial) from None
    infinite = tuple(getattr(fit, "infinite", ()) or ())
    if target in infinite or any("infinite" in str(w.message) and target in str(w.message)
                                 for w in caught):
        raise TrialNotEstimable(
            f"trial {trial}: the Cox estimate of {target} is infinite (monotone likelihood)",
            reason=Reason.SEPARATION, trials=trial)
    i = list(fit.names).index(target)
    ph = None
    if ph_test:
        from analyses.cox_zph import cox_zph

        zph = cox_zph(frame["_time"].to_numpy(dtype=float),
                      frame["_event"].to_numpy(dtype=float), X, ties=ties,  # type: ignore[arg-type]
                      coef=fit.coef, label=f"trial {trial}")
        row = zph.term(target)
        ph = (row["chisq"], int(row["df"]), row["p"])
    return float(fit.coef[i]), float(np.sqrt(fit.var[i, i])), ph


def _logrank(frame: pd.DataFrame, trial: str) -> tuple[float, float]:
    # by module path: the package attribute ``analyses.logrank`` is the function
    logrank_module = importlib.import_module("analyses.logrank")
    if frame["_event"].sum() == 0:
        raise TrialNotEstimable(f"trial {trial}: no events, so the log-rank variance is 0",
                                reason=Reason.NO_EVENTS, trials=trial)
    try:
        res = logrank_module.logrank(frame["_time"].to_numpy(dtype=float),
                                     frame["_event"].to_numpy(dtype=float),
                                     frame["_treat"].to_numpy(dtype=float))
    except AnalysisError as exc:
        raise _not_estimable(exc, trial) from None
    oe, v = float(np.atleast_1d(res.o_minus_e)[0]), float(np.atleast_1d(res.v)[0])
    if not v > 0:
        raise TrialNotEstimable(f"trial {trial}: log-rank variance is 0", reason=Reason.NO_EVENTS,
                                trials=trial)
    return oe, v


def _interaction_by_difference(frame: pd.DataFrame, *, trial: str, model: str,
                               measure: str | None, interaction: str, ties: str, add: float,
                               to: str) -> TrialEstimate:
    levels = sorted(frame[interaction].dropna().unique())
    if len(levels) != 2:
        raise TrialNotEstimable(
            f"trial {trial}: {interaction} has {len(levels)} level(s) here; the "
            f"{model} interaction needs exactly two (use a regression model for a continuous "
            "covariate)", reason=Reason.INTERACTION_LEVELS, trials=trial)
    parts = []
    for level in levels:
        sub = frame[frame[interaction] == level]
        try:
            parts.append(estimate_trial(sub, trial=trial, model=model, measure=measure,
                                        ties=ties, add=add, to=to))
        except TrialNotEstimable as exc:
            raise TrialNotEstimable(f"{exc.message} (within {interaction} = {level})",
                                    reason=exc.reason, trials=trial) from None
    lo, hi = parts
    est = hi.estimate - lo.estimate
    se = float(np.hypot(hi.se, lo.se))
    c = _counts(frame, "_event" if model == "logrank" else "_y")
    return TrialEstimate(trial=trial, estimate=est, se=se,
                         note=f"difference {interaction}={levels[1]} minus {levels[0]}", **c)


@dataclass(frozen=True)
class FirstStage:
    """Estimates of every trial that gave one, and the others with the reason."""

    estimates: tuple[TrialEstimate, ...]
    excluded: tuple[tuple[str, str, str], ...]  # (trial, reason code, message)

    def excluded_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.excluded), columns=["trial", "reason", "message"])


class FitOptions(TypedDict, total=False):
    """The options :func:`first_stage` passes on to :func:`estimate_trial` (see it)."""

    adjust: Sequence[str]
    measure: str | None
    interaction: str | None
    ties: str
    add: float
    to: str
    tau: float | None
    ph_test: bool


def first_stage(frame: pd.DataFrame, trials: Sequence[str], *, model: str,
                **options: Unpack[FitOptions]) -> FirstStage:
    """Run :func:`estimate_trial` in every trial of ``frame`` (column ``_trial``)."""
    estimates: list[TrialEstimate] = []
    excluded: list[tuple[str, str, str]] = []
    groups = dict(tuple(frame.groupby("_trial", sort=False)))
    for t in trials:
        rows = groups.get(t)
        if rows is None or rows.empty:
            excluded.append((t, str(Reason.NO_PARTICIPANTS), f"trial {t}: no participants"))
            continue
        try:
            estimates.append(estimate_trial(rows, trial=t, model=model, **options))
        except TrialNotEstimable as exc:
            excluded.append((t, str(exc.reason), exc.message))
    return FirstStage(estimates=tuple(estimates), excluded=tuple(excluded))

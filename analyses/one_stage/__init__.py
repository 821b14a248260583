"""One-stage IPD meta-analysis: all trials' participants in one model.

:func:`one_stage` fits, with stratified (fixed) trial intercepts or baseline hazards and,
by default, a random treatment effect across trials:

=============  ==========================================================  =================
``model``      random treatment effect (``random_treatment=True``)          R equivalent
=============  ==========================================================  =================
``linear``     LMM by REML (:mod:`~analyses.one_stage.lmm`)                  ``lmer``
``logistic``   GLMM by ML, Laplace or adaptive Gauss-Hermite (``nagq``)      ``glmer``
               (:mod:`~analyses.one_stage.glmm`)
``cox``        Cox stratified by trial, Laplace-integrated penalised         ``coxme``
               partial likelihood (:mod:`~analyses.one_stage.cox_random`)
=============  ==========================================================  =================

With ``random_treatment=False`` the treatment effect is common: linear regression with trial
intercepts (``lm``), logistic regression with trial intercepts (``glm``), Cox stratified by
trial (``coxph(... + strata(trial))``).

Options: ``adjust`` (covariates, common effects), ``interaction`` (a covariate split into
within-trial and across-trial interactions with treatment; see
:mod:`~analyses.one_stage.centring`), ``coding`` of the treatment (``"binary"`` 0/1,
``"plusminus"`` -/+0.5, ``"centred"`` arm minus trial mean), ``residual="trial"`` for
trial-specific residual variances in the linear model.

A between-trial variance estimated at 0 is a result, not an error: ``boundary=True``,
``tau2 = 0`` and the common-effect fit. Non-convergence raises
:class:`~repository.errors.ConvergenceError` saying what to try; unusable data (missing
values, single-arm trials, trials without events, fewer than two trials for a random effect)
raise :class:`~repository.errors.AnalysisError` listing every problem.

Example::

    >>> import pandas as pd
    >>> from analyses.one_stage import one_stage
    >>> data = pd.read_csv("ipd.csv")                                      # doctest: +SKIP
    >>> res = one_stage(data, trial="trialref", treatment="trt", treated_value=0.5,
    ...                 time="timeT", event="statusT", model="cox")        # doctest: +SKIP
    >>> res.exp_estimate, res.exp_ci, res.tau2                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from analyses.errors import AnalysisProblem, Reason
from analyses.one_stage.centring import CODINGS, MODELS, Design, build_design
from analyses.one_stage.cox_random import fit_cox_random, fit_cox_stratified
from analyses.one_stage.glmm import fit_glmm, fit_stratified_logistic
from analyses.one_stage.lmm import fit_lmm
from analyses.one_stage.result import (
    FIXED_COLUMNS,
    PER_TRIAL_COLUMNS,
    SUMMARY_COLUMNS,
    OneStageResult,
    fixed_table,
    per_trial_table,
)

__all__ = [
    "one_stage",
    "OneStageResult",
    "Design",
    "build_design",
    "CODINGS",
    "MODELS",
    "SUMMARY_COLUMNS",
    "FIXED_COLUMNS",
    "PER_TRIAL_COLUMNS",
]


def _ph_test(d: Design, beta: Any, blup: Any, ties: str) -> Any:
    """cox.zph of the fitted model: every fixed effect, the random treatment effects (when
    present) in the linear predictor as R's cox.zph does for a coxme fit."""
    from analyses.cox_zph import cox_zph

    assert d.time is not None and d.event is not None
    offset = None if blup is None else np.asarray(blup)[d.trial] * d.t
    return cox_zph(d.time, d.event, d.X, strata=d.trial, ties=ties,  # type: ignore[arg-type]
                   names=d.names, coef=beta, offset=offset if offset is not None
                   else np.zeros(d.n))


def one_stage(
    data: pd.DataFrame,
    *,
    trial: str,
    treatment: str,
    outcome: str | None = None,
    time: str | None = None, event: str | None = None,  # a survival outcome
    model: Literal["linear", "logistic", "cox"] = "linear",
    random_treatment: bool = True,
    interaction: str | None = None,
    adjust: Sequence[str] = (),
    nagq: int = 1,
    treated_value: Any = 1,
    control_value: Any = None,
    missing: Literal["error", "drop"] = "error",
    coding: Literal["binary", "plusminus", "centred"] = "binary",
    residual: Literal["common", "trial"] = "common",
    ties: Literal["efron", "breslow"] = "efron",
    level: float = 0.95,
) -> OneStageResult:
    """Fit a one-stage IPD meta-analysis model; see the module docstring for the models.

    ``data`` holds one row per participant; ``trial`` and ``treatment`` name its columns
    (``treated_value`` marks the treated arm; every other value is control, unless
    ``control_value`` names the control arm of a column with more values).
    ``missing="drop"`` fits the complete cases (rows left out are in ``notes``). Continuous and
    binary outcomes use ``outcome``; survival uses ``time`` and ``event`` (1 = event).
    ``nagq`` (logistic only) is the number of adaptive Gauss-Hermite points (1 = Laplace).
    """
    if not 0 < level < 1:
        raise AnalysisProblem(f"level must be in (0, 1), not {level}", reason=Reason.BAD_OPTION,
                              option="level")
    for option, given, applies in (("nagq", nagq != 1, "logistic"),
                                   ("residual", residual != "common", "linear"),
                                   ("ties", ties != "efron", "cox")):
        if given and model != applies:
            raise AnalysisProblem(f"{option} applies to the {applies} model only "
                                  f"(model={model!r})", reason=Reason.BAD_OPTION, option=option)
    d = build_design(data, model=model, trial=trial, treatment=treatment, outcome=outcome,
                     time=time, event=event, adjust=adjust, interaction=interaction,
                     treated_value=treated_value, control_value=control_value,
                     coding=coding, missing=missing, need_two_trials=random_treatment)
    base = d.per_trial()
    notes: list[str] = list(d.notes)
    if model == "linear":
        fit = _linear(d, random_treatment, residual, level)
    elif model == "logistic":
        fit = _logistic(d, random_treatment, nagq, level)
    else:
        fit = _cox(d, random_treatment, ties)
    beta, cov, tau2, boundary, blup = fit.beta, fit.cov, fit.tau2, fit.boundary, fit.blup
    if boundary:
        notes.append("between-trial variance of the treatment effect estimated at 0 "
                      "(boundary): the estimate equals the common-effect model's")
    se = np.sqrt(np.diag(cov))
    fixed = fixed_table(d.names, beta, se, level)
    interaction_tab = None
    if d.interaction_terms is not None:
        interaction_tab = fixed[fixed["term"].isin(d.interaction_terms)].reset_index(drop=True)
        interaction_tab.insert(1, "information", ["within-trial", "across-trial"])
        notes.append(f"with an interaction the {d.treatment} row is the treatment effect at "
                     f"the trial's mean {interaction} in a trial whose mean is the overall mean; "
                     "the within-trial interaction is free of ecological bias, the "
                     "across-trial one is not")
    if d.coding != "binary":
        notes.append(f"treatment coded {d.coding}")
    return OneStageResult(
        model=model, method=fit.method, estimate=float(beta[0]), se=float(se[0]), k=d.k,
        n=d.n, tau2=tau2, boundary=bool(boundary), fixed=fixed,
        per_trial=per_trial_table(base, float(beta[0]), blup if random_treatment else None),
        converged=bool(fit.converged), iterations=int(fit.iterations), coding=d.coding,
        treatment=d.treatment, level=level, interaction=interaction_tab,
        intercepts=fit.intercepts, notes=tuple(notes), **fit.extra)


class _Fit(NamedTuple):
    """What every one-stage engine returns, in one shape."""

    method: str
    beta: Any
    cov: Any
    tau2: float | None
    boundary: bool
    blup: Any
    intercepts: pd.DataFrame | None
    extra: dict[str, Any]
    iterations: int
    converged: bool


def _linear(d: Design, random_treatment: bool, residual: str, level: float) -> _Fit:
    fit = fit_lmm(d, random_treatment=random_treatment, residual=residual)
    method = "REML" + (" (trial-specific residual variances)" if residual == "trial" else "")
    if not random_treatment:
        method = "least squares, trial intercepts" if residual == "common" else \
            "REML, trial intercepts, trial-specific residual variances"
    extra: dict[str, Any] = {
        "sigma2": fit.sigma2, "criterion": fit.criterion, "loglik": -fit.criterion / 2,
        "sigma2_trial": None if fit.sigma2_trial is None else
        pd.Series(fit.sigma2_trial, index=list(d.trial_labels))}
    return _Fit(method, fit.beta, fit.cov, fit.tau2, fit.boundary, fit.blup,
                _intercepts(d, fit.alpha, fit.alpha_se, level), extra, fit.iterations,
                fit.converged)


def _logistic(d: Design, random_treatment: bool, nagq: int, level: float) -> _Fit:
    if random_treatment:
        fit = fit_glmm(d, nagq=nagq)
        method = ("ML, Laplace approximation" if nagq == 1
                  else f"ML, adaptive Gauss-Hermite quadrature ({nagq} points)")
        tau2 = fit.theta ** 2
    else:
        fit = fit_stratified_logistic(d)
        method = "ML logistic regression, trial intercepts"
        tau2 = None
    extra = {"criterion": fit.deviance, "loglik": fit.loglik,
             "nagq": nagq if random_treatment else None,
             "n_events": int(np.sum(d.y))}  # type: ignore[arg-type]
    return _Fit(method, fit.beta, fit.cov, tau2, fit.boundary, fit.blup,
                _intercepts(d, fit.alpha, fit.alpha_se, level), extra, fit.iterations,
                fit.converged)


def _cox(d: Design, random_treatment: bool, ties: str) -> _Fit:
    fit = fit_cox_random(d, ties=ties) if random_treatment else fit_cox_stratified(d, ties=ties)
    method = ("integrated partial likelihood (Laplace), stratified by trial"
              if random_treatment else "Cox partial likelihood, stratified by trial")
    extra = {"criterion": None, "loglik": fit.ipl,
             "n_events": int(np.sum(d.event)),  # type: ignore[arg-type]
             "ph": _ph_test(d, fit.beta, fit.blup if random_treatment else None, ties)}
    return _Fit(method, fit.beta, fit.cov, fit.tau2, fit.boundary, fit.blup, None, extra,
                fit.iterations, fit.converged)


def _intercepts(d: Design, alpha: Any, alpha_se: Any, level: float) -> pd.DataFrame:
    return fixed_table(tuple(f"trial {k}" for k in d.trial_labels), alpha, alpha_se, level)

"""Evaluation of a surrogate endpoint from the IPD of several randomised trials.

:func:`surrogacy` answers the two questions of the meta-analytic approach (Buyse et al. 2000;
Burzykowski, Molenberghs and Buyse 2005), as done for GASTRIC, ACCENT, ARCAD and ICECaP:

**Trial level** - does the treatment effect on the surrogate predict the effect on the true
endpoint? In every trial the log hazard ratio of treatment is estimated for both endpoints
(Cox, Efron ties; :func:`analyses.cox.coxph`); then the weighted least-squares regression of
the true endpoint's log HR on the surrogate's (weights: trial size by default; ``"events"``:
true-endpoint events; ``"none"``) gives

* ``r2`` - the weighted coefficient of determination (R's ``summary(lm(...,
  weights))$r.squared``), with a confidence interval by the delta method,
  ``r2 +/- z sqrt(4 r2 (1 - r2)^2 / (k - 3))`` truncated to [0, 1];
* ``slope`` and ``intercept`` with their standard errors;
* ``ste`` - the surrogate threshold effect (Burzykowski and Buyse 2006): the largest log HR
  on the surrogate at which the upper limit of the 95% prediction interval of the true
  endpoint's log HR in a new trial is 0 (below it a non-zero effect on the true endpoint is
  predicted). The new trial has the average weight: with weights scaled to mean 1 the limit
  is ``a + b x + t_{k-2} s sqrt(1 + x0' (X'WX)^-1 x0)`` (R's ``predict(lm, interval =
  "prediction")``); ``None`` when the interval never excludes 0.

**Individual level** - within trials, how strongly are the two endpoints associated? A
Clayton copula with per-trial-and-arm margins, by the two-stage (pseudo-likelihood) approach
of Shih and Louis (1995) used in the surrosurv literature: each margin is the Kaplan-Meier
curve of its trial and arm, rescaled to stay inside (0, 1] (``u = (1 + n S(t)) / (n + 1)``,
``n`` the size of the trial-arm); the copula parameter ``theta`` maximises the censored-data
copula likelihood (both events: density; one event: the partial derivative; none: the
copula) with the margins held fixed; Kendall's tau is ``theta / (theta + 2)``. Its interval
is a Wald interval on ``log theta`` from the observed information of that likelihood
(margins treated as known, so it is somewhat narrow), mapped to tau.

Example::

    res = surrogacy(gastadj, trial="trialref", treatment="trt", treated_value=0.5,
                    surrogate_time="timeS", surrogate_event="statusS",
                    time="timeT", event="statusT")
    res.trial_level["r2"], res.individual_level["kendall_tau"]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

from analyses.errors import AnalysisProblem, Reason
from analyses.formatting import fmt_ci
from analyses.ipd_frame import prepare_ipd
from analyses.km import kaplan_meier
from analyses.results import ResultMixin
from analyses.trial_models import first_stage

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["SurrogacyResult", "surrogacy", "trial_level", "clayton_tau", "WEIGHTS",
           "PER_TRIAL_COLUMNS"]

FloatArray = NDArray[np.float64]
#: Weightings of the trial-level regression.
WEIGHTS: tuple[str, ...] = ("n", "events", "none")
#: Columns of :attr:`SurrogacyResult.per_trial`.
PER_TRIAL_COLUMNS: tuple[str, ...] = (
    "trial", "n", "events_surrogate", "events_true", "log_hr_surrogate", "se_surrogate",
    "log_hr_true", "se_true", "weight")


@dataclass(frozen=True, repr=False, eq=False)
class SurrogacyResult(ResultMixin):
    """Trial- and individual-level surrogacy (see the module docstring).

    ``trial_level``: ``r2, r2_ci, slope, slope_se, intercept, intercept_se, k, ste, ste_hr,
    weights``; ``individual_level``: ``kendall_tau, ci, theta, theta_ci, copula, margins, n``;
    ``per_trial``: :data:`PER_TRIAL_COLUMNS`; ``excluded``: trials without both estimates.
    """

    title: ClassVar[str] = "Surrogate endpoint evaluation"

    trial_level: dict[str, Any]
    individual_level: dict[str, Any] | None
    per_trial: pd.DataFrame
    excluded: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        tl, il = self.trial_level, self.individual_level
        rows = [{"level": "trial", "measure": "R\u00b2 (weighted)", "estimate": tl["r2"],
                 "ci_low": tl["r2_ci"][0], "ci_high": tl["r2_ci"][1]}]
        if il is not None:
            rows.append({"level": "individual", "measure": "Kendall's tau (Clayton copula)",
                         "estimate": il["kendall_tau"], "ci_low": il["ci"][0],
                         "ci_high": il["ci"][1]})
        if tl["ste_hr"] is not None:
            rows.append({"level": "trial", "measure": "surrogate threshold effect (HR)",
                         "estimate": tl["ste_hr"], "ci_low": None, "ci_high": None})
        return pd.DataFrame(rows, columns=["level", "measure", "estimate", "ci_low", "ci_high"])

    def _headline(self) -> str:
        tl, il = self.trial_level, self.individual_level
        text = f"trial-level R\u00b2 {fmt_ci(tl['r2'], *tl['r2_ci'])} (k = {tl['k']})"
        if il is not None:
            text += f"; Kendall's tau {fmt_ci(il['kendall_tau'], *il['ci'])}"
        return text

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "trial_level", self.trial_level
        yield "individual_level", self.individual_level
        yield "per_trial", self.per_trial
        yield "excluded", self.excluded
        yield "notes", list(self.notes)

    def plot(self, *, path: str | Path | None = None, **kwargs: Any) -> Figure:
        """The trial-level plot: bubbles sized by trial, the regression line, its 95%
        prediction band and the surrogate threshold effect."""
        from analyses.surrogacy_plot import plot_trial_level

        return plot_trial_level(self, path=path, **kwargs)


# ------------------------------------------------------------------------ trial level
def _ste(a: float, b: float, s2: float, cov_u: FloatArray, t: float) -> float | None:
    """Largest x with a + b x + t sqrt(s2 (1 + [1 x] C [1 x]')) = 0 and a + b x < 0."""
    k = t * t * s2
    qa = b * b - k * cov_u[1, 1]
    qb = 2 * a * b - 2 * k * cov_u[0, 1]
    qc = a * a - k * (1 + cov_u[0, 0])
    if abs(qa) < 1e-300:
        roots = [-qc / qb] if qb != 0 else []
    else:
        disc = qb * qb - 4 * qa * qc
        if disc < 0:
            return None
        roots = [(-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)]
    ok = [float(x) for x in roots if a + b * x < 0]
    return max(ok) if ok else None


def trial_level(x: FloatArray, y: FloatArray, w: FloatArray, *, level: float = 0.95
                ) -> dict[str, Any]:
    """Weighted regression of ``y`` (true endpoint log HRs) on ``x`` (surrogate log HRs)."""
    k = x.size
    if k < 4:
        raise AnalysisProblem(f"trial-level surrogacy needs at least four trials with both "
                            f"estimates (the R\u00b2 interval uses k - 3 df), got {k}",
                            reason=Reason.TOO_FEW_TRIALS, k=k)
    w = w / w.mean()
    X = np.column_stack([np.ones(k), x])
    cov_u = np.linalg.inv((X.T * w) @ X)
    beta = cov_u @ ((X.T * w) @ y)
    resid = y - X @ beta
    s2 = float(np.sum(w * resid**2)) / (k - 2)
    ybar = float(np.sum(w * y) / np.sum(w))
    r2 = 1 - float(np.sum(w * resid**2)) / float(np.sum(w * (y - ybar) ** 2))
    z = float(stats.norm.isf((1 - level) / 2))
    half = z * math.sqrt(4 * r2 * (1 - r2) ** 2 / (k - 3))
    ste = _ste(float(beta[0]), float(beta[1]), s2, np.asarray(cov_u, dtype=np.float64),
               float(stats.t.isf(0.025, k - 2)))
    se = np.sqrt(np.diag(cov_u) * s2)
    return {"r2": r2, "r2_ci": [max(0.0, r2 - half), min(1.0, r2 + half)],
            "slope": float(beta[1]), "slope_se": float(se[1]),
            "intercept": float(beta[0]), "intercept_se": float(se[0]), "k": k,
            "residual_se": math.sqrt(s2), "ste": ste,
            "ste_hr": None if ste is None else math.exp(ste)}


# ------------------------------------------------------------------------ individual level
def _margin(time: FloatArray, event: FloatArray) -> FloatArray:
    """Rescaled Kaplan-Meier survival at each participant's own time."""
    km = kaplan_meier(time, event)
    tab = km.table
    idx = np.searchsorted(tab["time"].to_numpy(float), time, side="right") - 1
    s = tab["surv"].to_numpy(float)[idx]
    n = time.size
    return (1 + n * s) / (n + 1)


def _loglik(theta: float, u: FloatArray, v: FloatArray, du: NDArray[np.bool_],
            dv: NDArray[np.bool_]) -> float:
    lu, lv = np.log(u), np.log(v)
    A = np.exp(-theta * lu) + np.exp(-theta * lv) - 1
    lA = np.log(A)
    both = math.log1p(theta) - (theta + 1) * (lu + lv) - (1 / theta + 2) * lA
    only_u = -(theta + 1) * lu - (1 / theta + 1) * lA
    only_v = -(theta + 1) * lv - (1 / theta + 1) * lA
    none = -lA / theta
    ll = np.where(du & dv, both, np.where(du, only_u, np.where(dv, only_v, none)))
    return float(ll.sum())


def clayton_tau(u: FloatArray, v: FloatArray, du: FloatArray, dv: FloatArray, *,
                level: float = 0.95) -> dict[str, Any]:
    """Maximise the censored Clayton copula likelihood in ``theta`` (margins fixed)."""
    eu, ev = du.astype(bool), dv.astype(bool)

    def neg(lt: float) -> float:
        return -_loglik(math.exp(lt), u, v, eu, ev)

    opt = optimize.minimize_scalar(neg, bounds=(math.log(1e-4), math.log(200.0)),
                                   method="bounded", options={"xatol": 1e-10})
    lt = float(opt.x)
    h = 1e-4
    info = (neg(lt + h) - 2 * neg(lt) + neg(lt - h)) / h**2
    z = float(stats.norm.isf((1 - level) / 2))
    se = 1 / math.sqrt(info) if info > 0 else math.inf
    theta = math.exp(lt)
    lims = [math.exp(lt - z * se), math.exp(lt + z * se)]
    return {"kendall_tau": theta / (theta + 2), "ci": [t / (t + 2) for t in lims],
            "theta": theta, "theta_ci": lims, "log_theta_se": se, "loglik": -float(opt.fun),
            "copula": "clayton", "margins": "Kaplan-Meier per trial and arm (rescaled)",
            "n": int(u.size)}


def _individual(frame_s: pd.DataFrame, frame_t: pd.DataFrame, level: float) -> dict[str, Any]:
    keys = ["_trial", "_treat"]
    u = np.empty(len(frame_s))
    v = np.empty(len(frame_t))
    for _, idx in frame_s.groupby(keys).groups.items():
        pos = frame_s.index.get_indexer(idx)
        u[pos] = _margin(frame_s["_time"].to_numpy(float)[pos],
                         frame_s["_event"].to_numpy(float)[pos])
        v[pos] = _margin(frame_t["_time"].to_numpy(float)[pos],
                         frame_t["_event"].to_numpy(float)[pos])
    return clayton_tau(u, v, frame_s["_event"].to_numpy(float),
                       frame_t["_event"].to_numpy(float), level=level)


# ------------------------------------------------------------------------ the analysis
def _per_trial(fs_s: Any, fs_t: Any, weights: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    s_est = {e.trial: e for e in fs_s.estimates}
    t_est = {e.trial: e for e in fs_t.estimates}
    excluded = [(t, f"surrogate: {m}") for t, _, m in fs_s.excluded]
    excluded += [(t, f"true endpoint: {m}") for t, _, m in fs_t.excluded]
    rows = []
    for trial, es in s_est.items():
        et = t_est.get(trial)
        if et is None:
            continue
        w = {"n": es.n, "events": et.events, "none": 1}[weights]
        rows.append({"trial": trial, "n": es.n, "events_surrogate": es.events,
                     "events_true": et.events, "log_hr_surrogate": es.estimate,
                     "se_surrogate": es.se, "log_hr_true": et.estimate, "se_true": et.se,
                     "weight": float(w)})
    return pd.DataFrame(rows, columns=list(PER_TRIAL_COLUMNS)), excluded


def surrogacy(
    data: pd.DataFrame,
    *,
    trial: str,
    treatment: str,
    surrogate_time: str,
    surrogate_event: str,
    time: str,
    event: str,
    treated_value: Any = 1,
    control_value: Any = None,
    weights: str = "n",
    individual: bool = True,
    level: float = 0.95,
) -> SurrogacyResult:
    """Trial-level and individual-level surrogacy of (``surrogate_time``,
    ``surrogate_event``) for (``time``, ``event``); see the module docstring."""
    if weights not in WEIGHTS:
        raise AnalysisProblem(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}",
                            reason=Reason.BAD_OPTION)
    common = dict(trial=trial, treatment=treatment, model="cox", treated_value=treated_value,
                  control_value=control_value)
    ps = prepare_ipd(data, time=surrogate_time, event=surrogate_event, **common)
    pt = prepare_ipd(data, time=time, event=event, **common)
    fs_s = first_stage(ps.frame, ps.trials, model="cox")
    fs_t = first_stage(pt.frame, pt.trials, model="cox")
    table, excluded = _per_trial(fs_s, fs_t, weights)
    tl = trial_level(table["log_hr_surrogate"].to_numpy(float),
                     table["log_hr_true"].to_numpy(float), table["weight"].to_numpy(float),
                     level=level)
    tl["weights"] = weights
    notes = []
    if tl["ste"] is None:
        notes.append("the 95% prediction interval of the true endpoint's effect never "
                     "excludes 0: no surrogate threshold effect")
    il = _individual(ps.frame, pt.frame, level) if individual else None
    return SurrogacyResult(trial_level=tl, individual_level=il, per_trial=table,
                           excluded=pd.DataFrame(excluded, columns=["trial", "message"]),
                           notes=tuple(notes))

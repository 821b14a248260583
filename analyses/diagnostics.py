"""Small-study and influence diagnostics of a pooled result, as metafor 3.8 computes them.

:func:`diagnose` takes a :class:`~analyses.pooling.PoolResult` (or the ``pooled`` part of a
two-stage analysis) and returns :class:`Diagnostics`:

``egger``      classical Egger test, metafor's ``regtest(model = "lm")``: weighted least
               squares of ``yi`` on ``sei`` with weights ``1/vi``; the slope's t statistic on
               ``k - 2`` df (and the intercept, the "limit" estimate as ``sei -> 0``)
``regtest``    metafor's default ``regtest``: the meta-regression of ``yi`` on ``sei`` with
               the model's tau^2 estimator and test (:mod:`analyses.metareg`); the slope's
               z (or t) statistic
``leave1out``  the model refitted without each trial in turn (``leave1out``): estimate,
               se, CI, p, tau^2, I^2, Q
``trimfill``   Duval and Tweedie's trim and fill with the L0 estimator, side chosen by the
               sign of the ``regtest`` slope, fits with the model's tau^2 estimator (metafor's
               ``trimfill``, whose refits use a z test): k0, side, the filled estimate
``influence``  metafor's ``influence``: externally standardised residuals, DFFITS, Cook's
               distances, covariance ratios, leave-one-out tau^2 and Q, hat values, weights,
               DFBETAS and metafor's flag of influential trials
``baujat``     the points of a Baujat plot: contribution to heterogeneity ``(yi - mu)^2 /
               (vi + tau^2)`` against influence ``(mu_(-i) - mu)^2 / var(mu_(-i))``
=============  ===========================================================================

Mantel-Haenszel and Peto results are refitted by their own method in ``leave1out`` and
``baujat`` (as metafor); the other diagnostics use the per-trial estimates and variances with
a common-effect inverse-variance model (metafor defines them for ``rma.uni`` models only), and
:attr:`Diagnostics.notes` says so. A diagnostic that needs more trials than there are is
``None`` with a note (Egger, ``regtest`` and trim and fill need three).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from analyses.errors import AnalysisProblem, Reason
from analyses.metareg import meta_regression
from analyses.pooling import PoolResult, pool
from analyses.results import ResultMixin
from repository.errors import AnalysisError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Diagnostics", "diagnose", "INFLUENCE_COLUMNS", "LEAVE1OUT_COLUMNS"]

FloatArray = NDArray[np.float64]
#: Columns of :attr:`Diagnostics.influence`.
INFLUENCE_COLUMNS: tuple[str, ...] = (
    "trial", "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight",
    "dfbetas", "influential")
#: Columns of :attr:`Diagnostics.leave1out`.
LEAVE1OUT_COLUMNS: tuple[str, ...] = (
    "trial", "estimate", "se", "ci_low", "ci_high", "p", "tau2", "I2", "Q")


@dataclass(frozen=True, repr=False, eq=False)
class Diagnostics(ResultMixin):
    """Diagnostics of one pooled result (see the module docstring)."""

    title: ClassVar[str] = "Small-study and influence diagnostics"

    result: PoolResult
    egger: dict[str, Any] | None
    regtest: dict[str, Any] | None
    leave1out: pd.DataFrame
    trimfill: dict[str, Any] | None
    influence: pd.DataFrame | None
    baujat: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for name, d in (("Egger (regtest, model = lm)", self.egger),
                        ("regtest (model = rma)", self.regtest)):
            if d is not None:
                rows.append({"test": name, "statistic": d["statistic"], "df": d.get("df"),
                             "p": d["p"]})
        if self.trimfill is not None:
            tf = self.trimfill
            rows.append({"test": f"trim and fill: {tf['k0']} missing on the {tf['side']}",
                         "statistic": tf["estimate"], "df": None, "p": tf["p"]})
        return pd.DataFrame(rows, columns=["test", "statistic", "df", "p"])

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "egger", self.egger
        yield "regtest", self.regtest
        yield "leave1out", self.leave1out
        yield "trimfill", self.trimfill
        yield "influence", self.influence
        yield "baujat", self.baujat
        yield "diagnostics_notes", list(self.notes)

    def plot(self, kind: str = "funnel", *, path: str | Path | None = None,
             **kwargs: Any) -> Figure:
        """``kind="funnel"`` (with the trim-and-fill trials, open) or ``"baujat"``."""
        from analyses.diagnostic_plots import baujat_plot, funnel_plot

        if kind == "funnel":
            return funnel_plot(self.result, trimfill=self.trimfill, path=path, **kwargs)
        if kind == "baujat":
            return baujat_plot(self, path=path, **kwargs)
        raise AnalysisProblem(f"unknown diagnostic plot {kind!r}; use 'funnel' or 'baujat'",
                            reason=Reason.BAD_OPTION)


# ------------------------------------------------------------------------ inputs and refits
@dataclass(frozen=True)
class _Data:
    trials: list[str]
    y: FloatArray
    v: FloatArray
    method: str  # the inverse-variance method used for regtest, trimfill, influence
    test: str


def _data(res: PoolResult) -> tuple[_Data, list[str]]:
    st = res.studies
    ok = np.isfinite(st["yi"].to_numpy(float)) & np.isfinite(st["vi"].to_numpy(float))
    st = st[ok]
    notes = []
    method, test = res.method, res.test
    if method in ("MH", "Peto"):
        notes.append(f"{method} result: Egger, regtest, trim and fill and influence use the "
                     "trials' estimates and variances with a common-effect inverse-variance "
                     "model (metafor defines them for rma.uni models only)")
        method, test = "FE", "z"
    return _Data([str(t) for t in st["study"]], st["yi"].to_numpy(float),
                  st["vi"].to_numpy(float), method, test), notes


def _refit(res: PoolResult, keep: NDArray[np.bool_]) -> PoolResult:
    """``res`` refitted on the trials in ``keep`` with the same method (and test)."""
    st = res.studies
    st = st[np.isfinite(st["yi"].to_numpy(float))].reset_index(drop=True)[keep]
    labels = list(st["study"])
    if res.method == "Peto" and "o_minus_e" in st:
        from analyses.peto import pool_oe

        return pool_oe(st["o_minus_e"], st["v"], level=res.level, labels=labels,
                       measure=res.measure or "HR")
    if res.method in ("MH", "Peto"):
        from analyses.binary import pool_2x2

        return pool_2x2(st["events_treated"], st["n_treated"], st["events_control"],
                        st["n_control"], measure=res.measure or "OR", method=res.method,
                        level=res.level, labels=labels)
    return pool(st["yi"], st["vi"], method=res.method, test=res.test, level=res.level,
                labels=labels, qprofile=False)


def _iv(d: _Data, keep: NDArray[np.bool_] | None = None, *, test: str | None = None
        ) -> PoolResult:
    m = np.ones(d.y.size, dtype=bool) if keep is None else keep
    return pool(d.y[m], d.v[m], method=d.method, test=test or d.test, qprofile=False)


def _s2w(res: PoolResult) -> float:
    return float(res.details.get("knha_scale", 1.0))


# ------------------------------------------------------------------------ the diagnostics
def _egger(d: _Data) -> dict[str, Any]:
    k = d.y.size
    X = np.column_stack([np.ones(k), np.sqrt(d.v)])
    w = 1.0 / d.v
    XtW = X.T * w
    cov_u = np.linalg.inv(XtW @ X)
    beta = cov_u @ (XtW @ d.y)
    resid = d.y - X @ beta
    sigma2 = float(np.sum(w * resid**2)) / (k - 2)
    se = np.sqrt(np.diag(cov_u) * sigma2)
    t = beta / se
    crit = float(stats.t.isf(0.025, k - 2))
    return {"statistic": float(t[1]), "df": k - 2, "p": float(2 * stats.t.sf(abs(t[1]), k - 2)),
            "slope": float(beta[1]), "limit_estimate": float(beta[0]),
            "limit_ci": [float(beta[0] - crit * se[0]), float(beta[0] + crit * se[0])]}


def _regtest(d: _Data) -> dict[str, Any]:
    X = np.column_stack([np.ones(d.y.size), np.sqrt(d.v)])
    fit = meta_regression(d.y, d.v, X, method=d.method, test=d.test)
    return {"statistic": float(fit.statistic[1]), "df": fit.df, "p": float(fit.p[1]),
            "model": "rma", "predictor": "sei", "method": fit.method, "test": fit.test,
            "limit_estimate": float(fit.beta[0])}


def _leave1out(res: PoolResult) -> pd.DataFrame:
    trials = [str(t) for t in res.studies.loc[np.isfinite(res.studies["yi"].to_numpy(float)),
                                              "study"]]
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(trials):
        keep = np.arange(len(trials)) != i
        try:
            r = _refit(res, keep)
        except AnalysisError:
            rows.append({"trial": name})
            continue
        rows.append({"trial": name, "estimate": r.estimate, "se": r.se, "ci_low": r.ci[0],
                     "ci_high": r.ci[1], "p": r.p, "tau2": r.tau2, "I2": r.I2, "Q": r.Q})
    return pd.DataFrame(rows, columns=list(LEAVE1OUT_COLUMNS))


def _trimfill(d: _Data) -> dict[str, Any]:
    X = np.column_stack([np.ones(d.y.size), np.sqrt(d.v)])
    slope = meta_regression(d.y, d.v, X, method=d.method, test="z").beta[1]
    side = "right" if slope < 0 else "left"
    y = -d.y if side == "right" else d.y.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], d.v[order]
    k = y.size
    k0, k0_prev, beta, it = 0, -1, 0.0, 0
    se_k0 = 0.0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > 100:
            raise AnalysisProblem("the trim-and-fill algorithm did not converge",
                                reason=Reason.NO_CONVERGENCE)
        beta = pool(y[:k - k0], v[:k - k0], method=d.method, qprofile=False).estimate
        yc = y - beta
        ranks = stats.rankdata(np.abs(yc), method="ordinal")
        sr = float(np.sum(ranks[yc > 0]))
        raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (k * (k + 1) * (2 * k + 1) + 10 * raw**3 + 27 * raw**2 + 17 * raw
                  - 18 * k * raw**2 - 18 * k * raw + 6 * k**2 * raw) / 24
        se_k0 = max(0.0, 4 * np.sqrt(var_sr) / (2 * k - 1)) if var_sr > 0 else 0.0
        k0 = max(0, int(np.round(raw)))  # R's round: half to even, as numpy's
    filled_y = 2 * beta - y[k - k0:] if k0 else np.empty(0)
    if side == "right":
        filled_y = -filled_y
    filled_v = v[k - k0:]
    fit = pool(np.concatenate([d.y, filled_y]), np.concatenate([d.v, filled_v]),
               method=d.method, qprofile=False) if k0 else _iv(d)
    return {"k0": k0, "se_k0": float(se_k0), "side": side, "estimator": "L0",
            "estimate": fit.estimate, "se": fit.se, "ci": list(fit.ci), "p": fit.p,
            "tau2": fit.tau2, "filled": [{"yi": float(a), "vi": float(b)}
                                         for a, b in zip(filled_y, filled_v)]}


def _influence(d: _Data, full: PoolResult) -> pd.DataFrame:
    k = d.y.size
    w = 1.0 / (d.v + (full.tau2 or 0.0))
    hat = w / w.sum()
    vb = full.se**2
    rows = []
    for i in range(k):
        keep = np.arange(k) != i
        r = _iv(d, keep)
        tau2 = r.tau2 or 0.0
        s2w = _s2w(r)
        dfb = full.estimate - r.estimate
        vb_del = 1.0 / float(np.sum(1.0 / (d.v + tau2)))
        resid = d.y[i] - r.estimate
        rows.append({
            "trial": d.trials[i],
            "rstudent": resid / np.sqrt(d.v[i] * s2w + r.se**2 + tau2 * s2w),
            "dffits": dfb / np.sqrt(s2w * hat[i] * (tau2 + d.v[i])),
            "cook_d": dfb**2 / vb, "cov_r": r.se**2 / vb, "tau2_del": tau2, "QE_del": r.Q,
            "hat": hat[i], "weight": 100 * w[i] / w.sum(),
            "dfbetas": dfb / np.sqrt(s2w * vb_del)})
    tab = pd.DataFrame(rows)
    tab["influential"] = ((tab["dffits"].abs() > 3 * np.sqrt(1 / (k - 1)))
                          | (stats.chi2.cdf(tab["cook_d"], 1) > 0.5)
                          | (tab["hat"] > 3 / k) | (tab["dfbetas"].abs() > 1))
    return tab[list(INFLUENCE_COLUMNS)]


def _baujat(res: PoolResult) -> pd.DataFrame:
    st = res.studies[np.isfinite(res.studies["yi"].to_numpy(float))].reset_index(drop=True)
    x = (st["yi"].to_numpy(float) - res.estimate) ** 2 / (st["vi"].to_numpy(float)
                                                           + (res.tau2 or 0.0))
    ys = []
    for i in range(len(st)):
        try:
            r = _refit(res, np.arange(len(st)) != i)
            ys.append((r.estimate - res.estimate) ** 2 / r.se**2)
        except AnalysisError:
            ys.append(np.nan)
    return pd.DataFrame({"trial": [str(t) for t in st["study"]], "x": x, "y": ys})


def diagnose(result: Any) -> Diagnostics:
    """Every diagnostic of the module docstring for ``result`` (a :class:`PoolResult`, or an
    object with a ``pooled`` one such as a two-stage result)."""
    res = result.pooled if hasattr(result, "pooled") else result
    if not isinstance(res, PoolResult):
        raise AnalysisProblem(f"cannot diagnose a {type(result).__name__}; give a pooled or "
                            "two-stage result", reason=Reason.WRONG_TYPE)
    d, notes = _data(res)
    k = d.y.size
    if k < 2:
        raise AnalysisProblem(f"diagnostics need at least two trials, got {k}",
                            reason=Reason.TOO_FEW_TRIALS, k=k)
    egger = regtest = trimfill = None
    if k >= 3:
        egger, regtest, trimfill = _egger(d), _regtest(d), _trimfill(d)
    else:
        notes.append("Egger's test, regtest and trim and fill need at least three trials")
    return Diagnostics(result=res, egger=egger, regtest=regtest, leave1out=_leave1out(res),
                       trimfill=trimfill, influence=_influence(d, _iv(d)),
                       baujat=_baujat(res), notes=tuple(notes))


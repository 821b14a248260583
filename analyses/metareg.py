"""Meta-regression (random- or common-effect models with moderators), as metafor's ``rma.uni``.

``meta_regression(yi, vi, X, method=..., test=...)`` fits ``y = X beta + u + e`` with
``u ~ N(0, tau^2)`` and ``e ~ N(0, v_i)``. tau^2 follows metafor 3.8 ``rma.uni`` with
moderators to the letter (``P = W - W X (X'WX)^-1 X'W``; ``p`` = columns of ``X``):

=======  ==========================================================================
``DL``   ``(y'Py - (k - p)) / tr(P)`` with ``W = diag(1/v)``
``HE``   ``(y'(I - H)y - tr((I - H)V)) / (k - p)``, ``H`` the unweighted hat matrix
``HS``   ``(y'Py - k) / sum(1/v)``
``SJ``   ``tau0^2 y'P(tau0^2)y / (k - p)``, ``tau0^2 = mean((y - ybar)^2)``
``ML``   Fisher scoring from ``max(0, HE)``: step ``(y'PPy - sum w) / sum w^2``
``REML`` Fisher scoring from ``max(0, HE)``: step ``(y'PPy - tr P) / tr(PP)``
``EB``   from ``max(0, HE)``: step ``(y'Py k/(k-p) - k) / sum w``
``PM``   root of ``y'P(tau^2)y = k - p`` (R's ``uniroot``, ``[0, max(100, 10 mad(y)^2)]``)
=======  ==========================================================================

then ``beta = (X'WX)^-1 X'Wy`` with ``W = diag(1/(v + tau^2))``, ``vb = (X'WX)^-1``; tests
``z``; ``t`` (df ``k - p``); ``knha`` (``vb`` times ``s^2 = y'Py / (k - p)``, t on ``k - p``
df); ``adhoc`` (``s^2`` truncated below at 1). This is the engine of the small-study
diagnostics (:mod:`analyses.diagnostics`: metafor's default ``regtest`` adds the standard
error as a moderator); the intercept-only model is :func:`analyses.pooling.pool`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyses.distributions import t_pvalue, z_pvalue
from analyses.roots import R_UNIROOT_TOL, uniroot
from analyses.tau2 import MAXITER, THRESHOLD
from repository.errors import AnalysisError, ConvergenceError

__all__ = ["MetaRegression", "meta_regression", "METHODS"]

FloatArray = NDArray[np.float64]
#: Methods :func:`meta_regression` knows.
METHODS: tuple[str, ...] = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


@dataclass(frozen=True)
class MetaRegression:
    """Coefficients ``beta`` with covariance ``vb`` (scaled for knha), their statistics and
    p-values (``df`` is None for z tests), tau^2 and the residual Q."""

    beta: FloatArray
    vb: FloatArray
    statistic: FloatArray
    p: FloatArray
    df: int | None
    tau2: float
    QE: float
    s2w: float
    method: str
    test: str

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.diag(self.vb))


def _P(w: FloatArray, X: FloatArray) -> FloatArray:
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def _rss(y: FloatArray, v: FloatArray, X: FloatArray, tau2: float) -> float:
    P = _P(1.0 / (v + tau2), X)
    return float(y @ P @ y)


def _he(y: FloatArray, v: FloatArray, X: FloatArray) -> float:
    k, p = X.shape
    P = np.eye(k) - X @ np.linalg.solve(X.T @ X, X.T)
    return (float(y @ P @ y) - float(np.trace(P * v[None, :]))) / (k - p)


def _fisher(method: str, y: FloatArray, v: FloatArray, X: FloatArray, tau2: float) -> float:
    k, p = X.shape
    change, it = THRESHOLD + 1, 0
    while change > THRESHOLD:
        it += 1
        old = tau2
        w = 1.0 / (v + tau2)
        P = _P(w, X)
        Py = P @ y
        if method == "ML":
            adj = (float(Py @ Py) - float(w.sum())) / float(np.sum(w**2))
        elif method == "REML":
            adj = (float(Py @ Py) - float(np.trace(P))) / float(np.sum(P * P.T))
        else:
            adj = (float(y @ Py) * k / (k - p) - k) / float(w.sum())
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        change = abs(old - tau2)
        if it > MAXITER:
            raise ConvergenceError(f"Fisher scoring for the {method} estimate of tau^2 in the "
                                   "meta-regression did not converge", reason="no_convergence")
    return tau2


def _loglik(method: str, y: FloatArray, v: FloatArray, X: FloatArray, tau2: float) -> float:
    k, p = X.shape
    w = 1.0 / (v + tau2)
    WX = X * w[:, None]
    b = np.linalg.solve(X.T @ WX, WX.T @ y)
    rss = float(np.sum(w * (y - X @ b) ** 2))
    if method == "ML":
        return -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * rss
    return (-0.5 * (k - p) * math.log(2 * math.pi) - 0.5 * float(np.sum(np.log(v + tau2)))
            - 0.5 * float(np.linalg.slogdet(X.T @ WX)[1]) - 0.5 * rss)


def _pm(y: FloatArray, v: FloatArray, X: FloatArray, y_raw: FloatArray) -> float:
    k, p = X.shape
    med = float(np.median(y_raw))
    tau2_max = max(100.0, 10 * (1.4826 * float(np.median(np.abs(y_raw - med)))) ** 2)
    f_low = _rss(y, v, X, 0.0) - (k - p)
    if f_low < 0:
        return 0.0
    f_high = _rss(y, v, X, tau2_max) - (k - p)
    if f_high > 0:
        raise AnalysisError(f"the Paule-Mandel estimate of tau^2 lies above {tau2_max:.4g}",
                            reason="tau2_max_too_low")
    root = uniroot(lambda t: _rss(y, v, X, t) - (k - p), 0.0, tau2_max, f_lower=f_low,
                   f_upper=f_high, tol=R_UNIROOT_TOL, maxiter=MAXITER)
    return root.root


def _tau2(method: str, y: FloatArray, v: FloatArray, X: FloatArray, y_raw: FloatArray
          ) -> float:
    k, p = X.shape
    if method == "FE":
        return 0.0
    if method in ("DL", "HS"):
        w = 1.0 / v
        rss = _rss(y, v, X, 0.0)
        if method == "DL":
            return max(0.0, (rss - (k - p)) / float(np.trace(_P(w, X))))
        return max(0.0, (rss - k) / float(w.sum()))
    if method == "SJ":
        tau0 = float(np.mean((y - y.mean()) ** 2))
        return max(0.0, tau0 * _rss(y, v, X, tau0) / (k - p))
    if method == "PM":
        return _pm(y, v, X, y_raw)
    he = _he(y, v, X)
    if method == "HE":
        return max(0.0, he)
    tau2 = _fisher(method, y, v, X, max(0.0, he))
    if (method in ("ML", "REML") and tau2 > THRESHOLD
            and _loglik(method, y, v, X, 0.0) - _loglik(method, y, v, X, tau2) > R_UNIROOT_TOL):
        tau2 = 0.0
    return max(0.0, tau2)


def meta_regression(yi: ArrayLike, vi: ArrayLike, X: ArrayLike, *, method: str = "REML",
                    test: str = "z") -> MetaRegression:
    """Fit the meta-regression of ``yi`` (variances ``vi``) on the columns of ``X`` (give the
    intercept column yourself); see the module docstring."""
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    Xm = np.asarray(X, dtype=float).reshape(y.size, -1)
    k, p = Xm.shape
    method = "FE" if method.upper() in ("FE", "EE", "CE", "IV") else method.upper()
    if method not in METHODS:
        raise AnalysisError(f"meta-regression does not know method {method!r}; choose one "
                            f"of {', '.join(METHODS)}", reason="unknown_method")
    if k <= p:
        raise AnalysisError(f"{k} trials cannot fit a meta-regression with {p} coefficients; "
                            f"it needs at least {p + 1}", reason="too_few_trials", k=k)
    if np.linalg.matrix_rank(Xm) < p:
        raise AnalysisError("the moderators are collinear (the model matrix is not of full "
                            "rank)", reason="collinear")
    tau2 = _tau2(method, y - y.mean(), v, Xm, y)
    w = 1.0 / (v + tau2)
    WX = Xm * w[:, None]
    vb = np.linalg.inv(Xm.T @ WX)
    beta = vb @ (WX.T @ y)
    QE = _rss(y, v, Xm, 0.0)
    s2w, df = 1.0, None
    if test in ("knha", "adhoc"):
        s2w = float(np.sum(w * (y - Xm @ beta) ** 2)) / (k - p)
        if test == "adhoc":
            s2w = max(1.0, s2w)
    if test != "z":
        df = k - p
    vbs: FloatArray = np.asarray(vb * s2w, dtype=np.float64)
    stat = beta / np.sqrt(np.diag(vbs))
    pv = np.array([z_pvalue(s) if df is None else t_pvalue(s, df) for s in stat])
    return MetaRegression(beta=beta, vb=vbs, statistic=stat, p=pv, df=df, tau2=float(tau2),
                          QE=QE, s2w=s2w, method=method, test=test)

"""Meta-regression (random- or common-effect models with moderators), as metafor's ``rma.uni``.

``meta_regression(yi, vi, X, method=..., test=...)`` fits ``y = X beta + u + e`` with
``u ~ N(0, tau^2)`` and ``e ~ N(0, v_i)``. tau^2 comes from the one engine,
:func:`analyses.tau2.fit_tau2`, on the moderator model shape
(:class:`analyses.tau2_models.ModeratorModel`), following metafor 3.8 ``rma.uni`` with
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

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyses.checks import as_floats
from analyses.errors import AnalysisProblem, Reason
from analyses.rma import check_test, knha_scale, normalise_method, wald
from analyses.tau2 import fit_tau2
from analyses.tau2_models import ModeratorModel, residual_maker

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


def meta_regression(yi: ArrayLike, vi: ArrayLike, X: ArrayLike, *, method: str = "REML",
                    test: str = "z") -> MetaRegression:
    """Fit the meta-regression of ``yi`` (variances ``vi``) on the columns of ``X`` (give the
    intercept column yourself); see the module docstring."""
    y = as_floats(yi, "yi")
    v = as_floats(vi, "vi")
    Xm = as_floats(X, "X").reshape(y.size, -1)
    k, p = Xm.shape
    method = normalise_method(method)
    if method not in METHODS:
        raise AnalysisProblem(f"meta-regression does not know method {method!r}; choose one "
                              f"of {', '.join(METHODS)}", reason=Reason.BAD_OPTION,
                              option="method")
    check_test(test)
    if k <= p:
        raise AnalysisProblem(f"{k} trials cannot fit a meta-regression with {p} "
                              f"coefficients; it needs at least {p + 1}",
                              reason=Reason.TOO_FEW_TRIALS, k=k)
    with np.errstate(divide="ignore", over="ignore"):
        weights_ok = bool((v > 0).all() and np.isfinite(1.0 / v).all())
    if not (np.isfinite(y).all() and np.isfinite(v).all() and np.isfinite(Xm).all()
            and weights_ok):
        raise AnalysisProblem("estimates, variances and moderators must be finite numbers with "
                              "variances > 0", reason=Reason.INVALID_DATA)
    if np.linalg.matrix_rank(Xm) < p:
        raise AnalysisProblem("the moderators are collinear (the model matrix is not of full "
                              "rank)", reason=Reason.COLLINEAR)
    tau2 = 0.0
    if method != "FE":
        fits = fit_tau2(ModeratorModel(y - y.mean(), v, Xm, y), method)
        tau2 = float(fits.tau2[0])
    w = 1.0 / (v + tau2)
    WX = Xm * w[:, None]
    vb = np.linalg.inv(Xm.T @ WX)
    beta = vb @ (WX.T @ y)
    QE = float(y @ residual_maker(1.0 / v, Xm) @ y)
    s2w, df = 1.0, None
    if test != "z":
        df = k - p
    if test in ("knha", "adhoc"):
        rss = np.array([float(np.sum(w * (y - Xm @ beta) ** 2))])
        s2w = float(knha_scale(rss, np.array([float(k - p)]), test)[1][0])
    vbs: FloatArray = np.asarray(vb * s2w, dtype=np.float64)
    _, stat, pv, _ = wald(beta, np.diag(vbs), None if df is None else np.full(p, float(df)),
                          95.0)
    return MetaRegression(beta=beta, vb=vbs, statistic=stat, p=pv, df=df, tau2=tau2,
                          QE=QE, s2w=s2w, method=method, test=test)

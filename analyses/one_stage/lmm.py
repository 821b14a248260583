"""One-stage linear mixed model by REML, from per-trial sufficient statistics.

Model (lme4: ``lmer(y ~ 0 + factor(trial) + trt + ... + (0 + trt | trial), REML = TRUE)``)::

    y_ij = alpha_i + x_ij' beta + b_i t_ij + e_ij,   b_i ~ N(0, tau^2),  e_ij ~ N(0, sigma^2)

with stratified (fixed) trial intercepts ``alpha_i`` and a random effect on the coded
treatment ``t``. Within trial ``i`` the marginal covariance is
``sigma^2 (I + gamma t t')`` (``gamma = tau^2 / sigma^2``), whose inverse and determinant have
closed forms (Sherman-Morrison), so every quantity of the REML criterion is a function of the
per-trial cross-products of ``[1, x, y]``. They are computed once; after that each criterion
evaluation costs O(k p^2), independent of the number of participants.

lme4's profiled REML criterion (sigma^2 profiled out) is minimised over ``theta = tau/sigma >= 0``
by a bracketing grid and Brent's method to 1e-10; ``tau^2 = 0`` (the boundary) is compared
explicitly and reported. Standard errors are lme4's: ``sigma^2 (X' V^-1 X)^-1`` at the estimate.

``residual="trial"`` gives each trial its own residual variance (nlme:
``lme(y ~ 0 + trial + trt, random = ~ 0 + trt | trial, weights = varIdent(form = ~ 1 | trial),
method = "REML")``); its k + 1 variance parameters are found by L-BFGS-B on the REML
criterion (central-difference gradients), starting from the common-variance fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, optimize

from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.one_stage.centring import Design

__all__ = ["LMMFit", "fit_lmm", "trial_residual_criterion"]

FloatArray = NDArray[np.float64]
_LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True, eq=False)
class LMMFit:
    beta: FloatArray  # (m,)
    cov: FloatArray  # (m, m)
    alpha: FloatArray  # (K,) trial intercepts
    alpha_se: FloatArray  # (K,)
    tau2: float | None
    sigma2: float | None  # common residual variance
    sigma2_trial: FloatArray | None  # (K,) with residual="trial"
    blup: FloatArray | None  # (K,) predicted random treatment effects
    criterion: float  # REML criterion (-2 restricted log-likelihood)
    boundary: bool
    iterations: int
    converged: bool


def _cross_products(d: Design) -> FloatArray:
    """(K, q, q) per-trial sums of w w' for w = [1, X, y] (q = m + 2)."""
    assert d.y is not None
    W = np.column_stack([np.ones(d.n), d.X, d.y])
    q = W.shape[1]
    G = np.empty((d.k, q, q))
    for a in range(q):
        for b in range(a, q):
            v = np.bincount(d.trial, W[:, a] * W[:, b], minlength=d.k)
            G[:, a, b] = v
            G[:, b, a] = v
    return G


@dataclass(frozen=True, eq=False)
class _Parts:
    dev: float
    beta: FloatArray
    Ainv: FloatArray
    r2: float
    M: FloatArray


def _parts(G: FloatArray, c: FloatArray, scale: FloatArray | None) -> _Parts | None:
    """Profiled pieces for per-trial ``V_i^-1 ∝ (I - c_i t t') / scale_i``."""
    T = G[:, :, 1]  # t is column 1 of w = [1, X, y]
    M = G - c[:, None, None] * T[:, :, None] * T[:, None, :]
    if scale is not None:
        M = M / scale[:, None, None]
    m00 = M[:, 0, 0]
    if np.any(m00 <= 0):
        return None
    v = M[:, 0, 1:]
    R = (M[:, 1:, 1:] - v[:, :, None] * v[:, None, :] / m00[:, None, None]).sum(axis=0)
    m = R.shape[0] - 1
    A, b, yy = R[:m, :m], R[:m, m], R[m, m]
    try:
        cf = linalg.cho_factor(A, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return None
    beta = linalg.cho_solve(cf, b, check_finite=False)
    r2 = float(yy - b @ beta)
    logdet_a = float(np.sum(np.log(m00)) + 2 * np.sum(np.log(np.diag(cf[0]))))
    Ainv = linalg.cho_solve(cf, np.eye(m), check_finite=False)
    return _Parts(dev=logdet_a, beta=beta, Ainv=Ainv, r2=r2, M=M)


def _profiled_dev(G: FloatArray, theta: float, N: int, P: int) -> tuple[float, _Parts]:
    gamma = theta * theta
    tt = G[:, 1, 1]
    c = gamma / (1.0 + gamma * tt)
    parts = _parts(G, c, None)
    if parts is None or parts.r2 <= 0:
        raise AnalysisProblem("the linear model's fixed-effect design is singular (collinear "
                              "covariates, or a covariate constant within every trial); drop "
                              "the offending covariate", reason=Reason.COLLINEAR)
    dev = (float(np.sum(np.log1p(gamma * tt))) + parts.dev
           + (N - P) * (1.0 + math.log(2 * math.pi * parts.r2 / (N - P))))
    return dev, parts


def _minimise_theta(G: FloatArray, N: int, P: int) -> tuple[float, int]:
    """Global-ish minimum of the profiled REML criterion over theta >= 0."""
    grid = np.array([0.0, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5, 4.0,
                     7.0, 12.0, 25.0, 50.0, 100.0])
    devs = np.array([_profiled_dev(G, th, N, P)[0] for th in grid])
    j = int(np.argmin(devs))
    lo = grid[max(j - 1, 0)]
    hi = grid[min(j + 1, grid.size - 1)]
    if j == grid.size - 1:
        raise NotConverged(
            "REML criterion still decreasing at tau/sigma = 100: the between-trial variance of "
            "the treatment effect is unbounded for these data; check the outcome scale and "
            "the treatment coding")
    res = optimize.minimize_scalar(lambda th: _profiled_dev(G, th, N, P)[0], bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-11, "maxiter": 500})
    th = float(res.x)
    evals = grid.size + int(res.nfev)
    if _profiled_dev(G, 0.0, N, P)[0] <= _profiled_dev(G, th, N, P)[0]:
        th = 0.0
    return th, evals


def fit_lmm(d: Design, *, random_treatment: bool = True, residual: str = "common") -> LMMFit:
    """REML fit (see the module docstring). ``residual``: ``"common"`` or ``"trial"``."""
    if residual not in ("common", "trial"):
        raise AnalysisProblem(f"residual must be 'common' or 'trial', not {residual!r}",
                              reason=Reason.BAD_OPTION, option="residual")
    G = _cross_products(d)
    N, K, m = d.n, d.k, d.X.shape[1]
    P = K + m
    if N <= P:
        raise AnalysisProblem(f"{N} participants for {P} fixed effects ({K} trial intercepts and "
                              f"{m} covariates): too few to fit the model",
                              reason=Reason.TOO_FEW_PARTICIPANTS)
    if random_treatment:
        theta, evals = _minimise_theta(G, N, P)
    else:
        theta, evals = 0.0, 1
    dev, parts = _profiled_dev(G, theta, N, P)
    sigma2 = parts.r2 / (N - P)
    gamma = theta * theta
    if residual == "trial":
        return _fit_trial_residuals(d, G, theta, sigma2, random_treatment, evals)
    return _finish(d, G, parts, dev, sigma2, gamma if random_treatment else None, None,
                   theta == 0.0 and random_treatment, evals, True)


def _finish(d: Design, G: FloatArray, parts: _Parts, dev: float, sigma2: float | None,
            gamma: float | None, s2k: FloatArray | None, boundary: bool, iterations: int,
            converged: bool) -> LMMFit:
    """Estimates, covariances, intercepts and BLUPs from the final profiled pieces."""
    unit = float(sigma2) if s2k is None and sigma2 is not None else 1.0
    cov = parts.Ainv * unit
    M = parts.M
    m00 = M[:, 0, 0]
    m = parts.beta.size
    v = M[:, 0, 1:m + 1] / m00[:, None]  # (K, m)
    alpha = M[:, 0, m + 1] / m00 - v @ parts.beta
    alpha_var = unit / m00 + np.einsum("ki,ij,kj->k", v, cov, v)
    tau2 = None
    blup = None
    if gamma is not None:
        T = G[:, 1, :]  # t' [1, X, y] per trial
        tr = T[:, -1] - alpha * T[:, 0] - T[:, 1:m + 1] @ parts.beta
        tt = G[:, 1, 1]
        if s2k is None:
            tau2 = gamma * float(sigma2)  # type: ignore[arg-type]
            blup = gamma / (1 + gamma * tt) * tr
        else:
            tau2 = gamma
            blup = tau2 / (s2k + tau2 * tt) * tr
    return LMMFit(beta=parts.beta, cov=cov, alpha=alpha, alpha_se=np.sqrt(alpha_var),
                  tau2=tau2, sigma2=sigma2 if s2k is None else None, sigma2_trial=s2k,
                  blup=blup, criterion=dev, boundary=boundary, iterations=iterations,
                  converged=converged)


def _trial_dev(G: FloatArray, n_k: FloatArray, params: FloatArray, N: int, P: int,
               random: bool) -> tuple[float, _Parts | None]:
    K = n_k.size
    s2k = np.exp(params[:K])
    tau2 = params[K] if random else 0.0
    tt = G[:, 1, 1]
    c = tau2 / (s2k + tau2 * tt)
    parts = _parts(G, c, s2k)
    if parts is None or parts.r2 <= 0:
        return math.inf, None
    logdet_v = float(np.sum(n_k * np.log(s2k) + np.log1p(tau2 * tt / s2k)))
    return logdet_v + parts.dev + parts.r2 + (N - P) * _LOG2PI, parts


def _fit_trial_residuals(d: Design, G: FloatArray, theta0: float, sigma2: float, random: bool,
                         evals0: int) -> LMMFit:
    N, K, m = d.n, d.k, d.X.shape[1]
    P = K + m
    n_k = G[:, 0, 0]
    if np.any(n_k < 2):
        raise AnalysisProblem("trial-specific residual variances need at least 2 participants "
                              "in every trial", reason=Reason.TOO_FEW_PARTICIPANTS)
    # parameters: log sigma_k^2 and tau^2 itself (>= 0), whose criterion has a non-zero slope
    # at the boundary (with tau as parameter, tau = 0 would be a stationary point)
    x0 = np.concatenate([np.full(K, math.log(sigma2)), [max(theta0 * theta0 * sigma2, 1e-3)]])
    if not random:
        x0 = x0[:K]

    def f(x: FloatArray) -> float:
        full = x if random else np.append(x, 0.0)
        return _trial_dev(G, n_k, full, N, P, random)[0]

    def grad(x: FloatArray) -> FloatArray:
        h = 1e-6
        g = np.empty_like(x)
        for i in range(x.size):
            e = np.zeros_like(x)
            e[i] = h
            g[i] = (f(x + e) - f(x - e)) / (2 * h)
        return g

    bounds = [(-30.0, 30.0)] * K + ([(0.0, None)] if random else [])
    res = optimize.minimize(f, x0, jac=grad, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-16, "gtol": 1e-10, "maxiter": 5000,
                                     "maxcor": 30})
    if not res.success and not np.isfinite(res.fun):
        raise NotConverged(
            "the linear mixed model with trial-specific residual variances did not converge "
            f"({res.message}); try residual='common' or check trials with very few "
            "participants")
    x = res.x
    boundary = bool(random and x[K] <= 0.0)
    full = x if random else np.append(x, 0.0)
    dev, parts = _trial_dev(G, n_k, full, N, P, random)
    assert parts is not None
    s2k = np.exp(full[:K])
    return _finish(d, G, parts, dev, None, float(full[K]) if random else None, s2k,
                   boundary, evals0 + int(res.nit), bool(res.success))


def trial_residual_criterion(d: Design, sigma2_trial: FloatArray, tau2: float) -> float:
    """REML criterion (-2 restricted log-likelihood, nlme's scale) of the trial-specific
    residual model at given variances - to compare optima with other software."""
    G = _cross_products(d)
    params = np.append(np.log(np.asarray(sigma2_trial, dtype=float)), tau2)
    return _trial_dev(G, G[:, 0, 0], params, d.n, d.k + d.X.shape[1], True)[0]

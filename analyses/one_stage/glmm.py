"""One-stage logistic GLMM: stratified trial intercepts, random treatment effect, ML by
Laplace (``nagq=1``) or adaptive Gauss-Hermite quadrature (``nagq>1``), as lme4's ``glmer``.

Model (``glmer(y ~ 0 + factor(trial) + trt + ... + (0 + trt | trial), binomial, nAGQ = q)``)::

    logit P(y_ij = 1) = alpha_i + x_ij' beta + theta u_i t_ij,    u_i ~ N(0, 1),

so ``tau = |theta|`` is the SD of the treatment effect across trials. Each trial's marginal
likelihood is a one-dimensional integral over ``u_i``. With ``h_i(u)`` the trial's Bernoulli
log-likelihood minus ``u^2/2``, its conditional mode ``u_i`` (Newton, vectorised over trials)
and curvature ``H_i = -h_i''(u_i)``:

* Laplace:  ``log L_i = h_i(u_i) - log(H_i) / 2``;
* adaptive Gauss-Hermite with nodes ``z_q`` and weights ``w_q`` for the standard normal density:
  ``log L_i = -log(H_i)/2 + log sum_q w_q exp(h_i(u_i + z_q / sqrt(H_i)) + z_q^2 / 2)``
  (one node at 0 gives Laplace back); the deviance is ``-2 sum_i log L_i``, as lme4's.

The trial intercepts are fixed effects, so the likelihood is maximised over ``k + p + 1``
parameters jointly (as glmer's second stage). The log-likelihood is a sum of per-trial terms
and intercept ``i`` enters only term ``i``: its gradient and Hessian have an "arrow" shape
(diagonal in the intercepts, dense in the few shared parameters), which central differences
recover with O(p^2) evaluations whatever ``k`` is, and Newton steps solve by a Schur
complement. Steps that lower the likelihood are halved (then damped); iteration stops when the
largest step is below 1e-9. Standard errors come from the inverse of the full Hessian over
(intercepts, beta, theta) - lme4's default ``vcov(fit, use.hessian = TRUE)`` for GLMMs.

The likelihood is even in ``theta``. A fit whose ``theta`` ends within 1e-6 of 0 - or whose
likelihood is no better than the ordinary stratified logistic regression (``theta = 0``) - is
reported at the boundary: ``tau^2 = 0``, estimates and SEs of the ``theta = 0`` model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.one_stage.centring import Design

__all__ = ["GLMMFit", "fit_glmm", "fit_stratified_logistic"]

FloatArray = NDArray[np.float64]
_MAX_NAGQ = 25


@dataclass(frozen=True, eq=False)
class GLMMFit:
    beta: FloatArray
    cov: FloatArray  # (m, m) for beta
    alpha: FloatArray
    alpha_se: FloatArray
    theta: float  # >= 0; tau = theta
    theta_se: float | None
    blup: FloatArray | None  # theta * conditional modes
    loglik: float
    deviance: float
    boundary: bool
    iterations: int
    converged: bool


def _gh_rule(nagq: int) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1) (probabilists' Gauss-Hermite)."""
    z, w = np.polynomial.hermite_e.hermegauss(nagq)
    return z, w / math.sqrt(2 * math.pi)


class _Problem:
    """Per-trial marginal log-likelihoods of the logistic GLMM, vectorised over trials."""

    def __init__(self, d: Design, nagq: int) -> None:
        assert d.y is not None
        self.y = d.y
        self.g = d.trial
        self.t = d.t
        self.X = d.X
        self.K = d.k
        self.nagq = nagq
        self.z, self.w = _gh_rule(nagq) if nagq > 1 else (np.zeros(1), np.ones(1))
        self.t2 = self.t * self.t
        self.sign = 2.0 * self.y - 1.0
        self.u = np.zeros(self.K)  # warm start for the conditional modes

    def _sum(self, v: FloatArray) -> FloatArray:
        return np.bincount(self.g, v, minlength=self.K).astype(np.float64, copy=False)

    def _ll(self, eta: FloatArray) -> FloatArray:
        """Per-trial Bernoulli log-likelihood: sum log expit(+/-eta), accurate in both tails."""
        z = self.sign * eta
        ll = np.log(special.expit(z))
        far = z < -30.0
        if far.any():  # log expit(z) = z - log1p(exp(z)) ~ z + O(e^z); avoids log(0)
            ll[far] = z[far] - np.exp(z[far])
        return self._sum(ll)

    def terms(self, alpha: FloatArray, beta: FloatArray, theta: float,
              u0: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """Per-trial log marginal likelihood and conditional modes."""
        eta0 = alpha[self.g] + self.X @ beta
        if theta == 0.0:
            return self._ll(eta0), np.zeros(self.K)
        u = (self.u if u0 is None else u0).copy()
        th = theta
        th_t = th * self.t
        th2_t2 = th * th * self.t2
        for _ in range(200):
            eta = eta0 + u[self.g] * th_t
            mu = special.expit(eta)
            grad = self._sum(th_t * (self.y - mu)) - u
            hess = self._sum(th2_t2 * mu * (1 - mu)) + 1.0
            step = grad / hess
            if np.max(np.abs(step)) > 0.5:
                # far from the mode (cold start, tails): Newton on a strictly concave function
                # of one variable per trial, halving the steps of trials whose value would fall
                h = self._ll(eta) - 0.5 * u * u
                for _half in range(60):
                    un = u + step
                    hn = self._ll(eta0 + un[self.g] * th_t) - 0.5 * un * un
                    worse = hn < h - 1e-12 * np.abs(h)
                    if not worse.any():
                        break
                    step = np.where(worse, step / 2, step)
            u = u + step
            # Newton converges quadratically: after a step of 1e-9 the mode is exact to ~1e-18
            if np.max(np.abs(step)) < 1e-9:
                break
        else:  # pragma: no cover - Newton with halving on a strictly concave function
            raise NotConverged("the conditional modes of the random effects did not "
                                   "converge; rescale covariates or try nagq=1")
        eta = eta0 + u[self.g] * th_t
        mu = special.expit(eta)
        H = self._sum(th2_t2 * mu * (1 - mu)) + 1.0
        h0 = self._ll(eta) - 0.5 * u * u
        if self.nagq == 1:
            return h0 - 0.5 * np.log(H), u
        s = 1.0 / np.sqrt(H)
        acc = np.empty((self.z.size, self.K))
        for q, zq in enumerate(self.z):
            if zq == 0.0:
                acc[q] = h0
                continue
            uq = u + zq * s
            acc[q] = self._ll(eta0 + uq[self.g] * th_t) - 0.5 * uq * uq
        logs = special.logsumexp(acc + (0.5 * self.z * self.z + np.log(self.w))[:, None],
                                 axis=0)
        return np.log(s) + logs, u


@dataclass(frozen=True, eq=False)
class _Derivs:
    f0: FloatArray  # per-trial values at the centre
    g_a: FloatArray  # (K,)
    h_aa: FloatArray  # (K,)
    g_s: FloatArray  # (ms,)
    h_as: FloatArray  # (K, ms)
    h_ss: FloatArray  # (ms, ms)
    u: FloatArray


def _derivatives(pb: _Problem, alpha: FloatArray, s: FloatArray, steps: FloatArray,
                 with_theta: bool) -> _Derivs:
    """Central-difference gradient and arrow-shaped Hessian of sum_i F_i(alpha_i, s)."""
    m = pb.X.shape[1]

    def F(a: FloatArray, ss: FloatArray, u0: FloatArray) -> FloatArray:
        th = float(ss[m]) if with_theta else 0.0
        return pb.terms(a, ss[:m], th, u0)[0]

    f0, u = pb.terms(alpha, s[:m], float(s[m]) if with_theta else 0.0)
    pb.u = u
    ha = 1e-4
    fp, fm = F(alpha + ha, s, u), F(alpha - ha, s, u)
    g_a = (fp - fm) / (2 * ha)
    h_aa = (fp - 2 * f0 + fm) / ha**2
    ms = s.size
    fs_p = np.empty((ms, pb.K))
    fs_m = np.empty((ms, pb.K))
    for j in range(ms):
        e = np.zeros(ms)
        e[j] = steps[j]
        fs_p[j], fs_m[j] = F(alpha, s + e, u), F(alpha, s - e, u)
    g_s = ((fs_p - fs_m).sum(axis=1)) / (2 * steps)
    hjj = (fs_p - 2 * f0 + fs_m) / (steps[:, None] ** 2)  # (ms, K) per trial
    h_as = np.empty((pb.K, ms))
    for j in range(ms):
        e = np.zeros(ms)
        e[j] = steps[j]
        fpp, fmm = F(alpha + ha, s + e, u), F(alpha - ha, s - e, u)
        h_as[:, j] = (fpp + fmm - 2 * f0 - ha**2 * h_aa - steps[j] ** 2 * hjj[j]) / (
            2 * ha * steps[j])
    h_ss = np.diag(hjj.sum(axis=1))
    for i in range(ms):
        for j in range(i + 1, ms):
            e = np.zeros(ms)
            e[i], e[j] = steps[i], steps[j]
            fpp, fmm = F(alpha, s + e, u), F(alpha, s - e, u)
            v = float((fpp + fmm - 2 * f0).sum() - steps[i] ** 2 * hjj[i].sum()
                      - steps[j] ** 2 * hjj[j].sum()) / (2 * steps[i] * steps[j])
            h_ss[i, j] = h_ss[j, i] = v
    return _Derivs(f0=f0, g_a=g_a, h_aa=h_aa, g_s=g_s, h_as=h_as, h_ss=h_ss, u=u)


def _newton_step(dv: _Derivs, lam: float) -> tuple[FloatArray, FloatArray] | None:
    """Ascent step for the arrow-shaped Hessian, damped by ``lam`` (Levenberg-Marquardt)."""
    haa = dv.h_aa - lam
    if np.any(haa >= 0):
        return None
    C = dv.h_as
    schur = dv.h_ss - lam * np.eye(dv.h_ss.shape[0]) - C.T @ (C / haa[:, None])
    rhs = -(dv.g_s - C.T @ (dv.g_a / haa))
    try:
        ev = np.linalg.eigvalsh(schur)
        if ev.max() >= 0:
            return None
        ds = np.linalg.solve(schur, rhs)
    except np.linalg.LinAlgError:
        return None
    da = -(dv.g_a + C @ ds) / haa
    return np.asarray(da, dtype=np.float64), np.asarray(ds, dtype=np.float64)


def _covariances(dv: _Derivs) -> tuple[FloatArray, FloatArray]:
    """Covariance of the shared parameters and variances of the intercepts (-H^-1)."""
    C = dv.h_as
    schur = dv.h_ss - C.T @ (C / dv.h_aa[:, None])
    cov_s = np.linalg.inv(-schur)
    cov_s = (cov_s + cov_s.T) / 2
    v = C / dv.h_aa[:, None]
    var_a = -1.0 / dv.h_aa + np.einsum("ki,ij,kj->k", v, cov_s, v)
    return np.asarray(cov_s, dtype=np.float64), np.asarray(var_a, dtype=np.float64)


def _maximise(pb: _Problem, alpha: FloatArray, s: FloatArray, steps: FloatArray,
              with_theta: bool, max_iter: int) -> tuple[FloatArray, FloatArray, _Derivs, int, bool]:
    m = pb.X.shape[1]

    def total(a: FloatArray, ss: FloatArray) -> float:
        th = float(ss[m]) if with_theta else 0.0
        val = pb.terms(a, ss[:m], th)[0]
        return float(val.sum()) if np.all(np.isfinite(val)) else -math.inf

    dv = _derivatives(pb, alpha, s, steps, with_theta)
    cur = float(dv.f0.sum())
    for it in range(1, max_iter + 1):
        lam = 0.0
        moved = False
        for _attempt in range(30):
            st = _newton_step(dv, lam)
            if st is None:
                lam = max(2 * lam, 1e-3 * (1 + float(np.max(np.abs(dv.h_aa)))))
                continue
            da, ds = st
            scale = 1.0
            for _half in range(25):
                na, ns = alpha + scale * da, s + scale * ds
                new = total(na, ns)
                if new >= cur - 1e-10 * abs(cur):
                    break
                scale /= 2
            else:
                lam = max(2 * lam, 1e-3 * (1 + float(np.max(np.abs(dv.h_aa)))))
                continue
            size = max(float(np.max(np.abs(scale * da))), float(np.max(np.abs(scale * ds))))
            alpha, s, cur = na, ns, new
            moved = True
            break
        if not moved:
            return alpha, s, dv, it, False
        dv = _derivatives(pb, alpha, s, steps, with_theta)
        cur = float(dv.f0.sum())
        if size < 1e-9 and np.max(np.abs(dv.g_a)) < 1e-5 and np.max(np.abs(dv.g_s)) < 1e-5:
            return alpha, s, dv, it, True
    return alpha, s, dv, max_iter, False


def _steps(X: FloatArray, with_theta: bool) -> FloatArray:
    rms = np.sqrt(np.mean(X * X, axis=0))
    st = 1e-4 / np.maximum(rms, 1e-3)
    return np.append(st, 1e-4) if with_theta else st


def fit_stratified_logistic(d: Design, *, max_iter: int = 50) -> GLMMFit:
    """Ordinary logistic regression with stratified trial intercepts (theta = 0), by Newton
    with exact derivatives (the starting point and the boundary model)."""
    assert d.y is not None
    K, m = d.k, d.X.shape[1]
    y, g, X = d.y, d.trial, d.X
    p_k = np.bincount(g, y, minlength=K) / np.bincount(g, minlength=K)
    alpha = special.logit(p_k)
    beta = np.zeros(m)

    def ll(a: FloatArray, b: FloatArray) -> float:
        eta = a[g] + X @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    cur = ll(alpha, beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - returned
        eta = alpha[g] + X @ beta
        mu = special.expit(eta)
        w = mu * (1 - mu)
        r = y - mu
        g_a = np.bincount(g, r, minlength=K)
        g_b = X.T @ r
        h_aa = np.bincount(g, w, minlength=K)
        h_ab = np.stack([np.bincount(g, w * X[:, j], minlength=K) for j in range(m)], axis=1)
        h_bb = (X * w[:, None]).T @ X
        schur = h_bb - h_ab.T @ (h_ab / h_aa[:, None])
        try:
            db = np.linalg.solve(schur, g_b - h_ab.T @ (g_a / h_aa))
        except np.linalg.LinAlgError as exc:
            raise AnalysisProblem("the logistic model's design is singular (collinear covariates "
                                "or a covariate constant within every trial); drop the "
                                  "offending covariate", reason=Reason.COLLINEAR) from exc
        da = (g_a - h_ab @ db) / h_aa
        scale = 1.0
        for _ in range(30):
            new = ll(alpha + scale * da, beta + scale * db)
            if new >= cur - 1e-12 * abs(cur):
                break
            scale /= 2
        alpha, beta, cur = alpha + scale * da, beta + scale * db, new
        if max(np.max(np.abs(scale * da)), np.max(np.abs(scale * db))) < 1e-10:
            converged = True
            break
    if not converged:
        raise NotConverged(
            f"stratified logistic regression did not converge in {max_iter} iterations; a "
            "covariate may separate the outcome (infinite odds ratio) - check for trials or "
            "subgroups where every participant has the same outcome")
    eta = alpha[g] + X @ beta
    mu = special.expit(eta)
    w = mu * (1 - mu)
    h_aa = np.bincount(g, w, minlength=K)
    h_ab = np.stack([np.bincount(g, w * X[:, j], minlength=K) for j in range(m)], axis=1)
    h_bb = (X * w[:, None]).T @ X
    cov = np.linalg.inv(h_bb - h_ab.T @ (h_ab / h_aa[:, None]))
    v = h_ab / h_aa[:, None]
    var_a = 1.0 / h_aa + np.einsum("ki,ij,kj->k", v, cov, v)
    return GLMMFit(beta=beta, cov=cov, alpha=alpha, alpha_se=np.sqrt(var_a), theta=0.0,
                   theta_se=None, blup=None, loglik=cur, deviance=-2 * cur, boundary=False,
                   iterations=it, converged=True)


def _moment_theta(d: Design, base: GLMMFit) -> float:
    """A starting value for theta: DerSimonian-Laird on per-trial one-step deviations."""
    assert d.y is not None
    mu = special.expit(base.alpha[d.trial] + d.X @ base.beta)
    U = np.bincount(d.trial, d.t * (d.y - mu), minlength=d.k)
    W = np.bincount(d.trial, d.t * d.t * mu * (1 - mu), minlength=d.k)
    ok = W > 0
    U, W = U[ok], W[ok]
    q = float(np.sum(U * U / W))
    denom = float(W.sum() - (W * W).sum() / W.sum())
    tau2 = (q - (U.size - 1)) / denom if denom > 0 else 0.0
    return math.sqrt(max(tau2, 0.01))


def fit_glmm(d: Design, *, nagq: int = 1, max_iter: int = 100) -> GLMMFit:
    """ML fit of the logistic GLMM with a random treatment effect (module docstring)."""
    if not isinstance(nagq, (int, np.integer)) or not 1 <= nagq <= _MAX_NAGQ:
        raise AnalysisProblem(f"nagq must be an integer from 1 (Laplace) to {_MAX_NAGQ}, "
                              f"not {nagq!r}", reason=Reason.BAD_OPTION, option="nagq")
    base = fit_stratified_logistic(d)
    pb = _Problem(d, int(nagq))
    steps = _steps(d.X, True)
    best = None
    iterations = base.iterations
    # Start from a moment estimate of tau (per-trial one-step treatment deviations at the
    # common-effect fit, DerSimonian-Laird style); if that ends at the boundary or fails,
    # also try lme4's start, theta = 1, and keep the better optimum.
    for theta0 in (_moment_theta(d, base), 1.0):
        s0 = np.append(base.beta, theta0)
        pb.u = np.zeros(d.k)
        a, s, dv, it, ok = _maximise(pb, base.alpha.copy(), s0, steps, True, max_iter)
        iterations += it
        val = float(dv.f0.sum())
        if best is None or val > best[0] + 1e-9:
            best = (val, a, s, dv, ok)
        if ok and abs(float(s[-1])) > 1e-6 and val > base.loglik + 1e-9:
            break
    assert best is not None
    val, alpha, s, dv, ok = best
    m = d.X.shape[1]
    theta = abs(float(s[m]))
    if theta < 1e-6 or val <= base.loglik + 1e-9:
        return GLMMFit(beta=base.beta, cov=base.cov, alpha=base.alpha, alpha_se=base.alpha_se,
                       theta=0.0, theta_se=None, blup=np.zeros(d.k), loglik=base.loglik,
                       deviance=-2 * base.loglik, boundary=True, iterations=iterations,
                       converged=True)
    if not ok:
        raise NotConverged(
            f"the logistic GLMM (nagq={nagq}) did not converge in {max_iter} Newton "
            "iterations; try nagq=1, the 'centred' or 'plusminus' treatment coding, or "
            "rescaling covariates")
    cov_s, var_a = _covariances(dv)
    return GLMMFit(beta=s[:m], cov=cov_s[:m, :m], alpha=alpha, alpha_se=np.sqrt(var_a),
                   theta=theta, theta_se=float(math.sqrt(cov_s[m, m])), blup=theta * dv.u
                   * np.sign(s[m]), loglik=val, deviance=-2 * val, boundary=False,
                   iterations=iterations, converged=True)

"""Cox model stratified by trial with a random treatment effect, as R's ``coxme``.

Model (``coxme(Surv(time, status) ~ trt + ... + strata(trial) + (trt | trial))``)::

    h_ij(t) = h_0i(t) exp(x_ij' beta + b_i t_ij),    b_i ~ N(0, tau^2),

with a separate baseline hazard per trial. coxme's estimator (Ripatti & Palmgren 2002;
Therneau's coxme 2.2): for a given ``tau^2`` maximise the penalised partial likelihood

    PPL(beta, b) = PL(beta, b) - b'b / (2 tau^2)

over ``(beta, b)`` by Newton-Raphson, then approximate the integrated partial likelihood by
Laplace's method,

    IPL(tau^2) = PPL(beta_hat, b_hat) - (k log tau^2 + log |H_bb|) / 2,

where ``H_bb`` is the random-effects block of minus the Hessian of the PPL (coxme's
``-(log det(Sigma) + hdet) / 2``), and maximise ``IPL`` over ``tau^2``. Because ``b_i`` only
enters trial ``i``'s stratum, ``H_bb`` is diagonal and the Newton system is solved through a
Schur complement; the partial-likelihood pieces come per stratum from
:func:`analyses._cox_core.evaluate`. Standard errors of ``beta`` are coxme's: the fixed-effect
block of the inverse penalised Hessian at ``tau^2_hat``.

``IPL(tau^2 -> 0)`` is the stratified Cox log partial likelihood, so the boundary is compared
explicitly: when it is not beaten, ``tau^2 = 0`` is reported with the stratified Cox fit
(coxme itself cannot reach 0 and stops at a tiny variance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from analyses import _cox_core
from analyses.cox import coxph
from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.one_stage.centring import Design

__all__ = ["CoxRandomFit", "fit_cox_random", "fit_cox_stratified"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class CoxRandomFit:
    beta: FloatArray
    cov: FloatArray
    tau2: float | None
    blup: FloatArray | None
    ipl: float  # integrated (Laplace) log partial likelihood; the PL itself at tau^2 = 0
    ppl: float | None
    boundary: bool
    iterations: int
    converged: bool


def fit_cox_stratified(d: Design, *, ties: str = "efron") -> CoxRandomFit:
    """Common-effect Cox model stratified by trial (``coxph(... + strata(trial))``)."""
    assert d.time is not None and d.event is not None
    fit = coxph(d.time, d.event, d.X, strata=d.trial, ties=ties,  # type: ignore[arg-type]
                names=d.names)
    return CoxRandomFit(beta=fit.coef, cov=fit.var, tau2=None, blup=None, ipl=fit.loglik[1],
                        ppl=None, boundary=False, iterations=fit.iterations, converged=True)


@dataclass(eq=False)
class _State:
    beta: FloatArray
    b: FloatArray


class _PPL:
    """Penalised partial likelihood in (beta, b) for a fixed tau^2."""

    def __init__(self, d: Design, ties: str) -> None:
        assert d.time is not None and d.event is not None
        self.cd = _cox_core.prepare(d.time, d.event, d.X, strata=d.trial)
        self.ties = ties
        self.K = d.k
        self.m = d.X.shape[1]
        self.t_sorted = d.t[self.cd.order]
        self.Z = np.column_stack([self.cd.X, self.t_sorted])  # covariates then t
        self.strat = self.cd.stratum
        self.dead = _cox_core.dead_sums(self.cd, self.Z, self.m)  # constant over iterations

    def eta(self, st: _State) -> FloatArray:
        return self.cd.X @ st.beta + self.t_sorted * st.b[self.strat]

    def value(self, st: _State, tau2: float) -> float:
        t = _cox_core.evaluate(self.cd, self.eta(st), ties=self.ties,  # type: ignore[arg-type]
                               derivs=0)
        return float(t.loglik) - float(st.b @ st.b) / (2 * tau2)

    def derivs(self, st: _State, tau2: float) -> tuple[float, FloatArray, FloatArray,
                                                       FloatArray, FloatArray, FloatArray]:
        """PPL, its gradient in beta and b, and the blocks of minus its Hessian."""
        m = self.m
        t = _cox_core.evaluate(self.cd, self.eta(st), ties=self.ties,  # type: ignore[arg-type]
                               Z=self.Z, stratum_col=m, dead=self.dead)
        assert t.score is not None and t.info is not None
        assert t.score_s is not None and t.info_s is not None
        ppl = t.loglik - float(st.b @ st.b) / (2 * tau2)
        g_beta = t.score[:m]
        g_b = t.score_s - st.b / tau2
        i_bb = t.info_s[:, m] + 1.0 / tau2
        i_betab = t.info_s[:, :m]  # (K, m)
        i_betabeta = t.info[:m, :m]
        return ppl, g_beta, g_b, i_betabeta, i_betab, i_bb

    def maximise(self, st: _State, tau2: float, max_iter: int = 50
                 ) -> tuple[_State, float, FloatArray, FloatArray, int]:
        """Newton-Raphson with step halving; returns state, PPL, I_bb, cov(beta), iterations.

        Each trial point is evaluated with its derivatives (a rejected point costs the same
        as an accepted one, and rejections are rare).
        """
        ppl, g1, g2, i11, i12, i22 = self.derivs(st, tau2)
        for it in range(1, max_iter + 1):  # noqa: B007 - returned
            schur = i11 - i12.T @ (i12 / i22[:, None])
            dbeta = np.linalg.solve(schur, g1 - i12.T @ (g2 / i22))
            db = (g2 - i12 @ dbeta) / i22
            step = max(float(np.max(np.abs(dbeta))), float(np.max(np.abs(db))))
            scale = 1.0
            for _ in range(40):
                new = _State(st.beta + scale * dbeta, st.b + scale * db)
                nd = self.derivs(new, tau2)
                if math.isfinite(nd[0]) and nd[0] >= ppl - 1e-12 * abs(ppl):
                    break
                scale /= 2
            else:
                raise NotConverged(
                    f"the penalised Cox fit could not improve its likelihood at tau^2 = "
                    f"{tau2:.3g}; rescale covariates or fit the common-effect model "
                    "(random_treatment=False)")
            st = new
            ppl, g1, g2, i11, i12, i22 = nd
            # quadratic convergence: after a step below 1e-9 the maximum is exact to ~1e-17
            if step * scale < 1e-9:
                break
        else:
            raise NotConverged(
                f"the penalised Cox fit did not converge in {max_iter} iterations at tau^2 = "
                f"{tau2:.3g}; rescale covariates or fit the common-effect model "
                "(random_treatment=False)")
        schur = i11 - i12.T @ (i12 / i22[:, None])
        cov = np.linalg.inv(schur)
        return st, ppl, i22, (cov + cov.T) / 2, it


def _moment_tau2(pb: _PPL, beta: FloatArray) -> float:
    """Starting value: DerSimonian-Laird on per-trial one-step deviations of the treatment
    effect at the common-effect fit (per-stratum score and information of t)."""
    st = _State(beta, np.zeros(pb.K))
    t = _cox_core.evaluate(pb.cd, pb.eta(st), ties=pb.ties,  # type: ignore[arg-type]
                           Z=pb.Z, stratum_col=pb.m)
    assert t.score_s is not None and t.info_s is not None
    U, W = t.score_s, t.info_s[:, pb.m]
    ok = W > 0
    U, W = U[ok], W[ok]
    denom = float(W.sum() - (W * W).sum() / W.sum())
    return (float(np.sum(U * U / W)) - (U.size - 1)) / denom if denom > 0 else 0.0


def _fixed_tau2(pb: _PPL, base: CoxRandomFit, tau2: float) -> CoxRandomFit:
    """The fit with tau^2 held at ``tau2`` (coxme's ``vfixed``)."""
    if not tau2 > 0:
        raise AnalysisProblem(f"a fixed tau2 must be > 0, not {tau2}",
                              reason=Reason.BAD_OPTION, option="tau2")
    K = pb.K
    st, ppl, ibb, cov, it = pb.maximise(_State(base.beta.copy(), np.zeros(K)), tau2)
    val = ppl - 0.5 * (K * math.log(tau2) + float(np.sum(np.log(ibb))))
    return CoxRandomFit(beta=st.beta, cov=cov, tau2=tau2, blup=st.b, ipl=val, ppl=ppl,
                        boundary=False, iterations=it, converged=True)


def _bracket(neg_ipl: Callable[[float], float], x0: float
             ) -> tuple[float, float, float, bool]:
    """``(a, b, c, boundary)``: a bracket ``a, b, c`` of the minimum of ``neg_ipl`` on
    log tau^2 (``neg_ipl(b)`` below both ends), found by walking downhill from ``x0`` with
    doubling steps; ``boundary`` when the walk passes tau^2 = 1e-7 (the maximum is at 0)."""
    lo_x, hi_x = math.log(1e-7), math.log(25.0)
    a, b = x0, x0 + 1.0
    fa, fb = neg_ipl(a), neg_ipl(b)
    if fb > fa:
        a, b, fa, fb = b, a, fb, fa
    step = b - a
    c = b + step
    fc = neg_ipl(c)
    while fc < fb:
        a, fa, b, fb = b, fb, c, fc
        step *= 2.0
        c = b + step
        if c < lo_x:
            return a, b, c, True
        if c > hi_x:
            raise NotConverged(
                "the integrated partial likelihood still increases at tau^2 = 25: the random "
                "treatment effect variance is unbounded for these data; check the treatment "
                "coding or fit the common-effect model (random_treatment=False)")
        fc = neg_ipl(c)
    return a, b, c, False


def fit_cox_random(d: Design, *, ties: str = "efron", tau2: float | None = None
                   ) -> CoxRandomFit:
    """coxme-equivalent fit (module docstring); ``tau^2`` by Brent's method on log tau^2.

    A given ``tau2`` (> 0) is held fixed instead, as coxme's ``vfixed``.
    """
    base = fit_cox_stratified(d, ties=ties)
    pb = _PPL(d, ties)
    K = d.k
    if tau2 is not None:
        return _fixed_tau2(pb, base, tau2)
    state = _State(base.beta.copy(), np.zeros(K))
    evals = 0
    cache: dict[float, tuple[float, _State]] = {}

    def neg_ipl(x: float) -> float:
        """-IPL at log tau^2 = x, warm-started from the last fit."""
        nonlocal state, evals
        if x in cache:
            return -cache[x][0]
        tau2 = math.exp(x)
        st, ppl, ibb, _, _ = pb.maximise(_State(state.beta.copy(), state.b.copy()), tau2)
        state = st
        evals += 1
        val = ppl - 0.5 * (K * math.log(tau2) + float(np.sum(np.log(ibb))))
        cache[x] = (val, st)
        return -val

    # bracket the maximum on log tau^2, walking downhill from a moment estimate
    x0 = math.log(min(max(_moment_tau2(pb, base.beta), 1e-3), 5.0))
    a, b, c, boundary = _bracket(neg_ipl, x0)
    if not boundary:
        state = cache[b][1]
        res = optimize.minimize_scalar(neg_ipl, bounds=(min(a, c), max(a, c)), method="bounded",
                                       options={"xatol": 1e-7, "maxiter": 200})
        lt = float(res.x)
        best = -float(res.fun)
        boundary = best <= base.ipl + 1e-9
    if boundary:
        return CoxRandomFit(beta=base.beta, cov=base.cov, tau2=0.0, blup=np.zeros(K),
                            ipl=base.ipl, ppl=None, boundary=True,
                            iterations=base.iterations + evals, converged=True)
    tau2 = math.exp(lt)
    st, ppl, ibb, cov, _ = pb.maximise(cache[lt][1] if lt in cache else state, tau2)
    val = ppl - 0.5 * (K * math.log(tau2) + float(np.sum(np.log(ibb))))
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        raise AnalysisProblem("the penalised Cox information matrix is not positive definite "
                              "at the estimate; drop collinear covariates",
                              reason=Reason.COLLINEAR)
    return CoxRandomFit(beta=st.beta, cov=cov, tau2=tau2, blup=st.b, ipl=val, ppl=ppl,
                        boundary=False, iterations=base.iterations + evals, converged=True)

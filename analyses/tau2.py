"""The one engine for the between-trial variance tau^2.

Every estimator follows metafor 3.8 ``rma.uni`` (Viechtbauer 2010) to the letter: the same
formulas, the same starting values, the same Fisher-scoring steps with step halving, the same
convergence threshold (``|tau2_new - tau2_old| <= 1e-5``, at most 100 iterations) and the same
truncation of negative values at 0. That way the numbers agree with metafor to far better than
the convergence threshold, not merely to within it.

The estimators are written once, vectorised over pools, in terms of the residual-maker
quantities of a model shape (:mod:`analyses.tau2_models`): :func:`fit_tau2` serves the scalar
:func:`analyses.pool` (one pool), :func:`analyses.pool_many` (many) and
:func:`analyses.meta_regression` (moderators). With ``k`` trials, ``p`` coefficients and
``P`` the residual-maker for weights ``W``:

=======  ===========================================================================
method   definition
=======  ===========================================================================
``DL``   DerSimonian-Laird: ``(y'Py - (k-p)) / tr P`` with ``W = diag(1/v)``
``HE``   Hedges (unweighted moments): ``(y'(I-H)y - tr((I-H)V)) / (k-p)``
``HS``   Hunter-Schmidt: ``(y'Py - k) / sum w``, ``W = diag(1/v)``
``SJ``   Sidik-Jonkman: ``tau0^2 y'P(tau0^2)y / (k-p)``, ``tau0^2 = mean((y - ybar)^2)``
``ML``   maximum likelihood, Fisher scoring from max(0, HE): step
         ``((Py)'(Py) - sum w) / sum w^2``
``REML`` restricted maximum likelihood, Fisher scoring from max(0, HE): step
         ``((Py)'(Py) - tr P) / tr PP``
``EB``   empirical Bayes (Morris) from max(0, HE): step ``(y'Py k/(k-p) - k) / sum w``
``PM``   Paule-Mandel: root of ``y'P(tau^2)y = k-p`` by R's ``uniroot`` on
         ``[0, max(100, 10 mad(y)^2)]``
=======  ===========================================================================

After ML or REML, as metafor does, the log-likelihood at tau^2 = 0 is compared with that at the
estimate; if it is larger (by more than 1.2e-4) the estimate is set to 0 and a note says so.
The standard error of each estimator is metafor's ``se.tau2`` (:func:`se_tau2`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.roots import R_UNIROOT_TOL, uniroot
from analyses.tau2_models import InterceptPools, Tau2Model, mad, residual_maker

__all__ = [
    "TAU2_METHODS",
    "Tau2Estimate",
    "Tau2Fits",
    "estimate_tau2",
    "fit_tau2",
    "se_tau2",
    "q_at",
    "pools_text",
    "THRESHOLD",
    "MAXITER",
]

#: Random-effects estimators of tau^2 that :func:`estimate_tau2` knows.
TAU2_METHODS: tuple[str, ...] = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")

#: metafor's convention threshold and iteration limit for ML, REML and EB.
THRESHOLD = 1e-5
MAXITER = 100

F = NDArray[np.float64]


@dataclass(frozen=True)
class Tau2Estimate:
    """A tau^2 estimate with its standard error and how it was reached.

    ``truncated`` is true when the raw (moment) estimate was negative and was set to 0, or
    when an iterative estimate stopped at the boundary 0; ``notes`` says so in words.
    """

    method: str
    tau2: float
    se: float
    iterations: int
    truncated: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tau2Fits:
    """tau^2 for every pool of a model, and how each was reached.

    ``raw`` is a moment estimate before truncation at 0 (``tau2`` for the other methods);
    ``reset`` marks ML/REML estimates set to 0 because the likelihood is larger there;
    ``converged`` is false where Fisher scoring or the Paule-Mandel search failed (only with
    ``strict=False``; ``tau2`` is NaN there); ``start`` is Sidik-Jonkman's ``tau0^2``.
    """

    method: str
    tau2: F
    raw: F
    iterations: NDArray[np.int64]
    truncated: NDArray[np.bool_]
    converged: NDArray[np.bool_]
    reset: NDArray[np.bool_]
    start: F | None = None

    def notes(self, j: int = 0) -> list[str]:
        """Pool ``j``'s notes in words (truncation, boundary, metafor's likelihood check)."""
        m = self.method
        if not self.truncated[j]:
            return []
        if m in ("DL", "HE", "HS", "SJ"):
            return [f"{m} estimate of tau^2 was negative ({self.raw[j]:.4g}) and is set to 0"]
        if m == "PM":
            return ["Q(0) is already below k-1: the Paule-Mandel estimate of tau^2 is 0"]
        notes = []
        if self.reset[j]:
            notes.append("the likelihood is larger at tau^2 = 0 than where Fisher scoring "
                         "stopped (a local maximum); tau^2 is set to 0 as metafor does")
        return notes + [f"{m} estimate of tau^2 is on the boundary 0"]


def pools_text(bad: NDArray[np.intp], n: int) -> str:
    """`` for pools [2, 7]`` naming 0-based pools ``bad`` 1-based, or ``""`` for one pool."""
    return "" if n == 1 else f" for pools {(bad[:10] + 1).tolist()}"


def q_at(tau2: float, y: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """Generalised Q statistic ``sum w (y - ybar_w)^2`` with weights ``1/(v + tau2)``."""
    w = 1.0 / (v + tau2)
    ybar = float(np.sum(w * y) / np.sum(w))
    return float(np.sum(w * (y - ybar) ** 2))


# ---------------------------------------------------------------------------- the engine
def fit_tau2(model: Tau2Model, method: str, *, threshold: float = THRESHOLD,
             maxiter: int = MAXITER, stepadj: float = 1.0, tau2_init: F | None = None,
             strict: bool = True) -> Tau2Fits:
    """tau^2 by ``method`` for every pool of ``model`` (see the module docstring).

    ``strict``: raise :class:`~analyses.errors.NotConverged` when Fisher scoring or the
    Paule-Mandel search fails in any pool (naming them), rather than flag them.
    """
    n = model.k.size
    kp = model.k - model.p
    if method in ("DL", "HS"):
        q0, sw0, trP0 = model.at_zero()
        raw = (q0 - kp) / trP0 if method == "DL" else (q0 - model.k) / sw0
        return _moment(method, raw)
    if method == "SJ":
        tau0 = model.sj_start()
        return _moment(method, tau0 * model.yPy(tau0) / kp, start=tau0)
    rss, trPV = model.unweighted()
    he = (rss - trPV) / kp
    if method == "HE":
        return _moment(method, he)
    if method == "PM":
        return _paule_mandel(model, strict)
    start = np.maximum(0.0, he) if tau2_init is None else np.asarray(tau2_init, dtype=float)
    tau2, iters, converged = _fisher_scoring(method, model, start, threshold, maxiter,
                                             stepadj, strict)
    reset = (_likelihood_check(method, model, tau2, threshold) if method in ("ML", "REML")
             else np.zeros(n, dtype=bool))
    tau2[reset] = 0.0
    truncated = tau2 <= 0
    tau2 = np.where(converged, np.maximum(tau2, 0.0), np.nan)
    return Tau2Fits(method=method, tau2=tau2, raw=tau2, iterations=iters,
                    truncated=truncated & converged, converged=converged, reset=reset)


def _moment(method: str, raw: F, start: F | None = None) -> Tau2Fits:
    n = raw.size
    return Tau2Fits(method=method, tau2=np.maximum(raw, 0.0), raw=raw,
                    iterations=np.zeros(n, dtype=np.int64), truncated=raw < 0,
                    converged=np.ones(n, dtype=bool), reset=np.zeros(n, dtype=bool),
                    start=start)


def _fisher_scoring(method: str, model: Tau2Model, start: F, threshold: float, maxiter: int,
                    stepadj: float, strict: bool
                    ) -> tuple[F, NDArray[np.int64], NDArray[np.bool_]]:
    """Fisher scoring for every pool; each stops on its own when its change is at most
    ``threshold``. Pools that have stopped are carried along (their values are not updated)
    until fewer than half remain, when the arrays are compacted."""
    n = start.size
    tau2 = start.copy()
    converged = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    cols = np.arange(n)
    live = np.ones(n, dtype=bool)
    work = model
    it = 0
    while live.any():
        it += 1
        t = tau2[cols]
        s = work.scoring(t, traces=method == "REML")
        if method == "ML":
            adj = (s.PyPy - s.sw) / s.sw2
        elif method == "REML":
            assert s.trP is not None and s.trPP is not None
            adj = (s.PyPy - s.trP) / s.trPP
        else:  # EB
            adj = (s.yPy * work.k / (work.k - work.p) - work.k) / s.sw
        adj = adj * stepadj
        new = t + adj
        if not np.isfinite(new[live]).all():
            off = cols[live & ~np.isfinite(new)]
            if strict:
                raise AnalysisProblem(
                    f"Fisher scoring for the {method} estimate of tau^2 took a step that is not "
                    f"a finite number{pools_text(off, n)}: the estimates or variances are too "
                    "large or too small for floating point; check their scale",
                    reason=Reason.OUT_OF_RANGE, rows=(off + 1).tolist(), option="method")
            converged[off] = False
            live &= np.isfinite(new)
            new[~live] = t[~live]
        if (new < 0).any():
            neg = np.flatnonzero(live & (new < 0))
            adj[neg] = _halve(t[neg], adj[neg])
            new = t + adj
        upd = cols[live]
        tau2[upd] = new[live]
        iters[upd] = it
        done = live & (np.abs(t - new) <= threshold)
        if it > maxiter:  # every pool still live has taken maxiter + 1 steps
            if strict:
                raise NotConverged(
                    f"Fisher scoring for the {method} estimate of tau^2 did not converge in "
                    f"{maxiter} iterations{pools_text(upd, n)}; retry with a smaller step "
                    "(stepadj=0.5, CLI --step-adjust 0.5) or use method='PM' or 'DL'",
                    rows=(upd + 1).tolist(), method=method)
            converged[upd] = False
            break
        live &= ~done
        if 0 < live.sum() < live.size // 2:
            work = work.take(live)
            cols = cols[live]
            live = np.ones(cols.size, dtype=bool)
    return tau2, iters, converged


def _halve(t: F, adj: F) -> F:
    """metafor's step halving ``while (tau2 + adj < 0) adj <- adj/2`` on the offending pools.

    Halving is exact in binary floating point; from tau^2 = 0 it ends at -0.0 (underflow),
    which is what R's loop reaches after ~1075 halvings.
    """
    out = adj.copy()
    at_zero = t == 0
    out[at_zero] = -0.0
    rest = np.flatnonzero(~at_zero)
    while rest.size:
        out[rest] = out[rest] / 2
        rest = rest[t[rest] + out[rest] < 0]
    return out


def _loglik(method: str, model: Tau2Model, t: F) -> F:
    logdet_v, logdet_xwx, rss = model.loglik_parts(t)
    if method == "ML":
        return -0.5 * model.k * math.log(2 * math.pi) - 0.5 * logdet_v - 0.5 * rss
    return (-0.5 * (model.k - model.p) * math.log(2 * math.pi) - 0.5 * logdet_v
            - 0.5 * logdet_xwx - 0.5 * rss)


def _likelihood_check(method: str, model: Tau2Model, tau2: F, threshold: float
                      ) -> NDArray[np.bool_]:
    """metafor's check: the pools where the likelihood is larger at tau^2 = 0."""
    cand = tau2 > threshold
    if not cand.any():
        return cand
    return cand & (_loglik(method, model, np.zeros_like(tau2))
                   - _loglik(method, model, tau2) > R_UNIROOT_TOL)


def _paule_mandel(model: Tau2Model, strict: bool) -> Tau2Fits:
    n = model.k.size
    tau2 = np.zeros(n)
    converged = np.ones(n, dtype=bool)
    for j in range(n):
        one = np.zeros(n, dtype=bool)
        one[j] = True
        sub = model.take(one) if n > 1 else model
        target = float(sub.k[0] - sub.p)
        tau2_max = max(100.0, 10 * mad(model.pool(j)[2]) ** 2)

        def f(t: float, sub: Tau2Model = sub, target: float = target) -> float:
            return float(sub.yPy(np.array([t]))[0]) - target

        f_low = f(0.0)
        if f_low < 0:
            continue
        f_high = f(tau2_max)
        root = None
        if f_high <= 0:
            root = uniroot(f, 0.0, tau2_max, f_lower=f_low, f_upper=f_high,
                           tol=R_UNIROOT_TOL, maxiter=MAXITER)
        if root is not None and root.converged:
            tau2[j] = root.root
            continue
        if strict and root is None:
            raise AnalysisProblem(
                f"the Paule-Mandel estimate of tau^2 lies above the search limit "
                f"{tau2_max:.4g}{pools_text(np.array([j]), n)}; check the estimates' scale "
                "or use method='REML'", reason=Reason.OUT_OF_RANGE, rows=[j + 1])
        if strict:
            raise NotConverged("the Paule-Mandel search for tau^2 did not converge"
                               f"{pools_text(np.array([j]), n)}; try method='REML'",
                               rows=[j + 1], method="PM")
        converged[j] = False
        tau2[j] = np.nan
    return Tau2Fits(method="PM", tau2=tau2, raw=tau2, iterations=np.zeros(n, dtype=np.int64),
                    truncated=converged & (tau2 == 0), converged=converged,
                    reset=np.zeros(n, dtype=bool))


# ---------------------------------------------------------------------------- one pool
def se_tau2(method: str, v: F, tau2: float, *, X: F | None = None,
            start: float | None = None) -> float:
    """metafor's ``se.tau2`` for one pool (``X``: moderators; ``None`` for the intercept)."""
    k = v.size
    Xm = np.ones((k, 1)) if X is None else X
    kp = k - Xm.shape[1]
    if method in ("DL", "HS"):
        P = residual_maker(1.0 / v, Xm)
        trP = float(np.trace(P))
        num = 2 * kp + 4 * tau2 * trP + 2 * tau2**2 * float(np.sum(P * P))
        den = trP if method == "DL" else float(np.sum(1.0 / v))
        return math.sqrt(num / den**2)
    if method in ("HE", "SJ"):
        if method == "HE":
            P = np.eye(k) - Xm @ np.linalg.solve(Xm.T @ Xm, Xm.T)
            scale, sPP = 1.0, float(kp)
        else:
            assert start is not None
            P = residual_maker(1.0 / (v + start), Xm)
            scale, sPP = start**2, float(np.sum(P * P))
        PV = P * v[np.newaxis, :]
        cross = float(np.trace(PV)) if method == "HE" else float(np.sum(PV * P))
        return math.sqrt(scale / kp**2 * (2 * float(np.sum(PV * PV.T)) + 4 * tau2 * cross
                                           + 2 * tau2**2 * sPP))
    w = 1.0 / (v + tau2)
    if method == "ML":
        return math.sqrt(2 / float(np.sum(w**2)))
    if method == "REML":
        P = residual_maker(w, Xm)
        return math.sqrt(2 / float(np.sum(P * P)))
    return math.sqrt(2 * k**2 / kp / float(np.sum(w)) ** 2)  # EB, PM


def check_method(method: str) -> str:
    """The canonical (upper-case) name of a tau^2 estimator, or an error naming the choices."""
    m = method.upper()
    if m not in TAU2_METHODS:
        raise AnalysisProblem(
            f"unknown tau^2 estimator {method!r}; choose one of {', '.join(TAU2_METHODS)}",
            reason=Reason.BAD_OPTION, option="method")
    return m


def estimate_tau2(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    method: str = "REML",
    threshold: float = THRESHOLD,
    maxiter: int = MAXITER,
    tau2_init: float | None = None,
    stepadj: float = 1.0,
) -> Tau2Estimate:
    """Estimate tau^2 from estimates ``yi`` and their sampling variances ``vi``.

    ``vi`` must be positive and there must be at least two trials; anything else raises
    :class:`~repository.errors.AnalysisError`. Iterative methods that do not converge raise
    :class:`~repository.errors.ConvergenceError`; metafor's remedy, a smaller Fisher-scoring
    step (``stepadj=0.5``), is available here too.

    >>> round(estimate_tau2([0.1, 0.5, 0.9], [0.04, 0.05, 0.06], method="DL").tau2, 6)
    0.110667
    """
    m = check_method(method)
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise AnalysisProblem(
            f"estimates and variances differ in length ({y.size} and {v.size}); pass one "
            "variance per estimate", reason=Reason.LENGTH_MISMATCH)
    check_pool(y, v)
    fits = fit_tau2(InterceptPools.centred(y[:, None], v[:, None], None), m,
                    threshold=threshold, maxiter=maxiter, stepadj=stepadj,
                    tau2_init=None if tau2_init is None else np.array([float(tau2_init)]))
    tau2 = float(fits.tau2[0])
    se = se_tau2(m, v, tau2, start=None if fits.start is None else float(fits.start[0]))
    return Tau2Estimate(method=m, tau2=tau2, se=se, iterations=int(fits.iterations[0]),
                        truncated=bool(fits.truncated[0]), notes=tuple(fits.notes()))


def check_pool(y: F, v: F) -> None:
    """At least two trials, finite numbers, positive variances - or an error saying which."""
    k = y.size
    if k < 2:
        raise AnalysisProblem(
            f"a random-effects model needs at least two trials, got {k}; use a common-effect "
            "model (method='FE') or add trials", reason=Reason.TOO_FEW_TRIALS, k=k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        bad = ~(np.isfinite(y) & np.isfinite(v) & np.isfinite(1.0 / v)) | ~(v > 0)
    if bad.any():
        rows = (np.flatnonzero(bad) + 1).tolist()
        raise AnalysisProblem(
            f"estimates and variances must be finite numbers with variances > 0; not so for "
            f"the trials at positions {rows}; remove or correct them",
            reason=Reason.INVALID_DATA, rows=rows)

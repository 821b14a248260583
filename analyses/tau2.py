"""Estimators of the between-trial variance tau^2 (random-effects model without moderators).

Each estimator follows metafor 3.8 ``rma.uni`` (Viechtbauer 2010) to the letter: the same
formulas, the same starting values, the same Fisher-scoring steps with step halving, the same
convergence threshold (``|tau2_new - tau2_old| < 1e-5``, at most 100 iterations) and the same
truncation of negative values at 0. That way the numbers agree with metafor to far better than
the convergence threshold, not merely to within it.

=======  ===========================================================================
method   definition (k trials, w_i = 1/v_i, P the residual-maker for weights W)
=======  ===========================================================================
``DL``   DerSimonian-Laird: (Q - (k-1)) / (sum w - sum w^2 / sum w)
``HE``   Hedges (unweighted method of moments): (sum (y - ybar)^2 - (k-1)/k sum v) / (k-1)
``HS``   Hunter-Schmidt: (Q - k) / sum w
``SJ``   Sidik-Jonkman: tau0^2 * Q(tau0^2) / (k-1), tau0^2 = mean((y - ybar)^2)
``ML``   maximum likelihood, Fisher scoring from max(0, HE)
``REML`` restricted maximum likelihood, Fisher scoring from max(0, HE)
``EB``   empirical Bayes (Morris), Fisher-scoring-type iteration from max(0, HE)
``PM``   Paule-Mandel: root of Q(tau^2) = k-1 by R's ``uniroot`` on [0, tau2_max]
=======  ===========================================================================

After ML or REML, as metafor does, the log-likelihood at tau^2 = 0 is compared with that at the
estimate; if it is larger (by more than 1.2e-4) the estimate is set to 0 and a note says so.
The standard error of each estimator is metafor's ``se.tau2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analyses.roots import R_UNIROOT_TOL, uniroot
from repository.errors import AnalysisError, ConvergenceError

__all__ = [
    "TAU2_METHODS",
    "Tau2Estimate",
    "estimate_tau2",
    "q_at",
    "THRESHOLD",
    "MAXITER",
]

#: Random-effects estimators of tau^2 that :func:`estimate_tau2` knows.
TAU2_METHODS: tuple[str, ...] = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")

#: metafor's convergence threshold and iteration limit for ML, REML and EB.
THRESHOLD = 1e-5
MAXITER = 100


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


def _arrays(yi: ArrayLike, vi: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise AnalysisError(
            f"estimates and variances differ in length ({y.size} and {v.size}); pass one "
            "variance per estimate", reason="length_mismatch")
    return y, v


def q_at(tau2: float, y: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """Generalised Q statistic ``sum w (y - ybar_w)^2`` with weights ``1/(v + tau2)``."""
    w = 1.0 / (v + tau2)
    ybar = float(np.sum(w * y) / np.sum(w))
    return float(np.sum(w * (y - ybar) ** 2))


def _P(w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Residual-maker ``W - w w' / sum w`` for the intercept-only model."""
    return np.diag(w) - np.outer(w, w) / np.sum(w)


def _mad(y: NDArray[np.float64]) -> float:
    med = float(np.median(y))
    return 1.4826 * float(np.median(np.abs(y - med)))


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
    method = method.upper()
    if method not in TAU2_METHODS:
        raise AnalysisError(
            f"unknown tau^2 estimator {method!r}; choose one of {', '.join(TAU2_METHODS)}",
            reason="unknown_method")
    y, v = _arrays(yi, vi)
    k = y.size
    if k < 2:
        raise AnalysisError(
            f"a random-effects model needs at least two trials, got {k}; use a common-effect "
            "model (method='FE') or add trials", reason="too_few_trials", k=k)
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v))):
        raise AnalysisError("estimates or variances contain NaN or infinite values; remove or "
                            "fix those trials first", reason="non_finite")
    if np.any(v <= 0):
        bad = [int(i) + 1 for i in np.flatnonzero(v <= 0)]
        raise AnalysisError(
            f"sampling variances must be positive; trials at positions {bad} have "
            "variance <= 0", reason="non_positive_variance", rows=bad)
    ymc = y - y.mean()  # metafor centres y for the tau^2 computations (P 1 = 0)
    notes: list[str] = []
    iterations = 0
    truncated = False
    w_fe = 1.0 / v

    def trunc(raw: float) -> float:
        nonlocal truncated
        if raw < 0:
            truncated = True
            notes.append(f"{method} estimate of tau^2 was negative ({raw:.4g}) and is set to 0")
            return 0.0
        return raw

    if method == "DL":
        P = _P(w_fe)
        trP = float(np.trace(P))
        tau2 = trunc((q_at(0.0, ymc, v) - (k - 1)) / trP)
        se = math.sqrt((2 * (k - 1) + 4 * tau2 * trP + 2 * tau2**2 * float(np.sum(P * P)))
                       / trP**2)
    elif method == "HS":
        P = _P(w_fe)
        trP = float(np.trace(P))
        tau2 = trunc((q_at(0.0, ymc, v) - k) / float(np.sum(w_fe)))
        se = math.sqrt((2 * (k - 1) + 4 * tau2 * trP + 2 * tau2**2 * float(np.sum(P * P)))
                       / float(np.sum(w_fe)) ** 2)
    elif method == "HE":
        tau2, se = _he(ymc, v)
        tau2 = trunc(tau2)
        se = _he_se(v, tau2)
    elif method == "SJ":
        tau0 = float(np.mean(ymc**2))
        w = 1.0 / (v + tau0)
        P = _P(w)
        rss = q_at(tau0, ymc, v)
        tau2 = trunc(tau0 * rss / (k - 1))
        PV = P * v[np.newaxis, :]
        se = math.sqrt(tau0**2 / (k - 1) ** 2 * (
            2 * float(np.sum(PV * PV.T)) + 4 * tau2 * float(np.sum(PV * P))
            + 2 * tau2**2 * float(np.sum(P * P))))
    elif method == "PM":
        tau2 = _paule_mandel(ymc, v, y)
        if tau2 == 0.0:
            truncated = True
            notes.append("Q(0) is already below k-1: the Paule-Mandel estimate of tau^2 is 0")
        w = 1.0 / (v + tau2)
        se = math.sqrt(2 * k**2 / (k - 1) / float(np.sum(w)) ** 2)
    else:  # ML, REML, EB
        start, _ = _he(ymc, v)
        tau2 = max(0.0, start) if tau2_init is None else float(tau2_init)
        tau2, iterations = _fisher_scoring(method, ymc, v, tau2, threshold, maxiter,
                                            stepadj)
        if (method in ("ML", "REML") and tau2 > threshold
                and _loglik(method, ymc, v, 0.0) - _loglik(method, ymc, v, tau2) > R_UNIROOT_TOL):
            notes.append("the likelihood is larger at tau^2 = 0 than where Fisher scoring "
                         "stopped (a local maximum); tau^2 is set to 0 as metafor does")
            tau2 = 0.0
        if tau2 <= 0.0:
            tau2 = 0.0
            truncated = True
            notes.append(f"{method} estimate of tau^2 is on the boundary 0")
        w = 1.0 / (v + tau2)
        if method == "ML":
            se = math.sqrt(2 / float(np.sum(w**2)))
        elif method == "REML":
            P = _P(w)
            se = math.sqrt(2 / float(np.sum(P * P)))
        else:
            se = math.sqrt(2 * k**2 / (k - 1) / float(np.sum(w)) ** 2)
    return Tau2Estimate(method=method, tau2=float(tau2), se=float(se), iterations=iterations,
                        truncated=truncated, notes=tuple(notes))


def _he(ymc: NDArray[np.float64], v: NDArray[np.float64]) -> tuple[float, float]:
    k = ymc.size
    rss = float(np.sum((ymc - ymc.mean()) ** 2))
    trPV = float(np.sum(v)) * (k - 1) / k
    return (rss - trPV) / (k - 1), trPV


def _he_se(v: NDArray[np.float64], tau2: float) -> float:
    k = v.size
    P = np.eye(k) - 1.0 / k
    PV = P * v[np.newaxis, :]
    trPV = float(np.trace(PV))
    return math.sqrt((2 * float(np.sum(PV * PV.T)) + 4 * tau2 * trPV + 2 * tau2**2 * (k - 1))
                     / (k - 1) ** 2)


def _fisher_scoring(method: str, ymc: NDArray[np.float64], v: NDArray[np.float64],
                    tau2: float, threshold: float, maxiter: int,
                    stepadj: float = 1.0) -> tuple[float, int]:
    k = ymc.size
    change = threshold + 1
    iteration = 0
    while change > threshold:
        iteration += 1
        old = tau2
        w = 1.0 / (v + tau2)
        sw = float(np.sum(w))
        resid = ymc - float(np.sum(w * ymc)) / sw
        Py = w * resid
        if method == "ML":
            adj = (float(np.sum(Py**2)) - sw) / float(np.sum(w**2))
        elif method == "REML":
            sw2 = float(np.sum(w**2))
            trP = sw - sw2 / sw
            trPP = sw2 - 2 * float(np.sum(w**3)) / sw + sw2**2 / sw**2
            adj = (float(np.sum(Py**2)) - trP) / trPP
        else:  # EB
            adj = (float(np.sum(w * resid**2)) * k / (k - 1) - k) / sw
        adj *= stepadj
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iteration > maxiter:
            raise ConvergenceError(
                f"Fisher scoring for the {method} estimate of tau^2 did not converge in "
                f"{maxiter} iterations (last change {change:.3g}); retry with a smaller step "
                "(stepadj=0.5, CLI --step-adjust 0.5) or use method='PM' or 'DL'", reason="no_convergence", method=method)
    return tau2, iteration


def _loglik(method: str, ymc: NDArray[np.float64], v: NDArray[np.float64], tau2: float) -> float:
    k = ymc.size
    w = 1.0 / (v + tau2)
    sw = float(np.sum(w))
    rss = float(np.sum(w * (ymc - float(np.sum(w * ymc)) / sw) ** 2))
    if method == "ML":
        return -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * rss
    return (-0.5 * (k - 1) * math.log(2 * math.pi) - 0.5 * float(np.sum(np.log(v + tau2)))
            - 0.5 * math.log(sw) - 0.5 * rss)


def _paule_mandel(ymc: NDArray[np.float64], v: NDArray[np.float64],
                  y: NDArray[np.float64]) -> float:
    k = ymc.size
    target = k - 1
    tau2_max = max(100.0, 10 * _mad(y) ** 2)
    f_low = q_at(0.0, ymc, v) - target
    if f_low < 0:
        return 0.0
    f_high = q_at(tau2_max, ymc, v) - target
    if f_high > 0:
        raise AnalysisError(
            f"the Paule-Mandel estimate of tau^2 lies above the search limit {tau2_max:.4g}; "
            "check the estimates' scale or use method='REML'", reason="tau2_max_too_low")
    root = uniroot(lambda t: q_at(t, ymc, v) - target, 0.0, tau2_max, f_lower=f_low,
                   f_upper=f_high, tol=R_UNIROOT_TOL, maxiter=MAXITER)
    if not root.converged:
        raise ConvergenceError("the Paule-Mandel search for tau^2 did not converge; try "
                               "method='REML'", reason="no_convergence", method="PM")
    return root.root

"""Many independent meta-analyses at once: :func:`pool_many`.

Simulation studies, leave-one-out and cumulative analyses, and per-outcome / per-subgroup
sweeps need thousands of small pools. :func:`pool_many` runs them as 2-D numpy arrays of shape
``(n_pools, k)`` and gives the same numbers as :func:`analyses.pooling.pool` on each row (the
same estimator definitions, starting values, Fisher-scoring steps with step halving,
convergence rule and truncation; every pool iterates until its own change is below the
threshold, exactly as the scalar path does).

Pools of different sizes: pad the short rows with NaN in both ``yi`` and ``vi``. A NaN in only
one of them is an error, as is a non-positive variance.

Supported methods: ``"FE"``, ``"DL"``, ``"HE"``, ``"HS"``, ``"SJ"``, ``"ML"``, ``"REML"``,
``"EB"`` (``"PM"`` needs a root search per pool: loop over :func:`~analyses.pooling.pool`).
Tests: ``"z"``, ``"t"``, ``"knha"``, ``"adhoc"``. Q-profile intervals are not computed here.

Example::

    >>> import numpy as np
    >>> from analyses import pool_many
    >>> rng = np.random.default_rng(1)
    >>> vi = rng.uniform(0.01, 0.1, size=(1000, 20))
    >>> yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    >>> res = pool_many(yi, vi, method="REML")
    >>> res.estimate.shape
    (1000,)
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analyses.pooling import TESTS, normalise_method
from analyses.results import ResultMixin
from analyses.roots import R_UNIROOT_TOL
from analyses.tau2 import MAXITER, THRESHOLD
from repository.errors import AnalysisError, ConvergenceError

__all__ = ["BatchPoolResult", "pool_many", "BATCH_METHODS"]

BATCH_METHODS: tuple[str, ...] = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB")

F = NDArray[np.float64]


@dataclass(frozen=True, repr=False, eq=False)
class BatchPoolResult(ResultMixin):
    """Arrays of length ``n_pools``; ``tau2`` and ``pi_*`` are ``None`` for ``method="FE"``."""

    title: ClassVar[str] = "Batch of meta-analyses"

    method: str
    test: str
    level: float
    k: NDArray[np.int64]
    estimate: F
    se: F
    ci_low: F
    ci_high: F
    statistic: F
    p: F
    Q: F
    Q_p: F
    I2: F
    H2: F
    tau2: F | None
    pi_low: F | None
    pi_high: F | None
    iterations: NDArray[np.int64]
    truncated: NDArray[np.bool_]

    @property
    def summary(self) -> pd.DataFrame:
        """One row per pool: ``k, estimate, se, ci_low, ci_high, statistic, p, tau2, pi_low,
        pi_high, Q, Q_p, I2, H2, iterations`` (tau2/pi columns absent for FE)."""
        cols: dict[str, object] = {
            "k": self.k, "estimate": self.estimate, "se": self.se, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "statistic": self.statistic, "p": self.p}
        if self.tau2 is not None:
            cols.update({"tau2": self.tau2, "pi_low": self.pi_low, "pi_high": self.pi_high})
        cols.update({"Q": self.Q, "Q_p": self.Q_p, "I2": self.I2, "H2": self.H2,
                     "iterations": self.iterations})
        return pd.DataFrame(cols)

    def _dict_items(self):  # type: ignore[no-untyped-def]
        return [("method", self.method), ("test", self.test), ("level", self.level),
                ("pools", self.summary)]


def _inputs(yi: ArrayLike, vi: ArrayLike) -> tuple[F, F, NDArray[np.bool_]]:
    y = np.array(yi, dtype=float, ndmin=2, copy=True)
    v = np.array(vi, dtype=float, ndmin=2, copy=True)
    if y.ndim != 2 or y.shape != v.shape:
        raise AnalysisError(f"yi and vi must be 2-D arrays of the same shape (n_pools, k); got "
                            f"{y.shape} and {v.shape}", reason="length_mismatch")
    ny, nv = np.isnan(y), np.isnan(v)
    bad = np.flatnonzero((ny != nv).any(axis=1))
    if bad.size:
        raise AnalysisError(f"pools {(bad[:10] + 1).tolist()} have a NaN in only one of yi and "
                            "vi; pad missing studies with NaN in both", reason="invalid_input",
                            rows=(bad + 1).tolist())
    mask = ~ny
    if not (np.isfinite(y[mask]).all() and np.isfinite(v[mask]).all()):
        raise AnalysisError("yi or vi contain infinite values", reason="non_finite")
    badv = np.flatnonzero((mask & (v <= 0)).any(axis=1))
    if badv.size:
        raise AnalysisError(f"pools {(badv[:10] + 1).tolist()} have non-positive sampling "
                            "variances", reason="non_positive_variance",
                            rows=(badv + 1).tolist())
    y[~mask] = 0.0
    v[~mask] = 1.0
    return y, v, mask


def _wmean(w: F, y: F) -> F:
    return np.sum(w * y, axis=1) / np.sum(w, axis=1)


def pool_many(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    threshold: float = THRESHOLD,
    maxiter: int = MAXITER,
    stepadj: float = 1.0,
) -> BatchPoolResult:
    """Pool every row of ``yi``/``vi`` (shape ``(n_pools, k)``) independently."""
    m = normalise_method(method)
    if m not in BATCH_METHODS:
        raise AnalysisError(f"pool_many supports {', '.join(BATCH_METHODS)}, not {method!r}; "
                            "loop over analyses.pool for other methods", reason="unknown_method")
    if test not in TESTS:
        raise AnalysisError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}",
                            reason="unknown_test")
    y, v, mask = _inputs(yi, vi)
    mf = mask.astype(float)
    k = mask.sum(axis=1)
    random = m != "FE"
    few = np.flatnonzero(k < (2 if (random or test != "z") else 1))
    if few.size:
        raise AnalysisError(f"pools {(few[:10] + 1).tolist()} have too few studies for "
                            f"method={m!r}, test={test!r}", reason="too_few_trials",
                            rows=(few + 1).tolist())
    kf = k.astype(float)
    # centre as the scalar path does (tau^2 computations only)
    ymc = (y - (np.sum(mf * y, axis=1) / kf)[:, None]) * mf
    w_fe = mf / v
    sw_fe = w_fe.sum(axis=1)
    Q = np.maximum(0.0, np.sum(w_fe * (ymc - _wmean(w_fe, ymc)[:, None]) ** 2 * mf, axis=1))
    trP_fe = sw_fe - np.sum(w_fe**2, axis=1) / sw_fe
    iterations = np.zeros(y.shape[0], dtype=np.int64)

    if not random:
        tau2 = np.zeros(y.shape[0])
        truncated = np.zeros(y.shape[0], dtype=bool)
    else:
        if m == "DL":
            raw = (Q - (kf - 1)) / trP_fe
        elif m == "HS":
            raw = (Q - kf) / sw_fe
        elif m == "SJ":
            tau0 = np.sum(ymc**2 * mf, axis=1) / kf
            w0 = mf / (v + tau0[:, None])
            q0 = np.sum(w0 * (ymc - _wmean(w0, ymc)[:, None]) ** 2, axis=1)
            raw = tau0 * q0 / (kf - 1)
        else:
            rss = np.sum(ymc**2 * mf, axis=1)
            trPV = np.sum(v * mf, axis=1) * (kf - 1) / kf
            raw = (rss - trPV) / (kf - 1)
        if m in ("ML", "REML", "EB"):
            tau2, iterations = _fisher_scoring(m, ymc, v, mf, kf, np.maximum(0.0, raw),
                                               threshold, maxiter, stepadj)
            truncated = tau2 <= 0
            tau2 = np.maximum(tau2, 0.0)
        else:
            truncated = raw < 0
            tau2 = np.maximum(raw, 0.0)

    w = mf / (v + tau2[:, None])
    sw = w.sum(axis=1)
    beta = np.sum(w * y, axis=1) / sw
    vb = 1.0 / sw
    if test in ("knha", "adhoc"):
        rss = np.sum(w * (y - beta[:, None]) ** 2, axis=1)
        s2w = np.where(rss <= sys.float_info.epsilon, 0.0, rss / (kf - 1))
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)
        zero = np.flatnonzero(s2w == 0)
        if zero.size:
            raise AnalysisError(f"pools {(zero[:10] + 1).tolist()} have identical estimates: "
                                "the Knapp-Hartung scale factor is 0; use test='adhoc'",
                                reason="degenerate_knha", rows=(zero + 1).tolist())
        vb = vb * s2w
    se = np.sqrt(vb)
    alpha = 1 - level / 100
    stat = beta / se
    if test == "z":
        crit = np.full_like(beta, float(stats.norm.isf(alpha / 2)))
        p = 2 * stats.norm.sf(np.abs(stat))
    else:
        crit = stats.t.isf(alpha / 2, kf - 1)
        p = 2 * stats.t.sf(np.abs(stat), kf - 1)
    vt = (kf - 1) / trP_fe
    with np.errstate(invalid="ignore", divide="ignore"):
        if random:
            I2 = 100 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1
        else:
            I2 = np.where(Q > 0, np.maximum(0.0, 100 * (Q - (kf - 1)) / np.where(Q > 0, Q, 1)), 0.0)
            H2 = np.where(kf > 1, Q / np.maximum(kf - 1, 1), 1.0)
    Q_p = np.where(kf > 1, stats.chi2.sf(Q, np.maximum(kf - 1, 1)), 1.0)
    pi_low = pi_high = None
    if random:
        half = crit * np.sqrt(vb + tau2)
        pi_low, pi_high = beta - half, beta + half
    return BatchPoolResult(
        method=m, test=test, level=level, k=k.astype(np.int64), estimate=beta, se=se,
        ci_low=beta - crit * se, ci_high=beta + crit * se, statistic=stat, p=p, Q=Q,
        Q_p=Q_p, I2=I2, H2=H2, tau2=tau2 if random else None, pi_low=pi_low, pi_high=pi_high,
        iterations=iterations, truncated=np.asarray(truncated, dtype=bool))


def _fisher_scoring(m: str, ymc: F, v: F, mf: F, kf: F, tau2: F, threshold: float,
                    maxiter: int, stepadj: float) -> tuple[F, NDArray[np.int64]]:
    n = ymc.shape[0]
    tau2 = tau2.copy()
    iters = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t = tau2[idx]
        y, vv, mm, kk = ymc[idx], v[idx], mf[idx], kf[idx]
        w = mm / (vv + t[:, None])
        sw = w.sum(axis=1)
        resid = (y - (np.sum(w * y, axis=1) / sw)[:, None]) * mm
        Py = w * resid
        if m == "ML":
            adj = (np.sum(Py**2, axis=1) - sw) / np.sum(w**2, axis=1)
        elif m == "REML":
            sw2 = np.sum(w**2, axis=1)
            trP = sw - sw2 / sw
            trPP = sw2 - 2 * np.sum(w**3, axis=1) / sw + sw2**2 / sw**2
            adj = (np.sum(Py**2, axis=1) - trP) / trPP
        else:
            adj = (np.sum(w * resid**2, axis=1) * kk / (kk - 1) - kk) / sw
        adj = adj * stepadj
        neg = t + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = t + adj < 0
        new = t + adj
        change = np.abs(t - new)
        tau2[idx] = new
        iters[idx] += 1
        done = change <= threshold
        over = iters[idx] > maxiter
        if over.any():
            bad = idx[over]
            raise ConvergenceError(
                f"Fisher scoring for {m} did not converge in {maxiter} iterations for pools "
                f"{(bad[:10] + 1).tolist()}; retry with stepadj=0.5 or method='DL'", reason="no_convergence",
                rows=(bad + 1).tolist())
        active[idx[done]] = False
    if m in ("ML", "REML"):
        _ll0_check(m, ymc, v, mf, kf, tau2, threshold)
    return tau2, iters


def _ll0_check(m: str, ymc: F, v: F, mf: F, kf: F, tau2: F, threshold: float) -> None:
    """metafor's check: set tau^2 to 0 where the likelihood is larger there (in place)."""
    def ll(t: F) -> F:
        w = mf / (v + t[:, None])
        sw = w.sum(axis=1)
        rss = np.sum(w * (ymc - (np.sum(w * ymc, axis=1) / sw)[:, None]) ** 2, axis=1)
        logdet = np.sum(np.log(v + t[:, None]) * mf, axis=1)
        if m == "ML":
            return -0.5 * kf * math.log(2 * math.pi) - 0.5 * logdet - 0.5 * rss
        return -0.5 * (kf - 1) * math.log(2 * math.pi) - 0.5 * logdet - 0.5 * np.log(sw) - 0.5 * rss

    cand = tau2 > threshold
    if cand.any():
        worse = cand & (ll(np.zeros_like(tau2)) - ll(tau2) > R_UNIROOT_TOL)
        tau2[worse] = 0.0

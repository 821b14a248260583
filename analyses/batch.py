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

When Fisher scoring does not converge in some pools, ``errors="raise"`` (default) raises
:class:`~repository.errors.ConvergenceError` naming them; ``errors="flag"`` returns the batch
with ``converged`` false and NaN results for exactly those pools (listed in ``failed``), so
that one awkward pool does not stop a simulation.

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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

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
    converged: NDArray[np.bool_]

    @property
    def failed(self) -> list[int]:
        """0-based indices of the pools whose tau^2 iteration did not converge."""
        return np.flatnonzero(~self.converged).tolist()

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
                     "iterations": self.iterations, "converged": self.converged})
        return pd.DataFrame(cols)

    def _dict_items(self) -> Iterable[tuple[str, Any]]:
        return [("method", self.method), ("test", self.test), ("level", self.level),
                ("pools", self.summary)]


def _inputs(yi: ArrayLike, vi: ArrayLike) -> tuple[F, F, NDArray[np.bool_] | None]:
    """Validate; return y, v in (k, n_pools) column layout and the mask of present studies
    (``None`` when every pool has every study)."""
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim == 1:
        y, v = y[np.newaxis, :], v[np.newaxis, :] if v.ndim == 1 else v
    if y.ndim != 2 or y.shape != v.shape:
        raise AnalysisError(f"yi and vi must be 2-D arrays of the same shape (n_pools, k); got "
                            f"{y.shape} and {v.shape}", reason="length_mismatch")
    # column layout: sums over studies run down contiguous rows, which numpy vectorises well
    y = np.ascontiguousarray(y.T)
    v = np.ascontiguousarray(v.T)
    if np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all():
        return y, v, None
    ny, nv = np.isnan(y), np.isnan(v)
    bad = np.flatnonzero((ny != nv).any(axis=0))
    if bad.size:
        raise AnalysisError(f"pools {(bad[:10] + 1).tolist()} have a NaN in only one of yi and "
                            "vi; pad missing studies with NaN in both", reason="invalid_input",
                            rows=(bad + 1).tolist())
    mask = ~ny
    if not (np.isfinite(y[mask]).all() and np.isfinite(v[mask]).all()):
        raise AnalysisError("yi or vi contain infinite values", reason="non_finite")
    badv = np.flatnonzero((mask & (v <= 0)).any(axis=0))
    if badv.size:
        raise AnalysisError(f"pools {(badv[:10] + 1).tolist()} have non-positive sampling "
                            "variances", reason="non_positive_variance",
                            rows=(badv + 1).tolist())
    y[~mask] = 0.0
    v[~mask] = 1.0
    return y, v, mask


class _Work:
    """Column-layout arrays (k, n) plus reusable scratch buffers.

    Large numpy temporaries are fresh memory each time (page faults dominate at this size), so
    the hot loops write into these buffers with ``out=``.
    """

    def __init__(self, y: F, v: F, m: F | None) -> None:
        self.y, self.v, self.m = y, v, m
        self.w = np.empty_like(v)
        self.b1 = np.empty_like(v)
        self.b2 = np.empty_like(v)

    def take(self, keep: NDArray[np.bool_]) -> _Work:
        return _Work(self.y[:, keep], self.v[:, keep], None if self.m is None else self.m[:, keep])

    def weights(self, t: F) -> F:
        """w = m / (v + t) into the w buffer."""
        np.add(self.v, t, out=self.w)
        np.reciprocal(self.w, out=self.w)
        if self.m is not None:
            np.multiply(self.w, self.m, out=self.w)
        return self.w

    @staticmethod
    def dot(a: F, b: F) -> F:
        """Column sums of ``a * b`` without a temporary."""
        return np.einsum("ij,ij->j", a, b)


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
    errors: str = "raise",
) -> BatchPoolResult:
    """Pool every row of ``yi``/``vi`` (shape ``(n_pools, k)``) independently."""
    m = normalise_method(method)
    if m not in BATCH_METHODS:
        raise AnalysisError(f"pool_many supports {', '.join(BATCH_METHODS)}, not {method!r}; "
                            "loop over analyses.pool for other methods", reason="unknown_method")
    if test not in TESTS:
        raise AnalysisError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}",
                            reason="unknown_test")
    if errors not in ("raise", "flag"):
        raise AnalysisError(f"errors must be 'raise' or 'flag', not {errors!r}",
                            reason="bad_option")
    y, v, mask = _inputs(yi, vi)
    n = y.shape[1]
    k = np.full(n, y.shape[0]) if mask is None else mask.sum(axis=0)
    random = m != "FE"
    few = np.flatnonzero(k < (2 if (random or test != "z") else 1))
    if few.size:
        raise AnalysisError(f"pools {(few[:10] + 1).tolist()} have too few studies for "
                            f"method={m!r}, test={test!r}", reason="too_few_trials",
                            rows=(few + 1).tolist())
    kf = k.astype(float)
    mf = None if mask is None else mask.astype(float)
    # centre as the scalar path does (tau^2 computations only)
    ymc = y - y.sum(axis=0) / kf
    if mf is not None:
        ymc *= mf
    work = _Work(ymc, v, mf)
    w_fe = work.weights(np.zeros(n)).copy()
    sw_fe, _, Q = _wrss(work, w_fe)
    Q = np.maximum(0.0, Q)
    trP_fe = sw_fe - work.dot(w_fe, w_fe) / sw_fe
    iterations = np.zeros(n, dtype=np.int64)
    converged = np.ones(n, dtype=bool)

    if not random:
        tau2 = np.zeros(n)
        truncated = np.zeros(n, dtype=bool)
    else:
        if m == "DL":
            raw = (Q - (kf - 1)) / trP_fe
        elif m == "HS":
            raw = (Q - kf) / sw_fe
        elif m == "SJ":
            tau0 = work.dot(ymc, ymc) / kf
            _, _, q0 = _wrss(work, work.weights(tau0))
            raw = tau0 * q0 / (kf - 1)
        else:
            rss = work.dot(ymc, ymc)
            vsum = v.sum(axis=0) if mf is None else work.dot(v, mf)
            raw = (rss - vsum * (kf - 1) / kf) / (kf - 1)
        if m in ("ML", "REML", "EB"):
            tau2, iterations, converged = _fisher_scoring(
                m, work, kf, np.maximum(0.0, raw), threshold, maxiter, stepadj,
                errors == "raise")
            truncated = tau2 <= 0
            tau2 = np.maximum(tau2, 0.0)
        else:
            truncated = raw < 0
            tau2 = np.maximum(raw, 0.0)

    raw_work = _Work(y, v, mf)
    w = raw_work.weights(tau2)
    sw = w.sum(axis=0)
    beta = raw_work.dot(w, y) / sw
    vb = 1.0 / sw
    if test in ("knha", "adhoc"):
        _, _, rss = _wrss(raw_work, w, mean=beta)
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
    if not converged.all():
        bad = ~converged
        for arr in (beta, se, stat, p, I2, H2, tau2, pi_low, pi_high):
            if arr is not None:
                arr[bad] = np.nan
    return BatchPoolResult(
        method=m, test=test, level=level, k=k.astype(np.int64), estimate=beta, se=se,
        ci_low=beta - crit * se, ci_high=beta + crit * se, statistic=stat, p=p, Q=Q,
        Q_p=Q_p, I2=I2, H2=H2, tau2=tau2 if random else None, pi_low=pi_low, pi_high=pi_high,
        iterations=iterations, truncated=np.asarray(truncated, dtype=bool) & converged,
        converged=converged)


def _wrss(work: _Work, w: F, mean: F | None = None) -> tuple[F, F, F]:
    """(sum w, weighted mean, sum w (y - mean)^2) for the work's y; leaves P y = w (y - mean)
    in ``work.b1``. ``w`` must already be zero for absent studies."""
    sw = w.sum(axis=0)
    if mean is None:
        mean = work.dot(w, work.y) / sw
    np.subtract(work.y, mean, out=work.b2)
    np.multiply(work.b2, w, out=work.b1)
    np.multiply(work.b2, work.b1, out=work.b2)
    return sw, mean, work.b2.sum(axis=0)


def _fisher_scoring(m: str, work: _Work, kf: F, tau2: F, threshold: float, maxiter: int,
                    stepadj: float, strict: bool) -> tuple[F, NDArray[np.int64], NDArray[np.bool_]]:
    """Vectorised Fisher scoring; each pool stops on its own, as the scalar path does.

    Columns that have stopped are carried along (their values are not updated) until fewer
    than half remain, when the arrays are compacted.
    """
    n = tau2.size
    tau2 = tau2.copy()
    iters = np.zeros(n, dtype=np.int64)
    converged = np.ones(n, dtype=bool)
    cols = np.arange(n)
    live = np.ones(n, dtype=bool)
    kk = kf
    full = work
    while live.any():
        t = tau2[cols]
        w = work.weights(t)
        sw, _, wrss = _wrss(work, w)
        Py = work.b1
        if m == "ML":
            adj = (work.dot(Py, Py) - sw) / work.dot(w, w)
        elif m == "REML":
            ppy = work.dot(Py, Py)
            np.multiply(w, w, out=work.b1)
            sw2 = work.b1.sum(axis=0)
            sw3 = work.dot(work.b1, w)
            trP = sw - sw2 / sw
            trPP = sw2 - 2 * sw3 / sw + sw2**2 / sw**2
            adj = (ppy - trP) / trPP
        else:
            adj = (wrss * kk / (kk - 1) - kk) / sw
        adj = adj * stepadj
        neg = np.flatnonzero(live & (t + adj < 0))
        if neg.size:
            adj[neg] = _halve(t[neg], adj[neg])
        new = t + adj
        upd = cols[live]
        tau2[upd] = new[live]
        iters[upd] += 1
        done = live & (np.abs(t - new) <= threshold)
        over = live & (iters[cols] > maxiter)
        if over.any():
            if strict:
                bad = cols[over]
                raise ConvergenceError(
                    f"Fisher scoring for {m} did not converge in {maxiter} iterations for "
                    f"pools {(bad[:10] + 1).tolist()}; retry with stepadj=0.5 or method='DL'",
                    reason="no_convergence", rows=(bad + 1).tolist())
            converged[cols[over]] = False
        live &= ~(done | over)
        if 0 < live.sum() < live.size // 2:
            work = work.take(live)
            cols, kk = cols[live], kk[live]
            live = np.ones(cols.size, dtype=bool)
    if m in ("ML", "REML"):
        _ll0_check(m, full, kf, tau2, threshold)
    return tau2, iters, converged


def _halve(t: F, adj: F) -> F:
    """metafor's step halving ``while (tau2 + adj < 0) adj <- adj/2`` on the offending pools.

    Halving is exact in binary floating point; from tau^2 = 0 it ends at -0.0 (underflow),
    which is what the scalar loop reaches after ~1075 halvings.
    """
    out = adj.copy()
    at_zero = t == 0
    out[at_zero] = -0.0
    rest = np.flatnonzero(~at_zero)
    while rest.size:
        out[rest] = out[rest] / 2
        rest = rest[t[rest] + out[rest] < 0]
    return out


def _ll0_check(m: str, work: _Work, kf: F, tau2: F, threshold: float) -> None:
    """metafor's check: set tau^2 to 0 where the likelihood is larger there (in place)."""
    cand = tau2 > threshold
    if not cand.any():
        return
    sub = work  # evaluate every column (cheaper than copying out the candidates)
    kc = kf

    def logdet(t: F) -> F:
        # sum of log(v + t) as the log of a product (one log per pool instead of one per
        # study); columns whose product under- or overflows fall back to summing logs
        np.add(sub.v, t, out=sub.b1)
        if sub.m is not None:
            np.copyto(sub.b1, 1.0, where=sub.m == 0)
        prod = np.prod(sub.b1, axis=0)
        out = np.log(prod)
        bad = ~np.isfinite(out) | (prod == 0)
        if bad.any():
            out[bad] = np.log(sub.b1[:, bad]).sum(axis=0)
        return out

    def ll(t: F) -> F:
        w = sub.weights(t)
        sw, _, rss = _wrss(sub, w)
        ld = logdet(t)
        if m == "ML":
            return -0.5 * kc * math.log(2 * math.pi) - 0.5 * ld - 0.5 * rss
        return -0.5 * (kc - 1) * math.log(2 * math.pi) - 0.5 * ld - 0.5 * np.log(sw) - 0.5 * rss

    worse = cand & (ll(np.zeros_like(tau2)) - ll(tau2) > R_UNIROOT_TOL)
    tau2[worse] = 0.0

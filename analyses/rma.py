"""The pooling engine: inverse-variance pooling of ``n`` pools at once (metafor ``rma.uni``
without moderators), and the Wald inference every pooled model shares.

:func:`pool_columns` is what :func:`analyses.pool` (one pool, plus the per-study table,
Q-profile intervals and notes) and :func:`analyses.pool_many` (many pools) both run: tau^2
from :mod:`analyses.tau2`, then for every pool

* weights ``1/(v + tau^2)``, the pooled estimate and its variance ``1/sum w``;
* ``test="z"``: normal reference; ``"t"``: t on ``k-1`` df; ``"knha"``: the variance times
  ``s^2 = sum w (y - mu)^2 / (k-1)`` (0 when that sum is below machine epsilon, as metafor),
  t on ``k-1`` df, without truncation; ``"adhoc"``: the same with ``s^2`` truncated below at 1;
* the prediction interval ``mu +/- c sqrt(SE^2 + tau^2)`` (random effects), ``c`` the
  interval's critical value;
* Cochran's Q with common-effect weights on ``k-1`` df; I^2 and H^2 from Q (common effect) or
  from tau^2 and the "typical" within-trial variance ``(k-1) / tr P`` (random effects).

:func:`wald` and :func:`knha_scale` are the tests, shared with
:func:`analyses.meta_regression`. Distribution functions are scipy.special's ufuncs (the same
ones scipy.stats evaluates, without its per-call overhead).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analyses.errors import AnalysisProblem, Reason
from analyses.tau2 import MAXITER, THRESHOLD, Tau2Fits, fit_tau2, pools_text
from analyses.tau2_models import InterceptPools

__all__ = ["PooledArrays", "pool_columns", "wald", "knha_scale", "TESTS",
           "COMMON_EFFECT_METHODS", "normalise_method"]

F = NDArray[np.float64]

#: Names accepted for the inverse-variance common-effect model.
COMMON_EFFECT_METHODS: tuple[str, ...] = ("FE", "EE", "CE", "IV")
#: Tests for the pooled estimate.
TESTS: tuple[str, ...] = ("z", "t", "knha", "adhoc")


def normalise_method(method: str) -> str:
    """Canonical method name: ``"FE"`` for the common-effect aliases, upper-case otherwise."""
    m = method.strip()
    up = m.upper()
    if up in COMMON_EFFECT_METHODS or up == "COMMON":
        return "FE"
    if up == "PETO":
        return "Peto"
    return up


def check_test(test: str) -> None:
    if test not in TESTS:
        raise AnalysisProblem(f"unknown test {test!r}; choose one of {', '.join(TESTS)}",
                              reason=Reason.BAD_OPTION, option="test")


def knha_scale(rss: F, df: F, test: str) -> tuple[F, F]:
    """Knapp-Hartung ``s^2`` as computed (``rss / df``, 0 below machine epsilon) and as used
    (``adhoc``: truncated below at 1). Identical estimates (``s^2 = 0``) are refused."""
    raw = np.where(rss <= sys.float_info.epsilon, 0.0, rss / df)
    used = np.maximum(raw, 1.0) if test == "adhoc" else raw
    zero = np.flatnonzero(used == 0)
    if zero.size:
        raise AnalysisProblem(
            f"all study estimates are identical{pools_text(zero, raw.size)}, so the "
            "Knapp-Hartung scale factor is 0 and the standard error would be 0; use "
            "test='adhoc' or test='z'", reason=Reason.DEGENERATE_KNHA,
            rows=(zero + 1).tolist())
    return raw, used


def wald(estimate: F, variance: F, df: F | None, level: float) -> tuple[F, F, F, F]:
    """``(se, statistic, two-sided p, critical value)``: normal reference when ``df`` is
    ``None``, t on ``df`` otherwise."""
    alpha = 1 - level / 100
    se = np.sqrt(variance)
    stat = estimate / se
    if df is None:
        crit = np.full_like(stat, -special.ndtri(alpha / 2))
        p = 2 * special.ndtr(-np.abs(stat))
    else:
        crit = -special.stdtrit(df, np.full_like(stat, alpha / 2))
        p = 2 * special.stdtr(df, -np.abs(stat))
    return se, stat, p, crit


@dataclass(frozen=True, repr=False, eq=False)
class PoolColumns:
    """The results every pool has, as arrays of length ``n`` (``tau2``/``pi_*`` ``None`` for
    the common-effect model); shared by :class:`PooledArrays` and
    :class:`analyses.batch.BatchPoolResult`."""

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


@dataclass(frozen=True)
class PooledArrays(PoolColumns):
    """Every pool's results (:class:`PoolColumns`) and the engine's extras: ``df`` (``None``
    for z tests), ``fits`` (``None`` for the common-effect model), ``knha_raw``/``knha_used``
    the Knapp-Hartung scale as computed and as used (``None`` otherwise)."""

    df: F | None
    fits: Tau2Fits | None
    knha_raw: F | None
    knha_used: F | None


def pool_columns(y: F, v: F, mask: F | None, *, method: str, test: str, level: float,
                 threshold: float = THRESHOLD, maxiter: int = MAXITER, stepadj: float = 1.0,
                 strict: bool = True) -> PooledArrays:
    """Pool every column of ``y``/``v`` (``(k, n)``; absent studies ``y = 0``, ``v = 1``,
    ``mask`` 0). Inputs are checked by the callers; see the module docstring."""
    model = InterceptPools.centred(y, v, mask)
    kf = model.k
    q0, _, trP0 = model.at_zero()
    Q = np.maximum(0.0, q0)
    random = method != "FE"
    fits = (fit_tau2(model, method, threshold=threshold, maxiter=maxiter, stepadj=stepadj,
                     strict=strict) if random else None)
    tau2 = fits.tau2 if fits is not None else np.zeros(kf.size)
    raw = InterceptPools(y, v, mask, kf)
    w = raw.weights(tau2)
    sw, beta, rss = raw.wrss(w, raw.y)
    vb = 1.0 / sw
    df = None if test == "z" else kf - 1
    knha_raw = knha_used = None
    if test in ("knha", "adhoc"):
        assert df is not None
        knha_raw, knha_used = knha_scale(rss, df, test)
        vb = vb * knha_used
    se, stat, p, crit = wald(beta, vb, df, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        vt = (kf - 1) / trP0
        if random:
            I2 = 100 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1
        else:
            I2 = np.where(Q > 0, np.maximum(0.0, 100 * (Q - (kf - 1)) / np.where(Q > 0, Q, 1)),
                          0.0)
            H2 = np.where(kf > 1, Q / np.maximum(kf - 1, 1), 1.0)
    Q_p = np.where(kf > 1, special.chdtrc(np.maximum(kf - 1, 1), Q), 1.0)
    pi_low = pi_high = None
    if random:
        half = crit * np.sqrt(vb + tau2)
        pi_low, pi_high = beta - half, beta + half
    return PooledArrays(
        method=method, test=test, level=level, k=kf.astype(np.int64), estimate=beta, se=se,
        ci_low=beta - crit * se, ci_high=beta + crit * se, statistic=stat, p=p, df=df, Q=Q,
        Q_p=Q_p, I2=I2, H2=H2, tau2=tau2 if random else None, pi_low=pi_low,
        pi_high=pi_high, fits=fits, knha_raw=knha_raw, knha_used=knha_used)

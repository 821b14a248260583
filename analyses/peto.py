"""Peto's one-step method: 2x2 tables (metafor ``rma.peto``) and log-rank O-E and V.

Both pool "observed minus expected" statistics with their hypergeometric variances:

    log estimate = sum(O - E) / sum(V),   SE = 1 / sqrt(sum V),
    heterogeneity chi^2 = sum((O - E)^2 / V) - (sum(O - E))^2 / sum(V)   on k-1 df.

* :func:`pool_peto` - Peto's odds ratio from 2x2 counts. The pooled estimate uses the raw
  counts of every table (metafor's default); the per-study rows use escalc's Peto estimates
  (1/2 added to tables with a zero cell; double-zero tables have no estimate and say so).
* :func:`pool_oe` - the EBCTCG log-rank method: per-trial O-E and V (from
  :func:`analyses.logrank.logrank` or from publications) give Peto's log hazard ratio.
  Per-trial rows hold ``yi = (O-E)/V``, ``vi = 1/V``; weights are ``V / sum V``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from analyses.effects import _counts, effect_2x2
from analyses.errors import AnalysisProblem, Reason
from analyses.mh import study_table
from analyses.pooling import PoolResult

__all__ = ["pool_peto", "pool_oe"]


def _peto_het(oe: np.ndarray, V: np.ndarray, k_df: int) -> tuple[float, int, float, float, float]:
    pos = V > 0
    Q = max(0.0, float(np.sum(oe[pos] ** 2 / V[pos])) - float(np.sum(oe)) ** 2 / float(np.sum(V[pos])))
    if int(pos.sum()) > 1 and k_df > 0:
        I2 = max(0.0, 100 * (Q - k_df) / Q) if Q > 0 else 0.0
        return Q, k_df, float(stats.chi2.sf(Q, k_df)), I2, Q / k_df
    return Q, max(k_df, 0), 1.0, 0.0, 1.0


def pool_peto(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    *,
    level: float = 95.0,
    labels: Sequence[Any] | None = None,
) -> PoolResult:
    """Peto's pooled log odds ratio from 2x2 tables (treated ``ai``/``n1i``, control ``ci``/``n2i``)."""
    a, n1, c, n2 = _counts(ai, n1i, ci, n2i, labels)
    names = [str(x) for x in labels] if labels is not None else [str(i + 1) for i in range(a.size)]
    N = n1 + n2
    xt, yt = a + c, (n1 - a) + (n2 - c)
    E = xt * n1 / N
    with np.errstate(invalid="ignore", divide="ignore"):
        V = np.where(N > 1, xt * yt * (n1 / N) * (n2 / N) / (N - 1), 0.0)
    sumV = float(np.sum(V))
    if sumV == 0:
        raise AnalysisProblem("Peto's method cannot be used: one of the two outcomes never "
                            "occurred in any table", reason=Reason.ESTIMATE_UNDEFINED)
    oe = a - E
    beta = float(np.sum(oe)) / sumV
    se = 1 / math.sqrt(sumV)
    stat = beta / se
    z = float(stats.norm.isf((1 - level / 100) / 2))
    es = effect_2x2(a, n1, c, n2, measure="PETO", add=0.5, to="only0", drop00=True,
                    labels=names)
    Q, df, Q_p, I2, H2 = _peto_het(oe, V, int(es.kept.sum()) - 1)
    notes = [f"{names[i]}: {reason}; contributes nothing to Peto's estimate"
             for i, reason in es.dropped.items()]
    table = study_table(names, a, n1, c, n2, es.yi, es.vi, V / sumV * 100, es.dropped, level)
    table["o_minus_e"] = oe
    table["v"] = V
    return PoolResult(
        estimate=beta, se=se, ci=(beta - z * se, beta + z * se), statistic=stat,
        p=float(2 * stats.norm.sf(abs(stat))), k=int(a.size), method="Peto", test="z",
        level=level, df=None, Q=Q, Q_df=df, Q_p=Q_p, I2=I2, H2=H2, studies=table,
        measure="OR", notes=tuple(notes))


def pool_oe(
    o_minus_e: ArrayLike,
    v: ArrayLike,
    *,
    level: float = 95.0,
    labels: Sequence[Any] | None = None,
    measure: str = "HR",
    extra_columns: dict[str, Sequence[Any]] | None = None,
) -> PoolResult:
    """Peto (EBCTCG) pooling of per-trial log-rank ``O - E`` and variances ``V``.

    Every ``V`` must be positive (a trial without events has ``V = 0`` and must be left out
    beforehand; :func:`analyses.two_stage.two_stage` does that and records the reason).

    >>> res = pool_oe([-5.2, -3.1, 1.0], [20.1, 15.3, 9.8])
    >>> round(res.estimate, 4), round(res.se, 4)
    (-0.1615, 0.1487)
    """
    oe = np.asarray(o_minus_e, dtype=float).ravel()
    V = np.asarray(v, dtype=float).ravel()
    names = [str(x) for x in labels] if labels is not None else [str(i + 1) for i in range(oe.size)]
    if oe.size != V.size or len(names) != oe.size:
        raise AnalysisProblem("O-E, V and labels differ in length", reason=Reason.LENGTH_MISMATCH)
    if oe.size == 0:
        raise AnalysisProblem("no trials to pool", reason=Reason.TOO_FEW_TRIALS, k=0)
    bad = [names[i] for i in range(oe.size)
           if not (np.isfinite(oe[i]) and np.isfinite(V[i])) or V[i] <= 0]
    if bad:
        raise AnalysisProblem(
            f"log-rank variance V must be positive and O-E finite; not so for {', '.join(bad)} "
            "(a trial without events has V = 0: leave it out)", reason=Reason.INVALID_DATA,
            trials=bad)
    sumV = float(V.sum())
    beta = float(oe.sum()) / sumV
    se = 1 / math.sqrt(sumV)
    stat = beta / se
    z = float(stats.norm.isf((1 - level / 100) / 2))
    Q, df, Q_p, I2, H2 = _peto_het(oe, V, oe.size - 1)
    yi, vi = oe / V, 1 / V
    sv = np.sqrt(vi)
    table = pd.DataFrame({"study": names, "yi": yi, "vi": vi, "se": sv,
                          "ci_low": yi - z * sv, "ci_high": yi + z * sv,
                          "weight": V / sumV * 100, "o_minus_e": oe, "v": V})
    for name, values in (extra_columns or {}).items():
        table[name] = list(values)
    return PoolResult(
        estimate=beta, se=se, ci=(beta - z * se, beta + z * se), statistic=stat,
        p=float(2 * stats.norm.sf(abs(stat))), k=int(oe.size), method="Peto", test="z",
        level=level, df=None, Q=Q, Q_df=df, Q_p=Q_p, I2=I2, H2=H2, studies=table,
        measure=measure)

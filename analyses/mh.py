"""Mantel-Haenszel pooling of 2x2 tables (metafor 3.8 ``rma.mh``).

* odds ratio: MH estimate ``sum(a d / N) / sum(b c / N)`` with the Robins-Breslow-Greenland
  variance; also Cochran's and the Cochran-Mantel-Haenszel test (continuity-corrected by
  default), and the Breslow-Day and Tarone tests of homogeneity;
* risk ratio: ``sum(a n2 / N) / sum(c n1 / N)`` with the Greenland-Robins variance;
* risk difference: ``sum(a n2/N - c n1/N) / sum(n1 n2 / N)`` with the Sato-Greenland-Robins
  variance.

As in metafor, the pooled estimate uses the raw counts of every table (no continuity
correction; tables with no events in either arm simply contribute nothing to the odds and
risk ratios), while Cochran's Q, I^2, H^2 and the per-study rows use ``escalc`` estimates
with 1/2 added to tables with a zero cell and double-zero tables dropped (their rows say so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analyses.effects import _counts, effect_2x2
from analyses.errors import AnalysisProblem, Reason
from analyses.pooling import PoolResult

__all__ = ["pool_mh", "MH_MEASURES", "fixed_heterogeneity", "study_table"]

MH_MEASURES: tuple[str, ...] = ("OR", "RR", "RD")


def fixed_heterogeneity(yi: NDArray[np.float64], vi: NDArray[np.float64],
                        beta: float) -> tuple[float, int, float, float, float]:
    """Q around ``beta`` with weights 1/vi, df, p, I^2, H^2 (metafor's rma.mh/rma.peto rules).

    ``yi``/``vi`` hold only the studies with an estimate.
    """
    k = yi.size
    if k <= 1:
        return 0.0, 0, 1.0, 0.0, 1.0
    Q = max(0.0, float(np.sum((yi - beta) ** 2 / vi)))
    df = k - 1
    I2 = max(0.0, 100 * (Q - df) / Q) if Q > 0 else 0.0
    return Q, df, float(stats.chi2.sf(Q, df)), I2, Q / df


def study_table(labels: Sequence[str], a: NDArray[np.float64], n1: NDArray[np.float64],
                c: NDArray[np.float64], n2: NDArray[np.float64], yi: NDArray[np.float64],
                vi: NDArray[np.float64], weight: NDArray[np.float64], dropped: dict[int, str],
                level: float) -> pd.DataFrame:
    """Per-study rows for a 2x2-based pooled result (``note`` says why a row has no estimate)."""
    z = float(stats.norm.isf((1 - level / 100) / 2))
    se = np.sqrt(vi)
    return pd.DataFrame({
        "study": list(labels), "yi": yi, "vi": vi, "se": se,
        "ci_low": yi - z * se, "ci_high": yi + z * se, "weight": weight,
        "events_treated": a, "n_treated": n1, "events_control": c, "n_control": n2,
        "note": [dropped.get(i, "") for i in range(a.size)],
    })


def pool_mh(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    *,
    measure: str = "OR",
    level: float = 95.0,
    correct: bool = True,
    labels: Sequence[Any] | None = None,
) -> PoolResult:
    """Mantel-Haenszel common-effect estimate of an OR, RR or RD (log scale for OR and RR).

    Raises :class:`~repository.errors.AnalysisError` when the estimate is not defined (e.g.
    no events in any treated or any control arm for the odds or risk ratio).
    """
    measure = measure.upper()
    if measure not in MH_MEASURES:
        raise AnalysisProblem(f"Mantel-Haenszel pooling is defined for {', '.join(MH_MEASURES)}, "
                            f"not {measure!r}", reason=Reason.BAD_OPTION)
    a, n1, c, n2 = _counts(ai, n1i, ci, n2i, labels)
    names = [str(x) for x in labels] if labels is not None else [str(i + 1) for i in range(a.size)]
    b, d = n1 - a, n2 - c
    N = n1 + n2
    alpha = 1 - level / 100
    zcrit = float(stats.norm.isf(alpha / 2))
    details: dict[str, Any] = {}
    if measure == "OR":
        P, Qm = a / N + d / N, b / N + c / N
        Ri, Si = (a / N) * d, (b / N) * c
        R, S = float(np.sum(Ri)), float(np.sum(Si))
        if R == 0 or S == 0:
            raise AnalysisProblem(
                "the Mantel-Haenszel odds ratio is not defined: "
                + ("no table has events in the treated arm with non-events in the control arm"
                   if R == 0 else "no table has events in the control arm with non-events in "
                   "the treated arm") + "; use Peto's method or inverse-variance pooling with "
                "a continuity correction", reason=Reason.ESTIMATE_UNDEFINED)
        or_mh = R / S
        beta = math.log(or_mh)
        se = math.sqrt(0.5 * (float(np.sum(P * Ri)) / R**2
                              + float(np.sum(P * Si + Qm * Ri)) / (R * S)
                              + float(np.sum(Qm * Si)) / S**2))
        details.update(_or_tests(a, b, c, d, n1, n2, N, or_mh, correct))
        w = (b / N) * c
    elif measure == "RR":
        R, S = float(np.sum(a * (n2 / N))), float(np.sum(c * (n1 / N)))
        if a.sum() == 0 or c.sum() == 0:
            raise AnalysisProblem("the Mantel-Haenszel risk ratio is not defined: no events in "
                                + ("any treated arm" if a.sum() == 0 else "any control arm")
                                + "; use the risk difference or Peto's odds ratio",
                                reason=Reason.ESTIMATE_UNDEFINED)
        beta = math.log(R / S)
        se = math.sqrt(float(np.sum((n1 / N) * (n2 / N) * (a + c) - (a / N) * c)) / (R * S))
        w = (c / N) * n1
    else:
        den = float(np.sum(n1 * (n2 / N)))
        beta = float(np.sum(a * (n2 / N) - c * (n1 / N))) / den
        se = math.sqrt((beta * float(np.sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2
                                            + (n1 / N) * (n2 / N) * (n2 - n1) / 2))
                        + float(np.sum(a * (n2 - c) / N + c * (n1 - a) / N)) / 2) / den**2)
        w = (n1 / N) * n2
    if not se > 0:
        raise AnalysisProblem(f"the Mantel-Haenszel {measure} has standard error 0 (no events, or "
                            "only events, in every table); nothing can be estimated",
                            reason=Reason.ESTIMATE_UNDEFINED)
    stat = beta / se
    p = float(2 * stats.norm.sf(abs(stat)))
    es = effect_2x2(a, n1, c, n2, measure=measure, add=0.5, to="only0", drop00=True,
                    labels=names)
    kept = es.kept
    Q, df, Q_p, I2, H2 = fixed_heterogeneity(es.yi[kept], es.vi[kept], beta)
    notes = [f"{names[i]}: {reason}; not used for Q" for i, reason in es.dropped.items()]
    table = study_table(names, a, n1, c, n2, es.yi, es.vi, w / w.sum() * 100, es.dropped, level)
    return PoolResult(
        estimate=beta, se=se, ci=(beta - zcrit * se, beta + zcrit * se), statistic=stat, p=p,
        k=int(a.size), method="MH", test="z", level=level, df=None, Q=Q, Q_df=df, Q_p=Q_p,
        I2=I2, H2=H2, studies=table, measure=measure, notes=tuple(notes), details=details)


def _or_tests(a: NDArray[np.float64], b: NDArray[np.float64], c: NDArray[np.float64],
              d: NDArray[np.float64], n1: NDArray[np.float64], n2: NDArray[np.float64],
              N: NDArray[np.float64], or_mh: float, correct: bool) -> dict[str, Any]:
    """Cochran / CMH tests of OR = 1 and Breslow-Day / Tarone tests of homogeneity."""
    xt, yt = a + c, b + d
    cc = 0.5 if correct else 0.0
    out: dict[str, Any] = {}
    dev = abs(float(np.sum(a - (n1 / N) * xt))) - cc
    out["CO"] = dev**2 / float(np.sum((n1 / N) * (n2 / N) * (xt * (yt / N))))
    out["CO_p"] = float(stats.chi2.sf(out["CO"], 1))
    out["MH"] = dev**2 / float(np.sum((n1 / N) * (n2 / N) * (xt * (yt / (N - 1)))))
    out["MH_p"] = float(stats.chi2.sf(out["MH"], 1))
    if or_mh == 1:
        N11 = (n1 / N) * xt
    else:
        A = or_mh * (n1 + xt) + (n2 - xt)
        B = np.sqrt(A**2 - 4 * n1 * xt * or_mh * (or_mh - 1))
        N11 = (A - B) / (2 * (or_mh - 1))
    pos = (N11 > 0) & (xt > 0) & (yt > 0)
    k_pos = int(pos.sum())
    N11 = N11[pos]
    N12 = n1[pos] - N11
    N21 = xt[pos] - N11
    N22 = N11 - n1[pos] - xt[pos] + N[pos]
    var = 1 / (1 / N11 + 1 / N12 + 1 / N21 + 1 / N22)
    BD = max(0.0, float(np.sum((a[pos] - N11) ** 2 / var)))
    TA = max(0.0, BD - float(np.sum(a[pos] - N11)) ** 2 / float(np.sum(var)))
    out["BD"], out["TA"], out["k_pos"] = BD, TA, k_pos
    if k_pos > 1:
        out["BD_p"] = float(stats.chi2.sf(BD, k_pos - 1))
        out["TA_p"] = float(stats.chi2.sf(TA, k_pos - 1))
    return out

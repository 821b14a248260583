"""Heterogeneity: Q-profile confidence intervals for tau^2, tau, I^2 and H^2.

Q, I^2 and H^2 themselves are computed by the pooling engine (:mod:`analyses.rma`).
Definitions follow metafor 3.8 (``rma.uni`` and ``confint.rma.uni``):

* ``Q = sum w_i (y_i - ybar_w)^2`` with common-effect weights ``w_i = 1/v_i``, on ``k-1`` df,
  whatever tau^2 estimator is used;
* common-effect models: ``I^2 = max(0, 100 (Q - (k-1)) / Q)`` and ``H^2 = Q / (k-1)``;
* random-effects models: ``I^2 = 100 tau^2 / (tau^2 + s^2)`` and ``H^2 = (tau^2 + s^2) / s^2``
  with the "typical" within-trial variance ``s^2 = (k-1) / (sum w - sum w^2 / sum w)``;
* Q-profile interval for tau^2 (Viechtbauer 2007): the tau^2 values where the generalised Q
  statistic ``Q(tau^2)`` crosses the upper and lower ``alpha/2`` quantiles of chi^2 with k-1
  df, searched on ``[0, max(100, 10 tau^2)]`` by R's ``uniroot``; tau, I^2 and H^2 intervals
  are transformations of it. When ``Q(0)`` is already below the lower quantile the interval is
  the null set and is reported as (0, 0) with a note; when a limit lies beyond the search
  range it is reported at the range end with a note.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analyses.distributions import chi2_isf, chi2_ppf
from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.roots import uniroot
from analyses.tau2 import q_at

__all__ = ["typical_variance", "QProfileCI", "qprofile_ci"]


def typical_variance(v: NDArray[np.float64]) -> float:
    """metafor's "typical" within-trial variance ``(k-1) / tr(P)`` (Higgins & Thompson 2002)."""
    w = 1.0 / v
    sw = float(np.sum(w))
    return (v.size - 1) / (sw - float(np.sum(w**2)) / sw)


@dataclass(frozen=True)
class QProfileCI:
    """Q-profile confidence limits for tau^2 and their transformations.

    ``null_set`` is true when even tau^2 = 0 gives a Q below the lower critical value (the
    interval is then reported as (0, 0)); ``lower_beyond`` / ``upper_beyond`` hold ``"<"`` or
    ``">"`` when a limit lies outside the search range and is reported at its end.
    """

    tau2: tuple[float, float]
    tau: tuple[float, float]
    I2: tuple[float, float]
    H2: tuple[float, float]
    level: float
    null_set: bool
    lower_beyond: str
    upper_beyond: str
    notes: tuple[str, ...]


def qprofile_ci(y: NDArray[np.float64], v: NDArray[np.float64], *, tau2: float,
                level: float = 95.0) -> QProfileCI:
    """Q-profile confidence interval for tau^2 (metafor ``confint.rma.uni``, type "QP")."""
    k = y.size
    alpha = 1 - level / 100
    crit_u = chi2_isf(alpha / 2, k - 1)
    crit_l = chi2_ppf(alpha / 2, k - 1)
    tau2_min = min(0.0, tau2)
    tau2_max = max(100.0, tau2 * 10, tau2_min * 10)

    def Q(t: float) -> float:
        return q_at(t, y, v)

    q_max = Q(tau2_max)
    q_min = Q(tau2_min)
    if not (math.isfinite(q_max) and math.isfinite(q_min)):
        raise AnalysisProblem("the Q-profile interval for tau^2 cannot be computed in floating "
                              "point (the estimates or variances are too large or too small); "
                              "check their scale, or pass qprofile=False",
                              reason=Reason.OUT_OF_RANGE)
    lb = ub = math.nan
    lb_sign = ub_sign = ""
    null_set = False
    notes: list[str] = []

    if q_min < crit_l:
        lb = ub = tau2_min
        lb_sign = ub_sign = "<"
        null_set = tau2_min <= 0
    elif q_max > crit_l:
        ub, ub_sign = tau2_max, ">"
    else:
        ub = _root(lambda t: Q(t) - crit_l, tau2_min, tau2_max, q_min - crit_l,
                   q_max - crit_l, "upper")

    if q_max > crit_u:
        lb = ub = tau2_max
        lb_sign = ub_sign = ">"
    elif q_min < crit_u:
        lb = tau2_min
        if tau2_min > 0:
            lb_sign = "<"
    else:
        lb = _root(lambda t: Q(t) - crit_u, tau2_min, tau2_max, q_min - crit_u,
                   q_max - crit_u, "lower")

    if null_set:
        notes.append("the Q-profile confidence interval for tau^2 is the null set (Q is "
                     "smaller than expected even at tau^2 = 0); reported as (0, 0)")
    if ub_sign == ">":
        notes.append(f"the upper Q-profile limit for tau^2 lies above {tau2_max:.4g}; "
                     "reported at that value")
    vt = typical_variance(v)
    tau_ci = (math.sqrt(max(lb, 0.0)), math.sqrt(max(ub, 0.0)))
    return QProfileCI(
        tau2=(lb, ub), tau=tau_ci,
        I2=(100 * lb / (vt + lb), 100 * ub / (vt + ub)),
        H2=(lb / vt + 1, ub / vt + 1),
        level=level, null_set=null_set, lower_beyond=lb_sign, upper_beyond=ub_sign,
        notes=tuple(notes))


def _root(f: Callable[[float], float], lo: float, hi: float, f_lo: float, f_hi: float,
          which: str) -> float:
    root = uniroot(f, lo, hi, f_lower=f_lo, f_upper=f_hi, maxiter=1000)
    if not root.converged:
        raise NotConverged(f"the search for the {which} Q-profile limit of tau^2 did not "
                           "converge; report tau^2 without its interval (qprofile=False)")
    return root.root

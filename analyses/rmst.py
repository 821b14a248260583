"""Restricted mean survival time (RMST), as R's ``print(survfit(...), rmean = tau)``.

The RMST up to a horizon ``tau`` is the area under the Kaplan-Meier curve from 0 to ``tau``.
:func:`rmst` computes it and its standard error exactly as survival 3.x (``survmean``):

* the curve is cut at ``tau`` (or extended flat to ``tau`` when the follow-up ends earlier, as
  R does: say so when you report it; :attr:`RMST.extrapolated` flags it);
* area = sum of rectangles ``(t_{j+1} - t_j) S(t_j)`` over the distinct times up to ``tau``;
* variance = ``sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over the event times ``t_j <= tau``,
  with ``A_j`` the area under the curve from ``t_j`` to ``tau`` (0 when ``n_j = d_j``).

:func:`rmst_difference` gives treated minus control with the standard error
``sqrt(se_1^2 + se_0^2)`` (independent arms), the per-trial estimate of a two-stage RMST
meta-analysis (``two_stage(..., model="rmst", tau=...)``).

Example::

    >>> from analyses.rmst import rmst
    >>> r = rmst([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1], tau=4)
    >>> round(r.estimate, 4), round(r.se, 4)
    (3.0, 0.4714)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analyses.errors import AnalysisProblem, Reason
from analyses.km import kaplan_meier

__all__ = ["RMST", "RMSTDifference", "rmst", "rmst_difference"]


@dataclass(frozen=True)
class RMST:
    """The restricted mean survival time of one group up to ``tau``."""

    estimate: float
    se: float
    tau: float
    n: int
    events: int
    last_time: float

    @property
    def extrapolated(self) -> bool:
        """True when the follow-up ends before ``tau`` (the curve was extended flat)."""
        return self.last_time < self.tau


@dataclass(frozen=True)
class RMSTDifference:
    """Treated minus control RMST at ``tau``."""

    treated: RMST
    control: RMST

    @property
    def estimate(self) -> float:
        return self.treated.estimate - self.control.estimate

    @property
    def se(self) -> float:
        return math.hypot(self.treated.se, self.control.se)


def rmst(time: ArrayLike, event: ArrayLike, *, tau: float, label: str = "all") -> RMST:
    """RMST up to ``tau`` and its standard error (see the module docstring)."""
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise AnalysisProblem(f"tau must be a positive number of time units, not {tau!r}",
                            reason=Reason.BAD_OPTION)
    km = kaplan_meier(time, event, label=label)
    tab = km.table
    t = tab["time"].to_numpy(float)
    if tau < t[0]:
        raise AnalysisProblem(f"{label}: tau = {tau:g} is before the first observed time "
                            f"({t[0]:g}); choose a horizon within the follow-up",
                            reason=Reason.BAD_OPTION)
    keep = t <= tau
    times = np.append(t[keep], tau)
    surv = np.append(tab["surv"].to_numpy(float)[keep], 1.0)
    if keep.any():
        surv[-1] = surv[-2]
    n_risk = tab["n_risk"].to_numpy(float)[keep]
    d = tab["n_event"].to_numpy(float)[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(n_risk - d == 0, 0.0, d / (n_risk * (n_risk - d)))
    hh = np.append(hh, 0.0)
    delta = np.diff(np.concatenate([[0.0], times]))
    rect = delta * np.concatenate([[1.0], surv[:-1]])
    # area from each time to tau: reverse cumulative sums of the later rectangles
    tail = np.cumsum(rect[1:][::-1])
    var = float(np.sum(tail**2 * hh[::-1][1:]))
    return RMST(estimate=float(rect.sum()), se=math.sqrt(var), tau=float(tau), n=km.n,
                events=km.n_events, last_time=float(t[-1]))


def rmst_difference(time: ArrayLike, event: ArrayLike, treated: ArrayLike, *, tau: float
                    ) -> RMSTDifference:
    """Treated (``treated == 1``) minus control (``== 0``) RMST at ``tau``."""
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event, dtype=float).ravel()
    g = np.asarray(treated, dtype=float).ravel()
    if not (t.size == e.size == g.size):
        raise AnalysisProblem("time, event and treated differ in length", reason=Reason.LENGTH_MISMATCH)
    arms = {}
    for value, name in ((1.0, "treated"), (0.0, "control")):
        m = g == value
        if not m.any():
            raise AnalysisProblem(f"no {name} participants", reason=Reason.SINGLE_ARM)
        arms[name] = rmst(t[m], e[m], tau=tau, label=name)
    return RMSTDifference(treated=arms["treated"], control=arms["control"])

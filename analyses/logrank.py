"""Log-rank test and Peto's O-E and V, as R's ``survival::survdiff`` (rho = 0).

For treated (``group == 1``) versus control (``group == 0``), at every distinct event time of
every stratum with ``n`` at risk (``n1`` treated), ``d`` events (``d1`` treated):

    E1 = sum d n1 / n,    O - E = sum d1 - E1,
    V  = sum d (n1/n) (1 - n1/n) (n - d) / (n - 1)      (hypergeometric variance; 0 if n = 1)

summed over strata; the statistic is ``(O - E)^2 / V`` on one degree of freedom. Peto's
one-step log hazard ratio is ``(O - E) / V`` with standard error ``1 / sqrt(V)``.

* :func:`logrank` - one (optionally stratified) comparison -> :class:`LogRankResult`;
* :func:`logrank_by_trial` - the same in every trial: per-trial O-E and V for EBCTCG/Peto
  pooling (``analyses.peto.pool_oe``), as a DataFrame.

Example::

    >>> from analyses.logrank import logrank
    >>> res = logrank([6, 7, 10, 15, 19, 25], [1, 0, 1, 1, 0, 1], [0, 0, 1, 0, 1, 1])
    >>> round(res.o_minus_e, 4), round(res.v, 4)
    (-0.9167, 0.6597)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analyses import _cox_core
from analyses.checks import Problems, float_arrays, same_lengths
from analyses.errors import AnalysisProblem, Reason
from analyses.results import ResultMixin

__all__ = ["logrank", "logrank_by_trial", "LogRankResult", "SUMMARY_COLUMNS", "TRIAL_COLUMNS"]

#: Columns of :attr:`LogRankResult.summary` (one row per group: control, treated).
SUMMARY_COLUMNS: tuple[str, ...] = ("group", "n", "observed", "expected", "o_minus_e",
                                    "(O-E)^2/E", "(O-E)^2/V")
#: Columns of :func:`logrank_by_trial`.
TRIAL_COLUMNS: tuple[str, ...] = (
    "trial", "n", "n_treated", "n_control", "events", "observed", "expected", "o_minus_e", "v",
    "log_hr", "se", "usable", "reason")


@dataclass(frozen=True, repr=False, eq=False)
class LogRankResult(ResultMixin):
    """Log-rank comparison of treated (1) versus control (0).

    ``observed``/``expected`` are the treated group's events and expected events;
    ``o_minus_e = observed - expected`` and ``v`` its hypergeometric variance (survdiff's
    ``var[2, 2]``). ``log_hr``/``se`` are Peto's one-step estimate ``(O-E)/V`` and ``1/sqrt(V)``.
    """

    title: ClassVar[str] = "Log-rank test (treated vs control)"

    o_minus_e: float
    v: float
    observed: float
    expected: float
    observed_control: float
    expected_control: float
    n: int
    n_treated: int
    n_control: int
    n_strata: int
    chisq: float
    p: float

    @property
    def statistic(self) -> float:
        """The chi-square statistic on 1 df (the same as :attr:`chisq`)."""
        return self.chisq

    def _headline(self) -> str:
        from analyses.formatting import fmt_p, minus

        return minus(f"O\u2212E = {self.o_minus_e:.2f}, V = {self.v:.2f}; HR (Peto) "
                     f"{math.exp(self.log_hr):.2f}; \u03c7\u00b2 = {self.chisq:.2f} on 1 df, "
                     f"{fmt_p(self.p)}")

    @property
    def events(self) -> float:
        return self.observed + self.observed_control

    @property
    def log_hr(self) -> float:
        return self.o_minus_e / self.v

    @property
    def se(self) -> float:
        return 1.0 / math.sqrt(self.v)

    @property
    def hazard_ratio(self) -> float:
        return math.exp(self.log_hr)

    @property
    def summary(self) -> pd.DataFrame:
        obs = np.array([self.observed_control, self.observed])
        exp = np.array([self.expected_control, self.expected])
        oe = obs - exp
        return pd.DataFrame({
            "group": ["control", "treated"],
            "n": [self.n_control, self.n_treated],
            "observed": obs,
            "expected": exp,
            "o_minus_e": oe,
            "(O-E)^2/E": oe ** 2 / exp,
            "(O-E)^2/V": oe ** 2 / self.v,
        })

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        for name in ("o_minus_e", "v", "observed", "expected", "observed_control",
                     "expected_control", "n", "n_treated", "n_control", "n_strata", "statistic",
                     "chisq", "p"):
            yield name, getattr(self, name)
        yield "log_hr", self.log_hr
        yield "se", self.se
        yield "hazard_ratio", self.hazard_ratio

    def _notes(self) -> tuple[str, ...]:
        return (f"chi-square {self.chisq:.4g} on 1 df, p = {self.p:.4g}",)


@dataclass(frozen=True, eq=False)
class _Sums:
    o1: float
    e1: float
    o0: float
    e0: float
    v: float


def _sums(time: NDArray[np.float64], ev: NDArray[np.bool_], grp: NDArray[np.float64],
          strata: NDArray[np.intp] | None) -> tuple[_Sums, NDArray[np.float64] | None]:
    """O, E and V of the treated group, overall and (if ``strata``) per stratum."""
    cd = _cox_core.prepare(time, ev, grp[:, None], strata=strata)
    n_risk = _cox_core._stratum_cumsum(cd, np.ones(cd.n))[cd.group_end]
    x1 = grp[cd.order]
    n1 = _cox_core._stratum_cumsum(cd, x1)[cd.group_end]
    d = cd.group_size.astype(np.float64)
    d1 = np.add.reduceat(x1[cd.death_rows], cd.group_first) if cd.death_rows.size else d * 0
    frac = n1 / n_risk
    e1 = d * frac
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(n_risk > 1, d * frac * (1 - frac) * (n_risk - d) / (n_risk - 1), 0.0)
    tot = _Sums(o1=float(d1.sum()), e1=float(e1.sum()), o0=float((d - d1).sum()),
                e0=float((d - e1).sum()), v=float(v.sum()))
    if strata is None:
        return tot, None
    S = cd.n_strata
    per = np.column_stack([  # (S, 4): treated events, expected, variance, events
        np.bincount(cd.group_stratum, d1, minlength=S),
        np.bincount(cd.group_stratum, e1, minlength=S),
        np.bincount(cd.group_stratum, v, minlength=S),
        np.bincount(cd.group_stratum, d, minlength=S),
    ])
    return tot, np.asarray(per, dtype=np.float64)


def _arrays(time: ArrayLike, event: ArrayLike, group: ArrayLike, extra: dict[str, Any],
            where: str) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    arrays = float_arrays(where, time=time, event=event, group=group)
    t, e, g = arrays["time"], arrays["event"], arrays["group"]
    same_lengths(where, {"time": t.size, **{k: len(v) for k, v in extra.items()
                                            if v is not None}})
    problems = Problems()
    problems.survival(t, e)
    problems.mask("group", ~np.isfinite(g), "missing values")
    problems.mask("group", np.isfinite(g) & (g != 0) & (g != 1),
                  "values other than 0 (control) / 1 (treated)")
    for name, vals in extra.items():
        if vals is not None:
            problems.mask(name, pd.isna(pd.Series(vals, dtype=object)).to_numpy(),
                          "missing values")
    problems.raise_if_any(f"{where}cannot run the log-rank test",
                          "Remove or correct these rows first.")
    if t.size == 0:
        raise AnalysisProblem(f"{where}no participants: the data are empty",
                              reason=Reason.TOO_FEW_PARTICIPANTS)
    return t, e == 1, g


def logrank(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    strata: ArrayLike | None = None,
    label: str | None = None,
) -> LogRankResult:
    """Log-rank test of treated (``group == 1``) versus control (``group == 0``).

    ``strata`` (any labels) stratifies the test: O, E and V are summed over strata, as
    ``survdiff(Surv(time, event) ~ group + strata(s))``. Raises
    :class:`~repository.errors.AnalysisError` when there are no events or only one arm
    (V = 0, the test is undefined), naming ``label`` if given.
    """
    where = f"{label}: " if label else ""
    s_arr = None if strata is None else np.asarray(strata, dtype=object).ravel()
    t, ev, g = _arrays(time, event, group, {"strata": s_arr}, where)
    codes = None if s_arr is None else pd.factorize(pd.Series(s_arr), sort=True)[0].astype(np.intp)
    n1 = int(g.sum())
    n0 = int(t.size - n1)
    if n1 == 0 or n0 == 0:
        arm = "treated" if n1 == 0 else "control"
        raise AnalysisProblem(
            f"{where}no {arm} participants: the log-rank test compares two arms; check the "
            "treatment coding (1 = treated, 0 = control) or leave this data out",
            reason=Reason.SINGLE_ARM, trials=label, n_treated=n1, n_control=n0)
    if not ev.any():
        raise AnalysisProblem(f"{where}no events among {t.size} participants: O-E and V are 0 "
                              "and the log-rank test is undefined", reason=Reason.NO_EVENTS,
                              trials=label, n=int(t.size))
    tot, _ = _sums(t, ev, g, codes)
    if tot.v <= 0:
        raise AnalysisProblem(
            f"{where}the log-rank variance is 0 (no event time with both arms at risk and more "
            "than one participant at risk); the test is undefined for these data",
            reason=Reason.ESTIMATE_UNDEFINED, trials=label)
    chisq = (tot.o1 - tot.e1) ** 2 / tot.v
    return LogRankResult(
        o_minus_e=tot.o1 - tot.e1, v=tot.v, observed=tot.o1, expected=tot.e1,
        observed_control=tot.o0, expected_control=tot.e0, n=int(t.size), n_treated=n1,
        n_control=n0, n_strata=1 if codes is None else int(codes.max()) + 1, chisq=chisq,
        p=float(stats.chi2.sf(chisq, 1)))


def logrank_by_trial(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    trial: ArrayLike,
    *,
    invalid: Literal["raise", "flag"] = "raise",
) -> pd.DataFrame:
    """Per-trial log-rank O-E and V (treated vs control) for Peto/EBCTCG pooling.

    Returns one row per trial (sorted by trial label) with the columns
    :data:`TRIAL_COLUMNS`: ``observed``/``expected`` are the treated arm's, ``log_hr = (O-E)/V``
    and ``se = 1/sqrt(V)`` Peto's per-trial estimate. A trial with no events or a single arm
    has V = 0 and no estimate: with ``invalid="raise"`` (default) an
    :class:`~repository.errors.AnalysisError` lists every such trial; with ``"flag"`` they
    are kept with ``usable = False``, O-E = V = 0, ``log_hr``/``se`` empty (NaN) and the
    ``reason`` spelled out - pooling must then leave them out (they carry no information).
    """
    if invalid not in ("raise", "flag"):
        raise AnalysisProblem(f"invalid must be 'raise' or 'flag', not {invalid!r}",
                              reason=Reason.BAD_OPTION, option="invalid")
    tr = pd.Series(np.asarray(trial, dtype=object).ravel())
    t, ev, g = _arrays(time, event, group, {"trial": tr.to_numpy()}, "")
    codes, labels = pd.factorize(tr, sort=True)
    codes = codes.astype(np.intp)
    K = len(labels)
    _, per = _sums(t, ev, g, codes)
    assert per is not None
    n = np.bincount(codes, minlength=K)
    n_t = np.bincount(codes, g, minlength=K).astype(int)
    ev_k = np.bincount(codes, ev.astype(float), minlength=K)
    o1, e1, v = per[:, 0], per[:, 1], per[:, 2]
    reasons: list[str] = []
    for k in range(K):
        if n_t[k] == 0 or n_t[k] == n[k]:
            reasons.append("single arm (no " + ("treated" if n_t[k] == 0 else "control")
                           + " participants)")
        elif ev_k[k] == 0:
            reasons.append("no events")
        elif v[k] <= 0:
            reasons.append("log-rank variance 0 (no event time with both arms at risk)")
        else:
            reasons.append("")
    usable = np.array([r == "" for r in reasons])
    if invalid == "raise" and not usable.all():
        listed = "; ".join(f"trial {labels[k]}: {reasons[k]}" for k in range(K) if not usable[k])
        raise AnalysisProblem(
            f"log-rank O-E and V cannot be computed for {int((~usable).sum())} trial(s): "
            f"{listed}. Leave them out of the analysis, or pass invalid='flag' to keep them as "
            "unusable rows.", reason=Reason.ESTIMATE_UNDEFINED,
            trials=[str(labels[k]) for k in range(K) if not usable[k]])
    with np.errstate(invalid="ignore", divide="ignore"):
        log_hr = np.where(usable, (o1 - e1) / np.where(usable, v, 1.0), np.nan)
        se = np.where(usable, 1.0 / np.sqrt(np.where(usable, v, 1.0)), np.nan)
    labels_out: list[Hashable] = list(labels)
    return pd.DataFrame({
        "trial": labels_out, "n": n, "n_treated": n_t, "n_control": n - n_t,
        "events": ev_k.astype(int), "observed": o1, "expected": e1, "o_minus_e": o1 - e1,
        "v": v, "log_hr": log_hr, "se": se, "usable": usable, "reason": reasons,
    }, columns=list(TRIAL_COLUMNS))

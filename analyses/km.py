"""Kaplan-Meier estimates, medians and follow-up that agree with R's ``survfit``; KM plots.

lifelines' :class:`~lifelines.KaplanMeierFitter` computes the product-limit curve (and draws
it); around it this module adds what meta-analysts compare with R:

* confidence limits of R's default ``conf.type = "log"``: ``S exp(+/- z se)`` with ``se`` the
  Greenwood standard error of ``-log S`` (``sqrt(sum d / (n (n - d)))``), the upper limit
  capped at 1 (lifelines' own limits are log(-log) ones);
* medians and other quantiles with confidence limits by R's ``quantile.survfit`` rules: the
  first time the curve (or its lower/upper limit) is at or below ``1 - p``; where the curve is
  flat exactly at that level, the midpoint of the flat stretch;
* survival at given times (R's ``summary(fit, times = ...)``);
* :func:`reverse_km_followup`, median follow-up by arm from the reverse Kaplan-Meier
  (censoring as the event), for the trial-integrity checks;
* plots by arm, per trial (small multiples) and pooled, survminer-style, as PNG, SVG or PDF
  (:func:`plot_km`, :func:`plot_km_by_trial`, :func:`plot_km_pooled`, defined in
  :mod:`analyses.km_plot` and importable from here).

Where ``S`` reaches 0 the standard error is infinite and the limits are undefined: the table
holds ``inf`` / NaN there exactly as R holds ``Inf`` / ``NA`` (documented, never silent: the
``surv`` column says 0). A quantile the curve never reaches is ``None`` ("not reached").

Example::

    >>> from analyses.km import kaplan_meier
    >>> km = kaplan_meier([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1])
    >>> km.median, km.median_ci
    (4.0, (2.0, None))
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analyses.checks import Problems, float_arrays, same_lengths
from analyses.errors import AnalysisProblem, Reason
from analyses.results import ResultMixin

__all__ = [
    "KaplanMeier",
    "KMByGroup",
    "kaplan_meier",
    "km_by_group",
    "reverse_km_followup",
    "stratified_km",
    "TABLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "FOLLOWUP_COLUMNS",
]

#: Columns of :attr:`KaplanMeier.table` (R's survfit components of the same names).
TABLE_COLUMNS: tuple[str, ...] = (
    "time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper")
#: Columns of :attr:`KaplanMeier.summary` / :attr:`KMByGroup.summary`.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "group", "n", "events", "median", "median_ci_low", "median_ci_high")
#: Columns of :func:`reverse_km_followup`.
FOLLOWUP_COLUMNS: tuple[str, ...] = (
    "group", "n", "n_censored", "median_followup", "ci_low", "ci_high", "max_followup")

_TOL = math.sqrt(np.finfo(float).eps)  # R's quantile.survfit tolerance


def _findq(x: NDArray[np.float64], y: NDArray[np.float64], p: float,
           tol: float = _TOL) -> float | None:
    """R's ``findq``: where the CDF-like curve ``y`` (= 1 - S, starting (x0, 0)) reaches ``p``.

    Mirrors R step by step: drop duplicated ``y`` values (NA equal to NA), locate ``p`` with
    ``approx(y +/- tol, index, p, method = "constant", f = 1)`` (NA pairs ignored; for each
    shift the matching point is the one with the smallest value at or above ``p``), take the
    midpoint of the two, and use the last time when the curve ends flat at ``p``.
    """
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return None
    xmax = float(x[-1])
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    last = y[-1]
    ok = ~np.isnan(y)
    xa, ya = x[ok], y[ok]

    def locate(shift: float) -> float | None:
        cand = np.flatnonzero(ya + shift >= p)
        if cand.size == 0:
            return None
        return float(xa[cand[np.argmin(ya[cand])]])

    a, b = locate(tol), locate(-tol)
    if not np.isnan(last) and abs(p - last) < tol and a is not None:
        return (a + xmax) / 2.0
    if a is None or b is None:
        return None
    return (a + b) / 2.0


@dataclass(frozen=True, repr=False, eq=False)
class KaplanMeier(ResultMixin):
    """One Kaplan-Meier curve. ``table`` has :data:`TABLE_COLUMNS` (one row per distinct time,
    event or censoring, as R's survfit); ``std_err`` is the standard error of ``-log S``."""

    title: ClassVar[str] = "Kaplan-Meier estimate"

    table: pd.DataFrame
    n: int
    n_events: int
    level: float = 0.95
    label: str = "all"
    fitter: Any = field(default=None, repr=False)

    # ------------------------------------------------------------- quantiles
    def quantile(self, p: float) -> tuple[float | None, float | None, float | None]:
        """(time, lower, upper) at which survival falls to ``1 - p`` (R's quantile.survfit)."""
        if not 0 < p < 1:
            raise AnalysisProblem(f"quantile probability must be in (0, 1), not {p}",
                                  reason=Reason.BAD_OPTION, option="p")
        x = np.concatenate([[0.0], self.table["time"].to_numpy(float)])

        def q(col: str) -> float | None:
            return _findq(x, np.concatenate([[0.0], 1.0 - self.table[col].to_numpy(float)]), p)

        return q("surv"), q("lower"), q("upper")

    @property
    def median(self) -> float | None:
        """Median survival time; ``None`` when the curve never falls to 0.5 (not reached)."""
        return self.quantile(0.5)[0]

    @property
    def median_ci(self) -> tuple[float | None, float | None]:
        """Confidence limits of the median (R's log-CI based ones); ``None`` = not reached."""
        _, lo, hi = self.quantile(0.5)
        return lo, hi

    def survival_at(self, times: Sequence[float] | ArrayLike) -> pd.DataFrame:
        """Survival, limits and number at risk at ``times`` (R's ``summary(fit, times=)``).

        Columns: time, n_risk, surv, std_err (of ``S``, as R's summary), lower, upper. Times
        after the last observed time are left out, as R does.
        """
        tab = self.table
        t = np.asarray(times, dtype=float).ravel()
        tmax = float(tab["time"].iloc[-1])
        t = np.sort(t[t <= tmax])
        idx = np.searchsorted(tab["time"].to_numpy(), t, side="right") - 1
        before = idx < 0
        sel = np.clip(idx, 0, None)

        def col(name: str, first: float) -> NDArray[np.float64]:
            v = tab[name].to_numpy(float)[sel]
            return np.where(before, first, v)

        surv = col("surv", 1.0)
        se_log = col("std_err", 0.0)
        # at risk at t: those with time >= t (first table row at or after t)
        nxt = np.searchsorted(tab["time"].to_numpy(), t, side="left")
        n_risk = np.array([int(tab["n_risk"].iloc[j]) if j < len(tab) else 0 for j in nxt])
        with np.errstate(invalid="ignore"):
            se_surv = surv * se_log
        return pd.DataFrame({"time": t, "n_risk": n_risk, "surv": surv, "std_err": se_surv,
                             "lower": col("lower", 1.0), "upper": col("upper", 1.0)})

    @property
    def summary(self) -> pd.DataFrame:
        lo, hi = self.median_ci
        return pd.DataFrame({"group": [self.label], "n": [self.n], "events": [self.n_events],
                             "median": [self.median], "median_ci_low": [lo],
                             "median_ci_high": [hi]}, columns=list(SUMMARY_COLUMNS))

    def _headline(self) -> str:
        med = self.median
        lo, hi = self.median_ci
        if med is None:
            return f"{self.label}: median not reached ({self.n} participants, {self.n_events} events)"
        lims = f"{lo:.4g} to {hi:.4g}" if lo is not None and hi is not None else (
            f"{lo:.4g} to not reached" if lo is not None else "not estimable")
        return (f"{self.label}: median {med:.4g} ({100 * self.level:g}% CI {lims}); "
                f"{self.n} participants, {self.n_events} events")

    def plot(self, *, path: str | Path | None = None, **kwargs: Any) -> Any:
        """The Kaplan-Meier curve (:func:`analyses.km_plot.plot_km`; same options); needs
        the data, so it draws from the curve's table."""
        from analyses.km_plot import plot_km

        t, e = _expand(self.table)
        return plot_km(t, e, path=path, **kwargs)

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "label", self.label
        yield "n", self.n
        yield "n_events", self.n_events
        yield "level", self.level
        yield "median", self.median
        yield "median_ci", list(self.median_ci)
        yield "table", self.table


@dataclass(frozen=True, repr=False, eq=False)
class KMByGroup(ResultMixin):
    """Kaplan-Meier curves by group; ``curves`` maps each group label to its curve."""

    title: ClassVar[str] = "Kaplan-Meier estimates by group"

    curves: Mapping[Hashable, KaplanMeier]

    def __getitem__(self, group: Hashable) -> KaplanMeier:
        return self.curves[group]

    @property
    def summary(self) -> pd.DataFrame:
        # from records, not pd.concat: a median not reached (None) must not warn
        rows = [{**c.summary.iloc[0].to_dict(), "group": g} for g, c in self.curves.items()]
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    def _headline(self) -> str:
        return "; ".join(c._headline() for c in self.curves.values())

    def plot(self, *, path: str | Path | None = None, **kwargs: Any) -> Any:
        """Kaplan-Meier curves by group (:func:`analyses.km_plot.plot_km`; same options)."""
        from analyses.km_plot import plot_km

        parts = [(_expand(c.table), g) for g, c in self.curves.items()]
        t = np.concatenate([p[0][0] for p in parts])
        e = np.concatenate([p[0][1] for p in parts])
        g = np.concatenate([np.full(p[0][0].size, p[1], dtype=object) for p in parts])
        labels = {grp: c.label for grp, c in self.curves.items()}
        return plot_km(t, e, g, labels=kwargs.pop("labels", labels), path=path, **kwargs)

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "summary", self.summary
        yield "curves", {str(g): c.to_dict() for g, c in self.curves.items()}


def _expand(table: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Times and event indicators that reproduce a KM table (events, then censorings)."""
    t = table["time"].to_numpy(float)
    d = table["n_event"].to_numpy(int)
    c = table["n_censor"].to_numpy(int)
    times = np.concatenate([np.repeat(t, d), np.repeat(t, c)])
    events = np.concatenate([np.ones(int(d.sum())), np.zeros(int(c.sum()))])
    return times, events


# ---------------------------------------------------------------------------- estimation
def _check(time: ArrayLike, event: ArrayLike, where: str,
           extra: Mapping[str, Any] | None = None) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    arrays = float_arrays(where, time=time, event=event)
    t, e = arrays["time"], arrays["event"]
    same_lengths(where, {"time": t.size, **{k: len(v) for k, v in (extra or {}).items()}})
    problems = Problems()
    problems.survival(t, e)
    for k, v in (extra or {}).items():
        problems.mask(k, pd.isna(pd.Series(v, dtype=object)).to_numpy(), "missing values")
    problems.raise_if_any(f"{where}cannot estimate survival", "Remove or correct these rows first.")
    if t.size == 0:
        raise AnalysisProblem(f"{where}no participants: the data are empty",
                              reason=Reason.TOO_FEW_PARTICIPANTS)
    return t, e == 1


def _km(t: NDArray[np.float64], ev: NDArray[np.bool_], level: float, label: str) -> KaplanMeier:
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(label=label, alpha=1 - level).fit(t, ev)
    et = kmf.event_table
    et = et[et["removed"] > 0]
    n_risk = et["at_risk"].to_numpy(float)
    d = et["observed"].to_numpy(float)
    surv = kmf.survival_function_.loc[et.index].to_numpy(float).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(d > 0, d / (n_risk * (n_risk - d)), 0.0)
    var = np.cumsum(inc)
    se = np.sqrt(var)
    z = stats.norm.ppf(0.5 + level / 2)
    pos = surv > 0
    with np.errstate(over="ignore", invalid="ignore"):
        lower = np.where(pos, surv * np.exp(-z * se), np.nan)
        upper = np.where(pos, np.minimum(1.0, surv * np.exp(z * se)), np.nan)
    table = pd.DataFrame({
        "time": et.index.to_numpy(float), "n_risk": n_risk.astype(int),
        "n_event": d.astype(int), "n_censor": et["censored"].to_numpy(int), "surv": surv,
        "std_err": se, "lower": lower, "upper": upper}, columns=list(TABLE_COLUMNS))
    return KaplanMeier(table=table, n=int(t.size), n_events=int(ev.sum()), level=level,
                       label=label, fitter=kmf)


def kaplan_meier(time: ArrayLike, event: ArrayLike, *, level: float = 0.95,
                 label: str = "all") -> KaplanMeier:
    """Kaplan-Meier estimate with R's default log confidence limits (``survfit``)."""
    if not 0 < level < 1:
        raise AnalysisProblem(f"level must be in (0, 1), not {level}", reason=Reason.BAD_OPTION,
                              option="level")
    t, ev = _check(time, event, f"{label}: " if label != "all" else "")
    return _km(t, ev, level, label)


def km_by_group(time: ArrayLike, event: ArrayLike, group: ArrayLike, *, level: float = 0.95,
                labels: Mapping[Hashable, str] | None = None) -> KMByGroup:
    """One Kaplan-Meier curve per group value (sorted), as ``survfit(Surv(t, e) ~ group)``."""
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    t, ev = _check(time, event, "", {"group": g.to_numpy()})
    curves: dict[Hashable, KaplanMeier] = {}
    for value in sorted(g.unique(), key=lambda v: (str(type(v)), v)):
        m = (g == value).to_numpy()
        name = (labels or {}).get(value, str(value))
        curves[value] = _km(t[m], ev[m], level, name)
    return KMByGroup(curves=curves)


def reverse_km_followup(time: ArrayLike, event: ArrayLike, group: ArrayLike, *,
                        level: float = 0.95) -> pd.DataFrame:
    """Median follow-up by group from the reverse Kaplan-Meier (censoring as the event).

    Columns :data:`FOLLOWUP_COLUMNS`: ``median_followup`` with its log-CI limits (R:
    ``survfit(Surv(time, 1 - event) ~ group)``, then ``quantile``), ``n_censored`` (the
    "events" of the reverse curve) and ``max_followup``. A median is ``None`` when fewer than
    half the participants of a group are censored before the last time (not reached).
    """
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    t, ev = _check(time, event, "", {"group": g.to_numpy()})
    rows = []
    for value in sorted(g.unique(), key=lambda v: (str(type(v)), v)):
        m = (g == value).to_numpy()
        km = _km(t[m], ~ev[m], level, str(value))
        med, lo, hi = km.quantile(0.5)
        rows.append({"group": value, "n": int(m.sum()), "n_censored": int((~ev[m]).sum()),
                     "median_followup": med, "ci_low": lo, "ci_high": hi,
                     "max_followup": float(t[m].max())})
    return pd.DataFrame(rows, columns=list(FOLLOWUP_COLUMNS))


def stratified_km(time: ArrayLike, event: ArrayLike, group: ArrayLike, trial: ArrayLike
                  ) -> pd.DataFrame:
    """Trial-stratified (directly standardised) survival by group.

    For each group, ``S(t) = sum_k w_k S_k(t)`` with ``S_k`` the group's Kaplan-Meier curve in
    trial ``k`` and ``w_k`` the trial's share of all participants (the same weights for every
    group, so the curves compare like with like). Defined up to the shortest follow-up among
    the trial-by-group curves (``S_k`` is unknown beyond it); columns: group, time, surv.
    """
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    tr = pd.Series(np.asarray(trial, dtype=object).ravel())
    t, ev = _check(time, event, "", {"group": g.to_numpy(), "trial": tr.to_numpy()})
    trials = sorted(tr.unique(), key=str)
    groups = sorted(g.unique(), key=lambda v: (str(type(v)), v))
    w = {k: float((tr == k).mean()) for k in trials}
    curves: dict[tuple[Any, Any], KaplanMeier] = {}
    missing, missing_trials = [], []
    for k in trials:
        for a in groups:
            m = ((tr == k) & (g == a)).to_numpy()
            if not m.any():
                missing.append(f"trial {k} has no participants in group {a}")
                missing_trials.append(k)
                continue
            curves[(k, a)] = _km(t[m], ev[m], 0.95, f"{k}/{a}")
    if missing:
        raise AnalysisProblem("a stratified Kaplan-Meier curve needs every group in every trial: "
                              + "; ".join(missing) + ". Leave those trials out, or plot the "
                              "overall (unstratified) curves.", reason=Reason.SINGLE_ARM,
                              trials=missing_trials)
    tend = min(float(c.table["time"].iloc[-1]) for c in curves.values())
    out = []
    for a in groups:
        grid = np.unique(np.concatenate([[0.0], t[(g == a).to_numpy() & (t <= tend)]]))
        s = np.zeros(grid.size)
        for k in trials:
            tab = curves[(k, a)].table
            idx = np.searchsorted(tab["time"].to_numpy(), grid, side="right") - 1
            sk = np.where(idx < 0, 1.0, tab["surv"].to_numpy()[np.clip(idx, 0, None)])
            s += w[k] * sk
        out.append(pd.DataFrame({"group": a, "time": grid, "surv": s}))
    return pd.concat(out, ignore_index=True)


# ---------------------------------------------------------------------------- plots
_PLOTS = ("plot_km", "plot_km_by_trial", "plot_km_pooled")


def __getattr__(name: str) -> Any:
    """The plots live in :mod:`analyses.km_plot` (layout in :mod:`analyses.km_layout`);
    ``from analyses.km import plot_km`` keeps working."""
    if name in _PLOTS:
        from analyses import km_plot

        return getattr(km_plot, name)
    raise AttributeError(f"module 'analyses.km' has no attribute {name!r}")

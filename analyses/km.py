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
* plots by arm, per trial (small multiples) and pooled, with a number-at-risk table, as PNG
  or SVG (:func:`plot_km`, :func:`plot_km_by_trial`, :func:`plot_km_pooled`).

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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analyses.results import ResultMixin
from repository.errors import AnalysisError, format_rows

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "KaplanMeier",
    "KMByGroup",
    "kaplan_meier",
    "km_by_group",
    "reverse_km_followup",
    "stratified_km",
    "plot_km",
    "plot_km_by_trial",
    "plot_km_pooled",
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
            raise AnalysisError(f"quantile probability must be in (0, 1), not {p}")
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

    def _dict_items(self) -> Iterator[tuple[str, Any]]:
        yield "summary", self.summary
        yield "curves", {str(g): c.to_dict() for g, c in self.curves.items()}


# ---------------------------------------------------------------------------- estimation
def _check(time: ArrayLike, event: ArrayLike, where: str,
           extra: Mapping[str, Any] | None = None) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    try:
        t = np.asarray(time, dtype=float).ravel()
        e = np.asarray(event, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{where}time and event must be numeric (event 1 = event, "
                            "0 = censored)") from exc
    lengths = {"time": t.size, "event": e.size,
               **{k: len(v) for k, v in (extra or {}).items()}}
    if len(set(lengths.values())) != 1:
        raise AnalysisError(f"{where}inputs have different lengths: {lengths}", lengths=lengths)
    problems: list[str] = []
    rows: dict[str, list[int]] = {}
    for name, mask, what in [
        ("time", ~np.isfinite(t), "missing or non-finite values"),
        ("time", np.isfinite(t) & (t < 0), "negative times"),
        ("event", ~np.isfinite(e), "missing values"),
        ("event", np.isfinite(e) & (e != 0) & (e != 1), "values other than 0/1"),
        *[(k, pd.isna(pd.Series(v, dtype=object)).to_numpy(), "missing values")
          for k, v in (extra or {}).items()],
    ]:
        idx = (np.flatnonzero(mask) + 1).tolist()
        if idx:
            rows[name] = idx
            problems.append(f"{name}: {what} in {format_rows(idx)}")
    if problems:
        raise AnalysisError(f"{where}cannot estimate survival: " + "; ".join(problems)
                            + ". Remove or correct these rows first.", rows=rows)
    if t.size == 0:
        raise AnalysisError(f"{where}no participants: the data are empty")
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
        raise AnalysisError(f"level must be in (0, 1), not {level}")
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
    missing = []
    for k in trials:
        for a in groups:
            m = ((tr == k) & (g == a)).to_numpy()
            if not m.any():
                missing.append(f"trial {k} has no participants in group {a}")
                continue
            curves[(k, a)] = _km(t[m], ev[m], 0.95, f"{k}/{a}")
    if missing:
        raise AnalysisError("a stratified Kaplan-Meier curve needs every group in every trial: "
                            + "; ".join(missing) + ". Leave those trials out, or plot the "
                            "overall (unstratified) curves.", trial=missing)
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
def _save(fig: Figure, path: str | Path | None) -> None:
    if path is None:
        return
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise AnalysisError(f"cannot save a plot as {p.name!r}: use a .png, .svg or .pdf name")
    fig.savefig(p, bbox_inches="tight", dpi=150 if p.suffix.lower() == ".png" else None)


def _draw(ax: Axes, km: KaplanMeier, *, ci: bool, color: Any = None) -> None:
    km.fitter.plot_survival_function(ax=ax, ci_show=False, show_censors=True, color=color,
                                     censor_styles={"ms": 4, "marker": "|"})
    if ci:
        line = ax.get_lines()[-1]
        tab = km.table
        x = np.concatenate([[0.0], tab["time"].to_numpy(float)])
        lo = np.concatenate([[1.0], tab["lower"].to_numpy(float)])
        hi = np.concatenate([[1.0], tab["upper"].to_numpy(float)])
        ax.fill_between(x, np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=0.0), step="post",
                        alpha=0.15, color=line.get_color(), linewidth=0)


def _arm_labels(labels: Sequence[str] | Mapping[Hashable, str] | None,
                values: Sequence[Hashable]) -> dict[Hashable, str]:
    if labels is None:
        return {v: str(v) for v in values}
    if isinstance(labels, Mapping):
        return {v: labels.get(v, str(v)) for v in values}
    if len(labels) != len(values):
        raise AnalysisError(f"{len(labels)} labels for {len(values)} groups ({list(values)})")
    return dict(zip(values, labels))


def plot_km(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike | None = None,
    *,
    labels: Sequence[str] | Mapping[Hashable, str] | None = None,
    ax: Axes | None = None,
    at_risk: bool = True,
    ci: bool = True,
    title: str | None = None,
    xlabel: str = "Time",
    ylabel: str = "Survival probability",
    path: str | Path | None = None,
) -> Figure:
    """Kaplan-Meier curves (by ``group`` if given) with R's log CI bands and a number-at-risk
    table under the axes (lifelines' ``add_at_risk_counts``). Saved to ``path`` (.png/.svg)."""
    import matplotlib.pyplot as plt
    from lifelines.plotting import add_at_risk_counts

    if group is None:
        res = km_by_group(time, event, np.zeros(np.asarray(time).size), labels={0: "all"})
    else:
        values = sorted(pd.Series(np.asarray(group, dtype=object)).dropna().unique(),
                        key=lambda v: (str(type(v)), v))
        res = km_by_group(time, event, group, labels=_arm_labels(labels, values))
    fig: Any
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    else:
        fig = ax.figure
    for km in res.curves.values():
        _draw(ax, km, ci=ci)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if at_risk:
        add_at_risk_counts(*[c.fitter for c in res.curves.values()], ax=ax,
                           rows_to_show=["At risk"])
    fig.tight_layout()
    _save(fig, path)
    return fig


def _natural(value: Any) -> tuple[int, float, str]:
    """Sort key putting trial labels "2" before "10" (numbers first, then text)."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _frame_arrays(data: pd.DataFrame, trial: str, time: str, event: str, treatment: str,
                  treated_value: Any) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    missing = [c for c in (trial, time, event, treatment) if c not in data.columns]
    if missing:
        raise AnalysisError(f"columns {missing} are not in the data "
                            f"(columns: {list(data.columns)})", variable=missing)
    arm = pd.Series(np.where(data[treatment] == treated_value, 1, 0), index=data.index)
    arm[data[treatment].isna()] = -1
    if (arm == -1).any():
        rows = (np.flatnonzero(arm.to_numpy() == -1) + 1).tolist()
        raise AnalysisError(f"{treatment}: missing values in {format_rows(rows)}",
                            variable=treatment, rows=rows)
    return data[trial], data[time], data[event], arm


def plot_km_by_trial(
    data: pd.DataFrame,
    *,
    trial: str,
    time: str,
    event: str,
    treatment: str,
    treated_value: Any = 1,
    labels: Sequence[str] = ("Control", "Treated"),
    ncols: int = 4,
    at_risk: bool = True,
    ci: bool = False,
    xlabel: str = "Time",
    path: str | Path | None = None,
) -> Figure:
    """Small multiples: one panel per trial with its KM curves by arm (and numbers at risk)."""
    import matplotlib.pyplot as plt
    from lifelines.plotting import add_at_risk_counts

    tr, t, e, arm = _frame_arrays(data, trial, time, event, treatment, treated_value)
    trials = sorted(tr.dropna().unique(), key=_natural)
    if not trials:
        raise AnalysisError("no trials to plot: the data are empty")
    ncols = max(1, min(ncols, len(trials)))
    nrows = math.ceil(len(trials) / ncols)
    height = 3.6 if at_risk else 2.8
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, height * nrows), squeeze=False)
    for ax, k in zip(axes.flat, trials):
        m = (tr == k).to_numpy()
        res = km_by_group(t[m], e[m], arm[m], labels={0: labels[0], 1: labels[1]})
        for a, km in res.curves.items():
            _draw(ax, km, ci=ci, color="C0" if a == 0 else "C1")
        ax.set_title(f"{trial} {k} (n={int(m.sum())})", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        leg = ax.get_legend()
        if leg is not None:
            leg.remove()
        if at_risk:
            add_at_risk_counts(*[c.fitter for c in res.curves.values()], ax=ax,
                               rows_to_show=["At risk"], fontsize=7)
    for ax in list(axes.flat)[len(trials):]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right")
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_km_pooled(
    data: pd.DataFrame,
    *,
    trial: str,
    time: str,
    event: str,
    treatment: str,
    treated_value: Any = 1,
    method: Literal["overall", "stratified"] = "overall",
    labels: Sequence[str] = ("Control", "Treated"),
    at_risk: bool = True,
    xlabel: str = "Time",
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Pooled KM curves by arm across trials.

    ``method="overall"``: all participants together (the usual display; it ignores trial, so
    it can mislead when allocation ratios differ between trials - say so in captions).
    ``method="stratified"``: :func:`stratified_km` (trial-weighted average of within-trial
    curves), shown without CI bands; the number-at-risk table counts all trials.
    """
    import matplotlib.pyplot as plt
    from lifelines.plotting import add_at_risk_counts

    if method not in ("overall", "stratified"):
        raise AnalysisError(f"method must be 'overall' or 'stratified', not {method!r}")
    tr, t, e, arm = _frame_arrays(data, trial, time, event, treatment, treated_value)
    k = tr.nunique()
    if method == "overall":
        fig = plot_km(t, e, arm, labels={0: labels[0], 1: labels[1]}, at_risk=at_risk,
                      xlabel=xlabel, title=title or f"All {k} trials combined (not stratified)")
        _save(fig, path)
        return fig
    strat = stratified_km(t, e, arm, tr)
    res = km_by_group(t, e, arm, labels={0: labels[0], 1: labels[1]})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for a, sub in strat.groupby("group"):
        ax.step(sub["time"], sub["surv"], where="post", color="C0" if a == 0 else "C1",
                label=labels[int(a)])
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Survival probability")
    ax.legend()
    ax.set_title(title or f"Stratified by trial ({k} trials; trial-weighted average)")
    if at_risk:
        add_at_risk_counts(*[c.fitter for c in res.curves.values()], ax=ax,
                           rows_to_show=["At risk"])
    fig.tight_layout()
    _save(fig, path)
    return fig

"""The layouts of the small plots, computed apart from drawing them (no figure here).

As for forest plots (:mod:`analyses.forest_layout`) and Kaplan-Meier plots
(:mod:`analyses.km_layout`), every plot is two steps: a pure function turns a result into a
frozen layout - the points, lines, bands, labels and limits in display units - and a drawing
function turns the layout into a matplotlib figure. Tests check the layouts without drawing;
the drawing modules hold no statistics.

==================  =====================================  ===================================
layout              from                                   drawn by
==================  =====================================  ===================================
:class:`Funnel`     a pooled result (and trim and fill)    :func:`analyses.diagnostic_plots.funnel_plot`
:class:`Baujat`     :class:`~analyses.diagnostics.Diagnostics`  :func:`analyses.diagnostic_plots.baujat_plot`
:class:`ZPHPlot`    a :class:`~analyses.cox_zph.PHTest` term  :func:`analyses.zph_plot.plot_zph`
:class:`Surrogacy`  a :class:`~analyses.surrogacy.SurrogacyResult`  :func:`analyses.surrogacy_plot.plot_trial_level`
:class:`Estimates`  labelled estimates (Cox, one-stage)    :func:`analyses.estimate_plot.coefficient_plot`
==================  =====================================  ===================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analyses.formatting import fmt_ci, fmt_p, is_ratio, measure_name

__all__ = ["Funnel", "Baujat", "ZPHPlot", "Surrogacy", "Estimates", "funnel_layout",
           "baujat_layout", "zph_layout", "surrogacy_layout", "estimates_layout",
           "prediction_band", "axis_limits"]

F = NDArray[np.float64]
Floats = tuple[float, ...]


def _t(values: Any) -> Floats:
    return tuple(float(v) for v in np.asarray(values, dtype=float).ravel())


def axis_limits(*values: ArrayLike, log: bool, pad: float = 0.05
                ) -> tuple[float, float, Floats]:
    """``(lo, hi, ticks)`` of an axis showing every finite value (> 0 on a log axis), padded by
    ``pad`` of the range on each side (on the log scale for a log axis, as matplotlib
    pads); a log axis gets ticks at powers of two, written plainly (0.5, 1, 2)."""
    from analyses.forest_layout import log_ticks

    v = np.concatenate([np.asarray(x, dtype=float).ravel() for x in values])
    v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    if v.size == 0:
        v = np.array([0.5, 2.0] if log else [-1.0, 1.0])
    lo, hi = (np.log(v.min()), np.log(v.max())) if log else (v.min(), v.max())
    width = hi - lo if hi > lo else 1.0
    lo, hi = float(lo - pad * width), float(hi + pad * width)
    if not log:
        return lo, hi, ()
    lo, hi = math.exp(lo), math.exp(hi)
    return lo, hi, tuple(t for t in log_ticks(lo, hi) if lo <= t <= hi)


# ---------------------------------------------------------------------------- funnel
@dataclass(frozen=True)
class Funnel:
    """Trials at (estimate, standard error), display scale; the pooled line and the pseudo
    confidence region ``mu +/- 1.96 se`` sampled at ``region_se``; the y axis runs from
    ``top`` down to 0, the x axis over ``xlim`` (ticks ``xticks`` on a log axis)."""

    x: Floats
    se: Floats
    filled_x: Floats
    filled_se: Floats
    k0: int
    centre: float
    region_se: Floats
    region_low: Floats
    region_high: Floats
    top: float
    log_x: bool
    xlim: tuple[float, float]
    xticks: Floats
    xlabel: str
    ylabel: str
    title: str


def funnel_layout(res: Any, *, trimfill: dict[str, Any] | None = None,
                  title: str | None = None) -> Funnel:
    """metafor's default funnel: estimates against standard errors (see the module docstring);
    ratio measures on a log axis, trim-and-fill trials apart."""
    st = res.studies[np.isfinite(res.studies["yi"].to_numpy(float))]
    y, se = st["yi"].to_numpy(float), np.sqrt(st["vi"].to_numpy(float))
    ratio = is_ratio(res.measure)
    tr = np.exp if ratio else (lambda v: v)
    top = float(se.max()) * 1.08
    s = np.linspace(0, top, 50)
    filled = (trimfill or {}).get("filled") or []
    fy = np.array([f["yi"] for f in filled], dtype=float)
    fs = np.sqrt(np.array([f["vi"] for f in filled], dtype=float))
    low, high = tr(res.estimate - 1.96 * s), tr(res.estimate + 1.96 * s)
    lo, hi, ticks = axis_limits(tr(y), tr(fy), low, high, log=ratio)
    return Funnel(
        x=_t(tr(y)), se=_t(se), filled_x=_t(tr(fy)), filled_se=_t(fs),
        k0=int((trimfill or {}).get("k0", 0)) if filled else 0,
        centre=float(tr(res.estimate)), region_se=_t(s),
        region_low=_t(low), region_high=_t(high),
        top=top, log_x=ratio, xlim=(lo, hi), xticks=ticks, xlabel=measure_name(res.measure) if res.measure else "Estimate",
        ylabel="Standard error", title=title or "Funnel plot")


# ---------------------------------------------------------------------------- Baujat
@dataclass(frozen=True)
class Baujat:
    """One labelled point per trial: contribution to heterogeneity (x), influence (y)."""

    x: Floats
    y: Floats
    labels: tuple[str, ...]
    xlabel: str
    ylabel: str
    title: str


def baujat_layout(diag: Any, *, title: str | None = None) -> Baujat:
    """metafor's ``baujat``: the points of :attr:`Diagnostics.baujat`."""
    b = diag.baujat
    fe = diag.result.tau2 is None
    return Baujat(x=_t(b["x"]), y=_t(b["y"]), labels=tuple(str(t) for t in b["trial"]),
                  xlabel="Contribution to overall heterogeneity" if fe
                  else "Squared Pearson residual",
                  ylabel="Influence on overall result", title=title or "Baujat plot")


# ---------------------------------------------------------------------------- cox.zph
@dataclass(frozen=True)
class ZPHPlot:
    """Scaled Schoenfeld residuals of one term against (transformed) time, R's spline smooth
    with its +/- 2 SE band, the coefficient; ``xticks``/``xticklabels`` place real times on a
    transformed axis (``None``: the axis is in time units)."""

    x: Floats
    y: Floats
    grid: Floats
    fit: Floats
    low: Floats
    high: Floats
    coef: float
    xticks: Floats | None
    xticklabels: tuple[str, ...] | None
    xlabel: str
    ylabel: str
    title: str


def _time_ticks(zph: Any) -> tuple[Floats | None, tuple[str, ...] | None]:
    """For transformed time (km, rank) ticks at rounded real times, as R does."""
    if zph.transform in ("identity", "log"):
        return None, None
    x, t = zph.x, zph.time
    keep = np.unique(x, return_index=True)[1]
    xs, ts = x[keep], t[keep]
    pos = np.linspace(xs.min(), xs.max(), 17)[1::2]
    times = np.array([float(f"{v:.2g}") for v in np.interp(pos, xs, ts)])
    return _t(np.interp(times, ts, xs)), tuple(f"{v:g}" for v in times)


def zph_layout(zph: Any, *, term: str | None = None, title: str | None = None,
               xlabel: str = "Time") -> ZPHPlot:
    """R's ``plot.cox.zph`` for ``term`` (default: the first)."""
    from analyses.cox_zph import spline_smooth

    name = term or zph.names[0]
    j = list(zph.names).index(name)
    y = zph.y[:, j]
    grid, fit, half = spline_smooth(zph.x, y, float(zph.var[j, j]))
    ok = np.isfinite(y)
    ticks, labels = _time_ticks(zph)
    row = zph.term(name)
    return ZPHPlot(
        x=_t(zph.x[ok]), y=_t(y[ok]), grid=_t(grid), fit=_t(fit), low=_t(fit - half),
        high=_t(fit + half), coef=float(zph.coef[j]), xticks=ticks, xticklabels=labels,
        xlabel=f"{xlabel} ({zph.transform} scale)" if zph.transform != "identity" else xlabel,
        ylabel=f"Beta(t) for {name}",
        title=title or f"Proportional hazards: {name} (\u03c7\u00b2 = {row['chisq']:.2f}, "
                       f"{fmt_p(row['p'])})")


# ---------------------------------------------------------------------------- surrogacy
@dataclass(frozen=True)
class Surrogacy:
    """Hazard ratios (display scale): one bubble per trial (``sizes`` in points^2), the
    weighted regression line with its 95% prediction band over ``grid``, the surrogate
    threshold effect (``None`` when there is none), the R^2 / Kendall's tau text; both axes
    are log axes over ``xlim``/``ylim`` with ticks ``xticks``/``yticks``."""

    x: Floats
    y: Floats
    sizes: Floats
    grid: Floats
    fit: Floats
    low: Floats
    high: Floats
    ste: float | None
    heading: str
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    xticks: Floats
    yticks: Floats
    xlabel: str
    ylabel: str
    title: str


def prediction_band(res: Any, x: F) -> tuple[F, F, F]:
    """Fitted line and 95% prediction limits (log HR scale) at ``x``, for a new trial of
    average weight - the band the surrogate threshold effect is read from."""
    t = res.per_trial
    w = t["weight"].to_numpy(float)
    w = w / w.mean()
    X = np.column_stack([np.ones(len(t)), t["log_hr_surrogate"].to_numpy(float)])
    cov_u = np.linalg.inv((X.T * w) @ X)
    tl = res.trial_level
    fit = tl["intercept"] + tl["slope"] * x
    q = cov_u[0, 0] + 2 * cov_u[0, 1] * x + cov_u[1, 1] * x**2
    half = float(stats.t.isf(0.025, len(t) - 2)) * tl["residual_se"] * np.sqrt(1 + q)
    return fit, fit - half, fit + half


def surrogacy_layout(res: Any, *, title: str | None = None,
                     xlabel: str = "Hazard ratio, surrogate endpoint",
                     ylabel: str = "Hazard ratio, true endpoint") -> Surrogacy:
    """The trial-level surrogacy plot (see the module docstring)."""
    t = res.per_trial
    xs, ys = t["log_hr_surrogate"].to_numpy(float), t["log_hr_true"].to_numpy(float)
    w = t["weight"].to_numpy(float)
    pad = 0.15 * (xs.max() - xs.min() + 0.1)
    grid = np.linspace(min(xs.min(), 0) - pad, max(xs.max(), 0) + pad, 100)
    fit, lo, hi = prediction_band(res, grid)
    tl = res.trial_level
    heading = f"R\u00b2 (trial) = {fmt_ci(tl['r2'], *tl['r2_ci'])}"
    if res.individual_level is not None:
        il = res.individual_level
        heading += f"\nKendall's \u03c4 = {fmt_ci(il['kendall_tau'], *il['ci'])}"
    ste = None if tl["ste"] is None else float(tl["ste_hr"])
    x0, x1, xticks = axis_limits(np.exp(grid), [] if ste is None else [ste], log=True, pad=0)
    y0, y1, yticks = axis_limits(np.exp(ys), np.exp(lo), np.exp(hi), [1.0], log=True)
    return Surrogacy(
        x=_t(np.exp(xs)), y=_t(np.exp(ys)), sizes=_t(600 * w / w.max()), grid=_t(np.exp(grid)),
        fit=_t(np.exp(fit)), low=_t(np.exp(lo)), high=_t(np.exp(hi)), ste=ste,
        heading=heading, xlim=(x0, x1), ylim=(y0, y1), xticks=xticks, yticks=yticks,
        xlabel=xlabel, ylabel=ylabel,
        title=title or f"Trial-level surrogacy ({tl['k']} trials)")


# ---------------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Estimates:
    """Labelled estimates top to bottom (rows ``0 .. n-1``), with intervals when given, and a
    pooled diamond ``(estimate, low, high)`` at row ``diamond_row``; values on the display
    scale; the figure is ``height`` inches tall with the axes at ``axes`` (figure
    fractions: left, bottom, width, height)."""

    labels: tuple[str, ...]
    estimate: Floats
    low: Floats | None
    high: Floats | None
    diamond: tuple[float, float, float] | None
    diamond_row: float | None
    ticks: Floats
    tick_labels: tuple[str, ...]
    null: float
    log: bool
    xlabel: str
    title: str | None
    height: float
    axes: tuple[float, float, float, float]
    ylim: tuple[float, float]


def estimates_layout(labels: Sequence[str], est: Sequence[float], lo: Sequence[float] | None,
                     hi: Sequence[float] | None, *, log: bool, xlabel: str,
                     title: str | None = None,
                     pooled: tuple[float, float, float] | None = None) -> Estimates:
    """A compact coefficient plot (see :class:`Estimates`)."""
    n = len(labels) + (2 if pooled else 0)
    height = 0.9 + 0.26 * n
    ticks = [float(v) for v in range(len(labels))]
    names = list(map(str, labels))
    row = None
    if pooled:
        row = float(len(labels) + 1)
        ticks.append(row)
        names.append("Pooled")
    return Estimates(
        labels=tuple(map(str, labels)), estimate=_t(est),
        low=None if lo is None or hi is None else _t(lo),
        high=None if lo is None or hi is None else _t(hi),
        diamond=None if pooled is None else (float(pooled[0]), float(pooled[1]),
                                             float(pooled[2])),
        diamond_row=row, ticks=tuple(ticks), tick_labels=tuple(names),
        null=1.0 if log else 0.0, log=log, xlabel=xlabel, title=title, height=height,
        axes=(0.3, 0.9 / height, 0.65, 0.26 * n / height), ylim=(n - 0.5, -0.7))

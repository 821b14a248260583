"""The layout of Kaplan-Meier plots, computed apart from drawing them (no figure here).

A :class:`KMLayout` holds one or more :class:`KMPanel`: the step curves in display units
(times divided into the display unit: days, weeks, months or years), their confidence bands
(R's log limits), censoring marks, median lines, the axis breaks, the numbers at risk at each
break and the numbers censored between breaks per arm (coloured like the curves), the
log-rank p (or hazard ratio) to print, and - for the trial-stratified pooled curve - where it
stops and why. :func:`km_page` places it on the page: the figure size and, in figure
fractions, every panel's axes, table and the notes, source and title lines.
:mod:`analyses.km_plot` draws it, survminer-style.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analyses.errors import AnalysisProblem, Reason
from analyses.forest_layout import linear_ticks
from analyses.formatting import fmt_ci, fmt_p
from analyses.km import KaplanMeier, km_by_group, stratified_km

__all__ = ["KMOptions", "KMLayout", "KMPanel", "Curve", "TableRow", "UNITS", "ARM_COLORS",
           "km_panel", "stratified_panel", "km_layout", "unit_factor", "KMPage", "km_page",
           "ROW_INCHES"]

#: Time units and their length in days.
UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 30.4375, "years": 365.25}
#: Colours of control and treated (ColorBrewer RdBu ends; print and colour-blind safe).
ARM_COLORS: tuple[str, ...] = ("#2166ac", "#b2182b", "#1b7837", "#762a83", "#e08214",
                               "#4d4d4d")
ANNOTATIONS: tuple[str, ...] = ("logrank", "hr", "none")
#: The most axis breaks (and numbers-at-risk columns) a plot may have.
MAX_BREAKS = 60


@dataclass(frozen=True)
class KMOptions:
    """Display options (see :func:`analyses.km_plot.plot_km`)."""

    title: str | None = None
    xlabel: str | None = None
    ylabel: str = "Survival probability"
    ci: bool = True
    at_risk: bool = True
    censored: bool = False
    median: bool = True
    annotate: str = "logrank"
    time_unit: str | None = None
    display_unit: str | None = None
    break_every: float | None = None
    xmax: float | None = None
    source: str | None = None


@dataclass(frozen=True)
class Curve:
    """One step curve in display units (``x`` times, ``y`` survival), its band, marks."""

    label: str
    color: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    censor_x: tuple[float, ...]
    censor_y: tuple[float, ...]
    median: float | None


@dataclass(frozen=True)
class TableRow:
    label: str
    color: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class KMPanel:
    """One plot: curves, axis breaks and limit, risk and censoring tables, annotations.

    ``censored`` counts are per interval ending at each break (the first is 0)."""

    title: str | None
    curves: tuple[Curve, ...]
    breaks: tuple[float, ...]
    xmax: float
    at_risk: tuple[TableRow, ...]
    censored: tuple[TableRow, ...]
    annotation: str | None
    stop: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class KMLayout:
    panels: tuple[KMPanel, ...]
    ncols: int
    xlabel: str
    ylabel: str
    title: str | None
    source: str | None
    ci: bool
    median: bool


def unit_factor(time_unit: str | None, display_unit: str | None) -> float:
    """Divide data times by this to get display times."""
    if display_unit is None or time_unit is None:
        if display_unit is not None and time_unit is None:
            raise AnalysisProblem("give the unit of the data (time_unit, CLI --time-unit) to "
                                f"show the time in {display_unit}", reason=Reason.BAD_OPTION)
        return 1.0
    for u in (time_unit, display_unit):
        if u not in UNITS:
            raise AnalysisProblem(f"unknown time unit {u!r}; use {', '.join(UNITS)}",
                                reason=Reason.BAD_OPTION)
    return UNITS[display_unit] / UNITS[time_unit]


def _curve(km: KaplanMeier, label: str, color: str, f: float) -> Curve:
    tab = km.table
    t = tab["time"].to_numpy(float) / f
    s = tab["surv"].to_numpy(float)
    cens = tab["n_censor"].to_numpy(int) > 0
    lo = np.nan_to_num(tab["lower"].to_numpy(float), nan=0.0)
    hi = np.nan_to_num(tab["upper"].to_numpy(float), nan=0.0)
    med = km.median
    return Curve(label, color, tuple([0.0, *t]), tuple([1.0, *s]), tuple([1.0, *lo]),
                 tuple([1.0, *hi]), tuple(t[cens]), tuple(s[cens]),
                 None if med is None else med / f)


def _at_risk(km: KaplanMeier, breaks: Sequence[float], f: float) -> tuple[int, ...]:
    tab = km.table
    times = tab["time"].to_numpy(float)
    nxt = np.searchsorted(times, np.asarray(breaks) * f - 1e-9 * f, side="left")
    return tuple(int(tab["n_risk"].iloc[j]) if j < len(tab) else 0 for j in nxt)


def _censored(km: KaplanMeier, breaks: Sequence[float], f: float) -> tuple[int, ...]:
    tab = km.table
    times = tab["time"].to_numpy(float) / f
    c = tab["n_censor"].to_numpy(int)
    out, prev = [], -math.inf
    for b in breaks:
        out.append(int(c[(times > prev) & (times <= b)].sum()) if prev > -math.inf else 0)
        prev = b
    return tuple(out)


def _breaks(xmax: float, every: float | None) -> tuple[float, ...]:
    if every is not None:
        n = xmax / every + 1e-9 if every > 0 and math.isfinite(every) else math.nan
        if not 0 <= n <= MAX_BREAKS:
            raise AnalysisProblem(
                f"break_every must be a positive number giving at most {MAX_BREAKS} breaks up "
                f"to {xmax:g}, not {every}", reason=Reason.BAD_OPTION, option="break_every")
        n = int(math.floor(n))
        return tuple(round(i * every, 10) for i in range(n + 1))
    return tuple(b for b in linear_ticks(0.0, xmax, 8) if b <= xmax + 1e-9)


def _annotation(how: str, time: Any, event: Any, group: Any, strata: Any = None) -> str | None:
    if how == "none":
        return None
    if how not in ANNOTATIONS:
        raise AnalysisProblem(f"annotate must be one of {', '.join(ANNOTATIONS)}, not {how!r}",
                            reason=Reason.BAD_OPTION)
    from analyses.logrank import logrank

    lr = logrank(time, event, group, strata=strata)
    where = " (stratified by trial)" if strata is not None else ""
    text = f"Log-rank {fmt_p(lr.p)}{where}"
    if how == "hr":
        from analyses.cox import coxph

        fit = coxph(time, event, np.asarray(group, dtype=float), strata=strata)
        lo, hi = np.exp(fit.ci[0])
        text = f"HR {fmt_ci(math.exp(fit.coef[0]), lo, hi)}\n{text}"
    return text


def km_panel(time: Any, event: Any, group: Any, labels: Mapping[Any, str], opts: KMOptions,
             *, title: str | None = None, strata: Any = None, xmax: float | None = None
             ) -> KMPanel:
    """One panel: the Kaplan-Meier curve of every group (group values sorted)."""
    f = unit_factor(opts.time_unit, opts.display_unit)
    res = km_by_group(time, event, group)
    curves = tuple(_curve(km, labels.get(g, str(g)), ARM_COLORS[i % len(ARM_COLORS)], f)
                   for i, (g, km) in enumerate(res.curves.items()))
    top = opts.xmax or xmax or max(c.x[-1] for c in curves)
    breaks = _breaks(top, opts.break_every)
    kms = list(res.curves.values())
    risk = tuple(TableRow(c.label, c.color, _at_risk(k, breaks, f)) for c, k in zip(curves, kms))
    cens = tuple(TableRow(c.label, c.color, _censored(k, breaks, f)) for c, k in zip(curves, kms))
    two = len(curves) == 2 and pd.Series(np.asarray(group)).nunique() == 2
    ann = _annotation(opts.annotate, time, event, _codes(group), strata) if two else None
    return KMPanel(title, curves, breaks, top, risk if opts.at_risk else (),
                   cens if opts.censored else (), ann)


def _codes(group: Any) -> Any:
    values = sorted(pd.Series(np.asarray(group, dtype=object)).unique(),
                    key=lambda v: (str(type(v)), v))
    return pd.Series(np.asarray(group, dtype=object)).map({values[0]: 0, values[1]: 1}).to_numpy()


def stratified_panel(time: Any, event: Any, arm: Any, trial: Any, labels: Mapping[int, str],
                     opts: KMOptions, *, title: str | None = None) -> KMPanel:
    """The trial-stratified (trial-weighted) pooled curves, with where and why they stop."""
    f = unit_factor(opts.time_unit, opts.display_unit)
    t = np.asarray(time, dtype=float)
    frame = pd.DataFrame({"t": t, "arm": np.asarray(arm), "trial": np.asarray(trial)})
    strat = stratified_km(t, event, arm, trial)
    last = frame.groupby(["trial", "arm"])["t"].max()
    (stop_trial, stop_arm), stop = last.idxmin(), float(last.min())
    curves = []
    for i, (a, sub) in enumerate(strat.groupby("group")):
        x = sub["time"].to_numpy(float) / f
        y = sub["surv"].to_numpy(float)
        curves.append(Curve(labels.get(int(a), str(a)), ARM_COLORS[i], tuple(x), tuple(y), (),
                            (), (), (), _median_of_steps(x, y)))
    base = km_panel(time, event, arm, labels, opts, strata=trial,
                    xmax=opts.xmax or stop / f)
    unit = opts.display_unit or opts.time_unit or "time units"
    note = (f"Curves stop at {stop / f:.4g} {unit}: the shortest follow-up of any trial and "
            f"arm (trial {stop_trial}, {labels.get(int(stop_arm), stop_arm)}); beyond it that "
            "trial's curve, and so the trial-weighted average, is unknown.")
    return KMPanel(title, tuple(curves), base.breaks, base.xmax, base.at_risk, base.censored,
                   base.annotation, stop / f, note)


def _median_of_steps(x: np.ndarray, y: np.ndarray) -> float | None:
    below = np.flatnonzero(y <= 0.5)
    return float(x[below[0]]) if below.size else None


def km_layout(panels: Sequence[KMPanel], opts: KMOptions, *, ncols: int = 1) -> KMLayout:
    unit = opts.display_unit or opts.time_unit
    xlabel = opts.xlabel or (f"Time ({unit})" if unit else "Time")
    return KMLayout(tuple(panels), max(1, min(ncols, len(panels))), xlabel, opts.ylabel,
                    opts.title, opts.source, opts.ci, opts.median)


# ------------------------------------------------------------------------ the page
#: Height of one numbers-at-risk table row, in inches.
ROW_INCHES = 0.17

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class KMPage:
    """Where everything goes: the figure is ``width`` x ``height`` inches; ``axes[i]`` is
    panel ``i``'s curve axes (left, bottom, width, height) and ``tables[i]`` its table (left,
    top, width, row height), ``label_gap`` the space between the arm labels and the table's
    first column, ``notes`` and ``source`` the left/top of each line of small print and
    ``title_at`` the title's (all in figure fractions)."""

    width: float
    height: float
    axes: tuple[Box, ...]
    tables: tuple[Box, ...]
    label_gap: float
    notes: tuple[tuple[float, float], ...]
    source: tuple[float, float] | None
    title_at: tuple[float, float] | None


def _panel_inches(layout: KMLayout, panel: KMPanel) -> tuple[float, float, float]:
    """(width, curve height, table height) in inches."""
    single = len(layout.panels) == 1
    rows = len(panel.at_risk) + len(panel.censored)
    blocks = (1 if panel.at_risk else 0) + (1 if panel.censored else 0)
    table = (rows + blocks) * ROW_INCHES + (0.35 if rows else 0)
    return (6.4 if single else 4.0), (3.6 if single else 2.5), table


def km_page(layout: KMLayout) -> KMPage:
    """The page of ``layout``: panels on a grid of ``layout.ncols`` columns, each with its
    table underneath; the notes, then the source, at the bottom; the title at the top."""
    sizes = [_panel_inches(layout, p) for p in layout.panels]
    pw, ch, th = (max(s[k] for s in sizes) for k in range(3))
    left, gap_x, top, gap_y = 1.55, 1.6, (0.55 if layout.title else 0.25), 0.75
    notes = [p.note for p in layout.panels if p.note]
    bottom = 0.1 + (0.25 if layout.source else 0) + 0.4 * len(notes)
    ncols = layout.ncols
    nrows = math.ceil(len(layout.panels) / ncols)
    W = left + ncols * pw + (ncols - 1) * gap_x + 0.3
    H = top + nrows * (ch + 0.55 + th) + (nrows - 1) * gap_y + bottom
    axes, tables = [], []
    for i in range(len(layout.panels)):
        r, c = divmod(i, ncols)
        x = left + c * (pw + gap_x)
        y = top + r * (ch + 0.55 + th + gap_y)  # from the top
        axes.append((x / W, 1 - (y + ch) / H, pw / W, ch / H))
        tables.append((x / W, 1 - (y + ch + 0.55) / H, pw / W, ROW_INCHES / H))
    lines = [1 - (H - bottom + 0.05 + 0.4 * j) / H for j in range(len(notes) + 1)]
    return KMPage(width=W, height=H, axes=tuple(axes), tables=tuple(tables), label_gap=0.3 / W,
                  notes=tuple((0.2 / W, y) for y in lines[:-1]),
                  source=(0.2 / W, lines[-1]) if layout.source else None,
                  title_at=(0.2 / W, 1 - 0.15 / H) if layout.title else None)

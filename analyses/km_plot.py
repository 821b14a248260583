"""Kaplan-Meier plots on par with survminer: curves with R's log CI bands, censoring marks,
median lines, the log-rank p (or hazard ratio) on the plot, numbers at risk and numbers
censored coloured by arm, time units and axis breaks you choose, small multiples per trial
and the trial-stratified pooled curve with a note on where it stops.

The layout is computed by :mod:`analyses.km_layout`; this module only draws it. Figures use
matplotlib's object interface (no pyplot state) and are saved by
:func:`analyses.forest.save_figure` (PNG, SVG with real text, PDF).

Example::

    plot_km(data["os_time_days"], data["os_event"], data["arm"],
            labels={0: "Surgery alone", 1: "Chemotherapy"}, time_unit="days",
            display_unit="years", break_every=1, path="km-os.svg")
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analyses.checks import Problems, numeric_column, require_columns
from analyses.errors import AnalysisProblem, Reason
from analyses.forest import save_figure
from analyses.km_layout import (
    KMLayout,
    KMOptions,
    KMPanel,
    km_layout,
    km_page,
    km_panel,
    stratified_panel,
)

__all__ = ["plot_km", "plot_km_by_trial", "plot_km_pooled", "draw_km"]

_FONT = 8.5


def _draw_curves(ax: Axes, panel: KMPanel, layout: KMLayout) -> None:
    for c in panel.curves:
        ax.step(c.x, c.y, where="post", color=c.color, lw=1.4, label=c.label, zorder=3)
        if layout.ci and c.lower:
            ax.fill_between(c.x, c.lower, c.upper, step="post", color=c.color, alpha=0.13,
                            lw=0, zorder=2)
        if c.censor_x:
            ax.plot(c.censor_x, c.censor_y, ls="none", marker="|", ms=5, mew=0.9,
                    color=c.color, zorder=4)
        if layout.median and c.median is not None and c.median <= panel.xmax:
            ax.plot([0, c.median], [0.5, 0.5], color="0.45", lw=0.7, ls=(0, (3, 2)), zorder=1)
            ax.plot([c.median, c.median], [0, 0.5], color=c.color, lw=0.7, ls=(0, (3, 2)),
                    zorder=1)
    if panel.stop is not None:
        ax.axvline(panel.stop, color="0.35", lw=0.7, ls=":", zorder=1)


def _style_axes(ax: Axes, panel: KMPanel, layout: KMLayout, show_xlabel: bool) -> None:
    ax.set_xlim(0, panel.xmax * 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(list(panel.breaks))
    ax.set_xticklabels([f"{b:g}" for b in panel.breaks])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0", "0.25", "0.50", "0.75", "1.00"])
    ax.tick_params(labelsize=_FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel(layout.ylabel, fontsize=_FONT + 0.5)
    if show_xlabel:
        ax.set_xlabel(layout.xlabel, fontsize=_FONT + 0.5)
    if panel.title:
        ax.set_title(panel.title, fontsize=_FONT + 1, loc="left")
    ax.legend(loc="upper right", fontsize=_FONT, frameon=False, handlelength=1.6)
    if panel.annotation:
        ax.text(0.02, 0.04, panel.annotation, transform=ax.transAxes, fontsize=_FONT,
                va="bottom", ha="left")


def _draw_table(fig: Figure, panel: KMPanel, box: tuple[float, float, float, float],
                label_gap: float) -> None:
    """Numbers at risk (and censored) under the curve axes; ``box`` (and ``label_gap``, the
    space between the arm labels and the first column) in figure fractions."""
    x0, y_top, width, row_h = box
    y = y_top
    span = panel.xmax * 1.02
    for heading, rows in (("Number at risk", panel.at_risk), ("Number censored", panel.censored)):
        if not rows:
            continue
        fig.text(x0, y, heading, fontsize=_FONT, fontweight="bold", va="top")
        y -= row_h
        for r in rows:
            fig.text(x0 - label_gap, y, r.label, fontsize=_FONT, color=r.color, va="top",
                     ha="right")
            for b, v in zip(panel.breaks, r.values):
                fig.text(x0 + width * b / span, y, str(v), fontsize=_FONT, color=r.color,
                         va="top", ha="center")
            y -= row_h


def draw_km(layout: KMLayout) -> Figure:
    """Draw a laid-out KM plot (one panel, or small multiples) on a new Figure, where
    :func:`~analyses.km_layout.km_page` places it."""
    page = km_page(layout)
    fig = Figure(figsize=(page.width, page.height))
    for panel, box, table in zip(layout.panels, page.axes, page.tables):
        ax = fig.add_axes(box)
        _draw_curves(ax, panel, layout)
        _style_axes(ax, panel, layout, show_xlabel=True)
        _draw_table(fig, panel, table, page.label_gap)
    for (x, y), note in zip(page.notes, [p.note for p in layout.panels if p.note]):
        fig.text(x, y, note, fontsize=_FONT - 0.5, va="top", wrap=True)
    if page.source is not None:
        (x, y), text = page.source, layout.source or ""
        fig.text(x, y, text, fontsize=_FONT - 1.5, color="0.4", va="top")
    if page.title_at is not None:
        (x, y), text = page.title_at, layout.title or ""
        fig.text(x, y, text, fontsize=_FONT + 3.5, fontweight="bold", va="top")
    return fig


# ------------------------------------------------------------------------ public functions
def _options(**kw: Any) -> KMOptions:
    return KMOptions(**{k: v for k, v in kw.items() if v is not None})


def _group_labels(labels: Sequence[str] | Mapping[Hashable, str] | None,
                  values: Sequence[Hashable]) -> dict[Hashable, str]:
    if labels is None:
        return {v: str(v) for v in values}
    if isinstance(labels, Mapping):
        return {v: labels.get(v, str(v)) for v in values}
    if len(labels) != len(values):
        raise AnalysisProblem(f"{len(labels)} labels for {len(values)} groups ({list(values)})",
                            reason=Reason.BAD_OPTION)
    return dict(zip(values, labels))


def plot_km(time: Any, event: Any, group: Any = None, *,
            labels: Sequence[str] | Mapping[Hashable, str] | None = None,
            ax: Axes | None = None, at_risk: bool = True, ci: bool = True,
            title: str | None = None, xlabel: str | None = None,
            ylabel: str = "Survival probability", path: str | Path | None = None,
            annotate: str = "logrank", median: bool = True, censored: bool = False,
            time_unit: str | None = None, display_unit: str | None = None,
            break_every: float | None = None, xmax: float | None = None,
            source: str | None = None) -> Figure:
    """Kaplan-Meier curves (by ``group`` if given; see the module docstring).

    ``annotate``: ``"logrank"`` (p of the log-rank test, two groups), ``"hr"`` (Cox hazard
    ratio of the second group versus the first and the log-rank p) or ``"none"``;
    ``time_unit``/``display_unit``: days, weeks, months or years (times are shown in the
    display unit); ``break_every``: the axis and table breaks (display unit); ``censored``
    adds the number censored between breaks. With ``ax`` the curves go into that axes and
    the tables under it.
    """
    g = np.zeros(np.asarray(time).size) if group is None else np.asarray(group, dtype=object)
    values = sorted(pd.Series(g).dropna().unique(), key=lambda v: (str(type(v)), v))
    names = {0: "All"} if group is None else _group_labels(labels, values)
    opts = _options(title=title, xlabel=xlabel, ylabel=ylabel, ci=ci, at_risk=at_risk,
                    censored=censored, median=median, annotate=annotate, time_unit=time_unit,
                    display_unit=display_unit, break_every=break_every, xmax=xmax,
                    source=source)
    panel = km_panel(time, event, g, names, opts)
    layout = km_layout([panel], opts)
    if ax is not None:
        _draw_curves(ax, panel, layout)
        _style_axes(ax, panel, layout, show_xlabel=True)
        fig: Any = ax.figure
    else:
        fig = draw_km(layout)
    if path is not None:
        save_figure(fig, path, dpi=200)
    return fig


def _frame_arrays(data: pd.DataFrame, trial: str, time: str, event: str, treatment: str,
                  treated_value: Any) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    require_columns(data, [trial, time, event, treatment])
    problems = Problems()
    problems.mask(treatment, data[treatment].isna().to_numpy(), "missing values",
                  kind=Reason.MISSING_VALUES)
    problems.raise_if_any("cannot plot these data", "Fill them in or leave those rows out.")
    from analyses.ipd_frame import matches_value

    arm = matches_value(data[treatment], treated_value).astype(int)
    t = pd.Series(numeric_column(data, time), index=data.index)
    e = pd.Series(numeric_column(data, event), index=data.index)
    return data[trial], t, e, arm


def _natural(value: Any) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def plot_km_by_trial(data: pd.DataFrame, *, trial: str, time: str, event: str,
                     treatment: str, treated_value: Any = 1,
                     labels: Sequence[str] = ("Control", "Treated"), ncols: int = 3,
                     at_risk: bool = True, ci: bool = True, xlabel: str | None = None,
                     path: str | Path | None = None, **options: Any) -> Figure:
    """Small multiples: one panel per trial, KM curves by arm with CI bands, the trial's
    log-rank p and numbers at risk. ``options``: those of :func:`plot_km`."""
    tr, t, e, arm = _frame_arrays(data, trial, time, event, treatment, treated_value)
    trials = sorted(tr.dropna().unique(), key=_natural)
    if not trials:
        raise AnalysisProblem("no trials to plot: the data are empty",
                              reason=Reason.TOO_FEW_TRIALS)
    opts = _options(ci=ci, at_risk=at_risk, xlabel=xlabel, **options)
    xmax = float(t.max()) / _factor(opts)
    panels = []
    for k in trials:
        m = (tr == k).to_numpy()
        panels.append(km_panel(t[m], e[m], arm[m], {0: labels[0], 1: labels[1]}, opts,
                               title=f"{trial} {k} (n = {int(m.sum())})", xmax=xmax))
    fig = draw_km(km_layout(panels, opts, ncols=ncols))
    if path is not None:
        save_figure(fig, path, dpi=200)
    return fig


def _factor(opts: KMOptions) -> float:
    from analyses.km_layout import unit_factor

    return unit_factor(opts.time_unit, opts.display_unit)


def plot_km_pooled(data: pd.DataFrame, *, trial: str, time: str, event: str, treatment: str,
                   treated_value: Any = 1, method: str = "overall",
                   labels: Sequence[str] = ("Control", "Treated"), at_risk: bool = True,
                   xlabel: str | None = None, title: str | None = None,
                   path: str | Path | None = None, **options: Any) -> Figure:
    """Pooled KM curves by arm across trials, with the trial-stratified log-rank p.

    ``method="overall"``: all participants together (it ignores trial, so it can mislead
    when allocation ratios differ between trials). ``method="stratified"``: the
    trial-weighted average of within-trial curves (:func:`analyses.km.stratified_km`),
    without CI bands, with a line and a note where the curves stop and why.
    """
    if method not in ("overall", "stratified"):
        raise AnalysisProblem(f"method must be 'overall' or 'stratified', not {method!r}",
                            reason=Reason.BAD_OPTION)
    tr, t, e, arm = _frame_arrays(data, trial, time, event, treatment, treated_value)
    k = tr.nunique()
    default = (f"All {k} trials combined (not stratified)" if method == "overall"
               else f"Stratified by trial ({k} trials; trial-weighted average)")
    opts = _options(at_risk=at_risk, xlabel=xlabel, **options)
    names = {0: labels[0], 1: labels[1]}
    if method == "overall":
        panel = km_panel(t, e, arm, names, opts, title=title or default, strata=tr)
    else:
        panel = stratified_panel(t, e, arm, tr, names, opts, title=title or default)
    fig = draw_km(km_layout([panel], opts))
    if path is not None:
        save_figure(fig, path, dpi=200)
    return fig

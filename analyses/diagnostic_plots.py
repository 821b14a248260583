"""Funnel and Baujat plots of a pooled result (metafor's ``funnel`` and ``baujat``), drawn
from their layouts (:func:`analyses.plot_layouts.funnel_layout`,
:func:`analyses.plot_layouts.baujat_layout`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from analyses.forest import finish_figure, plain_axes
from analyses.plot_layouts import Baujat, Funnel, baujat_layout, funnel_layout

__all__ = ["funnel_plot", "baujat_plot", "draw_funnel", "draw_baujat", "log_axis"]


def log_axis(ax: Any, which: str, lim: tuple[float, float], ticks: Sequence[float]) -> None:
    """A log axis over ``lim`` with ``ticks`` written plainly (0.5, 1, 2), both computed by
    the layout (:func:`analyses.plot_layouts.axis_limits`)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    (ax.set_xlim if which == "x" else ax.set_ylim)(*lim)
    axis.set_major_locator(FixedLocator(list(ticks)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def draw_funnel(lay: Funnel) -> Figure:
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_betweenx(lay.region_se, lay.region_low, lay.region_high, color="0.92", lw=0)
    for edge in (lay.region_low, lay.region_high):
        ax.plot(edge, lay.region_se, color="0.5", lw=0.8, ls="--")
    ax.axvline(lay.centre, color="black", lw=0.9)
    ax.plot(lay.x, lay.se, "o", color="0.15", ms=5, label="trials")
    if lay.filled_x:
        ax.plot(lay.filled_x, lay.filled_se, "o", mfc="white", mec="0.15", ms=5,
                label=f"filled by trim and fill ({lay.k0})")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    if lay.log_x:
        log_axis(ax, "x", lay.xlim, lay.xticks)
    else:
        ax.set_xlim(*lay.xlim)
    ax.set_ylim(lay.top, 0)
    plain_axes(ax, title=lay.title, xlabel=lay.xlabel, ylabel=lay.ylabel)
    return fig


def funnel_plot(res: Any, *, trimfill: dict[str, Any] | None = None,
                path: str | Path | None = None, title: str | None = None,
                source: str | None = None) -> Figure:
    """Estimates against their standard errors (axis reversed, 0 at the top), the pooled
    estimate and the pseudo 95% confidence region ``mu +/- 1.96 se`` (metafor's default
    funnel); trim-and-fill trials drawn open. Ratio measures on a log axis."""
    fig = draw_funnel(funnel_layout(res, trimfill=trimfill, title=title))
    return finish_figure(fig, source, path)


def draw_baujat(lay: Baujat) -> Figure:
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(lay.x, lay.y, "o", color="0.2", ms=4)
    for x, y, label in zip(lay.x, lay.y, lay.labels):
        ax.annotate(label, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8)
    ax.grid(color="0.9", lw=0.6)
    plain_axes(ax, title=lay.title, xlabel=lay.xlabel, ylabel=lay.ylabel)
    return fig


def baujat_plot(diag: Any, *, path: str | Path | None = None, title: str | None = None,
                source: str | None = None) -> Figure:
    """Each trial's contribution to heterogeneity (x) against its influence on the pooled
    result (y), labelled by trial (metafor's ``baujat``)."""
    return finish_figure(draw_baujat(baujat_layout(diag, title=title)), source, path)

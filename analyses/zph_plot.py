"""The scaled Schoenfeld residual plot of a proportional-hazards test (R's plot.cox.zph),
drawn from its layout (:func:`analyses.plot_layouts.zph_layout`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from analyses.forest import finish_figure, plain_axes
from analyses.plot_layouts import ZPHPlot, zph_layout

__all__ = ["plot_zph", "draw_zph"]


def draw_zph(lay: ZPHPlot) -> Figure:
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(lay.x, lay.y, "o", ms=2.5, color="0.55", alpha=0.6, mew=0)
    ax.plot(lay.grid, lay.fit, color="#b2182b", lw=1.6)
    for edge in (lay.high, lay.low):
        ax.plot(lay.grid, edge, color="#b2182b", lw=0.9, ls="--")
    ax.axhline(lay.coef, color="#2166ac", lw=0.9, ls=":")
    ax.axhline(0.0, color="black", lw=0.6)
    if lay.xticks is not None and lay.xticklabels is not None:
        ax.set_xticks(lay.xticks)
        ax.set_xticklabels(lay.xticklabels)
    plain_axes(ax, title=lay.title, xlabel=lay.xlabel, ylabel=lay.ylabel)
    return fig


def plot_zph(zph: Any, *, term: str | None = None, path: str | Path | None = None,
             title: str | None = None, xlabel: str = "Time", source: str | None = None
             ) -> Figure:
    """Scaled Schoenfeld residuals of ``term`` (default: the first) against time, the
    natural-spline smooth with its +/- 2 SE band, the coefficient and 0 as reference lines,
    and the test's p-value."""
    lay = zph_layout(zph, term=term, title=title, xlabel=xlabel)
    return finish_figure(draw_zph(lay), source, path)

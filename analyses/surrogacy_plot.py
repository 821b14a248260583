"""The trial-level surrogacy plot: treatment effects on the true endpoint against those on
the surrogate, one bubble per trial (area proportional to its weight), the weighted
regression line, its 95% prediction band and the surrogate threshold effect - drawn from its
layout (:func:`analyses.plot_layouts.surrogacy_layout`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from analyses.diagnostic_plots import log_axis
from analyses.forest import finish_figure, plain_axes
from analyses.plot_layouts import Surrogacy, prediction_band, surrogacy_layout

__all__ = ["plot_trial_level", "draw_surrogacy", "prediction_band"]


def draw_surrogacy(lay: Surrogacy) -> Figure:
    fig = Figure(figsize=(5.8, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_between(lay.grid, lay.low, lay.high, color="#2166ac", alpha=0.12, lw=0)
    ax.plot(lay.grid, lay.fit, color="#2166ac", lw=1.4)
    ax.scatter(lay.x, lay.y, s=lay.sizes, facecolor="#b2182b", edgecolor="white", alpha=0.75,
               lw=0.8, zorder=3)
    ax.axhline(1, color="black", lw=0.6)
    ax.axvline(1, color="black", lw=0.6)
    if lay.ste is not None:
        ax.axvline(lay.ste, color="0.3", lw=0.9, ls="--")
        ax.annotate(f"STE = {lay.ste:.2f}", (lay.ste, 1), xytext=(-4, 6),
                    textcoords="offset points", ha="right", fontsize=8.5)
    log_axis(ax, "x", lay.xlim, lay.xticks)
    log_axis(ax, "y", lay.ylim, lay.yticks)
    ax.text(0.03, 0.97, lay.heading, transform=ax.transAxes, va="top", fontsize=8.5)
    plain_axes(ax, title=lay.title, xlabel=lay.xlabel, ylabel=lay.ylabel)
    return fig


def plot_trial_level(res: Any, *, path: str | Path | None = None, title: str | None = None,
                     xlabel: str = "Hazard ratio, surrogate endpoint",
                     ylabel: str = "Hazard ratio, true endpoint",
                     source: str | None = None) -> Figure:
    lay = surrogacy_layout(res, title=title, xlabel=xlabel, ylabel=ylabel)
    return finish_figure(draw_surrogacy(lay), source, path)

"""Small plots of estimates: Cox coefficients as hazard ratios, one-stage trial effects.

Both draw labelled points with intervals on a log axis (ratio measures) - a compact
"coefficient plot" for :meth:`analyses.cox.CoxFit.plot` and
:meth:`analyses.one_stage.OneStageResult.plot` - from the layout
:func:`analyses.plot_layouts.estimates_layout` computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from analyses.forest import plain_axes, save_figure
from analyses.plot_layouts import Estimates, estimates_layout

__all__ = ["plot_cox", "plot_one_stage", "coefficient_plot", "draw_estimates"]


def draw_estimates(lay: Estimates) -> Figure:
    fig = Figure(figsize=(6.0, lay.height))
    ax = fig.add_axes(lay.axes)
    ys = list(range(len(lay.labels)))
    if lay.low is not None and lay.high is not None:
        ax.hlines(ys, lay.low, lay.high, color="black", lw=0.9)
    ax.plot(lay.estimate, ys, "s", color="0.25", ms=5)
    if lay.diamond is not None and lay.diamond_row is not None:
        e, a, b = lay.diamond
        y = lay.diamond_row
        ax.add_patch(Polygon([(a, y), (e, y - 0.35), (b, y), (e, y + 0.35)], color="black"))
    ax.axvline(lay.null, color="black", lw=0.8)
    if lay.log:
        ax.set_xscale("log")
    ax.set_yticks(lay.ticks)
    ax.set_yticklabels(lay.tick_labels, fontsize=8.5)
    ax.set_ylim(*lay.ylim)
    ax.tick_params(axis="x", labelsize=8.5)
    plain_axes(ax, title=lay.title, xlabel=lay.xlabel)
    ax.xaxis.label.set_fontsize(9)
    return fig


def coefficient_plot(labels: Sequence[str], est: Sequence[float], lo: Sequence[float] | None,
                     hi: Sequence[float] | None, *, log: bool, xlabel: str,
                     title: str | None = None, pooled: tuple[float, float, float] | None = None,
                     path: str | Path | None = None) -> Figure:
    """Points (with intervals when given) per label, top to bottom; ``pooled`` (est, lo, hi)
    adds a diamond at the bottom. Values on the display scale
    (:func:`analyses.plot_layouts.estimates_layout`)."""
    fig = draw_estimates(estimates_layout(labels, est, lo, hi, log=log, xlabel=xlabel,
                                          title=title, pooled=pooled))
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_cox(fit: Any, *, path: str | Path | None = None, title: str | None = None) -> Figure:
    ci = np.exp(fit.ci)
    return coefficient_plot(list(fit.names), list(np.exp(fit.coef)), list(ci[:, 0]),
                            list(ci[:, 1]), log=True, xlabel="Hazard ratio", title=title,
                            path=path)


def plot_one_stage(res: Any, *, path: str | Path | None = None, title: str | None = None
                   ) -> Figure:
    tr = math.exp if res.is_ratio else (lambda v: v)
    eff = [tr(v) for v in res.per_trial["trial_effect"]]
    lo, hi = res.ci
    from analyses.formatting import measure_name

    label = measure_name(res.measure) + " (trial-specific: estimate + predicted random effect)"
    return coefficient_plot([str(t) for t in res.per_trial["trial"]], eff, None, None,
                            log=res.is_ratio, xlabel=label, title=title,
                            pooled=(tr(res.estimate), tr(lo), tr(hi)), path=path)

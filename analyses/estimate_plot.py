"""Small plots of estimates: Cox coefficients as hazard ratios, one-stage trial effects.

Both draw labelled points with intervals on a log axis (ratio measures) - a compact
"coefficient plot" for :meth:`analyses.cox.CoxFit.plot` and
:meth:`analyses.one_stage.OneStageResult.plot`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from analyses.forest import save_figure

__all__ = ["plot_cox", "plot_one_stage", "coefficient_plot"]


def coefficient_plot(labels: Sequence[str], est: Sequence[float], lo: Sequence[float] | None,
                     hi: Sequence[float] | None, *, log: bool, xlabel: str,
                     title: str | None = None, pooled: tuple[float, float, float] | None = None,
                     path: str | Path | None = None) -> Figure:
    """Points (with intervals when given) per label, top to bottom; ``pooled`` (est, lo, hi)
    adds a diamond at the bottom. Values on the display scale."""
    n = len(labels) + (2 if pooled else 0)
    fig = Figure(figsize=(6.0, 0.9 + 0.26 * n))
    ax = fig.add_axes((0.3, 0.9 / (0.9 + 0.26 * n), 0.65, 0.26 * n / (0.9 + 0.26 * n)))
    ys = np.arange(len(labels))
    if lo is not None and hi is not None:
        ax.hlines(ys, lo, hi, color="black", lw=0.9)
    ax.plot(est, ys, "s", color="0.25", ms=5)
    ticks: list[float] = [float(v) for v in ys]
    names = list(labels)
    if pooled:
        e, a, b = pooled
        y = len(labels) + 1
        ax.add_patch(Polygon([(a, y), (e, y - 0.35), (b, y), (e, y + 0.35)], color="black"))
        ticks.append(y)
        names.append("Pooled")
    null = 1.0 if log else 0.0
    ax.axvline(null, color="black", lw=0.8)
    if log:
        ax.set_xscale("log")
    ax.set_yticks(ticks)
    ax.set_yticklabels(names, fontsize=8.5)
    ax.set_ylim(n - 0.5, -0.7)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.tick_params(axis="x", labelsize=8.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
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

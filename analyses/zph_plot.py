"""The scaled Schoenfeld residual plot of a proportional-hazards test (R's plot.cox.zph)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analyses.cox_zph import spline_smooth
from analyses.forest import finish_figure
from analyses.formatting import fmt_p

__all__ = ["plot_zph"]


def _time_axis(ax: Any, zph: Any) -> None:
    """For transformed time (km, rank) label the axis with real times, as R does."""
    if zph.transform in ("identity", "log"):
        return
    x, t = zph.x, zph.time
    keep = np.unique(x, return_index=True)[1]
    xs, ts = x[keep], t[keep]
    pos = np.linspace(xs.min(), xs.max(), 17)[1::2]
    times = np.array([float(f"{v:.2g}") for v in np.interp(pos, xs, ts)])
    ax.set_xticks(np.interp(times, ts, xs))
    ax.set_xticklabels([f"{v:g}" for v in times])


def plot_zph(zph: Any, *, term: str | None = None, path: str | Path | None = None,
             title: str | None = None, xlabel: str = "Time", source: str | None = None
             ) -> Figure:
    """Scaled Schoenfeld residuals of ``term`` (default: the first) against time, the
    natural-spline smooth with its +/- 2 SE band, the coefficient and 0 as reference lines,
    and the test's p-value."""
    name = term or zph.names[0]
    j = list(zph.names).index(name)
    y = zph.y[:, j]
    grid, fit, half = spline_smooth(zph.x, y, float(zph.var[j, j]))
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ok = np.isfinite(y)
    ax.plot(zph.x[ok], y[ok], "o", ms=2.5, color="0.55", alpha=0.6, mew=0)
    ax.plot(grid, fit, color="#b2182b", lw=1.6)
    ax.plot(grid, fit + half, color="#b2182b", lw=0.9, ls="--")
    ax.plot(grid, fit - half, color="#b2182b", lw=0.9, ls="--")
    ax.axhline(zph.coef[j], color="#2166ac", lw=0.9, ls=":")
    ax.axhline(0.0, color="black", lw=0.6)
    _time_axis(ax, zph)
    ax.set_xlabel(f"{xlabel} ({zph.transform} scale)" if zph.transform != "identity" else xlabel)
    ax.set_ylabel(f"Beta(t) for {name}")
    row = zph.term(name)
    ax.set_title(title or f"Proportional hazards: {name} (\u03c7\u00b2 = {row['chisq']:.2f}, "
                 f"{fmt_p(row['p'])})", fontsize=10, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return finish_figure(fig, source, path)

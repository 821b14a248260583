"""Funnel and Baujat plots of a pooled result (metafor's ``funnel`` and ``baujat``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analyses.forest import finish_figure
from analyses.formatting import is_ratio, measure_name

__all__ = ["funnel_plot", "baujat_plot", "log_axis"]


def log_axis(ax: Any, which: str = "x") -> None:
    """A log axis with ticks at powers of two written plainly (0.5, 1, 2)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from analyses.forest_layout import log_ticks

    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
    axis.set_major_locator(FixedLocator([t for t in log_ticks(lo, hi) if lo <= t <= hi]))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def funnel_plot(res: Any, *, trimfill: dict[str, Any] | None = None,
                path: str | Path | None = None, title: str | None = None,
                source: str | None = None) -> Figure:
    """Estimates against their standard errors (axis reversed, 0 at the top), the pooled
    estimate and the pseudo 95% confidence region ``mu +/- 1.96 se`` (metafor's default
    funnel); trim-and-fill trials drawn open. Ratio measures on a log axis."""
    st = res.studies[np.isfinite(res.studies["yi"].to_numpy(float))]
    y, se = st["yi"].to_numpy(float), np.sqrt(st["vi"].to_numpy(float))
    ratio = is_ratio(res.measure)
    tr = np.exp if ratio else (lambda v: v)
    top = float(se.max()) * 1.08
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    s = np.linspace(0, top, 50)
    ax.fill_betweenx(s, tr(res.estimate - 1.96 * s), tr(res.estimate + 1.96 * s),
                     color="0.92", lw=0)
    ax.plot(tr(res.estimate - 1.96 * s), s, color="0.5", lw=0.8, ls="--")
    ax.plot(tr(res.estimate + 1.96 * s), s, color="0.5", lw=0.8, ls="--")
    ax.axvline(tr(res.estimate), color="black", lw=0.9)
    ax.plot(tr(y), se, "o", color="0.15", ms=5, label="trials")
    if trimfill and trimfill.get("filled"):
        fy = np.array([f["yi"] for f in trimfill["filled"]])
        fs = np.sqrt([f["vi"] for f in trimfill["filled"]])
        ax.plot(tr(fy), fs, "o", mfc="white", mec="0.15", ms=5,
                label=f"filled by trim and fill ({trimfill['k0']})")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    if ratio:
        log_axis(ax)
    ax.set_ylim(top, 0)
    ax.set_xlabel(measure_name(res.measure) if res.measure else "Estimate")
    ax.set_ylabel("Standard error")
    ax.set_title(title or "Funnel plot", fontsize=10, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return finish_figure(fig, source, path)


def baujat_plot(diag: Any, *, path: str | Path | None = None, title: str | None = None,
                source: str | None = None) -> Figure:
    """Each trial's contribution to heterogeneity (x) against its influence on the pooled
    result (y), labelled by trial (metafor's ``baujat``)."""
    b = diag.baujat
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(b["x"], b["y"], "o", color="0.2", ms=4)
    for _, r in b.iterrows():
        ax.annotate(str(r["trial"]), (r["x"], r["y"]), xytext=(3, 3),
                    textcoords="offset points", fontsize=8)
    fe = diag.result.tau2 is None
    ax.set_xlabel("Contribution to overall heterogeneity" if fe else "Squared Pearson residual")
    ax.set_ylabel("Influence on overall result")
    ax.set_title(title or "Baujat plot", fontsize=10, loc="left")
    ax.grid(color="0.9", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return finish_figure(fig, source, path)

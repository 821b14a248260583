"""The trial-level surrogacy plot: treatment effects on the true endpoint against those on
the surrogate, one bubble per trial (area proportional to its weight), the weighted
regression line, its 95% prediction band and the surrogate threshold effect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from analyses.diagnostic_plots import log_axis
from analyses.forest import finish_figure
from analyses.formatting import fmt_ci

__all__ = ["plot_trial_level", "prediction_band"]


def prediction_band(res: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def plot_trial_level(res: Any, *, path: str | Path | None = None, title: str | None = None,
                     xlabel: str = "Hazard ratio, surrogate endpoint",
                     ylabel: str = "Hazard ratio, true endpoint",
                     source: str | None = None) -> Figure:
    t = res.per_trial
    xs, ys = t["log_hr_surrogate"].to_numpy(float), t["log_hr_true"].to_numpy(float)
    w = t["weight"].to_numpy(float)
    fig = Figure(figsize=(5.8, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    pad = 0.15 * (xs.max() - xs.min() + 0.1)
    grid = np.linspace(min(xs.min(), 0) - pad, max(xs.max(), 0) + pad, 100)
    fit, lo, hi = prediction_band(res, grid)
    ax.fill_between(np.exp(grid), np.exp(lo), np.exp(hi), color="#2166ac", alpha=0.12, lw=0)
    ax.plot(np.exp(grid), np.exp(fit), color="#2166ac", lw=1.4)
    ax.scatter(np.exp(xs), np.exp(ys), s=600 * w / w.max(), facecolor="#b2182b",
               edgecolor="white", alpha=0.75, lw=0.8, zorder=3)
    ax.axhline(1, color="black", lw=0.6)
    ax.axvline(1, color="black", lw=0.6)
    tl = res.trial_level
    if tl["ste"] is not None:
        ax.axvline(tl["ste_hr"], color="0.3", lw=0.9, ls="--")
        ax.annotate(f"STE = {tl['ste_hr']:.2f}", (tl["ste_hr"], 1), xytext=(-4, 6),
                    textcoords="offset points", ha="right", fontsize=8.5)
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    head = f"R\u00b2 (trial) = {fmt_ci(tl['r2'], *tl['r2_ci'])}"
    if res.individual_level is not None:
        il = res.individual_level
        head += f"\nKendall's \u03c4 = {fmt_ci(il['kendall_tau'], *il['ci'])}"
    ax.text(0.03, 0.97, head, transform=ax.transAxes, va="top", fontsize=8.5)
    ax.set_title(title or f"Trial-level surrogacy ({tl['k']} trials)", fontsize=10, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return finish_figure(fig, source, path)

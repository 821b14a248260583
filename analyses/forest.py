"""Forest plots (matplotlib) for pooled, two-stage and interaction results.

:func:`forest_plot` draws one row per trial - a square of area proportional to its weight and
its confidence interval - with columns for the trial, N and events on the left and
``estimate [CI]`` and weight on the right; a diamond for each subgroup and for the overall
estimate; the prediction interval as a line through the overall diamond; heterogeneity
statistics and the test for subgroup differences underneath. Ratio measures (OR, RR, HR) are
drawn on a log axis with the null line at 1.

It uses matplotlib's object interface only (no pyplot state, no GUI backend), so it is safe
in servers and tests. Rows are a fixed height, so 30, 60 or 100 trials stay readable: the
figure simply grows.

Example::

    fig = forest_plot(result, path="forest.svg")   # or .png; returns the Figure
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from analyses.interactions import InteractionResult
from analyses.pooling import PoolResult
from analyses.two_stage import TwoStageResult
from repository.errors import AnalysisError

__all__ = ["forest_plot"]

_ROW_INCH = 0.27
_RATIO_TICKS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 1000)
_MEASURE_LABEL = {"HR": "Hazard ratio", "OR": "Odds ratio", "RR": "Risk ratio",
                  "RD": "Risk difference", "MD": "Mean difference", "PETO": "Odds ratio (Peto)"}


@dataclass
class _Row:
    kind: str  # "trial", "header", "diamond", "pi", "text", "blank"
    label: str
    est: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    weight: float = math.nan
    n: Any = None
    events: Any = None
    bold: bool = False


def _fmt_int(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    try:
        return f"{int(x)}"
    except (TypeError, ValueError):
        return ""


def _het_text(res: PoolResult) -> str:
    parts = [f"Q = {res.Q:.2f}, df = {res.Q_df}, p {_fmt_p(res.Q_p)}",
             f"I\u00b2 = {res.I2:.1f}%"]
    if res.tau2 is not None:
        parts.append(f"\u03c4\u00b2 = {res.tau2:.4g}")
    return "; ".join(parts)


def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _trial_rows(table: pd.DataFrame, est_col: str = "estimate") -> list[_Row]:
    rows = []
    for _, r in table.iterrows():
        source = r.get("source", "IPD")
        label = str(r["trial"]) + (" (AD)" if source == "AD" else "")
        rows.append(_Row("trial", label, est=float(r[est_col]), lo=float(r["ci_low"]),
                         hi=float(r["ci_high"]), weight=float(r.get("weight", math.nan)),
                         n=r.get("n"), events=r.get("events")))
    return rows


def _pool_row(label: str, res: PoolResult, bold: bool = True) -> _Row:
    return _Row("diamond", label, est=res.estimate, lo=res.ci[0], hi=res.ci[1], weight=100.0,
                bold=bold)


def _studies_table(res: PoolResult) -> pd.DataFrame:
    t = res.studies.rename(columns={"study": "trial", "yi": "estimate"})
    if "n_treated" in t and "n" not in t:
        t["n"] = t["n_treated"] + t["n_control"]
        t["events"] = t["events_treated"] + t["events_control"]
    return t


def _layout(result: PoolResult | TwoStageResult | InteractionResult,
            show_pi: bool) -> tuple[list[_Row], PoolResult, str | None, list[str]]:
    footer: list[str] = []
    if isinstance(result, TwoStageResult):
        overall = result.pooled
        measure = result.measure
        rows: list[_Row] = []
        if result.subgroups:
            for level, sub in result.subgroups.items():
                rows.append(_Row("header", f"{result.subgroup} = {level}", bold=True))
                rows += _trial_rows(result.subgroup_tables[level])
                rows.append(_pool_row(f"Subtotal ({_het_text(sub)})", sub, bold=False))
                rows.append(_Row("blank", ""))
            if result.subgroup_test is not None:
                st = result.subgroup_test
                footer.append(f"Test for subgroup differences: Q = {st.Q:.2f}, df = {st.df}, "
                              f"p {_fmt_p(st.p)}")
        else:
            rows += _trial_rows(result.per_trial)
    elif isinstance(result, InteractionResult):
        overall = result.pooled
        measure = None
        rows = _trial_rows(result.per_trial)
        footer.append(f"Within-trial treatment x {result.covariate} interaction ({result.scale})")
    elif isinstance(result, PoolResult):
        overall = result
        measure = result.measure
        rows = _trial_rows(_studies_table(result).dropna(subset=["estimate"]))
    else:
        raise AnalysisError(f"cannot draw a forest plot of {type(result).__name__}",
                            reason="bad_input")
    label = {"FE": "Common effect", "MH": "Mantel-Haenszel", "Peto": "Peto"}.get(
        overall.method, f"Random effects ({overall.method})")
    test_name = {"t": "t test", "knha": "Knapp-Hartung", "adhoc": "Knapp-Hartung, ad hoc"}
    if overall.test in test_name:
        label += f" [{test_name[overall.test]}]"
    rows.append(_pool_row(f"{label} ({_het_text(overall)})", overall))
    if show_pi and overall.pi is not None:
        rows.append(_Row("pi", "Prediction interval", est=overall.estimate, lo=overall.pi[0],
                         hi=overall.pi[1]))
    footer.insert(0, f"Test of overall effect: {'z' if overall.df is None else 't'} = "
                  f"{overall.statistic:.2f}, p {_fmt_p(overall.p)}; {overall.k} trials")
    return rows, overall, measure, footer


def forest_plot(
    result: PoolResult | TwoStageResult | InteractionResult,
    *,
    path: str | Path | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    show_pi: bool = True,
    xlim: tuple[float, float] | None = None,
    dpi: int = 150,
    labels: tuple[str, str] = ("Favours treatment", "Favours control"),
) -> Figure:
    """Draw a forest plot of ``result``; save it to ``path`` (``.png`` or ``.svg``) if given.

    Estimates of ratio measures are shown exponentiated on a log axis. ``xlim`` is on the
    displayed scale. Confidence intervals running past ``xlim`` end in an arrow.
    """
    rows, overall, measure, footer = _layout(result, show_pi)
    ratio = (measure or "").upper() in ("HR", "OR", "RR", "PETO")
    tr = np.exp if ratio else (lambda x: x)
    n_rows = len(rows)
    height = max(3.0, (n_rows + 4 + len(footer)) * _ROW_INCH)
    fig = Figure(figsize=(11.0, height))
    bottom = 0.95 + 0.22 * len(footer)
    ax = fig.add_axes((0.38, bottom / height, 0.32, 1 - (bottom + 0.55) / height))
    ys = np.arange(n_rows)[::-1].astype(float)

    vals = [v for r in rows if r.kind in ("trial", "diamond", "pi") for v in (r.lo, r.hi)
            if np.isfinite(v)]
    if xlim is None:
        lo_v, hi_v = (min(vals), max(vals)) if vals else (-1.0, 1.0)
        if ratio:
            lo_t, hi_t = math.exp(lo_v), math.exp(hi_v)
            lo_t, hi_t = min(lo_t, 0.9), max(hi_t, 1.1)
            xlim_t = (max(lo_t / 1.15, 1e-3), min(hi_t * 1.15, 1e3))
        else:
            lo_t, hi_t = min(lo_v, 0.0), max(hi_v, 0.0)
            pad = 0.08 * (hi_t - lo_t or 1.0)
            xlim_t = (lo_t - pad, hi_t + pad)
    else:
        xlim_t = xlim
    if ratio:
        ax.set_xscale("log")
        ticks = [t for t in _RATIO_TICKS if xlim_t[0] <= t <= xlim_t[1]]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(*xlim_t)
    ax.set_ylim(-0.8, n_rows - 0.2)
    ax.axvline(1.0 if ratio else 0.0, color="0.3", lw=0.8, zorder=1)
    ax.axvline(float(tr(overall.estimate)), color="0.5", lw=0.6, ls="--", zorder=1)

    max_w = max([r.weight for r in rows if r.kind == "trial" and np.isfinite(r.weight)] or [1.0])
    x0, x1 = xlim_t
    for y, r in zip(ys, rows):
        if r.kind == "trial":
            lo, hi, est = tr(r.lo), tr(r.hi), tr(r.est)
            ax.plot([max(lo, x0), min(hi, x1)], [y, y], color="black", lw=0.9, zorder=2)
            if lo < x0:
                ax.plot([x0], [y], marker="<", color="black", ms=4, clip_on=False, zorder=3)
            if hi > x1:
                ax.plot([x1], [y], marker=">", color="black", ms=4, clip_on=False, zorder=3)
            w = r.weight if np.isfinite(r.weight) else max_w / 4
            size = 0.55 * math.sqrt(w / max_w) + 0.12
            if x0 <= est <= x1:
                _square(ax, est, y, size, ratio, xlim_t)
        elif r.kind == "diamond":
            lo, hi, est = tr(r.lo), tr(r.hi), tr(r.est)
            color = "black" if r.bold else "0.35"
            ax.add_patch(Polygon([(lo, y), (est, y + 0.32), (hi, y), (est, y - 0.32)],
                                 closed=True, facecolor=color, edgecolor=color, zorder=3))
        elif r.kind == "pi":
            ax.plot([max(tr(r.lo), x0), min(tr(r.hi), x1)], [y, y], color="firebrick",
                    lw=2.2, solid_capstyle="butt", zorder=2)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)
    name = _MEASURE_LABEL.get((measure or "").upper(), measure or "Estimate")
    ax.set_xlabel(xlabel or (f"{name} ({overall.level:g}% CI)" if not isinstance(
        result, InteractionResult) else "Interaction estimate"), fontsize=9, labelpad=16)
    if labels and not isinstance(result, InteractionResult):
        null = 1.0 if ratio else 0.0
        for text, ha, dx in ((labels[0], "right", -4), (labels[1], "left", 4)):
            ax.annotate(text, xy=(null, 0), xycoords=("data", "axes fraction"),
                        xytext=(dx, -20), textcoords="offset points", ha=ha, va="top",
                        fontsize=7, color="0.35", annotation_clip=False)

    # text columns (figure x, data y through the axes' y transform)
    ytrans = ax.get_yaxis_transform()
    fx = lambda f: ax.transAxes.inverted().transform(fig.transFigure.transform((f, 0)))[0]  # noqa: E731
    header_y = n_rows - 0.2
    has_n = any(_fmt_int(r.n) for r in rows if r.kind == "trial")
    has_events = any(_fmt_int(r.events) for r in rows if r.kind == "trial")
    cols_left = [(0.01, "Trial", "left")] + ([(0.27, "N", "right")] if has_n else []) + (
        [(0.34, "Events", "right")] if has_events else [])
    cols_right = [(0.86, f"{'Ratio' if ratio else 'Estimate'} [{overall.level:g}% CI]", "right"),
                  (0.95, "Weight", "right")]
    for fxp, text, ha in cols_left + cols_right:
        ax.text(fx(fxp), header_y, text, transform=ytrans, ha=ha, va="bottom",
                fontsize=9, fontweight="bold", clip_on=False)
    for y, r in zip(ys, rows):
        if r.kind == "blank":
            continue
        weight = "bold" if (r.bold or r.kind == "header") else "normal"
        size = 8.5 if r.kind in ("trial", "header") else 8
        ax.text(fx(0.01), y, r.label, transform=ytrans, ha="left", va="center", fontsize=size,
                fontweight=weight, clip_on=False,
                color="firebrick" if r.kind == "pi" else "black")
        if r.kind == "trial":
            ax.text(fx(0.27), y, _fmt_int(r.n), transform=ytrans, ha="right", va="center",
                    fontsize=8.5, clip_on=False)
            ax.text(fx(0.34), y, _fmt_int(r.events), transform=ytrans, ha="right",
                    va="center", fontsize=8.5, clip_on=False)
        if r.kind in ("trial", "diamond", "pi"):
            text = f"{tr(r.est):.2f} [{tr(r.lo):.2f}, {tr(r.hi):.2f}]"
            ax.text(fx(0.86), y, text, transform=ytrans, ha="right", va="center", fontsize=8.5,
                    fontweight=weight, clip_on=False,
                    color="firebrick" if r.kind == "pi" else "black")
            if r.kind == "trial" and np.isfinite(r.weight):
                ax.text(fx(0.95), y, f"{r.weight:.1f}%", transform=ytrans, ha="right",
                        va="center", fontsize=8.5, clip_on=False)
            elif r.kind == "diamond" and r.bold:
                ax.text(fx(0.95), y, "100%", transform=ytrans, ha="right", va="center",
                        fontsize=8.5, fontweight="bold", clip_on=False)
    for i, line in enumerate(footer):
        fig.text(0.01, (0.15 + 0.22 * (len(footer) - 1 - i)) / height, line, fontsize=8,
                 ha="left", va="bottom")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold",
                     y=1 - 0.12 / height)
    if path is not None:
        p = Path(path)
        fmt = p.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg", "pdf"):
            raise AnalysisError(f"forest plot format {fmt!r} not supported; use .png or .svg",
                                reason="bad_option")
        fig.savefig(p, format=fmt, dpi=dpi, bbox_inches="tight")
    return fig


def _square(ax: Any, x: float, y: float, size: float, ratio: bool,
            xlim: tuple[float, float]) -> None:
    """A square of ``size`` rows high, drawn in display-consistent width."""
    x0, x1 = xlim
    # width in data units that matches the height in rows (approximately, via axis extents)
    bbox = ax.get_window_extent()
    rows_span = ax.get_ylim()[1] - ax.get_ylim()[0]
    px_per_row = bbox.height / rows_span
    px = size * px_per_row
    frac = px / bbox.width
    if ratio:
        lx0, lx1 = math.log(x0), math.log(x1)
        half = frac * (lx1 - lx0) / 2
        left, right = math.exp(math.log(x) - half), math.exp(math.log(x) + half)
    else:
        half = frac * (x1 - x0) / 2
        left, right = x - half, x + half
    ax.add_patch(Rectangle((left, y - size / 2), right - left, size, facecolor="0.15",
                           edgecolor="0.15", zorder=4))

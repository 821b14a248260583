"""The layout of a forest plot, computed apart from drawing it (no figure is made here).

:func:`forest_layout` turns a pooled, two-stage or interaction result and the display options
into a :class:`ForestLayout`: every row (trials, subgroup headings, diamonds, prediction
interval, heterogeneity and overall-effect lines, the test for subgroup differences) with its
marks in display units, every text cell with its position in inches, the axis (scale, limits,
ticks, null line, favours labels) and the figure size. :mod:`analyses.forest` only draws what the layout says, so the layout can be
tested exactly (which trials, in what order, what each column says) and a second renderer
could draw the same plot.

Conventions (meta/metafor/RevMan): ratio measures on a log axis with ticks 0.25 0.5 1 2 4 by
default (powers of two covering the estimates, the summary intervals and the trials' intervals
up to 0.25-4; intervals beyond the axis end in an arrow); per-arm ``events/N`` columns (and ``O-E``, ``V``
for Peto's log-rank method); the measure in the column header (``HR [95% CI]``); weights in
percent; heterogeneity as ``I² = 12%, τ² = 0.0031, Q = 14.9, df = 13 (p = 0.31)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from analyses.errors import AnalysisProblem, Reason
from analyses.formatting import (
    fmt_ci,
    fmt_i2,
    fmt_int,
    fmt_num,
    fmt_p,
    is_ratio,
    measure_name,
    minus,
    tau2_text,
)
from analyses.interactions import InteractionResult
from analyses.pooling import PoolResult, pool
from analyses.two_stage import TwoStageResult

__all__ = ["ForestOptions", "ForestLayout", "Row", "Cell", "Axis", "forest_layout",
           "ORDERS", "log_ticks", "linear_ticks", "text_width"]

#: Trial orders :func:`forest_layout` knows (or the name of a per-trial column).
ORDERS: tuple[str, ...] = ("given", "weight", "effect")
FONT = 8.5  # points
ROW_H = 0.205  # inches per row
GAP = 0.16  # inches between columns
_MODEL_LABEL = {"FE": "Common effect model", "MH": "Mantel-Haenszel method",
                "Peto": "Peto method"}


@dataclass(frozen=True)
class ForestOptions:
    """Display options (see :func:`analyses.forest.forest_plot` for their meaning)."""

    title: str | None = None
    favours: tuple[str, str] | None = None
    order: str | Sequence[str] = "given"
    at: Sequence[float] | None = None
    xlim: tuple[float, float] | None = None
    xlabel: str | None = None
    common: bool = False
    show_pi: bool = True
    arm_labels: tuple[str, str] = ("Treatment", "Control")
    subgroup_labels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    plot_width: float = 2.6


@dataclass(frozen=True)
class Cell:
    """A piece of text: ``x`` in inches from the left edge, ``ha`` its anchor."""

    text: str
    x: float
    ha: str = "left"
    bold: bool = False
    color: str = "black"


@dataclass(frozen=True)
class Row:
    """One row. ``kind``: trial, heading, diamond, pi, text or blank. Marks are in display
    units (exponentiated for ratio measures): a square of ``half`` half-width (display units
    of the log axis when ratio) and ``size`` (rows) at ``est`` with CI ``lo``-``hi``."""

    kind: str
    cells: tuple[Cell, ...]
    est: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    size: float = 0.0
    color: str = "black"
    square: tuple[float, float] | None = None  # left and right edges of a trial's square
    clipped: tuple[bool, bool] = (False, False)  # CI runs past the axis on the left/right


@dataclass(frozen=True)
class Axis:
    """The plotting area: ``x0``/``width`` in inches; limits, ticks on the display scale."""

    x0: float
    width: float
    lo: float
    hi: float
    log: bool
    ticks: tuple[float, ...]
    null: float
    label: str
    favours: tuple[str, str] | None
    reference: float | None  # dashed line at the overall estimate


@dataclass(frozen=True)
class ForestLayout:
    """Everything a renderer needs; sizes in inches, rows counted from the top."""

    width: float
    height: float
    top: float  # inches from the top to the first row
    rows: tuple[Row, ...]
    header: tuple[tuple[Cell, ...], tuple[Cell, ...]]  # the two header lines, top first
    axis: Axis
    title: str | None
    source: str | None

    def row_y(self, i: float) -> float:
        """Inches from the top of the figure to the centre of row ``i``."""
        return self.top + (i + 0.5) * ROW_H

    def favours_at(self) -> tuple[float, float]:
        """(x, y) in inches from the left and the top: the null line under the axis, where
        the favours labels meet."""
        a = self.axis
        frac = (math.log(a.null / a.lo) / math.log(a.hi / a.lo) if a.log
                else (a.null - a.lo) / (a.hi - a.lo))
        return a.x0 + frac * a.width, self.top + len(self.rows) * ROW_H + 0.5

    def source_y(self) -> float:
        """Inches from the top to the source line (under the favours labels, if any)."""
        return self.top + len(self.rows) * ROW_H + 0.5 + (0.2 if self.axis.favours else 0)


# ------------------------------------------------------------------------ text measurement
@cache
def _char_width(ch: str, bold: bool) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=FONT, weight="bold" if bold else "normal")
    w, _, _ = TextToPath().get_text_width_height_descent(ch, prop, ismath=False)
    return float(w) / 72.0


def text_width(text: str, bold: bool = False) -> float:
    """Width in inches of ``text`` at the plot's font size (sum of glyph advances)."""
    return sum(_char_width(c, bold) for c in text)


# ------------------------------------------------------------------------ ticks
def log_ticks(lo: float, hi: float) -> tuple[float, ...]:
    """Powers of two from at most ``lo`` to at least ``hi``, always 0.5 to 2 at least
    (so 0.25 0.5 1 2 4 for data between 0.25 and 4)."""
    lo = min(lo, 0.5)
    hi = max(hi, 2.0)
    a = math.floor(math.log2(max(lo, 1e-6)) + 1e-9)
    b = math.ceil(math.log2(min(hi, 1e6)) - 1e-9)
    return tuple(float(2.0**k) for k in range(max(a, -10), min(b, 10) + 1))


def linear_ticks(lo: float, hi: float, n: int = 5) -> tuple[float, ...]:
    """About ``n`` round ticks (1, 2, 2.5 or 5 times a power of ten) covering lo..hi and 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo or 1.0
    raw = span / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    count = int(round((last - first) / step)) + 1
    return tuple(round(first + i * step, 10) for i in range(count))


def _tick_label(v: float) -> str:
    return f"{v:g}"


# ------------------------------------------------------------------------ rows from results
@dataclass
class _Item:
    """A trial or summary before layout: values on the analysis scale."""

    kind: str
    label: str
    est: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    weight: float = math.nan
    extra: dict[str, str] = field(default_factory=dict)
    bold: bool = False
    color: str = "black"
    counts: tuple[float, float, float, float] | None = None  # events/n treated, control


def _num(x: Any) -> float:
    try:
        return float(x) if x is not None and x is not pd.NA else math.nan
    except (TypeError, ValueError):
        return math.nan


def _arm_text(events: float, n: float) -> str:
    if fmt_int(events) and fmt_int(n):
        return f"{fmt_int(events)}/{fmt_int(n)}"
    return fmt_int(n)


def _arm_cells(r: pd.Series, model: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for arm in ("treated", "control"):
        text = _arm_text(_num(r.get(f"events_{arm}")), _num(r.get(f"n_{arm}")))
        if text:
            out[arm] = text
    if model == "logrank":
        out["oe"] = minus(fmt_num(r.get("o_minus_e"), 2))
        out["v"] = fmt_num(r.get("v"), 2)
    return out


def _trial_items(table: pd.DataFrame, model: str | None, est_col: str = "estimate"
                 ) -> list[_Item]:
    items = []
    for _, r in table.iterrows():
        label = str(r["trial"]) + (" (AD)" if r.get("source", "IPD") == "AD" else "")
        counts = tuple(_num(r.get(c)) for c in ("events_treated", "n_treated",
                                                 "events_control", "n_control"))
        items.append(_Item("trial", label, float(r[est_col]), float(r["ci_low"]),
                           float(r["ci_high"]), _num(r.get("weight")), _arm_cells(r, model),
                           counts=counts))  # type: ignore[arg-type]
    return items


def _ordered(table: pd.DataFrame, order: str | Sequence[str]) -> pd.DataFrame:
    if isinstance(order, str):
        if order == "given":
            return table
        if order == "weight":
            return table.sort_values("weight", ascending=False, kind="stable")
        if order == "effect":
            return table.sort_values("estimate", kind="stable")
        if order in table.columns:
            return table.sort_values(order, kind="stable")
        raise AnalysisProblem(f"unknown trial order {order!r}: use given, weight, effect or a "
                            f"column of the per-trial table ({', '.join(map(str, table.columns))})",
                            reason=Reason.BAD_OPTION)
    wanted = [str(t) for t in order]
    have = [str(t) for t in table["trial"]]
    missing = sorted(set(have) - set(wanted))
    if missing:
        raise AnalysisProblem(f"the trial order leaves out {', '.join(missing)}; list every "
                            "trial", reason=Reason.BAD_OPTION)
    pos = {t: i for i, t in enumerate(wanted)}
    return table.iloc[sorted(range(len(have)), key=lambda i: pos[have[i]])]


def _het_line(res: PoolResult) -> str:
    parts = [f"I\u00b2 = {fmt_i2(res.I2)}"]
    if res.tau2 is not None:
        parts.append(tau2_text(res.tau2))
    parts.append(f"Q = {res.Q:.2f}, df = {res.Q_df} ({fmt_p(res.Q_p)})")
    return "Heterogeneity: " + ", ".join(parts)


def _overall_line(res: PoolResult) -> str:
    stat = "z" if res.df is None else f"t{_sub(res.df)}"
    value = minus(f"{res.statistic:.2f}")
    return f"Test for overall effect: {stat} = {value} ({fmt_p(res.p)})"


def _model_label(res: PoolResult, logrank: bool) -> str:
    if res.method == "Peto" and logrank:
        return "Peto method (log-rank O-E)"
    label = _MODEL_LABEL.get(res.method, f"Random effects model ({res.method})")
    tests = {"t": "t test", "knha": "Hartung-Knapp", "adhoc": "Hartung-Knapp, ad hoc"}
    if res.test in tests:
        label += f", {tests[res.test]}"
    return label


def _summary_items(res: PoolResult, opts: ForestOptions, logrank: bool, bold: bool = True
                   ) -> list[_Item]:
    items = []
    if opts.common and res.tau2 is not None:
        fe = pool(res.studies["yi"], res.studies["vi"], method="FE", level=res.level,
                  qprofile=False)
        items.append(_Item("diamond", "Common effect model", fe.estimate, fe.ci[0], fe.ci[1],
                           100.0, bold=bold, color="0.45"))
    items.append(_Item("diamond", _model_label(res, logrank), res.estimate, res.ci[0],
                       res.ci[1], 100.0, bold=bold))
    if opts.show_pi and res.pi is not None:
        items.append(_Item("pi", "Prediction interval", res.estimate, res.pi[0], res.pi[1],
                           color="firebrick"))
    items.append(_Item("text", _het_line(res)))
    items.append(_Item("text", _overall_line(res)))
    return items


def _two_stage_items(res: TwoStageResult, opts: ForestOptions) -> tuple[list[_Item], list[str]]:
    logrank = res.model == "logrank"
    footer: list[str] = []
    items: list[_Item] = []
    if not res.subgroups:
        items += _trial_items(_ordered(res.per_trial, opts.order), res.model)
        return items + [_Item("blank", "")] + _summary_items(res.pooled, opts, logrank), footer
    for level, sub in res.subgroups.items():
        head = opts.subgroup_labels.get(str(level), f"{res.subgroup} = {level}")
        items.append(_Item("heading", head, bold=True))
        items += _trial_items(_ordered(res.subgroup_tables[level], opts.order), res.model)
        sub_items = _summary_items(sub, ForestOptions(show_pi=False), logrank, bold=False)
        for it in sub_items:
            if it.kind == "diamond":
                it.label = f"Subtotal: {it.label[0].lower()}{it.label[1:]}"
        items += sub_items + [_Item("blank", "")]
    items += _summary_items(res.pooled, opts, logrank)
    if res.subgroup_test is not None:
        st = res.subgroup_test
        footer.append(f"Test for subgroup differences: Q = {st.Q:.2f}, df = {st.df} "
                      f"({fmt_p(st.p)})")
    return items, footer


def _items(result: Any, opts: ForestOptions) -> tuple[list[_Item], PoolResult, str | None,
                                                      str | None, list[str]]:
    if isinstance(result, TwoStageResult):
        items, footer = _two_stage_items(result, opts)
        return items, result.pooled, result.measure, result.model, footer
    if isinstance(result, InteractionResult):
        items = _trial_items(_ordered(result.per_trial, opts.order), None)
        items += [_Item("blank", "")] + _summary_items(result.pooled, opts, False)
        return items, result.pooled, None, None, [
            f"Within-trial treatment \u00d7 {result.covariate} interaction ({result.scale})"]
    if isinstance(result, PoolResult):
        t = result.studies.rename(columns={"study": "trial", "yi": "estimate"})
        t = t[np.isfinite(t["estimate"].to_numpy(float))]
        model = "logrank" if "o_minus_e" in t else None
        items = _trial_items(_ordered(t, opts.order), model)
        items += [_Item("blank", "")] + _summary_items(result, opts, model == "logrank")
        return items, result, result.measure, model, []
    raise AnalysisProblem(f"cannot draw a forest plot of {type(result).__name__}",
                        reason=Reason.WRONG_TYPE)


# ------------------------------------------------------------------------ totals and weights
def _with_totals(items: list[_Item]) -> list[_Item]:
    """Diamonds get the summed events/N of the trials above them (since the last diamond
    block; the overall diamond sums every trial)."""
    block: list[tuple[float, ...]] = []
    every: list[tuple[float, ...]] = []
    subgroups = any(it.kind == "heading" for it in items)
    keys = {k for it in items if it.kind == "trial" for k in it.extra}
    for it in items:
        if it.kind == "trial" and it.counts is not None:
            oe = tuple(_num(it.extra.get(k, "").replace("\u2212", "-") or math.nan)
                       for k in ("oe", "v"))
            block.append(it.counts + oe)
            every.append(it.counts + oe)
        elif it.kind == "diamond" and it.color == "black":
            src = np.array(every if (not subgroups or it.bold) else block, dtype=float)
            if src.size:
                t = [float(np.sum(c)) if not np.isnan(c).all() else math.nan for c in src.T]
                extra = {"treated": _arm_text(t[0], t[1]), "control": _arm_text(t[2], t[3]),
                         "oe": minus(fmt_num(t[4])), "v": fmt_num(t[5])}
                it.extra = {k: v for k, v in extra.items() if k in keys}
        elif it.kind == "heading":
            block = []
    return items


# ------------------------------------------------------------------------ the axis
def _display(ratio: bool, v: float) -> float:
    return math.exp(v) if ratio else v


def _axis_range(items: list[_Item], ratio: bool, opts: ForestOptions
                ) -> tuple[float, float, tuple[float, ...]]:
    if opts.at is not None:
        ticks = tuple(sorted({float(t) for t in opts.at}))
        if len(ticks) < 2 or not all(map(math.isfinite, ticks)):
            raise AnalysisProblem(f"axis ticks (at) must be at least two different finite "
                                  f"numbers, not {list(opts.at)}", reason=Reason.BAD_OPTION,
                                  option="at")
        if ratio and ticks[0] <= 0:
            raise AnalysisProblem("axis ticks (at) of a ratio measure must be positive",
                                  reason=Reason.BAD_OPTION, option="at")
    else:
        pts = [_display(ratio, v) for it in items if it.kind in ("trial", "diamond", "pi")
               for v in ((it.est,) if it.kind == "trial" else (it.lo, it.hi))
               if math.isfinite(v)]
        # trials' limits widen the axis up to 0.25-4 (ratios); beyond, their CIs get arrows
        lim = (0.25, 4.0) if ratio else (-math.inf, math.inf)
        pts += [min(max(_display(ratio, v), lim[0]), lim[1]) for it in items
                if it.kind == "trial" for v in (it.lo, it.hi) if math.isfinite(v)]
        lo, hi = (min(pts), max(pts)) if pts else ((0.5, 2.0) if ratio else (-1.0, 1.0))
        if ratio:
            ticks = log_ticks(max(lo, 1 / 16), min(hi, 16))
            if len(ticks) > 7:
                ticks = tuple(t for t in ticks if round(math.log2(t)) % 2 == 0)
        else:
            ticks = linear_ticks(lo, hi)
    lo_x, hi_x = opts.xlim if opts.xlim is not None else (ticks[0], ticks[-1])
    if ratio and lo_x <= 0:
        raise AnalysisProblem("xlim of a ratio measure must be positive", reason=Reason.BAD_OPTION)
    return float(lo_x), float(hi_x), tuple(t for t in ticks if lo_x <= t <= hi_x)


def _square(est: float, size: float, axis: Axis) -> tuple[float, float]:
    frac = size * ROW_H / 2 / axis.width
    if axis.log:
        span = math.log(axis.hi) - math.log(axis.lo)
        return math.exp(math.log(est) - frac * span), math.exp(math.log(est) + frac * span)
    span = axis.hi - axis.lo
    return est - frac * span, est + frac * span


# ------------------------------------------------------------------------ columns
@dataclass(frozen=True)
class _Col:
    key: str
    head: tuple[str, str]  # two header lines
    ha: str


def _columns(items: list[_Item], ratio: bool, measure: str | None, level: float,
             opts: ForestOptions) -> tuple[list[_Col], list[_Col]]:
    keys = {k for it in items for k in it.extra}
    events = any("/" in it.extra.get("treated", "") for it in items)
    what = "Events/N" if events else "N"
    left = [_Col("label", ("", "Trial"), "left")]
    for key, arm in (("treated", opts.arm_labels[0]), ("control", opts.arm_labels[1])):
        if key in keys:
            left.append(_Col(key, (arm, what), "right"))
    if "oe" in keys:
        left += [_Col("oe", ("", "O\u2212E"), "right"), _Col("v", ("", "V"), "right")]
    code = (measure or "Estimate").upper() if measure else "Estimate"
    code = {"PETO": "OR", "RMSTD": "RMST difference"}.get(code, code)
    right = [_Col("ci", ("", f"{code} [{level:g}% CI]"), "right"),
             _Col("weight", ("", "Weight"), "right")]
    return left, right


def _cell_text(it: _Item, key: str, ratio: bool) -> str:
    if key == "label":
        return it.label
    if key == "ci":
        if it.kind == "pi":
            return minus(f"[{_display(ratio, it.lo):.2f}, {_display(ratio, it.hi):.2f}]")
        if it.kind in ("trial", "diamond"):
            return minus(fmt_ci(_display(ratio, it.est), _display(ratio, it.lo),
                                _display(ratio, it.hi), style="forest"))
        return ""
    if key == "weight":
        if it.kind == "trial" and math.isfinite(it.weight):
            return f"{it.weight:.1f}%"
        return "100%" if it.kind == "diamond" and it.color == "black" and it.bold else ""
    return it.extra.get(key, "")


def _widths(items: list[_Item], cols: list[_Col], ratio: bool) -> list[float]:
    out = []
    for c in cols:
        texts = [(_cell_text(it, c.key, ratio), it.bold) for it in items
                 if it.kind in ("trial", "diamond", "pi")]
        texts += [(h, True) for h in c.head]
        out.append(max(text_width(t, b) for t, b in texts))
    return out


# ------------------------------------------------------------------------ assembling
def _place(cols: list[_Col], widths: list[float], start: float) -> tuple[list[float], float]:
    xs, x = [], start
    for c, w in zip(cols, widths):
        xs.append(x if c.ha == "left" else x + w)
        x += w + GAP
    return xs, x


def _row(it: _Item, left: list[_Col], lx: list[float], right: list[_Col], rx: list[float],
         axis: Axis, ratio: bool, max_w: float) -> Row:
    cells: list[Cell] = []
    spanning = it.kind in ("heading", "text", "blank")
    for c, x in zip(left + right, lx + rx):
        if spanning and c.key != "label":
            continue
        text = _cell_text(it, c.key, ratio)
        if text:
            cells.append(Cell(text, x, c.ha, bold=it.bold and it.kind != "text",
                              color=it.color if c.key in ("label", "ci") else "black"))
    if it.kind not in ("trial", "diamond", "pi"):
        return Row(it.kind, tuple(cells))
    est, lo, hi = (_display(ratio, v) for v in (it.est, it.lo, it.hi))
    size, square = 0.0, None
    if it.kind == "trial":
        w = it.weight if math.isfinite(it.weight) else max_w / 4
        size = 0.18 + 0.6 * math.sqrt(max(w, 0.0) / max_w)
        square = _square(est, size, axis)
    return Row(it.kind, tuple(cells), est, lo, hi, size, it.color, square,
               (lo < axis.lo, hi > axis.hi))




def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084"
                                                       "\u2085\u2086\u2087\u2088\u2089"))


def forest_layout(result: Any, options: ForestOptions | None = None) -> ForestLayout:
    """Lay out the forest plot of ``result`` (see the module docstring)."""
    opts = options or ForestOptions()
    items, overall, measure, _model, extra = _items(result, opts)
    items = _with_totals(items) + [_Item("text", line) for line in extra]
    ratio = is_ratio(measure)
    left, right = _columns(items, ratio, measure, overall.level, opts)
    lw, rw = _widths(items, left, ratio), _widths(items, right, ratio)
    lx, x_plot = _place(left, lw, 0.12)
    lo, hi, ticks = _axis_range(items, ratio, opts)
    null = 1.0 if ratio else 0.0
    label = opts.xlabel or (measure_name(measure) if measure else "Interaction estimate")
    axis = Axis(x_plot, opts.plot_width, lo, hi, ratio, ticks, null, label, opts.favours,
                _display(ratio, overall.estimate))
    rx, end = _place(right, rw, x_plot + opts.plot_width + GAP)
    max_w = max([it.weight for it in items if it.kind == "trial" and math.isfinite(it.weight)]
                or [1.0])
    rows = tuple(_row(it, left, lx, right, rx, axis, ratio, max_w) for it in items)
    top = (0.45 if opts.title else 0.12) + 2 * ROW_H
    below = 0.5 + (0.2 if opts.favours else 0) + (0.22 if opts.source else 0)
    height = top + len(rows) * ROW_H + below
    return ForestLayout(width=end + 0.05, height=height, top=top, rows=rows,
                        header=_header(left + right, lx + rx), axis=axis,
                        title=opts.title, source=opts.source)


def _header(cols: list[_Col], xs: list[float]) -> tuple[tuple[Cell, ...], tuple[Cell, ...]]:
    return tuple(tuple(Cell(c.head[i], x, c.ha, bold=True) for c, x in zip(cols, xs)
                       if c.head[i]) for i in (0, 1))  # type: ignore[return-value]

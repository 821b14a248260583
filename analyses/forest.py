"""Forest plots (matplotlib) for pooled, two-stage and interaction results.

:func:`forest_plot` draws what :func:`analyses.forest_layout.forest_layout` lays out: one row
per trial - a square of area proportional to its weight and its confidence interval, with the
trial's events/N per arm (or N; O-E and V for Peto's log-rank method) on the left and
``HR [95% CI]`` and weight on the right - subgroup headings and subtotals, the common- and/or
random-effects diamonds, the prediction interval, heterogeneity and the test for the overall
effect, favours labels under the axis and, when given, where the data came from.

Figures use matplotlib's object interface only (no pyplot state, no GUI backend). Files:
``.png`` (300 dpi by default), ``.svg`` with real ``<text>`` elements (editable in
Inkscape/Illustrator; ``svg.fonttype = none``) and ``.pdf`` with embedded TrueType fonts
(``pdf.fonttype = 42``, text stays editable).

Example::

    fig = forest_plot(result, title="Overall survival",
                      favours=("Favours chemotherapy", "Favours surgery alone"),
                      path="forest.svg")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from analyses.errors import AnalysisProblem, Reason, writing
from analyses.forest_layout import FONT, ROW_H, ForestLayout, ForestOptions, forest_layout

__all__ = ["forest_plot", "save_figure", "FIGURE_FORMATS", "finish_figure", "plain_axes"]

#: File formats figures are written in.
FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
_RC: dict[str, Any] = {"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42}


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 300) -> Path:
    """Save ``fig`` as PNG, SVG (real text) or PDF (embedded TrueType) by ``path``'s suffix."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise AnalysisProblem(f"cannot save a figure as {p.name!r}: use a .png, .svg or .pdf "
                            "name", reason=Reason.BAD_OPTION, file=str(p))
    with writing(p, "the figure"), matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        fig.savefig(p, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.08,
                    metadata={"Creator": "ipdrepo"} if fmt != "png" else None)
    return p


def finish_figure(fig: Figure, source: str | None, path: str | Path | None) -> Figure:
    """Tight layout, the data source in small print at the bottom, saved when ``path``."""
    if source:
        fig.tight_layout(rect=(0, 0.045, 1, 1))
        fig.text(0.01, 0.008, source, fontsize=6.5, color="0.4", va="bottom")
    else:
        fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plain_axes(ax: Axes, *, title: str | None, xlabel: str, ylabel: str | None = None) -> None:
    """Labels, a small left-aligned title, no top and right spines (the small plots' style)."""
    ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _fy(layout: ForestLayout, inches_from_top: float) -> float:
    return 1.0 - inches_from_top / layout.height


def _text(fig: Figure, layout: ForestLayout, x: float, y: float, text: str, **kw: Any) -> None:
    fig.text(x / layout.width, _fy(layout, y), text, fontsize=kw.pop("fontsize", FONT),
             va=kw.pop("va", "center"), **kw)


def _draw_axis(fig: Figure, layout: ForestLayout) -> Axes:
    a = layout.axis
    n = len(layout.rows)
    top = layout.top
    ax = fig.add_axes((a.x0 / layout.width, _fy(layout, top + n * ROW_H),
                       a.width / layout.width, n * ROW_H / layout.height))
    ax.set_ylim(n, 0)
    if a.log:
        ax.set_xscale("log")
    ax.set_xlim(a.lo, a.hi)
    ax.xaxis.set_major_locator(FixedLocator(list(a.ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.8)
    ax.tick_params(axis="x", labelsize=FONT, width=0.8, length=3)
    ax.axvline(a.null, color="black", lw=0.8, zorder=1)
    if a.reference is not None and a.lo < a.reference < a.hi:
        ax.axvline(a.reference, color="0.55", lw=0.6, ls=(0, (3, 3)), zorder=1)
    ax.set_xlabel(a.label, fontsize=FONT, labelpad=3)
    ax.patch.set_alpha(0)
    return ax


def _draw_favours(fig: Figure, layout: ForestLayout, ax: Axes) -> None:
    a = layout.axis
    if not a.favours:
        return
    x, y = layout.favours_at()
    for text, dx, ha in ((a.favours[0], -0.06, "right"), (a.favours[1], 0.06, "left")):
        _text(fig, layout, x + dx, y, text, ha=ha, fontsize=FONT - 0.5, style="italic",
              color="0.2")


def _draw_marks(ax: Axes, layout: ForestLayout) -> None:
    a = layout.axis
    for i, r in enumerate(layout.rows):
        y = i + 0.5
        if r.kind == "trial":
            ax.plot([max(r.lo, a.lo), min(r.hi, a.hi)], [y, y], color="black", lw=0.9,
                    solid_capstyle="butt", zorder=2)
            for clipped, x, marker in ((r.clipped[0], a.lo, "<"), (r.clipped[1], a.hi, ">")):
                if clipped:
                    ax.plot([x], [y], marker=marker, color="black", ms=3.5, clip_on=False,
                            zorder=3)
            if r.square is not None and a.lo <= r.est <= a.hi:
                left, right = r.square
                ax.add_patch(Rectangle((left, y - r.size / 2), right - left, r.size,
                                       facecolor="0.25", edgecolor="none", zorder=4))
        elif r.kind == "diamond":
            ax.add_patch(Polygon([(r.lo, y), (r.est, y - 0.38), (r.hi, y), (r.est, y + 0.38)],
                                 closed=True, facecolor=r.color, edgecolor=r.color, lw=0.6,
                                 zorder=3))
        elif r.kind == "pi":
            ax.plot([max(r.lo, a.lo), min(r.hi, a.hi)], [y, y], color=r.color, lw=2.4,
                    solid_capstyle="butt", zorder=2)


def _draw_text(fig: Figure, layout: ForestLayout) -> None:
    for line, cells in enumerate(layout.header):
        y = layout.top - (2 - line - 0.5) * ROW_H
        for c in cells:
            _text(fig, layout, c.x, y, c.text, ha=c.ha, fontweight="bold")
    rule = fig.add_artist(Line2D([0.12 / layout.width, 1 - 0.05 / layout.width],
                                 [_fy(layout, layout.top - 0.02)] * 2, lw=0.6, color="black"))
    del rule
    for i, row in enumerate(layout.rows):
        y = layout.row_y(i)
        for c in row.cells:
            size = FONT - 0.5 if row.kind == "text" else FONT
            _text(fig, layout, c.x, y, c.text, ha=c.ha, color=c.color, fontsize=size,
                  fontweight="bold" if c.bold else "normal")
    if layout.source:
        _text(fig, layout, 0.12, layout.source_y(), layout.source, fontsize=FONT - 1.5, color="0.4")
    if layout.title:
        _text(fig, layout, 0.12, 0.2, layout.title, fontsize=FONT + 3, fontweight="bold")


def draw_forest(layout: ForestLayout) -> Figure:
    """Draw a laid-out forest plot on a new :class:`~matplotlib.figure.Figure`."""
    fig = Figure(figsize=(layout.width, layout.height))
    ax = _draw_axis(fig, layout)
    _draw_marks(ax, layout)
    _draw_favours(fig, layout, ax)
    _draw_text(fig, layout)
    return fig


def forest_plot(
    result: Any,
    *,
    path: str | Path | None = None,
    title: str | None = None,
    favours: tuple[str, str] | None = None,
    labels: tuple[str, str] | None = None,
    order: str | Sequence[str] = "given",
    at: Sequence[float] | None = None,
    xlim: tuple[float, float] | None = None,
    xlabel: str | None = None,
    common: bool = False,
    show_pi: bool = True,
    arm_labels: tuple[str, str] = ("Treatment", "Control"),
    subgroup_labels: Mapping[str, str] | None = None,
    source: str | None = None,
    dpi: int = 300,
) -> Figure:
    """Draw a forest plot of ``result``; save it to ``path`` (.png, .svg or .pdf) if given.

    ``favours`` (``labels`` is the older name) label the two sides of the null line, left
    first; ``order``: ``"given"`` (as in the result), ``"weight"`` (largest first),
    ``"effect"`` (smallest first), the name of a per-trial column, or the trial labels in the
    order wanted; ``at``: the axis ticks (display scale; default 0.25 0.5 1 2 4 widened to the
    data for ratio measures); ``xlim`` the axis limits; ``common=True`` adds the
    common-effect diamond under a random-effects one; ``arm_labels`` head the per-arm
    columns; ``subgroup_labels`` maps subgroup levels to headings; ``source`` is printed
    small under the plot (the release and data hash, by the CLI).
    """
    opts = ForestOptions(title=title, favours=favours or labels, order=order, at=at,
                         xlim=xlim, xlabel=xlabel, common=common, show_pi=show_pi,
                         arm_labels=arm_labels, subgroup_labels=dict(subgroup_labels or {}),
                         source=source)
    fig = draw_forest(forest_layout(result, opts))
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


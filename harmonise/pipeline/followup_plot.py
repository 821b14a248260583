"""The follow-up plot of a trial report: reverse Kaplan-Meier curves by arm, as inline SVG.

The curves are :func:`harmonise.checks.integrity.reverse_km`, the numbers the follow-up check
judges; the drawing is plain SVG text (no plotting library), the same bytes for the same data:
step curves, axes with round ticks, a legend, and the numbers still followed at each tick.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import numpy as np

from harmonise.checks.integrity import ReverseKM

__all__ = ["followup_svg", "ticks", "WIDTH", "HEIGHT", "LEFT", "TOP", "ROW"]

#: colours of the arms' curves, in arm order (colour-blind safe: Okabe-Ito)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: the plot area (pixels), its left and top margins, and the height of a row of numbers
WIDTH, HEIGHT, LEFT, TOP, ROW = 640, 300, 150, 40, 18


def ticks(high: float, *, most: int = 8) -> list[float]:
    """Round tick values from 0 to at least ``high`` (steps of 1, 2 or 5 times a power of 10),
    no more than ``most`` + 1 of them."""
    if not high > 0:
        return [0.0, 1.0]
    raw = high / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    n = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 12,
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
            f'{extra}>{html.escape(text)}</text>')


def _step_path(x: np.ndarray, y: np.ndarray) -> str:
    """A step curve from (0, 1): flat to each time, then down to the curve's value there."""
    points = [f"M{LEFT:.1f},{TOP:.1f}"]
    for xi, yi in zip(x, y):
        points.append(f"H{xi:.1f}V{yi:.1f}")
    return "".join(points)


def followup_svg(curves: Mapping[str, ReverseKM], *, title: str, xlabel: str,
                 ylabel: str = "Proportion still followed") -> str:
    """The reverse Kaplan-Meier ``curves`` (arm label -> curve) as one SVG drawing."""
    high = max((float(c.time[-1]) for c in curves.values() if len(c.time)), default=1.0)
    xt = ticks(high)
    span = xt[-1] or 1.0

    def sx(t: np.ndarray | float) -> np.ndarray:
        return LEFT + np.asarray(t, dtype=float) / span * WIDTH

    def sy(p: np.ndarray | float) -> np.ndarray:
        return TOP + (1.0 - np.asarray(p, dtype=float)) * HEIGHT

    bottom = TOP + HEIGHT
    height = bottom + 60 + ROW * (len(curves) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 40}" '
           f'height="{height}" viewBox="0 0 {LEFT + WIDTH + 40} {height}" '
           'font-family="Helvetica,Arial,sans-serif" role="img">',
           _text(LEFT + WIDTH / 2, 20, title, size=14),
           f'<path d="M{LEFT},{TOP}V{bottom}H{LEFT + WIDTH}" fill="none" stroke="#333"/>']
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = float(sy(p))
        out.append(f'<path d="M{LEFT - 5},{y:.1f}H{LEFT}" stroke="#333"/>')
        out.append(_text(LEFT - 8, y + 4, f"{p:g}", anchor="end"))
    for t in xt:
        x = float(sx(t))
        out.append(f'<path d="M{x:.1f},{bottom}V{bottom + 5}" stroke="#333"/>')
        out.append(_text(x, bottom + 18, f"{t:g}"))
    out.append(_text(LEFT + WIDTH / 2, bottom + 36, xlabel))
    x, y = LEFT - 45, TOP + HEIGHT / 2
    out.append(_text(x, y, ylabel, extra=f' transform="rotate(-90 {x} {y})"'))
    row = bottom + 60
    out.append(_text(LEFT - 20, row, "Still followed", anchor="end", size=11,
                     extra=' font-weight="bold"'))
    for k, (label, curve) in enumerate(curves.items()):
        colour = COLOURS[k % len(COLOURS)]
        path = _step_path(sx(curve.time), sy(curve.followed))
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.8">'
                   f'<title>{html.escape(label)}</title></path>')
        ly = TOP + 14 + 18 * k
        out.append(f'<path d="M{LEFT + WIDTH - 150},{ly - 4}h24" stroke="{colour}" '
                   'stroke-width="3"/>')
        out.append(_text(LEFT + WIDTH - 120, ly, label, anchor="start"))
        y = row + ROW * (k + 1)
        out.append(_text(LEFT - 20, y, label, anchor="end", size=11, extra=f' fill="{colour}"'))
        out += [_text(float(sx(t)), y, str(curve.at_risk_at(t)), size=11) for t in xt]
    out.append("</svg>")
    return "".join(out)

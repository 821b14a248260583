"""How numbers are written in figures, tables, reports and reprs (one place, one style).

The conventions are those of the R packages meta and metafor and of medical journals:

* p-values: ``p < 0.001`` below 0.001, otherwise 3 decimals (``p = 0.034``), 2 decimals from
  0.1 up (``p = 0.42``) - :func:`fmt_p`;
* ratio estimates with 2 decimals, intervals as ``0.85 (0.77 to 0.93)`` in prose and tables,
  ``0.85 [0.77, 0.93]`` in forest plots (metafor's style) - :func:`fmt_ci`;
* tau^2 with 4 decimals, ``< 0.0001`` for smaller positive values and ``0`` at the boundary
  (meta's ``formatPT``), never ``6.234e-07`` - :func:`fmt_tau2`;
* I^2 as a whole percentage (``I² = 12%``) - :func:`fmt_i2`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["minus", "fmt_p", "fmt_num", "fmt_ci", "fmt_tau2", "tau2_text", "fmt_i2", "fmt_int", "MEASURE_NAMES",
           "RATIO_DISPLAY", "measure_name", "is_ratio"]

#: Full names of the effect measures (figure axes, table headers).
MEASURE_NAMES: dict[str, str] = {
    "HR": "Hazard ratio", "OR": "Odds ratio", "RR": "Risk ratio", "RD": "Risk difference",
    "MD": "Mean difference", "SMD": "Standardised mean difference",
    "PETO": "Odds ratio (Peto)", "RMSTD": "Difference in RMST", "IRR": "Rate ratio"}
#: Measures shown exponentiated (analysed on the log scale).
RATIO_DISPLAY: frozenset[str] = frozenset({"HR", "OR", "RR", "PETO", "IRR", "ROM"})


def minus(text: str) -> str:
    """``text`` with hyphen-minus signs of numbers as typographic minus signs (U+2212)."""
    out = []
    for i, ch in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ""
        out.append("\u2212" if ch == "-" and (nxt.isdigit() or nxt == ".") else ch)
    return "".join(out)


def is_ratio(measure: str | None) -> bool:
    return (measure or "").upper() in RATIO_DISPLAY


def measure_name(measure: str | None) -> str:
    return MEASURE_NAMES.get((measure or "").upper(), measure or "Estimate")


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_p(p: Any, *, prefix: bool = True) -> str:
    """``p < 0.001``, ``p = 0.034``, ``p = 0.42`` (``prefix=False``: ``<0.001``, ``0.034``)."""
    if not _finite(p):
        return ""
    p = float(p)
    if p < 0.001:
        return "p < 0.001" if prefix else "<0.001"
    text = f"{p:.2f}" if p >= 0.1 else f"{p:.3f}"
    if text == "1.00":
        text = "1"
    return f"p = {text}" if prefix else text


def fmt_num(x: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals (blank when missing)."""
    if not _finite(x):
        return ""
    return f"{float(x):.{digits}f}"


def fmt_ci(est: Any, low: Any, high: Any, *, digits: int = 2, style: str = "prose") -> str:
    """``0.85 (0.77 to 0.93)`` (``style="prose"``) or ``0.85 [0.77, 0.93]`` (``"forest"``)."""
    e, lo, hi = (fmt_num(v, digits) for v in (est, low, high))
    if not e:
        return ""
    if style == "forest":
        return f"{e} [{lo}, {hi}]"
    return f"{e} ({lo} to {hi})"


def fmt_tau2(tau2: Any) -> str:
    """tau^2 as meta prints it: ``0``, ``< 0.0001`` or 4 decimals (more significant digits
    for large values)."""
    if not _finite(tau2):
        return ""
    t = float(tau2)
    if t == 0:
        return "0"
    if t < 0.0001:
        return "< 0.0001"
    if t >= 100:
        return f"{t:.0f}"
    return f"{t:.4f}"


def tau2_text(tau2: Any) -> str:
    """``τ² = 0.0031``, ``τ² < 0.0001`` or ``τ² = 0``."""
    t = fmt_tau2(tau2)
    return f"\u03c4\u00b2 {t}" if t.startswith("<") else f"\u03c4\u00b2 = {t}"


def fmt_i2(i2: Any) -> str:
    return f"{float(i2):.0f}%" if _finite(i2) else ""


def fmt_int(x: Any) -> str:
    """An integer count, blank when missing."""
    if not _finite(x):
        return ""
    return f"{int(float(x))}"

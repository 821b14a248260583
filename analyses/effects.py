"""Effect sizes from summary data (metafor ``escalc`` conventions).

* :func:`effect_2x2` - log odds ratio (``"OR"``), log risk ratio (``"RR"``), risk difference
  (``"RD"``) and Peto's log odds ratio (``"PETO"``) from 2x2 counts: events ``ai`` of ``n1i``
  in the treated arm, ``ci`` of ``n2i`` in the control arm.
* :func:`effect_md` - mean difference from arm means, SDs and sizes.

Zero cells (escalc defaults): ``add=0.5`` is added to every cell of a table that has a zero
cell (``to="only0"``; also ``"all"``, ``"if0all"``, ``"none"``); with ``drop00=True`` a table
with no events (or only events) in both arms gets no estimate. A table whose estimate is not
defined (e.g. ``to="none"`` with a zero cell, or Peto's variance 0) is reported in ``dropped``
with the reason, never as a silent NaN: the arrays hold NaN only at the positions listed there.
The risk difference uses the large-sample variance (``vtype="LS"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analyses.errors import AnalysisProblem, Reason

__all__ = ["EffectSizes", "effect_2x2", "effect_md", "MEASURES_2X2", "apply_correction"]

MEASURES_2X2: tuple[str, ...] = ("OR", "RR", "RD", "PETO")
_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True, eq=False)
class EffectSizes:
    """Per-study estimates ``yi`` and sampling variances ``vi``.

    ``dropped`` maps the 0-based position of every study without an estimate to the reason;
    ``corrected`` lists the positions where the continuity correction was added.
    """

    measure: str
    yi: NDArray[np.float64]
    vi: NDArray[np.float64]
    labels: tuple[str, ...]
    dropped: dict[int, str] = field(default_factory=dict)
    corrected: tuple[int, ...] = ()

    @property
    def kept(self) -> NDArray[np.bool_]:
        return np.array([i not in self.dropped for i in range(self.yi.size)])

    def to_frame(self) -> pd.DataFrame:
        """Columns ``study, yi, vi, corrected, dropped`` (reason or empty)."""
        return pd.DataFrame({
            "study": list(self.labels), "yi": self.yi, "vi": self.vi,
            "corrected": [i in self.corrected for i in range(self.yi.size)],
            "dropped": [self.dropped.get(i, "") for i in range(self.yi.size)],
        })


def _counts(ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike,
            labels: Sequence[Any] | None) -> tuple[NDArray[np.float64], ...]:
    a, n1, c, n2 = (np.asarray(x, dtype=float).ravel() for x in (ai, n1i, ci, n2i))
    if not (a.size == n1.size == c.size == n2.size):
        raise AnalysisProblem("the four count columns differ in length", reason=Reason.LENGTH_MISMATCH)
    names = [str(x) for x in labels] if labels is not None else [str(i + 1) for i in range(a.size)]
    problems = []
    for i in range(a.size):
        vals = (a[i], n1[i], c[i], n2[i])
        if not all(np.isfinite(vals)):
            problems.append(f"{names[i]}: missing count")
        elif min(vals) < 0 or a[i] > n1[i] or c[i] > n2[i]:
            problems.append(f"{names[i]}: events {a[i]:g}/{n1[i]:g} and {c[i]:g}/{n2[i]:g} "
                            "are not valid counts")
        elif n1[i] == 0 or n2[i] == 0:
            problems.append(f"{names[i]}: an arm has no participants (single-arm trial)")
    if problems:
        raise AnalysisProblem("invalid 2x2 tables: " + "; ".join(problems)
                            + ". Correct the counts or leave these trials out.",
                            reason=Reason.INVALID_DATA, trials=[p.split(":")[0] for p in problems])
    return a, n1, c, n2


def apply_correction(a: NDArray[np.float64], b: NDArray[np.float64], c: NDArray[np.float64],
                     d: NDArray[np.float64], *, add: float, to: str) -> tuple[
                         NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                         NDArray[np.float64], NDArray[np.bool_]]:
    """Add ``add`` to the cells as escalc's ``to`` says; return new cells and the mask."""
    if to not in _TO:
        raise AnalysisProblem(f"unknown continuity-correction rule to={to!r}; choose one of "
                            f"{', '.join(_TO)}", reason=Reason.BAD_OPTION)
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all":
        mask = np.ones_like(zero)
    elif to == "only0":
        mask = zero
    elif to == "if0all":
        mask = np.full_like(zero, bool(zero.any()))
    else:
        mask = np.zeros_like(zero)
    inc = np.where(mask, add, 0.0) if add else np.zeros_like(a)
    return a + inc, b + inc, c + inc, d + inc, mask & (add != 0)


def effect_2x2(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    *,
    measure: str = "OR",
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    labels: Sequence[Any] | None = None,
) -> EffectSizes:
    """Per-study effect sizes from 2x2 counts (treated: ``ai`` of ``n1i``; control ``ci`` of ``n2i``).

    Example::

        >>> es = effect_2x2([4, 6], [123, 306], [11, 29], [139, 303], measure="RR")
        >>> [round(float(x), 4) for x in es.yi]
        [-0.8893, -1.5854]
    """
    measure = measure.upper()
    if measure not in MEASURES_2X2:
        raise AnalysisProblem(f"unknown 2x2 measure {measure!r}; choose one of "
                            f"{', '.join(MEASURES_2X2)}", reason=Reason.BAD_OPTION)
    a, n1, c, n2 = _counts(ai, n1i, ci, n2i, labels)
    names = tuple(str(x) for x in labels) if labels is not None else tuple(
        str(i + 1) for i in range(a.size))
    b, d = n1 - a, n2 - c
    dropped: dict[int, str] = {}
    if drop00:
        for j in np.flatnonzero(((a == 0) & (c == 0)) | ((b == 0) & (d == 0))).tolist():
            dropped[j] = ("no events in either arm" if a[j] == 0 and c[j] == 0
                          else "every participant had the event in both arms")
    a2, b2, c2, d2, corrected = apply_correction(a, b, c, d, add=add, to=to)
    for j in dropped:
        corrected[j] = False
    n1c, n2c = a2 + b2, c2 + d2
    p1, p2 = a2 / n1c, c2 / n2c
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a2 + 1 / b2 + 1 / c2 + 1 / d2
        elif measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a2 - 1 / n1c + 1 / c2 - 1 / n2c
        elif measure == "RD":
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1c + p2 * (1 - p2) / n2c
        else:  # PETO
            n = n1c + n2c
            xt, yt = a2 + c2, b2 + d2
            e = xt * n1c / n
            V = xt * yt * (n1c / n) * (n2c / n) / (n - 1)
            yi = (a2 - e) / V
            vi = 1 / V
    for j in range(int(a.size)):
        if j in dropped:
            continue
        if not (np.isfinite(yi[j]) and np.isfinite(vi[j])) or vi[j] <= 0:
            dropped[j] = (f"{measure} is not defined for this table (zero cells and no "
                          f"continuity correction, to={to!r})" if measure != "PETO" else
                          "Peto variance is 0 (no events, or only events, in both arms)")
    for j in dropped:
        yi[j] = np.nan
        vi[j] = np.nan
    return EffectSizes(measure=measure, yi=yi, vi=vi, labels=names, dropped=dropped,
                       corrected=tuple(int(i) for i in np.flatnonzero(corrected)))


def effect_md(
    m1i: ArrayLike, sd1i: ArrayLike, n1i: ArrayLike,
    m2i: ArrayLike, sd2i: ArrayLike, n2i: ArrayLike,
    *,
    labels: Sequence[Any] | None = None,
) -> EffectSizes:
    """Mean differences ``m1 - m2`` with variance ``sd1^2/n1 + sd2^2/n2`` (escalc ``"MD"``)."""
    m1, s1, n1, m2, s2, n2 = (np.asarray(x, dtype=float).ravel()
                              for x in (m1i, sd1i, n1i, m2i, sd2i, n2i))
    names = tuple(str(x) for x in labels) if labels is not None else tuple(
        str(i + 1) for i in range(m1.size))
    problems = [names[i] for i in range(m1.size)
                if not all(np.isfinite((m1[i], s1[i], n1[i], m2[i], s2[i], n2[i])))
                or min(n1[i], n2[i]) < 1 or min(s1[i], s2[i]) < 0]
    if problems:
        raise AnalysisProblem(f"invalid arm summaries for {', '.join(problems)} (missing values, "
                            "empty arms or negative SDs)", reason=Reason.INVALID_DATA,
                            trials=problems)
    yi = m1 - m2
    vi = s1**2 / n1 + s2**2 / n2
    dropped = {int(i): "variance 0 (both arms have SD 0)" for i in np.flatnonzero(vi <= 0)}
    for i in dropped:
        yi[i] = vi[i] = np.nan
    return EffectSizes(measure="MD", yi=yi, vi=vi, labels=names, dropped=dropped)

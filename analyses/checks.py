"""Conversions that refuse bad input with an :class:`~analyses.errors.AnalysisProblem`.

Every numeric argument and column an analysis reads goes through :func:`as_floats` or
:func:`numeric_column`, so that text in a numeric column is an ``error: ...`` naming the
variable and the rows, never a traceback from numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analyses.errors import AnalysisProblem, Reason
from repository.errors import format_rows

__all__ = ["as_floats", "numeric_column", "non_numeric_rows", "require_columns", "float_arrays",
           "same_lengths", "Problems"]


def non_numeric_rows(values: pd.Series) -> tuple[NDArray[np.float64], list[int]]:
    """``values`` as floats (booleans as 0/1) and the 1-based rows holding something that is
    neither a number nor missing."""
    s = values.astype(float) if values.dtype == bool else values
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(num) & s.notna().to_numpy()
    return num, (np.flatnonzero(bad) + 1).tolist()


def _shown(values: pd.Series, rows: Sequence[int]) -> str:
    picked = values.iloc[[r - 1 for r in rows[:3]]]
    return ", ".join(repr(v) for v in pd.unique(picked))


def as_floats(values: ArrayLike | None, what: str) -> NDArray[np.float64]:
    """A flat float array from ``values``; text or other objects that are not numbers are an
    error naming ``what`` and the (1-based) positions."""
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        pass
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    _, rows = non_numeric_rows(series)
    raise AnalysisProblem(
        f"{what} must be numbers; not so at {format_rows(rows).replace('row', 'position')} "
        f"({_shown(series, rows)})", reason=Reason.INVALID_DATA, variables=[what], rows=rows)


def numeric_column(data: pd.DataFrame, column: str, *, file: Any = None
                   ) -> NDArray[np.float64]:
    """Column ``column`` of ``data`` as floats (missing cells NaN); text is an error naming the
    column (and ``file``) and the rows."""
    num, rows = non_numeric_rows(data[column])
    if rows:
        where = f" in {file}" if file else ""
        raise AnalysisProblem(
            f"column {column}{where} must hold numbers; not so at {format_rows(rows)} "
            f"({_shown(data[column], rows)}); correct those cells",
            reason=Reason.INVALID_DATA, variables=[column], rows=rows,
            file=None if file is None else str(file))
    return num


def require_columns(data: pd.DataFrame, columns: Sequence[Any], *, file: Any = None) -> None:
    """Every one of ``columns`` is in ``data``, or one error listing all that are not."""
    absent = [str(c) for c in dict.fromkeys(columns) if c not in data.columns]
    if absent:
        where = f" {file}" if file else " the data"
        raise AnalysisProblem(
            f"column(s) not in{where}: {', '.join(absent)}; available: "
            f"{', '.join(map(str, data.columns))}", reason=Reason.MISSING_COLUMN,
            variables=absent, file=None if file is None else str(file))


def float_arrays(where: str, **arrays: ArrayLike | None) -> dict[str, NDArray[np.float64]]:
    """Each named array as flat floats, all of one length; an error names the array that is
    not numeric, or the lengths. ``None`` entries are left out."""
    out: dict[str, NDArray[np.float64]] = {}
    for name, values in arrays.items():
        if values is None:
            continue
        try:
            out[name] = as_floats(values, name)
        except AnalysisProblem as exc:
            raise AnalysisProblem(f"{where}{exc.message}", reason=exc.reason,
                                  variables=exc.variables, rows=exc.rows) from None
    same_lengths(where, {name: a.size for name, a in out.items()})
    return out


def same_lengths(where: str, lengths: dict[str, int]) -> None:
    if len(set(lengths.values())) > 1:
        raise AnalysisProblem(f"{where}inputs have different lengths: {lengths}",
                              reason=Reason.LENGTH_MISMATCH, lengths=lengths)


class Problems:
    """Problems found in data, by variable and (1-based) row, raised together as one error.

    ``positions`` maps the rows checked to the rows of the data as given (when some were
    left out before checking)."""

    def __init__(self, positions: NDArray[np.intp] | None = None) -> None:
        self.positions = positions
        self.texts: list[tuple[str, str]] = []
        self.cells: dict[str, list[int]] = {}
        self.kinds: list[Reason] = []

    def rows(self, bad: NDArray[np.bool_]) -> list[int]:
        idx = np.flatnonzero(bad)
        return (idx + 1).tolist() if self.positions is None else self.positions[idx].tolist()

    def add(self, variable: str, text: str, rows: Sequence[int] = (),
            kind: Reason = Reason.INVALID_DATA) -> None:
        self.texts.append((variable, text))
        cell = self.cells.setdefault(variable, [])
        cell.extend(r for r in rows if r not in cell)
        self.kinds.append(kind)

    def mask(self, variable: str, bad: NDArray[np.bool_], what: str,
             kind: Reason = Reason.INVALID_DATA) -> None:
        """Add ``variable: what in rows ...`` when ``bad`` marks any row."""
        if bad.any():
            rows = self.rows(bad)
            self.add(variable, f"{what} in {format_rows(rows)}", rows, kind)

    def survival(self, t: NDArray[np.float64], e: NDArray[np.float64]) -> None:
        """The checks every survival analysis makes of its times and event indicators."""
        self.mask("time", ~np.isfinite(t), "missing or non-finite values")
        self.mask("time", np.isfinite(t) & (t < 0), "negative times")
        self.mask("event", ~np.isfinite(e), "missing values")
        self.mask("event", np.isfinite(e) & (e != 0) & (e != 1), "values other than 0/1")

    def raise_if_any(self, head: str, advice: str, **facts: Any) -> None:
        """One error: ``head: variable: problem; ... . advice``."""
        if not self.texts:
            return
        kinds = set(self.kinds)
        raise AnalysisProblem(
            f"{head}: " + "; ".join(f"{v}: {t}" for v, t in self.texts) + f". {advice}",
            reason=kinds.pop() if len(kinds) == 1 else Reason.INVALID_DATA,
            cells=self.cells, **facts)

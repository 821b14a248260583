"""Shared plumbing for statistical result objects.

Every result in :mod:`analyses` is a frozen dataclass that mixes in :class:`ResultMixin`:

* ``.summary`` - a :class:`pandas.DataFrame` with fixed, documented columns (each result class
  documents its own);
* ``to_dict()`` - JSON-ready: numpy scalars become Python numbers, tuples become lists, data
  frames become lists of row dicts, non-finite floats become ``None`` (never ``NaN`` in JSON);
* ``_repr_html_`` - a compact HTML table for JupyterLab;
* ``__repr__`` - the same as plain text.

Subclasses set :attr:`ResultMixin.title` and implement ``summary``; they may override
:meth:`ResultMixin._dict_items` to choose what ``to_dict()`` holds (default: every dataclass
field) and :meth:`ResultMixin._notes` to list remarks shown under the table.

Example::

    @dataclass(frozen=True, repr=False, eq=False)
    class MyFit(ResultMixin):
        title: ClassVar[str] = "My fit"
        estimate: float
        se: float

        @property
        def summary(self) -> pd.DataFrame:
            return pd.DataFrame({"estimate": [self.estimate], "se": [self.se]})
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

__all__ = ["ResultMixin", "jsonable", "finite_or_none", "interval", "effect_line"]


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when finite, else ``None`` (for JSON, where NaN is not allowed)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def interval(low: Any, high: Any) -> tuple[float, float]:
    """A (low, high) pair of plain floats."""
    return (float(low), float(high))


def jsonable(value: Any) -> Any:
    """Convert ``value`` to plain JSON types (see the module docstring for the rules)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return finite_or_none(value)
    if isinstance(value, pd.DataFrame):
        return [jsonable(row) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def effect_line(measure: str | None, estimate: float, ci: tuple[float, float], p: float | None,
                level: float = 95.0) -> str:
    """``HR 0.86 (95% CI 0.78 to 0.95), p = 0.002``: ratio measures exponentiated."""
    from analyses.formatting import fmt_p, is_ratio, minus

    code = (measure or "estimate").upper() if measure else "Estimate"
    tr = math.exp if is_ratio(measure) else (lambda v: v)
    digits = 2 if is_ratio(measure) or abs(estimate) < 100 else 1
    text = (f"{code} {tr(estimate):.{digits}f} ({level:g}% CI {tr(ci[0]):.{digits}f} to "
            f"{tr(ci[1]):.{digits}f})")
    if p is not None:
        text += f", {fmt_p(p)}"
    return minus(text)


def _blank_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for display: ``na_rep`` reaches only NaN in float columns, so object and
    extension columns holding ``None``/``<NA>`` become float (when numeric) or blank text."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype.kind == "f" or not col.isna().any():
            continue
        values = col.dropna()
        if all(isinstance(v, (int, float, np.integer, np.floating))
               and not isinstance(v, (bool, np.bool_)) for v in values):
            out[name] = pd.to_numeric(col, errors="coerce").astype("float64")
        else:
            out[name] = col.astype(object).where(col.notna(), "")
    return out


class ResultMixin:
    """Mixin giving a frozen result dataclass ``to_dict``, ``_repr_html_`` and ``__repr__``."""

    title: ClassVar[str] = "Result"

    @property
    def summary(self) -> pd.DataFrame:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks
    def _dict_items(self) -> Iterable[tuple[str, Any]]:
        """(name, value) pairs that ``to_dict`` serialises; default: every dataclass field."""
        assert dataclasses.is_dataclass(self)
        for f in dataclasses.fields(self):
            yield f.name, getattr(self, f.name)

    def _notes(self) -> tuple[str, ...]:
        notes = getattr(self, "notes", ())
        return tuple(notes) if notes else ()

    def _headline(self) -> str | None:
        """The result in one line, effect on the natural scale first (e.g. ``HR 0.86 (95% CI
        0.78 to 0.95), p = 0.002``); shown above the table. ``None``: no headline."""
        return None

    # ------------------------------------------------------------------ outputs
    def to_dict(self) -> dict[str, Any]:
        return {name: jsonable(value) for name, value in self._dict_items()}

    def _repr_html_(self) -> str:
        table = _blank_missing(self.summary).to_html(float_format=lambda x: f"{x:.4g}",
                                                     na_rep="", border=0)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self._notes())
        notes_html = f"<ul>{notes}</ul>" if notes else ""
        head = self._headline()
        head_html = f"<p>{html.escape(head)}</p>" if head else ""
        return (f"<div><strong>{html.escape(self.title)}</strong>{head_html}{table}"
                f"{notes_html}</div>")

    def __repr__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 30):
            body = self.summary.to_string(float_format=lambda x: f"{x:.4g}", na_rep="")
        notes = "".join(f"\nnote: {n}" for n in self._notes())
        head = self._headline()
        head_text = f"{head}\n" if head else ""
        return f"<{type(self).__name__}: {self.title}>\n{head_text}{body}{notes}"
